"""Faint pencil on ruled and squared paper: rendered sheets of three lines of five MNIST test digits,
in pencil on white, grey and yellow ruled and white squared paper (6 each), read exactly by the
shipped reader. Printed lines run through the digits' middles, as on squared paper, where a line
crowded with digits is hard to tell from them.

    python benchmarks/ruled_pencil.py [--model artifacts/digits.onnx]

The sheets are drawn as tests/test_reader_photos.py's test_papers_and_inks draws its own (the same
seeds for the same paper, rules and ink).

Then sheets photographed turned, as a phone is never held level: 40 sheets of three lines of five
MNIST test digits on ruled and squared paper (white, grey and yellow; ballpoint and pencil), each
level and turned -5, -3, +3 and +5 degrees (200 photos), read exactly, by rules, ink and angle.

Then dot-grid and graph paper (a bullet journal's dots; an engineering pad's fine green grid,
every fifth line darker): 20 sheets of each, three lines, the three papers, ballpoint and pencil,
each level and turned 4 degrees, read exactly; and as many empty pages, which should read nothing.
"""

from __future__ import annotations

import argparse
import zlib
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from digits.edge.errors import DigitsError
from digits.edge.reader import DigitReader
from digits.edge.session import DigitModel
from digits.train.render import load_mnist_test, render_sheet, turned_photo

PAGES = [("white", "ruled"), ("grey", "ruled"), ("white", "squared"), ("yellow", "ruled")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--data", default=None)
    parser.add_argument("--turned", type=int, default=40, help="sheets to read level and turned (each 5 times)")
    parser.add_argument("--grids", type=int, default=20, help="sheets on dot-grid and graph paper (each level and turned)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    images, labels = load_mnist_test(args.data)
    reader = DigitReader(DigitModel(args.model, threads=1))
    total = 0
    for paper, rules in PAGES:
        rng = np.random.default_rng(zlib.crc32(f"{paper}-{rules}-pencil".encode()))
        exact, wrong = 0, []
        for _ in range(6):
            lines, truth = three_lines(images, labels, rng)
            text = reader.read(render_sheet(lines, rng, paper=paper, rules=rules, ink="pencil")).text
            exact += text == truth
            if text != truth:
                wrong.append(f"{truth!r} read {text!r}")
        total += exact
        print(f"pencil on {paper} {rules} paper: {exact}/6 exact" + "".join(f"\n  {w}" for w in wrong))
    print(f"all: {total}/{6 * len(PAGES)} exact")

    rng = np.random.default_rng(515)
    right, counts = Counter(), Counter()
    for i in range(args.turned):
        paper, rules, ink = ("white", "grey", "yellow")[i % 3], ("ruled", "squared")[i % 2], ("ballpoint", "pencil")[i // 2 % 2]
        lines, truth = three_lines(images, labels, rng)
        sheet = render_sheet(lines, rng, paper=paper, rules=rules, ink=ink)
        for angle in (-5, -3, 0, 3, 5):
            keys = ("all", f"{rules} {ink}", f"turned {angle:+d} deg" if angle else "level")
            counts.update(keys)
            if reader.read(turned_photo(sheet, angle) if angle else sheet).text == truth:
                right.update(keys)
    print(f"sheets level and turned: {right['all']}/{counts['all']} exact; "
          + ", ".join(f"{key} {right[key]}/{counts[key]}" for key in sorted(counts) if key != "all"))

    for rules in ("dotted", "graph"):
        rng = np.random.default_rng(zlib.crc32(rules.encode()))
        exact = empty_read = 0
        for i in range(args.grids):
            paper, ink = ("white", "grey", "yellow")[i % 3], ("ballpoint", "pencil")[i % 2]
            lines, truth = three_lines(images, labels, rng)
            for angle in (0, (-4, 4)[i % 2]):
                sheet = render_sheet(lines, rng, paper=paper, rules=rules, ink=ink)
                exact += reader.read(turned_photo(sheet, angle) if angle else sheet).text == truth
                empty = render_sheet([[]], rng, paper=paper, rules=rules)
                empty_read += bool(reader.read(turned_photo(empty, angle) if angle else empty).text)
        print(f"{'dot-grid' if rules == 'dotted' else 'graph'} paper, level and turned 4 degrees: {exact}/{2 * args.grids} "
              f"sheets exact, {empty_read}/{2 * args.grids} empty pages read digits")


def three_lines(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[list[list[np.ndarray]], str]:
    """Three lines of five random MNIST test digits, and the number they make (lines joined by a space)."""
    picked = [rng.integers(0, len(images), 5) for _ in range(3)]
    return [[images[i] for i in line] for line in picked], " ".join("".join(str(labels[i]) for i in line) for line in picked)


if __name__ == "__main__":
    try:
        main()
    except DigitsError as exc:  # no MNIST, a model that does not load: one line
        raise SystemExit(f"error: {exc}") from None
