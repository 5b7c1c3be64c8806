"""The training loop: small step functions, and `fit` that wires them for one run."""

from __future__ import annotations

import copy
import json
import math
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from digits.edge import __version__ as toolkit_version
from digits.edge.contract import CLASSES, REJECT_INDEX
from digits.edge.errors import ConfigError, DigitsError, Terminated, first_line
from digits.edge.output import atomic_write

from .checkpoint import RESUME_SCHEMA, CheckpointError, check_schema, load_checkpoint, model_from_checkpoint, save_checkpoint
from .data import (Augmentation, Split, batch_indices, has_mnist, is_image_folder, load_data, load_mnist,
                   resolve_data_root, to_float)
from .models import ARCHITECTURES, build_model, count_multiply_adds, model_config, standardize
from .negatives import TRAIN_STYLE, render_negatives

HELD_OUT_NEGATIVES = 2000  # rendered non-digits, another seed than training's, for the per-epoch reject figure

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
    seed: int = 0
    device: str = "auto"
    amp: bool | None = None  # None: bfloat16 autocast on CUDA, off elsewhere
    data: str | None = None
    out: str | None = None  # the run folder; default artifacts/runs/<arch>-<time>
    limit_train: int | None = None
    limit_test: int | None = None
    threads: int | None = None  # CPU threads for torch; None: torch's default
    init_from: str | None = None  # start from this checkpoint's weights (its architecture), with a new schedule and run
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
        for name in ("lr", "weight_decay", "label_smoothing", "negatives"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, not {value!r}")
        if self.lr == 0 or self.label_smoothing >= 1:
            raise ConfigError("lr must be > 0 and label_smoothing < 1")
        for name in ("epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, not {getattr(self, name)!r}")
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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available to this torch")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("--device mps: Apple MPS is not available here")
    return torch.device(name)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay)
    raise ConfigError(f"unknown optimizer {config.optimizer!r}")


def make_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    total = config.epochs * steps_per_epoch
    if config.schedule == "onecycle":
        if total < 4:
            raise ConfigError(f"--schedule onecycle needs at least 4 steps, this run has {total}: more epochs or data, "
                             "a smaller --batch-size, or --schedule constant")
        # The warm-up takes a quarter of the steps, and at least two (torch divides by its length).
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total,
                                                   pct_start=max(0.25, 2.0 / total))
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    raise ConfigError(f"unknown schedule {config.schedule!r}")


def train_one_epoch(
    model: nn.Module,
    data: Split,
    optimizer: torch.optim.Optimizer,
    scheduler,
    *,
    batch_size: int,
    generator: torch.Generator,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None,
    amp_dtype: torch.dtype | None,
    label_smoothing: float = 0.0,
    progress: Callable | None = None,
) -> tuple[float, float]:
    """One pass over `data` in shuffled batches; returns (mean loss, accuracy)."""
    model.train()
    device = data.images.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    batches = batch_indices(len(data), batch_size, generator, device)
    if progress is not None:
        batches = progress(batches, total=math.ceil(len(data) / batch_size))
    for idx in batches:
        x, y = to_float(data.images[idx]), data.labels[idx]
        if augment is not None:
            x = augment(x, generator)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(standardize(x))
            loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
    return loss_sum.item() / len(data), correct.item() / len(data)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Logits for uint8 images [N, 28, 28]."""
    model.eval()
    return torch.cat([model(standardize(to_float(chunk))).float() for chunk in images.split(batch_size)])


def evaluate(model: nn.Module, data: Split) -> tuple[float, float, torch.Tensor]:
    """(mean loss, accuracy, predicted labels) on `data`."""
    logits = predict(model, data.images)
    loss = F.cross_entropy(logits, data.labels).item()
    predicted = logits.argmax(1)
    return loss, (predicted == data.labels).float().mean().item(), predicted


def _mnist_to_mix(root: Path, config: TrainConfig) -> tuple[Split | None, Split | None, float]:
    """(MNIST train, MNIST test, share) to mix into an ImageFolder run, or (None, None, 0).

    Asked for (mix_mnist > 0): MNIST is loaded from $DIGITS_DATA or the cache, downloaded there
    if need be. By default (None) only a fine-tune (init_from) mixes, and only when MNIST is
    already on disk: a user's own digits alone make a model forget MNIST."""
    if not is_image_folder(root) or config.mix_mnist == 0:
        return None, None, 0.0
    mnist_root = resolve_data_root(None)
    if config.mix_mnist is None:
        if not config.init_from or not has_mnist(mnist_root):
            return None, None, 0.0
        share = 0.5
    else:
        share = float(config.mix_mnist)
    train, test = load_mnist(mnist_root, download=True)
    return train, test, share


