"""Drawing a reading onto the picture: boxes, labels, confidence, the number, the 28x28 insets."""

from __future__ import annotations

import cv2
import numpy as np

from .reader import NOTHING_READ, Reading

GREEN, AMBER, WHITE, BLACK, GREY = (60, 200, 60), (0, 190, 255), (255, 255, 255), (0, 0, 0), (150, 150, 150)
DARK_GREY = (80, 80, 80)  # a set-aside label's rim and leader: seen on grey paper, where GREY is not


def _label_rect(text: str, origin: tuple[int, int], scale: float) -> tuple[int, int, int, int]:
    """The box (x0, y0, x1, y1) that _label fills for `text` at `origin`."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    x, y = origin
    y = max(th + base, y)
    return x, y - th - base, x + tw + 4, y + 2


def _label(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, colour,
           box: tuple[int, int, int, int] | None = None, line_colour=None) -> tuple[int, int, int, int]:
    """Draw `text` on a patch of `colour` at `origin`; with `box` (x, y, w, h), first a thin line
    (`line_colour`, else `colour`) to that box where the label lies away from it (`leader`).
    Returns the label's rectangle (x0, y0, x1, y1)."""
    rect = x0, y0, x1, y1 = _label_rect(text, origin, scale)
    line = leader(rect, box) if box is not None else None
    if line is not None:
        cv2.line(image, *line, line_colour or colour, 1, cv2.LINE_AA)
    base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)[1]
    cv2.rectangle(image, (x0, y0), (x1, y1), colour, -1)
    cv2.putText(image, text, (x0 + 2, y1 - 2 - base + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, BLACK, 2, cv2.LINE_AA)
    return rect


def _nearest(px: float, py: float, x0: int, y0: int, x1: int, y1: int) -> tuple[int, int]:
    """The point of the rectangle (x0, y0, x1, y1) nearest (px, py)."""
    return int(round(min(max(px, x0), x1))), int(round(min(max(py, y0), y1)))


def leader(rect: tuple[int, int, int, int], box: tuple[int, int, int, int], gap: int = 6) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """A line from a label (`rect`: x0, y0, x1, y1) to its box (x, y, w, h) when place_labels had to
    put it further than `gap` pixels away (stacked past its neighbours' labels): from the label's
    point nearest the box to the box's point nearest the label, so it is plain whose label it is.
    None when the label touches its box."""
    x, y, w, h = box
    bx0, by0, bx1, by1 = x, y, x + w, y + h
    if max(bx0 - rect[2], rect[0] - bx1, by0 - rect[3], rect[1] - by1) <= gap:
        return None
    start = _nearest((bx0 + bx1) / 2, (by0 + by1) / 2, *rect)
    return start, _nearest(*start, bx0, by0, bx1, by1)


def place_labels(boxes: list[tuple[int, int, int, int]], texts: list[str], scale: float, *,
                 taken: list[tuple[int, int, int, int]] | None = None, below: bool = False,
                 avoid: list[tuple[int, int, int, int]] = (), size: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """A baseline origin for each box's label that overlaps no other label: above the box, else
    below it, else beside it (right, then left; level with its top, middle or bottom), else stacked
    higher above it, else lower below it (close digits' labels would otherwise cover each other).
    Of these the first that also covers no
    box in `avoid` (x, y, w, h: the marks drawn, its own included) and stays inside the picture
    (`size`: width, height) is taken: a column of digits, one per line, gets its labels beside them,
    not over the next digit. Else the first inside the picture (last of all, inside a corner of its
    own box: a close-up), else the first that overlaps no label.
    `below`: below the box first, then stacked lower (set-aside marks, whose labels go under them).
    `taken`: rectangles (x0, y0, x1, y1) of labels already placed; the new ones are added to it."""
    placed = [] if taken is None else taken
    marks = [(x, y, x + w, y + h) for x, y, w, h in avoid]

    def overlaps(rect, others) -> bool:
        return any(rect[0] < r[2] and r[0] < rect[2] and rect[1] < r[3] and r[1] < rect[3] for r in others)

    origins = []
    for (x, y, w, h), text in zip(boxes, texts):
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
        step = th + base + 3
        # beside it: level with its top, its middle, its bottom; right, then left
        levels = [y + th + base, y + (h + th + base) // 2, y + h]
        beside = [(x + w + 4, ty) for ty in levels] + [(x - tw - 8, ty) for ty in levels]
        if below:
            tries = [(x, y + h + step + k * step) for k in range(6)] + beside + [(x, y - 4)]
        else:
            tries = ([(x, y - 4), (x, y + h + step)] + beside + [(x, y - 4 - k * step) for k in range(1, 6)]
                     + [(x, y + h + step + k * step) for k in range(1, 6)])
        # Last, inside its own box's corners: a close-up digit fills the picture, and every place
        # around its box lies outside it.
        tries += [(x + 4, y + th + base + 4), (x + w - tw - 8, y + th + base + 4), (x + 4, y + h - 4), (x + w - tw - 8, y + h - 4)]
        tries = [(tx, max(th + base, ty)) for tx, ty in tries]
        rects = [_label_rect(text, origin, scale) for origin in tries]
        inside = [size is None or (r[0] >= 0 and r[2] <= size[0] and r[3] <= size[1]) for r in rects]
        free = [not overlaps(r, placed) for r in rects]
        pick = next((k for k, r in enumerate(rects) if free[k] and inside[k] and not overlaps(r, marks)),
                    next((k for k in range(len(rects)) if free[k] and inside[k]),
                         next((k for k in range(len(rects)) if free[k]), len(rects) - 1)))
        placed.append(rects[pick])
        origins.append(tries[pick])
    return origins


def annotate(image: np.ndarray, reading: Reading, *, fps: float | None = None, stable_text: str | None = None) -> np.ndarray:
    """A BGR copy of `image` with the reading drawn on it."""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image[..., :3].copy()
    h, w = out.shape[:2]
    scale = max(0.5, min(h, w) / 700)
    texts = [f"{digit.label} {100 * digit.confidence:.0f}%" for digit in reading.digits]
    # Labels no taller than the digits are (a sheet of many small digits stays legible).
    heights = sorted(d.box[3] for d in reading.digits)
    label_scale = min(scale * 0.8, max(0.4, heights[len(heights) // 2] / 70)) if heights else scale * 0.8
    shown = reading.text if stable_text is None else stable_text
    banner = f"read: {shown or NOTHING_READ}" + (f"   {len(reading.rejected)} set aside" if reading.rejected else "") + (f"   {fps:.1f} fps" if fps is not None else "") + f"   {reading.ms:.1f} ms"
    # A long reading on a narrow picture (a sheet photographed upright) is drawn smaller, whole.
    banner_scale = scale
    while banner_scale > 0.35 and 8 + cv2.getTextSize(banner, cv2.FONT_HERSHEY_SIMPLEX, banner_scale, 2)[0][0] + 4 > w:
        banner_scale *= 0.95
    banner_origin = (8, round(34 * scale))
    # The banner and the insets are drawn last, over everything: no label is placed under them.
    size = max(28, round(56 * scale))
    insets = min(len(reading.digits), max(1, w // (size + 4))) if h >= size + 4 else 0
    taken: list[tuple[int, int, int, int]] = [_label_rect(banner, banner_origin, banner_scale)]
    if insets:
        taken.append((0, h - size - 5, 4 + insets * (size + 4), h))
    # No label over a digit's box (a column of digits, one per line: the next one's top), nor past the picture's edge.
    drawn = [d.box for d in reading.digits]
    origins = place_labels(drawn, texts, label_scale, taken=taken, avoid=drawn, size=(w, h))
    captions = [aside.caption() for aside in reading.rejected]
    aside_origins = place_labels([aside.box for aside in reading.rejected], captions, scale * 0.5, taken=taken,
                                 below=True, avoid=drawn, size=(w, h))
    for aside, caption, origin in zip(reading.rejected, captions, aside_origins):
        # greyed out, thin, under the digits: set aside, not hidden
        x, y, bw, bh = aside.box
        cv2.rectangle(out, (x, y), (x + bw, y + bh), GREY, 1)
        rect = _label(out, caption, origin, scale * 0.5, GREY, box=aside.box, line_colour=DARK_GREY)
        cv2.rectangle(out, rect[:2], rect[2:], DARK_GREY, 1)
    for digit, text, origin in zip(reading.digits, texts, origins):
        x, y, bw, bh = digit.box
        colour = GREEN if digit.confidence >= 0.9 else AMBER
        cv2.rectangle(out, (x, y), (x + bw, y + bh), colour, max(2, round(scale * 2)))
        _label(out, text, origin, label_scale, colour, box=digit.box)
    _label(out, banner, banner_origin, banner_scale, WHITE)
    # The 28x28 images the model saw, enlarged, along the bottom edge.
    for i, digit in enumerate(reading.digits[:insets]):
        inset = cv2.resize((digit.image * 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
        x0, y0 = 4 + i * (size + 4), h - size - 4
        out[y0 : y0 + size, x0 : x0 + size] = cv2.cvtColor(inset, cv2.COLOR_GRAY2BGR)
        cv2.rectangle(out, (x0 - 1, y0 - 1), (x0 + size, y0 + size), WHITE, 1)
    return out
