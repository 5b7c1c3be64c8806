"""The browser view's cost (--serve), on this machine: the reader's frame rate with no view, with a
view nobody watches, and with 3 viewers at once (one of them slow); how soon a new viewer gets
its first picture (and, with Debian's chromium installed, whether a headless browser shows it
within 2 s); and the process's memory while 3 viewers watch for --minutes.

    python benchmarks/serve_bench.py [--seconds 20] [--minutes 1]

The reader reads the frames of artifacts/samples/video-2159.avi over and over as fast as it can
(a harder case than a 30 fps camera, which leaves the reader idle between frames), one
onnxruntime thread. Viewers are separate processes reading /stream.mjpg, as browsers would be.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from digits.edge.live import read_stream
from digits.edge.reader import DigitReader
from digits.edge.serve import SERVE_FPS, LiveView
from digits.edge.session import DigitModel

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO / "artifacts" / "samples" / "video-2159.avi"
VIEWER = """
import http.client, sys, time
host, port, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
connection = http.client.HTTPConnection(host, port, timeout=60)
connection.request("GET", "/stream.mjpg")
response = connection.getresponse()
while True:
    if not response.readline():
        break
    length = 0
    while (line := response.readline()) not in (b"\\r\\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    response.read(length + 2)
    time.sleep(pause)
"""


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Timed:
    """Frames for `seconds`, looping over `pictures`; counts them."""

    def __init__(self, pictures: list[np.ndarray], seconds: float, every: float | None = None,
                 sample=None) -> None:
        self.pictures, self.seconds, self.every, self.sample = pictures, seconds, every, sample
        self.count = 0

    def __iter__(self):
        start = last = time.perf_counter()
        for picture in itertools.cycle(self.pictures):
            now = time.perf_counter()
            if now - start >= self.seconds:
                return
            if self.every and now - last >= self.every:
                self.sample(now - start)
                last = now
            self.count += 1
            yield picture


def reader_fps(reader: DigitReader, pictures: list[np.ndarray], seconds: float, view: LiveView | None,
               sample=None, every: float | None = None) -> float:
    frames = Timed(pictures, seconds, every, sample)
    start = time.perf_counter()
    read_stream(frames, reader, source="camera 0", emit=lambda line: None, view=view)
    return frames.count / (time.perf_counter() - start)


def first_picture_s(view: LiveView) -> float:
    """A new viewer: the page, then its first whole picture from the stream."""
    start = time.perf_counter()
    connection = http.client.HTTPConnection(view.host, view.port, timeout=30)
    connection.request("GET", "/")
    connection.getresponse().read()
    connection.request("GET", "/stream.mjpg")
    response = connection.getresponse()
    response.readline()
    length = 0
    while (line := response.readline()) != b"\r\n":
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    response.read(length)
    connection.close()
    return time.perf_counter() - start


def chromium_shows_picture(view: LiveView, budget_ms: int) -> str:
    browser = shutil.which("chromium")
    if browser is None:
        return "chromium not installed (apt install chromium): not measured"
    with tempfile.TemporaryDirectory() as folder:
        shot = Path(folder) / "page.png"
        start = time.perf_counter()
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={folder}/profile",
                        "--window-size=800,760", f"--timeout={budget_ms}", f"--screenshot={shot}", view.url],
                       capture_output=True, timeout=120)
        wall = time.perf_counter() - start
        page = cv2.imread(str(shot))
    if page is None:
        return "chromium wrote no screenshot"
    green = int(((page[..., 1] > 170) & (page[..., 0] < 110) & (page[..., 2] < 110)).sum())
    shown = "shows" if green > 500 else "does NOT show"
    return f"headless chromium's screenshot {budget_ms} ms after opening {shown} the annotated picture ({wall:.1f} s with its start)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "artifacts" / "digits.onnx")
    parser.add_argument("--seconds", type=float, default=20.0, help="each frame-rate measurement")
    parser.add_argument("--minutes", type=float, default=1.0, help="the memory watch with 3 viewers")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    capture = cv2.VideoCapture(str(VIDEO))
    pictures = []
    while (frame := capture.read())[0]:
        pictures.append(frame[1])
    capture.release()
    reader = DigitReader(DigitModel(args.model, threads=1))
    print(f"serve benchmark on {platform.machine()} ({platform.processor() or 'cpu'}), {VIDEO.name} "
          f"({pictures[0].shape[1]}x{pictures[0].shape[0]}) looped, reader as fast as it goes, one onnxruntime thread")

    reader_fps(reader, pictures, 2.0, None)  # warm up
    view = LiveView("127.0.0.1", 0, source="camera 0")
    rates = {"no view": reader_fps(reader, pictures, args.seconds, None),
             "view, no viewer": reader_fps(reader, pictures, args.seconds, view)}
    viewers = [subprocess.Popen([sys.executable, "-c", VIEWER, view.host, str(view.port), pause])
               for pause in ("0", "0", "1")]
    try:
        sent = view.pictures_sent
        start = time.perf_counter()
        rates["3 viewers (one slow)"] = reader_fps(reader, pictures, args.seconds, view)
        sent_per_s = (view.pictures_sent - sent) / (time.perf_counter() - start)
        for name, rate in rates.items():
            print(f"  reader {name:22s} {rate:7.1f} frames/s  ({rate / rates['no view']:.3f} of no view)")
        print(f"  pictures sent to the 3 viewers: {sent_per_s:.1f}/s in all (at most {SERVE_FPS:g}/s each; "
              f"the slow one takes 1/s)")

        # Memory while 3 viewers watch: one process, sampled as it reads.
        samples: list[tuple[float, float]] = []
        reader_fps(reader, pictures, args.minutes * 60, view, sample=lambda t: samples.append((t, rss_mib())),
                   every=max(1.0, args.minutes * 6))
        rss = [m for _, m in samples]
        print(f"  memory over {args.minutes:g} min with 3 viewers: RSS {rss[0]:.1f} MiB at the start, "
              f"{rss[-1]:.1f} at the end, {max(rss):.1f} at most ({len(rss)} samples)")
    finally:
        for viewer in viewers:
            viewer.kill()
    # A new viewer, with the reader running.
    background = threading.Thread(target=reader_fps, args=(reader, pictures, 8.0, view))
    background.start()
    time.sleep(1.0)
    firsts = sorted(first_picture_s(view) for _ in range(10))
    print(f"  a new viewer's first picture (page + stream): median {1e3 * firsts[5]:.0f} ms, max {1e3 * firsts[-1]:.0f} ms of 10")
    print(f"  {chromium_shows_picture(view, 2000)}")
    background.join()
    view.close()


if __name__ == "__main__":
    main()
