"""Test tooling: real MNIST test digits rendered as handwriting photographed on paper.

Used by the tests, the benchmarks and to make artifacts/samples/ (numpy and OpenCV only, no torch):
    python -m digits.train.render artifacts/samples --data ../shared/data/mnist
"""

from __future__ import annotations

import gzip
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from digits.edge.errors import DigitsError
from digits.edge.reader import turned

from .paths import resolve_data_root

def load_mnist_test(root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 MNIST test digits (uint8 [N,28,28], white on black) and labels, read with numpy only
    so the torch-free edge tests can use them."""
    raw = resolve_data_root(root) / "MNIST" / "raw"

    def read(name: str) -> bytes:
        path = raw / name
        if path.exists():
            return path.read_bytes()
        if not (raw / (name + ".gz")).exists():
            raise DigitsError(f"no MNIST test digits in {raw} (set DIGITS_DATA to an MNIST root, or --data)")
        return gzip.decompress((raw / (name + ".gz")).read_bytes())

    images = read("t10k-images-idx3-ubyte")
    labels = read("t10k-labels-idx1-ubyte")
    n, rows, cols = struct.unpack(">III", images[4:16])
    return (np.frombuffer(images, np.uint8, offset=16).reshape(n, rows, cols),
            np.frombuffer(labels, np.uint8, offset=8).astype(np.int64))


@dataclass(frozen=True)
class PhotoStyle:
    size: tuple[int, int] = (640, 480)
    digit_height: tuple[int, int] = (70, 140)
    gap: tuple[float, float] = (0.15, 0.45)  # between digits, fraction of the digit height
    gradient: float = 0.35  # lighting falls by up to this fraction across the page
    rotation_deg: float = 5.0
    perspective: float = 0.04  # corner jitter, fraction of the image size
    blur_sigma: tuple[float, float] = (0.3, 1.2)
    noise_sigma: tuple[float, float] = (2.0, 6.0)
    jpeg_quality: tuple[int, int] = (60, 92)


def _paper(rng: np.random.Generator, style: PhotoStyle) -> np.ndarray:
    w, h = style.size
    tint = rng.uniform(205, 245) + rng.uniform(-10, 10, size=3)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min() + 1e-6)
    light = 1.0 - style.gradient * rng.uniform(0.5, 1.0) * ramp
    return np.clip(light[..., None] * tint[None, None, :], 0, 255).astype(np.float32)


def _finish(image: np.ndarray, rng: np.random.Generator, style: PhotoStyle, invert: bool) -> np.ndarray:
    w, h = style.size
    centre = (w / 2 + rng.uniform(-10, 10), h / 2 + rng.uniform(-10, 10))
    rotation = cv2.getRotationMatrix2D(centre, rng.uniform(-style.rotation_deg, style.rotation_deg), 1.0)
    image = cv2.warpAffine(image, rotation, (w, h), borderMode=cv2.BORDER_REFLECT)
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = rng.uniform(-style.perspective, style.perspective, size=(4, 2)) * np.float32([w, h])
    warp = cv2.getPerspectiveTransform(corners, (corners + jitter).astype(np.float32))
    image = cv2.warpPerspective(image, warp, (w, h), borderMode=cv2.BORDER_REFLECT)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(*style.blur_sigma))
    image = image + rng.normal(0, rng.uniform(*style.noise_sigma), size=image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if invert:
        image = 255 - image
    quality = int(rng.integers(*style.jpeg_quality))
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


def ink_crop(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit (uint8, light ink on black) cut to its ink's bounding box (pixels above 30)."""
    ys, xs = np.nonzero(digit > 30)
    return digit[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def render_number(digits: list[np.ndarray], rng: np.random.Generator, style: PhotoStyle = PhotoStyle(),
                  *, invert: bool = False) -> np.ndarray:
    """A BGR photo of `digits` (MNIST uint8 28x28 each) written left to right on a sheet of paper."""
    w, h = style.size
    paper = _paper(rng, style)
    height = int(rng.integers(*style.digit_height))
    crops = [ink_crop(digit) for digit in digits]
    gaps = rng.uniform(*style.gap, size=len(digits)) * height
    widths = [c.shape[1] * height / c.shape[0] for c in crops]
    total = sum(widths) + gaps[1:].sum()
    if total > 0.85 * w:  # shrink to fit the page
        height = int(height * 0.85 * w / total)
        gaps, widths, total = gaps * 0.85 * w / total, [x * 0.85 * w / total for x in widths], 0.85 * w
    ink_colour = np.float32(rng.choice([[40, 30, 25], [90, 40, 20], [30, 30, 30]])) + rng.uniform(-10, 10)
    x = rng.uniform(0.05 * w, w - total - 0.05 * w)
    y_base = rng.uniform(0.15 * h, h - height - 0.15 * h)
    for crop, width, gap in zip(crops, widths, gaps):
        dw, dh = max(1, round(width)), max(1, round(crop.shape[0] * height / crop.shape[0]))
        alpha = cv2.resize(crop, (dw, dh), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0
        alpha = np.clip(alpha * rng.uniform(0.85, 1.0), 0, 1)[..., None]
        y = int(y_base + rng.uniform(-0.08, 0.08) * height)
        x0 = int(x)
        region = paper[y : y + dh, x0 : x0 + dw]
        region[:] = region * (1 - alpha) + ink_colour * alpha
        x += width + gap
    return _finish(paper, rng, style, invert)


def render_blank(rng: np.random.Generator, style: PhotoStyle = PhotoStyle(), *, invert: bool = False) -> np.ndarray:
    """A photo of an empty sheet: lighting, blur, noise and JPEG, no ink."""
    return _finish(_paper(rng, style), rng, style, invert)


def random_number(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                  length: tuple[int, int] = (3, 7)) -> tuple[list[np.ndarray], str]:
    picks = rng.choice(len(images), size=int(rng.integers(*length)), replace=False)
    return [images[i] for i in picks], "".join(str(labels[i]) for i in picks)


def write_samples(out: Path, data: str | None = None, seed: int = 2026) -> list[Path]:
    """The first-time user's sample photos and a short video of a sheet moving before the camera."""
    images, labels = load_mnist_test(data)
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, invert in enumerate([False, False, False, True]):
        digits, text = random_number(images, labels, rng, (3, 6))
        path = out / f"number-{text}{'-inverted' if invert else ''}.jpg"
        cv2.imwrite(str(path), render_number(digits, rng, invert=invert))
        written.append(path)
    blank = out / "blank-page.jpg"
    cv2.imwrite(str(blank), render_blank(rng))
    written.append(blank)
    written.append(write_video(out, images, labels, rng))
    return written


def write_video(out: Path, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, frames: int = 30) -> Path:
    """A short MJPG video: one number, the sheet shifting slightly between frames like a handheld camera."""
    digits, text = random_number(images, labels, rng, (4, 5))
    path = out / f"video-{text}.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, PhotoStyle().size)
    sheet_seed = int(rng.integers(1 << 30))
    for _ in range(frames):
        # Same sheet every frame (same seed for the content), a new camera pose each frame.
        frame = render_number(digits, np.random.default_rng(sheet_seed), PhotoStyle(rotation_deg=0, perspective=0,
                              blur_sigma=(0.3, 0.31), noise_sigma=(2.0, 2.01), jpeg_quality=(85, 86)))
        shift = np.float32([[1, 0, rng.uniform(-8, 8)], [0, 1, rng.uniform(-8, 8)]])
        writer.write(cv2.warpAffine(frame, shift, PhotoStyle().size, borderMode=cv2.BORDER_REFLECT))
    writer.release()
    return path


# What real photos have and the plain renders lack: paper kinds, ink kinds, many lines, slant,
# phone shadows, corner light, tiny scans, EXIF-rotated JPEGs, transparent PNGs.
PAPERS = {"white": (236, 238, 240), "grey": (168, 170, 172), "yellow": (120, 225, 240)}  # BGR
INKS = {"ballpoint": (150, 60, 30), "black": (35, 30, 30), "pencil": (110, 110, 115), "red": (40, 40, 190), "marker": (20, 20, 20)}


def render_sheet(lines: list[list[np.ndarray]], rng: np.random.Generator, *, size: tuple[int, int] = (640, 480),
                 paper: str = "white", rules: str | None = None, ink: str = "ballpoint", slant_deg: float = 0.0,
                 digit_height: float | None = None, heights: list[list[float]] | None = None) -> np.ndarray:
    """A BGR photo of several lines of MNIST digits on `paper` ("white", "grey", "yellow"), with ruled
    or squared lines, a dot grid or graph paper's fine grid (`rules`: None, "ruled", "squared",
    "dotted", "graph"), in `ink`, each line at `slant_deg`.
    `heights`: each digit's height as a share of its line's (as `lines`; default all 1), standing on
    the line as a 0 written small does."""
    w, h = size
    page = np.empty((h, w, 3), np.float32)
    page[:] = np.float32(PAPERS[paper]) + rng.uniform(-6, 6, 3)
    pitch = h / (len(lines) + 1)
    if rules in ("ruled", "squared"):
        rule = np.float32([200, 160, 140]) * page[0, 0] / 240
        for y in np.arange(pitch * 0.5, h, pitch / 2):
            cv2.line(page, (0, int(y)), (w, int(y)), rule.tolist(), 1, cv2.LINE_AA)
        if rules == "squared":
            for x in np.arange(0, w, pitch / 2):
                cv2.line(page, (int(x), 0), (int(x), h), rule.tolist(), 1, cv2.LINE_AA)
    elif rules == "dotted":  # a dot grid (a bullet journal's): a grey dot every fifth of a line's pitch
        dot = (np.float32([150, 150, 150]) * page[0, 0] / 240).tolist()
        step = pitch / 5
        for y in np.arange(step / 2, h, step):
            for x in np.arange(step / 2, w, step):
                cv2.circle(page, (int(x), int(y)), 1, dot, -1, cv2.LINE_AA)
    elif rules == "graph":  # graph paper: pale green lines every tenth of a pitch, every fifth of them darker
        minor, major = ((np.float32(c) * page[0, 0] / 240).tolist() for c in ([200, 225, 200], [160, 205, 160]))
        step = pitch / 10
        for i, at in enumerate(np.arange(0, max(w, h), step)):
            rule = major if i % 5 == 0 else minor
            cv2.line(page, (int(at), 0), (int(at), h), rule, 1, cv2.LINE_AA)
            cv2.line(page, (0, int(at)), (w, int(at)), rule, 1, cv2.LINE_AA)
    def aspect(digit):  # width / height of the digit's ink
        crop = ink_crop(digit)
        return crop.shape[1] / crop.shape[0]
    # Every digit must fit on its line (the caller's truth lists them all): the widest line, with
    # the largest gaps drawn below, fits in 90 % of the width.
    widest = max(sum(aspect(d) for d in line) + 0.45 * (len(line) - 1) for line in lines if len(line)) if any(lines) else 1
    height = digit_height or min(0.6 * pitch, 0.9 * w / widest)
    colour = np.float32(INKS[ink])
    strength = 0.55 if ink == "pencil" else 1.0
    for row, digits in enumerate(lines):
        x = rng.uniform(0.04, 0.08) * w
        y_base = pitch * (row + 1) - height / 2
        for col, digit in enumerate(digits):
            crop = ink_crop(digit)
            tall = height * (heights[row][col] if heights else 1.0)
            dw, dh = max(1, round(crop.shape[1] * tall / crop.shape[0])), max(1, round(tall))
            alpha = cv2.resize(crop, (dw, dh), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255 * strength
            y = int(y_base + height - tall + np.tan(np.radians(slant_deg)) * (x - 0.05 * w) + rng.uniform(-0.05, 0.05) * height)
            x0 = int(x)
            if y < 0 or y + dh > h or x0 + dw > w:
                raise ValueError(f"render_sheet: a digit falls off the page ({x0},{y} {dw}x{dh} on {w}x{h}); "
                                 "fewer or smaller digits, or less slant")
            region = page[y : y + dh, x0 : x0 + dw]
            region[:] = region * (1 - alpha[..., None]) + colour * alpha[..., None]
            x += dw + rng.uniform(0.2, 0.45) * height
    return _finish(page, rng, PhotoStyle(size=size, rotation_deg=1.0, perspective=0.01), invert=False)


def render_boxes(digits: list[np.ndarray], rng: np.random.Generator, *, size: tuple[int, int] = (640, 480),
                 box: int = 60, gap: int = 0, ink: str = "ballpoint") -> np.ndarray:
    """A BGR photo of a form's row of printed boxes, one MNIST digit written in each (60-80 % of the
    box's height, off centre by a few pixels): the boxes joined into one strip (`gap` 0) or apart."""
    w, h = size
    if 40 + len(digits) * (box + gap) > w:
        raise ValueError(f"render_boxes: {len(digits)} boxes of {box} px do not fit in {w} px")
    page = np.empty((h, w, 3), np.float32)
    page[:] = np.float32(PAPERS["white"]) + rng.uniform(-6, 6, 3)
    x0, y0 = int(rng.integers(20, 41)), int(rng.uniform(0.3, 0.6) * h)
    colour = np.float32(INKS[ink])
    for k, digit in enumerate(digits):
        x = x0 + k * (box + gap)
        cv2.rectangle(page, (x, y0), (x + box, y0 + box), (70, 70, 70), 1, cv2.LINE_AA)
        crop = ink_crop(digit)
        dh = int(box * rng.uniform(0.6, 0.8))
        dw = min(box - 6, max(1, round(crop.shape[1] * dh / crop.shape[0])))
        alpha = cv2.resize(crop, (dw, dh), interpolation=cv2.INTER_CUBIC).astype(np.float32)[..., None] / 255
        dy, dx = (int(v) for v in rng.integers(-3, 4, 2))
        top, left = y0 + (box - dh) // 2 + dy, x + (box - dw) // 2 + dx
        region = page[top : top + dh, left : left + dw]
        region[:] = region * (1 - alpha) + colour * alpha
    return _finish(page, rng, PhotoStyle(size=size, rotation_deg=1.0, perspective=0.01), invert=False)


def phone_shadow(photo: np.ndarray, rng: np.random.Generator, *, depth: float = 0.45, cover: float = 0.3) -> np.ndarray:
    """The phone's shadow over the bottom `cover` of the picture: dark, hard-edged, rounded corner."""
    h, w = photo.shape[:2]
    mask = np.zeros((h, w), np.float32)
    top = int(h * (1 - cover))
    left = int(w * rng.uniform(0.05, 0.3))
    cv2.rectangle(mask, (left, top), (w + 50, h + 50), 1.0, -1)
    corner = int(0.08 * h)
    cv2.rectangle(mask, (left, top), (left + corner, top + corner), 0.0, -1)
    cv2.circle(mask, (left + corner, top + corner), corner, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 2.0)[..., None]
    return np.clip(photo * (1 - depth * mask), 0, 255).astype(np.uint8)


def shadow_across(photo: np.ndarray, rng: np.random.Generator, *, depth: float = 0.4) -> np.ndarray:
    """A hard-edged shadow (a phone, a hand, a lamp's arm) over part of the picture, its straight edge
    crossing the middle at a random angle, through the writing."""
    h, w = photo.shape[:2]
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.35, 0.65)
    mask = ((xx - cx) * np.sin(angle) - (yy - cy) * np.cos(angle) > 0).astype(np.float32)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.5)[..., None]
    return np.clip(photo * (1 - depth * mask), 0, 255).astype(np.uint8)


def turned_photo(photo: np.ndarray, angle_deg: float) -> np.ndarray:
    """`photo` as a camera held at `angle_deg` (counter-clockwise) sees it: the whole picture turned,
    the paper continued into the corners, its colour and grain but no lines or ink. (Continued by
    repeating the edge's pixels, as it once was, a ruled line's end or a shade at the edge became a
    streak across the corner, read as a 1 at the picture's edge.)"""
    sharp = turned(photo, angle_deg)  # the whole page stays in the picture; black corners, soft edges
    inside = turned(np.full(photo.shape[:2], 255, np.uint8), angle_deg).astype(np.float32) / 255
    # The paper: the photo's median over 31 px (thin lines and strokes gone, its shading kept), its edge repeated.
    paper = turned(cv2.medianBlur(photo, 31), angle_deg, cv2.BORDER_REPLICATE).astype(np.float32)
    grain = np.random.default_rng(0).normal(0, 3, inside.shape).astype(np.float32)
    if photo.ndim == 3:
        inside, grain = inside[..., None], grain[..., None]
    return np.clip(sharp + (1 - inside) * (paper + grain), 0, 255).astype(np.uint8)


def corner_light(photo: np.ndarray, *, strength: float = 0.45) -> np.ndarray:
    """Light falling off towards one corner, as under a desk lamp."""
    h, w = photo.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    falloff = np.hypot(xx / w, yy / h) / np.sqrt(2)
    return np.clip(photo * (1 - strength * falloff ** 2)[..., None], 0, 255).astype(np.uint8)


def tiny_scan(digit: np.ndarray, side: int = 16) -> np.ndarray:
    """A USPS-like scan: the digit alone, filling a `side` x `side` picture, dark on light."""
    crop = ink_crop(digit)
    scale = side / max(crop.shape)
    small = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    out = np.zeros((side, side), np.uint8)
    y0, x0 = (side - small.shape[0]) // 2, (side - small.shape[1]) // 2
    out[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return 255 - out


_BAYER = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]], np.float32)


