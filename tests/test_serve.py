"""--serve: the browser view of a live camera, through the real CLI, a real HTTP server, real HTTP
clients and (when installed) a real headless Chromium. The camera is the stand-in Picamera2
serving our own recorded video (artifacts/samples/video-2159.avi) through the camera's code path."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import cv2
import numpy as np
import pytest

from conftest import SAMPLES, STANDINS, assert_one_line_error, launch, run_cli, stop

VIDEO = SAMPLES / "video-2159.avi"
TRUTH = "2159"
CAMERA_ENV = {"PYTHONPATH": str(STANDINS), "DIGITS_STANDIN_VIDEO": str(VIDEO)}


def serve_camera(*extra: str) -> tuple[subprocess.Popen, str, int]:
    """digits-edge --camera 0 --serve 0 (any free port) in the background; (process, host, port)."""
    process = launch("digits-edge", "--camera", "0", "--no-show", "--serve", "0", *extra, env=CAMERA_ENV)
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        found = re.search(r"browser view: http://([^/]+):(\d+)/", line)
        if found:
            return process, found.group(1), int(found.group(2))
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"no browser view line; last stderr line {line!r}")


def get(host: str, port: int, path: str, method: str = "GET", timeout: float = 30) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def reading(host: str, port: int, want: str | None = None, timeout: float = 60) -> dict:
    """/reading.json, polled until it has a frame (and, with `want`, until that number is stable)."""
    deadline = time.monotonic() + timeout
    while True:
        status, headers, body = get(host, port, "/reading.json")
        assert status == 200 and headers["Content-Type"] == "application/json"
        data = json.loads(body)
        if "frame" in data and (want is None or data["stable"] == want):
            return data
        assert time.monotonic() < deadline, data
        time.sleep(0.1)


def mjpeg_pictures(host: str, port: int, count: int, pause_s: float = 0.0) -> list[np.ndarray]:
    """Read `count` pictures from /stream.mjpg as a viewer would, pausing `pause_s` after each."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request("GET", "/stream.mjpg")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=frame"
        pictures = []
        while len(pictures) < count:
            assert response.readline() == b"--frame\r\n"
            headers = {}
            while (line := response.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            assert headers["content-type"] == "image/jpeg"
            data = response.read(int(headers["content-length"]))
            assert response.read(2) == b"\r\n"
            pictures.append(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
            time.sleep(pause_s)
        return pictures
    finally:
        connection.close()


@pytest.mark.slow
def test_serve_shows_the_annotated_live_picture_and_the_reading_to_several_viewers():
    process, host, port = serve_camera()
    try:
        assert host == "127.0.0.1"  # this machine only, unless a host is given
        status, headers, page = get(host, port, "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b'src="stream.mjpg"' in page and b"reading.json" in page
        first = reading(host, port, want=TRUTH)
        assert [d["label"] for d in first["digits"]] == [int(c) for c in TRUTH] and first["source"] == "camera 0"

        status, headers, body = get(host, port, "/snapshot.jpg")
        snapshot = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert status == 200 and snapshot.shape == (480, 640, 3)
        # The picture is annotated: the boxes of the digits read are drawn in green.
        green = (snapshot[..., 1] > 170) & (snapshot[..., 0] < 110) & (snapshot[..., 2] < 110)
        assert green.sum() > 500

        # Three viewers at once, one of them slow (a picture a second): all get whole pictures, and
        # while the slow one dawdles, the reader goes on (its frame number keeps rising).
        results: dict[str, list] = {}
        viewers = [threading.Thread(target=lambda n=n, p=p: results.__setitem__(n, mjpeg_pictures(host, port, 4, p)))
                   for n, p in (("a", 0.0), ("b", 0.0), ("slow", 1.0))]
        for viewer in viewers:
            viewer.start()
        time.sleep(1.5)
        during = reading(host, port)
        for viewer in viewers:
            viewer.join(timeout=60)
        after = reading(host, port)
        assert sorted(results) == ["a", "b", "slow"]
        assert all(len(p) == 4 and all(x is not None and x.shape == (480, 640, 3) for x in p) for p in results.values())
        assert after["frame"] > during["frame"] > first["frame"]
        assert after["stable"] == TRUTH

        # Read-only: nothing but GET and HEAD.
        for method in ("POST", "PUT", "DELETE"):
            status, headers, _ = get(host, port, "/", method)
            assert status == 405 and headers["Allow"] == "GET, HEAD"
        assert get(host, port, "/../../etc/passwd")[0] == 404
        assert get(host, port, "/", "HEAD")[2] == b""
    finally:
        out, err = stop(process, signal.SIGTERM)
    assert process.returncode == 143, err
    assert "Traceback" not in err


def test_serve_listens_on_the_loopback_only_by_default():
    """Another address of this machine is refused unless --serve names a host."""
    process, host, port = serve_camera()
    try:
        reading(host, port)
        outside = [a for a in own_addresses() if not a.startswith("127.")]
        for address in outside:
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=5).close()
    finally:
        stop(process, signal.SIGTERM)
    if not outside:
        pytest.skip("this machine has no address but the loopback to try")


def own_addresses() -> set[str]:
    """This machine's IPv4 addresses: its name's, and the one its default route leaves from."""
    try:
        found = {i[4][0] for i in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    except OSError:  # a name nothing resolves (a chroot without /etc/hosts)
        found = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # a UDP connect sends nothing; it only picks the route
            found.add(probe.getsockname()[0])
        except OSError:
            pass
    return found


def test_serve_errors_are_one_line():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        result = run_cli("digits-edge", "--camera", "0", "--no-show", "--serve", str(port), env=CAMERA_ENV, timeout=120)
        assert_one_line_error(result, 2, f"--serve 127.0.0.1:{port}: cannot listen there")
    finally:
        taken.close()
    for bad in ("abc", "localhost:99999", "1.2.3.4:"):
        result = run_cli("digits-edge", "--camera", "0", "--serve", bad, env=CAMERA_ENV, timeout=120)
        assert_one_line_error(result, 2, "--serve")
    assert_one_line_error(run_cli("digits-edge", "--serve", "8080", str(SAMPLES)), 2, "--serve is for --camera and --video")
    # An address that is not this machine's.
    result = run_cli("digits-edge", "--camera", "0", "--no-show", "--serve", "192.0.2.1:0", env=CAMERA_ENV, timeout=120)
    assert_one_line_error(result, 2, "cannot listen there")


def test_serve_plays_a_video_file_at_its_own_pace():
    """--video with --serve: the file is read at its frame rate (a viewer sees it play), to the end."""
    capture = cv2.VideoCapture(str(VIDEO))
    frames, fps = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    result = run_cli("digits-edge", "--video", str(VIDEO), "--no-show", "--serve", "0", "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    readings = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(readings) == frames and readings[-1]["stable"] == TRUTH
    assert "browser view: http://127.0.0.1:" in result.stderr and fps > 0


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (apt install chromium)")
def test_a_headless_chromium_shows_the_picture_and_the_number(tmp_path):
    process, host, port = serve_camera()
    try:
        reading(host, port, want=TRUTH)
        url = f"http://{host}:{port}/"
        browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   f"--user-data-dir={tmp_path / 'profile'}"]
        shot = tmp_path / "page.png"
        subprocess.run([*browser, "--window-size=800,760", "--timeout=5000", f"--screenshot={shot}", url],
                       capture_output=True, timeout=120, check=True)
        dom = subprocess.run([*browser, "--virtual-time-budget=3000", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120, check=True).stdout
    finally:
        stop(process, signal.SIGTERM)
    # The page's script has fetched the reading: the number, large, above the picture.
    assert f'<div id="reading">{TRUTH}</div>' in dom
    assert re.search(r'<div id="detail">camera 0 frame \d+: 4 digit\(s\)', dom)
    # The screenshot shows the live picture: the light paper of the video, with the green boxes drawn on it.
    page = cv2.imread(str(shot))
    assert page is not None and page.shape[:2] == (760, 800)
    light = page.mean(axis=2) > 150
    green = (page[..., 1] > 170) & (page[..., 0] < 110) & (page[..., 2] < 110)
    assert light.sum() > 100_000 and green.sum() > 500
