"""Touching digits: rendered numbers whose digits overlap (gap -12 % to -2 % of the digit height),
read exactly by the shipped reader, and by the same reader with the touching-digit cut switched off.

    python benchmarks/touching.py [--model artifacts/digits.onnx] [--photos 150]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from digits.edge.errors import DigitsError
from digits.edge.finder import FinderSettings
from digits.edge.reader import DigitReader
from digits.edge.session import DigitModel
from digits.train.render import PhotoStyle, load_mnist_test, random_number, render_number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--photos", type=int, default=150)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    images, labels = load_mnist_test(args.data)
    rng = np.random.default_rng(800)  # the seed test_touching_digits_are_cut_where_the_model_reads_them starts from
    photos = []
    for i in range(args.photos):
        digits, truth = random_number(images, labels, rng)
        photos.append((render_number(digits, rng, PhotoStyle(gap=(-0.12, -0.02)), invert=i % 4 == 3), truth))
    model = DigitModel(args.model, threads=1)
    for name, settings in (("with the cut", FinderSettings()), ("without it", replace(FinderSettings(), split_min_aspect=1e9, split_read_aspect=1e9))):
        reader = DigitReader(model, settings=settings)
        exact = sum(reader.read(photo).text == truth for photo, truth in photos)
        print(f"numbers with touching digits read exactly, {name}: {exact}/{len(photos)}")


if __name__ == "__main__":
    try:
        main()
    except DigitsError as exc:  # no MNIST, a model that does not load: one line
        raise SystemExit(f"error: {exc}") from None