def dithered(photo: np.ndarray, method: str = "diffusion") -> np.ndarray:
    """`photo` in two grey levels, 0 and 255, as a fax, a scanner's halftone mode or a 1-bit PNG
    stores it: "diffusion" (Floyd-Steinberg error diffusion, the method of PIL's `convert("1")`),
    "ordered" (a 4x4 Bayer pattern) or "threshold" (no dither: each pixel against mid-grey)."""
    grey = photo if photo.ndim == 2 else cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    if method == "threshold":
        return np.where(grey >= 128, 255, 0).astype(np.uint8)
    if method == "ordered":
        h, w = grey.shape
        limits = (np.tile(_BAYER, (h // 4 + 1, w // 4 + 1))[:h, :w] + 0.5) * 16
        return np.where(grey > limits, 255, 0).astype(np.uint8)
    if method != "diffusion":
        raise ValueError(f"unknown dither {method!r}")
    rows = grey.astype(np.float64).tolist()
    h, w = grey.shape
    for y in range(h):  # each pixel's error, once it is set to 0 or 255, spread to the pixels not yet set
        row, below = rows[y], rows[y + 1] if y + 1 < h else None
        for x in range(w):
            error = row[x] - (255.0 if row[x] >= 128 else 0.0)
            if x + 1 < w:
                row[x + 1] += error * 7 / 16
            if below is not None:
                if x:
                    below[x - 1] += error * 3 / 16
                below[x] += error * 5 / 16
                if x + 1 < w:
                    below[x + 1] += error / 16
    return np.where(np.array(rows) >= 128, 255, 0).astype(np.uint8)  # (a pixel is final when it is set)


def jpeg_with_orientation(upright: np.ndarray, orientation: int) -> bytes:
    """JPEG bytes of `upright` stored as a phone does when held sideways: the pixels turned, and an
    EXIF Orientation tag (6: turn 90 clockwise to view, 8: 90 anticlockwise, 3: 180) to undo it."""
    stored = {6: cv2.ROTATE_90_COUNTERCLOCKWISE, 8: cv2.ROTATE_90_CLOCKWISE, 3: cv2.ROTATE_180}[orientation]
    ok, encoded = cv2.imencode(".jpg", cv2.rotate(upright, stored), [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    # APP1 "Exif": a little-endian TIFF header with one IFD entry, Orientation (0x0112, SHORT, 1).
    tiff = b"II*\x00" + (8).to_bytes(4, "little") + (1).to_bytes(2, "little") + \
        (0x0112).to_bytes(2, "little") + (3).to_bytes(2, "little") + (1).to_bytes(4, "little") + \
        orientation.to_bytes(2, "little") + b"\x00\x00" + (0).to_bytes(4, "little")
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    data = encoded.tobytes()
    return data[:2] + app1 + data[2:]


def transparent_png(digits: list[np.ndarray]) -> np.ndarray:
    """BGRA: black ink whose only trace is the alpha channel (colour black everywhere), as drawing
    apps export a digit on a transparent background."""
    row = np.hstack([np.pad(d, 8) for d in digits])
    big = cv2.resize(row, (row.shape[1] * 4, row.shape[0] * 4), interpolation=cv2.INTER_CUBIC)
    out = np.zeros((*big.shape, 4), np.uint8)
    out[..., 3] = big
    return out


def notebook_page(rng: np.random.Generator, *, size: tuple[int, int] = (640, 480), binding: str = "spiral") -> np.ndarray:
    """A BGR photo of an empty page of a notebook: blue ruled lines, a red margin, and down its left
    side a spiral's wire loops, each through its hole (`binding` "spiral"), or three punched holes
    showing the desk ("holes")."""
    w, h = size
    page = np.empty((h, w, 3), np.float32)
    page[:] = np.float32([235, 238, 240]) + rng.uniform(-8, 8, 3)
    for y in np.arange(rng.uniform(30, 60), h, rng.uniform(18, 30)):
        cv2.line(page, (0, int(y)), (w, int(y)), (215, 180, 150), 1, cv2.LINE_AA)
    margin = int(rng.uniform(70, 110))
    cv2.line(page, (margin, 0), (margin, h), (120, 120, 230), 2, cv2.LINE_AA)
    if binding == "spiral":
        pitch, half = rng.uniform(18, 26), (int(rng.uniform(12, 18)), int(rng.uniform(5, 7)))
        for y in np.arange(pitch / 2, h, pitch):
            cv2.ellipse(page, (half[0] + 2, int(y)), half, 0, 0, 360, (90, 90, 95), 2, cv2.LINE_AA)
            cv2.circle(page, (half[0] + 10, int(y)), 4, (40, 40, 50), -1, cv2.LINE_AA)
    else:
        for y in (0.2 * h, 0.5 * h, 0.8 * h):
            cv2.circle(page, (30, int(y)), int(rng.uniform(8, 12)), (50, 60, 80), -1, cv2.LINE_AA)
    page = cv2.GaussianBlur(page, (0, 0), rng.uniform(0.5, 1.2)) + rng.normal(0, 3, page.shape)
    return np.clip(page, 0, 255).astype(np.uint8)


def on_desk(page: np.ndarray, rng: np.random.Generator, fill: float = 0.8, surface: np.ndarray | None = None) -> np.ndarray:
    """The photo taken from further away: the sheet, slightly turned, on a dark wooden desk (or on
    `surface`, a grey or BGR picture of the page's size: a carpet, a patterned cloth)."""
    h, w = page.shape[:2]
    if surface is None:
        desk = np.empty_like(page)
        desk[:] = np.float32([40, 60, 90]) + rng.uniform(-15, 15)
        grain = cv2.GaussianBlur(rng.normal(0, 12, size=(h, w)).astype(np.float32), (0, 0), 3)[..., None]
        desk = np.clip(desk + grain, 0, 255).astype(np.uint8)
    else:
        desk = cv2.cvtColor(surface, cv2.COLOR_GRAY2BGR) if surface.ndim == 2 and page.ndim == 3 else surface
    small = cv2.resize(page, (int(w * fill), int(h * fill)), interpolation=cv2.INTER_AREA)
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-6, 6), 1.0)
    turn[:, 2] += ((w - small.shape[1]) / 2, (h - small.shape[0]) / 2)
    placed = cv2.warpAffine(small, turn, (w, h))
    mask = cv2.warpAffine(np.full(small.shape[:2], 255, np.uint8), turn, (w, h))
    return np.where(mask[..., None] > 127, placed, desk)


TEXTURE_KINDS = [(2, 60), (2, 120), (4, 20), (3, 60)]  # texture()'s blob size (px) and contrast: fine to coarse


def texture(rng: np.random.Generator, sigma: float, contrast: float) -> np.ndarray:
    """A 640x480 textured surface (a carpet, concrete, fabric, as a camera sees it): Gaussian noise
    blurred to blobs `sigma` pixels across, `contrast` grey levels from dark to light."""
    blobs = cv2.GaussianBlur(rng.normal(0, 1, (480, 640)).astype(np.float32), (0, 0), sigma)
    return np.clip(150 + contrast / 3 * blobs / blobs.std(), 0, 255).astype(np.uint8)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "artifacts/samples")
    data_root = sys.argv[sys.argv.index("--data") + 1] if "--data" in sys.argv else None
    for p in write_samples(target, data_root):
        print(p)
