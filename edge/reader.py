"""Find, normalise and classify the handwritten digits in a photo or camera frame."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

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
class Rejected:
    """A candidate set aside, and why: the model called it not a digit, or was unsure."""

    label: int | None  # the model's best digit for it (None: it called it not a digit)
    confidence: float  # of that decision: P(not a digit), or the best digit's probability
    box: Box
    reason: str  # REASON_NOT_A_DIGIT or REASON_UNSURE
    image: np.ndarray = field(repr=False)
    best_digit: int = 0  # the likeliest digit, and its share of the ten digits' probability
    digit_share: float = 0.0

    def as_dict(self) -> dict:
        return {"box": list(self.box), "label": self.label, "confidence": round(self.confidence, 4), "reason": self.reason}


NOTHING_READ = "(no digits)"  # the one word for a picture with no digits: CLI line, window, live log
REASON_NOT_A_DIGIT = "not-a-digit"
REASON_UNSURE = "below-min-confidence"


@dataclass
class Reading:
    text: str  # digits in reading order; lines separated by a space
    digits: list[Digit]
    ms: float
    rejected: list[Rejected] = field(default_factory=list)  # nothing is dropped without a trace

    def as_dict(self, source: str) -> dict:
        return {"source": source, "text": self.text, "digits": [d.as_dict() for d in self.digits],
                "rejected": [r.as_dict() for r in self.rejected], "ms": round(self.ms, 3)}

    @property
    def score(self) -> float:
        """How much of a reading this is, to choose between ways of looking at one picture:
        confident digits count for it, candidates set aside against it."""
        return sum(d.confidence for d in self.digits) - 0.5 * len(self.rejected)


@dataclass(frozen=True)
class Candidate:
    box: Box  # in working-image pixels
    ink: np.ndarray  # float32 ink strength in [0, 1] inside the box, other components masked out


@dataclass(frozen=True)
class FinderSettings:
    work_side: int = 320  # the longer side the frame is scaled to before searching (speed vs small digits)
    fine_work_side: int = 640  # ...and for a second look when the digits found are small (below)
    small_digit: float = 0.09  # of the working image's shorter side: digits this small may have broken strokes
    min_work_short_side: int = 120  # tiny scans (16x16 USPS, 40 px cheque amounts) are enlarged to this
    min_height_frac: float = 0.025  # of the working image's shorter side; the model rejects what is smaller junk
    noise_floor_sigmas: float = 5.0  # ink must depart from the paper by this many local noise sigmas...
    min_floor: float = 20.0  # ...and by at least this many grey levels
    min_peak_over_floor: float = 1.5  # a candidate's darkest ink, over the noise floor: faint pencil passes, paper grain not
    frame_fill: float = 0.08  # ink over box area below which a large piece is an outline, not a digit...
    frame_extent: float = 0.3  # ...when it spans this much of the picture
    rule_length: float = 0.25  # a thin straight run longer than this fraction of the picture's longer side is a
    # ruled line (a digit's bar or a 1 in a strip or a crop is shorter or thicker)...
    min_rule_length: int = 80  # working pixels: in a small (enlarged) scan a stroke can span a quarter of it
    rule_thickness: int = 5  # ...when it is thinner than this (working pixels)
    not_a_digit: float = 0.5  # P(not a digit) from which a candidate is set aside
    rescue_digit_share: float = 0.9  # a not-a-digit candidate in a line of digits is one when its digit is this clear
    max_union_height: float = 1.5  # merged pieces stay within this many typical digit heights (never two lines)
    merge_x_overlap: float = 0.5  # pieces overlapping this much horizontally are one digit
    merge_y_gap: float = 0.5  # ...if the vertical gap is below this fraction of their height
    min_relative_height: float = 0.5  # of the median candidate height; drops dots, specks and stray marks
    closeup: float = 0.6  # a candidate wider or taller than this fraction of the picture: a close-up
    shadow_side: float = 0.25  # share of the paper around a piece as dark as the piece itself: the edge of a
    # shadow (dark on one side), not a stroke (paper on both sides)


def to_grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image if image.dtype == np.uint8 else cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def percentiles_u8(values: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """Percentiles of uint8 values from their histogram: many times faster than np.percentile."""
    cumulative = np.bincount(values.ravel(), minlength=256).cumsum()
    return np.searchsorted(cumulative, np.asarray(qs) / 100.0 * (cumulative[-1] - 1), side="right").astype(np.float64)


def dark_ink_guess(grey: np.ndarray) -> bool:
    """Ink is a minority of the picture, so its median is usually paper: dark ink when that
    median is nearer the light end of the picture's range. Only a first guess: the reader tries
    the other polarity when this one reads poorly (a sheet on a dark desk, grey paper)."""
    low, middle, high = percentiles_u8(grey[::3, ::3], (2, 50, 98))
    return bool(middle >= (low + high) / 2)


def ink_image(grey: np.ndarray, dark_ink: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ink strength uint8, local noise level float32): the paper, lit unevenly, removed; ink
    bright whatever its polarity.

    `dark_ink` says the polarity (None: `dark_ink_guess`). The paper is estimated
    by a morphological closing (opening for light ink) much wider than a stroke, on a small
    copy for speed: it erases strokes however much of the picture they cover (a median filter
    fails on bold close-ups) and keeps lighting gradients and a desk beside the sheet.
    """
    h, w = grey.shape
    if dark_ink is None:
        dark_ink = dark_ink_guess(grey)
    small_scale = 64 / min(h, w)
    small = cv2.resize(grey, (max(1, round(w * small_scale)), max(1, round(h * small_scale))), interpolation=cv2.INTER_AREA)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (21, 21))
    paper_small = cv2.morphologyEx(small, cv2.MORPH_CLOSE if dark_ink else cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REPLICATE)
    paper_small = cv2.blur(paper_small, (9, 9))
    paper = cv2.resize(paper_small, (w, h), interpolation=cv2.INTER_LINEAR)
    ink = cv2.subtract(paper, grey) if dark_ink else cv2.subtract(grey, paper)  # saturating at 0
    # Noise, neighbourhood by neighbourhood: a desk's texture beside the sheet is far noisier than
    # the paper, and one floor for both would erase the pen strokes. Measured on the picture's
    # finest detail (its departure from a 3x3 blur: 0.75 sigma on average for pixel noise),
    # averaged per small cell, then the median over neighbouring cells: strokes add detail only
    # along their edges, a minority of any neighbourhood, even in a close-up of one bold digit.
    detail = cv2.absdiff(grey, cv2.blur(grey, (3, 3)))
    cells = cv2.resize(detail, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)  # 4x4-pixel cells
    local = cv2.medianBlur(cells, 9).astype(np.float32) / 0.75 + 1.0
    noise = cv2.resize(local, (w, h), interpolation=cv2.INTER_LINEAR)
    return ink, noise


