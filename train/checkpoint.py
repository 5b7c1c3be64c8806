"""Self-describing checkpoints, written atomically and loaded without running pickled code."""

from __future__ import annotations

import hashlib
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from digits.edge.errors import ConfigError, DigitsError, first_line
from digits.edge.output import atomic_write

FORMAT = "digits-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(DigitsError):
    """The file is not a checkpoint we can use; the message is one line for the user."""


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write a checkpoint whole or not at all; a full disk or a read-only folder is a CheckpointError."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, tmp))
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot write the checkpoint ({exc.strerror or exc})") from None
    except RuntimeError as exc:  # torch.save reports a failed write (a full disk) as RuntimeError
        raise CheckpointError(f"{path}: cannot write the checkpoint ({first_line(exc)})") from None


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
        if found:
            raise CheckpointError(f"{path}: refused to load: it would import {found.group(1)} (a pickle that could run code)") from None
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (torch cannot read it as one)") from None
    except PermissionError:
        raise CheckpointError(f"{path}: permission denied") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (corrupt or truncated?): {type(exc).__name__}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: a PyTorch file, but not a digits-train checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {payload.get('format_version')} is not supported (expected {FORMAT_VERSION})")
    check_schema(payload, path)
    return payload


# What each key of a checkpoint must be: checked once, here, for every command that loads one.
SCHEMA: dict[str, type | tuple[type, ...]] = {"arch": str, "model_config": dict, "state_dict": dict}
RESUME_SCHEMA: dict[str, type | tuple[type, ...]] = {
    "train_config": dict, "epoch": int, "optimizer": dict, "scheduler": dict, "rng": dict, "history": list}


def check_schema(payload: dict[str, Any], path: Path | str, schema: dict = SCHEMA) -> None:
    """CheckpointError naming the first key that is missing or of the wrong type."""
    for key, kind in schema.items():
        if key not in payload:
            raise CheckpointError(f"{path}: checkpoint lacks {key!r}")
        if not isinstance(payload[key], kind) or isinstance(payload[key], bool) and kind is int:
            raise CheckpointError(f"{path}: checkpoint's {key!r} is a {type(payload[key]).__name__}, not a {getattr(kind, '__name__', kind)}")
    if schema is SCHEMA and not all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values()):
        raise CheckpointError(f"{path}: checkpoint's state_dict holds values that are not tensors")


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
    try:
        model = build_model(arch, reject=bool(payload.get("reject", False)), **payload["model_config"])
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint's model_config does not build {arch!r}: {exc}") from None
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[1] if len(lines) > 1 else lines[0]  # lines[0] is "Error(s) in loading state_dict for X:"
        raise CheckpointError(f"weights do not fit architecture {arch!r}: {reason[:200]}") from None
    return model.eval()
