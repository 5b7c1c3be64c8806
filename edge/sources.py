"""Where pictures come from: files, folders and globs; video files and streams; cameras."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import DigitsError, first_line
from .output import describe, opencv_can_open

# FFmpeg prints its own complaints ("moov atom not found") for a file it cannot decode; our
# one-line error says it instead. Read when OpenCV first opens a video, so set it early.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
# The largest picture decoded, checked by OpenCV on the file's header before it allocates
# anything: a 20000x20000 photo would take 1.2 GB decoded, and a Pi has 1-8 GB. 100 megapixels
# is above every phone camera's default resolution. Read at OpenCV's first decode.
MAX_PIXELS = 100_000_000
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))
MAX_FILE_BYTES = 256 * 2**20  # a larger "image" file is refused before it is read into memory

import cv2  # noqa: E402  (after the environment it reads)

#: The files a folder or glob yields as images, for the edge and for training on an ImageFolder.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".gif"}
# Phone photos OpenCV may not decode (an iPhone's HEIC): a folder yields them too, each then read or
# reported on its own line, never skipped unsaid.
PHOTO_SUFFIXES = IMAGE_SUFFIXES | {".heic", ".heif", ".avif"}


class SourceError(DigitsError):
    """A picture, video or camera could not be read; one line for the user."""


def expand_inputs(specs: list[str]) -> list[tuple[str, Path | None, str | None]]:
    """Each spec (file, folder, glob; `-` or a URL, whose path is None) -> (source name, path or
    None, error or None), in order.

    A folder yields its images (recursively, sorted); a glob its matches. A spec that
    matches nothing is reported as an error rather than silently skipped.
    """
    found: list[tuple[str, Path | None, str | None]] = []
    for spec in specs:
        path = Path(spec)
        if is_remote(spec) and not path.exists():  # read by read_remote
            found.append((spec, None, None))
        elif path.is_dir():
            images = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
            if not images:
                found.append((spec, None, f"{describe(spec)}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})"))
            found.extend((str(p), p, None) for p in images)
        elif path.exists():  # read_image refuses what is not a regular file
            found.append((spec, path, None))
        elif glob.has_magic(spec):
            matches = sorted(Path(m) for m in glob.glob(spec, recursive=True) if Path(m).is_file())
            if not matches:
                found.append((spec, None, f"{describe(spec)}: no files match"))
            found.extend((str(p), p, None) for p in matches)
        else:
            found.append((spec, None, f"{describe(spec)}: no such file or folder"))
    return found


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence what C libraries print to stderr (libpng's "Read Error" on a truncated PNG): our
    one-line error says it instead."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded, pytest capture): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


STDIN = "-"  # the input spec that reads one image from standard input
URL_SCHEMES = ("http://", "https://")
URL_TIMEOUT_S = 15.0


def is_remote(spec: str) -> bool:
    """An input that is not a file: `-` (stdin) or an http(s) URL."""
    return spec == STDIN or spec.lower().startswith(URL_SCHEMES)


def _too_large(name: str, size: int, more: bool = False) -> SourceError:
    what = "more than" if more else f"{size / 2**20:,.0f} MiB, larger than"  # a stream read up to the cap: size unknown
    return SourceError(f"{name}: {what} the {MAX_FILE_BYTES // 2**20} MiB an image may be")


def read_image(path: Path) -> np.ndarray:
    """Decode an image file with OpenCV (any path, unicode included); SourceError when it is not one."""
    name = describe(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise SourceError(f"{name}: not a regular file (a FIFO, device or socket is not read)")
        if info.st_size > MAX_FILE_BYTES:
            raise _too_large(name, info.st_size)
        data = np.fromfile(path, dtype=np.uint8)
    except PermissionError:
        raise SourceError(f"{name}: permission denied") from None
    except OSError as exc:
        raise SourceError(f"{name}: cannot read ({exc.strerror or exc})") from None
    return decode_image(data, name)


def read_remote(spec: str) -> np.ndarray:
    """One image from standard input (`-`) or an http(s) URL: at most MAX_FILE_BYTES, a URL within
    URL_TIMEOUT_S per network step; SourceError (one line) for anything that goes wrong."""
    if spec == STDIN:
        if sys.stdin is None or sys.stdin.isatty():
            raise SourceError("-: standard input is a terminal; pipe an image into it (digits-edge - < photo.jpg)")
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        name = "stdin"
    else:
        import urllib.error
        import urllib.request

        name = describe(spec)
        request = urllib.request.Request(spec, headers={"User-Agent": "digits-edge"})
        try:
            with urllib.request.urlopen(request, timeout=URL_TIMEOUT_S) as response:
                length = response.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > MAX_FILE_BYTES:
                    raise _too_large(name, int(length))
                data = response.read(MAX_FILE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise SourceError(f"{name}: HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise SourceError(f"{name}: cannot fetch ({getattr(exc.reason, 'strerror', None) or exc.reason})") from None
        except (TimeoutError, OSError) as exc:
            raise SourceError(f"{name}: cannot fetch ({exc.strerror or str(exc) or 'timed out'})") from None
        except ValueError as exc:  # a malformed URL
            raise SourceError(f"{name}: not a URL that can be fetched ({exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(name, len(data), more=True)
    return decode_image(np.frombuffer(data, dtype=np.uint8), name)


def decode_image(data: np.ndarray, name: str) -> np.ndarray:
    """An encoded image (bytes as uint8) decoded as imread would, alpha flattened, 8-bit."""
    if data.size == 0:
        raise SourceError(f"{name}: empty file")
    # PNG and WebP may carry transparency: decode it and flatten (below). Everything else is
    # decoded as imread does, which turns a phone photo upright by its EXIF orientation.
    has_alpha_format = data[:8].tobytes() == b"\x89PNG\r\n\x1a\n" or data[8:12].tobytes() == b"WEBP"
    flags = cv2.IMREAD_UNCHANGED if has_alpha_format else cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
    try:
        with _quiet_stderr():
            image = cv2.imdecode(data, flags)
    except cv2.error:  # OpenCV refuses a header larger than OPENCV_IO_MAX_IMAGE_PIXELS
        limit = int(os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", MAX_PIXELS))
        raise SourceError(f"{name}: larger than {limit / 1e6:g} megapixels, the most decoded; scale it down") from None
    if image is None or image.size == 0:
        kind = _not_an_image(data)
        if kind:
            raise SourceError(f"{name}: {kind}")
        raise SourceError(f"{name}: not an image OpenCV can decode (corrupt, truncated or another format)")
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    if image.ndim == 3 and image.shape[2] == 4:
        image = flatten_alpha(image)
    return image


# ISO media brands (bytes 8-12 of an "ftyp" box): photos OpenCV cannot decode, and videos.
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def _not_an_image(data: np.ndarray) -> str | None:
    """What a file OpenCV could not decode is, when it is a format users hand an image reader by
    mistake, and what to do: an iPhone's HEIC photo, a PDF scan, a video. None: not one of these."""
    head = data[:64].tobytes()
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "a HEIC/HEIF photo (an iPhone's default), which this OpenCV cannot decode; save it as JPEG or PNG"
        if brand in _AVIF_BRANDS:
            return "an AVIF image, which this OpenCV cannot decode; save it as JPEG or PNG"
        return "a video (MP4/MOV), not an image; read it with --video"
    if head.startswith(b"%PDF"):
        return "a PDF, not an image; export its page as PNG or JPEG"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "a video (AVI), not an image; read it with --video"
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "a video (MKV/WebM), not an image; read it with --video"
    if b"<svg" in data[:1024].tobytes().lower():
        return "an SVG drawing, not a photo; export it as PNG"
    return None


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


