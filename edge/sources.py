"""Where pictures come from: files, folders and globs; video files and streams; cameras."""

from __future__ import annotations

import glob
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from .errors import DigitsError

# FFmpeg prints its own complaints ("moov atom not found") for a file it cannot decode; our
# one-line error says it instead. Read when OpenCV first opens a video, so set it early.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}


class SourceError(DigitsError):
    """A picture, video or camera could not be read; one line for the user."""


def expand_inputs(specs: list[str]) -> list[tuple[str, Path | None, str | None]]:
    """Each spec (file, folder, glob) -> (source name, path or None, error or None), in order.

    A folder yields its images (recursively, sorted); a glob its matches. A spec that
    matches nothing is reported as an error rather than silently skipped.
    """
    found: list[tuple[str, Path | None, str | None]] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            images = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                found.append((spec, None, f"{spec}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})"))
            found.extend((str(p), p, None) for p in images)
        elif path.exists():
            found.append((spec, path, None))
        elif glob.has_magic(spec):
            matches = sorted(Path(m) for m in glob.glob(spec, recursive=True) if Path(m).is_file())
            if not matches:
                found.append((spec, None, f"{spec}: no files match"))
            found.extend((str(p), p, None) for p in matches)
        else:
            found.append((spec, None, f"{spec}: no such file or folder"))
    return found


def read_image(path: Path) -> np.ndarray:
    """Decode an image file with OpenCV (any path, unicode included); SourceError when it is not one."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except PermissionError:
        raise SourceError(f"{path}: permission denied") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data.size == 0:
        raise SourceError(f"{path}: empty file")
    # PNG and WebP may carry transparency: decode it and flatten (below). Everything else is
    # decoded as imread does, which turns a phone photo upright by its EXIF orientation.
    has_alpha_format = data[:8].tobytes() == b"\x89PNG\r\n\x1a\n" or data[8:12].tobytes() == b"WEBP"
    flags = cv2.IMREAD_UNCHANGED if has_alpha_format else cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
    image = cv2.imdecode(data, flags)
    if image is None:
        raise SourceError(f"{path}: not an image OpenCV can decode (corrupt, truncated or another format)")
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    if image.ndim == 3 and image.shape[2] == 4:
        image = flatten_alpha(image)
    return image


def flatten_alpha(image: np.ndarray) -> np.ndarray:
    """A BGRA picture as BGR on a backdrop that contrasts with what is drawn: ink on a transparent
    PNG is its opaque part, whatever colour the transparent pixels happen to hold."""
    alpha = image[:, :, 3:].astype(np.float32) / 255
    colour = image[:, :, :3].astype(np.float32)
    opaque = alpha[:, :, 0] > 0.5
    if opaque.all() or not opaque.any():
        return np.ascontiguousarray(image[:, :, :3])
    backdrop = 0.0 if colour[opaque].mean() > 127 else 255.0
    return np.round(colour * alpha + backdrop * (1 - alpha)).astype(np.uint8)


def open_capture(spec: int | str, timeout_s: float = 8.0) -> cv2.VideoCapture:
    """Open a camera index, video file or stream URL within `timeout_s`, or raise SourceError."""
    if isinstance(spec, str) and "://" not in spec:
        path = Path(spec)
        if not path.exists():
            raise SourceError(f"{spec}: no such video file")
        if path.is_dir():
            raise SourceError(f"{spec}: is a folder, not a video")
    opened: list[cv2.VideoCapture] = []

    def attempt() -> None:
        # OpenCV logs several lines of backend noise for a camera that is absent; our one line says it.
        previous = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            opened.append(cv2.VideoCapture(spec))
        finally:
            cv2.utils.logging.setLogLevel(previous)

    # Some backends block for a long time on a camera that is not there: never wait past the timeout.
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout_s)
    what = f"camera {spec}" if isinstance(spec, int) else spec
    if not opened:
        raise SourceError(f"{what}: did not open within {timeout_s:g}s")
    capture = opened[0]
    if not capture.isOpened():
        capture.release()
        hint = " (is it connected, and free? try digits-edge --doctor)" if isinstance(spec, int) else " (not a video OpenCV can decode?)"
        raise SourceError(f"{what}: cannot open{hint}")
    return capture


class LatestFrameReader:
    """Reads a live capture on a thread and keeps only the newest frame, so a slow reader never
    processes stale frames: the frames it cannot keep up with are dropped, not queued."""

    def __init__(self, capture: cv2.VideoCapture) -> None:
        self.capture = capture
        self._frame: np.ndarray | None = None
        self._sequence = 0
        self._failed = False
        self._condition = threading.Condition()
        self._running = True
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while self._running:
            ok, frame = self.capture.read()
            with self._condition:
                if not ok:
                    self._failed = True
                    self._condition.notify_all()
                    return
                self._frame, self._sequence = frame, self._sequence + 1
                self._condition.notify_all()

    def read(self, after: int, timeout_s: float) -> tuple[int, np.ndarray | None]:
        """The newest frame with sequence > `after`, waiting up to `timeout_s`; (after, None) if none came."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while self._sequence <= after and not self._failed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            if self._sequence > after:
                return self._sequence, self._frame
            return after, None

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2.0)
        self.capture.release()


def file_frames(capture: cv2.VideoCapture) -> Iterator[np.ndarray]:
    """Every frame of a video file, in order; ends at the end of the file."""
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame
    finally:
        capture.release()


def live_frames(open_: Callable[[], cv2.VideoCapture], *, first: cv2.VideoCapture | None = None, stall_s: float = 3.0,
                retries: int = 2, log: Callable[[str], None] = print) -> Iterator[np.ndarray]:
    """The newest frame of a live source (`first`, already open, or one `open_` opens), again and
    again. A source that stops delivering is reopened up to `retries` times; then the iterator ends."""
    reader: LatestFrameReader | None = LatestFrameReader(first if first is not None else open_())
    sequence = attempts = 0
    try:
        while True:
            if reader is not None:
                sequence, frame = reader.read(sequence, stall_s)
                if frame is not None:
                    attempts = 0
                    yield frame
                    continue
                reader.close()
                reader = None
            if attempts >= retries:
                log(f"the source stopped delivering frames; gave up after {retries} reopen attempts")
                return
            attempts += 1
            log(f"no frame for {stall_s:g}s: reopening the source (attempt {attempts}/{retries})")
            try:
                reader, sequence = LatestFrameReader(open_()), 0
            except SourceError as exc:
                log(str(exc))
                time.sleep(min(stall_s, 1.0))
    finally:
        if reader is not None:
            reader.close()


def has_display() -> bool:
    """Whether a window can open: OpenCV built with a GUI, and (on Linux) a display to show it on.

    cv2.imshow without one aborts the whole process, so this is asked before any window."""
    gui = [line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() in {"NONE", ""}:
        return False
    if os.name == "posix" and not Path("/System/Library").exists():  # Linux and friends, not macOS
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True
