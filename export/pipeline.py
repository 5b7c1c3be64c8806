"""One export, end to end, in named steps: load the reference digits, stage the fp32 model through
the parity gate, stage int8 through its accuracy gate, write the report, publish atomically."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import torch
from torch import nn

from digits.edge import contract
from digits.edge.errors import DigitsError
from digits.edge.session import DigitModel
from digits.train.checkpoint import load_checkpoint, model_from_checkpoint, sha256_of
from digits.train.data import DataError, load_mnist, to_float
from digits.train.paths import DATA_ENV, resolve_data_root
from digits.train.models import has_reject_output

from .config import ExportConfig
from .convert import contract_metadata, lowest_ir_version, save_onnx, set_metadata, to_onnx
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


@dataclass
class ReferenceDigits:
    """What the gates run on: the MNIST test digits (random images when MNIST is absent) and, for
    int8, the training digits that calibrate it."""

    images: torch.Tensor  # uint8 [N, 28, 28]
    labels: torch.Tensor | None  # None for random images
    inputs: str  # "mnist-test" or "random"
    calibration: np.ndarray | None = None  # float [M, 28, 28] in [0, 1], only for int8
    notes: list[str] = field(default_factory=list)


@dataclass
class Staged:
    """The files of one export in its temporary folder, with the figures that let them through."""

    fp32: Path
    proto: onnx.ModelProto
    parity: ParityReport
    rejection: dict | None
    int8: Path | None = None  # None: not asked for, or its gate failed
    quantization: QuantizationReport | None = None


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


def load_reference_digits(config: ExportConfig) -> ReferenceDigits:
    """The MNIST test digits for the gates (never downloaded here); without MNIST, random images
    and a note, unless int8 needs real training digits to calibrate on."""
    root = resolve_data_root(config.data)
    try:
        train_split, test_split = load_mnist(root, download=False)
    except DataError as exc:
        if config.int8:
            raise DataError(f"--int8 calibrates on real training digits: {exc}") from None
        generator = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (RANDOM_INPUTS, contract.IMAGE_SIZE, contract.IMAGE_SIZE), generator=generator,
                               dtype=torch.uint8)
        return ReferenceDigits(images, None, "random", notes=[
            f"note: MNIST not found under {root} (set --data or ${DATA_ENV}); parity checked on {RANDOM_INPUTS} random "
            "images instead of real digits"])
    calibration = to_float(train_split.images[:config.calibration_digits]).numpy() if config.int8 else None
    return ReferenceDigits(test_split.images, test_split.labels, "mnist-test", calibration)


def stage_fp32(model: nn.Module, payload: dict, sha: str, reference: ReferenceDigits, config: ExportConfig,
               folder: Path) -> Staged:
    """Convert, write the model into `folder`, run the parity gate on it, then write it again with
    its figures (accuracy, parity, rejection) in the metadata. ParityError when the gate fails."""
    reject = has_reject_output(model)
    proto = to_onnx(model, config.opset)
    staged = folder / "model.onnx"
    set_metadata(proto, contract_metadata(arch=payload["arch"], checkpoint_sha256=sha, test_accuracy=None, parity=None,
                                          reject=reject))
    save_onnx(proto, staged)
    onnx_model = DigitModel(staged)  # the metadata rewritten below does not change what it computes
    parity = check_parity(model, onnx_model, reference.images, labels=reference.labels, inputs=reference.inputs,
                          atol=config.atol)
    test_accuracy = parity.onnx_test_accuracy
    if test_accuracy is None:
        test_accuracy = payload.get("metrics", {}).get("test_accuracy")
    rejection = reject_figures(onnx_model, reference.images, reference.labels) if reject else None
    set_metadata(proto, contract_metadata(arch=payload["arch"], checkpoint_sha256=sha, test_accuracy=test_accuracy,
                                          parity=parity.as_dict(), reject=reject, reject_figures=rejection))
    save_onnx(proto, staged)
    return Staged(staged, proto, parity, rejection)


def stage_int8(staged: Staged, reference: ReferenceDigits, config: ExportConfig, folder: Path) -> None:
    """Quantize the staged fp32 model and gate it on accuracy; when it passes, its file carries its
    own figures (accuracy, parity with the fp32 model it was made from, rejection), not copies of
    the fp32 model's. A failed gate leaves `staged.int8` None and the report in `staged.quantization`."""
    path = folder / "model.int8.onnx"
    quantize_int8(staged.fp32, path, reference.calibration)
    quantization = evaluate_int8(staged.fp32, path, to_float(reference.images).numpy(), reference.labels.numpy(),
                                 fp32_accuracy=staged.parity.onnx_test_accuracy,
                                 calibration_digits=len(reference.calibration), max_drop_points=config.max_drop)
    staged.quantization = quantization
    if not quantization.passed:
        return
    own = {contract.META_TEST_ACCURACY: f"{quantization.int8_accuracy:.6f}",
           contract.META_PARITY: json.dumps(quantization.parity(len(reference.images))),
           contract.META_QUANTIZATION: json.dumps(quantization.as_dict())}
    if staged.rejection is not None:
        own[contract.META_REJECT_FIGURES] = json.dumps(reject_figures(DigitModel(path), reference.images, reference.labels))
    int8_proto = onnx.load(str(path))
    lowest_ir_version(int8_proto)
    set_metadata(int8_proto, {**{p.key: p.value for p in staged.proto.metadata_props}, **own})
    save_onnx(int8_proto, path)
    quantization.int8_bytes = path.stat().st_size  # the file as written, metadata included
    staged.int8 = path


