"""digits-edge: reading rendered photos of real MNIST digits, the CLI, video, faults, torch-freedom.

Runs in the torch-free install too: nothing here imports torch or digits.train/export."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from conftest import REPO, SAMPLES, SHIPPED_MODEL, STANDINS, assert_one_line_error, launch, run_cli, stop
from digits.edge import contract
from digits.edge.finder import FinderSettings, percentiles_u8
from digits.edge.live import Smoother, read_stream
from digits.edge.normalize import normalize_digit
from digits.edge.reader import DigitReader, reading_order
from digits.edge.session import DigitModel, default_model_path
from digits.edge.sources import FileFrames, LiveFrames, SourceError, open_capture
from digits.train.render import PhotoStyle, random_number, render_blank, render_number, write_video


@pytest.fixture(scope="module")
def reader() -> DigitReader:
    return DigitReader(DigitModel(SHIPPED_MODEL))


def test_shipped_model_is_the_default_and_fits_the_contract():
    onnx_model = DigitModel()
    assert onnx_model.path.resolve() == default_model_path().resolve()
    assert onnx_model.path.read_bytes() == SHIPPED_MODEL.read_bytes()
    assert float(onnx_model.metadata[contract.META_TEST_ACCURACY]) >= 0.995
    probabilities = onnx_model.probabilities(np.zeros((3, 1, 28, 28), np.float32))
    assert onnx_model.reject_index == contract.REJECT_INDEX  # the shipped model has the not-a-digit class
    assert probabilities.shape == (3, 11) and np.allclose(probabilities.sum(1), 1, atol=1e-5)


def test_normalisation_reproduces_mnist_layout(mnist_test):
    images, _ = mnist_test
    for image in images[:200]:
        again = normalize_digit(image)
        ys, xs = np.nonzero(again > 0.05)
        assert np.ptp(ys) <= 21 and np.ptp(xs) <= 21  # fits the 20x20 box (+1 px of anti-aliasing)
        mass = again.sum()
        cy, cx = (again.sum(1) * np.arange(28)).sum() / mass, (again.sum(0) * np.arange(28)).sum() / mass
        assert abs(cy - 13.5) < 0.6 and abs(cx - 13.5) < 0.6
    # MNIST digits are already normalised: doing it again changes them little.
    diff = np.mean([np.abs(normalize_digit(i) - i / 255.0).mean() for i in images[:200]])
    assert diff < 0.06
    assert not normalize_digit(np.zeros((40, 30), np.uint8)).any()


def test_finder_settings_are_what_the_reader_uses(mnist_test):
    """Every tuning number lives in FinderSettings, and a changed copy changes the reading."""
    images, labels = mnist_test
    rng = np.random.default_rng(41)
    digits, truth = random_number(images, labels, rng, (4, 5))
    photo = render_number(digits, rng)
    onnx_model = DigitModel(SHIPPED_MODEL)
    assert DigitReader(onnx_model).read(photo).text == truth
    # No digit is 90 % as tall as the picture: with that as the smallest digit, nothing is found.
    tall_only = DigitReader(onnx_model, settings=replace(FinderSettings(), min_height_frac=0.9)).read(photo)
    assert tall_only.text == "" and tall_only.rejected == []
    # Setting aside from P(not a digit) >= 0: every candidate is set aside, each with its reason.
    strict = DigitReader(onnx_model, settings=replace(FinderSettings(), not_a_digit=0.0)).read(photo)
    assert strict.text == "" and len(strict.rejected) == len(truth)


def test_mnist_digits_classify_through_the_shipped_model(mnist_test):
    images, labels = mnist_test
    onnx_model = DigitModel(SHIPPED_MODEL)
    predicted = onnx_model.probabilities(images[:2000, None].astype(np.float32) / 255).argmax(1)
    assert (predicted == labels[:2000]).mean() >= 0.99


def test_photographed_numbers_are_read_exactly(reader, mnist_test):
    images, labels = mnist_test
    rng = np.random.default_rng(7)
    right, misses = 0, []
    for i in range(60):
        digits, truth = random_number(images, labels, rng)
        reading = reader.read(render_number(digits, rng, invert=i % 4 == 3))
        right += reading.text == truth
        if reading.text != truth:
            misses.append((truth, reading.text))
    assert right >= 55, misses  # the benchmark measures the rate on more photos


def test_blank_pages_read_as_nothing(reader):
    rng = np.random.default_rng(3)
    for i in range(12):
        reading = reader.read(render_blank(rng, invert=i % 2 == 1))
        assert reading.text == "" and reading.digits == []


def test_light_ink_on_dark_reads_like_dark_on_light(reader, mnist_test):
    images, labels = mnist_test
    digits, truth = random_number(images, labels, np.random.default_rng(11), (4, 5))
    normal = reader.read(render_number(digits, np.random.default_rng(5)))
    inverted = reader.read(render_number(digits, np.random.default_rng(5), invert=True))
    assert normal.text == inverted.text == truth


def test_each_frame_is_one_model_call_with_boxes_in_reading_order(mnist_test, monkeypatch):
    images, labels = mnist_test
    onnx_model = DigitModel(SHIPPED_MODEL)
    calls = []
    original = onnx_model.session.run
    monkeypatch.setattr(onnx_model.session, "run", lambda *a, **k: calls.append(a[1][onnx_model.input_name].shape) or original(*a, **k))
    digits, truth = random_number(images, labels, np.random.default_rng(2), (5, 6))
    reading = DigitReader(onnx_model).read(render_number(digits, np.random.default_rng(2)))
    assert reading.text == truth and calls == [(5, 1, 28, 28)]
    xs = [d.box[0] for d in reading.digits]
    assert xs == sorted(xs)
    for d in reading.digits:
        assert d.image.shape == (28, 28) and 0 <= d.confidence <= 1 and len(d.box) == 4


def test_several_lines_read_top_to_bottom_left_to_right():
    boxes = [(300, 210, 40, 60), (10, 200, 40, 60), (20, 20, 40, 60), (200, 30, 40, 60), (100, 25, 40, 60)]
    assert reading_order(boxes) == [[2, 4, 3], [1, 0]]


def test_min_confidence_rejects_the_less_certain(mnist_test):
    images, labels = mnist_test
    digits, _ = random_number(images, labels, np.random.default_rng(4), (6, 7))
    photo = render_number(digits, np.random.default_rng(4), PhotoStyle(blur_sigma=(2.0, 2.2)))
    everything = DigitReader(DigitModel(SHIPPED_MODEL), min_confidence=0.0).read(photo)
    confidences = sorted(d.confidence for d in everything.digits)
    assert len(confidences) == 6 and confidences[0] < confidences[-1]
    threshold = (confidences[0] + confidences[-1]) / 2
    strict = DigitReader(DigitModel(SHIPPED_MODEL), min_confidence=threshold).read(photo)
    kept = [d for d in everything.digits if d.confidence >= threshold]
    assert strict.text == "".join(str(d.label) for d in kept)
    assert len(strict.rejected) == 6 - len(kept) > 0


def test_smoother_holds_the_majority():
    smoother = Smoother(5)
    shown = [smoother.update(t) for t in ["12", "12", "17", "12", "", "12", "17", "17", "17"]]
    assert shown[:6] == ["12"] * 6 and shown[-1] == "17"


@pytest.fixture(scope="module")
def video(tmp_path_factory, mnist_test) -> tuple[Path, str]:
    images, labels = mnist_test
    folder = tmp_path_factory.mktemp("video")
    path = write_video(folder, images, labels, np.random.default_rng(9), frames=20)
    return path, path.stem.split("-")[1]


def test_video_file_read_frame_by_frame(reader, video):
    path, truth = video
    lines = []
    frames = FileFrames(open_capture(str(path)))
    count = read_stream(frames, reader, source="v", emit=lines.append, as_json=True)
    assert count == 20 and frames.problem is None
    frames = [json.loads(line) for line in lines]
    assert [f["frame"] for f in frames] == list(range(20))
    assert sum(f["text"] == truth for f in frames) >= 18 and frames[-1]["stable"] == truth


def test_camera_path_with_a_recorded_source_reads_newest_frames_and_gives_up_on_a_stall(reader, video):
    """The camera's code path (newest-frame thread, stall detection, reopening) fed by a video file."""
    path, truth = video
    opens, log = [], []

    def open_camera():
        opens.append(time.monotonic())
        if len(opens) > 1:
            raise SourceError("camera 0: cannot open")  # the camera was unplugged
        return open_capture(str(path))

    lines = []
    frames = LiveFrames(open_camera, stall_s=0.5, retries=2, log=log.append)
    count = read_stream(frames, reader, source="camera 0", emit=lines.append, as_json=True)
    assert 1 <= count <= 20  # frames that arrive while one is being read are dropped, never queued
    assert json.loads(lines[-1])["stable"] == truth
    assert len(opens) == 3 and "gave up after 2 reopen attempts" in log[-1] and frames.problem == log[-1]


