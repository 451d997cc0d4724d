"""Checkpoint files: written atomically, the last K kept, and checked when read.

A checkpoint is one ``torch.save`` file ``step-<step>.pt`` in a folder. It is written to a
temporary file in the same folder, flushed to disk and renamed over its final name, so a run
killed while writing leaves the previous checkpoints as they were (and, at worst, a stray
``*.tmp`` file that is ignored and removed by the next save). Older checkpoints are deleted only
after the new one is in place. Reading uses ``weights_only=True``; a file that cannot be read
raises `CheckpointError`, naming it and the previous checkpoint to resume from instead.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from learnable_weights.training.files import readable_mode

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "checkpoint_path",
    "checkpoint_step",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = 1
"""Version of the checkpoint layout (`learnable_weights.training.loop` writes it)."""

_NAME = re.compile(r"^step-(\d+)\.pt$")
_REQUIRED = ("format", "step", "model", "optimizer", "ranks")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt or from an incompatible run."""


def checkpoint_path(folder: Path, step: int) -> Path:
    """``folder/step-<step, 9 digits>.pt``."""
    return folder / f"step-{step:09d}.pt"


def checkpoint_step(path: Path) -> int:
    """The step in a checkpoint's name ``step-<step>.pt`` (`checkpoint_path`'s inverse).

    Raises:
        ValueError: if ``path`` is not named like a checkpoint.
    """
    match = _NAME.match(path.name)
    if match is None:
        raise ValueError(f"{path} is not a checkpoint file: its name should be step-<step>.pt")
    return int(match.group(1))


def list_checkpoints(folder: Path) -> list[Path]:
    """The checkpoint files in ``folder``, oldest step first (temporary files excluded)."""
    if not folder.is_dir():
        return []
    found = [(checkpoint_step(p), p) for p in folder.iterdir() if _NAME.match(p.name)]
    return [path for _, path in sorted(found)]


def latest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint with the highest step in ``folder``, or ``None``."""
    found = list_checkpoints(folder)
    return found[-1] if found else None


def save_checkpoint(state: Mapping[str, Any], folder: Path, step: int, keep: int) -> Path:
    """Writes ``state`` as ``step-<step>.pt`` atomically, then keeps only the last ``keep``.

    Returns:
        The path written.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    folder.mkdir(parents=True, exist_ok=True)
    for stray in folder.glob("step-*.pt.*.tmp"):  # left by a run killed while writing
        stray.unlink(missing_ok=True)
    target = checkpoint_path(folder, step)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=target.name + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(dict(state), stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, readable_mode())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_folder(folder)
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return target


def load_checkpoint(path: Path, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    """Reads a checkpoint written by `save_checkpoint`.

    Raises:
        CheckpointError: the file is missing, unreadable (truncated, corrupt) or lacks the
            entries a training checkpoint has; the message names it and the previous one.
    """
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state: dict[str, Any] = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        raise CheckpointError(
            f"checkpoint {path} cannot be read; it is truncated or corrupt "
            f"({type(error).__name__}: {error}). {_previous_advice(path)}"
        ) from error
    missing = [key for key in _REQUIRED if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(
            f"checkpoint {path} is not a learnable_weights training checkpoint (it lacks "
            f"{missing}). {_previous_advice(path)}"
        )
    if state["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"checkpoint {path} has format {state['format']!r}; this version reads format "
            f"{CHECKPOINT_FORMAT}"
        )
    return state


def _previous_advice(path: Path) -> str:
    earlier = [p for p in list_checkpoints(path.parent) if p.name < path.name]
    if not earlier:
        return "No earlier checkpoint is left in that folder: start the run again."
    return (
        f"The previous checkpoint is {earlier[-1]}: delete {path.name} to resume from it, or "
        "resume from that file explicitly."
    )


def _fsync_folder(folder: Path) -> None:
    """Makes the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
