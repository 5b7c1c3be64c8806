"""digits-train: parse flags into a TrainConfig, call fit, report."""

from __future__ import annotations

from pathlib import Path

import click

from dataclasses import fields

from digits.edge.errors import INTERRUPTED_EXIT, TERMINATED_EXIT, FiniteFloat, InputError, OneLineCommand

from .config import DEVICES, OPTIMIZERS, SCHEDULES, TrainConfig
from .models import ARCHITECTURES, architecture_help
from .negatives import NEGATIVE_MIXES
from .paths import DATA_DEFAULT_HELP

DEFAULTS = TrainConfig()
# The flags that set a run (a resumed run keeps its own): every TrainConfig field but the display.
RUN_FLAGS = tuple(f.name for f in fields(TrainConfig) if f.name != "progress")


def _options(pairs: tuple[str, ...]) -> dict[str, float]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            options[key.strip()] = int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=NUMBER", param_hint="--arch-option")
    return options


@click.command(cls=OneLineCommand)
@click.option("--arch", type=click.Choice(list(ARCHITECTURES)), default=DEFAULTS.arch, show_default=True,
              help=f"Architecture from the model zoo: {architecture_help()}.")
@click.option("--arch-option", "arch_options", multiple=True, metavar="KEY=VALUE", callback=lambda ctx, param, value: _options(value),
              help="Constructor argument of the architecture, repeatable (digitnet: width=24, dropout=0.2; width=16 is a 2 M multiply-add variant).")
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS.epochs, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULTS.batch_size, show_default=True)
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=DEFAULTS.lr, show_default=True,
              help="Learning rate (the peak rate for onecycle).")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=DEFAULTS.optimizer, show_default=True)
@click.option("--schedule", type=click.Choice(SCHEDULES), default=DEFAULTS.schedule, show_default=True,
              help="Learning-rate schedule, stepped every batch.")
@click.option("--weight-decay", type=FiniteFloat(min=0), default=DEFAULTS.weight_decay, show_default=True)
@click.option("--label-smoothing", type=FiniteFloat(0, 1, max_open=True), default=DEFAULTS.label_smoothing, show_default=True)
@click.option("--augment/--no-augment", default=None,
              help="Random affine, stroke thickness and blur on each batch, on the device. Default: on for the "
                   "CNNs (it is what lets them read real photos), off for the MLPs; --no-augment is the classic setup.")
@click.option("--reject/--no-reject", default=DEFAULTS.reject, show_default=True,
              help="Learn an 11th class, not-a-digit, from non-digits rendered during training (shadows, ruled lines, "
                   "pens, clips, blots, letters, words, half digits, two digits stuck together); the edge then sets them aside.")
@click.option("--negatives", type=FiniteFloat(0, 10, min_open=True), default=DEFAULTS.negatives, show_default=True,
              help="Rendered non-digits per training digit, with --reject.")
@click.option("--negative-mix", type=click.Choice(list(NEGATIVE_MIXES)), default=DEFAULTS.negative_mix, show_default=True,
              help="With --reject: how often each kind of non-digit is drawn. hard: pens, clips, faces, scribbles, letters, "
                   "grids and touching digits more often, texture, blots, rings and shadows less. signs: the default "
                   "kinds and the signs written among numbers (+ = - < > $, the divide sign). hard-signs: "
                   "hard and the signs.")
@click.option("--fresh-negatives/--same-negatives", default=DEFAULTS.fresh_negatives, show_default=True,
              help="With --reject: draw a new set of non-digits every epoch (same seed, same sets), or one for the whole run.")
@click.option("--drawn-digits", type=FiniteFloat(0, 1), default=DEFAULTS.drawn_digits, show_default=True, metavar="SHARE",
              help="Digits drawn in the hands MNIST lacks (a 1 with a flag, a closed 4, a crossed 7; printed digits), new "
                   "each epoch, per training digit.")
@click.option("--elastic", type=FiniteFloat(0, 1), default=DEFAULTS.elastic, show_default=True, metavar="SHARE",
              help="With augmentation: the share of each batch warped smoothly (elastic distortion, a hand's wobble).")
@click.option("--refit", type=FiniteFloat(0, 1), default=DEFAULTS.refit, show_default=True, metavar="SHARE",
              help="With augmentation: the share of each batch framed again after its distortions as the reader "
                   "frames a candidate (ink's box fitted to 20x20, centre of mass at the centre).")
@click.option("--degrade", type=FiniteFloat(0, 1), default=DEFAULTS.degrade, show_default=True, metavar="SHARE",
              help="With augmentation: the share of each batch blurred more (a Gaussian, sigma 0.6-1.4 px at 28x28: "
                   "an out-of-focus webcam), half of it made bolder first (a marker), strongest ink back at 1 as the "
                   "reader brings it.")