def test_cli_reads_files_folders_globs_as_json_and_saves_annotations(tmp_path, mnist_test):
    images, labels = mnist_test
    rng = np.random.default_rng(21)
    truths = {}
    for i in range(3):
        digits, truth = random_number(images, labels, rng, (3, 5))
        name = f"photo{i}.{'png' if i == 2 else 'jpg'}"
        cv2.imwrite(str(tmp_path / name), render_number(digits, rng))
        truths[name] = truth
    (tmp_path / "notes.txt").write_text("not an image")
    result = run_cli("digits-edge", str(tmp_path / "photo0.jpg"), str(tmp_path / "*.png"), str(tmp_path), "--json",
                     "--save", str(tmp_path / "annotated"))
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(o["source"]).name for o in objects] == ["photo0.jpg", "photo2.png", "photo0.jpg", "photo1.jpg", "photo2.png"]
    for o in objects:
        assert set(o) == {"source", "text", "digits", "rejected", "ms"} and o["text"] == truths[Path(o["source"]).name]
        assert all(set(d) == {"label", "confidence", "box"} and len(d["box"]) == 4 for d in o["digits"])
    annotated = cv2.imread(str(tmp_path / "annotated" / "photo1.annotated.png"))
    assert annotated is not None and annotated.shape == (480, 640, 3)


