"""digits-edge --doctor: what this device is, the first questions Pi users ask."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import cv2

from . import contract
from .session import onnxruntime_module
from .sources import SourceError, has_display, open_capture, picamera2_cameras


def video_backends() -> list[str]:
    """The video backends this OpenCV build really has (getBackends() lists every one it knows,
    GStreamer included when the wheel was built without it)."""
    registry = getattr(cv2, "videoio_registry", None)
    if registry is None:  # very old OpenCV builds lack the registry
        return []
    names = []
    for backend in registry.getBackends():
        try:
            if hasattr(registry, "hasBackend") and not registry.hasBackend(backend):
                continue
            names.append(registry.getBackendName(backend))
        except cv2.error:
            continue
    return list(dict.fromkeys(names))


def word_size() -> str:
    """64-bit or 32-bit userland, and what that means for the install."""
    import struct

    bits = 8 * struct.calcsize("P")
    if bits == 64:
        return "64-bit Python (PyPI has numpy, onnxruntime and OpenCV wheels for it)"
    return ("32-bit Python: PyPI has no onnxruntime, numpy or OpenCV wheels for it; use apt's python3-opencv and "
            "python3-numpy and --backend opencv (README, 'Raspberry Pi')")


def picamera2_line() -> str:
    """Whether Picamera2 (libcamera, the Pi's CSI cameras) is there, and the cameras it sees."""
    picamera2, found, why = picamera2_cameras()
    if why == "not installed":
        return "not installed (only a Pi camera needs it: apt install python3-picamera2)"
    if why:
        return why
    names = [f"{i} ({c.get('Model', '?')})" for i, c in enumerate(found)]
    return f"installed, {'cameras ' + ', '.join(names) if names else 'no camera connected'} (--camera N reads them)"


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
    from .session import DigitModel, ModelError

    ort = onnxruntime_module()
    runtime = (f"onnxruntime {ort.__version__}: providers {', '.join(ort.get_available_providers())}" if ort is not None
               else "onnxruntime: not installed; models run in OpenCV's dnn module (--backend opencv)")
    try:
        onnx_model = DigitModel()
        accuracy = onnx_model.metadata.get(contract.META_TEST_ACCURACY)
        accuracy = f"{100 * float(accuracy):.2f}%" if accuracy else "unknown"
        model_line = f"{onnx_model.path} ({onnx_model.architecture}, MNIST test accuracy {accuracy}, runs in {onnx_model.backend})"
    except ModelError as exc:
        model_line = f"NOT USABLE: {exc}"
    found = cameras()
    return [
        f"digits-edge {__version__} on Python {platform.python_version()} ({sys.executable})",
        f"machine: {device_name()}, {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        f"word size: {word_size()}",
        runtime,
        f"OpenCV {cv2.__version__}: video backends {', '.join(video_backends()) or 'unknown'}",
        f"display: {'yes, live windows can open' if has_display() else 'no (live mode runs headless and prints readings)'}",
        f"cameras: {', '.join(found) if found else 'none opened (indices 0-3)'}",
        f"Picamera2: {picamera2_line()}",
        f"default model: {model_line}",
    ]