def find_candidates(grey: np.ndarray, settings: FinderSettings = FinderSettings(),
                    frame: tuple[int, int, int, int] | None = None, dark_ink: bool | None = None,
                    stages: dict | None = None) -> list[Candidate]:
    """Digit-sized groups of ink in a working-size grey image, each with its own ink crop.

    `frame` (x0, y0, x1, y1) is where the photo's own edges are, when it has been padded.
    `stages`, when given, receives the intermediate images (for --debug): "grey", "ink", "mask"."""
    h, w = grey.shape
    if dark_ink is None:
        dark_ink = dark_ink_guess(grey)
    ink, noise = ink_image(grey, dark_ink)
    floor = np.maximum(settings.noise_floor_sigmas * noise, settings.min_floor)
    # Pass 1: everything above the noise floor; what is not on the paper (the desk, a shadow
    # at the edge) is set aside before the stroke threshold is chosen, or it would dominate it.
    count, labels, stats, _ = cv2.connectedComponentsWithStats((ink > floor).astype(np.uint8), connectivity=8)
    # In a padded close-up, only a ring around the whole photo is the desk: its strokes may hug an edge.
    is_background = _background(labels, count, frame or (0, 0, w, h), 0.3 if frame else 0.12)
    writing = labels > 0
    if is_background.any():
        writing &= ~is_background[labels]
    if not writing.any():
        if stages is not None:
            stages.update(grey=grey, ink=ink, mask=np.zeros_like(writing))
        return []
    otsu, _ = cv2.threshold(ink[writing].reshape(-1, 1), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    threshold = np.maximum(otsu * 0.6, floor)
    mask = _without_rules(writing & (ink > threshold), settings)
    if stages is not None:
        stages.update(grey=grey, ink=ink, mask=mask)
    # Pass 2: the strokes.
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)

    short_side = min(h, w)
    pieces: list[list[int]] = []  # [x0, y0, x1, y1, label...]
    for i in range(1, count):
        x, y, bw, bh, area = stats[i]
        if area < 6:
            continue
        long_side, short = max(bw, bh), max(min(bw, bh), 1)
        if long_side >= 15 * short or long_side >= 8 * short and (bw >= 0.35 * w or bh >= 0.35 * h):
            continue  # a hairline, or a line across much of the picture: a paper edge or a ruled line
        if area < settings.frame_fill * bw * bh and long_side >= settings.frame_extent * max(w, h):
            continue  # a thin outline around much of the picture: a sheet's edge, a frame, a box
        if frame is not None and _along_frame((x, y, bw, bh), frame):
            continue  # the step from the photo's own border to the padding around it, not a stroke
        pieces.append([x, y, x + bw, y + bh, i])

    groups = _merge_pieces(pieces, settings)
    groups = [g for g in groups if g[3] - g[1] >= settings.min_height_frac * short_side]
    if groups:
        median_h = float(np.median([g[3] - g[1] for g in groups]))
        groups = [g for g in groups if g[3] - g[1] >= settings.min_relative_height * median_h]

    candidates = []
    for x0, y0, x1, y1, *members in groups:
        box_labels = labels[y0:y1, x0:x1]
        member = np.zeros(count, bool)
        member[members] = True
        keep = member[box_labels].astype(np.uint8)
        keep = cv2.dilate(keep, np.ones((3, 3), np.uint8))  # keep the soft anti-aliased rim of each stroke
        box_ink = ink[y0:y1, x0:x1]
        strokes = box_ink[member[box_labels]]
        if strokes.size == 0 or strokes.max() < settings.min_peak_over_floor * float(np.median(floor[y0:y1, x0:x1])):
            continue
        if _shadow_side(grey, labels, member, (x0, y0, x1, y1), dark_ink) > settings.shadow_side:
            continue  # the edge of a shadow or of a dark object: dark beyond it, not paper
        crop = box_ink.astype(np.float32) * keep
        # Ink at or above the stroke's typical strength is full ink, as in MNIST; fainter edges fade out.
        full = float(percentiles_u8(strokes, (75,))[0])
        low = float(np.median(threshold[y0:y1, x0:x1])) * 0.5
        soft = np.clip((crop - low) / max(full - low, 1.0), 0.0, 1.0)
        candidates.append(Candidate((x0, y0, x1 - x0, y1 - y0), soft))
    return candidates


