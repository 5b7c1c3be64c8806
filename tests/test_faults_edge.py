"""Bad inputs and faults on digits-edge (issue 10): each gets one line and the right exit code, never a
traceback or a crash, and nothing the user had is lost or half-written. Real files, real
subprocesses; torch-free, so these run in the edge's base install too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from conftest import assert_one_line_error, launch, run_cli, stop
from digits.edge import contract
from digits.edge.sources import display_answers
from digits.train.render import random_number, render_number, write_video


@pytest.fixture(scope="module")
def photo(mnist_test) -> tuple[np.ndarray, str]:
    images, labels = mnist_test
    rng = np.random.default_rng(5)
    digits, truth = random_number(images, labels, rng, (3, 4))
    return render_number(digits, rng), truth


def _script(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _run_bytes(*args: bytes | str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run digits-edge with arguments that may be bytes (file names that are not UTF-8)."""
    return subprocess.run([_script("digits-edge").encode(), *[a if isinstance(a, bytes) else a.encode() for a in args]],
                          capture_output=True, timeout=timeout)


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".digits-") or p.name.endswith(".tmp")]


def test_a_file_name_that_is_not_utf8_is_read_and_saved_without_a_crash(tmp_path, photo):
    image, truth = photo
    name = os.fsencode(tmp_path) + b"/x-\xff.png"
    with open(name, "wb") as handle:
        handle.write(cv2.imencode(".png", image)[1].tobytes())
    save = os.fsencode(tmp_path) + b"/out-\xfe"
    result = _run_bytes(name, b"--save", save)
    assert result.returncode == 0, result.stderr
    assert truth.encode() in result.stdout and b"\\xff" in result.stdout  # the name escaped, on one line
    saved = os.listdir(save)
    assert saved == [b"x-\xff.annotated.png"] and cv2.imdecode(np.fromfile(save + b"/" + saved[0], np.uint8), 1) is not None


def test_a_video_whose_name_is_not_utf8_is_read_and_saved(tmp_path, mnist_test):
    images, labels = mnist_test
    path = write_video(tmp_path, images, labels, np.random.default_rng(3), frames=6)
    name = os.fsencode(tmp_path) + b"/v-\xff.avi"
    os.rename(path, name)
    save = os.fsencode(tmp_path) + b"/saved-\xfe"
    result = _run_bytes(b"--video", name, b"--no-show", b"--save", save, b"--json")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 6
    [video] = os.listdir(save)
    assert video.endswith(b".annotated.avi") and os.path.getsize(save + b"/" + video) > 1000


def test_thin_tiny_and_huge_images_never_stop_a_folder(tmp_path, photo):
    image, truth = photo
    folder = tmp_path / "mixed"
    folder.mkdir()
    cv2.imwrite(str(folder / "a-strip.png"), np.full((1, 700), 255, np.uint8))
    cv2.imwrite(str(folder / "b-long.png"), np.full((10, 100_000), 255, np.uint8))
    cv2.imwrite(str(folder / "c-pixel.png"), np.zeros((1, 1), np.uint8))
    huge = np.zeros((10_050, 10_000), np.uint8)  # 100.5 megapixels: over the cap, refused from the header
    cv2.imwrite(str(folder / "d-huge.png"), huge)
    del huge
    with open(folder / "e-big.jpg", "wb") as handle:  # a 300 MiB file, sparse: refused before it is read
        handle.truncate(300 * 2**20)
    cv2.imwrite(str(folder / "z-photo.png"), image)
    result = run_cli("digits-edge", str(folder), "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    readings = [json.loads(line) for line in result.stdout.splitlines()]
    by_name = {Path(r["source"]).name: r for r in readings}
    assert by_name["a-strip.png"]["text"] == by_name["b-long.png"]["text"] == by_name["c-pixel.png"]["text"] == ""
    assert "megapixels" in by_name["d-huge.png"]["error"] and "MiB" in by_name["e-big.jpg"]["error"]
    assert by_name["z-photo.png"]["text"] == truth
    errors = result.stderr.splitlines()
    assert len(errors) == 2 and all(line.startswith("error: ") for line in errors)


def test_a_fifo_is_refused_not_waited_on(tmp_path, photo):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    cv2.imwrite(str(tmp_path / "photo.png"), photo[0])
    result = run_cli("digits-edge", str(fifo), str(tmp_path / "photo.png"), timeout=60)
    assert result.returncode == 1 and "not a regular file" in result.stderr and photo[1] in result.stdout


def test_a_truncated_png_is_one_line_without_libpng_noise(tmp_path, photo):
    data = cv2.imencode(".png", photo[0])[1].tobytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    result = run_cli("digits-edge", str(tmp_path / "cut.png"))
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "libpng" not in result.stderr, result.stderr


def test_a_newline_in_a_file_name_does_not_split_the_output_line(tmp_path, photo):
    path = tmp_path / "two\nlines.png"
    cv2.imwrite(str(tmp_path / "x.png"), photo[0])
    os.rename(tmp_path / "x.png", path)
    result = run_cli("digits-edge", str(path))
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 1 and "two\\nlines.png" in result.stdout


def test_gifs_are_images(tmp_path, photo):
    if not cv2.haveImageWriter(".gif"):
        pytest.skip(f"OpenCV {cv2.__version__} has no GIF codec (OpenCV 4.11 added it)")
    ok, data = cv2.imencode(".gif", photo[0])
    assert ok
    (tmp_path / "gifs").mkdir()
    (tmp_path / "gifs" / "photo.gif").write_bytes(data.tobytes())
    result = run_cli("digits-edge", str(tmp_path / "gifs"))
    assert result.returncode == 0 and photo[1] in result.stdout, result.stderr


def test_save_never_writes_one_file_twice(tmp_path, photo):
    for sub, name in (("a", "photo.jpg"), ("b", "photo.jpg"), ("a", "photo.png")):
        (tmp_path / sub).mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / sub / name), photo[0])
    result = run_cli("digits-edge", str(tmp_path / "a"), str(tmp_path / "b"), "--save", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "photo-2.annotated.png", "photo-3.annotated.png", "photo.annotated.png"]


