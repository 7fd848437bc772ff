"""Saving and loading checkpoints as plain data (config + weights), never as pickled code.

A checkpoint is a dictionary ``{format, model, config, state_dict}`` (a training checkpoint also
holds ``training``), read with ``weights_only=True``. Older formats are upgraded when read, one format at a time:
format 1 (before the package was split into ``models/``, ``codecs/``, ``training/``, ``evaluation/``) has its
part-prior weights renamed, and the options removed since (recorded in ``docs/experiments.md``) dropped where they
were off, or the file is refused with a message naming them; format 2 (before the model was composed of a z prior
and an observation model) has the weights of those modules renamed.
"""
from __future__ import annotations

import errno
import os
import pickle
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FORMAT = 3  # version of the dictionary written by SavableModel.save
DEFAULT_MODEL_NAME = "compvae"  # the model of checkpoints that do not name one
FILE_MODE = 0o666  # the mode of a written checkpoint, less the umask (as open() would make it)

# Format 1 -> 2: the part prior's modules moved into CompVAE.part_prior.
_FORMAT_1_PREFIXES = {"prior_embedding.": "part_prior.embedding.", "prior_count.": "part_prior.count.",
                      "prior_group_size.": "part_prior.group_size.", "w_prior.": "part_prior.head.",
                      "prior_context.": "part_prior.context."}
# Format 1 options removed in format 2, with the value that means "off".
_FORMAT_1_MODEL_OPTIONS = {"prior_components": 1, "fitted_prior": False}
_FORMAT_1_TRAIN_OPTIONS = {"prior_fit_steps": 0, "prior_fit_lr": None}  # None: any value (unused when off)
# Format 2 -> 3, per model: the decoder moved into the observation model and, in CompVAE, the z prior's network and
# multiset embedding into the z prior module.
_FORMAT_2_PREFIXES = {
    "compvae": {"x_decoder.": "observation.decoder.", "z_prior.": "z_prior.net.",
                "multiset_embedding.": "z_prior.embedding."},
    "count_cvae": {"x_decoder.": "observation.decoder."},
}


class CheckpointError(ValueError):
    """A file that is not a readable compvae_geo checkpoint (the message says why, never how to load it unsafely)."""


def _temporary_files(path: Path) -> list[Path]:
    """The temporary files that writes of ``path`` leave while they run (or after a kill)."""
    return list(path.parent.glob(f".{path.name}.*.tmp"))


def atomic_torch_save(payload: object, path: str | os.PathLike) -> None:
    """``torch.save`` that never leaves a half-written file at ``path``, and survives a power cut.

    The payload goes to a temporary file beside ``path``, which is flushed to the disk (``fsync``) and
    renamed over ``path``; the directory is then synced too, so the rename itself is durable. Temporary
    files of earlier writes that were killed (``kill -9``) are removed first: only one process writes
    a given checkpoint. A failed write (a full disk) raises ``OSError`` and leaves ``path`` as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stray in _temporary_files(path):
        stray.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, FILE_MODE & ~_umask())  # mkstemp makes it private; a checkpoint is an ordinary file
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the message says why in plain words and names the last good one."""


def describe_write_error(error: OSError, path: Path) -> str:
    """Why writing ``path`` failed, in plain words (a full disk shows as a cryptic torch error otherwise)."""
    if error.errno == errno.ENOSPC:
        return f"no space left on the disk of {path.parent}"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path.parent} is not writable"
    return f"cannot write {path}: {error.strerror or error}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    """Makes a rename in ``directory`` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _drop_removed_options(values: dict[str, Any], removed: dict[str, Any], path: str) -> dict[str, Any]:
    for key, off in removed.items():
        if key in values and off is not None and values[key] != off:
            raise ValueError(f"{path} is a format-1 checkpoint that uses {key}={values[key]!r}, an option removed "
                             "in format 2 (see docs/experiments.md); it cannot be loaded")
    return {key: value for key, value in values.items() if key not in removed}


def _renamed(state_dict: dict[str, Any], prefixes: dict[str, str]) -> dict[str, Any]:
    """``state_dict`` with the keys that start with an old prefix of ``prefixes`` under the new one."""
    def renamed(key: str) -> str:
        for old, new in prefixes.items():
            if key.startswith(old):
                return new + key[len(old):]
        return key

    return {renamed(key): value for key, value in state_dict.items()}


def _upgrade_format_2(payload: dict[str, Any]) -> dict[str, Any]:
    """A format-2 payload in format 3 (see the module docstring)."""
    prefixes = _FORMAT_2_PREFIXES.get(payload.get("model", DEFAULT_MODEL_NAME), {})
    return {**payload, "format": 3, "state_dict": _renamed(payload["state_dict"], prefixes)}


def _upgrade_format_1(payload: dict[str, Any], path: str) -> dict[str, Any]:
    """A format-1 payload in format 2 (see the module docstring)."""
    upgraded = {**payload, "format": 2,
                "config": _drop_removed_options(payload["config"], _FORMAT_1_MODEL_OPTIONS, path),
                "state_dict": _renamed(payload["state_dict"], _FORMAT_1_PREFIXES)}
    if "training" in payload:
        training = payload["training"]
        upgraded["training"] = {**training,
                                "config": _drop_removed_options(training["config"], _FORMAT_1_TRAIN_OPTIONS, path)}
    return upgraded


def _not_a_checkpoint(path: str | os.PathLike, why: str) -> CheckpointError:
    return CheckpointError(f"{path} is not a compvae_geo checkpoint ({why})")


def read_model_payload(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The dictionary of a model file or training checkpoint (``weights_only=True``: no code runs).

    Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError` (a ``ValueError``) for
    anything else that is not a checkpoint: a directory, an empty, truncated or corrupt file, a pickle
    that would run code, or a file of an unknown format.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such checkpoint: {path}")
    if not path.is_file():
        raise _not_a_checkpoint(path, "it is a directory" if path.is_dir() else "it is not a regular file")
    if path.stat().st_size == 0:
        raise _not_a_checkpoint(path, "the file is empty")
    try:
        with warnings.catch_warnings():  # e.g. torch's note on the pickle protocol of a foreign file
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message advises weights_only=False, which would run the file's code: never pass it on
        why = ("it holds objects other than tensors and plain data, refused: loading them could run code"
               if "global" in str(error).lower() else "the file is corrupt or was not written by torch.save")
        raise _not_a_checkpoint(path, why) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise _not_a_checkpoint(path, "the file is truncated or corrupt, or was not written by torch.save") from None
    version = payload.get("format") if isinstance(payload, dict) else None
    if version not in (1, 2, CHECKPOINT_FORMAT):
        raise _not_a_checkpoint(path, f"format {version!r}; this version reads formats 1 to {CHECKPOINT_FORMAT}")
    for key in ("config", "state_dict"):
        if not isinstance(payload.get(key), dict):
            raise _not_a_checkpoint(path, f"its {key!r} entry is missing")
    if version == 1:
        payload = _upgrade_format_1(payload, str(path))
    return _upgrade_format_2(payload) if payload["format"] == 2 else payload
