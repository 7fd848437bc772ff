r"""What-if recomposition: an observed whole with some of its parts removed and others added, by the model.

A counterfactual of the generative model read as a structural one, in which every latent is its parameters plus a
scaled standard-normal noise: :math:`z = \mu_z + \sigma_z \eta` (where z comes first, from the multiset and the
conditions, else from :math:`\tilde{w}`), :math:`w_i = \mu_i + \sigma_i \epsilon_i\ (+\, b_i u_g)` from the part
prior, :math:`x = \mu_x + \sigma_x \epsilon_x`. Design and measurements: ``docs/design.md``.
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch_geometric.data import Data

from ..datasets.edit import Edit
from ..models.latents import GenerationNoise
from ..validation import Multisets, check_num_samples, check_parts, check_wholes

if TYPE_CHECKING:
    from ..models import CompVAE

# recompose warns when a noise it abducts from an observation (z's, the parts' own, the shared factors) has a root
# mean square above this (1 expected): the observation is unlike the training data (households `cpu` model: 1.0 at
# the training n, at most 1.3 at twice it, up to 4.3 at four times it, where the what-if wholes explode)
IMPLAUSIBLE_NOISE_RMS = 2.0


@torch.no_grad()
def recompose(
    model: CompVAE, observed: Data, edit: Edit, num_samples: int = 1, observation_noise: bool = True,
) -> Tensor:
    r"""What an observed whole would have been with the ``edit`` of its parts: ``[num_samples, *obs_shape]``.

    1. Abduction: the noises behind a posterior draw of the observation's latents (:meth:`CompVAE.abduct`): the
       day's :math:`\eta`, each kept part's :math:`\epsilon_i`, each category's shared :math:`u_g` and, with
       ``observation_noise``, the observation's residual :math:`\epsilon_x`.
    2. Action: the removed parts go, the added parts come with fresh noise (their category's :math:`u_g` where a
       kept part shares it).
    3. Prediction: the same noises through the model with the edited multiset and the observation's conditions
       ``whole_attr``; the whole's mean, plus :math:`\sigma_x' \epsilon_x` with ``observation_noise``.

    Nothing removed or added gives back the observation (its reconstruction's means without
    ``observation_noise``); what the parts share (the day's weather, calendar and events) stays the
    observation's, while what the multiset itself implies (a smaller feeder loads less) follows the edit.

    Args:
        model: a :class:`~compvae_geo.CompVAE`.
        observed: one observed whole: ``part`` [K], ``whole`` [1, *obs_shape], and ``part_attr``/``whole_attr``
            where the model has them.
        edit: which observed parts stay and which are added, with their descriptors where the model has them
            (:func:`~compvae_geo.datasets.check_edit`).
        num_samples: what-if wholes to draw, each from its own draw of the posterior.
        observation_noise: carry the observation's residual over (see above), else return the means.
    """
    check_num_samples(num_samples)
    c = model.config
    observation = check_wholes(observed, c, model.dtype)
    if observation.num_wholes != 1:
        raise ValueError(f"recompose takes one observed whole, got {observation.num_wholes}")
    num_parts = observation.part.numel()
    if edit.keep.numel() != num_parts:
        raise ValueError(f"the edit is of a whole of {edit.keep.numel()} parts, the observed one has {num_parts}")
    try:
        check_parts(edit.add_part, edit.add_part_attr, c.num_categories, c.part_attr_dim)
    except ValueError as error:
        raise ValueError(f"added parts: {error}".replace("part_attr", "add_part_attr")) from None
    edit = edit.to(observation.part.device)
    noise = model.abduct(observation.copies(num_samples), observation_noise)
    _warn_if_implausible([t for t in (noise.z, noise.own, noise.shared) if t is not None])
    part, part_attr = edit.edited_parts(observation.part, observation.part_attr)
    edited = Multisets(part=part, part_attr=part_attr, batch=torch.zeros_like(part), num_wholes=1,
                       whole_attr=observation.whole_attr).copies(num_samples)
    return model.wholes_of(edited, _act(noise, edit, observation.part, part, c.num_categories))


def _act(noise: GenerationNoise, edit: Edit, observed: Tensor, edited: Tensor, num_categories: int) -> GenerationNoise:
    """The noise of the edited multiset ``edited``: the removed parts' noise goes, the added parts' comes fresh."""
    copies, _, w_dim = noise.own.shape
    added = torch.randn(copies, edit.add_part.numel(), w_dim, dtype=noise.own.dtype, device=noise.own.device)
    own = torch.cat([noise.own[:, edit.keep], added], 1)
    shared = None if noise.shared is None else _shared_by_category(noise.shared, observed, edited, num_categories)
    return replace(noise, own=own, shared=shared)


def _shared_by_category(shared: Tensor, observed: Tensor, edited: Tensor, num_categories: int) -> Tensor:
    """The shared factors ``[copies, categories of edited, D]`` of the edited multiset ``edited`` ``[K']``.

    ``shared`` ``[copies, categories of observed, D]`` holds those of the observed multiset ``observed`` ``[K]``,
    by category in increasing order (as the part prior numbers the groups of a whole). A category the observation
    had keeps its factor, a new one gets a fresh standard-normal draw.
    """
    copies = shared.size(0)
    table = torch.randn(copies, num_categories, shared.size(-1), dtype=shared.dtype, device=shared.device)
    table[:, observed.unique()] = shared
    return table[:, edited.unique()]


def _warn_if_implausible(noises: list[Tensor]) -> None:
    """Warns when abducted standard-normal noises are far from standard (see :data:`IMPLAUSIBLE_NOISE_RMS`)."""
    rms = max((float(noise.pow(2).mean().sqrt()) for noise in noises if noise.numel()), default=0.0)
    if rms > IMPLAUSIBLE_NOISE_RMS:
        warnings.warn(f"the observation is unlike the model's training data: the noises recompose infers from it "
                      f"have a root mean square of {rms:.1f} where 1 is expected, so its what-if wholes may be far "
                      "off (for instance beyond the numbers of parts it was trained on)", stacklevel=4)