def with_negatives(train: Split, config: TrainConfig, digits_per_epoch: int | None = None) -> tuple[Split, Split]:
    """(training digits + rendered non-digits labelled REJECT_INDEX, held-out non-digits).

    One set, rendered once at the start of the run. (Drawing a new set every epoch was tried:
    it rejects more rendered non-digits, 94 % of the benchmark set against 89 %, but also more
    real handwritten digits: the shared real photos fell from 53 to 51 of 66 exact and the
    single digits from 337 to 313 of 362. Real digits read matter more.)"""
    digits = train.images.cpu().numpy()
    count = max(1, round(config.negatives * (digits_per_epoch or len(train))))
    images, _ = render_negatives(count, seed=config.seed, style=TRAIN_STYLE, digits=digits)
    held_out, _ = render_negatives(HELD_OUT_NEGATIVES, seed=config.seed + 1, style=TRAIN_STYLE, digits=digits)
    extra = Split(torch.from_numpy(images), torch.full((count,), REJECT_INDEX, dtype=torch.long))
    negatives = Split(torch.from_numpy(held_out), torch.full((len(held_out),), REJECT_INDEX, dtype=torch.long))
    return Split(torch.cat([train.images, extra.images]), torch.cat([train.labels, extra.labels])), negatives


def reject_rate(model: nn.Module, images: torch.Tensor) -> float:
    """Share of `images` the model puts in the reject class."""
    return (predict(model, images).argmax(1) == REJECT_INDEX).float().mean().item()


def versions() -> dict[str, str]:
    import torchvision

    return {
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "python": platform.python_version(),
        "digits": toolkit_version,
    }


class TrainingError(DigitsError):
    """Training cannot go on (the loss became nan or inf); one line for the user."""


def default_run_dir(arch: str) -> Path:
    """artifacts/runs/<arch>-<time>, created here so that two runs started in the same second
    never share one folder (the second gets -2)."""
    base = Path("artifacts") / "runs" / f"{arch}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    base.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise ConfigError(f"{base}: too many runs started in the same second")


def prepare_run_dir(run_dir: Path, *, fresh: bool, force: bool) -> None:
    """Check before any training that the run folder can take the run: a new run never writes
    into a folder that holds files (an earlier run's checkpoints) unless `force`; and the folder
    is writable (a file probe), so a read-only or impossible --out fails now, not after an epoch."""
    try:
        if fresh and run_dir.is_dir() and any(run_dir.iterdir()) and not force:
            raise ConfigError(f"--out {run_dir}: the folder already holds files (an earlier run?); choose another "
                              f"folder, continue that run with --resume {run_dir / 'last.pth'}, or replace it with --force")
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=run_dir, prefix=".digits-probe-")
        probe.close()
    except OSError as exc:
        raise ConfigError(f"{run_dir}: cannot write the run there ({exc.strerror or exc})") from None


