"""The households problem.

The vectorised generator against a slow per-household loop, its shared factors, its conditions and their errors.
"""
import math

import pytest
import torch

from compvae_geo.datasets import ARCHETYPES, DAY_TYPES, HouseholdParts, SineParts
from compvae_geo.datasets.household_parts import NUM_SPIKES

PROBLEM = HouseholdParts()


def slow_household_load(p: HouseholdParts, k: int, attr: list[float], z: list[float], day: list[float]) -> list[float]:
    """One household's day, quarter-hour by quarter-hour, from the formulas (scalars only)."""
    a = ARCHETYPES[k]
    day_of_year, day_type, mean_temperature, cloud, broadcast, kickoff_hour = day
    weekend = day_type > 0
    steps, hours_per_step = p.steps, 24 / p.steps
    shift = p.shift_std_hours * z[0]
    bumps = []
    for j, (amplitude, hour, concentration) in enumerate(a.bumps):
        amplitude *= math.exp(p.bump_jitter * z[1 + j] - p.bump_jitter**2 / 2)
        if weekend and j == 0:
            hour += 1.5
        if weekend and j == 1:
            amplitude *= 1.5
        bumps.append((amplitude, hour, concentration))
    raw = []
    for t in range(steps):
        h = (t + 0.5) * hours_per_step - shift
        raw.append(a.base + sum(amp * math.exp(c * (math.cos(2 * math.pi * (h - mu) / 24) - 1))
                                for amp, mu, c in bumps))
    profile = [value / (sum(raw) / steps) for value in raw]
    annual = attr[0] * 1000
    spike_kwh = p.spikes_per_day * annual / 2700 * sum(p.spike_kw) / 2 * 1.5 * hours_per_step
    level = (annual / 8760 - spike_kwh / 24) * (1 + p.temperature_gain * (p.reference_temperature - mean_temperature))
    rho, sigma = p.noise_correlation, p.noise_std
    eps, load = 0.0, []
    for t in range(steps):
        eta = z[10 + t]
        eps = sigma * eta if t == 0 else rho * eps + sigma * math.sqrt(1 - rho**2) * eta
        load.append(level * profile[t] * math.exp(eps - sigma**2 / 2))
    cdf = [sum(profile[: t + 1]) / sum(profile) for t in range(steps)]
    for m in range(NUM_SPIKES):
        on, when, power, length = z[10 + steps + 4 * m: 14 + steps + 4 * m]
        if on >= p.spikes_per_day * annual / 2700 / NUM_SPIKES:
            continue
        start = min(next((t for t in range(steps) if cdf[t] >= when), steps - 1), steps - 1)
        kw = p.spike_kw[0] + (p.spike_kw[1] - p.spike_kw[0]) * power
        load[start] += kw
        if length < 0.5 and start + 1 < steps:
            load[start + 1] += kw
    kickoff = int(kickoff_hour * 4)
    watching = broadcast > 0 and z[5] < a.joins_broadcast
    season = math.sin(2 * math.pi * (day_of_year - 80) / 365)
    day_length = 12 + 4 * season
    out = []
    for t in range(steps):
        h = (t + 0.5) * hours_per_step
        value = load[t]
        if watching and kickoff <= t < kickoff + p.broadcast_quarters:
            value = p.watching_factor * value + p.watching_kw
        if watching and z[6] < p.half_time_probability and t == kickoff + p.half_time_quarter:
            value += p.half_time_kw
        temperature = mean_temperature + p.diurnal_amplitude * math.sin(2 * math.pi * (h - 9) / 24)
        if a.heat_pump:
            cop = min(max(0.45 * (p.flow_temperature + 273.15) / max(p.flow_temperature - temperature, 1.0),
                          p.cop_range[0]), p.cop_range[1])
            loss = p.heat_loss_kw_per_k * math.exp(p.heat_loss_log_std * z[4] - p.heat_loss_log_std**2 / 2)
            value += loss * max(p.heating_limit - temperature, 0) / cop
        if a.ev and z[7] < p.ev_charge_probability:
            first = min(max(round((p.ev_start_hour[0] + p.ev_start_hour[1] * z[8]) / hours_per_step), 0), steps - 1)
            energy = p.ev_energy_kwh[0] + (p.ev_energy_kwh[1] - p.ev_energy_kwh[0]) * z[9]
            if t >= first:
                value += min(max((energy - p.ev_power_kw * hours_per_step * (t - first)) / hours_per_step, 0),
                             p.ev_power_kw)
        sun = max(math.sin(math.pi * (h - 12 + day_length / 2) / day_length), 0)
        irradiance = (0.55 + 0.45 * season) * (1 - p.cloud_attenuation * cloud) * sun
        value -= p.pv_performance_ratio * attr[1] * irradiance
        out.append(value)
    return out


