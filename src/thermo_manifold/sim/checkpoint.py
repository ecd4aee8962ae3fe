"""Checkpoints: a run's complete state in one file of tensors and JSON.

The file `DIR/checkpoint.pt` is a `torch.save` of a dictionary holding only tensors, strings,
numbers, lists and dictionaries, so it loads with `torch.load(weights_only=True)` and loading
never executes code. It is written to `checkpoint.pt.tmp` and renamed over the old one, so a
crash while saving never leaves a half-written checkpoint behind, and a failed write (a full
disk) removes the temporary file and raises `CheckpointWriteError`. A file that is truncated, not
a torch file, or a torch file of something else raises `CheckpointError` with the path.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

FORMAT = "thermo_manifold.sim.checkpoint"
VERSION = 2  # 2: the default contact model changed; the engine's forces are saved
FILENAME = "checkpoint.pt"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read (missing, truncated, foreign or of another version)."""


class CheckpointWriteError(OSError):
    """A checkpoint that could not be written (a full disk, a directory gone read-only)."""


def checkpoint_path(directory: str | Path) -> Path:
    """`DIR/checkpoint.pt`, or the path itself when it already names a file."""
    path = Path(directory)
    return path if path.suffix == ".pt" else path / FILENAME


def save_checkpoint(directory: str | Path, meta: dict[str, Any],
                    tensors: dict[str, Any]) -> Path:
    """Write `meta` (JSON-able) and `tensors` (nested dicts of tensors/scalars) atomically."""
    path = checkpoint_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, "meta": json.dumps(meta), **tensors}
    temporary = path.with_name(path.name + ".tmp")
    try:
        torch.save(payload, temporary)
        os.replace(temporary, path)
    except (OSError, RuntimeError) as error:  # torch reports a full disk as a RuntimeError
        temporary.unlink(missing_ok=True)  # never leave a torn file; the old one survives
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointWriteError(f"could not write the checkpoint {path} (the previous one, "
                                   f"if any, is kept): {reason[:200]}") from error
    return path


def load_checkpoint(directory: str | Path, device: torch.device | str = "cpu"
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (meta, payload) of a checkpoint; raise `CheckpointError` on anything unreadable."""
    path = checkpoint_path(directory)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path} (a run writes one at its end or on "
                              "Ctrl+C)")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile,
            ValueError, KeyError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or not a torch "
                              f"file): {reason[:200]}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a thermo_manifold simulator checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload.get('version')!r}; this "
                              f"build reads version {VERSION}")
    try:
        meta = json.loads(payload["meta"])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise CheckpointError(f"{path} has no readable metadata") from None
    return meta, payload


__all__ = ["CheckpointError", "CheckpointWriteError", "FILENAME", "checkpoint_path",
           "load_checkpoint", "save_checkpoint"]
