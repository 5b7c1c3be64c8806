"""What one training run is: its settings (saved in every checkpoint), each epoch's figures,
its outcome, and the error that stops it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from digits.edge.errors import ConfigError, DigitsError

from .models import ARCHITECTURES
from .negatives import NEGATIVE_MIXES

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("onecycle", "cosine", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class TrainConfig:
    """Every setting of one training run; saved inside each checkpoint."""

    arch: str = "digitnet"
    arch_options: dict[str, float] = field(default_factory=dict)  # constructor arguments, e.g. {"width": 24}
    epochs: int = 15
    batch_size: int = 128
    lr: float = 3e-3
    optimizer: str = "adamw"
    schedule: str = "onecycle"
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    augment: bool | None = None  # None: the architecture's default (on for the CNNs)
    reject: bool = True  # learn an 11th class, "not a digit", from rendered negatives (train/negatives.py)
    negatives: float = 0.2  # rendered non-digits per training digit, when `reject`
    elastic: float = 0.0  # share of each batch warped smoothly (the augmentation's elastic distortion)
    refit: float = 0.0  # share of each augmented batch framed again as the reader frames a candidate (data.refit)
    degrade: float = 0.0  # share of each augmented batch blurred more, half of it bolder first (data.Augmentation)
    drawn_digits: float = 0.0  # digits drawn in hands MNIST lacks (train/drawn.py) per training digit, new each epoch
    ema: float = 0.0  # decay of an average of the weights kept after every step, e.g. 0.999 (0: none); the average is exported
    negative_mix: str = "default"  # how often each kind of non-digit is drawn: a key of negatives.NEGATIVE_MIXES
    fresh_negatives: bool = False  # draw a new set of non-digits every epoch (else one set for the whole run)
    seed: int = 0
    device: str = "auto"
    amp: bool | None = None  # None: bfloat16 autocast on CUDA, off elsewhere
    data: str | None = None
    out: str | None = None  # the run folder; default artifacts/runs/<arch>-<time>
    limit_train: int | None = None
    limit_test: int | None = None
    threads: int | None = None  # CPU threads for torch; None: torch's default
    init_from: str | None = None  # start from this checkpoint's weights (its architecture), with a new schedule and run
    distill: float = 0.0  # weight of keeping the answers of the model init_from starts from, on what it already knew
    mix_mnist: float | None = None  # share of each epoch's digits drawn afresh from MNIST when training on an
    # ImageFolder, so fine-tuning does not forget it; None: 0.5 with init_from when MNIST is there, else 0
    progress: bool = True

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in values.items() if k in known})
        except TypeError as exc:
            raise ConfigError(f"saved settings do not fit this toolkit: {exc}") from None

    def check(self) -> None:
        """ConfigError for settings no run can use (the CLI's types catch most of these first)."""
        if self.mix_mnist is not None and not (isinstance(self.mix_mnist, (int, float)) and 0 <= self.mix_mnist < 1):
            raise ConfigError(f"mix_mnist must be a share in [0, 1), not {self.mix_mnist!r}")
        for name in ("lr", "weight_decay", "label_smoothing", "negatives", "drawn_digits", "elastic", "refit", "degrade", "distill"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, not {value!r}")
        if not isinstance(self.ema, (int, float)) or not 0 <= self.ema < 1:
            raise ConfigError(f"ema must be a decay in [0, 1), not {self.ema!r}")
        if self.distill and not self.init_from:
            raise ConfigError("--distill keeps the answers of the model a fine-tune starts from: give --init-from CHECKPOINT")
        if self.lr == 0 or self.label_smoothing >= 1:
            raise ConfigError("lr must be > 0 and label_smoothing < 1")
        for name in ("epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, not {getattr(self, name)!r}")
        if self.negative_mix not in NEGATIVE_MIXES:
            raise ConfigError(f"unknown negative mix {self.negative_mix!r}; choose from {', '.join(NEGATIVE_MIXES)}")
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"unknown architecture {self.arch!r}; choose from {', '.join(ARCHITECTURES)}")


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    seconds: float
    samples_per_second: float
    lr: float
    digits_rejected: float | None = None  # share of the test digits the model calls not-a-digit
    negatives_rejected: float | None = None  # share of held-out rendered non-digits it rejects
    mnist_accuracy: float | None = None  # MNIST test accuracy, when an ImageFolder run mixes MNIST in


@dataclass
class RunResult:
    run_dir: Path
    history: list[EpochStats] = field(default_factory=list)
    interrupted: bool = False
    terminated: bool = False  # stopped by SIGTERM rather than Ctrl-C


class TrainingError(DigitsError):
    """Training cannot go on (the loss became nan or inf); one line for the user."""