def is_stream(spec: int | str) -> bool:
    """A camera index or a stream URL (rtsp://, http://...): read live, newest frame first. Anything
    else given to --video is a file, read frame by frame."""
    return isinstance(spec, int) or "://" in spec


def source_name(spec: int | str) -> str:
    """How messages name a camera, stream or video file."""
    return f"camera {spec}" if isinstance(spec, int) else describe(spec)


class PicameraCapture:
    """A Raspberry Pi camera (CSI, driven by libcamera) through Picamera2, with the methods of
    cv2.VideoCapture the frame readers use: it goes through the same newest-frame reader, smoothing
    and reopening as a webcam. (OpenCV's own VideoCapture does not deliver these cameras' frames on
    Pi OS Bookworm.)"""

    backend = "Picamera2 (libcamera)"

    def __init__(self, camera, size: tuple[int, int] = (640, 480)) -> None:
        self.camera = camera
        # "RGB888" is B, G, R in memory: OpenCV's order.
        camera.configure(camera.create_video_configuration(main={"size": size, "format": "RGB888"}))
        camera.start()
        self._open = True

    def isOpened(self) -> bool:  # noqa: N802  (cv2.VideoCapture's name)
        return self._open

    def read(self) -> tuple[bool, np.ndarray | None]:
        if not self._open:
            return False, None
        try:
            frame = self.camera.capture_array("main")
        except Exception:  # the camera went away: the live reader reopens it
            return False, None
        if frame is None:
            return False, None
        return True, np.ascontiguousarray(frame[..., :3]) if frame.ndim == 3 and frame.shape[2] == 4 else frame

    def grab(self) -> bool:
        return self.read()[0]

    def get(self, prop: int) -> float:
        return 0.0

    def release(self) -> None:
        if self._open:
            self._open = False
            try:
                self.camera.stop()
                self.camera.close()
            except Exception:  # already gone
                pass