def test_unreadable_files_are_reported_and_the_rest_still_read(tmp_path):
    good = tmp_path / "good.jpg"
    good.write_bytes((SAMPLES / sorted(p.name for p in SAMPLES.glob("number-*.jpg"))[0]).read_bytes())
    (tmp_path / "corrupt.jpg").write_bytes(np.random.default_rng(0).bytes(2000))
    (tmp_path / "truncated.jpg").write_bytes(good.read_bytes()[:300])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    names = ["corrupt.jpg", "good.jpg", "truncated.jpg", "empty.png", "text.png", "missing.jpg"]
    result = run_cli("digits-edge", *[str(tmp_path / n) for n in names])
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 5 and all(line.startswith("error: ") for line in errors)
    expected = Path(good.name)
    assert result.stdout.count("good.jpg: ") == 1 and "(no digits)" not in result.stdout, (expected, result.stdout)


def test_models_that_do_not_fit_are_refused(tmp_path):
    stripped = onnx.load(str(SHIPPED_MODEL))
    del stripped.metadata_props[:]
    onnx.save(stripped, str(tmp_path / "plain.onnx"))
    assert_one_line_error(run_cli("digits-edge", "--model", str(tmp_path / "plain.onnx"), str(SAMPLES)), 2, "not a digits model")
    (tmp_path / "junk.onnx").write_bytes(b"\x00junk" * 50)
    assert_one_line_error(run_cli("digits-edge", "--model", str(tmp_path / "junk.onnx"), str(SAMPLES)), 2, "cannot load")
    wrong = onnx.load(str(SHIPPED_MODEL))
    for prop in wrong.metadata_props:
        if prop.key == contract.META_CLASSES:
            prop.value = json.dumps(list("abcdefghij"))
    onnx.save(wrong, str(tmp_path / "letters.onnx"))
    assert_one_line_error(run_cli("digits-edge", "--model", str(tmp_path / "letters.onnx"), str(SAMPLES)), 2, "not the digits 0-9")
    assert_one_line_error(run_cli("digits-edge", "--model", str(tmp_path / "none.onnx"), str(SAMPLES)), 2, "no such model")


def test_camera_that_does_not_open_fails_fast_with_exit_2():
    result = run_cli("digits-edge", "--camera", "7", "--no-show", timeout=60)
    assert_one_line_error(result, 2, "camera 7")


def test_video_cli_runs_headless_without_a_display(video, tmp_path):
    path, truth = video
    env = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}
    result = run_cli("digits-edge", "--video", str(path), "--max-frames", "5", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert "headless" in result.stderr
    frames = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(frames) == 5 and frames[-1]["stable"] == truth
    forced = run_cli("digits-edge", "--video", str(path), "--show", env=env)
    assert_one_line_error(forced, 2, "no display")
    assert_one_line_error(run_cli("digits-edge", "--video", str(tmp_path / "none.mp4")), 2, "no such video")
    (tmp_path / "fake.mp4").write_text("not a video")
    assert_one_line_error(run_cli("digits-edge", "--video", str(tmp_path / "fake.mp4")), 2, "cannot open")


def test_usage_errors():
    assert_one_line_error(run_cli("digits-edge"), 2, "exactly one")
    assert_one_line_error(run_cli("digits-edge", str(SAMPLES), "--camera", "0"), 2, "choose one")
    assert_one_line_error(run_cli("digits-edge", str(SAMPLES), "--min-confidence", "2"), 2, "--min-confidence")


def test_doctor_describes_the_device():
    result = run_cli("digits-edge", "--doctor", env={"DISPLAY": ""}, timeout=120)
    assert result.returncode == 0, result.stderr
    for word in ("onnxruntime", "CPUExecutionProvider", "OpenCV", "display: no", "cameras:", "default model:"):
        assert word in result.stdout, word


def test_shipped_samples_read_as_their_names_say():
    result = run_cli("digits-edge", str(SAMPLES), "--json")
    assert result.returncode == 0, result.stderr
    for o in map(json.loads, result.stdout.splitlines()):
        name = Path(o["source"]).stem
        expected = "" if name.startswith("blank") else name.split("-")[1]
        assert o["text"] == expected, (name, o["text"])


EDGE_ALLOWED = {"numpy", "cv2", "onnxruntime", "click", "picamera2"}  # picamera2: only on a Pi, from apt


def test_edge_imports_only_numpy_cv2_onnxruntime_click_and_stdlib():
    for path in (REPO / "edge").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in EDGE_ALLOWED or top in sys.stdlib_module_names or name.startswith("digits.edge"), (path.name, name)


BLOCK_TORCH = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'torchvision', 'onnx', 'onnxscript'} or name.startswith(('digits.train', 'digits.export')):
            raise ImportError(f'{name} is blocked: the edge must not need it')
sys.meta_path.insert(0, NoTorch())
from digits.edge.cli import main
try:
    main(sys.argv[1:])