def test_a_save_that_cannot_be_written_is_an_error_not_silence(tmp_path, photo):
    cv2.imwrite(str(tmp_path / "photo.png"), photo[0])
    out = tmp_path / "out"
    (out / "photo.annotated.png").mkdir(parents=True)  # a folder where the file must go (root ignores chmod)
    result = run_cli("digits-edge", str(tmp_path / "photo.png"), "--save", str(out))
    assert result.returncode == 1 and "--save" in result.stderr and "cannot write" in result.stderr, result.stderr
    assert photo[1] in result.stdout and (out / "photo.annotated.png").is_dir() and not _leftovers(out)


@pytest.mark.parametrize("value", ["nan", "inf", "-0.5"])
def test_min_confidence_must_be_a_real_number_in_range(value, tmp_path):
    assert_one_line_error(run_cli("digits-edge", "--min-confidence", value, "x.png"), contains="--min-confidence")


def test_a_truncated_video_ends_with_exit_1_and_says_so(tmp_path, mnist_test):
    images, labels = mnist_test
    path = write_video(tmp_path, images, labels, np.random.default_rng(4), frames=60)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    result = run_cli("digits-edge", "--video", str(path), "--no-show", "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "truncated" in result.stderr and 0 < len(result.stdout.splitlines()) < 60


def test_a_file_that_opens_as_a_video_but_gives_no_frame_is_an_error(tmp_path):
    """OpenCV's FFMPEG backend opens a text file named .png (as a one-picture sequence) and then gives
    no frame: that is a video that does not open, said in one line with exit 2 before any reading
    starts (it read "0 frames read" with exit 0 before)."""
    (tmp_path / "notes.png").write_text("not a picture, not a video")
    result = run_cli("digits-edge", "--video", str(tmp_path / "notes.png"), "--no-show")
    assert_one_line_error(result, 2, "no frame could be decoded")
    assert result.stdout == ""


@pytest.mark.slow
@pytest.mark.parametrize("signum, code, word", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "terminated")])
def test_a_stopped_video_keeps_a_playable_annotated_file_and_no_temporaries(tmp_path, mnist_test, signum, code, word):
    images, labels = mnist_test
    path = write_video(tmp_path, images, labels, np.random.default_rng(61), frames=400)
    out = tmp_path / "out"
    process = launch("digits-edge", "--video", str(path), "--no-show", "--save", str(out), "--json")
    for _ in range(3):  # three frames read: running, and the first ones written
        process.stdout.readline()
    _, stderr = stop(process, signum)
    assert process.returncode == code and "Traceback" not in stderr and f"stopped ({word})" in stderr, stderr
    [saved] = list(out.iterdir())
    capture = cv2.VideoCapture(str(saved))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames >= 1 and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == frames


def test_a_stale_display_is_not_a_display(tmp_path, mnist_test):
    assert not display_answers(":55", "")
    assert not display_answers("", "wayland-55")
    images, labels = mnist_test
    path = write_video(tmp_path, images, labels, np.random.default_rng(8), frames=3)
    env = {"DISPLAY": ":55"}
    assert_one_line_error(run_cli("digits-edge", "--video", str(path), "--show", env=env), contains="no display answers")
    result = run_cli("digits-edge", "--video", str(path), env=env)  # no --show: headless, not an abort
    assert result.returncode == 0 and "headless" in result.stderr, result.stderr
    doctor = run_cli("digits-edge", "--doctor", env=env)
    assert doctor.returncode == 0 and "display: no" in doctor.stdout


