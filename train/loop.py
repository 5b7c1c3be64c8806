"""The training loop: small step functions, and `fit` that wires them for one run."""

from __future__ import annotations

import copy
import math
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from digits.edge.contract import CLASSES, REJECT_INDEX
from digits.edge.errors import ConfigError, Terminated, first_line

from .checkpoint import RESUME_SCHEMA, CheckpointError, check_schema, load_checkpoint, model_from_checkpoint, save_checkpoint
from .config import EpochStats, RunResult, TrainConfig, TrainingError
from .data import Augmentation, Split, batch_indices, has_mnist, is_image_folder, load_data, load_mnist, to_float
from .models import build_model, count_multiply_adds, model_config, predict, standardize
from .drawn import render_drawn_digits
from .negatives import render_negatives, training_style
from .paths import resolve_data_root
from .report import versions, write_metrics, write_run_report

HELD_OUT_NEGATIVES = 2000  # rendered non-digits, another seed than training's, for the per-epoch reject figure


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
    split: Split,
    optimizer: torch.optim.Optimizer,
    scheduler,
    *,
    batch_size: int,
    generator: torch.Generator,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None,
    amp_dtype: torch.dtype | None,
    label_smoothing: float = 0.0,
    progress: Callable | None = None,
    after_step: Callable[[], None] | None = None,
    distill: Distillation | None = None,
) -> tuple[float, float]:
    """One pass over `split` in shuffled batches; returns (mean loss, accuracy). `after_step` runs
    after every optimizer step (the weight average's update). `distill`: keep a teacher's answers
    on the samples its mask marks (see Distillation)."""
    model.train()
    device = split.images.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    batches = batch_indices(len(split), batch_size, generator, device)
    if progress is not None:
        batches = progress(batches, total=math.ceil(len(split) / batch_size))
    for idx in batches:
        x, y = to_float(split.images[idx]), split.labels[idx]
        if augment is not None:
            x = augment(x, generator)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            inputs = standardize(x)
            logits = model(inputs)
            loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
            if distill is not None:
                loss = loss + distill.loss(logits, inputs, idx)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if after_step is not None:
            after_step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
    return loss_sum.item() / len(split), correct.item() / len(split)


DISTILL_TEMPERATURE = 2.0  # both models' logits are divided by this: the teacher's runners-up carry what it knows


