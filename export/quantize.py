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
    """int8 lost too much accuracy or could not be made; one line for the user."""


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

    def as_dict(self) -> dict:
        return asdict(self)

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


def accuracy(model: DigitModel, images: np.ndarray, labels: np.ndarray, batch: int = 1000) -> float:
    predicted = np.concatenate([model.probabilities(images[i : i + batch]).argmax(1) for i in range(0, len(images), batch)])
    return float((predicted == labels).mean())


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
    """Accuracy, size and latency of the int8 model beside the fp32 one (whose accuracy the parity
    gate has measured on the same digits); raises QuantizationError when the drop is too large."""
    fp32, int8 = DigitModel(fp32_path), DigitModel(int8_path)
    int8_accuracy = accuracy(int8, test_images, test_labels)
    report = QuantizationReport(
        calibration_digits, fp32_accuracy, int8_accuracy, 100 * (fp32_accuracy - int8_accuracy),
        fp32_path.stat().st_size, int8_path.stat().st_size,
        batch1_latency_us(fp32, test_images), batch1_latency_us(int8, test_images), max_drop_points,
    )
    if report.drop_points > max_drop_points:
        raise QuantizationError(f"int8 accuracy drop {report.drop_points:.2f} points exceeds --max-drop {max_drop_points}: {report.summary()}")
    return report
