"""What an ONNX file says about itself (metadata, graph inputs and outputs), read straight from its
protobuf bytes: the OpenCV backend has no onnxruntime to ask, and the edge never needs the onnx
package. Only the few fields the contract checks are decoded; everything else is skipped."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Field numbers from onnx.proto (stable since ONNX 1.0).
MODEL_GRAPH, MODEL_METADATA = 7, 14
GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT = 5, 11, 12
TENSOR_NAME = 8
VALUE_NAME, VALUE_TYPE = 1, 2
TYPE_TENSOR = 1
TENSOR_ELEM_TYPE, TENSOR_SHAPE = 1, 2
SHAPE_DIM = 1
DIM_VALUE, DIM_PARAM = 1, 2
ENTRY_KEY, ENTRY_VALUE = 1, 2
ELEM_TYPES = {1: "float", 10: "float16", 11: "double", 2: "uint8", 3: "int8", 6: "int32", 7: "int64"}


class NotOnnx(ValueError):
    """The bytes are not a protobuf message of the expected shape."""


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise NotOnnx("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of one message: ints for varints, bytes for length-delimited fields
    (fixed-width fields are skipped)."""
    out, i = [], 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
            out.append((number, value))
        elif wire == 2:
            length, i = _varint(data, i)
            if i + length > len(data):
                raise NotOnnx("truncated field")
            out.append((number, data[i : i + length]))
            i += length
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise NotOnnx(f"wire type {wire}")
    return out


@dataclass(frozen=True)
class Tensor:
    name: str
    elem_type: str  # "float", ... or "unknown"
    shape: tuple[int | str | None, ...]  # a number, a symbolic name (dynamic), or None (unknown)


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _dim(data: bytes) -> int | str | None:
    """A dimension: its size, its symbolic name (dynamic), or None when the file says neither."""
    found = dict(fields(data))
    return found[DIM_VALUE] if DIM_VALUE in found else _text(found[DIM_PARAM]) if DIM_PARAM in found else None


def _tensor_type(data: bytes) -> tuple[str, tuple[int | str | None, ...]]:
    """(element type, shape) of a TypeProto.Tensor."""
    elem, shape = "unknown", ()
    for number, value in fields(data):
        if number == TENSOR_ELEM_TYPE:
            elem = ELEM_TYPES.get(value, "unknown")
        elif number == TENSOR_SHAPE:
            shape = tuple(_dim(dim) for k, dim in fields(value) if k == SHAPE_DIM)
    return elem, shape


def _value_info(data: bytes) -> Tensor:
    name, elem, shape = "", "unknown", ()
    for number, value in fields(data):
        if number == VALUE_NAME:
            name = _text(value)
        elif number == VALUE_TYPE:
            for kind, tensor in fields(value):
                if kind == TYPE_TENSOR:
                    elem, shape = _tensor_type(tensor)
    return Tensor(name, elem, shape)


@dataclass(frozen=True)
class OnnxFile:
    metadata: dict[str, str]
    inputs: list[Tensor]  # the graph's real inputs (initializers listed as inputs by old exporters left out)
    outputs: list[Tensor]


def read_onnx(path: Path) -> OnnxFile:
    """Metadata, inputs and outputs of the ONNX model at `path`; NotOnnx when it is not one."""
    data = path.read_bytes()
    metadata: dict[str, str] = {}
    graph = None
    for number, value in fields(data):
        if number == MODEL_METADATA and isinstance(value, bytes):
            entry = dict(fields(value))
            key, text = entry.get(ENTRY_KEY, b""), entry.get(ENTRY_VALUE, b"")
            metadata[_text(key)] = _text(text)
        elif number == MODEL_GRAPH and isinstance(value, bytes):
            graph = value
    if graph is None:
        raise NotOnnx("no graph")
    initializers, inputs, outputs = set(), [], []
    for number, value in fields(graph):
        if number == GRAPH_INITIALIZER:
            initializers.update(_text(v) for k, v in fields(value) if k == TENSOR_NAME)
        elif number == GRAPH_INPUT:
            inputs.append(_value_info(value))
        elif number == GRAPH_OUTPUT:
            outputs.append(_value_info(value))
    return OnnxFile(metadata, [t for t in inputs if t.name not in initializers], outputs)
