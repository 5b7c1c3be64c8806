"""What the shipped model and the reader do with things that are not digits.

    python benchmarks/not_a_digit.py [--model artifacts/digits.onnx] [--baseline OLD.onnx]

1. The benchmark set: 2,000 non-digits rendered with another seed and other generator settings
   (BENCH_STYLE) than training, MNIST test digits for the half/two-digit kinds: share rejected,
   by kind; and the share of the 10,000 MNIST test digits rejected.
2. A newcomer's scenes, photographed on paper: a pen, a paper clip, a face, a coffee ring, the
   word "hello", an ink blot, each alone on the page: what the reader reads (should be nothing).
   Then each thing photographed 20 other ways (turned, scaled, at a slant), alone (should read
   nothing) and beside a number (should read the number).
3. Pages without digits: blank, ruled and squared; white, grey and yellow paper; a sheet on a desk;
   empty notebook pages with a spiral binding or punched holes; ruled, squared and notebook pages turned.
4. Per-digit latency at batch 1, one thread, against --baseline (e.g. the previous model) in one run.
5. A non-digit of the benchmark set's kinds written inside a number (300 lines): read exactly?
   (Not two digits stuck together nor half a digit: inside a number those are its digits.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
from digits.train.render import (corner_light, load_mnist_test, notebook_page, on_desk, phone_shadow, render_blank, render_sheet,
                                  turned_photo)

from digits.edge import contract
from digits.edge.reader import DigitReader
from digits.edge.errors import DigitsError
from digits.edge.session import DigitModel
from digits.edge.timing import median_us


def scene(draw) -> np.ndarray:
    """A 640x480 photo of white paper with one thing drawn on it."""
    rng = np.random.default_rng(7)
    page = render_sheet([[]], rng).copy()
    draw(page)
    return cv2.GaussianBlur(page, (0, 0), 0.8)


def pen(page):
    cv2.rectangle(page, (150, 215), (470, 250), (40, 35, 30), -1)
    cv2.fillPoly(page, [np.array([[470, 215], [520, 232], [470, 250]], np.int32)], (150, 150, 150))
    cv2.rectangle(page, (170, 205), (300, 212), (120, 120, 125), -1)


def clip(page):
    points = [(200, 240), (440, 240), (460, 220), (440, 200), (180, 200), (160, 225), (180, 255), (420, 255), (430, 240), (420, 228), (220, 228)]
    cv2.polylines(page, [np.array(points, np.int32)], False, (110, 110, 120), 4, cv2.LINE_AA)


def face(page):
    cv2.circle(page, (320, 240), 110, (40, 40, 40), 4, cv2.LINE_AA)
    cv2.circle(page, (280, 210), 10, (40, 40, 40), -1)
    cv2.circle(page, (360, 210), 10, (40, 40, 40), -1)
    cv2.ellipse(page, (320, 270), (50, 30), 0, 20, 160, (40, 40, 40), 4, cv2.LINE_AA)


def coffee_ring(page):
    overlay = page.copy()
    cv2.circle(overlay, (320, 240), 90, (120, 160, 190), -1)
    page[:] = cv2.addWeighted(overlay, 0.25, page, 0.75, 0)
    cv2.circle(page, (320, 240), 90, (70, 110, 150), 5, cv2.LINE_AA)


def hello(page):
    cv2.putText(page, "hello", (170, 270), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 3.0, (40, 30, 30), 5, cv2.LINE_AA)


def blot(page):
    cv2.ellipse(page, (320, 240), (60, 40), 20, 0, 360, (30, 25, 25), -1)
    for x, y, r in ((400, 200, 8), (250, 290, 6), (380, 300, 5)):
        cv2.circle(page, (x, y), r, (30, 25, 25), -1)


SCENES = {"pen": pen, "paper clip": clip, "face": face, "coffee ring": coffee_ring, "word 'hello'": hello, "ink blot": blot}


def thing_alone(draw) -> tuple[np.ndarray, np.ndarray]:
    """(the scene's empty paper, the scene's thing alone over nothing: the difference it makes, float32)."""
    paper = render_sheet([[]], np.random.default_rng(7))
    thing = paper.copy()
    draw(thing)
    return paper, thing.astype(np.float32) - paper.astype(np.float32)


def posed(paper: np.ndarray, layer: np.ndarray, rng: np.random.Generator, page: np.ndarray | None = None,
          band: tuple[int, int] | None = None) -> np.ndarray:
    """The thing `layer` (thing_alone's) photographed another way: turned (-90..90 degrees), scaled
    (0.5-1.2) and squashed along a random direction (to 0.6-1: a page photographed at a slant),
    anywhere on `paper`, or on `page` (a photo of a number) within the rows `band` (y0, y1), shrunk to fit."""
    h, w = paper.shape[:2]
    turn, squash, along = rng.uniform(-90, 90), rng.uniform(0.6, 1.0), rng.uniform(0, 180)
    m = np.vstack([cv2.getRotationMatrix2D((w / 2, h / 2), along, 1.0), [0, 0, 1]])
    m = np.linalg.inv(m) @ np.diag([1.0, squash, 1.0]) @ m
    m = np.vstack([cv2.getRotationMatrix2D((w / 2, h / 2), turn, rng.uniform(0.5, 1.2)), [0, 0, 1]]) @ m
    ys, xs = np.nonzero(np.abs(layer).max(axis=2) > 2)
    corners = m[:2] @ np.array([[xs.min(), xs.max(), xs.min(), xs.max()], [ys.min(), ys.min(), ys.max(), ys.max()], [1, 1, 1, 1]])
    (x0, y0), (x1, y1) = corners.min(axis=1), corners.max(axis=1)
    top, bottom = band or (0, h)
    fit = min(1.0, (bottom - top - 4) / (y1 - y0), (w - 4) / (x1 - x0))
    m = np.diag([fit, fit, 1.0]) @ m
    x0, y0, x1, y1 = x0 * fit, y0 * fit, x1 * fit, y1 * fit
    m[0, 2] += rng.uniform(2, max(3.0, w - 2 - (x1 - x0))) - x0
    m[1, 2] += top + rng.uniform(2, max(3.0, bottom - top - 2 - (y1 - y0))) - y0
    moved = cv2.warpAffine(layer, m[:2], (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    base = (paper if page is None else page).astype(np.float32)
    return cv2.GaussianBlur(np.clip(base + moved, 0, 255).astype(np.uint8), (0, 0), 0.8)


def posed_scenes(reader: DigitReader, data: str | None, count: int = 20) -> dict[str, tuple[int, int, list[str]]]:
    """Each scene's thing at `count` other poses (`posed`), alone on the page, and beside a number of
    five MNIST test digits (35 px high on the 640x480 photo; the thing above or below it, as a pen
    lies beside what it wrote): (alone read as digits, numbers read exactly, what was read wrongly)."""
    images, labels = load_mnist_test(data)
    results = {}
    for name, draw in SCENES.items():
        rng = np.random.default_rng(17)
        paper, layer = thing_alone(draw)  # (once: the same thing in every pose)
        alone, exact, wrong = 0, 0, []
        for i in range(count):
            text = reader.read(posed(paper, layer, rng)).text
            alone += bool(text)
            picks = rng.integers(1000, len(images), 5)
            truth = "".join(str(labels[j]) for j in picks)
            number = render_sheet([[images[j] for j in picks]], rng, digit_height=35)
            got = reader.read(posed(paper, layer, rng, number, (8, 200) if i % 2 else (280, 472))).text
            exact += got == truth
            wrong += [text] * bool(text) + [f"{got} for {truth}"] * (got != truth)
        results[name] = (alone, exact, wrong)
    return results


def inside_a_number(reader: DigitReader, data: str | None, count: int = 300) -> tuple[int, dict, int]:
    """Each non-digit of a new draw of the benchmark set's kinds (another seed; not two digits stuck
    together nor half a digit), written at the digits' height between the 2nd and 3rd of four MNIST
    test digits on one line: whether the line reads as the four digits; and how many of the lines
    read exactly without it (the digits' own misreads). A cross-out, a sign or a letter inside a
    number is harder to set aside than a thing beside it: it stands in the line of digits, where the
    reader takes clear digits the model doubts (the in-line rescue)."""
    from digits.train.negatives import BENCH_SEED, BENCH_STYLE, render_negatives

    images, labels = load_mnist_test(data)
    negatives, kinds = render_negatives(2 * count, seed=BENCH_SEED + 1, style=BENCH_STYLE, digits=images[:1000])
    # Two digits stuck together are, inside a number, two of its digits (the reader cuts them apart), and
    # half a digit is what a rubbed-out digit leaves: neither is a non-digit there.
    chosen = [i for i, kind in enumerate(kinds) if kind not in ("two_digits", "half_digit")][:count]
    negatives, kinds = negatives[chosen], [kinds[i] for i in chosen]
    rng = np.random.default_rng(3)
    right, by_kind, alone = 0, {}, 0
    for i, (negative, kind) in enumerate(zip(negatives, kinds)):
        picks = rng.integers(1000, len(images), 4)
        truth = "".join(str(labels[j]) for j in picks)
        line = [images[j] for j in picks]
        alone += reader.read(render_sheet([line], np.random.default_rng(i), size=(800, 480), digit_height=50)).text == truth
        line.insert(2, negative)
        read = reader.read(render_sheet([line], rng, size=(800, 480), digit_height=50)).text == truth
        right += read
        ok, n = by_kind.get(kind, (0, 0))
        by_kind[kind] = (ok + read, n + 1)
    return right, by_kind, alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--baseline", type=Path, default=None, help="another model to compare latency with, in this run")
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    onnx_model = DigitModel(args.model, threads=1)
    reader = DigitReader(onnx_model)
    print(f"model {onnx_model.path.name} ({onnx_model.architecture}, contract {onnx_model.metadata[contract.META_CONTRACT]}, "
          f"{'with' if onnx_model.reject_index is not None else 'WITHOUT'} the not-a-digit class)")

    if onnx_model.reject_index is not None:
        from digits.train.negatives import rejection_figures

        images, _ = load_mnist_test(args.data)
        figures = rejection_figures(onnx_model.probabilities, onnx_model.reject_index, images)
        print(f"1. rendered non-digits rejected: {100 * figures['negatives_rejected']:.2f} % of {figures['negatives']}; "
              f"MNIST test digits rejected: {100 * figures['digits_rejected']:.2f} % of {figures['digits']}")
        for kind, share in figures["by_kind"].items():
            print(f"   {kind:<11} {100 * share:6.2f} %")

    print("2. a newcomer's scenes (should read nothing):")
    for name, draw in SCENES.items():
        reading = reader.read(scene(draw))
        print(f"   {name:<12} read {reading.text or '(no digits)':<12} set aside {len(reading.rejected)}")

    count = 20
    print(f"   the same things photographed other ways ({count} each: turned, scaled, at a slant; alone on the page, and "
          f"beside a number of five digits):")
    for name, (alone, exact, wrong) in posed_scenes(reader, args.data, count).items():
        print(f"   {name:<12} alone: {alone}/{count} read digits; beside a number: {exact}/{count} read exactly"
              + (f" ({', '.join(wrong[:6])}{', ...' if len(wrong) > 6 else ''})" if wrong else ""))

    rng = np.random.default_rng(11)
    pages = {f"{paper} {rules or 'blank'}": render_sheet([[]], rng, paper=paper, rules=rules)
             for paper in ("white", "grey", "yellow") for rules in (None, "ruled", "squared")}
    pages["sheet on a desk"] = on_desk(render_blank(rng), rng)
    read = {name: reader.read(page).text for name, page in pages.items()}
    print(f"3. pages without digits: {sum(bool(t) for t in read.values())}/{len(read)} read as digits"
          + "".join(f"; {n}: {t!r}" for n, t in read.items() if t))
    # Empty notebook pages, 5 of each: a spiral binding or punched holes; as they are, on a desk, lit from a corner, shadowed.
    ways = {"as they are": lambda page: page, "on a desk": lambda page: on_desk(page, rng),
            "corner light": corner_light, "shadowed": lambda page: phone_shadow(page, rng)}
    for binding in ("spiral", "holes"):
        texts = {way: [reader.read(change(notebook_page(rng, binding=binding))).text for _ in range(5)] for way, change in ways.items()}
        print(f"   empty notebook pages, {binding}: " + ", ".join(f"{way} {sum(map(bool, t))}/5" for way, t in texts.items())
              + " read as digits" + "".join(f"; {t!r}" for ts in texts.values() for t in ts if t))
    # The same kinds photographed turned (a phone is never held quite level): ruled and squared paper's
    # lines then drift across a level stretch, and a notebook's margin leans.
    turned_rng = np.random.default_rng(13)
    sheets = [render_sheet([[]], turned_rng, paper=paper, rules=rules) for paper in ("white", "grey", "yellow")
              for rules in ("ruled", "squared")] + [notebook_page(turned_rng, binding=b) for b in ("spiral", "holes") for _ in range(2)]
    texts = [reader.read(turned_photo(sheet, angle)).text for sheet in sheets for angle in (-6, -4, -2, 2, 4, 6)]
    print(f"   pages turned 2-6 degrees either way ({len(texts)}: ruled and squared white, grey and yellow paper, notebook "
          f"pages): {sum(map(bool, texts))}/{len(texts)} read as digits, {sum(len(t.replace(' ', '')) for t in texts)} digits")

    digit = np.zeros((1, 1, 28, 28), np.float32)
    digit[0, 0, 4:24, 12:16] = 1.0
    if args.baseline:
        baseline = DigitModel(args.baseline, threads=1)
        ours, theirs = [], []
        for _ in range(3):  # interleaved, so drift of the machine hits both alike
            ours.append(median_us(lambda: onnx_model.probabilities(digit), 3000))
            theirs.append(median_us(lambda: baseline.probabilities(digit), 3000))
        print(f"4. per-digit latency, batch 1, one thread: {np.median(ours):.1f} us vs {np.median(theirs):.1f} us for "
              f"{args.baseline.name}: {100 * (np.median(ours) / np.median(theirs) - 1):+.1f} %")
    else:
        print(f"4. per-digit latency, batch 1, one thread: {median_us(lambda: onnx_model.probabilities(digit), 3000):.1f} us")

    if onnx_model.reject_index is not None:
        count = 300
        inside, by_kind, alone = inside_a_number(reader, args.data, count)
        print(f"5. a non-digit written inside a number (two digits, it, two digits; the benchmark set's kinds but two digits "
              f"and half digits, at the digits' height): read exactly, it set aside, {inside}/{count} (the four digits without it: "
              f"{alone}/{count}); by kind: " + ", ".join(f"{kind} {ok}/{n}" for kind, (ok, n) in sorted(by_kind.items())))


if __name__ == "__main__":
    try:
        main()
    except DigitsError as exc:  # no MNIST, a model that does not load: one line
        raise SystemExit(f"error: {exc}") from None
