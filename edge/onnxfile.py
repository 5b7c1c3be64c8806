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


def _value_info(data: bytes) -> Tensor:
    name, elem, shape = "", "unknown", []
    for number, value in fields(data):
        if number == VALUE_NAME:
            name = value.decode("utf-8", "replace")
        elif number == VALUE_TYPE:
            for t_number, tensor in fields(value):
                if t_number != TYPE_TENSOR:
                    continue
                for f_number, f_value in fields(tensor):
                    if f_number == TENSOR_ELEM_TYPE:
                        elem = ELEM_TYPES.get(f_value, "unknown")
                    elif f_number == TENSOR_SHAPE:
                        for d_number, dim in fields(f_value):
                            if d_number != SHAPE_DIM:
                                continue
                            size: int | str | None = None
                            for k, v in fields(dim):
                                size = v if k == DIM_VALUE else v.decode("utf-8", "replace") if k == DIM_PARAM else size
                            shape.append(size)
    return Tensor(name, elem, tuple(shape))


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
            metadata[key.decode("utf-8", "replace")] = text.decode("utf-8", "replace")
        elif number == MODEL_GRAPH and isinstance(value, bytes):
            graph = value
    if graph is None:
        raise NotOnnx("no graph")
    initializers, inputs, outputs = set(), [], []
    for number, value in fields(graph):
        if number == GRAPH_INITIALIZER:
            initializers.update(v.decode("utf-8", "replace") for k, v in fields(value) if k == TENSOR_NAME)
        elif number == GRAPH_INPUT:
            inputs.append(_value_info(value))
        elif number == GRAPH_OUTPUT:
            outputs.append(_value_info(value))
    return OnnxFile(metadata, [t for t in inputs if t.name not in initializers], outputs)
