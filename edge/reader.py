"""Read the number in a picture: the ways of looking at it, one model call per way for the
candidates finder.py found, digits in reading order, everything set aside with its reason."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, NamedTuple

import cv2
import numpy as np

from .contract import IMAGE_SIZE
from .finder import (MARK_LINE, MARK_SMALL, Candidate, FinderSettings, WorkBox, dark_ink_guess, faint_digit, faint_strokes,
                     find_candidates, median_of, rescaled, resize_to, to_grey, undithered)
from .normalize import normalize_digit
from .session import DigitModel

Box = tuple[int, int, int, int]  # x, y, w, h in the picture's own pixels (a Candidate's WorkBox is not)


@dataclass
class Digit:
    label: int
    confidence: float  # its share of the ten digits' probability (which digit; whether one is the reject output's)
    box: Box
    image: np.ndarray = field(repr=False)  # the 28x28 input the model saw
    runner_up: int = -1  # the model's second digit for it, and that digit's share (-1, 0: not known)
    runner_up_share: float = 0.0
    cut: bool = False  # one of the digits a candidate set aside was cut into (touching digits, or a letter's halves)

    def as_dict(self) -> dict:
        return {"label": self.label, "confidence": round(self.confidence, 4), "box": list(self.box)}


@dataclass
class Rejected:
    """A candidate set aside, and why: the model called it not a digit, or was unsure; or its shape
    is no digit's: too wide, a frame around other marks, a solid blot; or it is a letter in a word."""

    label: int | None  # the model's best digit for it (None: it called it not a digit)
    confidence: float  # of that decision: P(not a digit), or the best digit's probability
    box: Box
    reason: str  # REASON_NOT_A_DIGIT, REASON_UNSURE, REASON_TOO_WIDE, REASON_FRAME, REASON_SOLID, REASON_ROUND,
    # REASON_LETTER, REASON_TEXTURE, REASON_REPEATED, or the finder's REASON_SMALL and REASON_LINE
    image: np.ndarray = field(repr=False)
    best_digit: int = 0  # the likeliest digit, and its share of the ten digits' probability
    digit_share: float = 0.0
    # The sharpened look's 28x28 input, when best_digit and digit_share are its answer (_sharpened_opinion);
    # `image` stays what the model called no digit.
    sharpened_image: np.ndarray | None = field(default=None, repr=False)

    @property
    def sharpened(self) -> bool:
        return self.sharpened_image is not None

    @property
    def digit_image(self) -> np.ndarray:
        """The 28x28 input that read as best_digit."""
        return self.image if self.sharpened_image is None else self.sharpened_image

    def as_digit(self) -> Digit:
        """It, rescued: the digit it reads best as, with that digit's share of the ten."""
        return Digit(self.best_digit, self.digit_share, self.box, self.digit_image)

    def as_dict(self) -> dict:
        return {"box": list(self.box), "label": self.label, "confidence": round(self.confidence, 4), "reason": self.reason}

    def caption(self) -> str:
        """A few words for drawing it: why it was set aside, and the model's answer."""
        if self.label is None:
            return f"not a digit {100 * self.confidence:.0f}%"
        shape = _SHAPE_CAPTIONS.get(self.reason)
        return f"{shape} ({self.label}?)" if shape else f"{self.label}? {100 * self.confidence:.0f}%"


NOTHING_READ = "(no digits)"  # the one word for a picture with no digits: CLI line, window, live log
REASON_NOT_A_DIGIT = "not-a-digit"
REASON_UNSURE = "below-min-confidence"
REASON_TOO_WIDE = "too-wide"  # wider than any one digit is written: a dash, a smile, digits run together
REASON_FRAME = "frame"  # its strokes enclose other marks: a circle or box drawn around them, a face's outline
REASON_SOLID = "solid"  # a filled shape, no strokes: a blot, a dot, a pen's cap seen end on
REASON_LETTER = "letter"  # a 1 or 0 in a word whose other marks are letters: the letter l, I, o or O
REASON_ROUND = "round"  # a true circle: the rim of a cup or a coffee ring seen from above, a coin, a lid; no written 0
REASON_TEXTURE = "texture"  # among pieces read as no digit all round it: a blob of a carpet, concrete, fabric
REASON_REPEATED = "repeated"  # one of a column of the same mark, each alone in its line: a spiral binding's loops
REASON_SMALL = MARK_SMALL  # under half the digits' height: a dot, a dash, a small blot (the finder sets it aside)
REASON_LINE = MARK_LINE  # a long thin line inside the picture: a pen, a ruler (the finder sets it aside)
_SHAPE_CAPTIONS = {REASON_TOO_WIDE: "too wide", REASON_FRAME: "frame", REASON_SOLID: "blot", REASON_LETTER: "letter",
                   REASON_ROUND: "round", REASON_TEXTURE: "texture", REASON_REPEATED: "repeated", REASON_SMALL: "small",
                   REASON_LINE: "line"}


class Judged(NamedTuple):
    """The model's answers for one way of looking, before rescue and cutting: the digits, the
    candidates set aside, and the candidates behind each (in the same order)."""

    digits: list[Digit]
    rejected: list[Rejected]
    aside_candidates: list[Candidate]  # rejected's
    digit_candidates: list[Candidate]  # digits'
    digit_probabilities: list[np.ndarray]  # the model's answer for each of digit_candidates


@dataclass
class Reading:
    text: str  # digits in reading order; lines separated by a space
    digits: list[Digit]
    ms: float
    rejected: list[Rejected] = field(default_factory=list)  # nothing is dropped without a trace

    def as_dict(self, source: str) -> dict:
        return {"source": source, "text": self.text, "digits": [d.as_dict() for d in self.digits],
                "rejected": [r.as_dict() for r in self.rejected], "ms": round(self.ms, 3)}

    def score(self, aside_penalty: float = FinderSettings.aside_penalty) -> float:
        """How much of a reading this is, to choose between ways of looking at one picture:
        confident digits count for it, candidates set aside against it."""
        return sum(d.confidence for d in self.digits) - aside_penalty * len(self.rejected)


def reading_order(boxes: list[Box], min_overlap: float = FinderSettings.line_overlap) -> list[list[int]]:
    """Indices of `boxes` grouped into lines (top to bottom), each line left to right.

    Lines are followed from left to right: a box joins the line whose last box it overlaps most
    vertically (by at least a third of the smaller height), so a line written on a slant stays one
    line, and a small piece never starts a line of its own between two others it overlaps."""
    lines: list[list[int]] = []
    ends: list[tuple[int, int, int]] = []  # each line's last box: top, bottom, height
    for i in sorted(range(len(boxes)), key=lambda i: boxes[i][0]):
        _, y, _, h = map(int, boxes[i])
        best, best_overlap = None, 0.0
        for k, (top, bottom, height) in enumerate(ends):
            if bottom <= y or top >= y + h:
                continue  # no overlap (a sheet's other rows: most lines)
            overlap = (min(y + h, bottom) - max(y, top)) / max(1, min(h, height))
            if overlap >= min_overlap and overlap > best_overlap:
                best, best_overlap = k, overlap
        if best is None:
            lines.append([i])
            ends.append((y, y + h, h))
        else:
            lines[best].append(i)
            ends[best] = (y, y + h, h)
    lines.sort(key=lambda line: median_of([boxes[j][1] + boxes[j][3] / 2 for j in line]))
    return lines


