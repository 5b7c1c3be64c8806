"""Shared fixtures. MNIST comes from $DIGITS_DATA (CI: ../shared/data/mnist), else the user cache,
downloaded there by torchvision when torch is installed. Nothing here imports torch unless needed,
so the edge tests run in a torch-free install too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from digits.train.paths import DATA_ENV, resolve_data_root
from digits.train.render import load_mnist_test

REPO = Path(__file__).resolve().parents[1]
SHIPPED_MODEL = REPO / "artifacts" / "digits.onnx"
SAMPLES = REPO / "artifacts" / "samples"
STANDINS = REPO / "tests" / "standins"  # stand-ins for what cannot exist here (a Pi camera)


def _mnist_root() -> Path:
    root = resolve_data_root()
    if (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists():
        return root
    try:
        from digits.train.data import load_mnist  # downloads with torchvision
    except ImportError:
        pytest.fail(f"MNIST not found under {root}: set {DATA_ENV} to an MNIST root (e.g. ../shared/data/mnist)")
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


def launch(*args: str, env: dict | None = None) -> subprocess.Popen:
    """Start one of our console scripts in the background, text pipes, with the terminal's default
    SIGINT: a shell's background job (CI may be one) ignores SIGINT, and children inherit that."""
    import signal

    script = Path(sys.executable).parent / args[0]
    return subprocess.Popen([str(script), *args[1:]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def stop(process: subprocess.Popen, signum: int, timeout: float = 60) -> tuple[str, str]:
    """Send `signum` and collect the rest of (stdout, stderr); the process never outlives the test."""
    process.send_signal(signum)
    try:
        return process.communicate(timeout=timeout)
    finally:
        process.kill()


def assert_one_line_error(result: subprocess.CompletedProcess, code: int = 2, contains: str = "") -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert contains in lines[0], lines[0]


class Hostile:
    """Unpickling this would run a shell command that leaves a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


BAD_CHECKPOINTS = ("corrupt", "truncated", "foreign", "tensor", "empty", "directory", "missing", "text", "hostile")


def write_bad_checkpoint(path: Path, kind: str, good: Path | None = None) -> None:
    """Put at `path` a checkpoint of one bad `kind` (BAD_CHECKPOINTS); "truncated" cuts `good` in
    half, "hostile" would touch path.parent / "pwned" if it were ever unpickled."""
    import torch

    if kind == "corrupt":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif kind == "truncated":
        whole = good.read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    elif kind == "foreign":  # a torch file, but not ours
        torch.save({"model": {"weight": torch.zeros(3)}}, path)
    elif kind == "tensor":
        torch.save(torch.zeros(3), path)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "text":
        path.write_text("not a checkpoint\n")
    elif kind == "hostile":
        torch.save({"format": "digits-checkpoint", "payload": Hostile(path.parent / "pwned")}, path)
    elif kind != "missing":
        raise ValueError(kind)


# Cases the reader does not yet get right, each a real limit measured on our renders (README,
# "What does not work yet"). strict: a case that starts passing fails the run until it is
# taken off this list, so the list stays the truth.
KNOWN_LIMITS = {
    "test_sheets_of_many_lines[1]": "a wide single line at 960 px: one of MNIST's odd 9s read as 4",
    "test_sheets_of_many_lines[12]": "a 12-line sheet: one 5 of 120 digits read as 6",
    "test_papers_and_inks[grey-graph-pencil]": "pencil on grey graph paper: 2 of 6 sheets (white 5, yellow 5)",
    "test_a_notebooks_margin_crossed_by_ruled_lines_is_no_column_of_ones":
        "a notebook's margin between the ruled lines crossing it reads as 1s (turned, or on a desk)",
}
# With OpenCV 5 (the renders' Hershey fonts and resampling are OpenCV's, and differ from 4.x's): corner
# light on a sheet on a desk reads 4 of 6. With OpenCV 4.8 (make test-oldest) it reads 5 of 6 since the
# sharpened look (2026-12-07: the thin 9 of "6947", set aside, read again sharpened), and passes.
if int(cv2.__version__.split(".")[0]) >= 5:
    KNOWN_LIMITS["test_corner_light_and_desk"] = (
        "corner light on a sheet on a desk: 4 of 6 (a 9 written like a 4 read 4, a thin 9 set aside)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        reason = KNOWN_LIMITS.get(item.name)
        if reason and item.fspath.basename == "test_reader_photos.py":
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"known limit: {reason}"))
