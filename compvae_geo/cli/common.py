"""What the commands share: argument parsers, the boolean flags and the help format, the config-field flags, exit codes.

Only plain-data modules are imported here, so that ``--help`` answers at once; each command imports torch, PyG and
MLflow when it runs.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..tracking import MODEL_URI_SCHEMES
from ..training.presets import preset_values

INTERRUPTED_EXIT_CODE = 130  # the shell's code for a process stopped by Ctrl-C


DIVERGED_EXIT_CODE = 3  # a training whose steps were almost all skipped (see TrainConfig.max_skipped_share)


FAILED_EXIT_CODE = 1  # a file that could not be written or read (a full disk, say)


def parse_bool(text: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off) as a bool; argparse's type error otherwise."""
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def parse_ints(text: str) -> tuple[int, ...]:
    """Integers separated by commas (``1,4,16``)."""
    items = text.split(",")
    if any(not item.strip() for item in items):
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r} (an empty item)")
    try:
        return tuple(int(item) for item in items)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}") from None


CHECKPOINT_HELP = "a checkpoint file, or an MLflow URI: models:/NAME/VERSION, runs:/RUN_ID[/PATH]"


def checkpoint_argument(text: str) -> Path | str:
    """A ``--checkpoint``: a file path, or an MLflow URI kept as text (fetched once the tracking store is known)."""
    return text if text.startswith(MODEL_URI_SCHEMES) else Path(text)


def parse_parts(text: str) -> tuple[int | str, ...]:
    """Categories separated by commas: ids, or a model of recorded data's labels (``single,family,family``)."""
    items = [item.strip() for item in text.split(",")]
    if any(not item for item in items):
        raise argparse.ArgumentTypeError(f"expected categories separated by commas, got {text!r} (an empty item)")
    return tuple(int(item) if item.lstrip("-").isdigit() else item for item in items)


def parse_rows(text: str) -> list[list[float]]:
    """Rows of numbers: commas between the numbers of a row, semicolons between rows (``0.1,0.5;-0.4,0``)."""
    return [[float(value) for value in row.split(",")] for row in text.split(";") if row.strip()]


class BooleanFlag(argparse.Action):
    """A boolean field as ``--flag`` (or ``--flag true|false``) and ``--no-flag``."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        negated = [f"--no-{name[2:]}" for name in option_strings if name.startswith("--")]
        super().__init__([*option_strings, *negated], dest, nargs="?", **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        """Sets the field: False for ``--no-flag``, else True or the value given."""
        if option_string is not None and option_string.startswith("--no-"):
            if values is not None:
                parser.error(f"{option_string} takes no value")
            setattr(namespace, self.dest, False)
            return
        try:
            setattr(namespace, self.dest, True if values is None else parse_bool(values))
        except argparse.ArgumentTypeError as error:
            parser.error(f"{option_string}: {error}")


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, with a boolean flag shown as ``--flag [BOOL], --no-flag``."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if isinstance(action, BooleanFlag):
            positive = [name for name in action.option_strings if not name.startswith("--no-")]
            negative = [name for name in action.option_strings if name.startswith("--no-")]
            return ", ".join([f"{name} [BOOL]" for name in positive] + negative)
        return super()._format_action_invocation(action)


def add_config_overrides(parser: argparse.ArgumentParser, config_cls: type, skip: set[str], title: str,
                          aliases: dict[str, list[str]] | None = None, helps: dict[str, str] | None = None,
                          choices: dict[str, Sequence[str]] | None = None) -> None:
    """One flag per field of the dataclass ``config_cls`` (``--field-name``, booleans also ``--no-field-name``).

    Each is None when not given; its help shows the default and, for training and model fields, the values the
    presets use (:func:`~compvae_geo.training.presets.preset_values`).
    """
    group = parser.add_argument_group(title, "override any field of the default")
    for field in fields(config_cls):
        if field.name in skip:
            continue
        default = getattr(config_cls(), field.name)
        names = [f"--{field.name.replace('_', '-')}", *(aliases or {}).get(field.name, [])]
        presets = preset_values(field.name)
        text = (helps or {}).get(field.name, f"(default {shown(default)}{'; ' + presets if presets else ''})")
        if isinstance(default, bool):
            group.add_argument(*names, dest=field.name, action=BooleanFlag, default=None, metavar="BOOL", help=text)
            continue
        kind = parse_ints if isinstance(default, tuple) else type(default)
        metavar = "A,B,..." if isinstance(default, tuple) else type(default).__name__.upper()
        field_choices = (choices or {}).get(field.name)
        group.add_argument(*names, dest=field.name, type=kind, default=None, choices=field_choices,
                           metavar="{" + ",".join(field_choices) + "}" if field_choices else metavar, help=text)


def shown(value: Any) -> str:
    """A default as the command line writes it (a tuple as ``1,4,16``, a string as itself, '' as '')."""
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return repr(value) if value == "" else str(value)


def config_overrides(args: argparse.Namespace, config_cls: type, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields of ``config_cls`` given on the command line."""
    return {f.name: getattr(args, f.name) for f in fields(config_cls)
            if f.name not in skip and getattr(args, f.name, None) is not None}