finally:
    assert not any(m.split('.')[0] == 'torch' for m in sys.modules)
"""


def test_edge_cli_runs_end_to_end_where_torch_cannot_be_imported(video):
    result = subprocess.run([sys.executable, "-c", BLOCK_TORCH, str(SAMPLES), "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(list(SAMPLES.glob("*.jpg")))
    blocked = subprocess.run([sys.executable, "-c", "import sys\n" + BLOCK_TORCH.split("from digits")[0] + "import torch"],
                             capture_output=True, text=True)
    assert blocked.returncode != 0 and "blocked" in blocked.stderr  # the guard itself works
    path, truth = video
    result = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "--video", str(path), "--max-frames", "3", "--json", "--no-show"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and json.loads(result.stdout.splitlines()[-1])["text"] == truth


# OpenCV 4's Hershey "1" is a bare bar (OpenCV 5 draws it with a flag): at width 5 the model gives
# it 0.44 and it is set aside. Measured with opencv-python 4.8 (the oldest our ranges admit).
@pytest.mark.parametrize("thickness", [2, 5, 14])  # (OpenCV 4's '1' at width 5, a bare bar: 0.64 of the ten digits)
def test_pen_width_does_not_matter(reader, thickness):
    """A number drawn with OpenCV's Hershey font, thin to very bold strokes, large on the page."""
    page = np.full((480, 640, 3), 225, np.uint8)
    cv2.putText(page, "40719", (30, 300), cv2.FONT_HERSHEY_SIMPLEX, 4.5, (50, 40, 40), thickness, cv2.LINE_AA)
    assert reader.read(page).text == "40719"


def test_sheet_on_a_desk_reads_the_digits_not_the_paper_edges(reader, mnist_test):
    from digits.train.render import on_desk

    images, labels = mnist_test
    rng = np.random.default_rng(31)
    right = 0
    for _ in range(10):
        digits, truth = random_number(images, labels, rng, (3, 5))
        right += reader.read(on_desk(render_number(digits, rng), rng)).text == truth
    assert right >= 9


def test_tightly_cropped_single_digit_photos(reader, mnist_test):
    """A phone photo cropped to one digit: the ink nearly reaches the picture's edges."""
    images, labels = mnist_test
    rng = np.random.default_rng(41)
    right = 0
    for i in range(20):
        page = render_number([images[i]], rng, PhotoStyle(digit_height=(150, 151), rotation_deg=0, perspective=0))
        ys, xs = np.nonzero(to_ink(page))
        margin = 6  # pixels around a 150-pixel digit: the strokes' soft edges reach the picture's edge
        crop = page[max(ys.min() - margin, 0) : ys.max() + margin + 1, max(xs.min() - margin, 0) : xs.max() + margin + 1]
        right += reader.read(crop).text == str(labels[i])
    assert right >= 19


def to_ink(page: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)
    return grey < np.median(grey) - 60


def test_grey_and_transparent_pngs_read_like_colour(reader, mnist_test, tmp_path):
    images, labels = mnist_test
    digits, truth = random_number(images, labels, np.random.default_rng(51), (3, 5))
    photo = render_number(digits, np.random.default_rng(51))
    cv2.imwrite(str(tmp_path / "grey.png"), cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(tmp_path / "alpha.png"), cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(tmp_path / "deep.png"), cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257)
    result = run_cli("digits-edge", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == [truth] * 3


@pytest.mark.slow
def test_ctrl_c_stops_a_video_with_exit_130(mnist_test, tmp_path):
    import signal

    images, labels = mnist_test
    path = write_video(tmp_path, images, labels, np.random.default_rng(61), frames=400)
    process = launch("digits-edge", "--video", str(path), "--no-show")
    process.stdout.readline()  # the first reading: it is running
    _, stderr = stop(process, signal.SIGINT)
    assert process.returncode == 130 and "Traceback" not in stderr
    assert "stopped (Ctrl-C)" in stderr


def test_two_lines_read_top_line_first(reader, mnist_test):
    images, labels = mnist_test
    rng = np.random.default_rng(3)
    style = PhotoStyle(size=(640, 240), digit_height=(60, 90))
    right = 0
    for _ in range(10):
        (top, first), (bottom, second) = random_number(images, labels, rng, (3, 5)), random_number(images, labels, rng, (3, 5))
        sheet = np.vstack([render_number(top, rng, style), render_number(bottom, rng, style)])
        right += reader.read(sheet).text == f"{first} {second}"
    assert right >= 9


def test_boxes_lie_inside_the_picture_and_around_the_digits(reader, mnist_test):
    images, labels = mnist_test
    page = render_number([images[3]], np.random.default_rng(71), PhotoStyle(digit_height=(150, 151), rotation_deg=0, perspective=0))
    ys, xs = np.nonzero(to_ink(page))
    crop = page[ys.min() - 6 : ys.max() + 7, xs.min() - 6 : xs.max() + 7]
    (digit,) = reader.read(crop).digits  # a close-up: found in the padded search
    x, y, w, h = digit.box
    assert 0 <= x and 0 <= y and x + w <= crop.shape[1] and y + h <= crop.shape[0]
    assert w > 0.7 * (crop.shape[1] - 12) and h > 0.7 * (crop.shape[0] - 12)


def test_debug_writes_one_sheet_per_picture_and_the_trace_names_the_chosen_view(reader, mnist_test, tmp_path):
    images, labels = mnist_test
    rng = np.random.default_rng(77)
    digits, truth = random_number(images, labels, rng, (3, 5))
    photo = render_number(digits, rng)
    trace: list[dict] = []
    reading = reader.read(photo, trace=trace)
    assert reading.text == truth and [e["chosen"] for e in trace].count(True) == 1
    chosen = next(e for e in trace if e["chosen"])
    assert chosen["reading"].text == truth and {"grey", "ink", "mask"} <= set(chosen["stages"])
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    cv2.imwrite(str(tmp_path / "blank.png"), render_blank(rng))
    result = run_cli("digits-edge", str(tmp_path / "photo.png"), str(tmp_path / "blank.png"), "--debug", str(tmp_path / "debug"))
    assert result.returncode == 0, result.stderr
    sheets = {p.name: cv2.imread(str(p)) for p in (tmp_path / "debug").iterdir()}
    assert set(sheets) == {"photo.debug.png", "blank.debug.png"}
    # A header, one row of four panels per way of looking, and the model's inputs.
    assert all(s is not None and s.shape[0] > 220 and s.shape[1] >= 600 for s in sheets.values())
    assert_one_line_error(run_cli("digits-edge", "--camera", "0", "--debug", str(tmp_path / "d")), 2, "--debug")


NO_TRAIN_EXTRA = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'torchvision', 'onnx'}:
            raise ImportError(f'{name} is not installed here')