def _shadow_side(grey: np.ndarray, labels: np.ndarray, member: np.ndarray, box: tuple[int, int, int, int],
                 dark_ink: bool) -> float:
    """The share of a ring of pixels around a piece's strokes that is as dark as the strokes.

    A pen stroke has paper on both sides: its ring is paper, lighter than the stroke (bar where
    another stroke or a line crosses it). A shadow's edge, or the rim of a dark object, is a
    step: on one side of it lies the shadow, as dark as the "stroke" or darker, so about half its
    ring is. The ring starts beyond the stroke's blurred rim and is about a stroke wide."""
    x0, y0, x1, y1 = box
    h, w = grey.shape
    strokes = member[labels[y0:y1, x0:x1]].astype(np.uint8)
    inside = cv2.distanceTransform(np.pad(strokes, 1), cv2.DIST_L2, 3)  # padded: the box's edge is outside
    width = int(np.clip(round(2 * float(inside.max())), 2, 24))
    pad = 2 + width + 1
    X0, Y0, X1, Y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    local = np.zeros((Y1 - Y0, X1 - X0), np.uint8)
    local[y0 - Y0 : y1 - Y0, x0 - X0 : x1 - X0] = strokes
    near = cv2.dilate(local, np.ones((5, 5), np.uint8))
    ring = cv2.dilate(local, np.ones((2 * (2 + width) + 1,) * 2, np.uint8)) & ~near & ~(labels[Y0:Y1, X0:X1] > 0)
    patch = grey[Y0:Y1, X0:X1].astype(np.float32)
    if not dark_ink:
        patch = 255 - patch
    stroke_level = float(np.median(patch[local > 0]))
    around = patch[ring > 0]
    if around.size < 10:
        return 0.0
    paper = float(np.percentile(around, 90))
    if paper - stroke_level < 8:
        return 0.0
    return float(np.mean(around < stroke_level + 0.3 * (paper - stroke_level)))


