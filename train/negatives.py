"""Things that are not digits, drawn as the reader would hand them to the model.

The reader cuts candidates out of a photo and normalises each one as MNIST did; a shadow,
a pen, a ruled line or a word arrives at the model the same way. So each negative here is
drawn on a small canvas as ink (bright on black) and passed through the edge's own
`normalize_digit`: the model learns "not a digit" (the reject class) from exactly what
the edge will show it. Nothing is read from disk; a seed and a `NegativeStyle` fix the set,
and the benchmark uses another seed and other style settings than training.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import cv2
import numpy as np

from digits.edge.normalize import normalize_digit

# Letters that cannot pass for a digit in any common hand (no l/I/O/o/S/s/Z/z/B/g/q/b/G/J/T/y).
LETTERS = "acefhkmnprtuvwxACEFHKLMNPRUVWXY#%&@*"
WORD_LETTERS = "abcdefghijklmnopqrstuvwxyz"
HERSHEY_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
                 cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
                 cv2.FONT_HERSHEY_SCRIPT_COMPLEX)


@dataclass(frozen=True)
class NegativeStyle:
    """The generator's settings; the benchmark set uses other values than training."""

    canvas: int = 64  # pixels on the longer side of the drawing
    stroke: tuple[int, int] = (1, 5)  # pen width range, canvas pixels
    pen_width: tuple[float, float] = (0.18, 0.35)  # a pen's (or a clip's) width over its length
    italic_p: float = 0.3
    fonts: tuple[int, ...] = HERSHEY_FONTS
    # Relative frequency of each kind (the keys of KINDS).
    weights: tuple[tuple[str, float], ...] = (
        ("texture", 1.0), ("shadow", 1.0), ("lines", 1.0), ("blob", 1.0), ("pen", 1.0), ("clip", 0.7),
        ("face", 0.5), ("ring", 0.7), ("letter", 1.5), ("word", 1.0), ("scribble", 1.0),
        ("half_digit", 0.5), ("two_digits", 0.8),
    )


TRAIN_STYLE = NegativeStyle()
# The mixes of kinds a training run can draw (--negative-mix). "hard": the kinds a model learns slowly
# (pens, clips, faces, scribbles, letters, grids, two digits) more often, the ones it learns at once
# (texture, blots, rings, shadows) less, half digits rarely (many halves of a digit still look like one).
NEGATIVE_MIXES: dict[str, tuple[tuple[str, float], ...]] = {
    "default": TRAIN_STYLE.weights,
    "hard": (("texture", 0.5), ("shadow", 0.8), ("lines", 1.2), ("blob", 0.6), ("pen", 1.5), ("clip", 1.5),
             ("face", 1.2), ("ring", 0.6), ("letter", 1.5), ("word", 0.8), ("scribble", 1.5),
             ("half_digit", 0.6), ("two_digits", 1.2)),
    # The default kinds and the signs written among numbers (+, =, -, divide, <, >, $): a model that
    # never saw them reads a + as 7. Not in the default mix: the shipped model was trained without them.
    "signs": TRAIN_STYLE.weights + (("symbol", 0.8),),
}
# "hard" and the signs: every kind of the benchmark set, the slow ones more often.
NEGATIVE_MIXES["hard-signs"] = NEGATIVE_MIXES["hard"] + (("symbol", 1.2),)


def training_style(mix: str = "default") -> NegativeStyle:
    """The training style with the kinds drawn as `mix` (a key of NEGATIVE_MIXES) says."""
    return replace(TRAIN_STYLE, weights=NEGATIVE_MIXES[mix])


# The benchmark set: another canvas size, thicker and thinner strokes, other pen proportions,
# more italics, and every kind equally often.
BENCH_STYLE = NegativeStyle(canvas=80, stroke=(1, 7), pen_width=(0.16, 0.4), italic_p=0.5,
                            weights=tuple((k, 1.0) for k, _ in NEGATIVE_MIXES["signs"]))


def _ink(canvas: np.ndarray) -> np.ndarray:
    return np.clip(canvas, 0, 1).astype(np.float32)


def _texture(rng, s, style, digits):
    """Paper or desk texture that rose above the noise floor: blotchy, low-contrast speckle."""
    cells = int(rng.integers(3, 12))
    noise = cv2.resize(rng.normal(size=(cells, cells)).astype(np.float32), (s, s), interpolation=cv2.INTER_CUBIC)
    noise += 0.4 * rng.normal(size=(s, s)).astype(np.float32)
    threshold = np.quantile(noise, rng.uniform(0.55, 0.9))
    return _ink((noise - threshold) * rng.uniform(0.5, 3.0))


