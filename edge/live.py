"""Reading a camera, stream or video file: frames, smoothing, output, the live window."""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

from .annotate import annotate
from .errors import Terminated
from .output import VideoOutput, write_image
from .reader import NOTHING_READ, DigitReader
from .serve import LiveView, start_view
from .sources import (FileFrames, LiveFrames, SourceError, capture_backend, has_display, is_stream, open_capture,
                      source_name)

WINDOW = "digits-edge (q/Esc quit, space pause, s snapshot)"
SMOOTHING_FRAMES = 5  # the reading shown is the most common of this many latest frames


class Smoother:
    """The reading shown is the most common of the last few frames, so one bad frame never flickers."""

    def __init__(self, window: int = SMOOTHING_FRAMES) -> None:
        self.recent: deque[str] = deque(maxlen=window)

    def update(self, text: str) -> str:
        self.recent.append(text)
        counts = Counter(self.recent)
        best = max(counts.values())
        return next(t for t in reversed(self.recent) if counts[t] == best)


def read_stream(
    frames: Iterable[np.ndarray],
    reader: DigitReader,
    *,
    source: str,
    emit: Callable[[str], None],
    as_json: bool = False,
    show: bool = False,
    max_frames: int | None = None,
    save_dir: Path | None = None,
    smooth: int = SMOOTHING_FRAMES,
    view: LiveView | None = None,
) -> int:
    """Read every frame `frames` yields; returns how many were read. With a `view` (--serve) each
    frame and reading is handed to the browser view, and a video file plays at its own pace."""
    smoother = Smoother(smooth)
    frame_ms = getattr(frames, "frame_ms", 1.0)  # a video file is shown at its own pace
    paced = view is not None and not show and frame_ms > 1.0
    started = time.perf_counter()
    printed: str | None = None
    fps: float | None = None
    last = time.perf_counter()
    count = 0
    video: VideoOutput | None = None
    try:
        for frame in frames:
            reading = reader.read(frame)
            stable = smoother.update(reading.text)
            now = time.perf_counter()
            fps = 1.0 / max(now - last, 1e-6) if fps is None else 0.9 * fps + 0.1 / max(now - last, 1e-6)
            last = now
            index = getattr(frames, "position", count)  # a video file's own frame number (with --vid-stride)
            if as_json:
                emit(json.dumps({**reading.as_dict(source), "frame": index, "stable": stable}))
            elif stable != printed:
                emit(f"{source} frame {index}: {stable or NOTHING_READ}")
                printed = stable
            count += 1
            if view is not None:
                view.post(frame, reading, stable=stable, fps=fps, index=index)
                if paced:  # a window paces a video itself; a browser view needs the reader to
                    time.sleep(max(0.0, started + count * frame_ms / 1e3 - time.perf_counter()))
            if show or save_dir is not None:
                picture = annotate(frame, reading, fps=fps, stable_text=stable)
                if save_dir is not None:
                    if video is None:
                        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(source).stem) or "stream"
                        video = VideoOutput(save_dir / f"{stem}.annotated.avi")
                    video.write(picture)
                if show and not _show(picture, save_dir or Path.cwd(), emit if not as_json else None, frame_ms):
                    break
            if max_frames is not None and count >= max_frames:
                break
    finally:
        # Also on Ctrl-C or SIGTERM: the video of the frames read so far is finished and kept.
        if video is not None:
            video.close()
        if show:
            cv2.destroyAllWindows()
    return count


def _show(picture: np.ndarray, snapshot_dir: Path, emit: Callable[[str], None] | None, frame_ms: float = 1.0) -> bool:
    """Show one frame for at least `frame_ms` (a video file plays at its own frame rate, a camera as
    fast as it comes); False when the user asked to quit. Space pauses, with "paused" drawn on the
    frame, until space again."""
    cv2.imshow(WINDOW, picture)
    paused = False
    shown = time.perf_counter()
    while True:
        left = frame_ms - (time.perf_counter() - shown) * 1e3
        key = cv2.waitKey(50 if paused else max(1, int(left))) & 0xFF
        if key in (ord("q"), 27):
            return False
        if key == ord("s"):
            snapshot_dir.mkdir(parents=True, exist_ok=True)
            path = snapshot_dir / f"snapshot-{time.strftime('%Y%m%d-%H%M%S')}.png"
            write_image(path, picture)
            if emit:
                emit(f"snapshot saved: {path}")
        if key == ord(" "):
            paused = not paused
            cv2.imshow(WINDOW, paused_frame(picture) if paused else picture)
        if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:  # closed with the mouse
            return False
        if not paused and (time.perf_counter() - shown) * 1e3 >= frame_ms - 1:
            return True


def paused_frame(picture: np.ndarray) -> np.ndarray:
    """The frame dimmed, with "paused - space resumes" across its middle."""
    out = (picture * 0.6).astype(np.uint8)
    h, w = out.shape[:2]
    scale = max(0.6, min(h, w) / 400)
    text = "paused - space resumes"
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.putText(out, text, ((w - tw) // 2, (h + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)
    return out


def read_live(spec: int | str, reader: DigitReader, *, as_json: bool, save: Path | None, show: bool | None,
              max_frames: int | None, stride: int = 1, serve: tuple[str, int] | None = None,
              emit: Callable[[str], None], log: Callable[[str], None]) -> int:
    """Read a camera, stream or video file until it ends, --max-frames, q, or Ctrl-C; with `serve`
    ((host, port)) a browser view shows it meanwhile. Returns the exit code: 1 when the source broke
    off (a truncated file, a stream that stopped delivering)."""
    live = is_stream(spec)
    display = has_display()
    if show and not display:
        raise SourceError("--show: no display answers here (no $DISPLAY/$WAYLAND_DISPLAY, a stale one, or OpenCV built "
                         "without a GUI); use --no-show")
    show = display if show is None else show
    name = source_name(spec)
    first = open_capture(spec)
    frames = LiveFrames(lambda: open_capture(spec), first=first, log=log) if live else FileFrames(first, stride, name)
    try:
        view = start_view(serve, name, log) if serve is not None else None
    except BaseException:
        first.release()
        raise
    log(f"reading {name} through {capture_backend(first)}{'' if show else ', headless'} (Ctrl-C stops)")
    try:
        count = read_stream(frames, reader, source=name, emit=emit, as_json=as_json, show=show,
                            max_frames=max_frames, save_dir=save, view=view)
    except KeyboardInterrupt as exc:
        log(f"stopped ({'terminated' if isinstance(exc, Terminated) else 'Ctrl-C'})")
        raise
    finally:
        frames.close()
        if view is not None:
            view.close()
    log(f"{name}: {count} frames read")
    if frames.problem:
        if not live:  # LiveFrames has said it already
            log(f"error: {name}: {frames.problem}")
        return 1
    return 0