def _along_frame(box: Box, frame: tuple[int, int, int, int], reach: int = 2, thin: int = 4) -> bool:
    """A thin piece lying on one of the photo's own edges inside its padding (a close-up view)."""
    x, y, w, h = box
    x0, y0, x1, y1 = frame
    vertical = w <= thin and (abs(x - x0) <= reach or abs(x + w - x1) <= reach)
    horizontal = h <= thin and (abs(y - y0) <= reach or abs(y + h - y1) <= reach)
    return vertical or horizontal


def _without_rules(mask: np.ndarray, settings: FinderSettings) -> np.ndarray:
    """`mask` without the thin straight lines that run much longer than a digit is wide (ruled and
    squared paper, a table's lines): digits written across them would otherwise be joined into
    one piece. Where a stroke crosses a line its pixels stay; a thick bar (a close-up's 7) is not
    thin and stays."""
    h, w = mask.shape
    binary = mask.astype(np.uint8)
    found = []
    for horizontal in (True, False):
        length = max(settings.min_rule_length, int(max(w, h) * settings.rule_length))
        run, bar = ((1, length), (settings.rule_thickness, length)) if horizontal else ((length, 1), (length, settings.rule_thickness))
        long_runs = cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones(run, np.uint8))
        thick = cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones(bar, np.uint8))
        found.append((horizontal, long_runs & ~cv2.dilate(thick, np.ones((3, 3), np.uint8))))
    kept = binary.copy()
    for _, lines in found:
        kept &= ~lines
    # Where a stroke crosses a line, keep the line's pixels between the stroke's two sides
    # (above and below a horizontal line, left and right of a vertical one).
    span = settings.rule_thickness + 2
    for horizontal, lines in found:
        across = np.ones((span, 1) if horizontal else (1, span), np.uint8)
        kept |= lines & cv2.morphologyEx(binary & ~lines, cv2.MORPH_CLOSE, across)
    return kept.astype(bool)


def _background(labels: np.ndarray, count: int, frame: tuple[int, int, int, int], along: float) -> np.ndarray:
    """Per label: True for what is not writing on the paper but lies along the photo's edge, as
    a desk or a shadow beside the sheet does: more than `along` of the edge's length is theirs.
    (Wider dark areas are paper to the closing in ink_image and never become ink.) A digit cropped
    tightly touches the edge too, but only where its strokes cross or hug it."""
    x0, y0, x1, y1 = frame
    border = np.concatenate([labels[y0, x0:x1], labels[y1 - 1, x0:x1], labels[y0 + 1 : y1 - 1, x0], labels[y0 + 1 : y1 - 1, x1 - 1]])
    background = np.bincount(border, minlength=count) > along * len(border)
    background[0] = False
    return background


