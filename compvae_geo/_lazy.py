"""Package attributes imported on first use (PEP 562), so that ``compvae-geo --help`` never imports torch."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: imports ``name`` from its submodule ``where[name]`` on first use."""
    def __getattr__(name: str) -> Any:  # noqa: N807 (the name Python looks up)
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name], package), name)
    return __getattr__
