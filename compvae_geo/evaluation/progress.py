"""How far a long evaluation is: stages of counted steps, told to whoever listens (the command line's bar).

The evaluation's loops announce a stage and its steps; nothing is shown unless a listener is installed with
:func:`listening` (``compvae-geo evaluate`` installs a progress bar), so the library stays silent.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class Listener(Protocol):
    """Receives the stages of an evaluation and their steps."""

    def start(self, stage: str, total: int) -> None:
        """A stage of ``total`` steps begins."""

    def advance(self, detail: str) -> None:
        """One step of the stage is done; ``detail`` says which."""

    def finish(self) -> None:
        """The stage ended (all its steps done, or an error)."""


_LISTENER: ContextVar[Listener | None] = ContextVar("evaluation_listener", default=None)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Tells ``listener`` the stages of the evaluations run inside the block."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


@contextmanager
def stage(name: str, total: int) -> Iterator[Callable[[str], None]]:
    """A stage of ``total`` steps: yields the function that marks one step done (with a detail)."""
    listener = _LISTENER.get()
    if listener is None:
        yield lambda detail: None
        return
    listener.start(name, total)
    try:
        yield listener.advance
    finally:
        listener.finish()