@dataclass
class Distillation:
    """Keep the answers of the model a fine-tune starts from (the teacher) on what it already knew
    (Hinton et al., "Distilling the knowledge in a neural network"): on the samples `mask` marks,
    the loss adds `weight` x T^2 x KL(teacher || model) of the probabilities softened by T. The
    shipped model fine-tuned on 200 USPS scans kept 84.75 % of its run's held-out non-digits rejected
    with weight 1, 76.55 % without (benchmarks/finetune_usps.py). It does not keep everything: new
    hands (--drawn-digits) still moved MNIST's borderline digits with weight 2 (README, "What does
    not work yet")."""

    teacher: nn.Module
    weight: float
    mask: torch.Tensor | None = None  # bool, one per sample of the epoch's split; set each epoch

    def loss(self, logits: torch.Tensor, inputs: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        keep = self.mask[idx]
        if not keep.any():
            return logits.new_zeros(())
        with torch.no_grad():
            taught = self.teacher(inputs[keep]).float()
        t = DISTILL_TEMPERATURE
        kl = F.kl_div(F.log_softmax(logits[keep].float() / t, 1), F.log_softmax(taught / t, 1), log_target=True,
                      reduction="sum")
        return self.weight * t * t * kl / len(idx)


class WeightAverage:
    """An exponential moving average of a model's weights (and of its batch-norm statistics), updated
    after every step: the averaged model is what a run evaluates, saves as its state_dict and exports.
    The decay warms up as (1 + steps) / (10 + steps), so early steps are not held back by the random start."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.steps = decay, 0
        # state_dict() tensors share storage with the weights and buffers (load_state_dict and the
        # optimizer write in place), so the pairs are found once, not on every step.
        self.pairs = list(zip(self.module.state_dict().values(), model.state_dict().values()))

    @torch.no_grad()
    def update(self) -> None:
        self.steps += 1
        weight = 1 - min(self.decay, (1 + self.steps) / (10 + self.steps))
        for mine, theirs in self.pairs:
            if mine.is_floating_point():
                mine.lerp_(theirs, weight)
            else:
                mine.copy_(theirs)


def evaluate(model: nn.Module, split: Split) -> tuple[float, float, torch.Tensor]:
    """(mean loss, accuracy, predicted labels) on `split`."""
    logits = predict(model, split.images)
    loss = F.cross_entropy(logits, split.labels).item()
    predicted = logits.argmax(1)
    return loss, (predicted == split.labels).float().mean().item(), predicted


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

    One set, rendered once at the start of the run (--fresh-negatives draws a new one every epoch
    instead). With the reader of the time it was first tried, a new set every epoch rejected more
    rendered non-digits, 94 % of the benchmark set against 89 %, but also more real handwritten
    digits: the shared real photos fell from 53 to 51 of 66 exact and the single digits from 337
    to 313 of 362; the README's "models tried" table has later measurements."""
    digits = train.images.cpu().numpy()
    count = max(1, round(config.negatives * (digits_per_epoch or len(train))))
    style = training_style(config.negative_mix)
    images, _ = render_negatives(count, seed=config.seed, style=style, digits=digits)
    held_out, _ = render_negatives(HELD_OUT_NEGATIVES, seed=config.seed + 1, style=style, digits=digits)
    extra = Split(torch.from_numpy(images), torch.full((count,), REJECT_INDEX, dtype=torch.long))
    negatives = Split(torch.from_numpy(held_out), torch.full((len(held_out),), REJECT_INDEX, dtype=torch.long))
    return Split(torch.cat([train.images, extra.images]), torch.cat([train.labels, extra.labels])), negatives


def reject_rate(model: nn.Module, images: torch.Tensor) -> float:
    """Share of `images` the model puts in the reject class."""
    return (predict(model, images).argmax(1) == REJECT_INDEX).float().mean().item()


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


@dataclass
class Run:
    """Everything one run trains with, built by `setup` before the first epoch."""

    config: TrainConfig  # as resolved: the checkpoint's settings on --resume, its architecture on --init-from
    device: torch.device
    generator: torch.Generator
    data_root: Path
    train_split: Split  # digits (+ rendered non-digits labelled REJECT_INDEX), on the device
    test_split: Split
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    run_dir: Path
    resolved: dict[str, Any]  # the settings as this run resolved them, for metrics.json
    multiply_adds: int
    digit_count: int
    augment: Augmentation | None = None
    amp_dtype: torch.dtype | None = None
    held_out: Split | None = None  # rendered non-digits no epoch trains on
    mnist_train: Split | None = None  # MNIST mixed into an ImageFolder run, drawn afresh each epoch
    mnist_test: Split | None = None
    mixed_count: int = 0
    drawn_count: int = 0  # digits of train/drawn.py added to each epoch
    average: WeightAverage | None = None  # --ema: the averaged weights, which the run evaluates and exports
    distill: Distillation | None = None  # --distill: the starting model's answers kept
    started_from: str | None = None  # --init-from
    history: list[EpochStats] = field(default_factory=list)
    start_epoch: int = 0


def _starting_checkpoint(path: str) -> dict:
    """The checkpoint a fine-tune starts from (--init-from); --distill loads it again when the run is resumed."""
    checkpoint = load_checkpoint(Path(path))
    check_schema(checkpoint, path)
    return checkpoint


def _resolve(config: TrainConfig, resume: Path | None) -> tuple[TrainConfig, dict | None, dict | None]:
    """(the settings this run uses, the checkpoint it resumes, the checkpoint it starts from)."""
    checkpoint = load_checkpoint(resume) if resume else None
    if checkpoint is not None:
        check_schema(checkpoint, resume, RESUME_SCHEMA)
        config = TrainConfig.from_dict(checkpoint["train_config"])
        if checkpoint["epoch"] >= config.epochs:
            raise CheckpointError(f"{resume}: the run already finished all {config.epochs} epochs; to train it further, "
                                  f"start a new run from its weights: digits-train --init-from {resume} --epochs N")
    config.check()
    start = None
    if checkpoint is None and config.init_from:
        start = _starting_checkpoint(config.init_from)
        # The architecture is the checkpoint's: its options and its classes (with or without not-a-digit).
        config = replace(config, arch=start["arch"], arch_options=dict(start["model_config"]),
                         reject=bool(start.get("reject", False)))
    return config, checkpoint, start


def setup(config: TrainConfig, *, resume: Path | None = None, force: bool = False) -> Run:
    """Settings, data, model, optimizer, schedule and run folder of one run; restores a resumed
    run's state. Every check that can fail fails here, before the first epoch."""
    config, checkpoint, start = _resolve(config, resume)
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    generator = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(config.seed)

    root = resolve_data_root(config.data)
    train_split, test_split = load_data(root)
    train_split = train_split.head(config.limit_train)
    mnist_train, mnist_test, mix = _mnist_to_mix(root, config)
    held_out = None
    digit_count = len(train_split)
    mixed_count = round(digit_count * mix / (1 - mix))  # MNIST digits drawn into each epoch (mix is 0 without MNIST)
    drawn_count = round(config.drawn_digits * digit_count)  # digits drawn in other hands, new each epoch
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
    amp_on = device.type == "cuda" if config.amp is None else config.amp
    optimizer = make_optimizer(model, config)
    scheduler = make_schedule(optimizer, config, math.ceil((len(train_split) + mixed_count + drawn_count) / config.batch_size))

    run_dir = Path(resume).parent if checkpoint is not None else Path(config.out) if config.out else default_run_dir(config.arch)
    prepare_run_dir(run_dir, fresh=checkpoint is None, force=force)
    run = Run(
        config=replace(config, out=str(run_dir)),  # saved in the checkpoints; the caller's config is left alone
        device=device, generator=generator, data_root=root, train_split=train_split, test_split=test_split,
        model=model, optimizer=optimizer, scheduler=scheduler, run_dir=run_dir, multiply_adds=count_multiply_adds(model),
        digit_count=digit_count, augment=Augmentation(elastic_p=config.elastic, refit_p=config.refit, degrade_p=config.degrade) if augment_on else None,
        amp_dtype=torch.bfloat16 if amp_on else None, held_out=held_out, mnist_train=mnist_train, mnist_test=mnist_test,
        mixed_count=mixed_count, drawn_count=drawn_count,
        started_from=config.init_from if start is not None else None,
        # The settings as this run resolved them (config holds None for "the default").
        resolved={"augment": bool(augment_on), "amp": bool(amp_on), "data": str(root.resolve()),
                  "data_kind": "imagefolder" if is_image_folder(root) else "mnist", "device": str(device),
                  "train_digits": digit_count, "test_digits": len(test_split),
                  "rendered_negatives": negative_count, "mix_mnist": mix, "mnist_digits_per_epoch": mixed_count},
    )
    if checkpoint is not None:
        try:
            optimizer.load_state_dict(checkpoint["optimizer"])
            scheduler.load_state_dict(checkpoint["scheduler"])
            _restore_rng(checkpoint["rng"], generator, device)
            run.history = [EpochStats(**h) for h in checkpoint["history"]]
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"{resume}: its optimizer, schedule, RNG or history cannot be restored "
                                  f"({type(exc).__name__}: {first_line(exc, 120) if str(exc).strip() else ''})") from None
        run.start_epoch = checkpoint["epoch"]
    if config.distill:  # the teacher is the model the run started from (a resumed run loads it again)
        teacher = model_from_checkpoint(start if start is not None else _starting_checkpoint(config.init_from))
        run.distill = Distillation(teacher.to(device).eval().requires_grad_(False), config.distill)
    if config.ema:
        run.average = WeightAverage(model, config.ema)
        if checkpoint is not None and "trained_state_dict" in checkpoint:  # state_dict holds the average
            try:
                model.load_state_dict(checkpoint["trained_state_dict"])
                run.average.steps = int(checkpoint["average_steps"])
            except (KeyError, ValueError, TypeError, RuntimeError) as exc:
                raise CheckpointError(f"{resume}: its averaged weights cannot be restored ({type(exc).__name__})") from None
    return run


