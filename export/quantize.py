"""Static int8 (QDQ) quantization with onnxruntime's tools, calibrated on real training digits."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from digits.edge import contract
from digits.edge.errors import DigitsError
from digits.edge.session import DigitModel
from digits.edge.timing import median_us


class QuantizationError(DigitsError):
    """The int8 model could not be made, or lost more accuracy than --max-drop allows (the fp32
    model, which passed its own gate, is still published then); one line for the user."""


@dataclass
class QuantizationReport:
    calibration_digits: int
    fp32_accuracy: float
    int8_accuracy: float
    drop_points: float
    fp32_bytes: int
    int8_bytes: int
    fp32_us_per_digit: float
    int8_us_per_digit: float
    max_drop_points: float
    top1_agreement_with_fp32: float = 1.0  # share of test digits where int8 and fp32 give the same answer
    max_abs_probability_diff: float = 0.0  # largest |int8 - fp32| over all probabilities of the test digits

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def passed(self) -> bool:
        return self.drop_points <= self.max_drop_points

    def parity(self, samples: int) -> dict:
        """The int8 file's own parity figures (its metadata's digits.parity): against the fp32 ONNX
        model it was made from, on the same `samples` test digits."""
        return {"reference": "fp32 onnx", "samples": samples, "top1_agreement": self.top1_agreement_with_fp32,
                "max_abs_probability_diff": self.max_abs_probability_diff, "onnx_test_accuracy": self.int8_accuracy,
                "fp32_test_accuracy": self.fp32_accuracy}

    def summary(self) -> str:
        speed = self.fp32_us_per_digit / self.int8_us_per_digit
        verdict = f"int8 is {speed:.2f}x as fast" if speed >= 1.05 else f"int8 is NOT faster here ({speed:.2f}x)"
        return (
            f"int8: accuracy {100 * self.int8_accuracy:.2f}% vs fp32 {100 * self.fp32_accuracy:.2f}% "
            f"(drop {self.drop_points:+.2f} points, limit {self.max_drop_points}); size {self.int8_bytes / 1024:.1f} KiB vs "
            f"{self.fp32_bytes / 1024:.1f} KiB; batch-1 latency {self.int8_us_per_digit:.1f} us vs {self.fp32_us_per_digit:.1f} us "
            f"per digit on one thread: {verdict}"
        )


class _Calibration:
    """onnxruntime CalibrationDataReader over float images [N,1,28,28]."""

    def __init__(self, images: np.ndarray, batch: int = 64) -> None:
        self._batches = iter([{contract.INPUT_NAME: images[i : i + batch]} for i in range(0, len(images), batch)])

    def get_next(self):
        return next(self._batches, None)


def probabilities(model: DigitModel, images: np.ndarray, batch: int = 1000) -> np.ndarray:
    """The model's probabilities for all `images`, in batches."""
    return np.concatenate([model.probabilities(images[i : i + batch]) for i in range(0, len(images), batch)])


def batch1_latency_us(model: DigitModel, images: np.ndarray, repeats: int = 2000) -> float:
    """Median time of one digit through `model`, in microseconds."""
    digit = images[:1]
    return median_us(lambda: model.probabilities(digit), repeats)


def quantize_int8(fp32_path: Path, int8_path: Path, calibration: np.ndarray) -> None:
    """Write a QDQ int8 copy of `fp32_path` calibrated on float images [N,1,28,28]."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    logging.getLogger("onnxruntime").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(int8_path), _Calibration(calibration), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )


def evaluate_int8(fp32_path: Path, int8_path: Path, test_images: np.ndarray, test_labels: np.ndarray,
                  *, fp32_accuracy: float, calibration_digits: int, max_drop_points: float) -> QuantizationReport:
    """Accuracy, size, latency and agreement of the int8 model beside the fp32 one (whose accuracy
    the parity gate has measured on the same digits). `passed` says whether the drop is within
    `max_drop_points`; the caller decides what a failure means."""
    fp32, int8 = DigitModel(fp32_path), DigitModel(int8_path)
    p32, p8 = probabilities(fp32, test_images), probabilities(int8, test_images)
    int8_accuracy = float((p8.argmax(1) == test_labels).mean())
    return QuantizationReport(
        calibration_digits, fp32_accuracy, int8_accuracy, 100 * (fp32_accuracy - int8_accuracy),
        fp32_path.stat().st_size, int8_path.stat().st_size,
        batch1_latency_us(fp32, test_images), batch1_latency_us(int8, test_images), max_drop_points,
        float((p8.argmax(1) == p32.argmax(1)).mean()), float(np.abs(p8 - p32).max()),
    )


def gate_message(report: QuantizationReport) -> str:
    return f"int8 accuracy drop {report.drop_points:.2f} points exceeds --max-drop {report.max_drop_points}: {report.summary()}"