class DigitReader:
    """Reads the number in a picture: finding, MNIST normalisation and batched model calls.

    One picture may be looked at in up to four ways (ink darker or lighter than the paper; as
    it is, or as a close-up surrounded by paper); the first way whose reading is convincing
    wins, else the best-scoring one. Most photos are read in one way and one model call."""

    def __init__(self, onnx_model: DigitModel, *, min_confidence: float = 0.5,
                 settings: FinderSettings = FinderSettings()) -> None:
        self.onnx_model = onnx_model
        self.min_confidence = min_confidence
        self.settings = settings

    def read(self, image: np.ndarray, trace: list[dict] | None = None) -> Reading:
        """The number in `image` (BGR, BGRA or grey uint8, as OpenCV decodes). `trace`, when given,
        receives one entry per way the picture was looked at (for --debug): its name, its stages
        (working grey, ink, mask), its candidates' work_boxes, its reading, and
        whether it was chosen."""
        started = time.perf_counter()
        grey = undithered(to_grey(image), self.settings)
        margin = 0
        if min(grey.shape) < self.settings.min_work_short_side:
            # A scan this small is a crop of one digit or a few (USPS, a cheque amount): the ink
            # reaches its edges. Surround it with its own paper before enlarging it.
            # (At most twice its short side: a strip 10 px high and 100,000 long stays a strip.)
            margin = min(max(grey.shape) // 4, 2 * min(grey.shape))
            grey_work = paper_around(grey, margin)
        else:
            grey_work = grey
        scan_height = grey.shape[0] if margin else None
        search, scale = resize_to(grey_work, self.settings.work_side, self.settings.min_work_short_side)
        guess = dark_ink_guess(search)
        best: Reading | None = None
        best_judged: Judged | None = None  # the chosen way's model answers, before the rescue: for cutting
        best_to_original = None  # touching digits; its mapping to the picture,
        best_found = None  # and all its candidates: for turning a slanted line upright
        best_stages: dict = {}
        best_marks: list[Candidate] = []  # what its finder set aside by shape, listed at the end
        looks = [(dark_ink, search, scale, "") for dark_ink in (guess, not guess)]
        while looks:
            dark_ink, search, scale, finer = looks.pop(0)
            stages: dict = {}  # also kept when not traced: the chosen look's maps, for faint strokes
            marks: list[Candidate] = []
            candidates = find_candidates(search, self.settings, dark_ink=dark_ink, stages=stages, marks=marks)
            polarity = ("dark ink" if dark_ink else "light ink") + finer
            finer_anyway = False  # the next look is finer and is taken however convincing this one
            if not finer and self._small(candidates, search.shape, scale):
                # Small digits in a large photo: at this size their thin strokes break apart. If
                # this look does not convince, look again at a finer size before the other polarity
                # (light ink: after the dark look, below); if they are tiny here or their strokes
                # thin, look again in any case.
                fine, fine_scale = resize_to(grey_work, self.settings.fine_work_side)
                tiny = _median_height(candidates) < self.settings.tiny_digit
                if tiny and fine_scale < self.settings.enlarge_tiny * scale:
                    # Tiny digits in a picture with no finer copy (a 320-640 px camera's): their strokes
                    # are a pixel wide and break apart. Looked at enlarged, as a finer copy would be.
                    fine_scale = self.settings.enlarge_tiny * scale
                    fine = rescaled(grey_work, fine_scale, cv2.INTER_CUBIC)
                finer_anyway = tiny or _stroke_width(candidates) < self.settings.thin_stroke
                # A light-ink look is looked at finer only after the dark-ink look that is checked
                # anyway (a sheet on a dark desk: the sheet is the bright minority, and light ink is
                # guessed): when that convinces, the search ends there.
                later = 0 if dark_ink else sum(1 for look in looks if look[0] and not look[3])
                looks.insert(later, (dark_ink, fine, fine_scale, f", finer ({max(fine.shape)} px)"))
            views = [(polarity, candidates, _mapping(grey.shape, scale, margin), stages, marks)]
            if self._closeup(candidates, search.shape):
                views.append((f"{polarity}, close-up", *self._closeup_view(search, scale, grey.shape, dark_ink, margin)))
            for name, found, to_original, view_stages, view_marks in views:
                judged = self.judge(found, to_original)
                reading = self.reading(judged.digits, judged.rejected, scan_height=scan_height)
                # Another way of looking replaces the first only with a convincing reading: tried
                # on a blank page, the other polarity finds paper grain and reads it as digits.
                penalty = self.settings.aside_penalty
                chosen = best is None or (reading.score(penalty) > best.score(penalty) and self._convincing(reading))
                if chosen:
                    best, best_judged, best_to_original, best_found = reading, judged, to_original, found
                    best_marks, best_stages = view_marks, view_stages
                if trace is not None:
                    for entry in trace:
                        entry["chosen"] = entry["chosen"] and not chosen
                    trace.append({"name": name, "stages": view_stages, "work_boxes": [c.work_box for c in found],
                                  "reading": reading, "chosen": chosen})
            # Dark ink on light paper is what handwriting nearly always is: a light-ink guess (a white
            # sheet on a dark desk is itself the bright minority) is checked against dark ink.
            dark_pending = not dark_ink and any(look[0] for look in looks)
            if best is not None and self._convincing(best) and not finer_anyway and not dark_pending:
                break
        # Broken digits are joined and touching digits cut apart in the chosen way of looking only
        # (each costs a model call, only when there is something to try); not in a picture of a
        # texture, whose digits are all set aside (hundreds of blobs to cut: a third of a second).
        if self._textured(sum(r.reason == REASON_NOT_A_DIGIT for r in best.rejected), len(best.digits)):
            best.rejected = best.rejected + self._marks_judged(best_marks, best_to_original)
            best.ms = (time.perf_counter() - started) * 1e3
            return best
        joined = self._join_broken(best_judged, best_to_original, best_marks)
        if joined is not None:
            best_judged = joined
            best = _as_chosen(trace, self.reading(joined.digits, joined.rejected, scan_height=scan_height))
        faint = self._faint_strokes(best_judged, best_to_original, best_stages, best_marks)
        if faint is not None:
            best_judged = faint
            best = _as_chosen(trace, self.reading(faint.digits, faint.rejected, scan_height=scan_height))
        split = self._split_touching(best_judged, best_to_original)
        if split is not None:
            best = _as_chosen(trace, self.reading(*split, scan_height=scan_height))
        upright = self._deskewed(best_found, best_to_original)
        if upright is not None:
            reading, angle = upright
            penalty = self.settings.aside_penalty
            # The candidates make one straight line: read along it, unless turned they read clearly worse.
            margin = self.settings.deskew_tolerance * len(reading.digits)
            chosen = reading.score(penalty) >= best.score(penalty) - margin and self._convincing(reading)
            if trace is not None:
                chosen_entry = next(entry for entry in trace if entry["chosen"])
                chosen_entry["chosen"] = not chosen
                trace.append({**chosen_entry, "name": f"{chosen_entry['name']}, each turned {angle:+.0f} deg",
                              "reading": reading, "chosen": chosen})
            if chosen:
                best = reading
        best = _as_chosen(trace, self._in_the_writers_hand(self._like_the_writers_own(best, scan_height)))
        # Nothing is dropped without a trace: what the finder set aside by its shape is listed too.
        best.rejected = best.rejected + self._marks_judged(best_marks, best_to_original)
        best = _as_chosen(trace, self._small_zeros(best, scan_height))
        best.ms = (time.perf_counter() - started) * 1e3
        return best

    def _small_zeros(self, reading: Reading, scan_height: int | None) -> Reading:
        """Some hands write the 0 much smaller than the other digits (under half their height, on the
        line): the finder sets it aside as a small mark (under half the digits' height) before
        the model reads it. A small mark the model reads clearly as 0, and calls a digit, standing on the
        line of at least two digits (no higher than their top, its bottom in their lowest quarter, at least
        1/small_zero_ratio of their height), is a 0. A dot or a dash is no clear 0; a degree sign is raised."""
        ratio = self.settings.small_zero_ratio
        if ratio <= 0 or len(reading.digits) < 2:
            return reading
        zeros = [r for r in reading.rejected if r.reason == REASON_SMALL and r.label == 0
                 and r.confidence >= self.settings.rescue_digit_share  # (a mark's: its digit's probability)
                 and self._beside_count(r.box, reading.digits, True, small_ratio=ratio) >= self.settings.rescue_neighbours]
        if not zeros:
            return reading
        # Read again with the 0s (letters, lines, order); what was set aside stays so, the finder's marks
        # too (a mark the model calls no digit is not rescued by this: only these 0s join).
        rescued = self.reading(reading.digits + [Digit(0, r.confidence, r.box, r.image) for r in zeros], [],
                               scan_height=scan_height)
        rescued.rejected = rescued.rejected + _without(reading.rejected, zeros)
        return rescued

    def _like_the_writers_own(self, reading: Reading, scan_height: int | None) -> Reading:
        """A candidate the model calls not a digit, standing in a line of digits at their height, whose
        strokes are most like a sure digit of the page (`_likeness`) that is the digit it reads best as,
        by hand_rescue_likeness at least and hand_rescue_margin more than any sure digit of another
        label, is that digit: one hand writes its 4s alike, and what the model doubts in one (an open
        4 turned with the page) it reads surely in another."""
        settings = self.settings
        if settings.hand_rescue_likeness > 1 or len(reading.digits) < 2:
            return reading
        sure = [d for d in reading.digits if d.confidence >= settings.hand_sure]
        if not sure:
            return reading
        tried = [aside for aside in reading.rejected
                 if aside.reason == REASON_NOT_A_DIGIT and aside.digit_share >= settings.hand_rescue_share
                 and self._beside_count(aside.box, reading.digits, False) >= settings.rescue_neighbours]
        if not tried:
            return reading
        # The strokes' directions of a sure digit at most once (a 12-row sheet has 120), as unit vectors;
        # those of other labels only for a candidate already that like one of its own label's.
        features: dict[int, np.ndarray] = {}

        def likeness(aside_unit: np.ndarray, among: list[int]) -> float:
            for j in among:
                if j not in features:
                    features[j] = _unit(_stroke_directions(sure[j].image))
            return max((float(features[j] @ aside_unit) for j in among), default=-1.0)
        found = []
        for aside in tried:
            own = [j for j, d in enumerate(sure) if d.label == aside.best_digit]
            if not own:
                continue
            aside_unit = _unit(_stroke_directions(aside.digit_image))
            best = likeness(aside_unit, own)
            if best >= settings.hand_rescue_likeness and \
                    best >= likeness(aside_unit, [j for j, d in enumerate(sure) if d.label != aside.best_digit]) + settings.hand_rescue_margin:
                found.append(aside)
        if not found:
            return reading
        return self.reading(reading.digits + [a.as_digit() for a in found], _without(reading.rejected, found),
                            scan_height=scan_height)

    def _in_the_writers_hand(self, reading: Reading) -> Reading:
        """A digit the model doubts between two (a 7 with a short bar: 1 or 7) is read as the one whose
        sure examples in its own line its strokes are more like: one hand writes a number, and writes
        its 7s alike (writer consistency). Only when the line holds a sure digit of each of the two. The
        digit keeps the model's share for the label it gets, which may be under min_confidence (the
        runner-up's share is at most a half): the writer's own digits decided it, not the model."""
        settings = self.settings
        doubted = [i for i, d in enumerate(reading.digits) if d.confidence < settings.hand_doubt
                   and d.runner_up >= 0 and d.runner_up_share >= settings.hand_runner_up]
        if not doubted:
            return reading
        line_of = np.cumsum([c == " " for c in reading.text])[[i for i, c in enumerate(reading.text) if c != " "]]
        digits, changed = list(reading.digits), False
        for i in doubted:
            d = digits[i]

            def likeness(label: int) -> float | None:  # to the most alike sure `label` in its line (None: none)
                sure = [o.image for j, o in enumerate(reading.digits) if j != i and o.label == label
                        and line_of[j] == line_of[i] and o.confidence >= settings.hand_sure]
                return max((_likeness(d.image, o) for o in sure), default=None)

            own, other = likeness(d.label), likeness(d.runner_up)
            if own is not None and other is not None and other > own + settings.hand_margin:
                digits[i] = replace(d, label=d.runner_up, confidence=d.runner_up_share,
                                    runner_up=d.label, runner_up_share=d.confidence)
                changed = True
        if not changed:
            return reading
        labels = iter(digits)
        text = "".join(c if c == " " else str(next(labels).label) for c in reading.text)
        return replace(reading, text=text, digits=digits)

    def _convincing(self, reading: Reading) -> bool:
        """Sure digits and little set aside: no need to look at the picture another way."""
        if not reading.digits:
            return False
        mean = sum(d.confidence for d in reading.digits) / len(reading.digits)
        return mean >= self.settings.convincing_confidence and len(reading.rejected) <= len(reading.digits)

    def _small(self, candidates: list[Candidate], shape: tuple[int, int], scale: float) -> bool:
        """Candidates this small in a picture that was shrunk a lot, or tiny in one that was not (then
        looked at enlarged): a finer look may join their strokes."""
        if not candidates:
            return False
        if scale > self.settings.finer_below_scale:
            return _median_height(candidates) < self.settings.tiny_digit
        return _median_height(candidates) < self.settings.small_digit * min(shape)

    def _closeup(self, candidates: list[Candidate], shape: tuple[int, int]) -> bool:
        sh, sw = shape
        tall = max((c.work_box[3] for c in candidates), default=0)
        wide = max((c.work_box[2] for c in candidates), default=0)
        return tall > self.settings.closeup * sh or wide > self.settings.closeup * sw

    def _closeup_view(self, search: np.ndarray, scale: float, shape: tuple[int, int], dark_ink: bool, margin: int):
        """A close-up (a digit cropped tightly): the picture's edges cut through the writing and its
        strokes through the paper estimate. Surround it with paper and look again, as if from
        further away. (A shadow or a desk can look like one too: both views are scored.)"""
        sh, sw = search.shape
        pad = int(max(sh, sw) * self.settings.closeup_padding)
        padded = cv2.copyMakeBorder(search, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=int(np.median(search)))
        padded, shrink = resize_to(padded, self.settings.work_side)
        inside = (round(pad * shrink), round(pad * shrink), round((pad + sw) * shrink), round((pad + sh) * shrink))
        marks: list[Candidate] = []
        stages: dict = {}
        candidates = find_candidates(padded, self.settings, photo_edges=inside, dark_ink=dark_ink, stages=stages, marks=marks)
        return candidates, _mapping(shape, scale * shrink, pad / scale + margin), stages, marks

    def _answers(self, candidates: list[Candidate]) -> tuple[np.ndarray, np.ndarray]:
        """(the 28x28 inputs, the model's probabilities) for `candidates`, in one model call (or one per
        32: a sheet's 120 candidates at once outgrow the CPU's cache, and run 7 % slower)."""
        batch = np.stack([normalize_digit(c.ink) for c in candidates])[:, None]
        return batch[:, 0], self._probabilities(batch)

    def _probabilities(self, batch: np.ndarray) -> np.ndarray:
        """The model's answers for a batch of 28x28 inputs [N, 1, 28, 28], 32 at a time."""
        return np.concatenate([self.onnx_model.probabilities(batch[i : i + 32]) for i in range(0, len(batch), 32)])

    def judge(self, candidates: list[Candidate], to_original: Callable[[WorkBox], Box], sharpen: bool = True) -> Judged:
        """One model call for all candidates: the digits and the candidates set aside with a reason
        (and, with `sharpen`, a second call for the sharpened look at those it calls no digit)."""
        if not candidates:
            return Judged([], [], [], [], [])
        batch, probabilities = self._answers(candidates)
        reject = self.onnx_model.reject_index
        digits, rejected, aside_candidates, digit_candidates, digit_probabilities = [], [], [], [], []
        for candidate, image28, probs, label, confidence in zip(candidates, batch, probabilities, *_which_digit(probabilities)):
            box = to_original(candidate.work_box)
            label, confidence = int(label), float(confidence)
            if reject is not None and probs[reject] >= self.settings.not_a_digit:
                rejected.append(Rejected(None, float(probs[reject]), box, REASON_NOT_A_DIGIT, image28, label, confidence))
                aside_candidates.append(candidate)
                continue
            reason = (self._shape_reason(candidate, image28, label) or candidate.mark
                      or (REASON_UNSURE if confidence < self.min_confidence else None))
            if reason is None:
                digits.append(Digit(label, confidence, box, image28, *_runner_up(probs)))
                digit_candidates.append(candidate)
                digit_probabilities.append(probs)
            else:
                rejected.append(Rejected(label, confidence, box, reason, image28))
                aside_candidates.append(candidate)
        for i in reversed(self._lone_rims(digits, digit_candidates)):
            rim = digits.pop(i)
            rejected.append(Rejected(rim.label, rim.confidence, rim.box, REASON_ROUND, rim.image))
            aside_candidates.append(digit_candidates.pop(i))
            digit_probabilities.pop(i)
        if sharpen:
            self._sharpened_opinion(rejected, len(digits))
        return Judged(digits, rejected, aside_candidates, digit_candidates, digit_probabilities)

    def _lone_rims(self, digits: list[Digit], candidates: list[Candidate]) -> list[int]:
        """A cup's rim or a coffee ring photographed at a slant (a page is rarely photographed square
        on) is an ellipse, as exact and as thin as the circle seen from above (`_shape_reason`'s round);
        a hand's 0 wobbles and its stroke is wider for its size. A 0 printed or drawn neatly with a thin
        pen is as exact (OpenCV 4.8's Hershey 0 spreads 0.037-0.040), but it stands in a line of digits;
        a rim stands alone or off their line. The indices (ascending) of the 0s read that stand beside no
        other digit in their line, as a digit of their own (`_beside_count`), and whose ink at the working
        size, covering at most settings.ellipse_fill of its box, lies on one thin ellipse (`_off_ellipse`)."""
        settings = self.settings
        rims = []
        for i, (digit, candidate) in enumerate(zip(digits, candidates)):
            if digit.label != 0:
                continue
            ink = candidate.ink
            if np.count_nonzero(ink > 0.3 * float(ink.max())) > settings.ellipse_fill * ink.size:
                continue
            if self._beside_count(digit.box, digits[:i] + digits[i + 1:], True):
                continue
            if _off_ellipse(ink, settings.ellipse_aspect) <= settings.max_off_ellipse:
                rims.append(i)
        return rims

    def _sharpened_opinion(self, rejected: list[Rejected], digits: int) -> None:
        """A candidate the model calls not a digit, and no clear digit either, is read again sharpened:
        its soft rim (ink under settings.sharpen_rim of full) cut away and the rest fitted to the digit
        box again. A blurred photo (a webcam out of focus, a phone shaking) widens every stroke into a
        soft ramp, and the model, which learnt MNIST's crisp strokes, calls the bold blur no digit; a
        pen, a shadow or a blot stays no digit sharpened. When the sharpened digit is no longer called
        not a digit, reads clearly, and is the digit the candidate read as before (the two views agree),
        it becomes the candidate's best digit (in place): still set
        aside, it joins the number only as the in-line rescue takes a clear digit (standing in a line of
        digits at their height). One model call, only when there is such a candidate, and none in a
        picture of a textured surface (`digits`: how many digits it holds), whose digits are all set
        aside: its hundreds of blobs would cost a fifth more time, and any rescued blob would count as
        one of its digits."""
        settings = self.settings
        doubted = [i for i, r in enumerate(rejected)
                   if r.reason == REASON_NOT_A_DIGIT and r.digit_share < settings.rescue_digit_share]
        if not doubted or settings.sharpen_rim <= 0 \
                or self._textured(sum(r.reason == REASON_NOT_A_DIGIT for r in rejected), digits):
            return
        rim = settings.sharpen_rim
        batch = np.stack([normalize_digit(np.maximum(rejected[i].image - rim, 0.0) / (1.0 - rim)) for i in doubted])[:, None]
        probabilities = self._probabilities(batch)
        reject = self.onnx_model.reject_index
        for i, image28, probs, label, share in zip(doubted, batch[:, 0], probabilities, *_which_digit(probabilities)):
            if probs[reject] < settings.sharpen_not_a_digit and share >= settings.rescue_digit_share \
                    and label == rejected[i].best_digit:
                rejected[i] = replace(rejected[i], best_digit=int(label), digit_share=float(share), sharpened_image=image28)

    def _marks_judged(self, marks: list[Candidate], to_original: Callable[[WorkBox], Box] | None) -> list[Rejected]:
        """The finder's marks (too small, a long line) as set aside, with the model's answer (judge):
        not a digit when it says so, else a shape's reason (a blot, too wide) or the finder's. They
        never join the number (one more model call, only when there are marks)."""
        if not marks or to_original is None:
            return []
        return self.judge(marks, to_original, sharpen=False).rejected  # (a mark never joins the number)

    def _shape_reason(self, candidate: Candidate, image28: np.ndarray, label: int) -> str | None:
        """Why a candidate cannot be one digit, however surely the model reads it, or None. (Roundness
        is measured only for what the model reads as 0, the only digit a circle can pass for: it
        costs ~50 us a candidate, and a 12-row sheet has 120 candidates.)"""
        if candidate.frame:
            return REASON_FRAME
        if candidate.work_box[2] > self.settings.max_digit_aspect * candidate.work_box[3]:
            # Fitted into the model's 20x20 box, a flat mark looks like a digit's stroke; nobody writes
            # one digit this wide. (Touching digits are: the split may still cut it into digits.)
            return REASON_TOO_WIDE
        solid = _solid(image28)
        if solid >= self.settings.solid_thickness or label == 0 and solid >= self.settings.blot_min_solid \
                and _hull_fill(candidate.ink) >= self.settings.blot_fill:
            return REASON_SOLID
        if _repeats(candidate.ink, self.settings):
            return REASON_REPEATED
        w, h = candidate.work_box[2:]
        if label == 0 and self.settings.round_aspect * h <= w <= h / self.settings.round_aspect \
                and _roundness(image28) <= self.settings.max_roundness:
            return REASON_ROUND
        return None

    def reading(self, digits: list[Digit], rejected: list[Rejected], scan_height: int | None = None) -> Reading:
        """The number the judged candidates make: rescued in-line digits added, letters in words and
        blobs of a texture set aside, in reading order. `scan_height`: the picture's height when it is a
        tiny scan."""
        # A candidate read clearly only sharpened is rescued after the letters are found: as-is it is a
        # mark the model calls no digit, which makes the 1s and 0s of its word letters ("hello"'s h,
        # sharpened, reads 7), and in a word of letters it then has no digits beside it.
        digits, rejected = self._letters_in_words(*self._rescue_in_line(digits, rejected, scan_height, sharpened=False))
        digits, rejected = self._in_texture(*self._rescue_in_line(digits, rejected, scan_height, sharpened=True))
        lines = reading_order([d.box for d in digits], self.settings.line_overlap)
        repeated = self._repeated(digits, rejected, lines)
        if repeated:
            rejected = rejected + [Rejected(digits[i].label, digits[i].confidence, digits[i].box, REASON_REPEATED, digits[i].image)
                                   for i in sorted(repeated)]
            digits = [d for i, d in enumerate(digits) if i not in repeated]
            lines = reading_order([d.box for d in digits], self.settings.line_overlap)
        ordered = [digits[i] for line in lines for i in line]
        text = " ".join("".join(str(digits[i].label) for i in line) for line in lines)
        return Reading(text, ordered, 0.0, rejected)

    def _join_broken(self, judged: Judged, to_original: Callable[[WorkBox], Box], marks: list[Candidate]) -> Judged | None:
        """A digit whose strokes broke apart side by side (a 4 whose stem stands apart from its
        corner) is two candidates: one the model calls not a digit, the other often a sure 1. Each
        such candidate that is no clear digit alone, or is not as tall as the candidate beside it in
        its line (a digit's corner), is read joined with it (all such pairs in one model call); a pair
        as narrow as a digit that reads clearly as one (surest pairs first, each candidate in one pair
        at most) becomes that digit: the model's recognition decides the merge, as it decides the cuts
        of touching digits. (Two digits are not tried: a short one beside a tall one is often a real
        digit; trying those read 18 fewer of the shared photos under the changes of light and camera.)
        A small mark right beside a digit, within its height (a 9's faint loop cut off from its stem),
        is read joined with it too, and joins it when the pair reads clearly as another digit; it is
        then no longer listed as set aside (`marks`, the finder's, loses it). So is a small mark beside
        a piece the model calls not a digit, within a digit's height of the line around that piece (a
        5's bar lifted above a body read alone as no digit). The chosen way's judged
        candidates with the pairs joined, or None: nothing joined."""
        settings = self.settings
        everyone = [(c, (True, i)) for i, c in enumerate(judged.digit_candidates)] + \
                   [(c, (False, i)) for i, c in enumerate(judged.aside_candidates)]
        pairs, seen = [], set()
        ox, oy, ow, oh = np.array([c.work_box for c, _ in everyone], np.int64).reshape(-1, 4).T  # one test for all
        framed = np.array([c.frame for c, _ in everyone], bool)
        for k, aside in enumerate(judged.aside_candidates):
            read = judged.rejected[k]
            if read.reason != REASON_NOT_A_DIGIT or aside.frame:
                continue
            ax, ay, aw, ah = aside.work_box
            tried = ~framed
            if read.digit_share >= settings.rescue_digit_share:
                # A clear digit alone is no broken piece beside one as tall as itself (it may be rescued).
                tried &= ah * settings.rescue_height_ratio < oh
            # In one line, and beside it.
            tried &= np.minimum(ay + ah, oy + oh) - np.maximum(ay, oy) >= settings.rescue_overlap * np.minimum(ah, oh)
            tried &= np.maximum(ox - (ax + aw), ax - (ox + ow)) <= settings.join_gap * np.maximum(ah, oh)
            for j in np.flatnonzero(tried):
                other, key = everyone[j]
                if other is aside or frozenset(((False, k), key)) in seen:
                    continue
                union = _joined(aside, other)
                if union.work_box[2] <= settings.join_aspect * union.work_box[3]:
                    seen.add(frozenset(((False, k), key)))
                    pairs.append(((False, k), key, union))
        small = [m for m in marks if m.mark == MARK_SMALL]
        line_height = _median_height(judged.digit_candidates) if judged.digit_candidates else 0
        broken = [((False, k), c) for k, c in enumerate(judged.aside_candidates)
                  if judged.rejected[k].reason == REASON_NOT_A_DIGIT and not c.frame]
        for m, mark in enumerate(small):
            mx, my, mw, mh = mark.work_box
            for key, piece in [((True, i), c) for i, c in enumerate(judged.digit_candidates)] + broken:
                dx, dy, dw, dh = piece.work_box
                if not key[0]:  # a broken piece, shorter than a digit: the mark may stand above or below it
                    dh = max(dh, line_height)
                    dy = min(max(my, dy + piece.work_box[3] - dh), dy)
                reach = settings.join_mark_reach * dh
                if max(dx - (mx + mw), mx - (dx + dw)) > reach or my < dy - reach or my + mh > dy + dh + reach:
                    continue  # not right beside the piece, within a digit's height
                union = _joined(mark, piece)
                if union.work_box[2] <= settings.join_mark_aspect * union.work_box[3]:
                    pairs.append((("mark", m), key, union))
        if not pairs:
            return None
        batch, probabilities = self._answers([pair[2] for pair in pairs])
        reject = self.onnx_model.reject_index
        labels, sure = _which_digit(probabilities)
        digits, digit_candidates = list(judged.digits), list(judged.digit_candidates)
        digit_probabilities = list(judged.digit_probabilities)
        gone: set[tuple[bool | str, int]] = set()  # (is a digit, or "mark"; its index)
        for n in np.argsort(-sure):
            a, b, union = pairs[n]
            if sure[n] < settings.join_confidence:
                continue
            if reject is not None and probabilities[n, reject] >= settings.not_a_digit:
                # Two pieces, neither a digit, that read clearly as one digit joined and stand in a line of
                # digits at their height are that digit, as one such piece alone is (_rescue_in_line): a 0
                # whose faint join a smaller camera lost reads as a half digit to the model.
                if b[0] is not False or sure[n] < settings.rescue_digit_share or settings.rescue_joined < 1 or \
                        not self._in_line(to_original(union.work_box), int(labels[n]), judged.digits, settings.rescue_joined):
                    continue
            if a in gone or b in gone or self._shape_reason(union, batch[n], int(labels[n])) is not None:
                continue
            if a[0] == "mark" and b[0] and int(labels[n]) == judged.digits[b[1]].label:
                continue  # the mark changes nothing: it stays a mark (a full stop beside a 2)
            gone.update((a, b))
            digits.append(Digit(int(labels[n]), float(sure[n]), to_original(union.work_box), batch[n],
                                *_runner_up(probabilities[n])))
            digit_candidates.append(union)
            digit_probabilities.append(probabilities[n])
        if not gone:
            return None
        joined_marks = [small[m] for kind, m in gone if kind == "mark"]
        marks[:] = [mark for mark in marks if not any(mark is j for j in joined_marks)]  # part of a digit now
        return _judged_without(judged, digits, digit_candidates, digit_probabilities,
                               {i for kind, i in gone if kind is True}, {i for kind, i in gone if kind is False})

    def _faint_strokes(self, judged: Judged, to_original: Callable[[WorkBox], Box], stages: dict,
                       marks: list[Candidate]) -> Judged | None:
        """A digit written lightly in part (a pen skipping, a pencil's light pressure, a shadow or a
        gradient over half of it) breaks at the threshold the picture's strong strokes set: what is
        left reads as no digit, is a small mark, or reads as a digit of its own much shorter than its
        line's (the bottom of a 4 as a 7). Each such piece standing in a line of digits is looked at
        again with the fainter ink connected to it (finder.faint_strokes; all in one model call), and
        is the digit that reads surely, if it is one and overlaps no digit; so is the fainter ink
        beyond either end of a line (a digit written so lightly it left no piece). The chosen way's
        judged candidates with those digits, or None: none changed. (`marks`, the finder's, loses the
        marks that became digits.)"""
        settings = self.settings
        if not judged.digit_candidates:
            return None
        everyone = judged.digit_candidates + judged.aside_candidates + marks
        tries = self._faint_beside_digits(judged, stages, marks, everyone) + self._faint_at_line_ends(judged, stages, everyone)
        if not tries:
            return None
        batch, probabilities = self._answers([found for _, found in tries])
        reject = self.onnx_model.reject_index
        labels, sure = _which_digit(probabilities)
        digits, digit_candidates = list(judged.digits), list(judged.digit_candidates)
        digit_probabilities = list(judged.digit_probabilities)
        gone: set[tuple[str, int]] = set()
        for n, (key, found) in enumerate(tries):
            if sure[n] < settings.join_confidence or (reject is not None and probabilities[n, reject] >= settings.not_a_digit):
                continue
            if self._shape_reason(found, batch[n], int(labels[n])) is not None:
                continue
            own = judged.digit_candidates[key[1]] if key[0] == "digit" else None
            if any(_overlapping(found.work_box, c.work_box) for c in digit_candidates if c is not own):
                continue
            gone.add(key)
            digits.append(Digit(int(labels[n]), float(sure[n]), to_original(found.work_box), batch[n],
                                *_runner_up(probabilities[n])))
            digit_candidates.append(found)
            digit_probabilities.append(probabilities[n])
        if not gone:
            return None
        marks[:] = [mark for m, mark in enumerate(marks) if ("mark", m) not in gone]
        return _judged_without(judged, digits, digit_candidates, digit_probabilities,
                               {i for kind, i in gone if kind == "digit"}, {k for kind, k in gone if kind == "aside"})

    def _faint_beside_digits(self, judged: Judged, stages: dict, marks: list[Candidate],
                             everyone: list[Candidate]) -> list[tuple[tuple[str, int], Candidate]]:
        """(key, candidate) for each piece in a line of digits (one set aside as no digit or unsure, a
        small mark, or a digit much shorter than its line's) with the fainter ink connected to it."""
        settings = self.settings
        pieces = [(("aside", k), c) for k, c in enumerate(judged.aside_candidates)
                  if judged.rejected[k].reason in (REASON_NOT_A_DIGIT, REASON_UNSURE) and not c.frame]
        pieces += [(("mark", m), c) for m, c in enumerate(marks) if c.mark == MARK_SMALL]
        tallest = max(c.work_box[3] for c in judged.digit_candidates)
        pieces += [(("digit", i), c) for i, c in enumerate(judged.digit_candidates)
                   if c.work_box[3] < settings.faint_short * tallest]
        if not pieces:
            return []
        # Each piece's line (one matrix: a 12-row sheet has 120 digits): the digits overlapping its height,
        # near enough, and their median top, bottom and height.
        px, py, pw, ph = np.array([c.work_box for _, c in pieces], np.float64).T[:, :, None]
        dx, dy, dw, dh = np.array([c.work_box for c in judged.digit_candidates], np.float64).T[:, None, :]
        line = ((np.minimum(py + ph, dy + dh) - np.maximum(py, dy) >= settings.rescue_overlap * np.minimum(ph, dh))
                & (np.maximum(dx - (px + pw), px - (dx + dw)) <= settings.faint_line_gap * dh))
        digit_pieces = [n for n, (key, _) in enumerate(pieces) if key[0] == "digit"]
        line[digit_pieces, [pieces[n][0][1] for n in digit_pieces]] = False  # a digit is not in its own line
        in_line = line.any(axis=1)
        tall, top, bottom = (_row_medians(v, line) for v in (dh, dy, dy + dh))
        boxes = np.array([c.work_box for c in everyone], np.int64)
        tries = []
        for n, (key, piece) in enumerate(pieces):
            x, y, w, h = piece.work_box
            if not in_line[n] or key[0] == "digit" and h >= settings.faint_short * tall[n]:
                continue
            reach = int(settings.faint_reach * tall[n])
            window = (x - reach, int(min(y, top[n])) - reach, x + w + reach, int(max(y + h, bottom[n])) + reach)
            walls = [wall for j, wall in _reaching(boxes, window) if everyone[j] is not piece]
            found = faint_strokes(stages, piece, window, walls, settings)
            if found is not None and (key[0] != "digit" or found.work_box[3] >= settings.faint_grow * h):
                tries.append((key, found))
        return tries

    def _faint_at_line_ends(self, judged: Judged, stages: dict, everyone: list[Candidate]) -> list[tuple[tuple[str, int], Candidate]]:
        """(("end", n), candidate) for the fainter ink beyond either end of a line of two digits or more,
        within settings.faint_end of their spacing (centre to centre, at least their height), in a piece
        as tall as faint_short of theirs that lies within the line's height: a digit written so lightly
        (a pencil's first 1) that it left no piece."""
        settings = self.settings
        if not settings.faint_end:
            return []
        boxes = [c.work_box for c in judged.digit_candidates]
        all_boxes = np.array([c.work_box for c in everyone], np.int64).reshape(-1, 4)
        tries = []
        for line in reading_order(boxes, settings.line_overlap):
            if len(line) < 2:
                continue
            xs, ys, ws, hs = zip(*(boxes[i] for i in line))
            tall = median_of(hs)
            centres = sorted((x + w / 2, y + h / 2) for x, y, w, h in zip(xs, ys, ws, hs))
            pitch = max(tall, median_of([b[0] - a[0] for a, b in zip(centres, centres[1:])]))  # (centre to centre)
            reach, beyond = int(settings.faint_reach * tall), int(settings.faint_end * pitch)
            # (the line's middle followed beyond its ends, least squares from three digits: a slanted line)
            mean_x, mean_y = sum(c[0] for c in centres) / len(centres), sum(c[1] for c in centres) / len(centres)
            spread = sum((c[0] - mean_x) ** 2 for c in centres)
            slope = sum((c[0] - mean_x) * (c[1] - mean_y) for c in centres) / spread if len(line) >= 3 and spread else 0.0
            middle = median_of([cy - slope * cx for cx, cy in centres])
            # (clear of the end digits' own faint rims: a pixel or two beyond their boxes)
            apart = max(2, int(settings.faint_end_apart * tall))
            first, last = min(xs) - apart, max(x + w for x, w in zip(xs, ws)) + apart
            half = int(tall / 2) + reach
            for x0, x1 in ((first - beyond, first), (last, last + beyond)):
                y = int(middle + slope * (x0 + x1) / 2)
                window = (x0, y - half, x1, y + half)
                walls = [wall for _, wall in _reaching(all_boxes, window)]
                found = faint_digit(stages, window, walls, settings, int(settings.faint_short * tall),
                                    int(settings.faint_end_tall * tall))
                if found is not None:
                    tries.append((("end", len(tries)), found))
        return tries

    def _split_touching(self, judged: Judged, to_original: Callable[[WorkBox], Box]
                        ) -> tuple[list[Digit], list[Rejected]] | None:
        """Digits written touching are one candidate: the model calls it not a digit, reads it
        unsurely, or reads it surely as one digit (a "10" as 0). Recognition decides where to cut
        (recognition-driven segmentation): a wide candidate is cut at columns across its width,
        every stretch between two cuts that could be a digit is read (all stretches of a picture
        in one model call), and the candidate becomes the digits of the surest way through it in
        which every stretch is read surely (the whole, one stretch, competes when it is no wider than
        a digit); none, or the whole, and it stays as it was. A candidate read as one digit is tried
        only when it is wider than settings.split_read_aspect of its height, only in two, and only
        where both halves are clear digits: the model read it surely, and a wide 0 cut in two is
        often a sure 6 and 1. None: nothing cut."""
        settings = self.settings
        tried = [(candidate, False, index) for index, candidate in enumerate(judged.aside_candidates)
                 if candidate.work_box[2] >= settings.split_min_aspect * candidate.work_box[3]
                 and judged.rejected[index].reason != REASON_ROUND  # (a rim seen at a slant is wide: one thing, uncut)
                 and not self._rescued_whole(candidate, judged.rejected[index], judged.digits, to_original)]
        tried += [(candidate, True, index) for index, candidate in enumerate(judged.digit_candidates)
                  if candidate.work_box[2] >= settings.split_read_aspect * candidate.work_box[3]]
        pieces, plans = [], []
        known: dict[int, np.ndarray] = {}  # piece -> the model's answer, for the wholes of read candidates (judged)
        for candidate, read, index in tried:
            if candidate.work_box[2] < 4 or candidate.frame:
                continue
            stretches = _stretches(candidate, settings, pairs=read)
            if stretches:
                plans.append((candidate, read, index, [(a, b, len(pieces) + k) for k, (a, b, _) in enumerate(stretches)]))
                if read and stretches[0][:2] == (0, candidate.work_box[2]):
                    known[len(pieces)] = judged.digit_probabilities[index]
                pieces.extend(piece for _, _, piece in stretches)
        if len(known) == len(pieces):
            return None
        batch = np.zeros((len(pieces), IMAGE_SIZE, IMAGE_SIZE), np.float32)  # a whole is never one of the pieces cut
        labels, sure = np.zeros(len(pieces), int), np.zeros(len(pieces))
        readable, clear = np.zeros(len(pieces), bool), np.zeros(len(pieces), bool)
        reject = self.onnx_model.reject_index
        # Read in rounds: a stretch starting at a cut that no surely read way from the left edge reaches
        # is on no way through, and is read only once one does (a round per digit of the longest way:
        # a sheet's small marks, cut in 20-50 stretches each, read a handful).
        reached = [{0} for _ in plans]
        answered: set[int] = set()
        answers = dict(known)
        while True:
            todo = sorted({k for (_, _, _, plan), at in zip(plans, reached) for a, _, k in plan
                           if a in at and k not in answered})
            if not todo:
                break
            answered.update(todo)
            unread = [k for k in todo if k not in known]
            if unread:  # one model call a round
                batch[unread], read_now = self._answers([pieces[k] for k in unread])
                answers.update(zip(unread, read_now))
            probabilities = np.array([answers[k] for k in todo])
            labels[todo], sure[todo] = _which_digit(probabilities)
            doubt = probabilities[:, reject] if reject is not None else np.zeros(len(todo))
            readable[todo] = (sure[todo] >= settings.split_confidence) & (doubt < settings.not_a_digit)
            # To overrule the model's sure reading of the whole, each piece must be a clear digit.
            clear[todo] = readable[todo] & (sure[todo] >= settings.split_read_confidence) & (doubt < settings.split_read_not_a_digit)
            for (_, read, _, plan), at in zip(plans, reached):
                usable = clear if read else readable
                at.update(b for a, b, k in sorted(plan) if a in at and usable[k])
        found, split, split_read = [], set(), set()
        for candidate, read, index, plan in plans:
            width, usable = candidate.work_box[2], clear if read else readable
            # best[c]: (sum of log-confidences, stretches) of the surest way from column 0 to cut c.
            best: dict[int, tuple[float, list[int]]] = {0: (0.0, [])}
            for a, b, k in sorted(plan):
                if a in best and usable[k]:
                    score = best[a][0] + float(np.log(sure[k]))
                    if b not in best or score > best[b][0]:
                        best[b] = (score, best[a][1] + [k])
            path = best.get(width, (0.0, []))[1]
            if len(path) >= 2:
                found.extend(Digit(int(labels[k]), float(sure[k]), to_original(pieces[k].work_box), batch[k], cut=not read)
                             for k in path)
                (split_read if read else split).add(index)
        if not found:
            return None
        digits = [d for i, d in enumerate(judged.digits) if i not in split_read] + found
        return digits, [aside for i, aside in enumerate(judged.rejected) if i not in split]

    def _rescued_whole(self, candidate: Candidate, read: Rejected, digits: list[Digit],
                       to_original: Callable[[WorkBox], Box]) -> bool:
        """Whether a candidate set aside is no wider than a digit is written and will be rescued as the
        digit it reads clearly in its line (_rescue_in_line): then it is not cut. (A 0 whose loop the
        noise broke at its top and bottom, cut down the middle, reads as a sure 1 and 7.)"""
        x, y, w, h = candidate.work_box
        return (w < self.settings.split_whole_aspect * h and read.digit_share >= self.settings.rescue_digit_share
                and self._in_line(to_original(candidate.work_box), read.best_digit, digits))

    def _deskewed(self, candidates: list[Candidate], to_original: Callable[[WorkBox], Box]
                  ) -> tuple[Reading, float] | None:
        """A number written (or photographed) on a steep slant: its digits lie in one straight line,
        each tilted as much as the line. Each candidate is turned upright by the line's angle and all
        are read again in one model call, in order along the line: (that reading, the angle), or
        None when the candidates do not make one such line."""
        settings = self.settings
        if len(candidates) < settings.deskew_min_count:
            return None
        boxes = np.array([to_original(c.work_box) for c in candidates], np.float64)
        centres = boxes[:, :2] + boxes[:, 2:] / 2
        mean = centres.mean(axis=0)
        offsets = centres - mean
        # The slope of the centres' principal axis in closed form first (a 2x2 covariance), to pass
        # over the level lines of nearly every picture without an SVD; the SVD decides near the limits.
        # (Only where the axis is well defined: centres spread about as much every way leave it to the SVD.)
        (sxx, sxy), (_, syy) = offsets.T @ offsets
        rough = abs(float(np.degrees(0.5 * np.arctan2(2 * sxy, sxx - syy))))
        defined = np.hypot(sxx - syy, 2 * sxy) > 1e-3 * (sxx + syy)
        if defined and not settings.deskew_min_deg - 0.5 <= rough <= settings.deskew_max_deg + 0.5:
            return None
        _, _, axes = np.linalg.svd(offsets, full_matrices=False)
        direction = axes[0] if axes[0][0] >= 0 else -axes[0]
        angle = float(np.degrees(np.arctan2(direction[1], direction[0])))
        if not settings.deskew_min_deg <= abs(angle) <= settings.deskew_max_deg:
            return None
        normal = np.array([-direction[1], direction[0]])
        if np.abs(offsets @ normal).max() > settings.deskew_spread * float(np.median(boxes[:, 3])):
            return None
        upright = [replace(c, ink=turned(c.ink, angle)) for c in candidates]
        judged = self.judge(upright, to_original)
        digits, rejected = judged.digits, judged.rejected
        # In the line's own frame (along it, across it) the line is level: rescue and order there.
        scale = float(np.median(boxes[:, 3] / np.array([c.work_box[3] for c in candidates])))
        frame, original = {}, {}
        for candidate, box, centre in zip(upright, boxes.astype(int).tolist(), centres):
            h, w = (int(v * scale) for v in candidate.ink.shape)
            u, v = (centre - mean) @ direction, (centre - mean) @ normal
            level = (int(u - w / 2), int(v - h / 2), max(1, w), max(1, h))
            frame[tuple(box)], original[level] = level, tuple(box)
        digits, rejected = self._rescue_in_line([replace(d, box=frame[d.box]) for d in digits],
                                                [replace(r, box=frame[r.box]) for r in rejected])
        digits = [replace(d, box=original[d.box]) for d in sorted(digits, key=lambda d: d.box[0])]
        rejected = [replace(r, box=original[r.box]) for r in rejected]
        return Reading("".join(str(d.label) for d in digits), digits, 0.0, rejected), angle

    def _rescue_in_line(self, digits: list[Digit], rejected: list[Rejected], scan_height: int | None = None,
                        sharpened: bool | None = None) -> tuple[list[Digit], list[Rejected]]:
        """A candidate the model calls not a digit, but which reads as one digit clearly among the
        ten and stands in a line of digits at their height, is a digit: real handwriting is
        further from MNIST than the rendered non-digits are, and a number's digits share a line
        and a height, which a shadow, a pen or a blot beside the number does not. In a tiny scan
        (`scan_height`: its height) the crop is the line: someone cut it around their digits (a
        USPS scan, a cheque amount), so a mark spanning most of its height is one of them. `sharpened`:
        only the candidates read clearly sharpened (True), only the others (False), or all (None)."""
        if len(digits) < 2 and scan_height is None:
            return digits, rejected
        digits, kept = list(digits), list(rejected)
        # Until nothing more is rescued: one rescued may stand beside another set aside before it in
        # the list (a small 0 between a 1 and a 0 rescued after it: both the 0s of "20170708" turned).
        while True:
            still = []
            for aside in kept:
                if aside.reason == REASON_NOT_A_DIGIT and aside.digit_share >= self.settings.rescue_digit_share \
                        and (sharpened is None or aside.sharpened == sharpened) \
                        and (scan_height is not None and aside.box[3] >= self.settings.rescue_scan_height * scan_height
                             or self._in_line(aside.box, aside.best_digit, digits)):
                    digits.append(aside.as_digit())
                else:
                    still.append(aside)
            if len(still) == len(kept) or self.settings.rescue_passes < 2:
                return digits, still
            kept = still

    def _in_line(self, box: Box, label: int, digits: list[Digit], needed: int | None = None) -> bool:
        """Whether a mark at `box` read as `label` stands in a line of digits as a digit of its own, beside
        `needed` of them (settings.rescue_neighbours): the in-line rescue's test (_beside_count)."""
        return self._beside_count(box, digits, label in self.settings.small_digits) >= (needed or self.settings.rescue_neighbours)

    def _beside_count(self, box: Box, digits: list[Digit], small_ok: bool, small_ratio: float | None = None) -> int:
        """How many of `digits` the mark at `box` stands beside, in their line as a digit of its own: it
        overlaps the digit's height, and is about as tall; or, `small_ok` (it reads as a 0), smaller
        (down to half as tall) and standing on the line, as some hands write a 0 small: no higher than
        the digit's top, its bottom in the digit's lowest quarter (a degree sign or a raised mark is not).
        (Other digits are not taken small: a piece broken off a digit's stroke reads as a 1.) All the
        digits at once: a 12-row sheet has 120 to count for each mark set aside."""
        if not digits:
            return 0
        boxes = np.array([d.box for d in digits], np.float64)
        y, h = float(box[1]), float(box[3])
        dy, dh = boxes[:, 1], boxes[:, 3]
        overlaps = np.minimum(y + h, dy + dh) - np.maximum(y, dy) >= self.settings.rescue_overlap * np.minimum(h, dh)
        ratio = self.settings.rescue_height_ratio
        alike = (1 / ratio <= dh / h) & (dh / h <= ratio)
        small = (dh / h <= (small_ratio or self.settings.rescue_small_ratio)) & (y >= dy) & (y + h >= dy + self.settings.small_stands * dh)
        return int(np.count_nonzero(overlaps & (alike | (small & small_ok))))

    def _in_texture(self, digits: list[Digit], rejected: list[Rejected]) -> tuple[list[Digit], list[Rejected]]:
        """A camera pointed at a textured surface (a carpet, concrete, fabric, wood) sees hundreds of
        blobs; the model calls nearly all of them not a digit, and a few read as digits. Such a digit
        stands among pieces read as no digit: settings.texture_pieces or more of them round it (at
        least texture_height of its height, their centres within texture_reach of its heights), one of
        them beside it and one above or below it, and no digit beside it in its line. It is set aside
        as `texture`. A written digit's neighbours are other digits: on the shared photos under every
        change and on renders (9,258 digits) none had more than two such pieces round it (in rendered
        textures 63 of 79 digits had three or more); a number between printed lines, after a word,
        has digits beside its digits.
        A picture of blobs (settings.texture_scene or more pieces read as no digit, texture_scene_ratio
        times its digits or more) is a textured surface, and all its digits are set aside: the blobs
        that read as digits stand side by side there too ("88"). The shared photos, under every change
        and at x0.35-x2, and renders had at most 8 pieces read as no digit in a picture; textures 58-287."""
        settings = self.settings
        blobs = np.array([r.box for r in rejected if r.reason == REASON_NOT_A_DIGIT], np.float64).reshape(-1, 4)
        if len(blobs) < settings.texture_pieces or not digits:
            return digits, rejected
        if self._textured(len(blobs), len(digits)):
            return [], rejected + [Rejected(d.label, d.confidence, d.box, REASON_TEXTURE, d.image) for d in digits]
        boxes = np.array([d.box for d in digits], np.float64)

        def around(box, others: np.ndarray) -> tuple[int, bool, bool]:
            """How many of `others` about its size are close round it; whether one is beside it, level
            with it (within settings.texture_side_slack of its height), and whether one is above or below
            it likewise (a piece off a corner is neither: a printed line's letters above a number)."""
            x, y, w, h = box
            reach = settings.texture_reach * h
            cx, cy = others[:, 0] + others[:, 2] / 2, others[:, 1] + others[:, 3] / 2
            near = ((cx >= x - reach) & (cx <= x + w + reach) & (cy >= y - reach) & (cy <= y + h + reach)
                    & (others[:, 3] >= settings.texture_height * h))
            out_x, out_y = np.maximum(x - cx, cx - (x + w)), np.maximum(y - cy, cy - (y + h))
            slack = settings.texture_side_slack * h
            return (int(np.count_nonzero(near)), bool(np.any(near & (out_y <= slack) & (out_x > 0))),
                    bool(np.any(near & (out_x <= slack) & (out_y > 0))))

        kept, textured = [], []
        for digit in digits:
            pieces, beside, over = around(digit.box, blobs)
            _, digit_beside, _ = around(digit.box, boxes)
            # Among blobs beside it and above or below it, with no digit beside it in its line.
            blob = pieces >= settings.texture_pieces and beside and over and not digit_beside
            (textured if blob else kept).append(digit)
        if not textured:
            return digits, rejected
        return kept, rejected + [Rejected(d.label, d.confidence, d.box, REASON_TEXTURE, d.image) for d in textured]

    def _textured(self, blobs: int, digits: int) -> bool:
        """Whether a picture with `blobs` pieces read as no digit and `digits` digits is a textured surface."""
        return blobs >= self.settings.texture_scene and blobs >= self.settings.texture_scene_ratio * digits

    def _repeated(self, digits: list[Digit], rejected: list[Rejected], lines: list[list[int]]) -> set[int]:
        """Which digits are one of a column of the same mark: a digit alone in its line with at least
        settings.repeat_count - 1 others in its column (centres within settings.repeat_column of its
        width), each about its height (within settings.repeat_size; a 1: its width), each a digit read as
        the same one alone in its line or a mark read as no digit. A spiral binding's loops, punched
        holes or a printed pattern down a page's side repeat one mark, which the model reads now as a
        0, now as no digit; a straight line down the page cut into pieces reads as 1s one above the
        other. A hand writing one digit per line writes other digits, and its 1s wander: a column of
        1s alone, none read as no digit, is a line only when their centres lie on one straight line
        (to settings.repeat_line_wander of their width, of 5 px at least): a notebook's margin cut where the
        ruled lines cross it. (Written 1s, six in a column: 5-13 px, 0.36-1.16 of their width off the
        straightest line through them.)"""
        settings = self.settings
        alone = [line[0] for line in lines if len(line) == 1]
        if not alone:
            return set()
        no_digits = [r.box for r in rejected if r.reason == REASON_NOT_A_DIGIT]
        if len(no_digits) + len(alone) < settings.repeat_count:
            return set()
        boxes = np.array(no_digits + [digits[i].box for i in alone], np.float64)
        labels = np.array([-1] * len(no_digits) + [digits[i].label for i in alone])  # -1: read as no digit
        centres, middles = boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2
        found = set()
        for i in alone:
            x, y, w, h = digits[i].box
            # Of one size; the pieces of one straight line (a notebook's margin cut where the ruled
            # lines cross it, or by a shadow), read as 1s, are of one width and any length. A page
            # photographed turned turns its margin: 1s are looked for along a slant too (and must
            # then lie on one straight line).
            size = boxes[:, 2] / w if digits[i].label == 1 else boxes[:, 3] / h
            slant = settings.repeat_tilt * np.abs(middles - (y + h / 2)) if digits[i].label == 1 else 0.0
            column = ((np.abs(centres - (x + w / 2)) <= settings.repeat_column * w + slant)
                      & (np.abs(size - 1) <= settings.repeat_size)
                      & ((labels == -1) | (labels == digits[i].label)))
            if np.count_nonzero(column) < settings.repeat_count:  # (itself among them)
                continue
            if np.count_nonzero(column & (labels == -1)) >= settings.repeat_no_digit or (
                    digits[i].label == 1 and _one_straight_line(boxes[column], settings.repeat_line_wander)):
                found.add(i)
        return found

    def _letters_in_words(self, digits: list[Digit], rejected: list[Rejected]) -> tuple[list[Digit], list[Rejected]]:
        """1 and 0 are also the letters l, I, o and O. In a word (marks in one line with no wider
        gap between them than settings.word_gap of their height) that holds a mark the model calls
        not a digit, and no digit but 1s and 0s, those are letters: "hello" is not 110. A number
        beside a word ("No 10") is a word of its own; a digit that is no letter ("No5") is kept. A
        word between two words with such digits is inside a number, and its 1s and 0s are digits
        beside a mark that is none (a cross-out, a sign: "41x07" is 4107, not 47). Digits cut from a
        mark set aside (_split_touching) do not make a word a number: a letter cut in two reads as
        two digits (a printed "e" as 1 and 3)."""
        letters = [r for r in rejected if r.reason == REASON_NOT_A_DIGIT]
        if not letters or not any(d.label in self.settings.letter_like for d in digits):
            return digits, rejected
        boxes = [d.box for d in digits] + [r.box for r in letters]
        in_words: set[int] = set()
        for line in reading_order(boxes, self.settings.line_overlap):
            gap = self.settings.word_gap * median_of([boxes[i][3] for i in line])
            words, right = [], -np.inf  # right: where the word so far ends
            for i in line:
                x, _, w, _ = boxes[i]
                if x - right > gap:
                    words.append([])
                words[-1].append(i)
                right = max(right, x + w)
            marks = [[i for i in word if i < len(digits)] for word in words]
            # A word with a digit that is no letter (a 4, a 7) is part of a number; not one cut from a
            # mark set aside (a printed "e" cut in two reads as a 1 and a 3: "hello" read "13110").
            numeric = [any(digits[i].label not in self.settings.letter_like and not digits[i].cut for i in m) for m in marks]
            for k, word in enumerate(words):
                inside_a_number = 0 < k < len(words) - 1 and numeric[k - 1] and numeric[k + 1]
                if len(marks[k]) < len(word) and not numeric[k] and not inside_a_number:
                    in_words.update(marks[k])
        if not in_words:
            return digits, rejected
        as_letters = [Rejected(digits[i].label, digits[i].confidence, digits[i].box, REASON_LETTER, digits[i].image)
                      for i in sorted(in_words)]
        return [d for i, d in enumerate(digits) if i not in in_words], rejected + as_letters


def _which_digit(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(best digit, its share of the ten digits' probability) per row of the model's answers. Whether
    a candidate is a digit is the reject output's answer; which digit, the ten's: a clear 5 the model
    half doubts is a digit at all is not also unsure which digit it is."""
    digit_probs = probabilities[:, :10]
    labels = digit_probs.argmax(axis=1)
    return labels, digit_probs[np.arange(len(labels)), labels] / np.maximum(digit_probs.sum(axis=1), 1e-12)


def _as_chosen(trace: list[dict] | None, reading: Reading) -> Reading:
    """`reading`, also put in the trace's chosen entry (the chosen way's reading after joining,
    cutting or the writer's hand changed it)."""
    for entry in trace or []:
        if entry["chosen"]:
            entry["reading"] = reading
    return reading


def _judged_without(judged: Judged, digits: list[Digit], digit_candidates: list[Candidate],
                    digit_probabilities: list[np.ndarray], gone_digits: set[int], gone_aside: set[int]) -> Judged:
    """`judged` with its digits grown to `digits` (and their candidates and answers: the new ones
    appended), less the digits and set-aside candidates, by index, that went into the new ones."""
    keep = [i for i in range(len(digits)) if i not in gone_digits]
    return Judged([digits[i] for i in keep],
                  [r for k, r in enumerate(judged.rejected) if k not in gone_aside],
                  [c for k, c in enumerate(judged.aside_candidates) if k not in gone_aside],
                  [digit_candidates[i] for i in keep], [digit_probabilities[i] for i in keep])


def _row_medians(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The median of each row of `values` (broadcast to `mask`) where `mask` is set (inf in a row with
    none): np.nanmedian's values without its cost (1.4 ms for a 12-row sheet's 120 digits)."""
    count = mask.sum(axis=1)
    ordered = np.sort(np.where(mask, values, np.inf), axis=1)
    rows = np.arange(len(mask))
    return (ordered[rows, np.maximum(count - 1, 0) // 2] + ordered[rows, count // 2]) / 2


def _overlapping(a: WorkBox, b: WorkBox, share: float = 0.3) -> bool:
    """Whether two boxes overlap by more than `share` of the smaller's width and of its height."""
    return (min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]) > share * min(a[2], b[2])
            and min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]) > share * min(a[3], b[3]))