def evaluated(run: Run) -> nn.Module:
    """The model a run measures, saves and exports: the weight average with --ema, else the trained one."""
    return run.model if run.average is None else run.average.module


def describe(run: Run) -> str:
    """The line a run starts with: model size, device, data, run folder."""
    config, negatives = run.config, len(run.train_split) - run.digit_count
    return (
        f"{config.arch}: {sum(p.numel() for p in run.model.parameters()):,} parameters, {run.multiply_adds:,} multiply-adds/digit | "
        f"device {run.device}{' bf16' if run.amp_dtype else ''} | augment {'on' if run.augment else 'off'} | "
        f"{run.digit_count:,} train{f' + {negatives:,} rendered non-digits' if config.reject else ''} / "
        f"{len(run.test_split):,} test from {run.data_root}"
        + (f" + {run.mixed_count:,} MNIST digits drawn afresh each epoch" if run.mixed_count else "")
        + (f" | weights from {run.started_from}" if run.started_from else "")
        + (f" | its answers kept on MNIST and non-digits (distill {config.distill:g})" if run.distill else "")
        + f" | run {run.run_dir}"
    )


def checkpoint_payload(run: Run, epoch: int) -> dict[str, Any]:
    """What last.pth and best.pth hold after `epoch` epochs: enough to export the model and to
    resume the run exactly (optimizer, schedule, random state, history)."""
    return copy.deepcopy({
        "arch": run.config.arch,
        "model_config": model_config(run.model),
        "reject": run.config.reject,
        "state_dict": evaluated(run).state_dict(),
        **({} if run.average is None else {"trained_state_dict": run.model.state_dict(), "average_steps": run.average.steps}),
        "train_config": asdict(run.config),
        "classes": list(CLASSES),
        "epoch": epoch,
        "metrics": asdict(run.history[-1]) if run.history else {},
        "history": [asdict(h) for h in run.history],
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "rng": _rng_state(run.generator, run.device),
        "versions": versions(),
        "multiply_adds": run.multiply_adds,
    })


