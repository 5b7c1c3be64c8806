"""digits-export: checkpoint -> ONNX through the parity gate."""

from __future__ import annotations

from pathlib import Path

import click

from digits.edge.errors import OneLineCommand

from digits.train.paths import DATA_DEFAULT_HELP

from .config import ExportConfig

DEFAULTS = ExportConfig()


@click.command(cls=OneLineCommand)
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.argument("destination", type=click.Path(path_type=Path))
@click.option("--opset", type=click.IntRange(18, 23), default=DEFAULTS.opset, show_default=True,
              help="ONNX opset. 18 runs on onnxruntime >= 1.14, including the Raspberry Pi wheels.")
@click.option("--atol", type=click.FloatRange(min=0), default=DEFAULTS.atol, show_default=True,
              help="Largest absolute difference allowed between torch and onnxruntime, for probabilities and logits.")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="MNIST root for the parity check on the 10,000 test digits (never downloaded here). "
                   f"Default: {DATA_DEFAULT_HELP}; without MNIST, random inputs and a note.")
@click.option("--int8", is_flag=True, help="Also write DESTINATION's stem + .int8.onnx: static QDQ quantization "
              "calibrated on real training digits, gated by --max-drop.")
@click.option("--max-drop", type=click.FloatRange(min=0), default=DEFAULTS.max_drop, show_default=True,
              help="Largest test-accuracy drop (percentage points) allowed for --int8.")
@click.option("--calibration-digits", type=click.IntRange(min=1), default=DEFAULTS.calibration_digits, show_default=True,
              help="Training digits used to calibrate --int8.")
def main(checkpoint: Path, destination: Path, **options) -> None:
    """Convert a digits-train CHECKPOINT to ONNX at DESTINATION and prove parity with torch.

    The graph takes float32 [N,1,28,28] images in [0,1] (dynamic N) and returns softmax
    probabilities and logits; normalisation is inside. Metadata in the file says what the
    model is, how accurate it is and where it came from. The parity gate runs torch and
    onnxruntime on the MNIST test digits at batch sizes 1, 2, 7, 64 and 1000, and fails the
    export when top-1 agreement is below 100% or any difference exceeds --atol. Nothing is
    written unless every gate passes; then DESTINATION and a .parity.json report beside it.

    \b
    Example:
      digits-export artifacts/runs/best/best.pth model.onnx --data ~/mnist --int8
    """
    from .pipeline import export_checkpoint

    data = options.pop("data")
    result = export_checkpoint(checkpoint, destination, ExportConfig(data=str(data) if data else None, **options), log=click.echo)
    click.echo(result.parity.summary())
    if result.int8 is not None:
        click.echo(result.int8.summary())
    size = result.onnx_path.stat().st_size
    click.echo(f"wrote {result.onnx_path} ({size / 1024:.1f} KiB) and {result.report_path}"
               f"{f' and {result.int8_path}' if result.int8_path else ''} in {result.seconds:.1f}s")


if __name__ == "__main__":
    main()