def _model_with(tmp_path: Path, name: str, *, classes: str | None = "[0,1,2,3,4,5,6,7,8,9]", fails: bool = False) -> Path:
    """A model that fits the contract's shapes; `classes` is its digits.classes metadata (None: absent);
    `fails`: it reshapes the 784 pixels into rows of 10, which onnxruntime refuses only when run."""
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 10])
    nodes = ([helper.make_node("Reshape", ["image", "shape"], ["logits"])] if fails else
             [helper.make_node("Flatten", ["image"], ["flat"]),
              helper.make_node("Slice", ["flat", "start", "end", "axis"], ["logits"])])
    initializers = [shape] if fails else [helper.make_tensor("start", TensorProto.INT64, [1], [0]),
                                          helper.make_tensor("end", TensorProto.INT64, [1], [10]),
                                          helper.make_tensor("axis", TensorProto.INT64, [1], [1])]
    nodes.append(helper.make_node("Softmax", ["logits"], [contract.PROBABILITIES_NAME], axis=1))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info(contract.PROBABILITIES_NAME, TensorProto.FLOAT, ["N", 10])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    metadata = {contract.META_CONTRACT: "1", contract.META_ARCHITECTURE: "test"}
    if classes is not None:
        metadata[contract.META_CLASSES] = classes
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    for key in contract.REQUIRED_METADATA:
        if key not in metadata and key != contract.META_CLASSES:
            model.metadata_props.add(key=key, value="x")
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("classes", ['"5"', "null", "[0,1]", "{}", "not json"])
def test_models_with_bad_class_metadata_are_one_line(tmp_path, photo, classes):
    cv2.imwrite(str(tmp_path / "photo.png"), photo[0])
    model = _model_with(tmp_path, "bad.onnx", classes=classes)
    assert_one_line_error(run_cli("digits-edge", "--model", str(model), str(tmp_path / "photo.png")), contains="bad.onnx")


def test_a_model_that_fails_when_run_is_one_line(tmp_path, photo):
    cv2.imwrite(str(tmp_path / "photo.png"), photo[0])
    model = _model_with(tmp_path, "fails.onnx", fails=True)
    assert_one_line_error(run_cli("digits-edge", "--model", str(model), str(tmp_path / "photo.png")),
                          contains="fails when run")


def test_a_checkpoint_given_as_model_says_to_export_it(tmp_path, photo):
    from conftest import REPO

    cv2.imwrite(str(tmp_path / "photo.png"), photo[0])
    result = run_cli("digits-edge", "--model", str(REPO / "artifacts" / "digits.pth"), str(tmp_path / "photo.png"))
    assert_one_line_error(result, contains="PyTorch checkpoint")
    assert "digits-export" in result.stderr


def test_doctor_with_inputs_is_a_usage_error_not_silence(photo, tmp_path):
    cv2.imwrite(str(tmp_path / "photo.png"), photo[0])
    assert_one_line_error(run_cli("digits-edge", "--doctor", str(tmp_path / "photo.png")), contains="--doctor")


def _pdf_with_jpeg(jpeg: bytes, width: int, height: int) -> bytes:
    """A one-page PDF holding `jpeg` as its page (what a scanner app saves)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] /Resources << /XObject << /Im0 4 0 R >> >> "
               f"/Contents 5 0 R >>".encode(),
               f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceRGB "
               f"/BitsPerComponent 8 /Filter /DCTDecode /Length {len(jpeg)} >>\nstream\n".encode() + jpeg + b"\nendstream",
               None]
    page = f"q {width} 0 0 {height} 0 0 cm /Im0 Do Q".encode()
    objects[4] = f"<< /Length {len(page)} >>\nstream\n".encode() + page + b"\nendstream"
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_a_video_a_pdf_or_an_iphone_photo_given_as_an_image_says_what_it_is(tmp_path, photo, mnist_test):
    """Files users hand an image reader by mistake are named, with what to do, on one line each; the
    images beside them are read."""
    images, labels = mnist_test
    video = write_video(tmp_path, images, labels, np.random.default_rng(1), frames=3)
    h, w = photo[0].shape[:2]
    (tmp_path / "scan.pdf").write_bytes(_pdf_with_jpeg(cv2.imencode(".jpg", photo[0])[1].tobytes(), w, h))
    folder = tmp_path / "phone"
    folder.mkdir()
    cv2.imwrite(str(folder / "IMG_0001.JPG"), photo[0])
    # The start of an iPhone's HEIC file (its "ftyp" box): no HEIF encoder exists here to make a whole one,
    # and OpenCV decodes neither.
    (folder / "IMG_0002.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    result = run_cli("digits-edge", str(video), str(tmp_path / "scan.pdf"), str(folder))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = result.stderr.splitlines()
    assert len(errors) == 3, errors
    assert "a video (AVI)" in errors[0] and "--video" in errors[0]
    assert "a PDF" in errors[1] and "PNG or JPEG" in errors[1]
    assert "IMG_0002.HEIC" in errors[2] and "HEIC" in errors[2] and "JPEG" in errors[2]
    assert f"IMG_0001.JPG: {photo[1]}" in result.stdout, result.stdout
