"""The edge on this machine, one CPU thread: model latency (onnxruntime vs torch eager, same
model, one run), whole-frame time, video frames/s, and reading accuracy on generated photos.

    python benchmarks/edge_bench.py [--model artifacts/digits.onnx] [--checkpoint artifacts/digits.pth]

Photos are real MNIST test digits rendered as ink on paper (digits.train.render) with lighting
gradients, blur, noise, rotation, perspective and JPEG; a quarter are light ink on dark. Then the
same numbers on a sheet lying on a textured surface (--textured, seed 78).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
from digits.train.render import load_mnist_test, on_desk, random_number, render_blank, render_number, texture, write_video

from digits.edge.reader import DigitReader
from digits.edge.errors import DigitsError
from digits.edge.session import DigitModel
from digits.edge.sources import FileFrames, open_capture
from digits.edge.timing import call_seconds, median_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "artifacts" / "digits.onnx")
    parser.add_argument("--checkpoint", type=Path, default=REPO / "artifacts" / "digits.pth")
    parser.add_argument("--data", default=None)
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--blanks", type=int, default=100)
    parser.add_argument("--textured", type=int, default=120, help="sheets on a textured surface")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    images, labels = load_mnist_test(args.data)
    onnx_model = DigitModel(args.model, threads=1)
    reader = DigitReader(onnx_model)
    digit = images[:1, None].astype(np.float32) / 255

    print(f"edge benchmark on {platform.machine()} ({platform.processor() or 'cpu'}), one thread, model {args.model.name} "
          f"({onnx_model.architecture})")
    ort_us = median_us(lambda: onnx_model.probabilities(digit), 5000)
    line = f"model latency per digit at batch 1: onnxruntime {ort_us:.1f} us"
    try:
        import torch

        from digits.train.checkpoint import load_checkpoint, model_from_checkpoint
        from digits.train.models import standardize

        torch.set_num_threads(1)
        net = model_from_checkpoint(load_checkpoint(args.checkpoint))
        x = torch.from_numpy(digit)
        with torch.inference_mode():
            torch_us = median_us(lambda: torch.softmax(net(standardize(x)), 1), 5000)
        line += f", torch eager {torch_us:.1f} us: onnxruntime is {torch_us / ort_us:.1f}x as fast"
    except ImportError:
        line += " (torch not installed: no torch comparison)"
    print(line)

    # The other backend (--backend opencv, for places without onnxruntime): same answers, its speed.
    batch = images[:, None].astype(np.float32) / 255
    dnn = DigitModel(args.model, threads=1, backend="opencv")
    ort_p = np.concatenate([onnx_model.probabilities(batch[i : i + 500]) for i in range(0, len(batch), 500)])
    dnn_p = np.concatenate([dnn.probabilities(batch[i : i + 500]) for i in range(0, len(batch), 500)])
    dnn_us = median_us(lambda: dnn.probabilities(digit), 5000)
    print(f"OpenCV dnn backend vs onnxruntime on {len(batch):,} MNIST test digits: max |dprob| "
          f"{np.abs(ort_p - dnn_p).max():.1e}, top-1 the same on {(ort_p.argmax(1) == dnn_p.argmax(1)).sum():,}; "
          f"{dnn_us:.1f} us per digit at batch 1 = {dnn_us / ort_us:.2f}x onnxruntime's")

    rng = np.random.default_rng(2026)
    photos, truths = [], []
    for i in range(args.photos):
        digits, truth = random_number(images, labels, rng)
        photos.append(render_number(digits, rng, invert=i % 4 == 3))
        truths.append(truth)
    jpegs = [cv2.imencode(".jpg", p, [cv2.IMWRITE_JPEG_QUALITY, 90])[1] for p in photos]
    frame_ms = np.array(call_seconds(lambda it=iter(range(10**9)): reader.read(cv2.imdecode(jpegs[next(it) % len(jpegs)], cv2.IMREAD_COLOR)), 1000)) * 1e3
    print(f"whole frame (640x480 JPEG in, text out): median {np.median(frame_ms):.2f} ms, p95 {np.percentile(frame_ms, 95):.2f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        video = write_video(Path(tmp), images, labels, rng, frames=120)
        started = time.perf_counter()
        count = sum(1 for frame in FileFrames(open_capture(str(video))) if reader.read(frame) is not None)
        print(f"video file ({video.suffix}, 640x480 MJPG): {count / (time.perf_counter() - started):.0f} frames/s (decode + read)")

    exact = sum(reader.read(p).text == t for p, t in zip(photos, truths))
    digits_total = sum(len(t) for t in truths)
    print(f"photographed numbers read exactly: {exact}/{len(photos)} = {100 * exact / len(photos):.1f}% "
          f"({digits_total} digits, 3-6 per photo)")
    blanks = [render_blank(rng, invert=i % 2 == 1) for i in range(args.blanks)]
    false_digits = sum(len(reader.read(b).digits) for b in blanks)
    print(f"blank pages: {false_digits} digits read on {len(blanks)} pages")

    # A sheet photographed on a textured surface (a carpet, a cloth, stone): 0.6-0.8 of the picture.
    desk_rng = np.random.default_rng(78)
    kinds = [(2, 60), (2, 120), (3, 60), (6, 80)]  # texture's blob size (px) and contrast (grey levels)
    on_texture = []
    for i in range(args.textured):
        digits, truth = random_number(images, labels, desk_rng)
        photo = on_desk(render_number(digits, desk_rng), desk_rng, fill=desk_rng.uniform(0.6, 0.8),
                        surface=texture(desk_rng, *kinds[i % len(kinds)]))
        reading = reader.read(photo)
        on_texture.append((reading.text == truth, reading.ms))
    if on_texture:
        ms = [m for _, m in on_texture]
        print(f"numbers on a sheet on a textured surface (carpet- or fabric-like): {sum(ok for ok, _ in on_texture)}/"
              f"{len(on_texture)} exact, median {np.median(ms):.1f} ms, max {max(ms):.1f} ms")


if __name__ == "__main__":
    try:
        main()
    except DigitsError as exc:  # no MNIST, a model that does not load: one line
        raise SystemExit(f"error: {exc}") from None
