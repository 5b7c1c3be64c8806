"""The settings of one export, said once: digits-export's flags and their defaults come from here."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_OPSET = 18  # onnxruntime >= 1.14 runs it, including the Raspberry Pi wheels


@dataclass(frozen=True)
class ExportConfig:
    opset: int = DEFAULT_OPSET
    atol: float = 1e-4  # largest |difference| torch vs onnxruntime, probabilities and logits
    data: str | None = None  # MNIST root for the parity gate (never downloaded); None: the usual rule
    int8: bool = False  # also write <stem>.int8.onnx, calibrated on real training digits
    max_drop: float = 0.3  # largest int8 test-accuracy drop, percentage points
    calibration_digits: int = 1000  # training digits that calibrate int8
