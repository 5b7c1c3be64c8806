"""Self-describing checkpoints, written atomically and loaded without running pickled code."""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from digits.edge.errors import DigitsError

FORMAT = "digits-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(DigitsError):
    """The file is not a checkpoint we can use; the message is one line for the user."""


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path) on a temp file beside `path`, then rename it over `path`.

    A crash or Ctrl-C mid-write leaves the old file (or none), never half a file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, tmp))


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a digits checkpoint with weights_only=True, so a hostile pickle cannot run code."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, not a checkpoint")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        what = f"it would import {found.group(1)}" if found else "it holds objects a checkpoint never has"
        raise CheckpointError(f"{path}: refused to load: {what} (a pickle that could run code)") from None
    except PermissionError:
        raise CheckpointError(f"{path}: permission denied") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (corrupt or truncated?): {type(exc).__name__}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: a PyTorch file, but not a digits-train checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {payload.get('format_version')} is not supported (expected {FORMAT_VERSION})")
    for key in ("arch", "model_config", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"{path}: checkpoint lacks {key!r}")
    return payload


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_from_checkpoint(payload: dict[str, Any]) -> torch.nn.Module:
    """Rebuild the trained model (eval mode) from a loaded checkpoint."""
    from .models import ARCHITECTURES, build_model

    arch = payload["arch"]
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"checkpoint architecture {arch!r} is not in this toolkit's registry ({', '.join(ARCHITECTURES)})")
    model = build_model(arch, reject=bool(payload.get("reject", False)), **payload["model_config"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"weights do not fit architecture {arch!r}: {str(exc).splitlines()[0]}") from None
    return model.eval()
