"""The paper's motivating problem: a feeder's daily load from a multiset of households.

Each household (a part) has an archetype (its category) and its annual consumption and PV peak
power (``part_attr``); all households of a whole share the day: its date, day type, temperature,
cloud cover and an evening broadcast that some of them watch. The feeder adds losses that grow
with the square of the load. Calibration and its sources: ``docs/households_problem.md``.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from .edit import Edit
from .encoding import ConditionEncoding
from .observation import Observation
from .parts_problem import PartsProblem
from .standard_profile import standard_load_profile

HOURS_PER_DAY = 24
DAYS_PER_YEAR = 365
HOURS_PER_YEAR = 8760
KWH_PER_MWH = 1000.0  # part_attr holds the annual consumption in MWh
DAY_TYPES = ("weekday", "saturday", "sunday")  # Sunday stands for Sundays and public holidays
DAY_TYPE_PROBABILITIES = (5 / 7, 1 / 7, 1 / 7)
TEMPERATURE_SCALE = 10.0  # whole_attr holds the daily mean temperature in units of 10 degC


@dataclass(frozen=True)
class Archetype:
    """A household archetype: its daily profile shape, its consumption and what it owns."""

    name: str
    annual_kwh: float  # mean annual consumption of the appliances (without heat pump or EV)
    base: float  # constant share of the profile before normalisation
    bumps: tuple[tuple[float, float, float], ...]  # (amplitude, hour, concentration) of morning, midday, evening
    joins_broadcast: float  # probability that a household of this archetype watches the evening broadcast
    heat_pump: bool = False
    pv: bool = False
    ev: bool = False


# Shapes after the BDEW H0 profile and synPRO's household types (docs/households_problem.md).
ARCHETYPES = (
    Archetype("single", 1300, 0.35, ((1.0, 7.0, 15), (0.3, 12.5, 10), (1.5, 20.0, 7)), 0.5),
    Archetype("working_couple", 2700, 0.35, ((1.2, 6.75, 18), (0.2, 12.5, 10), (1.8, 19.5, 7)), 0.4),
    Archetype("retired_couple", 2700, 0.40, ((0.8, 8.5, 10), (1.2, 12.0, 8), (1.3, 18.5, 6)), 0.2),
    Archetype("family", 4200, 0.35, ((1.0, 7.0, 15), (0.6, 12.5, 10), (1.7, 19.0, 7)), 0.6),
    Archetype("family_heat_pump", 4200, 0.35, ((1.0, 7.0, 15), (0.6, 12.5, 10), (1.7, 19.0, 7)), 0.6,
              heat_pump=True),
    Archetype("couple_pv", 2700, 0.35, ((1.2, 6.75, 18), (0.2, 12.5, 10), (1.8, 19.5, 7)), 0.4, pv=True),
    Archetype("couple_ev", 2700, 0.35, ((1.2, 6.75, 18), (0.2, 12.5, 10), (1.8, 19.5, 7)), 0.4, ev=True),
)

# Columns of the shared factors of a whole, and of the intrinsics of a household.
SHARED = ("day_of_year", "day_type", "mean_temperature", "cloud_cover", "broadcast", "kickoff_hour")
NUM_SPIKES = 8  # candidate appliance spikes per household and day
INTRINSICS = ("shift", "morning", "midday", "evening", "heat_loss", "joins", "half_time", "ev_charges",
              "ev_start", "ev_energy")  # then the AR(1) innovations, then the spikes's uniforms


@dataclass(frozen=True)
class HouseholdParts(PartsProblem):
    r"""Wholes are one day of a feeder's active power, 96 quarter-hours in kW; parts are households.

    Household :math:`i` of archetype :math:`k` draws, at quarter-hour :math:`t` (hour :math:`h_t`):

    .. math::
        P_i(t) = \bar P_i\, m_k(h_t - \tau_i)\, \big(1 + \gamma(\theta_0 - \bar\theta)\big)\,
        e^{\epsilon_i(t) - \sigma^2/2} + \mathrm{spikes}_i(t) + \mathrm{HP}_i(t) + \mathrm{EV}_i(t) - \mathrm{PV}_i(t)

    with its archetype's profile :math:`m_k` (weekday or weekend, mean 1), :math:`\bar P_i` from
    its annual consumption, a personal time shift :math:`\tau_i`, AR(1) noise :math:`\epsilon_i`,
    appliance spikes timed by its profile, a heat pump that draws more as the temperature falls,
    PV generation with the sun and an EV that charges some evenings. While a broadcast runs, the
    households that watch it draw :math:`0.7 P + 0.15` kW, and at half-time many switch on a kettle
    at once. The feeder delivers :math:`x = D + \lambda D |D| / P_{\mathrm{rated}}`, rated for
    :math:`\max(n, n_0)` households,
    :math:`D = \sum_i P_i`: its losses grow with the square of the load, so the whole is not the sum
    of its parts.

    Shared by the households of a whole and hidden from the model: the day of the year, the day
    type (weekday, Saturday, Sunday/holiday), the daily mean temperature :math:`\bar\theta` (seasonal,
    with day-to-day noise) and its daily cycle, the cloud cover, and whether a broadcast runs and
    when. The conditions a planner knows, ``whole_attr`` (:meth:`conditions`), are the day type and
    the daily mean temperature; given them, the rest is drawn from its conditional distribution.
    """

    steps: int = 96  # quarter-hours per day
    shift_std_hours: float = 0.5  # std of a household's personal time shift
    bump_jitter: float = 0.2  # log-std of a household's profile bump amplitudes
    consumption_log_std: float = 0.3  # log-std of annual consumption around the archetype's
    temperature_gain: float = 0.015  # relative extra consumption per degC below the reference
    reference_temperature: float = 10.0  # degC at which the appliances draw their mean
    noise_correlation: float = 0.8  # AR(1) coefficient of the multiplicative noise per quarter-hour
    noise_std: float = 0.25  # stationary std of that noise
    spikes_per_day: float = 3.0  # mean appliance spikes a day for 2,700 kWh a year (scales with consumption)
    spike_kw: tuple[float, float] = (1.0, 3.0)  # spike power, uniform (cooking, kettle, washing)
    heat_loss_kw_per_k: float = 0.2  # a heat-pump house's mean heat loss coefficient
    heat_loss_log_std: float = 0.25
    heating_limit: float = 16.0  # degC above which no heating is needed
    flow_temperature: float = 35.0  # degC, for the heat pump's COP
    cop_range: tuple[float, float] = (1.5, 5.5)
    pv_kwp: tuple[float, float] = (3.0, 8.0)  # PV peak power, uniform
    cloud_attenuation: float = 0.8  # share of irradiance fully overcast skies take away
    pv_performance_ratio: float = 0.85  # AC output over nominal (inverter, temperature, soiling)
    ev_charge_probability: float = 0.5  # an EV household charges on half of the days
    ev_start_hour: tuple[float, float] = (18.5, 1.5)  # mean and std of the hour charging starts
    ev_energy_kwh: tuple[float, float] = (6.0, 16.0)  # energy charged, uniform
    ev_power_kw: float = 11.0  # wallbox power
    broadcast_probability: float = 0.15  # days with an evening broadcast
    kickoff_hours: tuple[int, int] = (18, 21)  # first and last possible kickoff hour
    broadcast_quarters: int = 7  # 105 minutes: two halves and the break
    half_time_quarter: int = 3  # the break starts 45 minutes after kickoff
    half_time_probability: float = 0.6  # share of watching households that switch on a kettle at half-time
    half_time_kw: float = 1.2
    watching_factor: float = 0.7  # while watching, the rest of the household's load is scaled down...
    watching_kw: float = 0.15  # ...and the TV adds this
    seasonal_mean: float = 10.0  # daily mean temperature: mean over the year (degC)...
    seasonal_amplitude: float = 8.0  # ...amplitude of its yearly cycle (coldest around 15 January)...
    daily_temperature_std: float = 3.0  # ...and the day-to-day noise around it
    diurnal_amplitude: float = 4.0  # degC between the daily mean and the afternoon maximum
    loss_coefficient: float = 0.05  # feeder losses: lambda above, the share lost at rated power
    rated_kw_per_household: float = 2.0  # the feeder is sized to its households...
    min_rated_households: int = 16  # ...but no feeder is smaller than for this many

    num_categories: int = len(ARCHETYPES)
    part_attr_dim: int = 2  # annual consumption (MWh), PV peak power (kWp, 0 without PV)
    whole_attr_dim: int = len(DAY_TYPES) + 1  # day type (one-hot), daily mean temperature / 10 degC
    observation: str = "curve"

    unit = "kW"  # not fields: fixed by the problem
    step_hours = 0.25
    noisy_wholes = True  # quarter-hour noise and appliance spikes are part of a day

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """``(steps,)``: one day of quarter-hours."""
        return (self.steps,)

    @property
    def category_labels(self) -> tuple[str, ...]:
        """The archetypes' names."""
        return tuple(archetype.name for archetype in ARCHETYPES)

    @property
    def descriptor_names(self) -> tuple[str, ...]:
        """Annual consumption and PV peak power."""
        return ("annual_mwh", "pv_kwp")

    @property
    def condition_encodings(self) -> tuple[ConditionEncoding, ...]:
        """The day type (one-hot) and the daily mean temperature (degC, held in units of ``TEMPERATURE_SCALE``)."""
        return (ConditionEncoding("day_type", "categorical", categories=list(DAY_TYPES)),
                ConditionEncoding("mean_temperature", "numeric", std=TEMPERATURE_SCALE))

    # ----- the calendar and the weather ---------------------------------------------------------

    def hours(self, device: torch.device | None = None) -> Tensor:
        """The middle of each quarter-hour, in hours, ``[steps]``."""
        return (torch.arange(self.steps, device=device) + 0.5) * HOURS_PER_DAY / self.steps

    def seasonal_temperature(self, day_of_year: Tensor) -> Tensor:
        """The expected daily mean temperature of a day of the year (degC)."""
        coldest = 15  # around 15 January
        phase = 2 * math.pi * (day_of_year - coldest) / DAYS_PER_YEAR
        return self.seasonal_mean - self.seasonal_amplitude * torch.cos(phase)

    def conditions(self, day_type: str, mean_temperature: float) -> Tensor:
        """The ``whole_attr`` ``[whole_attr_dim]`` of a day that a planner knows.

        Its type (``weekday``, ``saturday`` or ``sunday``, which stands for holidays too) and its
        daily mean temperature in degC; ``ValueError`` for an unknown type or a non-finite temperature.
        """
        if day_type not in DAY_TYPES:
            raise ValueError(f"unknown day type {day_type!r}; known: {list(DAY_TYPES)}")
        if not math.isfinite(mean_temperature):
            raise ValueError(f"mean_temperature must be finite, got {mean_temperature}")
        one_hot = [float(day_type == name) for name in DAY_TYPES]
        return torch.tensor([*one_hot, mean_temperature / TEMPERATURE_SCALE])

    def sample_shared(
        self, num_wholes: int, generator: torch.Generator | None, device: torch.device,
        whole_attr: Tensor | None = None,
    ) -> Tensor:
        """The shared factors of each whole, ``[num_wholes, len(SHARED)]``.

        Given the conditions, the day of the year is drawn from its posterior given the mean
        temperature (the seasonal cycle as a likelihood), the rest as without them.
        """
        if whole_attr is None:
            day_of_year = torch.randint(0, DAYS_PER_YEAR, (num_wholes,), generator=generator, device=device).float()
            probabilities = torch.tensor(DAY_TYPE_PROBABILITIES, device=device).expand(num_wholes, -1)
            day_type = torch.multinomial(probabilities, 1, generator=generator)[:, 0].float()
            noise = torch.randn(num_wholes, generator=generator, device=device)
            mean_temperature = self.seasonal_temperature(day_of_year) + self.daily_temperature_std * noise
        else:
            day_type = whole_attr[:, : len(DAY_TYPES)].argmax(-1).float()
            mean_temperature = whole_attr[:, len(DAY_TYPES)] * TEMPERATURE_SCALE
            days = torch.arange(DAYS_PER_YEAR, device=device).float()
            residual = (mean_temperature[:, None] - self.seasonal_temperature(days)) / self.daily_temperature_std
            posterior = torch.softmax(-0.5 * residual.pow(2), -1)
            day_of_year = torch.multinomial(posterior, 1, generator=generator)[:, 0].float()
        # Beta(2, 2): the median of three uniforms
        cloud_cover = torch.rand(num_wholes, 3, generator=generator, device=device).median(-1).values
        broadcast = torch.rand(num_wholes, generator=generator, device=device) < self.broadcast_probability
        first, last = self.kickoff_hours
        kickoff = torch.randint(first, last + 1, (num_wholes,), generator=generator, device=device).float()
        return torch.stack([day_of_year, day_type, mean_temperature, cloud_cover, broadcast.float(), kickoff], -1)

    def hidden_factors(self, shared: Tensor) -> dict[str, Tensor]:
        """The day's mean temperature (degC) and whether a broadcast ran (0/1)."""
        return {"mean temperature": shared[:, 2], "broadcast": shared[:, 4]}

    def whole_attr_of(self, shared: Tensor) -> Tensor:
        """The conditions of wholes with shared factors ``shared``: day type (one-hot), mean temperature / 10."""
        day_type = torch.nn.functional.one_hot(shared[:, 1].long(), len(DAY_TYPES)).to(shared.dtype)
        return torch.cat([day_type, shared[:, 2:3] / TEMPERATURE_SCALE], -1)

    def temperature(self, shared: Tensor) -> Tensor:
        """The temperature of each quarter-hour, ``[B, steps]`` degC: the daily mean and a cycle peaking at 15 h."""
        cycle = torch.sin(2 * math.pi * (self.hours(shared.device) - 9) / HOURS_PER_DAY)
        return shared[:, 2:3] + self.diurnal_amplitude * cycle

    def irradiance(self, shared: Tensor) -> Tensor:
        """PV output per kWp of each quarter-hour, ``[B, steps]``: the season's sun, day length and clouds."""
        season = torch.sin(2 * math.pi * (shared[:, :1] - 80) / DAYS_PER_YEAR)
        day_length = 12 + 4 * season
        sun = torch.sin(math.pi * (self.hours(shared.device) - 12 + day_length / 2) / day_length).clamp_min(0)
        clear_sky = 0.55 + 0.45 * season
        return clear_sky * (1 - self.cloud_attenuation * shared[:, 3:4]) * sun

    # ----- the households -----------------------------------------------------------------------

    def sample_part_attr(self, part: Tensor, generator: torch.Generator | None) -> Tensor:
        """``part_attr`` ``[N, 2]`` of households of archetypes ``part``.

        Annual consumption in MWh, log-normal around the archetype's (mean preserved), and PV peak
        power in kWp, uniform for PV households and 0 for the others.
        """
        table = self._table(part.device)
        noise = torch.randn(part.numel(), generator=generator, device=part.device)
        sigma = self.consumption_log_std
        annual_mwh = table["annual_kwh"][part] * torch.exp(sigma * noise - sigma**2 / 2) / KWH_PER_MWH
        low, high = self.pv_kwp
        unit = torch.rand(part.numel(), generator=generator, device=part.device)
        return torch.stack([annual_mwh, (low + (high - low) * unit) * table["pv"][part]], -1)

    def sample_intrinsics(self, num_parts: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        """The hidden draws of each household, ``[num_parts, F]``.

        The columns of :data:`INTRINSICS` (standard normal or uniform, as :meth:`household_loads`
        uses them), then the ``steps`` innovations of the AR(1) noise, then (on, time, power, length)
        uniforms of each of the :data:`NUM_SPIKES` candidate spikes.
        """
        def normal(size: int) -> Tensor:
            return torch.randn(num_parts, size, generator=generator, device=device)

        def uniform(size: int) -> Tensor:
            return torch.rand(num_parts, size, generator=generator, device=device)

        # shift, morning, midday, evening, heat_loss | joins, half_time, ev_charges | ev_start | ev_energy
        spikes = uniform(4 * NUM_SPIKES)
        return torch.cat([normal(5), uniform(3), normal(1), uniform(1), normal(self.steps), spikes], -1)

    def _table(self, device: torch.device) -> dict[str, Tensor]:
        """Per-archetype constants as tensors indexed by category."""
        def column(values: list[float]) -> Tensor:
            return torch.tensor(values, dtype=torch.float32, device=device)

        return {
            "annual_kwh": column([a.annual_kwh for a in ARCHETYPES]),
            "base": column([a.base for a in ARCHETYPES]),
            "amplitude": torch.stack([column([a.bumps[j][0] for a in ARCHETYPES]) for j in range(3)], -1),
            "hour": torch.stack([column([a.bumps[j][1] for a in ARCHETYPES]) for j in range(3)], -1),
            "concentration": torch.stack([column([a.bumps[j][2] for a in ARCHETYPES]) for j in range(3)], -1),
            "joins": column([a.joins_broadcast for a in ARCHETYPES]),
            "heat_pump": column([float(a.heat_pump) for a in ARCHETYPES]),
            "pv": column([float(a.pv) for a in ARCHETYPES]),
            "ev": column([float(a.ev) for a in ARCHETYPES]),
        }

    def ar_matrix(self, device: torch.device | None = None) -> Tensor:
        r"""``[steps, steps]`` map from innovations :math:`\eta` to the stationary AR(1) noise.

        :math:`\epsilon_t = \rho\,\epsilon_{t-1} + \sigma\sqrt{1-\rho^2}\,\eta_t`, :math:`\epsilon_0 = \sigma\eta_0`.
        """
        t = torch.arange(self.steps, device=device)
        lag = (t[:, None] - t[None, :]).clamp_min(0).float()
        rho, sigma = self.noise_correlation, self.noise_std
        weights = sigma * math.sqrt(1 - rho**2) * rho**lag
        weights[:, 0] = sigma * rho ** t.float()
        return weights * (t[:, None] >= t[None, :])

    def profiles(self, part: Tensor, intrinsics: Tensor, weekend: Tensor) -> Tensor:
        """Each household's daily profile shape ``[N, steps]`` (mean 1).

        Its archetype's bumps, jittered and shifted in time; at weekends the morning comes 1.5 h later
        and the midday bump is 1.5x.
        """
        table = self._table(part.device)
        jitter = torch.exp(self.bump_jitter * intrinsics[:, 1:4] - self.bump_jitter**2 / 2)
        weekend_scale = torch.tensor([1.0, 1.5, 1.0], device=part.device)
        weekend_shift = torch.tensor([1.5, 0.0, 0.0], device=part.device)
        amplitude = table["amplitude"][part] * jitter * torch.where(weekend[:, None], weekend_scale, 1.0)
        hour = table["hour"][part] + weekend[:, None] * weekend_shift
        local_hours = self.hours(part.device)[None, :] - self.shift_std_hours * intrinsics[:, :1]  # [N, steps]
        phase = 2 * math.pi * (local_hours[:, None, :] - hour[:, :, None]) / HOURS_PER_DAY
        bumps = amplitude[:, :, None] * torch.exp(table["concentration"][part][:, :, None] * (torch.cos(phase) - 1))
        profile = table["base"][part][:, None] + bumps.sum(1)
        return profile / profile.mean(-1, keepdim=True)

    def spike_kwh_per_day(self, annual_kwh: Tensor) -> Tensor:
        """The mean energy of a household's appliance spikes a day (kWh)."""
        low, high = self.spike_kw
        mean_hours = 1.5 * HOURS_PER_DAY / self.steps  # one or two quarter-hours
        return self.spikes_per_day * annual_kwh / 2700 * (low + high) / 2 * mean_hours

    def household_loads(self, part: Tensor, part_attr: Tensor, intrinsics: Tensor, shared: Tensor) -> Tensor:
        """Each household's active power ``[N, steps]`` in kW, given its own day ``shared`` ``[N, S]``."""
        device, steps = part.device, self.steps
        table = self._table(device)
        quarter_hours = HOURS_PER_DAY / steps
        t = torch.arange(steps, device=device)
        profile = self.profiles(part, intrinsics, shared[:, 1] > 0)
        annual_kwh = part_attr[:, 0] * KWH_PER_MWH
        level = annual_kwh / HOURS_PER_YEAR - self.spike_kwh_per_day(annual_kwh) / HOURS_PER_DAY
        weather = 1 + self.temperature_gain * (self.reference_temperature - shared[:, 2])
        noise = intrinsics[:, 10:10 + steps] @ self.ar_matrix(device).to(intrinsics.dtype).T
        load = (level * weather)[:, None] * profile * torch.exp(noise - self.noise_std**2 / 2)
        # appliance spikes: on, time (by the profile's inverse CDF), power, one or two quarter-hours
        spikes = intrinsics[:, 10 + steps:].reshape(-1, NUM_SPIKES, 4)
        rate = self.spikes_per_day * annual_kwh / 2700
        active = (spikes[..., 0] < (rate / NUM_SPIKES)[:, None]).float()
        cdf = profile.cumsum(-1) / profile.sum(-1, keepdim=True)
        start = torch.searchsorted(cdf, spikes[..., 1].contiguous()).clamp_max(steps - 1)
        low, high = self.spike_kw
        power = active * (low + (high - low) * spikes[..., 2])
        second = (spikes[..., 3] < 0.5) & (start + 1 < steps)
        load = load.scatter_add(1, start, power).scatter_add(1, (start + 1).clamp_max(steps - 1), power * second)
        # the broadcast: watchers draw less but switch on the TV, and many a kettle at half-time
        kickoff = (shared[:, 5] * steps / HOURS_PER_DAY).long()[:, None]
        watching = ((shared[:, 4] > 0) & (intrinsics[:, 5] < table["joins"][part]))[:, None]
        during = watching & (t >= kickoff) & (t < kickoff + self.broadcast_quarters)
        load = torch.where(during, self.watching_factor * load + self.watching_kw, load)
        kettle = (intrinsics[:, 6:7] < self.half_time_probability) & (t == kickoff + self.half_time_quarter)
        load = load + self.half_time_kw * (watching & kettle)
        # heat pump: heat loss below the heating limit, over the COP of a 35 degC flow
        temperature = self.temperature(shared)
        carnot = (self.flow_temperature + 273.15) / (self.flow_temperature - temperature).clamp_min(1.0)
        cop = (0.45 * carnot).clamp(*self.cop_range)
        sigma = self.heat_loss_log_std
        heat_loss = table["heat_pump"][part] * self.heat_loss_kw_per_k * torch.exp(
            sigma * intrinsics[:, 4] - sigma**2 / 2)
        heat_pump = heat_loss[:, None] * (self.heating_limit - temperature).clamp_min(0) / cop
        # EV: some evenings, charge a uniform energy at the wallbox's power from a normal start time
        charges = table["ev"][part] * (intrinsics[:, 7] < self.ev_charge_probability)
        mean_start, start_std = self.ev_start_hour
        first = ((mean_start + start_std * intrinsics[:, 8]) / quarter_hours).round().clamp(0, steps - 1)[:, None]
        low, high = self.ev_energy_kwh
        energy = (low + (high - low) * intrinsics[:, 9])[:, None]
        remaining = energy - self.ev_power_kw * quarter_hours * (t - first)
        ev = charges[:, None] * (t >= first) * (remaining / quarter_hours).clamp(0, self.ev_power_kw)
        pv = self.pv_performance_ratio * part_attr[:, 1:2] * self.irradiance(shared)
        return load + heat_pump + ev - pv

    def feeder(self, demand: Tensor, num_households: Tensor) -> Tensor:
        """What the feeder delivers for the summed demand ``[B, steps]`` of ``num_households`` ``[B]``.

        The demand plus losses that grow with its square (0 for a feeder with no households).
        """
        rated = num_households.clamp_min(self.min_rated_households) * self.rated_kw_per_household
        return demand + self.loss_coefficient * demand * demand.abs() / rated[:, None]

    def render(
        self, part: Tensor, part_attr: Tensor | None, intrinsics: Tensor, batch: Tensor, num_wholes: int,
        shared: Tensor | None = None,
    ) -> Tensor:
        """The feeder's load of each whole: its households' loads on its shared day, summed, plus losses."""
        loads = self.household_loads(part, part_attr, intrinsics, shared.index_select(0, batch))
        demand = scatter(loads, batch, dim=0, dim_size=num_wholes, reduce="sum")
        return self.feeder(demand, torch.bincount(batch, minlength=num_wholes).to(demand.dtype))

    def naive_render(
        self, part: Tensor, part_attr: Tensor | None, intrinsics: Tensor, batch: Tensor, num_wholes: int,
        shared: Tensor | None = None,
    ) -> Tensor:
        """What practitioners do: each household on its own independent day ``shared`` ``[N, S]``, summed."""
        loads = self.household_loads(part, part_attr, intrinsics, shared)
        return scatter(loads, batch, dim=0, dim_size=num_wholes, reduce="sum")

    def edit_directly(
        self, observation: Data, edit: Edit, num_samples: int, generator: torch.Generator | None = None,
    ) -> Tensor:
        """A planner's what-if without a model, ``[num_samples, *obs_shape]``.

        The observed load scaled by the kept households' share of the annual consumption, plus the naive
        simulation (:meth:`naive_wholes`, each household on its own day under the observation's conditions) of
        the added households, drawn with descriptors when the edit has none.
        """
        scaled = _kept_share(observation, edit).expand(num_samples, -1)
        if not edit.add_part.numel():
            return scaled
        whole_attr = getattr(observation, "whole_attr", None)
        added = self.naive_wholes(edit.add_part, num_samples, self._added_attr(edit, generator), whole_attr, generator)
        return scaled + added

    def edit_by_standard_profile(
        self, observation: Observation, edit: Edit, num_samples: int, generator: torch.Generator | None = None,
    ) -> Tensor | None:
        """The planner's usual what-if, ``[num_samples, *obs_shape]``: added households from the standard load profile.

        The observed load scaled as by :meth:`edit_directly`, plus each added household's annual consumption times
        the BDEW household profile of the observed date and day type
        (:class:`~compvae_geo.datasets.standard_profile.StandardLoadProfile`; a planner knows the date of the day it
        measured): the same curve in every sample, whatever the household owns (heat pump, PV, EV). None, with a
        warning, without ``demandlib`` (the ``planner`` extra).
        """
        try:
            profile = standard_load_profile(self.steps)
        except ImportError as error:
            warnings.warn(f"no standard-profile edit: {error}", stacklevel=2)
            return None
        scaled = _kept_share(observation, edit).expand(num_samples, -1)
        if not edit.add_part.numel():
            return scaled
        day = dict(zip(SHARED, observation.shared[0].tolist()))
        curve = profile.day(day["day_of_year"], int(day["day_type"])).to(scaled)
        annual_kwh = self._added_attr(edit, generator)[:, 0].sum() * KWH_PER_MWH  # the profile is per kWh a year
        return scaled + annual_kwh * curve

    def _added_attr(self, edit: Edit, generator: torch.Generator | None) -> Tensor:
        """The descriptors of an edit's added households: the edit's, else drawn."""
        return self.sample_part_attr(edit.add_part, generator) if edit.add_part_attr is None else edit.add_part_attr


def _kept_share(observation: Data | Observation, edit: Edit) -> Tensor:
    """The observed load ``[1, steps]`` scaled by the kept households' share of the annual consumption."""
    annual = observation.part_attr[:, 0]
    total = annual.sum()
    share = annual[edit.keep].sum() / total if total > 0 else annual.new_ones(())
    return share * observation.whole
