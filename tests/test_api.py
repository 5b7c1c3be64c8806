"""The Python API (digits.edge.read / Reader): paths and arrays in every layout a user may hold give
the same reading as the CLI's --json. Torch-free: runs in the base install too."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import run_cli
from digits.train.render import random_number, render_number

import digits.edge
from digits.edge import Reader, read
from digits.edge.errors import DigitsError
from digits.edge.session import ModelError


@pytest.fixture(scope="module")
def photo(mnist_test, tmp_path_factory) -> tuple[np.ndarray, str, object]:
    images, labels = mnist_test
    rng = np.random.default_rng(11)
    digits, text = random_number(images, labels, rng, length=(4, 5))
    picture = render_number(digits, rng)
    path = tmp_path_factory.mktemp("api") / "number.png"
    cv2.imwrite(str(path), picture)
    return cv2.imread(str(path)), text, path


def test_read_a_path_gives_what_the_cli_gives(photo):
    picture, text, path = photo
    result = read(path)
    assert result["text"] == text
    cli = json.loads(run_cli("digits-edge", "--json", str(path)).stdout)
    assert {k: result[k] for k in ("source", "text", "digits", "rejected")} == \
        {k: cli[k] for k in ("source", "text", "digits", "rejected")}
    assert read(str(path))["text"] == text


@pytest.mark.parametrize("layout", ["bgr", "rgb", "grey", "grey-hw1", "bgra", "rgba", "float01", "float255", "uint16", "bool"])
def test_arrays_in_every_layout_read_the_same(photo, layout):
    picture, text, _ = photo
    grey = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
    array, color = {
        "bgr": (picture, "bgr"),
        "rgb": (np.ascontiguousarray(picture[:, :, ::-1]), "rgb"),
        "grey": (grey, "bgr"),
        "grey-hw1": (grey[:, :, None], "bgr"),
        "bgra": (cv2.cvtColor(picture, cv2.COLOR_BGR2BGRA), "bgr"),
        "rgba": (cv2.cvtColor(picture, cv2.COLOR_BGR2RGBA), "rgb"),
        "float01": (picture.astype(np.float32) / 255, "bgr"),
        "float255": (picture.astype(np.float64), "bgr"),
        "uint16": (picture.astype(np.uint16) * 257, "bgr"),
        "bool": (grey < 128, "bgr"),
    }[layout]
    result = read(array, color=color)
    assert result["source"] == "<array>"
    assert result["text"] == text
    boxes = [d["box"] for d in read(picture)["digits"]]
    if layout not in ("bool", "uint16"):  # thresholded, or contrast-stretched by the maximum: boxes may move a pixel
        assert [d["box"] for d in result["digits"]] == boxes


def test_reader_keeps_one_model_and_takes_settings(photo):
    picture, text, path = photo
    reader = Reader(min_confidence=1.0)  # nothing is that sure: every candidate set aside, with a trace
    result = reader.read(picture)
    assert result["text"] == "" and len(result["rejected"]) >= len(text)
    assert Reader().read(path, source="mine")["source"] == "mine"


@pytest.mark.parametrize("bad, message", [
    (np.zeros((0, 5), np.uint8), "empty image"),
    (np.zeros((10, 10, 5), np.uint8), "HxW"),
    (np.full((10, 10), np.nan, np.float32), "NaN"),
    ([[0, 1], [1, 0]], "numpy array"),
    ("no-such-file.png", "no-such-file.png"),
])
def test_bad_images_raise_one_digits_error(bad, message):
    with pytest.raises(DigitsError, match=message):
        read(bad)


def test_bad_model_and_colour_are_digits_errors(tmp_path, photo):
    with pytest.raises(DigitsError, match="color"):
        read(photo[0], color="hsv")
    not_a_model = tmp_path / "x.onnx"
    not_a_model.write_bytes(b"not a model")
    with pytest.raises(ModelError):
        Reader(not_a_model)


def test_importing_the_package_does_not_load_onnxruntime():
    code = "import sys, digits.edge, digits.edge.normalize; print('onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    assert set(digits.edge.__all__) >= {"read", "Reader"}
