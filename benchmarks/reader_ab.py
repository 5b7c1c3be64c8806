"""The reader now against the reader of an earlier commit, in one process, picture by picture
alternately: the VM's speed drifts up to 1.8x within a session, so two runs apart compare phases,
not readers. Prints the ratio of the frame medians and of the photos' times, and how many readings
differ (a change made for speed alone must differ on none).

    python benchmarks/reader_ab.py --before HEAD~3 [--model artifacts/digits.onnx] [--frames 200] [--rounds 3]

Frames: rendered 640x480 numbers, JPEG-decoded once beforehand (a quarter light ink on dark), each read
once per round by both readers, in alternating order. Photos: ../shared/real-photos/photos (skipped
with a note when absent), each read three times by both, the fastest of the three kept. Textures
(--textures N): 640x480 carpet- or fabric-like surfaces (digits.train.render.texture, the tests'
four kinds in turn), each read three times by both, the fastest kept: hundreds of blobs a picture,
the reader's slowest kind of frame. The earlier
reader is `edge/` at --before, taken with `git archive` into a temporary folder and imported as
`digits.edge_before`; both use the same model file.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np

from digits.edge.errors import DigitsError
from digits.edge.reader import DigitReader
from digits.edge.session import DigitModel
from digits.edge.sources import read_image
from digits.train.render import TEXTURE_KINDS, load_mnist_test, random_number, render_number, texture

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "real-photos" / "photos"


def earlier_reader_class(revision: str, folder: Path):
    """(DigitReader, DigitModel) of `edge/` at `revision`, imported from `folder` as digits.edge_before."""
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "edge"], check=True, capture_output=True).stdout
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"error: git archive {revision}: {exc.stderr.decode(errors='replace').strip()}") from None
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    edge = folder / "edge"
    spec = importlib.util.spec_from_file_location("digits.edge_before", edge / "__init__.py", submodule_search_locations=[str(edge)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["digits.edge_before"] = module
    spec.loader.exec_module(module)
    reader = importlib.import_module("digits.edge_before.reader")
    session = importlib.import_module("digits.edge_before.session")
    return reader.DigitReader, session.DigitModel


def seconds(reader, image) -> tuple[float, str]:
    started = time.perf_counter()
    text = reader.read(image).text
    return time.perf_counter() - started, text


def fastest_of_three(before, now, pictures: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    """(seconds before, seconds now, how many readings differ): each picture read three times by each
    reader, alternately, the fastest of each reader's three kept."""
    best_before, best_now = np.full(len(pictures), np.inf), np.full(len(pictures), np.inf)
    differ = 0
    for k, picture in enumerate(pictures):
        for _ in range(3):
            tb, textb = seconds(before, picture)
            tn, textn = seconds(now, picture)
            best_before[k], best_now[k] = min(best_before[k], tb), min(best_now[k], tn)
        differ += textb != textn
    return best_before, best_now, differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--model", type=Path, default=REPO / "artifacts" / "digits.onnx")
    parser.add_argument("--data", default=None)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--textures", type=int, default=16)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        BeforeReader, BeforeModel = earlier_reader_class(args.before, Path(tmp))
        before = BeforeReader(BeforeModel(args.model, threads=1))
        now = DigitReader(DigitModel(args.model, threads=1))
        images, labels = load_mnist_test(args.data)
        rng = np.random.default_rng(2026)
        frames = []
        for i in range(args.frames):
            digits, _ = random_number(images, labels, rng)
            jpeg = cv2.imencode(".jpg", render_number(digits, rng, invert=i % 4 == 3), [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
            frames.append(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))
        print(f"reader now vs at {args.before} on {platform.machine()}, one thread, model {args.model.name}: "
              f"{len(frames)} frames x {args.rounds} rounds, alternately")
        for frame in frames[:20]:  # warm both
            seconds(before, frame), seconds(now, frame)
        times_before, times_now, differ = [], [], set()
        for round_ in range(args.rounds):
            for k, frame in enumerate(frames):
                if (round_ + k) % 2 == 0:
                    (tb, textb), (tn, textn) = seconds(before, frame), seconds(now, frame)
                else:
                    (tn, textn), (tb, textb) = seconds(now, frame), seconds(before, frame)
                times_before.append(tb)
                times_now.append(tn)
                if textb != textn:
                    differ.add(k)
        mb, mn = np.median(times_before) * 1e3, np.median(times_now) * 1e3
        print(f"frames: median {mb:.3f} ms before, {mn:.3f} ms now: {mn / mb:.3f}x; "
              f"p95 {np.percentile(times_before, 95) * 1e3:.2f} vs {np.percentile(times_now, 95) * 1e3:.2f} ms; "
              f"readings differ on {len(differ)} of {len(frames)}")
        if args.textures:
            texture_rng = np.random.default_rng(9)  # the seed of test_a_textured_surface_reads_no_digits
            surfaces = [texture(texture_rng, *TEXTURE_KINDS[k % len(TEXTURE_KINDS)]) for k in range(args.textures)]
            tb, tn, texture_differ = fastest_of_three(before, now, surfaces)
            print(f"textures ({len(surfaces)}, fastest of 3 each): mean {tb.mean() * 1e3:.1f} ms before, {tn.mean() * 1e3:.1f} ms "
                  f"now: {tn.sum() / tb.sum():.3f}x; max {tb.max() * 1e3:.1f} vs {tn.max() * 1e3:.1f} ms; "
                  f"readings differ on {texture_differ}")
        paths = sorted(p for p in PHOTOS.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")) if PHOTOS.is_dir() else []
        if not paths:
            print(f"photos: {PHOTOS} not found; skipped")
            return
        best_before, best_now, photo_differ = fastest_of_three(before, now, [read_image(str(p)) for p in paths])
        slowest = int(np.argmax(best_now))
        print(f"photos ({len(paths)}, fastest of 3 each): all {best_before.sum() * 1e3:.0f} ms before, "
              f"{best_now.sum() * 1e3:.0f} ms now: {best_now.sum() / best_before.sum():.3f}x; median "
              f"{np.median(best_before) * 1e3:.1f} vs {np.median(best_now) * 1e3:.1f} ms; max {best_before.max() * 1e3:.1f} "
              f"vs {best_now.max() * 1e3:.1f} ms ({paths[slowest].name} now); readings differ on {photo_differ}")


if __name__ == "__main__":
    try:
        main()
    except DigitsError as exc:  # no MNIST, a model that does not load: one line
        raise SystemExit(f"error: {exc}") from None
