"""The one model wrapper: loads a model, checks it against the contract, runs batches, in
onnxruntime or, where onnxruntime cannot be installed (32-bit Raspberry Pi OS), OpenCV's dnn
module (--backend)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from . import contract
from .errors import DigitsError, first_line
from .onnxfile import NotOnnx, Tensor, read_onnx

BACKENDS = ("auto", "onnxruntime", "opencv")


class ModelError(DigitsError):
    """The model file is missing, unreadable or does not fit the contract; one line for the user."""


def default_model_path() -> Path:
    """The shipped model, installed as package data of digits.artifacts."""
    from importlib.resources import files

    return Path(str(files("digits.artifacts") / "digits.onnx"))


def _is_torch_checkpoint(path: Path) -> bool:
    """torch.save writes a zip archive (legacy ones a pickle): what a user passing a .pth holds."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80" or path.suffix.lower() in (".pth", ".pt", ".ckpt")


def onnxruntime_module():
    """onnxruntime, or None where it is not installed (or its library does not load)."""
    try:
        import onnxruntime
    except (ImportError, OSError):
        return None
    return onnxruntime


def _ort_tensor(arg) -> Tensor:
    """onnxruntime's NodeArg ("tensor(float)", [batch, 1, 28, 28]) as the contract check reads it."""
    return Tensor(arg.name, arg.type.removeprefix("tensor(").rstrip(")"), tuple(arg.shape))


class DigitModel:
    """An exported digits model, with its contract read from the file itself.

    `backend`: "onnxruntime"; "opencv" (cv2.dnn, the same answers, slower); or "auto", which is
    onnxruntime when it can be imported, else OpenCV (then `fallback_note` says so)."""

    def __init__(self, path: str | Path | None = None, *, threads: int = 1, backend: str = "auto") -> None:
        self.path = Path(path) if path is not None else default_model_path()
        if backend not in BACKENDS:
            raise ModelError(f"backend {backend!r}: choose from {', '.join(BACKENDS)}")
        if not self.path.is_file():
            raise ModelError(f"{self.path}: no such model file")
        ort = onnxruntime_module() if backend != "opencv" else None
        if backend == "onnxruntime" and ort is None:
            raise ModelError("--backend onnxruntime: onnxruntime is not installed here (pip install onnxruntime, "
                             "or --backend opencv)")
        self.fallback_note = ("note: onnxruntime is not installed; the model runs in OpenCV's dnn module "
                              "(--backend opencv: the same answers, slower)") if backend == "auto" and ort is None else ""
        self.backend = "onnxruntime" if ort is not None else "opencv"
        self.session = self.net = None
        try:
            if ort is not None:
                self.session = self._load_onnxruntime(ort, threads)
                self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
                inputs = [_ort_tensor(t) for t in self.session.get_inputs()]
                outputs = [_ort_tensor(t) for t in self.session.get_outputs()]
            else:
                described = read_onnx(self.path)
                self.metadata, inputs, outputs = described.metadata, described.inputs, described.outputs
                self.net = cv2.dnn.readNetFromONNX(str(self.path))
        except Exception as exc:  # onnxruntime raises its own types, OpenCV cv2.error, ours NotOnnx
            if _is_torch_checkpoint(self.path):
                raise ModelError(f"{self.path}: a PyTorch checkpoint, not an ONNX model; convert it first: "
                                 f"digits-export {self.path} {self.path.with_suffix('.onnx')}") from None
            why = "not an ONNX file" if isinstance(exc, NotOnnx) else first_line(exc)
            raise ModelError(f"{self.path}: {self.backend} cannot load it as a model ({why})") from None
        self._check_contract(inputs, outputs)

    def _load_onnxruntime(self, ort, threads: int):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 4  # errors are ours to report, in one line (ModelError)
        return ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def _check_contract(self, inputs: list[Tensor], outputs: list[Tensor]) -> None:
        missing = [k for k in contract.REQUIRED_METADATA if k not in self.metadata]
        if missing:
            raise ModelError(f"{self.path}: not a digits model: metadata lacks {', '.join(missing)} (export it with digits-export)")
        version = self.metadata[contract.META_CONTRACT]
        if version not in contract.READABLE_CONTRACTS:
            raise ModelError(f"{self.path}: model contract {version!r}, this edge reads {' and '.join(contract.READABLE_CONTRACTS)}")
        reject = self.metadata.get(contract.META_REJECT_INDEX, "") if version != "1" else ""
        if reject not in ("", str(contract.REJECT_INDEX)):
            raise ModelError(f"{self.path}: metadata {contract.META_REJECT_INDEX} is {reject!r}; expected {contract.REJECT_INDEX} or empty")
        #: The column of `probabilities` that means "not a digit", or None for a model without one.
        self.reject_index: int | None = contract.REJECT_INDEX if reject else None
        columns = len(contract.CLASSES) + (self.reject_index is not None)
        try:
            classes = json.loads(self.metadata[contract.META_CLASSES])
        except json.JSONDecodeError:
            raise ModelError(f"{self.path}: metadata {contract.META_CLASSES} is not JSON") from None
        if not isinstance(classes, list) or classes != list(contract.CLASSES):
            raise ModelError(f"{self.path}: model classes {classes} are not the digits 0-9")
        self.classes: list[int] = classes
        if len(inputs) != 1:
            raise ModelError(f"{self.path}: expected one input, the model has {len(inputs)}")
        shape = list(inputs[0].shape)
        if inputs[0].elem_type != "float" or len(shape) != 4 or shape[1:] != [1, contract.IMAGE_SIZE, contract.IMAGE_SIZE]:
            raise ModelError(f"{self.path}: input is {inputs[0].elem_type} {shape}, the contract is float [N,1,28,28]")
        if isinstance(shape[0], int) and shape[0] != -1:
            raise ModelError(f"{self.path}: input batch is fixed at {shape[0]}; the contract needs a dynamic batch")
        self.input_name = inputs[0].name
        outputs = {o.name: o for o in outputs}
        if contract.PROBABILITIES_NAME not in outputs:
            raise ModelError(f"{self.path}: no {contract.PROBABILITIES_NAME!r} output (has {', '.join(outputs)})")
        if outputs[contract.PROBABILITIES_NAME].shape[-1] != columns:
            raise ModelError(f"{self.path}: probabilities output is {outputs[contract.PROBABILITIES_NAME].shape}, expected [N,{columns}]")
        self.output_names = [n for n in (contract.PROBABILITIES_NAME, contract.LOGITS_NAME) if n in outputs]

    @property
    def architecture(self) -> str:
        return self.metadata[contract.META_ARCHITECTURE]

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(probabilities [N,C], logits [N,C] or None) for float32 images [N,1,28,28] in [0,1];
        C is 10, or 11 when the model has the reject class (column `reject_index`)."""
        images = np.ascontiguousarray(images, dtype=np.float32)
        try:
            if self.session is not None:
                results = self.session.run(self.output_names, {self.input_name: images})
            else:
                self.net.setInput(images, self.input_name)
                results = self.net.forward(self.output_names)
        except Exception as exc:  # onnxruntime raises its own types (Fail, InvalidArgument, ...), OpenCV cv2.error
            raise ModelError(f"{self.path}: the model fails when run in {self.backend} ({first_line(exc, 200)})") from None
        return results[0], (results[1] if len(results) > 1 else None)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return self.run(images)[0]