@click.option("--ema", type=FiniteFloat(0, 1, max_open=True), default=DEFAULTS.ema, show_default=True, metavar="DECAY",
              help="Keep an average of the weights after every step with this decay (e.g. 0.999) and measure, save and "
                   "export the average; 0: the trained weights as they are.")
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True,
              help="Same seed on the same device gives the same result.")
@click.option("--device", type=click.Choice(DEVICES), default=DEFAULTS.device, show_default=True)
@click.option("--amp/--no-amp", default=None, help="bfloat16 mixed precision. Default: on for CUDA, off elsewhere.")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="MNIST root (downloaded there when absent) or an ImageFolder tree with train/<digit>/*.png and "
                   f"test/<digit>/*.png. Default: {DATA_DEFAULT_HELP}.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder for best.pth, last.pth, metrics.json and the PNGs. Default: artifacts/runs/<arch>-<time>.")
@click.option("--force", is_flag=True, help="Let a new run write into an --out folder that already holds files (its "
              "checkpoints, metrics and pictures are replaced).")
@click.option("--resume", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Continue the run saved in this checkpoint exactly (its settings, optimizer, schedule, RNG, epoch).")
@click.option("--init-from", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="CHECKPOINT",
              help="Start from this checkpoint's weights and architecture (e.g. artifacts/digits.pth, the shipped "
                   "model's) with a new schedule and run folder: fine-tune on --data my_digits/, or train a finished run further.")
@click.option("--mix-mnist", type=FiniteFloat(0, 1, max_open=True), default=None, metavar="SHARE",
              help="With an ImageFolder --data: this share of each epoch's digits is drawn afresh from MNIST, so the "
                   "model does not forget it (MNIST test accuracy is reported too). Default: 0.5 with --init-from when "
                   f"MNIST is on disk ({DATA_DEFAULT_HELP}), else 0.")
@click.option("--distill", type=FiniteFloat(min=0), default=DEFAULTS.distill, show_default=True, metavar="WEIGHT",
              help="With --init-from: also keep the starting model's answers (its softened probabilities, Hinton et "
                   "al.'s distillation) on what it already knew, MNIST and the rendered non-digits, with this weight "
                   "against the labels' loss; your own digits and --drawn-digits are learned from their labels alone. "
                   "e.g. 1; 0: off.")
@click.option("--limit-train", type=click.IntRange(min=1), default=None, help="Use only the first N training images.")
@click.option("--limit-test", type=click.IntRange(min=1), default=None, help="Use only the first N test images.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch. Default: torch's choice.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar per epoch.")
@click.pass_context
def main(ctx: click.Context, resume: Path | None, force: bool, progress: bool, **flags) -> None:
    """Train a digit classifier on MNIST and save self-describing checkpoints.

    Prints one line per epoch (loss, train and test accuracy, time); the run folder gets
    best.pth and last.pth (written atomically; Ctrl-C saves last.pth), metrics.json,
    curves.png, confusion.png and misclassified.png.

    \b
    Examples:
      digits-train --arch lenet5 --epochs 4
      digits-train --arch digitnet --epochs 30 --out artifacts/runs/best
      digits-train --resume artifacts/runs/best/last.pth
      digits-train --init-from artifacts/digits.pth --data my_digits/ --epochs 10 --lr 1e-3
    """
    from .loop import fit

    if resume is not None:
        given = [f"--{name.replace('_', '-')}" for name in RUN_FLAGS
                 if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]
        if given:
            raise InputError(f"--resume continues the saved run with its own settings; drop {', '.join(given)}")
    if flags["init_from"] is not None:
        fixed = [flag for name, flag in (("arch", "--arch"), ("arch_options", "--arch-option"), ("reject", "--reject/--no-reject"))
                 if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]
        if fixed:
            raise InputError(f"--init-from takes the architecture and its classes from the checkpoint; drop {', '.join(fixed)}")
    config = TrainConfig(progress=progress, **{k: (str(v) if isinstance(v, Path) else v) for k, v in flags.items()})
    result = fit(config, resume=resume, force=force, log=click.echo)
    if result.interrupted:
        ctx.exit(TERMINATED_EXIT if result.terminated else INTERRUPTED_EXIT)
    best = max(result.history, key=lambda h: h.test_accuracy)
    click.echo(f"done: best test accuracy {100 * best.test_accuracy:.2f}% (epoch {best.epoch}); "
               f"{sum(h.seconds for h in result.history):.1f}s training; run folder {result.run_dir}")


if __name__ == "__main__":
    main()
