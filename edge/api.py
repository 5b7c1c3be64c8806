"""The Python API: read the number in a picture from your own code, without the CLI.

    from digits.edge import read
    result = read("photo.jpg")           # {"source", "text", "digits", "rejected", "ms"}, as --json
    print(result["text"])

    from digits.edge import Reader
    reader = Reader()                    # the shipped model; Reader("mine.onnx") for yours
    for frame in frames:                 # numpy arrays, e.g. from cv2.VideoCapture (BGR)
        print(reader.read(frame)["text"])

Torch-free, like the rest of digits.edge.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError
from .reader import DigitReader
from .session import DigitModel
from .sources import SourceError, flatten_alpha, read_image

COLOR_ORDERS = ("bgr", "rgb")


def as_picture(image: Any, color: str = "bgr") -> np.ndarray:
    """A picture the reader takes (uint8 grey, BGR) from what a user may hold.

    - a path (str or os.PathLike): decoded as `digits-edge` does (EXIF orientation applied,
      transparency flattened, 16-bit scaled);
    - a numpy array of shape HxW (grey), HxWx1, HxWx3 or HxWx4 (colour, alpha); `color` says the
      channel order, "bgr" (OpenCV's) or "rgb" (PIL's, matplotlib's, most others');
    - dtype uint8 as it is; bool as black/white; float in [0, 1] (values above 1 mean the array
      is in [0, 255]); other integers (uint16 ...) scaled by their maximum.
    SourceError (a digits.edge.errors.DigitsError, one line) for anything else: a file that is not
    an image, an empty array, NaN, a 5-channel array, an unknown `color`.
    """
    if color not in COLOR_ORDERS:
        raise SourceError(f"color must be one of {', '.join(COLOR_ORDERS)}, not {color!r}")
    if isinstance(image, (str, os.PathLike)):
        return read_image(Path(image))
    if not isinstance(image, np.ndarray):
        raise SourceError(f"expected a path or a numpy array, not {type(image).__name__}")
    array = image
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise SourceError(f"expected an HxW, HxWx1, HxWx3 or HxWx4 array, not shape {array.shape}")
    if array.size == 0:
        raise SourceError(f"empty image (shape {array.shape})")
    array = _to_uint8(array)
    if array.ndim == 3:
        if color == "rgb":
            array = array[:, :, [2, 1, 0, 3][: array.shape[2]]]
        if array.shape[2] == 4:
            array = flatten_alpha(array)
    return np.ascontiguousarray(array)


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise SourceError("the image holds NaN or infinite values")
        top = 1.0 if float(array.max()) <= 1.0 else 255.0
        return np.round(np.clip(array, 0, top) * (255.0 / top)).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        top = max(int(array.max()), 1)
        scale = 255.0 / top if top > 255 else 1.0
        return np.round(np.clip(array, 0, None) * scale).astype(np.uint8)
    raise SourceError(f"cannot read an image of dtype {array.dtype}")


class Reader:
    """One model, loaded once, reading many pictures.

    `model`: an ONNX file from digits-export (None: the shipped model). `min_confidence`: a
    candidate whose best digit is less likely than this among the ten digits is set aside. `threads`: onnxruntime
    threads. `backend`: "auto" (onnxruntime, else OpenCV's dnn), "onnxruntime" or "opencv".
    Raises ModelError (a DigitsError) for a file that is not a digits model."""

    def __init__(self, model: str | os.PathLike | None = None, *, min_confidence: float = 0.5, threads: int = 1,
                 backend: str = "auto") -> None:
        if not 0 <= min_confidence <= 1:
            raise ConfigError(f"min_confidence must be in [0, 1], not {min_confidence!r}")
        self.reader = DigitReader(DigitModel(model, threads=threads, backend=backend), min_confidence=min_confidence)

    def read(self, image: Any, *, color: str = "bgr", source: str | None = None) -> dict:
        """The number in `image` (a path or an array, see `as_picture`) as `digits-edge --json`
        gives it: {"source", "text", "digits": [{"label", "confidence", "box": [x, y, w, h]}],
        "rejected": [{"box", "label", "confidence", "reason"}], "ms"}. "text" is the digits in
        reading order, lines joined by one space, "" when there are none; boxes are in the
        picture's pixels."""
        picture = as_picture(image, color)
        if source is None:
            source = os.fspath(image) if isinstance(image, (str, os.PathLike)) else "<array>"
        return self.reader.read(picture).as_dict(source)


_readers: dict[tuple, Reader] = {}


def read(image: Any, *, model: str | os.PathLike | None = None, min_confidence: float = 0.5, color: str = "bgr") -> dict:
    """`Reader(model, min_confidence=...).read(image, color=color)`, the model loaded once per
    process and kept for the next call."""
    key = (None if model is None else os.fspath(model), min_confidence)
    if key not in _readers:
        _readers[key] = Reader(model, min_confidence=min_confidence)
    return _readers[key].read(image, color=color)
