"""digits-edge --doctor: what this device is, the first questions Pi users ask."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import cv2
import onnxruntime as ort

from . import contract
from .sources import SourceError, has_display, open_capture


def video_backends() -> list[str]:
    try:
        return list(dict.fromkeys(cv2.videoio_registry.getBackendName(b) for b in cv2.videoio_registry.getBackends()))
    except Exception:  # very old OpenCV builds lack the registry
        return []


def device_name() -> str:
    """'Raspberry Pi 4 Model B Rev 1.4', or the CPU model, or what platform knows."""
    for path, key in (("/proc/device-tree/model", None), ("/proc/cpuinfo", "model name")):
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            continue
        if key is None:
            return text.strip("\x00\n ")
        for line in text.splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def cameras(max_index: int = 4) -> list[str]:
    found = []
    for index in range(max_index):
        try:
            capture = open_capture(index, timeout_s=3.0)
        except SourceError:
            continue
        ok, frame = capture.read()
        size = f"{frame.shape[1]}x{frame.shape[0]}" if ok else "opens, but gave no frame"
        found.append(f"{index} ({size})")
        capture.release()
    return found


def report() -> list[str]:
    from . import __version__
    from .session import ModelError, DigitModel

    try:
        onnx_model = DigitModel()
        accuracy = onnx_model.metadata.get(contract.META_TEST_ACCURACY)
        accuracy = f"{100 * float(accuracy):.2f}%" if accuracy else "unknown"
        model_line = f"{onnx_model.path} ({onnx_model.architecture}, MNIST test accuracy {accuracy})"
    except ModelError as exc:
        model_line = f"NOT USABLE: {exc}"
    found = cameras()
    return [
        f"digits-edge {__version__} on Python {platform.python_version()} ({sys.executable})",
        f"machine: {device_name()}, {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        f"onnxruntime {ort.__version__}: providers {', '.join(ort.get_available_providers())}",
        f"OpenCV {cv2.__version__}: video backends {', '.join(video_backends()) or 'unknown'}",
        f"display: {'yes, live windows can open' if has_display() else 'no (live mode runs headless and prints readings)'}",
        f"cameras: {', '.join(found) if found else 'none opened (indices 0-3)'}",
        f"default model: {model_line}",
    ]