def run_epoch(run: Run, epoch: int, progress: bool) -> tuple[EpochStats, torch.Tensor]:
    """Train epoch `epoch` (0-based) and measure it; returns its figures and the test predictions."""
    config, device = run.config, run.device
    started = time.perf_counter()
    epoch_split = run.train_split
    if config.reject and config.fresh_negatives and epoch > 0:  # epoch 0 trains on the set setup rendered
        count = len(run.train_split) - run.digit_count
        # The seed follows from the run's seed and the epoch, so --resume draws the same set again.
        images, _ = render_negatives(count, seed=config.seed + 7919 * (epoch + 1), style=training_style(config.negative_mix),
                                     digits=run.train_split.images[:run.digit_count].cpu().numpy())
        run.train_split.images[run.digit_count:] = torch.from_numpy(images).to(device)
    if run.mixed_count:  # a new draw of MNIST digits every epoch, from the saved generator (resume stays exact)
        pick = torch.randperm(len(run.mnist_train), generator=run.generator, device=run.generator.device)[:run.mixed_count]
        pick = pick.to(device)
        epoch_split = Split(torch.cat([epoch_split.images, run.mnist_train.images[pick]]),
                            torch.cat([epoch_split.labels, run.mnist_train.labels[pick]]))

    if run.drawn_count:
        images, labels = render_drawn_digits(run.drawn_count, seed=config.seed + 104729 * (epoch + 1))
        epoch_split = Split(torch.cat([epoch_split.images, torch.from_numpy(images).to(device)]),
                            torch.cat([epoch_split.labels, torch.from_numpy(labels).to(device)]))

    if run.distill is not None:
        # What the starting model already knew: MNIST (mixed in, or the training digits when --data is MNIST)
        # and the rendered non-digits; not the user's own digits nor the drawn hands, which it is to learn.
        known = torch.ones(len(epoch_split), dtype=torch.bool, device=device)
        if is_image_folder(run.data_root):
            known[:run.digit_count] = False
        known[len(run.train_split) + run.mixed_count:] = False  # the drawn hands come last
        run.distill.mask = known

    def progress_bar(it, total):
        from tqdm import tqdm

        return tqdm(it, total=total, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, unit="batch", file=sys.stderr)

    train_loss, train_acc = train_one_epoch(
        run.model, epoch_split, run.optimizer, run.scheduler, batch_size=config.batch_size, generator=run.generator,
        augment=run.augment, amp_dtype=run.amp_dtype, label_smoothing=config.label_smoothing,
        progress=progress_bar if progress else None,
        after_step=None if run.average is None else run.average.update, distill=run.distill,
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
    if not math.isfinite(train_loss):
        kept = f"; {run.run_dir / 'last.pth'} keeps epoch {epoch}" if epoch > 0 else ""
        raise TrainingError(f"training diverged in epoch {epoch + 1}: the loss is {train_loss} "
                            f"(lower --lr, now {config.lr:g}){kept}")
    seconds = time.perf_counter() - started
    measured = evaluated(run)
    test_loss, test_acc, predicted = evaluate(measured, run.test_split)
    stats = EpochStats(epoch + 1, train_loss, train_acc, test_loss, test_acc, seconds,
                       len(epoch_split) / seconds, run.optimizer.param_groups[0]["lr"])
    if run.mnist_test is not None:
        stats.mnist_accuracy = evaluate(measured, run.mnist_test)[1]
    if run.held_out is not None:
        stats.digits_rejected = (predicted == REJECT_INDEX).float().mean().item()
        stats.negatives_rejected = reject_rate(measured, run.held_out.images)
    return stats, predicted


def epoch_line(stats: EpochStats, epochs: int) -> str:
    return (
        f"epoch {stats.epoch:>3}/{epochs}  loss {stats.train_loss:.4f}  train {100 * stats.train_accuracy:6.2f}%  "
        f"test {100 * stats.test_accuracy:6.2f}%  test loss {stats.test_loss:.4f}  {stats.seconds:6.1f}s  "
        f"{stats.samples_per_second:,.0f} samples/s"
        + ("" if stats.mnist_accuracy is None else f"  MNIST test {100 * stats.mnist_accuracy:6.2f}%")
        + ("" if stats.negatives_rejected is None else
           f"  not-a-digit: {100 * stats.negatives_rejected:.2f}% of non-digits, {100 * stats.digits_rejected:.2f}% of digits")
    )


def fit(config: TrainConfig, *, resume: Path | None = None, force: bool = False,
        log: Callable[[str], None] = print) -> RunResult:
    """Train one model as `config` says (or continue the run saved in `resume`). `force`: a new
    run may write into a folder that already holds files."""
    run = setup(config, resume=resume, force=force)
    log(describe(run))
    result = RunResult(run_dir=run.run_dir, history=run.history)
    best_accuracy = max((h.test_accuracy for h in run.history), default=-1.0)
    last_complete = checkpoint_payload(run, run.start_epoch)  # what Ctrl-C saves: the last finished epoch
    progress = run.config.progress and sys.stderr.isatty()  # no \r floods in logs
    try:
        for epoch in range(run.start_epoch, run.config.epochs):
            stats, predicted = run_epoch(run, epoch, progress)
            run.history.append(stats)
            last_complete = checkpoint_payload(run, epoch + 1)
            save_checkpoint(run.run_dir / "last.pth", last_complete)
            write_metrics(run.run_dir, run.config, run.history, run.multiply_adds, run.device, run.resolved)
            if stats.test_accuracy > best_accuracy:
                best_accuracy = stats.test_accuracy
                save_checkpoint(run.run_dir / "best.pth", last_complete)
            log(epoch_line(stats, run.config.epochs))
    except KeyboardInterrupt as exc:
        result.terminated = isinstance(exc, Terminated)
        if not run.history:  # a new run stopped before its first epoch ended: nothing trained, nothing to keep
            log(f"interrupted before the first epoch finished: nothing saved in {run.run_dir}")
        else:
            save_checkpoint(run.run_dir / "last.pth", last_complete)
            log(f"interrupted: saved {run.run_dir / 'last.pth'} at epoch {last_complete['epoch']}; "
                f"continue with --resume {run.run_dir / 'last.pth'}")
        result.interrupted = True
        return result

    write_run_report(run.run_dir, run.history, run.test_split, predicted.cpu())
    return result
