"""A model trained on a simulator's exported files, spoken to in the simulator's own terms.

``compvae-geo export`` writes a problem's wholes as files; a model trained on them
(``compvae-geo train --data``) reads category ids of its own vocabulary (labels sorted), conditions encoded from
the file columns, standardised descriptors and scaled wholes. :class:`InProblemTerms` translates the problem's ids,
conditions and batches into those, so that the evaluation against the true generator (``compvae-geo evaluate``)
measures the file model exactly as it measures a model trained on the simulator's stream.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch

from compvae_geo.datasets import DataEncoding, PartsProblem

from ..models import CompVAEConfig, LossTerms, SavableModel


class InProblemTerms(nn.Module):
    r"""``model`` (trained on ``problem``'s exported files) with the problem's ``generate`` and ``loss``.

    Parts: the problem's category ids become the labels the files held, then the model's ids; descriptors travel in
    the files' units, which are the problem's. Conditions: the problem's ``whole_attr`` becomes the file columns
    (:attr:`PartsProblem.encoding`), then the model's encoding; an unknown row stays unknown. Wholes: the
    model generates in the files' units, the problem's.

    :meth:`loss` gives L_x of the wholes in the problem's units: the model reads :math:`x / s` (``value_scale`` s),
    so :math:`-\log p(x) = -\log p_s(x / s) + T \log s` over the T values of a whole, and the bits compare with a
    model trained on the stream. What-if and tail evaluations, which recompose abducted latents, are not translated:
    this is a generator and a likelihood, not a :class:`~compvae_geo.models.CompVAE`.
    """

    def __init__(self, model: SavableModel, problem: PartsProblem) -> None:
        super().__init__()
        encoding = model.encoding
        if encoding is None:
            raise ValueError(f"the {model.model_name} model was not trained on files: evaluate it directly")
        _check_matches(encoding, problem)
        self.model, self.problem, self.encoding = model, problem, encoding
        self.problem_encoding = problem.encoding  # built once: every sampler call and batch translates through it
        index = {label: i for i, label in enumerate(encoding.vocabulary)}
        self.register_buffer("model_ids", torch.tensor([index[label] for label in problem.category_labels]),
                             persistent=False)
        self.x_offset_nats = math.prod(problem.obs_shape) * math.log(encoding.value_scale)

    @property
    def model_name(self) -> str:
        """The wrapped model's name."""
        return self.model.model_name

    @property
    def config(self) -> CompVAEConfig:
        """The wrapped model's config."""
        return self.model.config

    def generate(self, parts: Tensor, num_samples: int = 1, part_attr: Tensor | None = None,
                 whole_attr: Tensor | None = None, observation_noise: bool = False) -> Tensor:
        """The model's wholes ``[num_samples, *obs_shape]`` of one multiset of the problem's category ids ``[K]``."""
        conditions = None if whole_attr is None else self.conditions(whole_attr.reshape(-1, whole_attr.size(-1)))
        if conditions is not None and whole_attr.dim() == 1:
            conditions = conditions[0]
        wholes = self.model.generate(self.model_ids[parts], num_samples, part_attr, conditions, observation_noise)
        return wholes.reshape(num_samples, *self.problem.obs_shape)

    def loss(self, batch: Batch) -> LossTerms[Tensor]:
        """The model's loss terms (nats per whole) of a problem's batch, L_x in the problem's units."""
        translated = batch.clone()
        translated.part = self.model_ids[batch.part]
        if getattr(batch, "part_attr", None) is not None:
            translated.part_attr = self.encoding.encode_descriptors(batch.part_attr)
        if getattr(batch, "whole_attr", None) is not None:
            translated.whole_attr = self.conditions(batch.whole_attr)
        translated.whole = self.encoding.encode_values(batch.whole.flatten(1))
        terms = self.model.loss(translated)
        return LossTerms(terms.w, terms.z, terms.x + self.x_offset_nats)

    def conditions(self, whole_attr: Tensor) -> Tensor:
        """The problem's conditions ``[B, C]`` (a row of NaN: unknown) as the model's ``whole_attr``."""
        return self.encoding.encode_conditions(self.problem_encoding.decode_conditions(whole_attr), whole_attr.size(0))


def in_terms_of(problem: PartsProblem, model: SavableModel) -> SavableModel | InProblemTerms:
    """``model`` as :class:`InProblemTerms` of ``problem`` if it was trained on files, else as it is."""
    return model if model.encoding is None else InProblemTerms(model, problem)


def _check_matches(encoding: DataEncoding, problem: PartsProblem) -> None:
    """``ValueError`` unless the files the model learnt from are ``problem``'s: categories, descriptors, conditions."""
    name = type(problem).__name__
    missing = [label for label in problem.category_labels if label not in encoding.vocabulary]
    if missing:
        raise ValueError(f"the model's files held no part of the {name} categories {missing}: "
                         "it cannot generate them")
    if tuple(encoding.descriptor_columns) != tuple(problem.descriptor_names):
        raise ValueError(f"the model's descriptors {encoding.descriptor_columns} are not the {name} ones "
                         f"{list(problem.descriptor_names)}")
    if len(encoding.value_columns) != math.prod(problem.obs_shape):
        raise ValueError(f"the model's wholes have {len(encoding.value_columns)} values, the {name} ones "
                         f"{math.prod(problem.obs_shape)}")
    columns = {condition.name for condition in problem.condition_encodings}
    if {condition.name for condition in encoding.conditions} != columns:
        raise ValueError(f"the model's conditions {[c.name for c in encoding.conditions]} are not the {name} ones "
                         f"{sorted(columns)}")
