"""--debug: one PNG per picture showing why it read as it did.

One row per way the reader looked at the picture (dark or light ink, as it is or as a close-up),
the chosen one marked: the working grey image, the ink map (paper removed, ink bright), the
stroke mask after ruled lines are removed with the candidates' boxes (what was set aside as not on
the paper, a desk or a shadow beside the sheet, in dark blue), and the picture with that
way's reading (digits green, set-aside grey, lines joined in reading order). Under them, every
28x28 input the model saw for the chosen reading, with its answer.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from .annotate import annotate
from .reader import Reading, reading_order

PANEL = 220  # height of each panel, pixels
GREEN, GREY, WHITE, YELLOW, RED = (60, 200, 60), (150, 150, 150), (255, 255, 255), (0, 220, 255), (60, 60, 230)
DESK = (110, 50, 0)  # dark blue: ink set aside as not on the paper


def _fit(image: np.ndarray, height: int = PANEL) -> np.ndarray:
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    h, w = image.shape[:2]
    width = max(1, min(round(w * height / h), 3 * height))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if h > height else cv2.INTER_NEAREST)


CAPTION_SCALE, CAPTION_LINE = 0.45, 17  # caption text size, and the height of one of its lines


def _wrap(text: str, width: int, scale: float = CAPTION_SCALE) -> list[str]:
    """`text` in lines no wider than `width` pixels, broken between words (a word wider than that
    is cut, with "~" where it was): a portrait photo's panels are narrow, and a caption cut off at
    the panel's edge hid what it said."""
    fits = lambda s: cv2.getTextSize(s, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] <= width
    lines: list[str] = []
    for word in text.split(" "):
        joined = f"{lines[-1]} {word}" if lines else word
        if lines and fits(joined):
            lines[-1] = joined
            continue
        while not fits(word) and len(word) > 1:
            word = word[:-2] + "~"
        lines.append(word)
    return lines or [""]


def _caption(panel: np.ndarray, text: str, colour=WHITE, lines: int = 1) -> np.ndarray:
    """`panel` under its caption, wrapped to its width, in a bar `lines` lines high (or as many as it
    takes): the panels of a row share one height."""
    wrapped = _wrap(text, panel.shape[1] - 8)
    bar = np.zeros((6 + CAPTION_LINE * max(lines, len(wrapped)), panel.shape[1], 3), np.uint8)
    for k, line in enumerate(wrapped):
        cv2.putText(bar, line, (4, 16 + CAPTION_LINE * k), cv2.FONT_HERSHEY_SIMPLEX, CAPTION_SCALE, colour, 1, cv2.LINE_AA)
    return np.vstack([bar, panel])


def _boxes(image: np.ndarray, boxes, colour) -> np.ndarray:
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    for x, y, w, h in boxes:
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), colour, 1)
    return out


def _enlarged(picture: np.ndarray, reading: Reading) -> tuple[np.ndarray, Reading]:
    """A small picture (a 16x16 scan) enlarged to the panel's height, with the boxes to match, so
    its labels are drawn at a readable size rather than blown up with it."""
    f = PANEL // max(1, picture.shape[0])
    if f < 2:
        return picture, reading
    big = cv2.resize(picture, None, fx=f, fy=f, interpolation=cv2.INTER_NEAREST)
    scale = lambda box: tuple(int(v) * f for v in box)
    return big, replace(reading, digits=[replace(d, box=scale(d.box)) for d in reading.digits],
                        rejected=[replace(r, box=scale(r.box)) for r in reading.rejected])


def _lines(picture: np.ndarray, reading: Reading) -> np.ndarray:
    picture, reading = _enlarged(picture, reading)
    out = annotate(picture, reading)
    boxes = [d.box for d in reading.digits]
    thickness = max(1, round(min(out.shape[:2]) / 300))
    for line in reading_order(boxes):
        centres = np.array([(boxes[i][0] + boxes[i][2] // 2, boxes[i][1] + boxes[i][3] // 2) for i in line], np.int32)
        if len(centres) > 1:
            cv2.polylines(out, [centres], False, YELLOW, thickness, cv2.LINE_AA)
    return out


def _row(parts: list[np.ndarray], width: int) -> np.ndarray:
    row = np.hstack([np.pad(p, ((0, 0), (0, 4), (0, 0))) for p in parts])
    if row.shape[1] < width:
        row = np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)))
    return row[:, :width]