sys.meta_path.insert(0, NoTorch())
from digits.train import launch
launch.COMMAND()
"""


@pytest.mark.parametrize("command", ["train", "export"])
def test_train_and_export_in_the_base_install_name_the_extra(command):
    """In the base install (no torch: a Pi) the two commands exist; they say what to install."""
    code = NO_TRAIN_EXTRA.replace("COMMAND", command)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "pip install 'digits-toolkit[train]'" in result.stderr


def test_an_image_from_stdin_and_from_a_url_reads_as_the_file(tmp_path, mnist_test):
    import functools
    import http.server
    import threading

    images, labels = mnist_test
    rng = np.random.default_rng(21)
    digits, truth = random_number(images, labels, rng, (3, 5))
    cv2.imwrite(str(tmp_path / "note.jpg"), render_number(digits, rng))
    piped = subprocess.run([str(Path(sys.executable).parent / "digits-edge"), "--json", "--save", str(tmp_path / "out"), "-"],
                           input=(tmp_path / "note.jpg").read_bytes(), capture_output=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["text"] == truth and (tmp_path / "out" / "stdin.annotated.png").is_file()

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        fetched = run_cli("digits-edge", "--json", "--save", str(tmp_path / "out"), f"{base}/note.jpg?size=big",
                          f"{base}/missing.jpg")
    finally:
        server.shutdown()
    assert fetched.returncode == 1  # one of the two could not be read
    lines = [json.loads(line) for line in fetched.stdout.splitlines()]
    assert lines[0]["text"] == truth and (tmp_path / "out" / "note.annotated.png").is_file()
    assert "HTTP 404" in lines[1]["error"] and fetched.stderr.count("\n") == 1


def test_save_crops_writes_each_digit_under_its_label(tmp_path, mnist_test):
    images, labels = mnist_test
    rng = np.random.default_rng(8)
    truths = []
    for name in ("a", "b"):
        digits, truth = random_number(images, labels, rng, (3, 5))
        cv2.imwrite(str(tmp_path / f"{name}.png"), render_number(digits, rng))
        truths.append(truth)
    result = run_cli("digits-edge", "--save-crops", str(tmp_path / "crops"), str(tmp_path / "a.png"), str(tmp_path / "b.png"))
    assert result.returncode == 0, result.stderr
    crops = sorted((tmp_path / "crops").glob("[0-9]/*.png"))
    assert sorted(p.parent.name for p in crops) == sorted("".join(truths))
    assert sorted(p.name for p in crops if p.stem.startswith("a-")) == [f"a-{n}.png" for n in range(1, len(truths[0]) + 1)]
    inputs = sorted((tmp_path / "crops" / "28x28").glob("*/*.png"))
    assert len(inputs) == len(crops) and all(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).shape == (28, 28) for p in inputs)
    # each crop alone reads as its label: the material for an ImageFolder of one's own digits
    again = [json.loads(line) for line in run_cli("digits-edge", "--json", str(tmp_path / "crops" / "[0-9]" / "*.png")).stdout.splitlines()]
    assert sum(r["text"] == Path(r["source"]).parent.name for r in again) >= len(crops) - 1


def test_vid_stride_reads_every_nth_frame_and_numbers_them_as_the_file_does():
    video = str(SAMPLES / "video-2159.avi")
    every = [json.loads(line) for line in run_cli("digits-edge", "--json", "--video", video).stdout.splitlines()]
    result = run_cli("digits-edge", "--json", "--vid-stride", "7", "--video", video)
    assert result.returncode == 0, result.stderr
    strided = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["frame"] for r in strided] == list(range(0, len(every), 7))
    assert [r["text"] for r in strided] == [every[r["frame"]]["text"] for r in strided]
    assert_one_line_error(run_cli("digits-edge", "--camera", "0", "--vid-stride", "2"), contains="--vid-stride")


def test_a_video_file_is_shown_at_its_own_pace_and_pause_is_visible():
    from digits.edge.live import paused_frame

    capture = cv2.VideoCapture(str(SAMPLES / "video-2159.avi"))
    fps = capture.get(cv2.CAP_PROP_FPS)
    assert fps > 0
    assert FileFrames(capture, stride=3).frame_ms == pytest.approx(3000 / fps)
    frame = cv2.imread(str(SAMPLES / "number-2541.jpg"))
    paused = paused_frame(frame)
    assert paused.shape == frame.shape and paused.mean() < frame.mean()
    assert (paused == 255).all(axis=2).sum() > 200  # the word drawn in white across it


def test_nothing_read_is_said_in_one_word_everywhere(tmp_path):
    blank = cv2.imread(str(SAMPLES / "blank-page.jpg"))
    video = tmp_path / "blank.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (blank.shape[1], blank.shape[0]))
    for _ in range(3):
        writer.write(blank)
    writer.release()
    from digits.edge.reader import NOTHING_READ

    assert f": {NOTHING_READ}" in run_cli("digits-edge", str(SAMPLES / "blank-page.jpg")).stdout
    assert f"frame 0: {NOTHING_READ}" in run_cli("digits-edge", "--video", str(video)).stdout


def test_debug_captions_are_wrapped_to_their_panel_not_cut():
    from digits.edge.debug import _caption, _wrap

    text = "dark ink, finer (640 px): not chosen: '13124579613 287836761' score 29.67"
    lines = _wrap(text, 150)  # a portrait photo's panel: ~165 px wide
    assert len(lines) > 1 and " ".join(lines) == text  # every word kept, none cut
    assert all(cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)[0][0] <= 150 for line in lines)
    panel = np.zeros((220, 158, 3), np.uint8)
    assert _caption(panel, text, lines=len(lines) + 1).shape[0] == _caption(panel, "short", lines=len(lines) + 1).shape[0]


def test_labels_of_close_digits_do_not_overlap():
    from digits.edge.annotate import place_labels

    boxes = [(100 + 12 * i, 200, 10, 40) for i in range(5)]  # digits written close together
    texts = ["7 100%"] * 5
    origins = place_labels(boxes, texts, 0.8)
    (tw, th), base = cv2.getTextSize(texts[0], cv2.FONT_HERSHEY_SIMPLEX, 0.8, 2)
    rects = [(x, y - th - base, x + tw + 4, y + 2) for x, y in origins]
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    assert origins[0] == (100, 196)  # a lone first label stays right above its box


def test_the_label_of_a_digit_filling_the_picture_is_drawn_inside_it():
    from digits.edge.annotate import place_labels

    # a close-up (a 16x16 scan enlarged): the box is the whole picture, the banner and an inset taken
    taken = [(8, 2, 124, 19), (0, 175, 36, 208)]
    place_labels([(26, 0, 156, 208)], ["7 75%"], 0.4, taken=taken, avoid=[(26, 0, 156, 208)], size=(208, 208))
    x0, y0, x1, y1 = taken[-1]
    assert 0 <= x0 and x1 <= 208 and 0 <= y0 and y1 <= 208  # (it was drawn below the picture, unseen)
    assert not any(x0 < r[2] and r[0] < x1 and y0 < r[3] and r[1] < y1 for r in taken[:-1])


def test_labels_of_marks_set_aside_go_below_them_and_cover_no_other_label():
    from digits.edge.annotate import place_labels

    digit_boxes = [(100, 200, 10, 40), (130, 200, 10, 40)]
    aside_boxes = [(150 + 14 * i, 200, 12, 40) for i in range(5)]  # a word's letters set aside, close together
    taken: list = []
    place_labels(digit_boxes, ["7 100%"] * 2, 0.8, taken=taken)
    origins = place_labels(aside_boxes, ["letter (1?)"] * 5, 0.4, taken=taken, below=True)
    assert len(taken) == 7
    for i, a in enumerate(taken):
        for b in taken[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    assert origins[0][1] > 240  # under its mark


def test_a_label_placed_away_from_its_box_is_joined_to_it_by_a_line():
    """Marks set aside close together (a word's letters) get their labels stacked below one another,
    the later ones far under their own marks: a thin dark line runs from each such label to its box,
    so it is plain whose label it is (a label touching its box gets none)."""
    from digits.edge.annotate import DARK_GREY, _label_rect, annotate, leader, place_labels
    from digits.edge.reader import REASON_NOT_A_DIGIT, Reading, Rejected

    assert leader((100, 80, 160, 96), (100, 100, 20, 40)) is None  # just above its box
    start, end = leader((100, 200, 160, 216), (100, 100, 20, 40))  # stacked 60 px under it
    assert start == (110, 200) and end == (110, 140)
    picture = np.full((480, 640, 3), 235, np.uint8)
    blank = np.zeros((28, 28), np.float32)
    asides = [Rejected(None, 0.99, (250 + 14 * i, 250, 12, 40), REASON_NOT_A_DIGIT, blank) for i in range(5)]
    out = annotate(picture, Reading("", [], 3.0, asides))
    # where annotate puts their labels (the banner, at the top, is far from them)
    scale = max(0.5, 480 / 700) * 0.5
    captions = [a.caption() for a in asides]
    origins = place_labels([a.box for a in asides], captions, scale, below=True, size=(640, 480))
    far = [(a, _label_rect(c, o, scale)) for a, c, o in zip(asides, captions, origins) if leader(_label_rect(c, o, scale), a.box)]
    assert far, "the test's marks should push some labels away"
    for aside, rect in far:
        (x0, y0), (x1, y1) = leader(rect, aside.box)
        middle = out[(y0 + y1) // 2, min(x0, x1) - 1 : max(x0, x1) + 2]
        assert np.any(np.all(np.abs(middle.astype(int) - DARK_GREY) <= 40, axis=-1)), (aside.box, rect)


def test_labels_of_a_column_of_digits_cover_no_digit_and_stay_by_their_own():
    from digits.edge.annotate import place_labels

    # one digit per line, the lines closer than a label is tall (a list of numbers, a column of sums)
    boxes = [(100, 60 + 50 * i, 30, 42) for i in range(8)]
    texts = [f"{i} 100%" for i in range(8)]
    taken: list = []
    origins = place_labels(boxes, texts, 0.8, taken=taken, avoid=boxes, size=(640, 480))

    def gap(rect, box):  # between a label and a box, 0 where they touch
        x, y, w, h = box
        return max(rect[0] - (x + w), x - rect[2], 0) + max(rect[1] - (y + h), y - rect[3], 0)

    for own, rect in zip(boxes, taken):
        assert not any(rect[0] < x + w and x < rect[2] and rect[1] < y + h and y < rect[3] for x, y, w, h in boxes)
        assert all(gap(rect, own) < gap(rect, other) for other in boxes if other != own)  # by its own digit
        assert 0 <= rect[0] and rect[2] <= 640 and rect[3] <= 480
    assert len(set(origins)) == len(origins)


BLOCK_ONNXRUNTIME = """
import sys
class NoOnnxruntime:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'onnxruntime':
            raise ImportError(f'{name} is blocked: as on 32-bit Raspberry Pi OS, it is not installed')
sys.meta_path.insert(0, NoOnnxruntime())
from digits.edge.cli import main
main(sys.argv[1:])
"""


def test_the_opencv_backend_gives_the_answers_onnxruntime_gives(mnist_test):
    images, labels = mnist_test
    x = images[:2000, None].astype(np.float32) / 255
    ort_model, cv_model = DigitModel(SHIPPED_MODEL, backend="onnxruntime"), DigitModel(SHIPPED_MODEL, backend="opencv")
    assert (ort_model.backend, cv_model.backend) == ("onnxruntime", "opencv")
    assert cv_model.metadata == ort_model.metadata and cv_model.reject_index == ort_model.reject_index
    for batch in (1, 7, 2000):
        ort_probs, ort_logits = ort_model.run(x[:batch])
        cv_probs, cv_logits = cv_model.run(x[:batch])
        assert cv_probs.shape == ort_probs.shape and (cv_probs.argmax(1) == ort_probs.argmax(1)).all()
        assert np.abs(cv_probs - ort_probs).max() <= 1e-5 and np.abs(cv_logits - ort_logits).max() <= 1e-4
    # The whole reader, too: same numbers, same boxes.
    rng = np.random.default_rng(12)
    for _ in range(5):
        digits, truth = random_number(images, labels, rng)
        photo = render_number(digits, rng)
        a, b = DigitReader(ort_model).read(photo), DigitReader(cv_model).read(photo)
        assert a.text == b.text == truth and [d.box for d in a.digits] == [d.box for d in b.digits]


def test_without_onnxruntime_auto_falls_back_to_opencv_and_says_so(tmp_path):
    normal = run_cli("digits-edge", str(SAMPLES), "--json")
    fallback = subprocess.run([sys.executable, "-c", BLOCK_ONNXRUNTIME, str(SAMPLES), "--json"], capture_output=True,
                              text=True, timeout=120)
    assert fallback.returncode == 0, fallback.stderr
    assert "onnxruntime is not installed" in fallback.stderr and "--backend opencv" in fallback.stderr
    texts = lambda out: [(r["source"], r["text"]) for r in map(json.loads, out.splitlines())]  # noqa: E731
    assert texts(fallback.stdout) == texts(normal.stdout) and len(texts(normal.stdout)) >= 5
    forced = subprocess.run([sys.executable, "-c", BLOCK_ONNXRUNTIME, str(SAMPLES), "--backend", "onnxruntime"],
                            capture_output=True, text=True, timeout=120)
    assert_one_line_error(forced, 2, "onnxruntime is not installed")
    doctor = subprocess.run([sys.executable, "-c", BLOCK_ONNXRUNTIME, "--doctor"], capture_output=True, text=True, timeout=120)
    assert doctor.returncode == 0 and "onnxruntime: not installed" in doctor.stdout and "runs in opencv" in doctor.stdout
    # A file that is not ONNX is one line in either backend.
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08" + bytes(300))
    assert_one_line_error(run_cli("digits-edge", "--backend", "opencv", "--model", str(junk), str(SAMPLES)), 2, "cannot load")





def test_a_pi_camera_is_read_through_picamera2_like_a_webcam(video):
    """--camera N on a Pi goes through Picamera2 (here its stand-in serving a recorded video): the
    same newest-frame reader, smoothing and JSON as a webcam, and the start line names the backend."""
    path, truth = video
    env = {"PYTHONPATH": str(STANDINS), "DIGITS_STANDIN_VIDEO": str(path)}
    result = run_cli("digits-edge", "--camera", "0", "--max-frames", "8", "--json", "--no-show", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "camera 0 through Picamera2 (libcamera)" in result.stderr
    readings = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(readings) == 8 and readings[-1]["stable"] == truth
    # A camera that stops delivering is reopened, through Picamera2 again, as a webcam would be.
    env["DIGITS_STANDIN_FAIL_AFTER"] = "3"
    result = run_cli("digits-edge", "--camera", "0", "--max-frames", "5", "--json", "--no-show", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "reopening the source (attempt 1/2)" in result.stderr and len(result.stdout.splitlines()) == 5
    # No such camera: Picamera2 sees one, so camera 1 is tried as a webcam and is not there.
    result = run_cli("digits-edge", "--camera", "1", "--max-frames", "1", "--no-show", env=env, timeout=60)
    assert_one_line_error(result, 2, "camera 1")
    doctor = run_cli("digits-edge", "--doctor", env=env, timeout=120)
    assert "Picamera2: installed, cameras 0 (stand-in (recorded frames))" in doctor.stdout


@pytest.mark.parametrize("shape", [(1,), (37,), (4096,), (4097,), (240, 320)])
def test_percentiles_from_histograms_are_numpys_lower_percentiles(shape):
    """The finder's fast percentiles (numpy's histogram for a few values, OpenCV's for a picture)
    are np.percentile's with method="lower", at either size."""
    rng = np.random.default_rng(len(shape) * 1000 + shape[-1])
    for _ in range(10):
        values = (rng.random(shape) ** 3 * 255).astype(np.uint8)
        for q in (0, 5, 50, 75, 99.9, 100):
            assert percentiles_u8(values, (q,))[0] == np.percentile(values, q, method="lower")


def test_a_long_reading_on_a_narrow_picture_is_drawn_whole():
    """The banner of a sheet photographed upright (33 digits on a 692-px-wide picture) is drawn
    smaller so that it ends inside the picture: its white box leaves the right edge untouched."""
    from digits.edge.annotate import annotate
    from digits.edge.reader import Reading

    picture = np.zeros((922, 692, 3), np.uint8)
    out = annotate(picture, Reading("13124579613 287836761 516 13582737", [], 61.0))
    banner_rows = out[: out.shape[0] // 10]
    assert (banner_rows == 255).all(axis=2).any()  # the banner is there
    assert not (banner_rows[:, -1] == 255).all(axis=1).any()  # and stops short of the right edge


def test_no_label_is_hidden_under_the_banner():
    """Digits at the top of a small picture: their labels would go above them, where the banner is
    drawn over them. Each goes where it is seen (below, or stacked lower): all three labels show
    their full green, as much as three labels drawn alone at the smallest label size."""
    from digits.edge.annotate import GREEN, _label, annotate
    from digits.edge.reader import Digit, Reading

    picture = np.zeros((150, 200, 3), np.uint8)
    digits = [Digit(1, 1.0, (19 + 36 * k, 9, 10, 24), np.zeros((28, 28), np.float32)) for k in range(3)]
    out = annotate(picture, Reading("111", digits, 14.5))
    alone = np.zeros_like(picture)
    _label(alone, "1 100%", (50, 50), 0.4, GREEN)
    label_green = np.all(alone == GREEN, axis=2).sum()
    assert np.all(out == GREEN, axis=2).sum() >= 3 * label_green


def test_help_names_every_reason_a_candidate_is_set_aside():
    """--json's "rejected" entries carry a reason; --help says what each one means, all of them (the
    finder's `small` and `line` marks were missing)."""
    from digits.edge import finder, reader

    reasons = [v for k, v in vars(reader).items() if k.startswith("REASON_")]
    reasons += [v for k, v in vars(finder).items() if k.startswith("MARK_")]
    assert len(reasons) >= 9
    text = " ".join(run_cli("digits-edge", "--help").stdout.split()).replace("- ", "-")  # (click wraps at hyphens)
    for reason in reasons:
        assert f"{reason} (" in text or f"{reason}," in text or f"{reason} or" in text, reason
