"""The base of every configuration dataclass: conversion to and from plain values, checks of its floats."""
from __future__ import annotations

import math
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self


class PlainDataConfig:
    """Conversion of a config dataclass to and from plain Python values.

    Conversion of a config dataclass to and from plain Python values (lists for tuples), the
    form that ``torch.load(weights_only=True)``, JSON and MLflow params accept.
    """

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain values (tuples become lists)."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    def check_finite(self) -> None:
        """``ValueError`` unless every float field is finite (``inf`` or ``nan`` would only show later, as NaN)."""
        for field in fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{field.name} must be finite, got {value}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Self:
        """The config of plain ``values``; unknown fields are a ``ValueError``."""
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        return cls(**values)