def _rng_state(generator: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    state = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _restore_rng(state: dict[str, torch.Tensor], generator: torch.Generator, device: torch.device) -> None:
    generator.set_state(state["generator"].cpu())
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def fit(config: TrainConfig, *, resume: Path | None = None, force: bool = False,
        log: Callable[[str], None] = print) -> RunResult:
    """Train one model as `config` says (or continue the run saved in `resume`). `force`: a new
    run may write into a folder that already holds files."""
    checkpoint = load_checkpoint(resume) if resume else None
    if checkpoint is not None:
        check_schema(checkpoint, resume, RESUME_SCHEMA)
        config = TrainConfig.from_dict(checkpoint["train_config"])
        if checkpoint["epoch"] >= config.epochs:
            raise CheckpointError(f"{resume}: the run already finished all {config.epochs} epochs; to train it further, "
                                  f"start a new run from its weights: digits-train --init-from {resume} --epochs N")
    config.check()
    start = None  # the weights a new run starts from (--init-from)
    if checkpoint is None and config.init_from:
        start = load_checkpoint(Path(config.init_from))
        check_schema(start, config.init_from)
        # The architecture is the checkpoint's: its options and its classes (with or without not-a-digit).
        config = replace(config, arch=start["arch"], arch_options=dict(start["model_config"]),
                         reject=bool(start.get("reject", False)))
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    generator = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(config.seed)

    root = resolve_data_root(config.data)
    train_split, test_split = load_data(root)
    train_split = train_split.head(config.limit_train)
    mnist_train, mnist_test, mix = _mnist_to_mix(root, config)
    held_out = None  # rendered non-digits no epoch trains on
    digit_count = len(train_split)
    mixed_count = round(digit_count * mix / (1 - mix))  # MNIST digits drawn into each epoch (mix is 0 without MNIST)
    if config.reject:
        train_split, held_out = with_negatives(train_split, config, digits_per_epoch=digit_count + mixed_count)
        held_out = held_out.to(device)
    negative_count = len(train_split) - digit_count
    train_split = train_split.to(device)
    test_split = test_split.head(config.limit_test).to(device)
    if mnist_train is not None:
        mnist_train, mnist_test = mnist_train.to(device), mnist_test.head(config.limit_test).to(device)

    weights = checkpoint if checkpoint is not None else start  # resumed, or fine-tuned from (train_one_epoch sets train mode)
    model = (model_from_checkpoint(weights) if weights is not None
             else build_model(config.arch, reject=config.reject, **config.arch_options)).to(device)
    augment_on = model.default_augment if config.augment is None else config.augment
    augment = Augmentation() if augment_on else None
    amp_on = device.type == "cuda" if config.amp is None else config.amp
    amp_dtype = torch.bfloat16 if amp_on else None
    # The settings as this run resolved them (config holds None for "the default").
    resolved = {"augment": bool(augment_on), "amp": bool(amp_on), "data": str(root.resolve()),
                "data_kind": "imagefolder" if is_image_folder(root) else "mnist", "device": str(device),
                "train_digits": digit_count, "test_digits": len(test_split),
                "rendered_negatives": negative_count, "mix_mnist": mix, "mnist_digits_per_epoch": mixed_count}
    optimizer = make_optimizer(model, config)
    steps_per_epoch = math.ceil((len(train_split) + mixed_count) / config.batch_size)
    scheduler = make_schedule(optimizer, config, steps_per_epoch)

    if checkpoint is not None:
        run_dir = Path(resume).parent
    else:
        run_dir = Path(config.out) if config.out else default_run_dir(config.arch)
    prepare_run_dir(run_dir, fresh=checkpoint is None, force=force)
    config = replace(config, out=str(run_dir))  # saved in the checkpoints; the caller's config is left alone
    history: list[EpochStats] = []
    start_epoch = 0
    best_accuracy = -1.0
    if checkpoint is not None:
        try:
            optimizer.load_state_dict(checkpoint["optimizer"])
            scheduler.load_state_dict(checkpoint["scheduler"])
            _restore_rng(checkpoint["rng"], generator, device)
            history = [EpochStats(**h) for h in checkpoint["history"]]
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"{resume}: its optimizer, schedule, RNG or history cannot be restored "
                                  f"({type(exc).__name__}: {first_line(exc, 120) if str(exc).strip() else ''})") from None
        start_epoch = checkpoint["epoch"]
        best_accuracy = max((h.test_accuracy for h in history), default=-1.0)

    macs = count_multiply_adds(model)
    log(
        f"{config.arch}: {sum(p.numel() for p in model.parameters()):,} parameters, {macs:,} multiply-adds/digit | "
        f"device {device}{' bf16' if amp_dtype else ''} | augment {'on' if augment else 'off'} | "
        f"{digit_count:,} train{f' + {negative_count:,} rendered non-digits' if config.reject else ''} / "
        f"{len(test_split):,} test from {root}"
        + (f" + {mixed_count:,} MNIST digits drawn afresh each epoch" if mixed_count else "")
        + (f" | weights from {config.init_from}" if start is not None else "") + f" | run {run_dir}"
    )

    def payload(epoch: int) -> dict[str, Any]:
        return copy.deepcopy({
            "arch": config.arch,
            "model_config": model_config(model),
            "reject": config.reject,
            "state_dict": model.state_dict(),
            "train_config": asdict(config),
            "classes": list(CLASSES),
            "epoch": epoch,
            "metrics": asdict(history[-1]) if history else {},
            "history": [asdict(h) for h in history],
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": _rng_state(generator, device),
            "versions": versions(),
            "multiply_adds": macs,
        })

    def progress_bar(it, total):
        from tqdm import tqdm

        return tqdm(it, total=total, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, unit="batch", file=sys.stderr)

    result = RunResult(run_dir=run_dir, history=history)
    last_complete = payload(start_epoch)  # what Ctrl-C saves: the last finished epoch, so resume stays exact
    try:
        for epoch in range(start_epoch, config.epochs):
            started = time.perf_counter()
            epoch_split = train_split
            if mixed_count:  # a new draw of MNIST digits every epoch, from the saved generator (resume stays exact)
                pick = torch.randperm(len(mnist_train), generator=generator, device=generator.device)[:mixed_count].to(device)
                epoch_split = Split(torch.cat([train_split.images, mnist_train.images[pick]]),
                                    torch.cat([train_split.labels, mnist_train.labels[pick]]))
            train_loss, train_acc = train_one_epoch(
                model, epoch_split, optimizer, scheduler, batch_size=config.batch_size, generator=generator,
                augment=augment, amp_dtype=amp_dtype, label_smoothing=config.label_smoothing,
                progress=progress_bar if config.progress and sys.stderr.isatty() else None,  # no \r floods in logs
            )
            if device.type == "cuda":
                torch.cuda.synchronize()
            if not math.isfinite(train_loss):
                kept = f"; {run_dir / 'last.pth'} keeps epoch {epoch}" if epoch > 0 else ""
                raise TrainingError(f"training diverged in epoch {epoch + 1}: the loss is {train_loss} "
                                    f"(lower --lr, now {config.lr:g}){kept}")
            seconds = time.perf_counter() - started
            test_loss, test_acc, predicted = evaluate(model, test_split)
            stats = EpochStats(epoch + 1, train_loss, train_acc, test_loss, test_acc, seconds,
                               len(epoch_split) / seconds, optimizer.param_groups[0]["lr"])
            if mnist_test is not None:
                stats.mnist_accuracy = evaluate(model, mnist_test)[1]
            if held_out is not None:
                stats.digits_rejected = (predicted == REJECT_INDEX).float().mean().item()
                stats.negatives_rejected = reject_rate(model, held_out.images)
            history.append(stats)
            last_complete = payload(epoch + 1)
            save_checkpoint(run_dir / "last.pth", last_complete)
            write_metrics(run_dir, config, history, macs, device, resolved)
            if test_acc > best_accuracy:
                best_accuracy = test_acc
                save_checkpoint(run_dir / "best.pth", last_complete)
            log(
                f"epoch {stats.epoch:>3}/{config.epochs}  loss {train_loss:.4f}  train {100 * train_acc:6.2f}%  "
                f"test {100 * test_acc:6.2f}%  test loss {test_loss:.4f}  {seconds:6.1f}s  {stats.samples_per_second:,.0f} samples/s"
                + ("" if stats.mnist_accuracy is None else f"  MNIST test {100 * stats.mnist_accuracy:6.2f}%")
                + ("" if stats.negatives_rejected is None else
                   f"  not-a-digit: {100 * stats.negatives_rejected:.2f}% of non-digits, {100 * stats.digits_rejected:.2f}% of digits")
            )
    except KeyboardInterrupt as exc:
        result.terminated = isinstance(exc, Terminated)
        if not history:  # a new run stopped before its first epoch ended: nothing trained, nothing to keep
            log(f"interrupted before the first epoch finished: nothing saved in {run_dir}")
        else:
            save_checkpoint(run_dir / "last.pth", last_complete)
            log(f"interrupted: saved {run_dir / 'last.pth'} at epoch {last_complete['epoch']}; continue with --resume {run_dir / 'last.pth'}")
        result.interrupted = True
        return result

    write_run_report(run_dir, history, test_split, predicted.cpu())
    return result


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
    from .report import plot_confusion, plot_curves, plot_misclassified

    labels = test.labels.cpu()
    try:
        plot_curves(history, run_dir / "curves.png")
        plot_confusion(labels, predicted, run_dir / "confusion.png")
        plot_misclassified(test.images.cpu(), labels, predicted, run_dir / "misclassified.png")
    except OSError as exc:
        raise TrainingError(f"{run_dir}: cannot write the run's pictures ({exc.strerror or exc})") from None
