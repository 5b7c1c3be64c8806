"""Rebuild the shipped model from scratch: train our CNN on the full MNIST with the photo
augmentation, export it through the parity gate, and write its model card.

    python benchmarks/build_default_model.py      (or: make default-model)

Writes artifacts/digits.onnx (the edge's default model), artifacts/digits.pth (its checkpoint,
for the torch comparisons) and artifacts/digits.md (the model card); the run folder with the
curves, confusion matrix and misclassified digits is artifacts/runs/default/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
from dataclasses import replace
from pathlib import Path

import onnxruntime
import torch

from digits.edge import contract
from digits.edge.session import DigitModel
from digits.export.config import ExportConfig
from digits.export.pipeline import export_checkpoint
from digits.export.quantize import batch1_latency_us
from digits.train.checkpoint import load_checkpoint, sha256_of
from digits.train.data import load_mnist, to_float
from digits.train.loop import fit
from digits.train.models import build_model, count_multiply_adds
from digits.train.paths import resolve_data_root
from train_bench import RECIPES

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--run", type=Path, default=ARTIFACTS / "runs" / "default")
    parser.add_argument("--reuse-run", action="store_true",
                        help="skip training: export the finished run in --run again and rewrite the card")
    args = parser.parse_args()
    if not args.reuse_run:
        recipe, _ = RECIPES["digitnet"]
        config = replace(recipe, data=args.data, device=args.device, out=str(args.run), progress=False)
        if fit(config, log=print).interrupted:
            raise SystemExit(130)
    checkpoint = args.run / "last.pth"  # the finished schedule, not a test-set pick
    metrics = json.loads((args.run / "metrics.json").read_text())
    destination = ARTIFACTS / "digits.onnx"
    exported = export_checkpoint(checkpoint, destination, ExportConfig(data=args.data), log=print)
    print(exported.parity.summary())
    shutil.copyfile(checkpoint, ARTIFACTS / "digits.pth")

    payload = load_checkpoint(checkpoint)
    onnx_model = DigitModel(destination, threads=1)
    test = load_mnist(resolve_data_root(args.data), download=False)[1]
    latency = batch1_latency_us(onnx_model, to_float(test.images[:1]).numpy(), repeats=5000)
    net = build_model(payload["arch"], reject=bool(payload.get("reject")), **payload["model_config"])
    train_config = payload["train_config"]
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in train_config.items()
                     if k in ("epochs", "batch_size", "lr", "optimizer", "schedule", "weight_decay", "label_smoothing",
                              "negatives", "drawn_digits", "elastic", "refit", "ema", "seed"))
    flags += " --fresh-negatives" if train_config.get("fresh_negatives") else ""
    card = {
        "model": "artifacts/digits.onnx",
        "architecture": payload["arch"],
        "architecture_options": payload["model_config"],
        "parameters": sum(p.numel() for p in net.parameters()),
        "multiply_adds_per_digit": count_multiply_adds(net),
        "mnist_test_accuracy_onnx": exported.parity.onnx_test_accuracy,
        "parity": exported.parity.as_dict(),
        "reject": json.loads(exported.report_path.read_text())["reject"],
        "onnx_bytes": destination.stat().st_size,
        "onnx_sha256": sha256_of(destination),
        "checkpoint_sha256": sha256_of(ARTIFACTS / "digits.pth"),
        "batch1_latency_us_one_thread": round(latency, 1),
        "latency_machine": f"{platform.machine()}, {os.cpu_count()} CPUs, onnxruntime {onnxruntime.__version__}",
        "train_seconds": round(metrics["train_seconds"], 1),
        "train_device": metrics["device"],
        "torch": str(torch.__version__),
        "history": metrics["history"],
    }
    (ARTIFACTS / "digits.json").write_text(json.dumps(card, indent=2) + "\n")
    (ARTIFACTS / "digits.md").write_text(f"""# Model card: artifacts/digits.onnx