def _merge_pieces(pieces: list[list[int]], settings: FinderSettings) -> list[list[int]]:
    """Join the broken strokes of one digit: pieces above one another with strong horizontal
    overlap, or stacked with a small gap into a shape still as narrow as a digit (a slanted,
    broken 1). Side-by-side digits overlap vertically and never merge."""
    groups = [list(p) for p in pieces]
    if not groups:
        return groups
    # A digit's height: most pieces are whole digits. Two pieces whose union is much taller
    # belong to two lines (rows of a sheet, a column of digits) and never merge.
    typical = float(np.percentile([g[3] - g[1] for g in groups], 75))
    limit = settings.max_union_height * typical
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                a, b = groups[i], groups[j]
                if max(a[3], b[3]) - min(a[1], b[1]) <= limit and _same_digit(a, b, settings):
                    groups[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]), *a[4:], *b[4:]]
                    del groups[j]
                    merged = True
                    break
            if merged:
                break
    return groups


def _same_digit(a: list[int], b: list[int], settings: FinderSettings) -> bool:
    x_overlap = min(a[2], b[2]) - max(a[0], b[0])
    y_overlap = min(a[3], b[3]) - max(a[1], b[1])  # negative: a vertical gap
    narrow = min(a[2] - a[0], b[2] - b[0])
    short, tall = sorted((a[3] - a[1], b[3] - b[1]))
    if x_overlap > settings.merge_x_overlap * narrow and -y_overlap < settings.merge_y_gap * tall:
        return True
    union_w = max(a[2], b[2]) - min(a[0], b[0])
    union_h = max(a[3], b[3]) - min(a[1], b[1])
    stacked = y_overlap < 0.25 * short and -y_overlap < 0.3 * tall
    return stacked and -x_overlap < 0.15 * union_h and union_w <= 0.75 * union_h


def _resize_to(grey: np.ndarray, side: int, short_side: int = 0) -> tuple[np.ndarray, float]:
    """`grey` shrunk so its longer side is at most `side` (or enlarged so its shorter side is at
    least `short_side`, for tiny scans), and the factor used."""
    h, w = grey.shape
    scale = min(1.0, side / max(h, w))
    if min(h, w) * scale < short_side:
        scale = min(short_side / min(h, w), 2 * side / max(h, w))
        return cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_CUBIC), scale
    if scale < 1.0:
        # Area averaging is needed against aliasing only when shrinking a lot; it is slow otherwise.
        interpolation = cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR
        grey = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interpolation)
    return grey, scale


def reading_order(boxes: list[Box]) -> list[list[int]]:
    """Indices of `boxes` grouped into lines (top to bottom), each line left to right.

    Lines are followed from left to right: a box joins the line whose last box it overlaps most
    vertically (by at least a third of the smaller height), so a line written on a slant stays one
    line, and a small piece never starts a line of its own between two others it overlaps."""
    lines: list[list[int]] = []
    for i in sorted(range(len(boxes)), key=lambda i: boxes[i][0]):
        x, y, w, h = boxes[i]
        best, best_overlap = None, 0.0
        for line in lines:
            lx, ly, lw, lh = boxes[line[-1]]
            overlap = (min(y + h, ly + lh) - max(y, ly)) / max(1, min(h, lh))
            if overlap >= 1 / 3 and overlap > best_overlap:
                best, best_overlap = line, overlap
        if best is None:
            lines.append([i])
        else:
            best.append(i)
    lines.sort(key=lambda line: float(np.median([boxes[j][1] + boxes[j][3] / 2 for j in line])))
    return lines