def _joined(a: Candidate, b: Candidate) -> Candidate:
    """One candidate of two: their boxes' union, each one's ink in it."""
    ax, ay, aw, ah = a.work_box
    bx, by, bw, bh = b.work_box
    x0, y0 = min(ax, bx), min(ay, by)
    ink = np.zeros((max(ay + ah, by + bh) - y0, max(ax + aw, bx + bw) - x0), np.float32)
    for c in (a, b):
        cx, cy, cw, ch = c.work_box
        region = ink[cy - y0 : cy - y0 + ch, cx - x0 : cx - x0 + cw]
        np.maximum(region, c.ink, out=region)
    return Candidate((x0, y0, ink.shape[1], ink.shape[0]), ink)


def _runner_up(probabilities: np.ndarray) -> tuple[int, float]:
    """The second likeliest digit in one model answer, and its share of the ten digits' probability."""
    ten = probabilities[:10] / max(float(probabilities[:10].sum()), 1e-12)
    second = int(np.argsort(ten)[-2])
    return second, float(ten[second])


def _likeness(a: np.ndarray, b: np.ndarray) -> float:
    """How alike two 28x28 model inputs are as handwriting: the cosine of their strokes' directions,
    counted per 7x7 cell (a histogram of oriented gradients; 1 for the same strokes in the same places)."""
    return float(_unit(_stroke_directions(a)) @ _unit(_stroke_directions(b)))


