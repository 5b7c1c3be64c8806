"""Fine-tuning the shipped model on someone else's handwriting, without forgetting MNIST.

    DIGITS_DATA=... python benchmarks/finetune_usps.py [--epochs 10] [--lr 1e-3] [--distill 1]

Makes an ImageFolder in a temporary folder from the 300 USPS scans of
../shared/real-photos/singles (the first 200 by name to train/, the other 100 to test/; the
images are never copied into the project), fine-tunes artifacts/digits.pth on it with
`--init-from` (MNIST mixed in, as by default), and prints accuracy on the 100 held-out scans and
on the MNIST test set, before and after: as model inputs (the 28x28 the loader makes) and end to
end through digits-edge's reader on the original files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from digits.edge.reader import DigitReader
from digits.edge.session import DigitModel
from digits.edge.sources import read_image
from digits.export.config import ExportConfig
from digits.export.pipeline import export_checkpoint
from digits.train.checkpoint import load_checkpoint, model_from_checkpoint
from digits.train.data import load_image_folder, load_mnist
from digits.train.paths import resolve_data_root
from digits.train.config import TrainConfig
from digits.train.loop import evaluate, fit

REPO = Path(__file__).resolve().parents[1]
SINGLES = REPO.parent / "shared" / "real-photos" / "singles"


def make_tree(root: Path) -> list[tuple[Path, int]]:
    """train/ and test/ ImageFolders (symlinks to the shared files); returns the held-out (path, label)."""
    labels = json.loads((SINGLES.parent / "singles_labels.json").read_text())
    usps = sorted(name for name in labels if name.startswith("usps_"))
    held_out = []
    for i, name in enumerate(usps):
        split = "train" if i < 200 else "test"
        folder = root / split / labels[name]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(SINGLES / name)
        if split == "test":
            held_out.append((SINGLES / name, int(labels[name])))
    return held_out


def read_exactly(model_path: Path, files: list[tuple[Path, int]]) -> int:
    reader = DigitReader(DigitModel(model_path, threads=1))
    return sum(reader.read(read_image(path)).text == str(label) for path, label in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=REPO / "artifacts" / "digits.pth")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--distill", type=float, default=0.0, help="digits-train --distill: keep the shipped model's answers")
    parser.add_argument("--data", default=None, help="MNIST root (default $DIGITS_DATA)")
    args = parser.parse_args()
    if not (SINGLES.parent / "singles_labels.json").is_file():
        print(f"skipped: {SINGLES} is not here (the shared real photos)")
        return
    mnist_root = resolve_data_root(args.data)
    work = Path(tempfile.mkdtemp(prefix="digits-finetune-"))
    try:
        held_out = make_tree(work / "usps")
        _, usps_test = load_image_folder(work / "usps")
        _, mnist_test = load_mnist(mnist_root, download=False)
        before = model_from_checkpoint(load_checkpoint(args.checkpoint))
        acc_usps_before = evaluate(before, usps_test)[1]
        acc_mnist_before = evaluate(before, mnist_test)[1]
        config = TrainConfig(init_from=str(args.checkpoint), data=str(work / "usps"), epochs=args.epochs, lr=args.lr,
                             distill=args.distill, batch_size=64, out=str(work / "run"), progress=False, device="cpu")
        os.environ["DIGITS_DATA"] = str(mnist_root)  # where the mix draws MNIST from
        started = time.perf_counter()
        fit(config, log=print)
        seconds = time.perf_counter() - started
        after = model_from_checkpoint(load_checkpoint(work / "run" / "last.pth"))
        acc_usps_after = evaluate(after, usps_test)[1]
        acc_mnist_after = evaluate(after, mnist_test)[1]
        export_checkpoint(work / "run" / "last.pth", work / "tuned.onnx", ExportConfig(data=str(mnist_root)), log=lambda _: None)
        shipped_onnx = REPO / "artifacts" / "digits.onnx"
        read_before, read_after = read_exactly(shipped_onnx, held_out), read_exactly(work / "tuned.onnx", held_out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = len(held_out)
    print(f"\nfine-tune of {args.checkpoint.name} on 200 USPS scans, {args.epochs} epochs at lr {args.lr:g}, MNIST mixed in "
          f"(half of each epoch's digits){f', distill {args.distill:g}' if args.distill else ''}: {seconds:.0f} s on {torch.get_num_threads()} CPU threads")
    print("| figure | before | after |\n|---|---|---|")
    print(f"| held-out USPS scans (100), model input accuracy | {100 * acc_usps_before:.1f} % | {100 * acc_usps_after:.1f} % |")
    print(f"| held-out USPS scans (100), digits-edge reads the file exactly | {read_before}/{n} | {read_after}/{n} |")
    print(f"| MNIST test (10,000) | {100 * acc_mnist_before:.2f} % | {100 * acc_mnist_after:.2f} % |")


if __name__ == "__main__":
    main()