def picamera2_cameras() -> tuple[type | None, list[dict], str]:
    """(Picamera2's class, the cameras it sees, why there are none): apt's python3-picamera2 on a Pi.
    The class is None when Picamera2 is absent or does not import (apt's build against another numpy)."""
    try:
        from picamera2 import Picamera2
    except ImportError:
        return None, [], "not installed"
    except Exception as exc:
        return None, [], f"installed but does not import ({type(exc).__name__}: {first_line(exc, 80)})"
    try:
        return Picamera2, list(Picamera2.global_camera_info()), ""
    except Exception as exc:
        return Picamera2, [], f"installed, cameras not listed ({type(exc).__name__})"


def open_picamera(index: int) -> PicameraCapture | None:
    """Camera `index` through Picamera2 when Picamera2 is installed and sees that many cameras,
    else None (the camera is then opened by OpenCV, as a webcam)."""
    picamera2, cameras, _ = picamera2_cameras()
    if picamera2 is None or index >= len(cameras):
        return None
    try:
        return PicameraCapture(picamera2(index))
    except Exception as exc:  # busy (another program has it), or libcamera failed
        raise SourceError(f"camera {index}: Picamera2 cannot start it ({first_line(exc)})") from None


def capture_backend(capture) -> str:
    """What delivers a capture's frames, for the line that starts reading it."""
    if isinstance(capture, PicameraCapture):
        return capture.backend
    try:
        return f"OpenCV {capture.getBackendName()}"
    except (AttributeError, cv2.error):
        return "OpenCV"


def open_capture(spec: int | str, timeout_s: float = 8.0) -> cv2.VideoCapture | PicameraCapture:
    """Open a camera index (a Pi camera through Picamera2 when there is one), video file or stream
    URL within `timeout_s`, or raise SourceError."""
    link_folder = None
    what = source_name(spec)
    if isinstance(spec, int):
        picamera = open_picamera(spec)
        if picamera is not None:
            return picamera
    if not is_stream(spec):
        path = Path(spec)
        if not path.exists():
            raise SourceError(f"{what}: no such video file")
        if path.is_dir():
            raise SourceError(f"{what}: is a folder, not a video")
        if not path.is_file():
            raise SourceError(f"{what}: not a regular file (a FIFO, device or socket is not read)")
        if not opencv_can_open(spec):
            # OpenCV crashes on a str path that is not UTF-8: show it the file under an ASCII name.
            link_folder = tempfile.mkdtemp(prefix="digits-")
            link = os.path.join(link_folder, "video" + "".join(c for c in path.suffix if c.isascii()))
            os.symlink(os.fsencode(path.resolve()), link)
            spec = link
    opened: list[cv2.VideoCapture] = []
    logging = getattr(getattr(cv2, "utils", None), "logging", None)  # absent from OpenCV 4.8 wheels, Debian's 4.6

    def attempt() -> None:
        # OpenCV logs several lines of backend noise for a camera that is absent; our one line says it.
        previous = logging.getLogLevel() if logging else None
        if logging:
            logging.setLogLevel(logging.LOG_LEVEL_SILENT)
        try:
            opened.append(cv2.VideoCapture(spec))
        finally:
            if logging:
                logging.setLogLevel(previous)

    # Some backends block for a long time on a camera that is not there: never wait past the timeout.
    # Without cv2.utils.logging the backends' noise is silenced at the file descriptor while we wait;
    # what a backend prints after the timeout still shows.
    worker = threading.Thread(target=attempt, daemon=True)
    with _quiet_stderr() if logging is None else contextlib.nullcontext():
        worker.start()
        worker.join(timeout_s)
    if link_folder is not None and opened:
        shutil.rmtree(link_folder, ignore_errors=True)  # the file stays open; the name is not needed
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


