"""What a run leaves behind besides its checkpoints: metrics.json after every epoch, and at the
end the PNGs (learning curves, confusion matrix, misclassified digits)."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display
import matplotlib.pyplot as plt
import numpy as np
import torch

from digits.edge import __version__ as toolkit_version
from digits.edge.contract import CLASSES, REJECT_INDEX
from digits.edge.output import atomic_write

from .config import EpochStats, TrainConfig, TrainingError
from .data import Split


def plot_curves(history, path: Path) -> None:
    from matplotlib.ticker import MaxNLocator

    epochs = [h.epoch for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h.train_loss for h in history], "o-", label="train")
    ax_loss.plot(epochs, [h.test_loss for h in history], "o-", label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.plot(epochs, [100 * h.train_accuracy for h in history], "o-", label="train (augmented)")
    ax_acc.plot(epochs, [100 * h.test_accuracy for h in history], "o-", label="test")
    if any(getattr(h, "mnist_accuracy", None) is not None for h in history):
        ax_acc.plot(epochs, [100 * (h.mnist_accuracy or 0) for h in history], "o-", label="MNIST test (mixed in)")
    best = max(history, key=lambda h: h.test_accuracy)
    # The best figure in a box above the plot's data, pointing at its epoch: never on the lines.
    ax_acc.annotate(f"best {100 * best.test_accuracy:.2f}% (epoch {best.epoch})", (best.epoch, 100 * best.test_accuracy),
                    xycoords="data", xytext=(0.5, 1.0), textcoords="axes fraction", ha="center", va="bottom",
                    fontsize=9, arrowprops={"arrowstyle": "->", "alpha": 0.6},
                    bbox={"boxstyle": "round", "fc": "white", "alpha": 0.9})
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)")
    ax_acc.set_title("accuracy", pad=22)
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def confusion_matrix(labels: torch.Tensor, predicted: torch.Tensor) -> np.ndarray:
    """Rows: true digit; columns: predicted digit, plus a last column for not-a-digit when the
    model has the reject class (REJECT_INDEX)."""
    rows = len(CLASSES)
    columns = rows + 1 if bool((predicted == REJECT_INDEX).any()) else rows
    return torch.bincount(labels * columns + predicted, minlength=rows * columns).reshape(rows, columns).numpy()


def plot_confusion(labels: torch.Tensor, predicted: torch.Tensor, path: Path) -> None:
    matrix = confusion_matrix(labels, predicted)
    errors = matrix.copy()
    np.fill_diagonal(errors, 0)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(errors, cmap="Reds")
    for t in range(matrix.shape[0]):
        for p in range(matrix.shape[1]):
            ax.text(p, t, str(matrix[t, p]), ha="center", va="center", fontsize=8,
                    color="tab:blue" if t == p else ("white" if errors[t, p] > errors.max() / 2 else "black"))
    accuracy = np.trace(matrix[:, : len(CLASSES)]) / matrix.sum()
    ax.set(xticks=range(matrix.shape[1]), yticks=range(len(CLASSES)), xlabel="predicted", ylabel="true",
           xticklabels=[str(c) for c in CLASSES] + (["not"] if matrix.shape[1] > len(CLASSES) else []),
           title=f"confusion on {matrix.sum():,} test digits: {100 * accuracy:.2f}% right\n(colour: errors only)")
    fig.colorbar(image, ax=ax, label="errors")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_misclassified(images: torch.Tensor, labels: torch.Tensor, predicted: torch.Tensor, path: Path, limit: int = 64) -> None:
    wrong = torch.nonzero(predicted != labels).flatten()[:limit]
    cols = 8
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong.tolist()):
        ax.imshow(images[i].numpy(), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"pred {predicted[i].item()} / true {labels[i].item()}", fontsize=7, color="tab:red")
    total = int((predicted != labels).sum())
    fig.suptitle(f"misclassified test digits: first {len(wrong)} of {total}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def versions() -> dict[str, str]:
    import torchvision

    return {
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "python": platform.python_version(),
        "digits": toolkit_version,
    }


def write_metrics(run_dir: Path, config: TrainConfig, history: list[EpochStats], macs: int, device: torch.device,
                  resolved: dict[str, Any]) -> None:
    """metrics.json, rewritten whole after every epoch, so a stopped run still has its figures."""
    metrics = {
        "arch": config.arch,
        "epochs_done": len(history),
        "final_test_accuracy": history[-1].test_accuracy,
        "best_test_accuracy": max(h.test_accuracy for h in history),
        "train_seconds": sum(h.seconds for h in history),
        "multiply_adds": macs,
        "device": str(device),
        "config": asdict(config),
        "resolved": resolved,
        "history": [asdict(h) for h in history],
        "versions": versions(),
    }
    text = json.dumps(metrics, indent=2, allow_nan=False) + "\n"
    try:
        atomic_write(run_dir / "metrics.json", lambda tmp: tmp.write_text(text))
    except OSError as exc:
        raise TrainingError(f"{run_dir / 'metrics.json'}: cannot write ({exc.strerror or exc})") from None


def write_run_report(run_dir: Path, history: list[EpochStats], test: Split, predicted: torch.Tensor) -> None:
    """The run's pictures: learning curves, confusion matrix, misclassified digits."""
    labels = test.labels.cpu()
    try:
        plot_curves(history, run_dir / "curves.png")
        plot_confusion(labels, predicted, run_dir / "confusion.png")
        plot_misclassified(test.images.cpu(), labels, predicted, run_dir / "misclassified.png")
    except OSError as exc:
        raise TrainingError(f"{run_dir}: cannot write the run's pictures ({exc.strerror or exc})") from None
