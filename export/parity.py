"""The parity gate: the ONNX file must reproduce torch on real digits, or the export fails."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from digits.edge.errors import DigitsError
from digits.edge.session import DigitModel
from digits.train.data import to_float
from digits.train.models import predict

PARITY_BATCH_SIZES = (1, 2, 7, 64, 1000)


class ParityError(DigitsError):
    """ONNX and torch disagree; the message says what differed and by how much."""


@dataclass
class ParityReport:
    inputs: str  # "mnist-test" or "random"
    samples: int
    batch_sizes: list[int]
    max_abs_probability_diff: float
    max_abs_logit_diff: float
    top1_agreement: float
    atol: float
    onnx_test_accuracy: float | None  # on the labelled inputs, when they are real digits
    passed: bool

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        accuracy = "" if self.onnx_test_accuracy is None else f", ONNX test accuracy {100 * self.onnx_test_accuracy:.2f}%"
        return (
            f"parity {'PASSED' if self.passed else 'FAILED'} on {self.samples:,} {self.inputs} inputs at batch sizes "
            f"{', '.join(map(str, self.batch_sizes))}: max |dprob| {self.max_abs_probability_diff:.2e}, "
            f"max |dlogit| {self.max_abs_logit_diff:.2e} (atol {self.atol:g}), top-1 agreement "
            f"{100 * self.top1_agreement:.2f}%{accuracy}"
        )


def check_parity(
    model: nn.Module,
    onnx_model: DigitModel,
    images: torch.Tensor,
    *,
    labels: torch.Tensor | None = None,
    inputs: str = "mnist-test",
    atol: float,
    batch_sizes: tuple[int, ...] = PARITY_BATCH_SIZES,
) -> ParityReport:
    """Compare torch `model` with the ONNX session on uint8 images [N,28,28] at several batch sizes.

    Every batch size runs over all images, so the last short batch tests yet another size.
    Returns the figures, or raises ParityError with them when the gate fails.
    """
    torch_logits = predict(model, images).numpy().astype(np.float64)
    if not np.isfinite(torch_logits).all():
        raise ParityError(f"the checkpoint's model outputs nan or inf on {int((~np.isfinite(torch_logits)).any(1).sum()):,} "
                          f"of {len(torch_logits):,} inputs (its weights are not finite: training diverged?); nothing exported")
    torch_probs = torch.softmax(torch.from_numpy(torch_logits), 1).numpy()
    x = to_float(images).numpy()
    worst_prob = worst_logit = 0.0
    agreement = 1.0
    onnx_top1 = None
    for batch in batch_sizes:
        chunks = [onnx_model.run(x[i : i + batch]) for i in range(0, len(x), batch)]
        probs = np.concatenate([c[0] for c in chunks])
        if not np.isfinite(probs).all():
            raise ParityError(f"onnxruntime outputs nan or inf at batch size {batch}; nothing exported")
        worst_prob = max(worst_prob, float(np.abs(probs - torch_probs).max()))
        if chunks[0][1] is not None:
            logits = np.concatenate([c[1] for c in chunks])
            worst_logit = max(worst_logit, float(np.abs(logits - torch_logits).max()))
        onnx_top1 = probs.argmax(1)
        agreement = min(agreement, float((onnx_top1 == torch_logits.argmax(1)).mean()))
    accuracy = None if labels is None else float((onnx_top1 == labels.numpy()).mean())
    passed = agreement == 1.0 and worst_prob <= atol and worst_logit <= atol
    report = ParityReport(inputs, len(x), [b for b in batch_sizes if b <= len(x)] or [len(x)], worst_prob, worst_logit,
                          agreement, atol, accuracy, passed)
    if not passed:
        raise ParityError(report.summary())
    return report
