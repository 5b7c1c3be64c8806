"""Train every architecture on the full MNIST and print test accuracy, time, samples/s, device.

    python benchmarks/train_bench.py [--recipe lenet5 ...] [--device auto] [--out artifacts/runs/bench]

Each recipe is an ordinary digits-train configuration; the table's last column is the target
from the issue. `lenet5-sprint` is the speed run: the time until the test accuracy first
reaches 99.0%. Runs land in --out/<recipe>/ (checkpoints, metrics, PNGs).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from digits.train.config import TrainConfig
from digits.train.loop import fit, resolve_device

RECIPES: dict[str, tuple[TrainConfig, float]] = {
    "mlp": (TrainConfig(arch="mlp", epochs=20, lr=1e-3, batch_size=128, weight_decay=1e-4), 98.0),
    "deep-mlp": (TrainConfig(arch="deep-mlp", epochs=20, lr=1e-3, batch_size=128, weight_decay=1e-4), 98.2),
    "mlp4": (TrainConfig(arch="mlp4", epochs=20, lr=1e-3, batch_size=128, weight_decay=1e-4), 98.0),
    "simple-cnn": (TrainConfig(arch="simple-cnn", epochs=12, lr=2e-3, batch_size=128), 99.0),
    "lenet5": (TrainConfig(arch="lenet5", epochs=15, lr=3e-3, batch_size=128), 99.1),
    "lenet5-sprint": (TrainConfig(arch="lenet5", epochs=4, lr=3e-3, batch_size=128, augment=False), 99.0),
    "digitnet": (TrainConfig(arch="digitnet", epochs=30, lr=3e-3, batch_size=128, ema=0.999), 99.6),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", action="append", choices=list(RECIPES), help="default: all")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", type=Path, default=Path("artifacts/runs/bench"))
    args = parser.parse_args()

    rows = []
    for name in args.recipe or list(RECIPES):
        recipe, target = RECIPES[name]
        config = replace(recipe, device=args.device, data=args.data, out=str(args.out / name), progress=False)
        started = time.perf_counter()
        result = fit(config, log=lambda line: print(f"  [{name}] {line}", flush=True))
        wall = time.perf_counter() - started
        history = result.history
        train_seconds = sum(h.seconds for h in history)
        reached = next((sum(x.seconds for x in history[: h.epoch]) for h in history if h.test_accuracy >= 0.99), None)
        rows.append((name, 100 * history[-1].test_accuracy, 100 * max(h.test_accuracy for h in history), target,
                     len(history), train_seconds, wall, sum(h.samples_per_second for h in history) / len(history), reached))
    device = resolve_device(args.device)
    print(f"\nMNIST test accuracy (10,000 digits), device {device}")
    print("| recipe | final % | best % | target % | epochs | train s | wall s | samples/s | s to 99.0 % |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, final, best, target, epochs, train_s, wall, sps, reached in rows:
        print(f"| {name} | {final:.2f} | {best:.2f} | {target:.1f} | {epochs} | {train_s:.1f} | {wall:.1f} | {sps:,.0f} | "
              f"{'-' if reached is None else f'{reached:.1f}'} |")


if __name__ == "__main__":
    main()