def _inputs(reading: Reading, width: int) -> np.ndarray:
    """The 28x28 model inputs of a reading, enlarged 3x, each with its answer under it."""
    tiles = []
    for item, is_digit in [*((d, True) for d in reading.digits), *((r, False) for r in reading.rejected)]:
        tile = cv2.cvtColor(cv2.resize((item.image * 255).astype(np.uint8), (84, 84), interpolation=cv2.INTER_NEAREST),
                            cv2.COLOR_GRAY2BGR)
        label = getattr(item, "label", None)
        if is_digit:
            text, colour = f"{label} {100 * item.confidence:.0f}%", GREEN
        else:
            text, colour = item.caption().replace("not a digit", "not"), GREY
        bar = np.zeros((18, 84, 3), np.uint8)
        cv2.putText(bar, text, (2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, colour, 1, cv2.LINE_AA)
        tiles.append(np.pad(np.vstack([tile, bar]), ((2, 2), (2, 2), (0, 0)), constant_values=60))
    per_row = max(1, width // 90)
    rows = []
    for start in range(0, len(tiles), per_row):
        rows.append(_row(tiles[start : start + per_row], width))
    if not rows:
        rows.append(np.zeros((30, width, 3), np.uint8))
    return np.vstack(rows)


def debug_sheet(picture: np.ndarray, reading: Reading, trace: list[dict], source: str) -> np.ndarray:
    """The whole debug view of one picture as one BGR image."""
    rows = []
    for entry in trace:
        stages, reading_of_view = entry["stages"] or {}, entry["reading"]
        mark = "CHOSEN" if entry["chosen"] else "not chosen"
        panels = []  # (picture, caption, colour)
        if "grey" in stages:
            panels.append((_fit(stages["grey"]), f"{entry['name']}: working image", WHITE))
            ink = cv2.normalize(stages["ink"], None, 0, 255, cv2.NORM_MINMAX) if stages["ink"].max() > 0 else stages["ink"]
            least = stages.get("least_ink")
            panels.append((_fit(ink.astype(np.uint8)), "ink (paper removed)" if least is None
                           else f"ink (paper removed; least {least:.0f} levels)", WHITE))
            strokes = cv2.cvtColor((stages["mask"] > 0).astype(np.uint8) * 255, cv2.COLOR_GRAY2BGR)
            desk = stages.get("desk")
            off_paper = desk is not None and desk.any()
            if off_paper:  # what was set aside as not on the paper, dimmed
                strokes[desk] = DESK
            panels.append((_fit(_boxes(strokes, entry["work_boxes"], RED)), f"strokes, {len(entry['work_boxes'])} candidates"
                           + ("; blue: not on the paper (desk, shadow)" if off_paper else ""), WHITE))
        panels.append((_fit(_lines(picture, reading_of_view)),
                       f"{mark}: '{reading_of_view.text}' score {reading_of_view.score():.2f}", GREEN if entry["chosen"] else GREY))
        lines = max(len(_wrap(text, image.shape[1] - 8)) for image, text, _ in panels)
        rows.append([_caption(image, text, colour, lines) for image, text, colour in panels])
    width = max(sum(p.shape[1] + 4 for p in parts) for parts in rows) if rows else 600
    width = max(width, 600)
    title = _wrap(f"{source}: read '{reading.text}'  ({len(reading.digits)} digits, {len(reading.rejected)} set aside, "
                  f"{len(trace)} way(s) of looking)", width - 12, 0.5)
    header = np.zeros((10 + 20 * len(title), width, 3), np.uint8)
    for k, line in enumerate(title):
        cv2.putText(header, line, (6, 20 + 20 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.5, WHITE, 1, cv2.LINE_AA)
    body = [header, *(np.vstack([_row(parts, width), np.zeros((6, width, 3), np.uint8)]) for parts in rows)]
    body.append(_caption(_inputs(reading, width), "what the model saw (28x28) and its answer"))
    return np.vstack(body)