def parity_report(checkpoint: Path, destination: Path, payload: dict, sha: str, staged: Staged,
                  reference: ReferenceDigits, config: ExportConfig, seconds: float) -> dict:
    """DEST.parity.json: where the model came from and every gate's figures."""
    quantization = staged.quantization
    return {
        "checkpoint": os.path.relpath(checkpoint, destination.parent),  # where it lies from the report
        "checkpoint_sha256": sha,
        "architecture": payload["arch"],
        "onnx": destination.name,
        "onnx_bytes": staged.fp32.stat().st_size,
        "opset": config.opset,
        "export_seconds": round(seconds, 3),
        "parity": staged.parity.as_dict(),
        "reject": staged.rejection,
        "int8": None if quantization is None else {
            "file": companion(destination, ".int8.onnx").name if staged.int8 is not None else None,
            "written": staged.int8 is not None, **quantization.as_dict()},
        "notes": reference.notes,
    }


def publish(staged: Staged, report: Path, destination: Path) -> None:
    """Every gate passed: only now does anything appear at the destination (renames in one folder)."""
    os.replace(staged.fp32, destination)
    os.replace(report, companion(destination, ".parity.json"))
    if staged.int8 is not None:
        os.replace(staged.int8, companion(destination, ".int8.onnx"))


def export_checkpoint(checkpoint: Path, destination: Path, config: ExportConfig = ExportConfig(), *,
                      log: Callable[[str], None] = print) -> ExportResult:
    """Export `checkpoint` to `destination`; nothing is written unless every gate passes."""
    started = time.perf_counter()
    checkpoint, destination = Path(checkpoint), Path(destination)
    check_destination(destination, checkpoint)
    if config.int8:
        check_destination(companion(destination, ".int8.onnx"), checkpoint)
    payload = load_checkpoint(checkpoint)
    model = model_from_checkpoint(payload)
    reference = load_reference_digits(config)
    for note in reference.notes:
        log(note)
    sha = sha256_of(checkpoint)
    try:
        with tempfile.TemporaryDirectory(prefix=".digits-export-", dir=destination.parent) as tmp:
            staged = stage_fp32(model, payload, sha, reference, config, Path(tmp))
            if config.int8:
                stage_int8(staged, reference, config, Path(tmp))
            seconds = time.perf_counter() - started
            report = Path(tmp) / "parity.json"
            report.write_text(json.dumps(parity_report(checkpoint, destination, payload, sha, staged, reference, config,
                                                       seconds), indent=2) + "\n")
            publish(staged, report, destination)
    except OSError as exc:  # a full disk or a folder that changed under us: one line, nothing published
        raise DestinationError(f"{destination}: cannot write ({exc.strerror or exc})") from None
    quantization = staged.quantization
    if quantization is not None and not quantization.passed:
        raise QuantizationError(f"{gate_message(quantization)}; the fp32 model passed its gate and was written to "
                                f"{destination}, the int8 model was not")
    return ExportResult(destination, companion(destination, ".parity.json"), staged.parity, seconds,
                        companion(destination, ".int8.onnx") if config.int8 else None, quantization)