The default model of `digits-edge`: our `{card['architecture']}` CNN ({card['parameters']:,} parameters,
{card['multiply_adds_per_digit']:,} multiply-adds per digit), trained on the full MNIST training set
(60,000 digits) with the on-device photo augmentation (random rotation, scale, shift and shear,
stroke thickening/thinning, blur), plus an 11th class, not-a-digit, learned from non-digits
rendered during training ({round(train_config.get('negatives', 0) * 60000):,} per epoch, `digits.train.negatives`: paper and desk texture, shadow edges, ruled and
squared lines, blots, pens, paper clips, faces, coffee rings, letters and words in Hershey fonts,
random strokes, half digits, two digits stuck together; {'a new set every epoch' if train_config.get('fresh_negatives') else 'one set for the run'}),
{f"digits drawn in the hands MNIST lacks ({round(train_config['drawn_digits'] * 60000):,} per epoch, `digits.train.drawn`: flagged 1s, closed 4s, crossed 7s, printed digits), " if train_config.get('drawn_digits') else ''}{f"an average of the weights kept after every step (decay {train_config['ema']}), which is what is exported, " if train_config.get('ema') else ''}then exported through the parity gate.

| figure | value |
|---|---|
| MNIST test accuracy (all 10,000, onnxruntime) | {100 * card['mnist_test_accuracy_onnx']:.2f} % |
| parity vs torch (10,000 test digits, batch 1/2/7/64/1000) | max abs diff: probabilities {exported.parity.max_abs_probability_diff:.1e}, logits {exported.parity.max_abs_logit_diff:.1e}; top-1 agreement {100 * exported.parity.top1_agreement:.2f} % |
| not-a-digit: MNIST test digits rejected | {100 * card['reject']['digits_rejected']:.2f} % of {card['reject']['digits']:,} |
| not-a-digit: rendered non-digits rejected (benchmark set: other seed and generator settings than training) | {100 * card['reject']['negatives_rejected']:.2f} % of {card['reject']['negatives']:,} |
| ...by kind | {', '.join(f"{k} {100 * v:.0f} %" for k, v in card['reject']['by_kind'].items())} |
| file size | {card['onnx_bytes'] / 1024:.1f} KiB |
| latency, batch 1, one thread | {latency:.1f} us per digit ({card['latency_machine']}) |
| training | {len(metrics['history'])} epochs, {card['train_seconds']:.0f} s on {card['train_device']} (torch {card['torch']}) |
| checkpoint | artifacts/digits.pth, sha256 {card['checkpoint_sha256']} |

The exported model is the checkpoint after the last epoch of the schedule (not the epoch
with the best test score), so the test accuracy above is not selected on the test set.

**Input** (`{contract.INPUT_NAME}`): {contract.INPUT_DESCRIPTION} (MNIST's own normalisation;
`digits.edge.normalize`). **Outputs**: `{contract.PROBABILITIES_NAME}` [N,{contract.REJECT_INDEX + 1}], `{contract.LOGITS_NAME}` [N,{contract.REJECT_INDEX + 1}]; columns 0-9 are
the digits, column {contract.REJECT_INDEX} is not-a-digit (contract {contract.CONTRACT_VERSION}: metadata `{contract.META_REJECT_INDEX}` = {contract.REJECT_INDEX}).

**Reproduce** (one command, from a clone with MNIST at `$DIGITS_DATA`):

    make default-model

which runs `python benchmarks/build_default_model.py`, equivalent to

    digits-train --arch {card['architecture']} {flags} --out artifacts/runs/default
    digits-export artifacts/runs/default/last.pth artifacts/digits.onnx

**Data provenance**: MNIST (Yann LeCun, Corinna Cortes, Christopher J.C. Burges), the canonical
`train-images-idx3-ubyte` etc. files as `torchvision.datasets.MNIST` loads them; commonly
distributed under CC BY-SA 3.0. The training digits only; the test digits are used for the
figures above and nothing else.

**Limits**: MNIST is digits written by US Census employees and students, scanned; photographs of
other people's handwriting, unusual pens or strong perspective can be read less well. The
not-a-digit class was learned from rendered non-digits only: real objects unlike those kinds can
still be read as digits, and two touching digits or half a digit are the kinds it rejects least.
""")
    print(f"wrote {destination}, {ARTIFACTS / 'digits.pth'}, {ARTIFACTS / 'digits.md'}, {ARTIFACTS / 'digits.json'}")


if __name__ == "__main__":
    main()
