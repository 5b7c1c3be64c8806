"""The reader on real photos of real people's handwriting: ../shared/real-photos.

    python benchmarks/real_photos.py [--model artifacts/digits.onnx] [--root ../shared/real-photos] [--wrong] [--scales 0.5,2] [--changes] [--two-levels]

Prints the exact-number rate for the photos, the multi-line photos, the single digits and
the EXIF-rotated copies; the digit-level error rate; blank pages read as digits; and ms per
photo (median, p95, max) on one CPU thread. The photos are read from --root and never copied
into the project (their licences are unstated); without them the benchmark says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import cv2
import numpy as np

from digits.edge.reader import DigitReader
from digits.edge.session import DigitModel
from digits.edge.sources import read_image
from digits.train.render import dithered

REPO = Path(__file__).resolve().parents[1]


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _shade(image: np.ndarray, light: np.ndarray) -> np.ndarray:
    light = light[..., None] if image.ndim == 3 else light
    return np.clip(image.astype(np.float32) * light, 0, 255).astype(np.uint8)


def _light(image: np.ndarray, kind: str) -> np.ndarray:
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "gradient":  # light falling to 0.55 across the picture
        return 0.55 + 0.45 * xx / w
    if kind == "corner":  # half the light lost towards one corner
        return 1 - 0.5 * np.clip(1 - np.hypot(xx / w, yy / h) / 0.8, 0, 1)
    step = (yy + 0.3 * xx > 0.75 * h).astype(np.float32)  # a hard shadow's straight edge, across the lower part
    return cv2.GaussianBlur(1 - 0.4 * step, (0, 0), 2)


def _turned(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), (w, h), borderMode=cv2.BORDER_REPLICATE)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_UNCHANGED)


# The same photos as other cameras, light and hands would give them: what the reader meets on
# photos we do not have. Each is one change; the reader's thresholds were never set on these.
CHANGES = {
    "shadow": lambda im: _shade(im, _light(im, "shadow")),
    "gradient": lambda im: _shade(im, _light(im, "gradient")),
    "corner light": lambda im: _shade(im, _light(im, "corner")),
    "darker (gamma 1.6)": lambda im: cv2.LUT(im, (255 * (np.arange(256) / 255) ** 1.6).astype(np.uint8)),
    "lighter (gamma 0.6)": lambda im: cv2.LUT(im, (255 * (np.arange(256) / 255) ** 0.6).astype(np.uint8)),
    "half contrast": lambda im: np.clip(128 + (im.astype(np.float32) - 128) * 0.5, 0, 255).astype(np.uint8),
    "noise (sigma 8)": lambda im: np.clip(im + np.random.default_rng(0).normal(0, 8, im.shape), 0, 255).astype(np.uint8),
    "blur": lambda im: cv2.GaussianBlur(im, (0, 0), max(0.5, 0.002 * max(im.shape[:2]))),
    "JPEG quality 30": lambda im: _jpeg(im, 30),
    "turned +4 deg": lambda im: _turned(im, 4),
    "turned -4 deg": lambda im: _turned(im, -4),
}


def read_set(reader: DigitReader, folder: Path, labels: dict[str, str], scale: float = 1.0, change=None,
             repeats: int = 1) -> list[tuple[str, str, str, float]]:
    """(name, label, text read, ms) for each labelled file, resized by `scale` first when it is not 1
    (shrunk with area averaging, enlarged with cubic interpolation, as a camera of another resolution),
    and passed through `change` (one of CHANGES) when given. `repeats`: each file is read that many
    times in a row and its ms is the median (a VM's single run can take twice as long now and then)."""
    rows = []
    for name, label in sorted(labels.items()):
        image = read_image(folder / name)
        if change is not None:
            image = change(image)
        if scale != 1.0:
            h, w = image.shape[:2]
            image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                               interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        reading = reader.read(image)
        ms = [reading.ms] + [reader.read(image).ms for _ in range(repeats - 1)]
        rows.append((name, label, reading.text, float(np.median(ms))))
    return rows


def print_wrong(rows: list[tuple[str, str, str, float]], what: str = "wrong") -> None:
    for name, label, text, _ in rows:
        if text != label:
            print(f"  {what}: {name}: {label!r} read {text!r}")

# The same photos stored in two grey levels, as a fax, a scanner's halftone mode or a 1-bit PNG keeps them.
TWO_LEVELS = {
    "dithered (error diffusion)": lambda im: dithered(im, "diffusion"),
    "dithered (ordered 4x4)": lambda im: dithered(im, "ordered"),
    "thresholded at mid-grey": lambda im: dithered(im, "threshold"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "real-photos")
    parser.add_argument("--wrong", action="store_true",
                        help="list every photo read wrongly (with --scales and --changes: at each size and under each change)")
    parser.add_argument("--scales", default="", metavar="S,S,...",
                        help="also read the photos resized by each factor (e.g. 0.5,0.75,1.5,2): the same handwriting "
                             "from cameras of other resolutions, which the reader should read alike")
    parser.add_argument("--changes", action="store_true",
                        help="also read the photos under each of: a hard shadow, a lighting gradient, corner light, "
                             "darker, lighter, half contrast, noise, blur, JPEG quality 30, turned 4 degrees each way")
    parser.add_argument("--two-levels", action="store_true",
                        help="also read the photos stored in two grey levels: dithered (error diffusion, ordered) "
                             "and thresholded, as a fax or a scanner's halftone mode keeps them")
    args = parser.parse_args()
    try:
        scales = [float(v) for v in args.scales.split(",") if v.strip()]
    except ValueError:
        parser.error(f"--scales takes factors separated by commas, not {args.scales!r}")
    if any(not 0.05 <= v <= 8 for v in scales):
        parser.error("--scales: each factor between 0.05 and 8")
    if not (args.root / "labels.json").is_file():
        print(f"skipped: no real photos at {args.root} (labels.json absent)")
        return
    reader = DigitReader(DigitModel(args.model, threads=1))
    labels = json.loads((args.root / "labels.json").read_text())
    photos = read_set(reader, args.root / "photos", labels, repeats=3)
    singles = read_set(reader, args.root / "singles", json.loads((args.root / "singles_labels.json").read_text()))
    exif = read_set(reader, args.root / "photos_exif", json.loads((args.root / "photos_exif_labels.json").read_text()))

    numbers = [r for r in photos if r[1]]
    multi = [r for r in numbers if " " in r[1]]
    blanks = [r for r in photos if not r[1]]
    usps = [r for r in singles if r[0].startswith("usps_")]
    other_singles = [r for r in singles if not r[0].startswith("usps_")]
    upright = {name: text for name, _, text, _ in photos}
    twins = sum(text == upright.get(name.rsplit("_exif", 1)[0] + ".jpg") for name, _, text, _ in exif)
    digits = sum(len(r[1].replace(" ", "")) for r in numbers)
    errors = sum(edit_distance(r[1].replace(" ", ""), r[2].replace(" ", "")) for r in numbers)
    ms = np.array([r[3] for r in photos])

    def rate(rows) -> str:
        right = sum(r[1] == r[2] for r in rows)
        return f"{right}/{len(rows)} = {100 * right / max(1, len(rows)):.1f} %"

    print(f"model {reader.onnx_model.path.name} ({reader.onnx_model.architecture}, "
          f"{'with' if reader.onnx_model.reject_index is not None else 'without'} not-a-digit class); "
          f"{platform.machine()}, one onnxruntime thread")
    print(f"photos, numbers read exactly:      {rate(numbers)}")
    print(f"  multi-line photos exactly:       {rate(multi)}")
    print(f"  digit error rate (edit distance): {errors}/{digits} = {100 * errors / digits:.1f} %")
    print(f"  blank pages read as digits:      {sum(bool(r[2]) for r in blanks)}/{len(blanks)}")
    print(f"singles exactly:                   {rate(singles)} (USPS as stored {rate(usps)}, photos and crops {rate(other_singles)})")
    print(f"EXIF copies: exact {rate(exif)}; same text as their upright twin {twins}/{len(exif)}")
    print(f"ms per photo (the median of 3 reads each): median {np.median(ms):.1f}, p95 {np.percentile(ms, 95):.1f}, max {ms.max():.1f} "
          f"({photos[int(ms.argmax())][0]})")
    for scale in scales:
        resized = [r for r in read_set(reader, args.root / "photos", labels, scale) if r[1]]
        kept = sum(r[1] == r[2] for r, original in zip(resized, numbers) if original[1] == original[2])
        print(f"photos resized x{scale:g}: exact {rate(resized)} ({kept} of the {sum(r[1] == r[2] for r in numbers)} "
              "read exactly as they are)")
        if args.wrong:
            print_wrong(resized, f"wrong at x{scale:g}")
    if args.changes:
        total = 0
        for what, change in CHANGES.items():
            changed = read_set(reader, args.root / "photos", labels, change=change)
            total += sum(r[1] == r[2] for r in changed)
            print(f"photos with {what}: read right {sum(r[1] == r[2] for r in changed)}/{len(changed)} "
                  "(numbers exactly, the blank page as nothing)")
            if args.wrong:
                print_wrong(changed, f"wrong with {what}")
        print(f"photos with a change, all: {total}/{len(CHANGES) * len(photos)} = "
              f"{100 * total / (len(CHANGES) * len(photos)):.1f} %")
    for what, change in TWO_LEVELS.items() if args.two_levels else ():
        changed = read_set(reader, args.root / "photos", labels, change=change)
        print(f"photos {what}: read right {sum(r[1] == r[2] for r in changed)}/{len(changed)}")
        if args.wrong:
            print_wrong(changed, f"wrong {what}")
    if args.wrong:
        print_wrong(numbers + blanks + exif)
        print_wrong(singles, "wrong single")


if __name__ == "__main__":
    sys.exit(main())