class DigitReader:
    """Reads the number in a picture: finding, MNIST normalisation and batched model calls.

    One picture may be looked at in up to four ways (ink darker or lighter than the paper; as
    it is, or as a close-up surrounded by paper); the first way whose reading is convincing
    wins, else the best-scoring one. Most photos are read in one way and one model call."""

    def __init__(self, model: DigitModel, *, min_confidence: float = 0.5, settings: FinderSettings = FinderSettings()) -> None:
        self.model = model
        self.min_confidence = min_confidence
        self.settings = settings

    def read(self, image: np.ndarray, trace: list[dict] | None = None) -> Reading:
        """The number in `image` (BGR, BGRA or grey uint8, as OpenCV decodes). `trace`, when given,
        receives one entry per way the picture was looked at (for --debug): its name, its stages
        (working grey, ink, mask), its candidates' boxes in working pixels, its reading, and
        whether it was chosen."""
        started = time.perf_counter()
        grey = to_grey(image)
        margin = 0
        if min(grey.shape) < self.settings.min_work_short_side:
            # A scan this small is a crop of one digit or a few (USPS, a cheque amount): the ink
            # reaches its edges. Surround it with its own paper before enlarging it.
            # (At most twice its short side: a strip 10 px high and 100,000 long stays a strip.)
            margin = min(max(grey.shape) // 4, 2 * min(grey.shape))
            edge = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
            grey_work = cv2.copyMakeBorder(grey, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=int(np.median(edge)))
        else:
            grey_work = grey
        search, scale = _resize_to(grey_work, self.settings.work_side, self.settings.min_work_short_side)
        guess = dark_ink_guess(search)
        best: Reading | None = None
        looks = [(dark_ink, search, scale, "") for dark_ink in (guess, not guess)]
        while looks:
            dark_ink, search, scale, finer = looks.pop(0)
            stages: dict | None = {} if trace is not None else None
            candidates = find_candidates(search, self.settings, dark_ink=dark_ink, stages=stages)
            polarity = ("dark ink" if dark_ink else "light ink") + finer
            if not finer and self._small(candidates, search.shape, scale):
                # Small digits in a large photo: at this size their thin strokes break apart. If
                # this look does not convince, look again at a finer size before the other polarity.
                fine, fine_scale = _resize_to(grey_work, self.settings.fine_work_side)
                looks.insert(0, (dark_ink, fine, fine_scale, f", finer ({max(fine.shape)} px)"))
            views = [(polarity, candidates, _mapping(grey.shape, scale, margin), stages)]
            if self._closeup(candidates, search.shape):
                views.append((f"{polarity}, close-up", *self._closeup_view(search, scale, grey.shape, dark_ink, margin,
                                                                         {} if trace is not None else None)))
            for name, found, to_original, view_stages in views:
                reading = self.classify(found, to_original)
                # Another way of looking replaces the first only with a convincing reading: tried
                # on a blank page, the other polarity finds paper grain and reads it as digits.
                chosen = best is None or (reading.score > best.score and self._convincing(reading))
                if chosen:
                    best = reading
                if trace is not None:
                    for entry in trace:
                        entry["chosen"] = entry["chosen"] and not chosen
                    trace.append({"name": name, "stages": view_stages, "boxes": [c.box for c in found],
                                  "reading": reading, "chosen": chosen})
            if best is not None and self._convincing(best):
                break
        best.ms = (time.perf_counter() - started) * 1e3
        return best

    def _convincing(self, reading: Reading) -> bool:
        """Sure digits and little set aside: no need to look at the picture another way."""
        if not reading.digits:
            return False
        mean = sum(d.confidence for d in reading.digits) / len(reading.digits)
        return mean >= 0.85 and len(reading.rejected) <= len(reading.digits)

    def _small(self, candidates: list[Candidate], shape: tuple[int, int], scale: float) -> bool:
        """Candidates this small in a picture that was shrunk a lot: a finer look may join their strokes."""
        if scale > 0.5 or not candidates:
            return False
        heights = sorted(c.box[3] for c in candidates)
        return heights[len(heights) // 2] < self.settings.small_digit * min(shape)

    def _closeup(self, candidates: list[Candidate], shape: tuple[int, int]) -> bool:
        sh, sw = shape
        tall = max((c.box[3] for c in candidates), default=0)
        wide = max((c.box[2] for c in candidates), default=0)
        return tall > self.settings.closeup * sh or wide > self.settings.closeup * sw

    def _closeup_view(self, search: np.ndarray, scale: float, shape: tuple[int, int], dark_ink: bool, margin: int,
                      stages: dict | None = None):
        """A close-up (a digit cropped tightly): the picture's edges cut through the writing and its
        strokes through the paper estimate. Surround it with paper and look again, as if from
        further away. (A shadow or a desk can look like one too: both views are scored.)"""
        sh, sw = search.shape
        pad = max(sh, sw) // 2
        padded = cv2.copyMakeBorder(search, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=int(np.median(search)))
        padded, shrink = _resize_to(padded, self.settings.work_side)
        inside = (round(pad * shrink), round(pad * shrink), round((pad + sw) * shrink), round((pad + sh) * shrink))
        candidates = find_candidates(padded, self.settings, frame=inside, dark_ink=dark_ink, stages=stages)
        return candidates, _mapping(shape, scale * shrink, pad / scale + margin), stages

    def classify(self, candidates: list[Candidate], to_original: Callable[[Box], Box]) -> Reading:
        """One model call for all candidates; digits in reading order, the rest set aside with a reason."""
        if not candidates:
            return Reading("", [], 0.0)
        batch = np.stack([normalize_digit(c.ink) for c in candidates])
        probabilities = self.model.probabilities(batch[:, None])
        reject = self.model.reject_index
        digits, rejected = [], []
        for candidate, image28, probs in zip(candidates, batch, probabilities):
            box = to_original(candidate.box)
            digit_probs = probs[:10]
            label = int(digit_probs.argmax())
            if reject is not None and probs[reject] >= self.settings.not_a_digit:
                share = float(digit_probs[label] / max(float(digit_probs.sum()), 1e-12))
                rejected.append(Rejected(None, float(probs[reject]), box, REASON_NOT_A_DIGIT, image28, label, share))
            elif probs[label] < self.min_confidence:
                rejected.append(Rejected(label, float(probs[label]), box, REASON_UNSURE, image28))
            else:
                digits.append(Digit(label, float(probs[label]), box, image28))
        digits, rejected = self._rescue_in_line(digits, rejected)
        lines = reading_order([d.box for d in digits])
        ordered = [digits[i] for line in lines for i in line]
        text = " ".join("".join(str(digits[i].label) for i in line) for line in lines)
        return Reading(text, ordered, 0.0, rejected)

    def _rescue_in_line(self, digits: list[Digit], rejected: list[Rejected]) -> tuple[list[Digit], list[Rejected]]:
        """A candidate the model calls not a digit, but which reads as one digit clearly among the
        ten and stands in a line of digits at their height, is a digit: real handwriting is
        further from MNIST than the rendered non-digits are, and a number's digits share a line
        and a height, which a shadow, a pen or a blot beside the number does not."""
        if len(digits) < 2:
            return digits, rejected
        kept = []
        for aside in rejected:
            if aside.reason != REASON_NOT_A_DIGIT or aside.digit_share < self.settings.rescue_digit_share:
                kept.append(aside)
                continue
            x, y, w, h = aside.box
            neighbours = sum(1 for d in digits
                             if min(y + h, d.box[1] + d.box[3]) - max(y, d.box[1]) >= 0.5 * min(h, d.box[3])
                             and 0.75 <= d.box[3] / h <= 1.33)
            if neighbours >= 2:
                digits.append(Digit(aside.best_digit, aside.digit_share, aside.box, aside.image))
            else:
                kept.append(aside)
        return digits, kept


def _mapping(shape: tuple[int, int], scale: float, offset: float) -> Callable[[Box], Box]:
    """Working-image boxes -> the picture's pixels (`offset`: padding, in original pixels),
    clipped to the picture (a close-up's box may reach into the padding)."""
    height, width = shape

    def to_original(box: Box) -> Box:
        x0, y0 = max(0, round(box[0] / scale - offset)), max(0, round(box[1] / scale - offset))
        x1 = min(width, round((box[0] + box[2]) / scale - offset))
        y1 = min(height, round((box[1] + box[3]) / scale - offset))
        return (x0, y0, max(1, x1 - x0), max(1, y1 - y0))

    return to_original
