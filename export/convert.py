"""Checkpoint -> ONNX following the model contract (conversion only; parity is separate)."""

from __future__ import annotations

import io
import json
import warnings
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime, timezone
from pathlib import Path

import onnx
import torch
import torch.nn.functional as F
from torch import nn

from digits.edge import __version__ as toolkit_version
from digits.edge import contract
from digits.edge.errors import DigitsError, first_line
from digits.train.models import standardize

from .config import DEFAULT_OPSET


class ExportError(DigitsError):
    """Conversion failed; the message is one line for the user."""


class ContractModel(nn.Module):
    """Wraps a zoo model so the graph takes [0, 1] images and returns (probabilities, logits)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(standardize(image))
        return F.softmax(logits, dim=1), logits


def to_onnx(model: nn.Module, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Export `model` with a dynamic batch; checked in full and shape-inferred."""
    wrapped = ContractModel(model).eval()
    example = torch.zeros(2, 1, contract.IMAGE_SIZE, contract.IMAGE_SIZE)
    chatter = io.StringIO()
    try:
        with warnings.catch_warnings(), redirect_stdout(chatter), redirect_stderr(chatter):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                wrapped, (example,), dynamo=True, opset_version=opset, external_data=False,
                input_names=[contract.INPUT_NAME],
                output_names=[contract.PROBABILITIES_NAME, contract.LOGITS_NAME],
                dynamic_shapes={"image": {0: torch.export.Dim("batch", min=1)}},
            )
        proto = program.model_proto
    except Exception as exc:
        raise ExportError(f"torch.onnx.export failed: {first_line(exc, 1000)}") from None
    try:
        onnx.checker.check_model(proto, full_check=True)
        proto = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    except Exception as exc:
        raise ExportError(f"the exported graph fails onnx.checker: {str(exc).strip().splitlines()[0]}") from None
    lowest_ir_version(proto)
    return proto


def lowest_ir_version(proto: onnx.ModelProto) -> None:
    """Stamp the file with the lowest IR version its opsets allow (8 for opset 18), not the newest
    the installed onnx writes (10 with onnx 1.16+): onnxruntime refuses a newer IR version than it
    knows, and the onnxruntime on a Pi or in a distribution is often older (1.17 reads IR <= 9)."""
    standard = [o for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    proto.ir_version = onnx.helper.find_min_ir_version_for(standard, ignore_unknown=True)


def set_metadata(proto: onnx.ModelProto, values: dict[str, str]) -> None:
    """Write (or overwrite) metadata_props entries."""
    existing = {p.key: p for p in proto.metadata_props}
    for key, value in values.items():
        if key in existing:
            existing[key].value = value
        else:
            proto.metadata_props.add(key=key, value=value)


def contract_metadata(*, arch: str, checkpoint_sha256: str, test_accuracy: float | None, parity: dict | None,
                      reject: bool, reject_figures: dict | None = None) -> dict[str, str]:
    """Everything the edge and a person need to know about the exported model."""
    return {
        contract.META_REJECT_INDEX: str(contract.REJECT_INDEX) if reject else "",
        contract.META_REJECT_FIGURES: json.dumps(reject_figures or {}),
        contract.META_CONTRACT: contract.CONTRACT_VERSION,
        contract.META_ARCHITECTURE: arch,
        contract.META_CLASSES: json.dumps(list(contract.CLASSES)),
        contract.META_INPUT: contract.INPUT_DESCRIPTION,
        contract.META_TEST_ACCURACY: "" if test_accuracy is None else f"{test_accuracy:.6f}",
        contract.META_PARITY: json.dumps(parity or {}),
        contract.META_CHECKPOINT_SHA256: checkpoint_sha256,
        contract.META_TORCH_VERSION: str(torch.__version__),
        contract.META_ONNX_VERSION: onnx.__version__,
        contract.META_TOOLKIT_VERSION: toolkit_version,
        contract.META_CREATED: datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def save_onnx(proto: onnx.ModelProto, path: Path) -> None:
    onnx.save_model(proto, str(path))
