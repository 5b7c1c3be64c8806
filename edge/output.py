"""Where results go: annotated images and videos, written so that nothing is half-written or lost.

OpenCV's own writers take a `str` path and crash the whole process (a segfault) on a file
name that is not valid UTF-8, and report a failed write only as `False`. So images are
encoded in memory and written by Python (any file name the OS allows), through a temporary
file renamed into place; a failure is an `OutputError`, one line for the user.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .errors import DigitsError


class OutputError(DigitsError):
    """A result could not be written (read-only folder, full disk...); one line for the user."""


def describe(path: str | os.PathLike) -> str:
    """A path as one printable line: control characters (a newline in a file name) and bytes that
    are not UTF-8 are escaped, so one file never splits or garbles a line of output."""
    escaped = os.fsencode(path).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in escaped)


def opencv_can_open(path: str | os.PathLike) -> bool:
    """Whether OpenCV's str-path functions can take this path without crashing."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call write(tmp_path) on a temporary file beside `path`, then rename it over `path`, with
    the mode any new file would get (mkstemp makes 0600). A crash, Ctrl-C or SIGTERM mid-write
    leaves the old file (or none), never half a file. Any name the OS allows, UTF-8 or not."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=os.fsencode(f".{path.name}."), suffix=b".tmp", dir=os.fsencode(path.parent))
    os.close(fd)
    try:
        write(Path(os.fsdecode(temporary)))
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)
        os.replace(temporary, os.fsencode(path))
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def write_image(path: Path, image: np.ndarray) -> None:
    """Encode `image` by `path`'s suffix and write it whole, or raise OutputError."""
    ok, encoded = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise OutputError(f"{describe(path)}: OpenCV cannot encode an image as {path.suffix!r}")
    try:
        atomic_write(path, lambda temporary: temporary.write_bytes(encoded.tobytes()))
    except OSError as exc:
        raise OutputError(f"{describe(path)}: cannot write ({exc.strerror or exc})") from None


class SaveNames:
    """File names under one output folder, one per input file: a/photo.jpg and b/photo.jpg become
    photo.annotated.png and photo-2.annotated.png, never one file written over another (the
    same input named twice keeps its one name)."""

    def __init__(self, folder: Path, suffix: str) -> None:
        self.folder, self.suffix = folder, suffix
        self.given: dict[str, str] = {}

    def __call__(self, source: str) -> Path:
        remote = source == "-" or "://" in source
        key = source if remote else os.path.realpath(source)
        if key not in self.given:
            stem = "stdin" if source == "-" else Path(source.split("?")[0].rstrip("/")).stem if remote else Path(source).stem
            stem = stem or "image"
            name, n = stem, 1
            while name in self.given.values():
                n += 1
                name = f"{stem}-{n}"
            self.given[key] = name
        return self.folder / f"{self.given[key]}{self.suffix}"


class VideoOutput:
    """An annotated video written to a temporary file and moved into place when closed: closed in a
    `finally`, an interrupted run (Ctrl-C, SIGTERM) leaves a playable file of the frames read so
    far, never one whose header says 0 frames. Any destination name works: OpenCV only ever sees
    an ASCII temporary path."""

    def __init__(self, path: Path, fps: float = 10.0) -> None:
        self.path, self.fps = path, fps
        self._folder = tempfile.mkdtemp(prefix="digits-video-")
        self._temporary = os.path.join(self._folder, "video" + path.suffix)
        self._writer: cv2.VideoWriter | None = None

    def write(self, picture: np.ndarray) -> None:
        if self._writer is None:
            self._writer = cv2.VideoWriter(self._temporary, cv2.VideoWriter_fourcc(*"MJPG"), self.fps,
                                           (picture.shape[1], picture.shape[0]))
            if not self._writer.isOpened():
                self.discard()
                raise OutputError(f"{describe(self.path)}: OpenCV cannot write this video")
        self._writer.write(picture)

    def close(self) -> None:
        """Finish the file and move it to its destination (OutputError when that fails)."""
        if self._writer is None:
            self.discard()
            return
        self._writer.release()
        self._writer = None
        try:
            shutil.move(os.fsencode(self._temporary), os.fsencode(self.path))
        except OSError as exc:
            raise OutputError(f"{describe(self.path)}: cannot write ({exc.strerror or exc})") from None
        finally:
            self.discard()

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        shutil.rmtree(self._folder, ignore_errors=True)
