"""One export, end to end: checkpoint -> ONNX -> parity gate (-> int8) -> atomic files."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import onnx
import torch

from digits.edge import contract
from digits.edge.errors import DigitsError
from digits.edge.session import DigitModel
from digits.train.checkpoint import load_checkpoint, model_from_checkpoint, sha256_of
from digits.train.data import DataError, load_mnist, resolve_data_root, to_float
from digits.train.models import has_reject_output

from .convert import DEFAULT_OPSET, contract_metadata, save_onnx, set_metadata, to_onnx
from .parity import ParityReport, check_parity
from .quantize import QuantizationError, QuantizationReport, evaluate_int8, gate_message, quantize_int8

RANDOM_INPUTS = 1000


def reject_figures(onnx_model: DigitModel, test_images: torch.Tensor, labels: torch.Tensor | None) -> dict:
    """The model card's not-a-digit figures, measured on the exported file (MNIST test digits only
    when the parity gate had them)."""
    from digits.train.negatives import rejection_figures

    return rejection_figures(onnx_model.probabilities, contract.REJECT_INDEX,
                             test_images.numpy() if labels is not None else None)


class DestinationError(DigitsError):
    """The destination cannot be written; one line for the user."""


@dataclass
class ExportResult:
    onnx_path: Path
    report_path: Path
    parity: ParityReport
    seconds: float
    int8_path: Path | None = None
    int8: QuantizationReport | None = None
    notes: list[str] = field(default_factory=list)


def companion(destination: Path, suffix: str) -> Path:
    """model.onnx -> model.parity.json / model.int8.onnx, beside the model."""
    return destination.with_name(destination.stem + suffix)


def check_destination(destination: Path, checkpoint: Path | None = None) -> None:
    """Refuse, before any work, a destination that cannot take the model and its report: the
    checkpoint itself, something that is not a regular file (a folder, a device node, a FIFO,
    a symlink), a name without .onnx, or a folder we cannot write in."""
    if destination.is_dir():
        raise DestinationError(f"{destination}: is a directory; give a file name such as {destination / 'model.onnx'}")
    if destination.suffix.lower() != ".onnx":
        raise DestinationError(f"{destination}: the model's file name must end in .onnx (e.g. {destination.with_suffix('.onnx')})")
    if checkpoint is not None and (destination.resolve() == checkpoint.resolve()
                                   or destination.exists() and checkpoint.exists() and os.path.samefile(destination, checkpoint)):
        raise DestinationError(f"{destination}: is the checkpoint being exported; give another file name")
    parent = destination.parent
    if not parent.is_dir():
        raise DestinationError(f"{parent}: no such directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DestinationError(f"{parent}: directory is not writable")
    for path in (destination, companion(destination, ".parity.json")):
        if path.is_symlink():
            raise DestinationError(f"{path}: is a symbolic link; give the real file name (nothing is written through links)")
        if path.is_dir():
            raise DestinationError(f"{path}: is a directory; give a file name such as {path / 'model.onnx'}")
        if path.exists() and not path.is_file():
            raise DestinationError(f"{path}: exists and is not a regular file (a device, FIFO or socket); nothing is written over it")
        if path.exists() and not os.access(path, os.W_OK):
            raise DestinationError(f"{path}: exists and is not writable")


def export_checkpoint(
    checkpoint: Path,
    destination: Path,
    *,
    opset: int = DEFAULT_OPSET,
    atol: float = 1e-4,
    data: str | None = None,
    int8: bool = False,
    max_drop: float = 0.3,
    calibration_digits: int = 1000,
    log: Callable[[str], None] = print,
) -> ExportResult:
    """Export `checkpoint` to `destination`; nothing is written unless every gate passes."""
    started = time.perf_counter()
    checkpoint, destination = Path(checkpoint), Path(destination)
    check_destination(destination, checkpoint)
    if int8:
        check_destination(companion(destination, ".int8.onnx"), checkpoint)
    payload = load_checkpoint(checkpoint)
    model = model_from_checkpoint(payload)
    proto = to_onnx(model, opset)
    notes: list[str] = []

    root = resolve_data_root(data)
    try:
        train_split, test_split = load_mnist(root, download=False)
        images, labels, inputs = test_split.images, test_split.labels, "mnist-test"
    except DataError as exc:
        if int8:
            raise DataError(f"--int8 calibrates on real training digits: {exc}") from None
        notes.append(f"note: MNIST not found under {root} (set --data or $DIGITS_DATA); parity checked on {RANDOM_INPUTS} random images instead of real digits")
        generator = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (RANDOM_INPUTS, contract.IMAGE_SIZE, contract.IMAGE_SIZE), generator=generator, dtype=torch.uint8)
        labels, inputs, train_split = None, "random", None
    for note in notes:
        log(note)

    sha = sha256_of(checkpoint)
    reject = has_reject_output(model)
    try:
        with tempfile.TemporaryDirectory(prefix=".digits-export-", dir=destination.parent) as tmp:
            staged = Path(tmp) / "model.onnx"
            set_metadata(proto, contract_metadata(arch=payload["arch"], checkpoint_sha256=sha, test_accuracy=None, parity=None,
                                                  reject=reject))
            save_onnx(proto, staged)
            parity = check_parity(model, DigitModel(staged), images, labels=labels, inputs=inputs, atol=atol)
            test_accuracy = parity.onnx_test_accuracy
            if test_accuracy is None:
                test_accuracy = payload.get("metrics", {}).get("test_accuracy")
            rejection = reject_figures(DigitModel(staged), images, labels) if reject else None
            set_metadata(proto, contract_metadata(arch=payload["arch"], checkpoint_sha256=sha, test_accuracy=test_accuracy,
                                                  parity=parity.as_dict(), reject=reject, reject_figures=rejection))
            save_onnx(proto, staged)

            staged_int8 = quantization = None
            if int8:
                staged_int8 = Path(tmp) / "model.int8.onnx"
                calibration = to_float(train_split.images[:calibration_digits]).numpy()
                quantize_int8(staged, staged_int8, calibration)
                quantization = evaluate_int8(staged, staged_int8, to_float(images).numpy(), labels.numpy(),
                                             fp32_accuracy=parity.onnx_test_accuracy, calibration_digits=len(calibration),
                                             max_drop_points=max_drop)
                if quantization.passed:
                    # The int8 file's metadata holds its own figures: accuracy, parity with the fp32
                    # model it was made from, rejection; not copies of the fp32 model's.
                    own = {contract.META_TEST_ACCURACY: f"{quantization.int8_accuracy:.6f}",
                           contract.META_PARITY: json.dumps(quantization.parity(len(images))),
                           contract.META_QUANTIZATION: json.dumps(quantization.as_dict())}
                    if reject:
                        own[contract.META_REJECT_FIGURES] = json.dumps(reject_figures(DigitModel(staged_int8), images, labels))
                    int8_proto = onnx.load(str(staged_int8))
                    set_metadata(int8_proto, {**{p.key: p.value for p in proto.metadata_props}, **own})
                    save_onnx(int8_proto, staged_int8)
                    quantization.int8_bytes = staged_int8.stat().st_size  # the file as written, metadata included
                else:
                    staged_int8 = None  # the fp32 model passed its gate and is still published

            seconds = time.perf_counter() - started
            report = {
                "checkpoint": os.path.relpath(checkpoint, destination.parent),  # where it lies from the report
                "checkpoint_sha256": sha,
                "architecture": payload["arch"],
                "onnx": destination.name,
                "onnx_bytes": staged.stat().st_size,
                "opset": opset,
                "export_seconds": round(seconds, 3),
                "parity": parity.as_dict(),
                "reject": rejection,
                "int8": None if quantization is None else {
                    "file": companion(destination, ".int8.onnx").name if staged_int8 is not None else None,
                    "written": staged_int8 is not None, **quantization.as_dict()},
                "notes": notes,
            }
            staged_report = Path(tmp) / "parity.json"
            staged_report.write_text(json.dumps(report, indent=2) + "\n")
            # Every gate passed: only now does anything appear at the destination.
            os.replace(staged, destination)
            os.replace(staged_report, companion(destination, ".parity.json"))
            if staged_int8 is not None:
                os.replace(staged_int8, companion(destination, ".int8.onnx"))
    except OSError as exc:  # a full disk or a folder that changed under us: one line, nothing published
        raise DestinationError(f"{destination}: cannot write ({exc.strerror or exc})") from None
    if quantization is not None and not quantization.passed:
        raise QuantizationError(f"{gate_message(quantization)}; the fp32 model passed its gate and was written to "
                                f"{destination}, the int8 model was not")
    return ExportResult(destination, companion(destination, ".parity.json"), parity, seconds,
                        companion(destination, ".int8.onnx") if int8 else None, quantization, notes)
