"""The digits-train and digits-export entry points: in the base install (a Raspberry Pi, the edge
only) torch is absent, and the commands say which extra to install instead of a traceback."""

from __future__ import annotations

import importlib.util
import sys

EXTRA_HINT = "pip install 'digits-toolkit[train]'"


def _require(command: str, modules: tuple[str, ...]) -> None:
    missing = [m for m in modules if not _importable(m)]
    if missing:
        print(f"Error: {command} needs {' and '.join(missing)}, which the base (edge-only) install leaves out: "
              f"{EXTRA_HINT}", file=sys.stderr)
        sys.exit(2)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as absent
        return False


def train() -> None:
    _require("digits-train", ("torch", "torchvision"))
    from .cli import main

    main()


def export() -> None:
    _require("digits-export", ("torch", "onnx"))
    from digits.export.cli import main

    main()