class FileFrames:
    """The frames of a video file, in order: every one, or every `stride`-th (the others are grabbed,
    not decoded). When the file ends before its header's frame count (truncated or damaged),
    `problem` says so once the frames run out. A file that gives no frame at all is a SourceError
    here, before any reading starts: OpenCV opens some files that hold no video (a text file named
    .png) and reads nothing from them."""

    def __init__(self, capture: cv2.VideoCapture, stride: int = 1, name: str = "the video") -> None:
        self.capture, self.stride = capture, max(1, stride)
        self.expected = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.read = 0  # frames taken from the file, decoded or skipped
        self.position = -1  # the file's frame number of the frame last given
        fps = capture.get(cv2.CAP_PROP_FPS) or 0
        self.frame_ms = 1000.0 * self.stride / fps if 1 <= fps <= 240 else 1.0  # how long a window shows each
        self.problem: str | None = None
        ok, self._first = capture.read()
        if not ok:
            capture.release()
            raise SourceError(f"{name}: no frame could be decoded (not a video OpenCV can read?)")

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            frame, self._first = self._first, None  # (the first frame, read when made)
            ok = frame is not None
            while True:
                if ok:
                    self.read += 1
                    self.position = self.read - 1
                    yield frame
                    for _ in range(self.stride - 1):  # the frames in between are only grabbed
                        ok = self.capture.grab()
                        if not ok:
                            break
                        self.read += 1
                if not ok:
                    # Containers' counts can be one or two off; a real truncation loses more.
                    if self.expected and self.read < self.expected - max(2, self.expected // 100):
                        self.problem = f"the video ended after {self.read} of the {self.expected} frames its header announces (truncated or damaged?)"
                    return
                ok, frame = self.capture.read()
        finally:
            self.capture.release()

    def close(self) -> None:
        self.capture.release()


class LiveFrames:
    """The newest frame of a live source (`first`, already open, or one `open_` opens), again and
    again. A source that stops delivering is reopened up to `retries` times; then the iteration
    ends and `problem` says why."""

    def __init__(self, open_: Callable[[], cv2.VideoCapture], *, first: cv2.VideoCapture | None = None,
                 stall_s: float = 3.0, retries: int = 2, log: Callable[[str], None] = print) -> None:
        self.open_, self.first, self.stall_s, self.retries, self.log = open_, first, stall_s, retries, log
        self.problem: str | None = None
        self._reader: LatestFrameReader | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        self._reader = LatestFrameReader(self.first if self.first is not None else self.open_())
        sequence = attempts = 0
        try:
            while True:
                if self._reader is not None:
                    sequence, frame = self._reader.read(sequence, self.stall_s)
                    if frame is not None:
                        attempts = 0
                        yield frame
                        continue
                    self._reader.close()
                    self._reader = None
                if attempts >= self.retries:
                    self.problem = f"the source stopped delivering frames; gave up after {self.retries} reopen attempts"
                    self.log(self.problem)
                    return
                attempts += 1
                self.log(f"no frame for {self.stall_s:g}s: reopening the source (attempt {attempts}/{self.retries})")
                try:
                    self._reader, sequence = LatestFrameReader(self.open_()), 0
                except SourceError as exc:
                    self.log(str(exc))
                    time.sleep(min(self.stall_s, 1.0))
        finally:
            self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def has_display() -> bool:
    """Whether a window can open: OpenCV built with a GUI, and (on Linux) a display that answers.

    cv2.imshow without one aborts the whole process, so this is asked before any window. A
    $DISPLAY left over from an SSH session (":55" with no X server behind it) is not a display."""
    gui = [line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() in {"NONE", ""}:
        return False
    if os.name == "posix" and not Path("/System/Library").exists():  # Linux and friends, not macOS
        return display_answers(os.environ.get("DISPLAY", ""), os.environ.get("WAYLAND_DISPLAY", ""))
    return True


def display_answers(x_display: str, wayland_display: str, timeout_s: float = 1.0) -> bool:
    """Whether an X server (`x_display`, e.g. ":0" or "host:10.0") or a Wayland compositor
    (`wayland_display`, e.g. "wayland-0") accepts a connection on its socket."""
    import socket

    if wayland_display:
        runtime = os.environ.get("XDG_RUNTIME_DIR", "")
        path = wayland_display if wayland_display.startswith("/") else os.path.join(runtime, wayland_display)
        if _connects(socket.AF_UNIX, path, timeout_s):
            return True
    if not x_display or ":" not in x_display:
        return False
    host, _, rest = x_display.rpartition(":")
    try:
        number = int(rest.split(".")[0])
    except ValueError:
        return False
    if host in ("", "unix") and _connects(socket.AF_UNIX, f"/tmp/.X11-unix/X{number}", timeout_s):
        return True
    if host.startswith("/"):  # macOS XQuartz style: a socket path
        return _connects(socket.AF_UNIX, x_display, timeout_s)
    return _connects(socket.AF_INET, (host or "localhost", 6000 + number), timeout_s)


def _connects(family: int, address, timeout_s: float) -> bool:
    import socket

    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(timeout_s)
            probe.connect(address)
        return True
    except OSError:
        return False