def _without(items: list, gone: list) -> list:
    """`items` but those in `gone`, by identity (a Rejected holds arrays: == cannot compare them)."""
    ids = {id(g) for g in gone}
    return [item for item in items if id(item) not in ids]


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


def _stroke_directions(image28: np.ndarray, bins: int = 8, cell: int = 7) -> np.ndarray:
    """Per cell of `cell` pixels, the gradient's strength in each of `bins` directions (0-180 degrees)."""
    soft = cv2.GaussianBlur(image28.astype(np.float32), (0, 0), 0.8)
    gx, gy = cv2.Sobel(soft, cv2.CV_32F, 1, 0), cv2.Sobel(soft, cv2.CV_32F, 0, 1)
    direction = np.minimum((np.mod(np.arctan2(gy, gx), np.pi) / np.pi * bins).astype(np.int64), bins - 1)
    cells = np.indices(soft.shape) // cell
    n = -(-soft.shape[0] // cell)
    index = (cells[0] * n + cells[1]) * bins + direction
    return np.bincount(index.ravel(), weights=np.hypot(gx, gy).ravel(), minlength=n * n * bins)


def _median_height(candidates: list[Candidate]) -> int:
    heights = sorted(c.work_box[3] for c in candidates)
    return heights[len(heights) // 2]


def _stroke_width(candidates: list[Candidate], most: int = 15) -> float:
    """The median width in pixels of the candidates' strokes (of at most `most` of them, spread over
    the list): ink area over half its outline's length, which for a stroke of width w and length L
    is w L / (L + w) ~ w."""
    step = max(1, len(candidates) // most)
    widths = []
    for candidate in candidates[::step][:most]:
        mask = (candidate.ink > 0).astype(np.uint8)
        outlines, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        outline = sum(cv2.arcLength(o, True) for o in outlines)
        widths.append(float(mask.sum()) / max(outline / 2, 1.0))
    return median_of(widths) if widths else 0.0


def _hull_fill(ink: np.ndarray) -> float:
    """How much of its convex hull a candidate's ink (over half its strongest, at the working size,
    where a hole is not yet blurred shut) fills: an ink blot fills nearly all of it (0.965-0.99 for the
    blots the model reads as 0, whose widest stroke can be as little as 0.44 of their size, under
    `_solid`'s 0.75); a 0 leaves its hole, or its opening, empty."""
    mask = (ink > 0.5 * float(ink.max())).astype(np.uint8)
    points = cv2.findNonZero(mask)
    if points is None or len(points) < 3:
        return 0.0
    hull = np.zeros_like(mask)
    cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
    return float(np.count_nonzero(mask)) / max(1, np.count_nonzero(hull))


def _solid(image28: np.ndarray) -> float:
    """How solid the model's input is: the widest stroke (twice the largest distance from ink to
    paper) over the ink's longer side. A filled disc is 1; MNIST's boldest digits reach 0.6."""
    ink = (image28 > 0.5).astype(np.uint8)
    _, _, w, h = cv2.boundingRect(ink)
    if w == 0:
        return 0.0
    inside = cv2.distanceTransform(cv2.copyMakeBorder(ink, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0), cv2.DIST_L2, 5)
    return 2 * cv2.minMaxLoc(inside)[1] / max(w, h)


def _one_straight_line(boxes: np.ndarray, wander: float) -> bool:
    """Whether boxes (x, y, w, h) one above the other have their centres on one straight line, none
    more than `wander` of their median width (counted as 5 px at least) off it: the pieces of one
    drawn line."""
    x, y = boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2
    if np.ptp(y) <= 0:
        return False
    off = np.abs(x - np.polyval(np.polyfit(y, x, 1), y))
    return float(off.max()) <= wander * max(float(np.median(boxes[:, 2])), 5.0)


def _repeats(ink: np.ndarray, settings: FinderSettings) -> bool:
    """Whether one piece of ink is the same mark over and over along its length: a spiral binding's
    loops joined by the sheet's edge, which reads as one tall 1. Its ink, row by row along its
    longer side (smoothed over 3), rises and falls settings.repeat_count + 1 times or more, at even
    steps (at least repeat_count steps, and two thirds of them, within settings.repeat_spread of their
    median; the ends may differ, where the piece meets the page's edge or a margin). No digit does:
    MNIST's 10,000 test digits, at 28, 60 and 120 px, rise and fall 5 times at most, never evenly 6.
    (About 9 us a candidate: most stop at counting the rises.)"""
    need = settings.repeat_count + 1
    profile = ink.sum(axis=1 if ink.shape[0] >= ink.shape[1] else 0)
    if profile.size < 2 * need + 2:
        return False
    smooth = profile[:-2] + profile[1:-1] + profile[2:]
    high = smooth > (float(smooth.min()) + float(smooth.max())) / 2
    if np.count_nonzero(high[1:] != high[:-1]) < 2 * need - 2:
        return False
    edges = np.flatnonzero(np.diff(np.r_[0, high.astype(np.int8), 0]))
    starts, ends = edges[::2], edges[1::2]
    if len(starts) < need:
        return False
    steps = np.diff((starts + ends) / 2)
    median = float(np.median(steps))
    return np.count_nonzero(np.abs(steps - median) <= settings.repeat_spread * median) >= max(settings.repeat_count,
                                                                                              2 * len(steps) / 3)


def _off_ellipse(ink: np.ndarray, least_aspect: float, side: int = 112) -> float:
    """How far a candidate's ink (at the working size, enlarged to at least `side` pixels on its
    longer side) lies from one thin ellipse: an ellipse fitted to all its pixels over 0.3 of the
    strongest, then the spread of their distance from its centre over that distance, once the
    ellipse is stretched back into a circle. A rim's thin exact ellipse spreads 0.02-0.05; a hand's
    0 wobbles and its stroke is wider for its size (the 0s read on the real photos: at least 0.055;
    on our renders: 0.088). inf for an ellipse narrower than `least_aspect` (minor over major axis;
    a circle seen at a slant of 60 degrees is 0.5)."""
    grow = side / max(ink.shape)
    big = cv2.resize(ink, None, fx=grow, fy=grow, interpolation=cv2.INTER_CUBIC) if grow > 1 else ink
    ys, xs = np.nonzero(big > 0.3 * float(big.max()))
    if len(xs) < 6:
        return np.inf
    points = np.stack([xs, ys], axis=1).astype(np.float32)
    (cx, cy), axes, angle = cv2.fitEllipse(points)
    if min(axes) <= 0 or min(axes) < least_aspect * max(axes):
        return np.inf
    turn = np.radians(angle)
    dx, dy = points[:, 0] - cx, points[:, 1] - cy
    radii = np.hypot((dx * np.cos(turn) + dy * np.sin(turn)) / (axes[0] / 2), (dy * np.cos(turn) - dx * np.sin(turn)) / (axes[1] / 2))
    return float(radii.std() / radii.mean())


def _roundness(image28: np.ndarray) -> float:
    """How far the ink's outline is from a circle: the spread of its distance from its centre, over
    that distance (0 for a circle drawn with a compass or a cup's rim; a hand's 0 wobbles and is
    taller than wide). Measured at 4x the model's input, where a pixel's step is small."""
    big = cv2.resize(image28.astype(np.float32), None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    mask = (big > 0.5 * float(big.max())).astype(np.uint8)
    outlines, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not outlines:
        return np.inf
    outline = max(outlines, key=cv2.contourArea)[:, 0, :].astype(np.float32)
    moments = cv2.moments(outline)
    if moments["m00"] <= 0:
        return np.inf
    radii = np.hypot(outline[:, 0] - moments["m10"] / moments["m00"], outline[:, 1] - moments["m01"] / moments["m00"])
    return float(radii.std() / radii.mean())


def _stretches(candidate: Candidate, settings: FinderSettings, pairs: bool = False) -> list[tuple[int, int, Candidate]]:
    """(from column, to column, the ink between them trimmed) for every stretch of the candidate
    between two cuts that could hold one digit. Cuts: the edges, the columns where the ink is thinnest
    (local minima of its column sums) and evenly spaced columns (a touching stroke is not always the
    thinnest place), at most settings.split_cuts of them. `pairs`: only the whole and the stretches
    from an edge to a cut near the middle, the two digits of a pair read as one (a fraction of the
    model calls on a sheet)."""
    ink = candidate.ink
    h, w = ink.shape
    profile = np.convolve(ink.sum(axis=0), np.ones(3) / 3, mode="same")
    # A cut goes only where little ink is: where two digits touch, not through a digit's strokes.
    thin = profile <= settings.split_cut_ink * profile.max()
    minima = [c for c in range(1, w - 1) if thin[c] and profile[c] <= profile[c - 1] and profile[c] <= profile[c + 1]]
    minima = sorted(minima, key=lambda c: profile[c])[: settings.split_cuts // 2]
    step = max(1, w // (settings.split_cuts // 2 + 1))
    cuts = sorted({0, w, *minima, *(c for c in range(step, w - step // 2, step) if thin[c])})
    if pairs:  # where two digits side by side meet: not near either end
        middle = [c for c in cuts if settings.split_pair_middle * w <= c <= (1 - settings.split_pair_middle) * w]
        spans = [(0, w), *((0, c) for c in middle), *((c, w) for c in middle)]
    else:
        spans = [(a, b) for i, a in enumerate(cuts) for b in cuts[i + 1 :]]
    x, y = candidate.work_box[:2]
    found = []
    inked = ink > 0
    columns_inked = inked.any(axis=0)
    inked_before = np.zeros((h, w + 1), np.int32)  # per row, the inked pixels left of each column
    np.cumsum(inked, axis=1, out=inked_before[:, 1:])
    for a, b in spans:
        if not settings.split_min_width * h <= b - a <= settings.split_max_width * h:
            continue
        part = ink[:, a:b]
        rows, cols = np.flatnonzero(inked_before[:, b] != inked_before[:, a]), np.flatnonzero(columns_inked[a:b])
        if not len(rows) or rows[-1] - rows[0] + 1 < settings.split_min_height * h:
            continue
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        found.append((a, b, Candidate((x + a + int(c0), y + int(r0), int(c1 - c0), int(r1 - r0)), part[r0:r1, c0:c1])))
    if pairs:  # a half is read only where the other half at its cut can be a digit too
        lefts, rights = {b for a, b, _ in found if a == 0}, {a for a, b, _ in found if b == w}
        found = [(a, b, piece) for a, b, piece in found if (a, b) == (0, w) or (b in rights if a == 0 else a in lefts)]
    return found


def paper_around(grey: np.ndarray, margin: int) -> np.ndarray:
    """`grey` surrounded by `margin` pixels of its own paper: each edge's paper carried straight
    outward, so light falling off towards a corner or a side goes on falling off beyond it (one
    paper grey all round would put a step at that edge, which the finder's paper estimate takes
    for ink). An edge's paper is the running median along it over the picture's short side:
    strokes reaching the edge are shorter than that and leave it."""
    h, w = grey.shape
    window = min(255, min(h, w)) | 1
    border = grey.copy()
    for line in (border[0], border[-1], border[:, 0], border[:, -1]):
        line[:] = cv2.medianBlur(np.ascontiguousarray(line).reshape(1, -1), window).ravel()
    padded = cv2.copyMakeBorder(border, margin, margin, margin, margin, cv2.BORDER_REPLICATE)
    padded[margin : margin + h, margin : margin + w] = grey
    return padded


def turned(image: np.ndarray, angle: float, border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """`image` turned by `angle` degrees (counter-clockwise on the screen, as cv2 turns), on a canvas
    large enough to hold all of it; `border` fills the corners (cv2's border modes)."""
    h, w = image.shape[:2]
    cos, sin = abs(np.cos(np.radians(angle))), abs(np.sin(np.radians(angle)))
    size = (int(np.ceil(w * cos + h * sin)) + 2, int(np.ceil(w * sin + h * cos)) + 2)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    matrix[:, 2] += (size[0] / 2 - w / 2, size[1] / 2 - h / 2)
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=border)


def _reaching(boxes: np.ndarray, window: tuple[int, int, int, int]) -> list[tuple[int, WorkBox]]:
    """(index, box as Python ints) of each of `boxes` (rows x, y, w, h) that reaches into `window`
    (x0, y0, x1, y1)."""
    bx, by, bw, bh = boxes.T
    inside = (bx < window[2]) & (bx + bw > window[0]) & (by < window[3]) & (by + bh > window[1])
    return [(int(j), tuple(boxes[j].tolist())) for j in np.flatnonzero(inside)]


def _mapping(shape: tuple[int, int], scale: float, offset: float) -> Callable[[WorkBox], Box]:
    """Working-image boxes -> the picture's pixels (`offset`: padding, in original pixels),
    clipped to the picture (a close-up's box may reach into the padding)."""
    height, width = shape

    def to_original(box: WorkBox) -> Box:
        x, y, w, h = map(int, box)  # (numpy's scalars are 6x slower to compute with; a sheet maps hundreds)
        x0, y0 = max(0, round(x / scale - offset)), max(0, round(y / scale - offset))
        x1 = min(width, round((x + w) / scale - offset))
        y1 = min(height, round((y + h) / scale - offset))
        return (x0, y0, max(1, x1 - x0), max(1, y1 - y0))

    return to_original
