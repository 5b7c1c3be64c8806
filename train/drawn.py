"""Digits drawn in the hands MNIST lacks, normalised as the reader would hand them to the model.

MNIST's writers were American census staff and students: their 1 is a bare stroke, their 4
is open at the top, their 7 has no bar. Real photos bring the other hands: a 1 with a flag
(and a foot), a 4 closed at the top, a crossed 7, and printed digits. A model that never saw
them reads a flagged 1 as 7 and a closed 4 as 9, and (with the reject class) may call them
not a digit. Each digit here is a skeleton of pen strokes in a unit box, jittered, slanted and
drawn with a random pen, or a digit of one of OpenCV's fonts; then it goes through the edge's
own `normalize_digit`, as the rendered non-digits do (train/negatives.py).
"""

from __future__ import annotations

import cv2
import numpy as np

from digits.edge.normalize import normalize_digit

from .negatives import HERSHEY_FONTS

# Stroke skeletons, (x, y) in a box 1 high and about 0.7 wide, y downwards; one list per stroke.
SKELETONS: dict[int, list[list[list[tuple[float, float]]]]] = {
    1: [
        [[(0.2, 0.3), (0.5, 0.0), (0.5, 1.0)]],  # flag
        [[(0.05, 0.4), (0.5, 0.0), (0.5, 1.0)]],  # long flag
        [[(0.2, 0.3), (0.5, 0.0), (0.5, 1.0)], [(0.2, 1.0), (0.8, 1.0)]],  # flag and foot
        [[(0.3, 0.15), (0.5, 0.0), (0.45, 1.0)]],  # short flag
    ],
    4: [
        [[(0.65, 1.0), (0.65, 0.0), (0.0, 0.68), (0.85, 0.68)]],  # closed, one stroke
        [[(0.6, 0.0), (0.0, 0.65), (0.85, 0.65)], [(0.62, 0.15), (0.62, 1.0)]],  # closed, two strokes
        [[(0.45, 0.0), (0.0, 0.62), (0.8, 0.62)], [(0.55, 0.3), (0.55, 1.0)]],  # closed, the stem below the top
    ],
    7: [
        [[(0.0, 0.05), (0.8, 0.05), (0.3, 1.0)], [(0.2, 0.5), (0.75, 0.5)]],  # crossed
        [[(0.0, 0.25), (0.0, 0.05), (0.8, 0.05), (0.35, 1.0)]],  # with a hook
        [[(0.0, 0.1), (0.8, 0.0), (0.45, 0.55), (0.4, 1.0)]],  # curved down stroke
    ],
}
FONT_SHARE = 0.4  # of the drawn digits, the share in a font (the rest: skeletons)


def _skeleton(rng, strokes, size: int) -> np.ndarray:
    """One digit from stroke skeletons: jittered, slanted, scaled to `size` px high, drawn with one pen."""
    slant = rng.uniform(-0.35, 0.2)  # x shifts by slant * (1 - y): right-leaning mostly
    width = rng.uniform(0.8, 1.25)
    jitter = rng.uniform(0.02, 0.06)
    thickness = max(1, int(round(size * rng.uniform(0.05, 0.15))))
    pad = thickness + 4
    canvas = np.zeros((size + 2 * pad, int(size * 1.3) + 2 * pad), np.float32)
    for stroke in strokes:
        points = np.array(stroke, np.float64) + rng.normal(0, jitter, (len(stroke), 2))
        points[:, 0] = (points[:, 0] * width - slant * (1 - points[:, 1]) + max(0.0, slant) + 0.1) * size + pad
        points[:, 1] = points[:, 1] * size + pad
        # A pen rounds corners: cut each corner once or twice (Chaikin), at random.
        for _ in range(int(rng.integers(0, 3))):
            if len(points) < 3:
                break
            q = 0.75 * points[:-1] + 0.25 * points[1:]
            r = 0.25 * points[:-1] + 0.75 * points[1:]
            points = np.concatenate([points[:1], np.stack([q, r], 1).reshape(-1, 2)[1:-1], points[-1:]])
        cv2.polylines(canvas, [np.round(points * 4).astype(np.int32)], False, 1.0, thickness, cv2.LINE_AA, shift=2)
    return canvas


def _font(rng, digit: int, size: int) -> np.ndarray:
    """One digit in one of OpenCV's fonts, sometimes italic, with a random stroke weight."""
    font = HERSHEY_FONTS[int(rng.integers(len(HERSHEY_FONTS)))]
    if rng.random() < 0.3:
        font |= cv2.FONT_ITALIC
    scale = size / 22
    thickness = max(1, int(round(scale * rng.uniform(0.8, 3.0))))
    (w, h), base = cv2.getTextSize(str(digit), font, scale, thickness)
    canvas = np.zeros((h + base + 2 * thickness + 8, w + 2 * thickness + 8), np.uint8)
    cv2.putText(canvas, str(digit), (thickness + 4, h + thickness + 4), font, scale, 255, thickness, cv2.LINE_AA)
    return canvas.astype(np.float32) / 255


def render_drawn_digits(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [n, 28, 28] model inputs, int64 [n] labels): digits in the hands MNIST lacks."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    labels = np.zeros(n, np.int64)
    skeleton_digits = sorted(SKELETONS)
    for i in range(n):
        size = int(rng.integers(28, 72))
        if rng.random() < FONT_SHARE:
            labels[i] = int(rng.integers(10))
            ink = _font(rng, int(labels[i]), size)
        else:
            labels[i] = skeleton_digits[int(rng.integers(len(skeleton_digits)))]
            variants = SKELETONS[int(labels[i])]
            ink = _skeleton(rng, variants[int(rng.integers(len(variants)))], size)
        ink = np.clip(ink * rng.uniform(0.6, 1.0), 0, 1)
        images[i] = np.round(normalize_digit(ink) * 255).astype(np.uint8)
    return images, labels
