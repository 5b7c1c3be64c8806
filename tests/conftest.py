"""Shared fixtures. MNIST comes from $DIGITS_DATA (CI: ../shared/data/mnist), else the user cache,
downloaded there by torchvision when torch is installed. Nothing here imports torch unless needed,
so the edge tests run in a torch-free install too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the renderer in tests/render.py

from render import load_mnist_test  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHIPPED_MODEL = REPO / "artifacts" / "digits.onnx"
SAMPLES = REPO / "artifacts" / "samples"


def _mnist_root() -> Path:
    root = Path(os.environ.get("DIGITS_DATA") or Path.home() / ".cache" / "digits" / "mnist")
    if (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists():
        return root
    try:
        from digits.train.data import load_mnist  # downloads with torchvision
    except ImportError:
        pytest.fail(f"MNIST not found under {root}: set DIGITS_DATA to an MNIST root (e.g. ../shared/data/mnist)")
    load_mnist(root)
    return root


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    return _mnist_root()


@pytest.fixture(scope="session")
def mnist_test(mnist_root) -> tuple[np.ndarray, np.ndarray]:
    return load_mnist_test(mnist_root)


def run_cli(*args: str, env: dict | None = None, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run one of our console scripts from this interpreter's environment, as a user would."""
    script = Path(sys.executable).parent / args[0]
    return subprocess.run([str(script), *args[1:]], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def assert_one_line_error(result: subprocess.CompletedProcess, code: int = 2, contains: str = "") -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert contains in lines[0], lines[0]
