"""Export every architecture and compare onnxruntime with torch eager, side by side, one CPU thread.

    python benchmarks/export_bench.py [--runs artifacts/runs/bench]

Uses the checkpoints train_bench.py left in --runs/<arch>/best.pth (the shipped artifacts/digits.pth
for its architecture); an architecture without one is trained briefly (1 epoch on 5,000 digits)
so the table is always complete.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import torch

from digits.edge.session import DigitModel
from digits.edge.timing import median_us
from digits.export.config import ExportConfig
from digits.export.pipeline import export_checkpoint
from digits.train.checkpoint import load_checkpoint, model_from_checkpoint
from digits.train.data import load_mnist, to_float
from digits.train.paths import resolve_data_root
from digits.train.config import TrainConfig
from digits.train.loop import fit
from digits.train.models import ARCHITECTURES, count_multiply_adds, standardize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=Path("artifacts/runs/bench"))
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    test = load_mnist(resolve_data_root(args.data), download=False)[1]
    x64 = to_float(test.images[:64])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ARCHITECTURES:
            checkpoint = args.runs / arch / "best.pth"
            shipped = Path(__file__).resolve().parents[1] / "artifacts" / "digits.pth"
            if not checkpoint.exists() and arch == load_checkpoint(shipped)["arch"]:
                checkpoint = shipped
            if not checkpoint.exists():
                config = TrainConfig(arch=arch, epochs=1, limit_train=5000, data=args.data, out=str(Path(tmp) / arch), progress=False)
                checkpoint = fit(config, log=lambda _: None).run_dir / "best.pth"
            destination = Path(tmp) / f"{arch}.onnx"
            result = export_checkpoint(checkpoint, destination, ExportConfig(data=args.data), log=lambda _: None)
            model = model_from_checkpoint(load_checkpoint(checkpoint))
            onnx_model = DigitModel(destination, threads=1)
            row = [arch, count_multiply_adds(model), result.seconds, destination.stat().st_size / 1024,
                   result.parity.max_abs_probability_diff, result.parity.max_abs_logit_diff, 100 * result.parity.top1_agreement,
                   100 * result.parity.onnx_test_accuracy]
            for batch, repeats in ((1, 3000), (64, 300)):
                xb = x64[:batch]
                xn = xb.numpy()
                with torch.inference_mode():
                    torch_us = median_us(lambda: torch.softmax(model(standardize(xb)), 1), repeats)
                ort_us = median_us(lambda: onnx_model.probabilities(xn), repeats)
                row += [torch_us / batch, ort_us / batch, torch_us / ort_us]
            rows.append(row)
    print(f"\nExport and latency on one CPU thread: {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}")
    print("| arch | MACs | export s | size KiB | max dprob | max dlogit | top-1 agree % | ONNX test % "
          "| torch us/digit b1 | ORT us/digit b1 | ORT speed-up b1 | torch us/digit b64 | ORT us/digit b64 | ORT speed-up b64 |")
    print("|---" * 14 + "|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:,} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.1e} | {r[5]:.1e} | {r[6]:.2f} | {r[7]:.2f} "
              f"| {r[8]:.1f} | {r[9]:.1f} | {r[10]:.1f}x | {r[11]:.2f} | {r[12]:.2f} | {r[13]:.1f}x |")


if __name__ == "__main__":
    main()