def _shadow(rng, s, style, digits):
    """A shadow's edge: a filled half-plane (or a corner) with a soft or hard border."""
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    d = (xx - s / 2) * np.cos(angle) + (yy - s / 2) * np.sin(angle) - rng.uniform(-0.3, 0.3) * s
    if rng.random() < 0.4:  # a corner: two edges
        angle2 = angle + rng.uniform(0.6, 2.0)
        d = np.minimum(d, (xx - s / 2) * np.cos(angle2) + (yy - s / 2) * np.sin(angle2))
    softness = rng.uniform(0.5, 0.3 * s)
    strength = rng.uniform(0.3, 1.0)
    return _ink(d / softness * strength)


def _lines(rng, s, style, digits):
    """Ruled or squared paper: parallel lines, sometimes a grid, slightly rotated."""
    canvas = np.zeros((s, s), np.float32)
    spacing = rng.uniform(0.12, 0.45) * s
    width = int(rng.integers(1, max(2, style.stroke[1] // 2 + 1)))
    value = rng.uniform(0.4, 1.0)
    offset = rng.uniform(0, spacing)
    for pos in np.arange(offset, s, spacing):
        cv2.line(canvas, (0, int(pos)), (s - 1, int(pos)), value, width)
        if rng.random() < 0.4:
            cv2.line(canvas, (int(pos), 0), (int(pos), s - 1), value, width)
    rotation = cv2.getRotationMatrix2D((s / 2, s / 2), rng.uniform(-15, 15) + (90 if rng.random() < 0.3 else 0), 1.0)
    canvas = cv2.warpAffine(canvas, rotation, (s, s))
    # The reader sees a piece of the page: keep a random window of it.
    # ...with at least two lines in it (one straight line alone is a 1).
    least = min(s, int(2.3 * spacing))
    h, w = (int(rng.uniform(least, s + 1)) for _ in range(2))
    y0, x0 = int(rng.integers(0, s - h + 1)), int(rng.integers(0, s - w + 1))
    return _ink(canvas[y0 : y0 + h, x0 : x0 + w])


def _blob(rng, s, style, digits):
    """An ink blotch or a smudge: a filled irregular shape, sometimes with splatter."""
    canvas = np.zeros((s, s), np.float32)
    n = int(rng.integers(5, 13))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = rng.uniform(0.15, 0.45, n) * s
    aspect = rng.uniform(0.4, 1.0)
    points = np.stack([s / 2 + radii * np.cos(angles), s / 2 + aspect * radii * np.sin(angles)], 1).astype(np.int32)
    cv2.fillPoly(canvas, [points], rng.uniform(0.5, 1.0))
    for _ in range(int(rng.integers(0, 6))):
        centre = tuple(int(v) for v in rng.uniform(0, s, 2))
        cv2.circle(canvas, centre, int(rng.integers(1, max(2, s // 12))), rng.uniform(0.5, 1.0), -1)
    return _ink(cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.5, 2.0)))


def _rotated(canvas: np.ndarray, rng) -> np.ndarray:
    s = canvas.shape[0]
    rotation = cv2.getRotationMatrix2D((s / 2, s / 2), rng.uniform(0, 360), 1.0)
    return cv2.warpAffine(canvas, rotation, (s, s))


def _pen(rng, s, style, digits):
    """A pen or a pencil lying on the page: a long solid bar with a tapered tip and a clip."""
    canvas = np.zeros((s, s), np.float32)
    length = rng.uniform(0.6, 0.95) * s
    width = max(3.0, length * rng.uniform(*style.pen_width))
    x0, y0 = (s - length) / 2, s / 2 - width / 2
    body_end = x0 + length * rng.uniform(0.75, 0.9)
    value = rng.uniform(0.6, 1.0)
    cv2.rectangle(canvas, (int(x0), int(y0)), (int(body_end), int(y0 + width)), value, -1)
    tip = np.array([[body_end, y0], [x0 + length, s / 2], [body_end, y0 + width]], np.int32)
    cv2.fillPoly(canvas, [tip], value * rng.uniform(0.6, 1.0))
    if rng.random() < 0.6:  # the clip: a thinner bar along the body, a gap between
        cv2.rectangle(canvas, (int(x0 + 0.05 * length), int(y0 - 0.4 * width)),
                      (int(x0 + 0.4 * length), int(y0 - 0.15 * width)), value, -1)
    if rng.random() < 0.4:  # a highlight along the body: the reader sees two parallel bars
        cv2.line(canvas, (int(x0), int(s / 2)), (int(body_end), int(s / 2)), 0.0, max(1, int(width / 4)))
    return _ink(_rotated(canvas, rng))


def _clip(rng, s, style, digits):
    """A paper clip: nested open loops of thin wire."""
    canvas = np.zeros((s, s), np.float32)
    length, width = rng.uniform(0.6, 0.9) * s, rng.uniform(0.2, 0.35) * s
    thickness = int(rng.integers(*style.stroke)) if style.stroke[1] > style.stroke[0] else style.stroke[0]
    cx, cy = s / 2, s / 2
    points = []
    for k, (l, w) in enumerate(((length, width), (length * 0.8, width * 0.65), (length * 0.6, width * 0.35))):
        r = w / 2
        left = cx - length / 2 + (0 if k != 1 else length * 0.2)
        arc_x = left + l - r if k % 2 == 0 else left + r
        start, stop = (-90, 90) if k % 2 == 0 else (90, 270)
        arc = [(arc_x + r * np.cos(np.radians(a)), cy + r * np.sin(np.radians(a))) for a in np.linspace(start, stop, 12)]
        points.extend(arc)
    cv2.polylines(canvas, [np.array(points, np.int32)], False, rng.uniform(0.6, 1.0), max(1, thickness))
    return _ink(_rotated(canvas, rng))


def _face(rng, s, style, digits):
    """A doodled face (or a face in the picture): an outline with eyes and a mouth."""
    canvas = np.zeros((s, s), np.float32)
    t = max(1, int(rng.integers(*style.stroke)))
    value = rng.uniform(0.6, 1.0)
    r = int(rng.uniform(0.3, 0.45) * s)
    c = (s // 2, s // 2)
    cv2.ellipse(canvas, c, (r, int(r * rng.uniform(0.9, 1.25))), 0, 0, 360, value, t)
    e = max(1, r // 6)
    cv2.circle(canvas, (c[0] - r // 3, c[1] - r // 4), e, value, -1)
    cv2.circle(canvas, (c[0] + r // 3, c[1] - r // 4), e, value, -1)
    cv2.ellipse(canvas, (c[0], c[1] + r // 5), (r // 2, r // 3), 0, 20, 160, value, t)
    if rng.random() < 0.3:
        cv2.line(canvas, (c[0], c[1] - r // 8), (c[0], c[1] + r // 8), value, t)
    return _ink(_rotated(canvas, rng))


def _ring(rng, s, style, digits):
    """A coffee ring: a near-circular rim of uneven width, a faint stain inside, often open."""
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    r = rng.uniform(0.3, 0.46) * s
    aspect = rng.uniform(0.85, 1.0)
    dx, dy = xx - s / 2, (yy - s / 2) / aspect
    dist = np.hypot(dx, dy)
    theta = np.arctan2(dy, dx)
    width = rng.uniform(0.01, 0.06) * s * (1 + 0.8 * np.sin(theta * int(rng.integers(1, 4)) + rng.uniform(0, 6)))
    rim = np.exp(-((dist - r) / np.maximum(width, 0.5)) ** 2)
    gap = rng.uniform(0, 1.5)
    rim *= np.where(np.abs(((theta - rng.uniform(-np.pi, np.pi)) + np.pi) % (2 * np.pi) - np.pi) < gap / 2, 0.0, 1.0)
    stain = (dist < r) * rng.uniform(0.0, 0.35)
    return _ink(np.maximum(rim * rng.uniform(0.5, 1.0), stain))


def _put_text(rng, text, style, s):
    font = style.fonts[int(rng.integers(len(style.fonts)))]
    if rng.random() < style.italic_p:
        font |= cv2.FONT_ITALIC
    scale = rng.uniform(1.0, 2.5)
    thickness = max(1, int(rng.integers(*style.stroke)) // 2 + 1)
    (w, h), base = cv2.getTextSize(text, font, scale, thickness)
    canvas = np.zeros((h + base + 2 * thickness + 4, w + 2 * thickness + 4), np.uint8)  # putText draws on uint8 only
    cv2.putText(canvas, text, (thickness + 2, h + thickness + 2), font, scale, int(rng.integers(150, 256)), thickness, cv2.LINE_AA)
    return canvas.astype(np.float32) / 255


def _letter(rng, s, style, digits):
    """One letter or symbol that cannot be taken for a digit, in a Hershey font."""
    return _ink(_put_text(rng, LETTERS[int(rng.integers(len(LETTERS)))], style, s))


def _word(rng, s, style, digits):
    """A short word: the reader takes its letters together when they touch or crowd."""
    n = int(rng.integers(2, 7))
    return _ink(_put_text(rng, "".join(WORD_LETTERS[i] for i in rng.integers(0, 26, n)), style, s))


SIGNS = "+=-÷<>"  # drawn by hand below; x, %, # are letters
FONT_SIGNS = "+=<>$"


def _symbol(rng, s, style, digits):
    """A sign written among numbers, by hand or in a font: a sum's + and =, a minus or a dash, a
    divide sign, < and >, a dollar sign. A model that never saw them reads a + as 7 or 1."""
    if rng.random() < 0.3:
        return _ink(_put_text(rng, FONT_SIGNS[int(rng.integers(len(FONT_SIGNS)))], style, s))
    canvas = np.zeros((s, s), np.float32)
    t = max(1, int(rng.integers(*style.stroke)))
    value = rng.uniform(0.6, 1.0)
    c, arm = s / 2, rng.uniform(0.25, 0.45) * s

    def stroke(x0, y0, x1, y1):
        wobble = rng.normal(0, 0.03 * s, 4)
        cv2.line(canvas, (int(x0 + wobble[0]), int(y0 + wobble[1])), (int(x1 + wobble[2]), int(y1 + wobble[3])),
                 value, t, cv2.LINE_AA)

    sign = SIGNS[int(rng.integers(len(SIGNS)))]
    if sign == "+":  # the bars cross near their middles
        dx, dy = rng.uniform(-0.15, 0.15, 2) * arm
        stroke(c - arm, c + dy, c + arm, c + dy)
        stroke(c + dx, c - arm * rng.uniform(0.8, 1.2), c + dx, c + arm * rng.uniform(0.8, 1.2))
    elif sign == "=":
        gap = rng.uniform(0.15, 0.5) * arm
        for side in (-1, 1):
            stroke(c - arm, c + side * gap, c + arm * rng.uniform(0.8, 1.1), c + side * gap)
    elif sign == "-":
        stroke(c - arm, c, c + arm, c)
    elif sign == "÷":  # a bar with a dot above and below
        stroke(c - arm, c, c + arm, c)
        gap = rng.uniform(0.3, 0.6) * arm
        for side in (-1, 1):
            cv2.circle(canvas, (int(c), int(c + side * gap)), max(1, t), value, -1, cv2.LINE_AA)
    else:  # < or >: two strokes from one point
        tip = c - arm if sign == "<" else c + arm
        back = c + arm if sign == "<" else c - arm
        spread = rng.uniform(0.5, 1.0) * arm
        stroke(back, c - spread, tip, c)
        stroke(tip, c, back, c + spread)
    turn = cv2.getRotationMatrix2D((c, c), rng.uniform(-12, 12), 1.0)
    return _ink(cv2.warpAffine(canvas, turn, (s, s)))


def _scribble(rng, s, style, digits):
    """Random pen strokes: a winding line with many turns, a zigzag or hatching."""
    canvas = np.zeros((s, s), np.float32)
    t = max(1, int(rng.integers(*style.stroke)))
    value = rng.uniform(0.6, 1.0)
    kind = rng.random()
    if kind < 0.5:
        n = int(rng.integers(7, 16))
        points = np.cumsum(rng.normal(0, s / 5, (n, 2)), 0)
        points = (points - points.min(0)) / max(np.ptp(points, 0).max(), 1) * (s - 2 * t) + t
        cv2.polylines(canvas, [points.astype(np.int32)], False, value, t, cv2.LINE_AA)
    elif kind < 0.8:
        n = int(rng.integers(4, 9))
        xs = np.linspace(t, s - t, n)
        ys = np.where(np.arange(n) % 2 == 0, s * 0.25, s * 0.75) + rng.normal(0, s / 20, n)
        cv2.polylines(canvas, [np.stack([xs, ys], 1).astype(np.int32)], False, value, t, cv2.LINE_AA)
    else:
        for k in range(int(rng.integers(3, 8))):
            x = int(s * (0.1 + 0.8 * k / 7))
            cv2.line(canvas, (x, int(s * 0.85)), (x + int(s * 0.2), int(s * 0.15)), value, t, cv2.LINE_AA)
    return _ink(_rotated(canvas, rng) if rng.random() < 0.5 else canvas)


def _half_digit(rng, s, style, digits):
    """Part of a digit (cut by the picture's edge or a shadow): 30-55 % of it along a random cut."""
    digit = cv2.resize(digits[int(rng.integers(len(digits)))].astype(np.float32) / 255, (s, s))
    ys, xs = np.nonzero(digit > 0.1)
    if len(xs) == 0:
        return _scribble(rng, s, style, digits)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    projection = (xx - xs.mean()) * np.cos(angle) + (yy - ys.mean()) * np.sin(angle)
    cut = np.quantile(projection[digit > 0.1], rng.uniform(0.45, 0.7))
    return _ink(digit * (projection > cut))


def _two_digits(rng, s, style, digits):
    """Two digits touching, which the reader may take as one candidate."""
    a, b = (digits[int(i)].astype(np.float32) / 255 for i in rng.integers(0, len(digits), 2))
    overlap = int(rng.integers(4, 11))
    canvas = np.zeros((28, 56 - overlap), np.float32)
    canvas[:, :28] = a
    canvas[:, 28 - overlap :] = np.maximum(canvas[:, 28 - overlap :], b)
    if rng.random() < 0.3:  # stacked, as two lines touching
        canvas = np.zeros((56 - overlap, 28), np.float32)
        canvas[:28] = a
        canvas[28 - overlap :] = np.maximum(canvas[28 - overlap :], b)
    return _ink(canvas)


KINDS = {
    "texture": _texture, "shadow": _shadow, "lines": _lines, "blob": _blob, "pen": _pen, "clip": _clip,
    "face": _face, "ring": _ring, "letter": _letter, "word": _word, "scribble": _scribble,
    "half_digit": _half_digit, "two_digits": _two_digits, "symbol": _symbol,
}


def render_negatives(n: int, *, seed: int, style: NegativeStyle = TRAIN_STYLE,
                     digits: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """(uint8 [n, 28, 28] model inputs, kind of each): non-digits normalised as the edge does.

    `digits` (uint8 [M, 28, 28], MNIST training digits) feeds the half-digit and two-digit
    kinds; without it those kinds are not drawn.
    """
    rng = np.random.default_rng(seed)
    kinds = [(k, w) for k, w in style.weights if digits is not None or k not in ("half_digit", "two_digits")]
    names = [k for k, _ in kinds]
    p = np.array([w for _, w in kinds], np.float64)
    chosen = rng.choice(len(names), size=n, p=p / p.sum())
    images = np.zeros((n, 28, 28), np.uint8)
    for i, k in enumerate(chosen):
        s = int(style.canvas * rng.uniform(0.7, 1.3))
        ink = KINDS[names[k]](rng, s, style, digits)
        images[i] = np.round(normalize_digit(ink) * 255).astype(np.uint8)
    return images, [names[k] for k in chosen]


BENCH_NEGATIVES = 2000  # rendered non-digits of the benchmark set
BENCH_SEED = 20261124  # not a training seed; BENCH_STYLE is not the training style either


def rejection_figures(probabilities: Callable[[np.ndarray], np.ndarray], reject_index: int,
                      digits: np.ndarray | None) -> dict:
    """How a model with the reject class does on non-digits it never saw (BENCH_NEGATIVES drawn with
    BENCH_SEED and BENCH_STYLE; `digits` feed the half/two-digit kinds) and on `digits` (uint8
    [N, 28, 28] MNIST test digits, or None): shares rejected, overall and by kind.
    `probabilities` maps float32 [N, 1, 28, 28] in [0, 1] to [N, C]."""
    negatives, kinds = render_negatives(BENCH_NEGATIVES, seed=BENCH_SEED, style=BENCH_STYLE, digits=digits)

    def rejected(images: np.ndarray) -> np.ndarray:
        return probabilities(images[:, None].astype(np.float32) / 255).argmax(1) == reject_index

    negative_rejected = rejected(negatives)
    names = np.array(kinds)
    figures = {"negatives": len(negatives), "negatives_rejected": round(float(negative_rejected.mean()), 4),
               "by_kind": {k: round(float(negative_rejected[names == k].mean()), 4) for k in sorted(set(kinds))}}
    if digits is not None:
        figures["digits"] = len(digits)
        figures["digits_rejected"] = round(float(rejected(digits).mean()), 5)
    return figures
