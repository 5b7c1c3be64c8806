"""Where MNIST lives, said once: --data, else $DIGITS_DATA, else a per-user cache (where
torchvision downloads it). Torch-free, so the renderer and the torch-free edge tests follow the
same rule as training and export."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "DIGITS_DATA"
DEFAULT_DATA_ROOT = Path.home() / ".cache" / "digits" / "mnist"
DATA_DEFAULT_HELP = f"${DATA_ENV}, else ~/.cache/digits/mnist"  # how --help says it


def resolve_data_root(data: str | os.PathLike | None = None) -> Path:
    """--data, else $DIGITS_DATA, else the per-user cache where MNIST is downloaded."""
    if data:
        return Path(data)
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    return DEFAULT_DATA_ROOT