def test_the_generator_matches_a_slow_per_household_loop():
    generator = torch.Generator().manual_seed(0)
    part = torch.tensor([0, 1, 2, 3, 4, 5, 6, 6, 4, 0, 3])
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    attr = PROBLEM.sample_part_attr(part, generator)
    intrinsics = PROBLEM.sample_intrinsics(part.numel(), generator, torch.device("cpu")).double()
    shared = PROBLEM.sample_shared(3, generator, torch.device("cpu"))
    shared[:, 4] = 1.0  # a broadcast every day, so that its code runs
    shared[1, 1] = 2.0  # one Sunday
    wholes = PROBLEM.render(part, attr.double(), intrinsics, batch, 3, shared.double())
    for b in range(3):
        members = (batch == b).nonzero().flatten().tolist()
        demand = [sum(values) for values in zip(*[slow_household_load(
            PROBLEM, int(part[i]), attr[i].tolist(), intrinsics[i].tolist(), shared[b].tolist()) for i in members])]
        rated = max(len(members), PROBLEM.min_rated_households) * PROBLEM.rated_kw_per_household
        expected = [d + PROBLEM.loss_coefficient * d * abs(d) / rated for d in demand]
        torch.testing.assert_close(wholes[b], torch.tensor(expected, dtype=torch.float64), rtol=1e-6, atol=1e-6)


def test_households_share_their_day_and_the_naive_simulator_does_not():
    generator = torch.Generator().manual_seed(1)
    part = torch.tensor([3] * 16)
    attr = PROBLEM.sample_part_attr(part, generator)
    true = PROBLEM.sample_wholes(part, 400, attr, generator=generator)
    naive = PROBLEM.naive_wholes(part, 400, attr, generator=generator)
    # the shared temperature and calendar spread the daily energy of the sum far more than independent days do
    assert true.sum(-1).std() > 1.5 * naive.sum(-1).std()
    assert abs(true.sum(-1).mean() / naive.sum(-1).mean() - 1) < 0.1  # about the same energy on average


def test_conditions_encode_the_day_and_the_generator_draws_the_rest_given_them():
    cold = PROBLEM.conditions("weekday", -5.0)
    assert cold.tolist() == [1.0, 0.0, 0.0, -0.5]
    shared = PROBLEM.sample_shared(2000, torch.Generator().manual_seed(2), torch.device("cpu"), cold.expand(2000, -1))
    assert (shared[:, 1] == 0).all() and torch.allclose(shared[:, 2], torch.tensor(-5.0))
    winter = (shared[:, 0] < 80) | (shared[:, 0] > 330)
    assert winter.float().mean() > 0.9  # a cold day is a winter day
    torch.testing.assert_close(PROBLEM.whole_attr_of(shared[:1]), cold[None])
    mild_sunday = PROBLEM.conditions("sunday", 15.0)
    part = torch.tensor([4, 4, 1])
    attr = PROBLEM.sample_part_attr(part, torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(4)
    cold_days = PROBLEM.sample_wholes(part, 300, attr, cold, generator=generator)
    mild_days = PROBLEM.sample_wholes(part, 300, attr, mild_sunday, generator=generator)
    assert cold_days.sum(-1).mean() > 1.3 * mild_days.sum(-1).mean()  # two heat pumps


def test_bad_conditions_are_clear_value_errors():
    with pytest.raises(ValueError, match="unknown day type 'friday'"):
        PROBLEM.conditions("friday", 10.0)
    for temperature in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="must be finite"):
            PROBLEM.conditions("weekday", temperature)
    part = torch.tensor([1])
    attr = PROBLEM.sample_part_attr(part, None)
    with pytest.raises(ValueError, match=r"whole_attr must have shape \(4,\) or \(1, 4\)"):
        PROBLEM.sample_wholes(part, 2, attr, torch.zeros(3))
    with pytest.raises(ValueError, match="SineParts takes no whole_attr"):
        SineParts().sample_wholes(torch.tensor([1]), 2, whole_attr=torch.zeros(4))
    assert len(DAY_TYPES) + 1 == PROBLEM.whole_attr_dim


def test_batches_carry_descriptors_by_archetype_and_the_conditions_of_each_day():
    batch = PROBLEM.sample_batch(64, 8, generator=torch.Generator().manual_seed(5))
    assert batch.whole.shape == (64, 96) and batch.whole_attr.shape == (64, 4)
    assert (batch.whole_attr[:, :3].sum(-1) == 1).all()
    pv = batch.part == [a.name for a in ARCHETYPES].index("couple_pv")
    assert (batch.part_attr[pv, 1] >= 3).all() and (batch.part_attr[~pv, 1] == 0).all()
    assert batch.to_data_list()[3].whole_attr.shape == (1, 4)


def test_the_problems_encoding_reads_its_conditions_and_labels_as_the_files_write_them():
    problem = HouseholdParts()
    encoding = problem.encoding
    whole_attr = torch.stack([problem.conditions("saturday", -3.5), problem.conditions("weekday", 21.0),
                              torch.full((problem.whole_attr_dim,), float("nan"))])
    cells = encoding.decode_conditions(whole_attr)
    assert cells == {"day_type": ["saturday", "weekday", None], "mean_temperature": [-3.5, 21.0, None]}
    torch.testing.assert_close(encoding.encode_conditions(cells, 3), whole_attr, equal_nan=True)
    assert encoding.part_ids(list(problem.category_labels)).tolist() == list(range(problem.num_categories))
    assert (encoding.unit, encoding.step_hours, encoding.value_scale) == ("kW", 0.25, 1.0)
    assert len(encoding.value_columns) == 96 and encoding.descriptor_columns == ["annual_mwh", "pv_kwp"]
