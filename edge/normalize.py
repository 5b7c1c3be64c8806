"""MNIST-style normalisation of one digit, shared by training and the edge."""

from __future__ import annotations

import cv2
import numpy as np

from .contract import DIGIT_BOX, IMAGE_SIZE


def normalize_digit(ink: np.ndarray) -> np.ndarray:
    """Turn an ink image (bright ink on black, any size) into the model's 28x28 input.

    As MNIST was made: the ink's bounding box is scaled, aspect kept, to fit a 20x20 box,
    then placed in 28x28 so that its centre of mass is at the centre, and its strongest ink
    brought to 1. Returns float32 in [0, 1]; an image without ink gives all zeros.
    """
    ink = np.asarray(ink, dtype=np.float32)
    if ink.ndim != 2:
        raise ValueError(f"expected a 2-D ink image, got shape {ink.shape}")
    out = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    if not ink.size:
        return out
    if ink.max() > 1.0:
        ink = ink / 255.0
    # The ink's bounding box (cv2's is ~3x faster than numpy's nonzero; a sheet has hundreds of candidates).
    x, y, w, h = cv2.boundingRect((ink > 0).astype(np.uint8))
    if w == 0:
        return out
    crop = ink[y : y + h, x : x + w]
    scale = DIGIT_BOX / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    # INTER_AREA anti-aliases when shrinking, as MNIST's own resampling did.
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(crop, (new_w, new_h), interpolation=interpolation)
    if min(new_w, new_h) > 2:  # (cv2.moments takes an array 1 or 2 wide for a list of points)
        moments = cv2.moments(small)  # 3x as fast as numpy's sums: a sheet has hundreds of candidates
        total, cy, cx = moments["m00"], moments["m01"], moments["m10"]
    else:
        total = small.sum()
        cy, cx = (small.sum(axis=1) * np.arange(new_h)).sum(), (small.sum(axis=0) * np.arange(new_w)).sum()
    if total <= 0:
        return out
    cy, cx = cy / total, cx / total
    centre = (IMAGE_SIZE - 1) / 2
    shift = np.float32([[1, 0, centre - cx], [0, 1, centre - cy]])
    out = cv2.warpAffine(small, shift, (IMAGE_SIZE, IMAGE_SIZE), flags=cv2.INTER_LINEAR, borderValue=0)
    # MNIST's strokes have full-white cores. A thin pen line shrunk from a large photo averages
    # with the paper and comes out grey: bring its core back to white, as the scanner's did.
    peak = float(out.max())
    if 0 < peak < 1:
        out = out / peak
    return np.minimum(np.maximum(out, 0.0), 1.0)  # np.clip, without its overhead (a sheet has hundreds of digits)
