"""digits-edge --doctor: what this device is, the first questions Pi users ask."""

from __future__ import annotations

import platform
import sys

import cv2
import onnxruntime as ort

from .sources import SourceError, has_display, open_capture


def video_backends() -> list[str]:
    try:
        return [cv2.videoio_registry.getBackendName(b) for b in cv2.videoio_registry.getBackends()]
    except Exception:  # very old OpenCV builds lack the registry
        return []


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
        model = DigitModel()
        model_line = f"{model.path} ({model.architecture}, test accuracy {model.metadata.get('digits.test_accuracy', '?')})"
    except ModelError as exc:
        model_line = f"NOT USABLE: {exc}"
    found = cameras()
    return [
        f"digits-edge {__version__} on Python {platform.python_version()} ({sys.executable})",
        f"machine: {platform.machine()} {platform.system()} {platform.release()}, {platform.processor() or 'cpu'}",
        f"onnxruntime {ort.__version__}: providers {', '.join(ort.get_available_providers())}",
        f"OpenCV {cv2.__version__}: video backends {', '.join(video_backends()) or 'unknown'}",
        f"display: {'yes, live windows can open' if has_display() else 'no (live mode runs headless and prints readings)'}",
        f"cameras: {', '.join(found) if found else 'none opened (indices 0-3)'}",
        f"default model: {model_line}",
    ]
