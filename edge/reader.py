"""Find, normalise and classify the handwritten digits in a photo or camera frame."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from .normalize import normalize_digit
from .session import DigitModel

Box = tuple[int, int, int, int]  # x, y, w, h in the input image's pixels


@dataclass
class Digit:
    label: int
    confidence: float
    box: Box
    image: np.ndarray = field(repr=False)  # the 28x28 input the model saw

    def as_dict(self) -> dict:
        return {"label": self.label, "confidence": round(self.confidence, 4), "box": list(self.box)}


@dataclass
class Reading:
    text: str  # digits in reading order; lines separated by a space
    digits: list[Digit]
    ms: float
    rejected: int = 0  # candidates below --min-confidence

    def as_dict(self, source: str) -> dict:
        return {"source": source, "text": self.text, "digits": [d.as_dict() for d in self.digits], "ms": round(self.ms, 3)}


@dataclass(frozen=True)
class Candidate:
    box: Box  # in working-image pixels
    ink: np.ndarray  # float32 ink strength in [0, 1] inside the box, other components masked out


@dataclass(frozen=True)
class FinderSettings:
    work_side: int = 480  # the longer side the frame is scaled to before searching
    min_height_frac: float = 0.04  # of the working image's shorter side
    max_height_frac: float = 0.9
    merge_x_overlap: float = 0.5  # pieces overlapping this much horizontally are one digit
    merge_y_gap: float = 0.5  # ...if the vertical gap is below this fraction of their height
    min_relative_height: float = 0.4  # of the median candidate height; drops dots and specks


def to_grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image if image.dtype == np.uint8 else cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def ink_image(grey: np.ndarray) -> tuple[np.ndarray, float]:
    """(ink strength uint8, noise level): the paper, lit unevenly, removed; ink bright whatever its polarity.

    The paper is estimated by a median filter much larger than a stroke (on a small copy,
    for speed); ink is what departs from it. The polarity is whichever direction holds
    more strong departures: ink is the minority on a page, light or dark.
    """
    h, w = grey.shape
    small_scale = 64 / min(h, w)
    small = cv2.resize(grey, (max(1, round(w * small_scale)), max(1, round(h * small_scale))), interpolation=cv2.INTER_AREA)
    paper_small = cv2.medianBlur(small, 21)
    paper = cv2.resize(paper_small, (w, h), interpolation=cv2.INTER_LINEAR)
    darker = cv2.subtract(paper, grey)  # saturating: ink darker than the paper
    lighter = cv2.subtract(grey, paper)
    # Noise from the median absolute departure, on a sparse sample for speed.
    departure = np.maximum(darker[::3, ::3], lighter[::3, ::3])
    noise = 1.4826 * float(np.median(departure)) + 1.0
    strong = max(4 * noise, 12)
    dark_ink = np.count_nonzero(darker > strong)
    light_ink = np.count_nonzero(lighter > strong)
    return (darker if dark_ink >= light_ink else lighter), noise


def find_candidates(grey: np.ndarray, settings: FinderSettings = FinderSettings()) -> list[Candidate]:
    """Digit-sized groups of ink in a working-size grey image, each with its own ink crop."""
    h, w = grey.shape
    ink, noise = ink_image(grey)
    floor = max(5 * noise, 20)
    otsu, _ = cv2.threshold(ink, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    threshold = max(otsu * 0.6, floor)
    mask = (ink > threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)

    short_side = min(h, w)
    pieces: list[list[int]] = []  # [x0, y0, x1, y1, label...]
    for i in range(1, count):
        x, y, bw, bh, area = stats[i]
        if area < 6 or bh > settings.max_height_frac * h or bw > settings.max_height_frac * w:
            continue
        touches = x == 0 or y == 0 or x + bw == w or y + bh == h
        if touches and (bw > w / 3 or bh > h / 3):  # paper edges, shadows, the desk
            continue
        pieces.append([x, y, x + bw, y + bh, i])

    groups = _merge_pieces(pieces, settings)
    groups = [g for g in groups if g[3] - g[1] >= settings.min_height_frac * short_side]
    if groups:
        median_h = float(np.median([g[3] - g[1] for g in groups]))
        groups = [g for g in groups if g[3] - g[1] >= settings.min_relative_height * median_h]

    candidates = []
    for x0, y0, x1, y1, *members in groups:
        box_labels = labels[y0:y1, x0:x1]
        keep = np.isin(box_labels, members).astype(np.uint8)
        keep = cv2.dilate(keep, np.ones((3, 3), np.uint8))  # keep the soft anti-aliased rim of each stroke
        crop = ink[y0:y1, x0:x1].astype(np.float32) * keep
        strokes = crop[box_labels > 0]
        if strokes.size == 0 or strokes.max() < 2 * floor:
            continue
        # Ink at or above the stroke's typical strength is full ink, as in MNIST; fainter edges fade out.
        full = float(np.percentile(crop[np.isin(box_labels, members)], 75))
        soft = np.clip((crop - threshold * 0.5) / max(full - threshold * 0.5, 1.0), 0.0, 1.0)
        candidates.append(Candidate((x0, y0, x1 - x0, y1 - y0), soft))
    return candidates


def _merge_pieces(pieces: list[list[int]], settings: FinderSettings) -> list[list[int]]:
    """Join broken strokes of one digit: pieces stacked with strong horizontal overlap and a small gap."""
    groups = [list(p) for p in pieces]
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                a, b = groups[i], groups[j]
                overlap = min(a[2], b[2]) - max(a[0], b[0])
                narrow = min(a[2] - a[0], b[2] - b[0])
                gap = max(a[1], b[1]) - min(a[3], b[3])
                tall = max(a[3] - a[1], b[3] - b[1])
                if overlap > settings.merge_x_overlap * narrow and gap < settings.merge_y_gap * tall:
                    groups[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]), *a[4:], *b[4:]]
                    del groups[j]
                    merged = True
                    break
            if merged:
                break
    return groups


def reading_order(boxes: list[Box]) -> list[list[int]]:
    """Indices of `boxes` grouped into lines (top to bottom), each line left to right."""
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][1] + boxes[i][3] / 2)
    lines: list[list[int]] = []
    for i in order:
        x, y, w, h = boxes[i]
        centre = y + h / 2
        if lines:
            line = lines[-1]
            top = min(boxes[j][1] for j in line)
            bottom = max(boxes[j][1] + boxes[j][3] for j in line)
            if top <= centre <= bottom:
                line.append(i)
                continue
        lines.append([i])
    return [sorted(line, key=lambda i: boxes[i][0]) for line in lines]


class DigitReader:
    """Reads the number in a picture: finding, MNIST normalisation and ONE batched model call."""

    def __init__(self, model: DigitModel, *, min_confidence: float = 0.5, settings: FinderSettings = FinderSettings()) -> None:
        self.model = model
        self.min_confidence = min_confidence
        self.settings = settings

    def read(self, image: np.ndarray) -> Reading:
        started = time.perf_counter()
        grey = to_grey(image)
        h, w = grey.shape
        scale = min(1.0, self.settings.work_side / max(h, w))
        if scale < 1.0:
            grey = cv2.resize(grey, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        candidates = find_candidates(grey, self.settings)
        if not candidates:
            return Reading("", [], (time.perf_counter() - started) * 1e3)
        batch = np.stack([normalize_digit(c.ink) for c in candidates])
        probabilities = self.model.probabilities(batch[:, None])
        digits = []
        for candidate, image28, probs in zip(candidates, batch, probabilities):
            label = int(probs.argmax())
            x, y, bw, bh = candidate.box
            box = (round(x / scale), round(y / scale), round(bw / scale), round(bh / scale))
            digits.append(Digit(label, float(probs[label]), box, image28))
        accepted = [d for d in digits if d.confidence >= self.min_confidence]
        lines = reading_order([d.box for d in accepted])
        ordered = [accepted[i] for line in lines for i in line]
        text = " ".join("".join(str(accepted[i].label) for i in line) for line in lines)
        return Reading(text, ordered, (time.perf_counter() - started) * 1e3, rejected=len(digits) - len(accepted))


