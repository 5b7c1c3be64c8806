"""A browser view for a headless device: `digits-edge --camera 0 --serve [HOST:]PORT`.

Over SSH to a Pi there is no window; this serves, read-only, a page with the annotated live
picture (MJPEG, /stream.mjpg), the current reading (/reading.json) and the newest picture
(/snapshot.jpg), so a user can aim the camera from a laptop's browser.

Costs stay off the reader: the reader only hands over its newest frame and reading (a swap
under a lock). One encoder thread draws and JPEG-encodes the newest of them, at most
`SERVE_FPS` times a second and only while someone watches; every viewer is sent the newest
picture when its connection can take one, so a slow viewer skips pictures and never queues
them, and memory holds one picture whatever the number of viewers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Callable

import click
import cv2
import numpy as np

from .errors import DigitsError

if TYPE_CHECKING:
    from .reader import Reading

DEFAULT_HOST = "127.0.0.1"  # only this machine unless a host is given: the view shows what the camera sees
SERVE_FPS = 15.0  # pictures a second sent to viewers: enough to aim a camera, cheap for the reader
JPEG_QUALITY = 80
STREAM_SEND_BUFFER = 64 * 1024  # bytes: two or three pictures
VIEWER_TIMEOUT_S = 30.0  # a viewer whose connection takes nothing for this long is dropped

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>digits-edge: SOURCE</title>
<style>
 body { margin: 0; background: #111; color: #eee; font: 16px system-ui, sans-serif; text-align: center; }
 header { padding: 8px; }
 #reading { font-size: 56px; font-weight: bold; letter-spacing: 4px; min-height: 64px; }
 #detail { color: #aaa; min-height: 20px; }
 img { max-width: 100%; max-height: 78vh; background: #222; }
</style></head>
<body>
<header><div id="reading">...</div><div id="detail">SOURCE</div></header>
<img id="live" src="stream.mjpg" alt="the annotated live picture">
<script>
async function poll() {
  try {
    const r = await fetch("reading.json", {cache: "no-store"});
    const d = await r.json();
    document.getElementById("reading").textContent = d.stable === undefined ? "..." : (d.stable || "NOTHING");
    document.getElementById("detail").textContent = d.stable === undefined ? "waiting for the first frame" :
      `${d.source} frame ${d.frame}: ${d.digits.length} digit(s), ${d.rejected.length} set aside, ${d.ms} ms, ${d.fps} fps`;
  } catch (e) {
    document.getElementById("detail").textContent = "the reader has stopped";
  }
  setTimeout(poll, 300);
}
poll();
</script>
</body></html>
"""


class ServeError(DigitsError):
    """--serve could not listen (port taken, address not on this machine, a privileged port)."""


class ServeAddress(click.ParamType):
    """[HOST:]PORT -> (host, port); the host defaults to 127.0.0.1, port 0 takes any free port."""

    name = "[HOST:]PORT"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        host, _, port = str(value).rpartition(":")
        host = host.strip("[]") or DEFAULT_HOST
        try:
            number = int(port)
        except ValueError:
            self.fail(f"{value!r}: expected [HOST:]PORT, e.g. 8080 or 0.0.0.0:8080", param, ctx)
        if not 0 <= number <= 65535:
            self.fail(f"{value!r}: the port must be 0-65535", param, ctx)
        return host, number


class LiveView:
    """The HTTP server and what it shows. `post` is the reader's side; everything else runs on the
    server's threads."""

    def __init__(self, host: str, port: int, *, source: str, fps: float = SERVE_FPS) -> None:
        self.source, self.interval = source, 1.0 / fps
        self.page = PAGE.replace("SOURCE", _html(source)).replace("NOTHING", "(no digits)").encode()
        self._condition = threading.Condition()
        self._latest: tuple | None = None  # (frame, reading, stable, fps) as the reader left it
        self._posted = 0  # frames posted so far
        self._reading = json.dumps({"source": source}).encode()
        self._jpeg: bytes | None = None
        self._jpeg_id = 0
        self._viewers = 0
        self._running = True
        self.pictures_sent = 0
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family, "daemon_threads": True})
        try:
            self._server = server_class((host, port), _handler(self))
        except OSError as exc:
            raise ServeError(f"--serve {host}:{port}: cannot listen there ({exc.strerror or exc})") from None
        self.host, self.port = self._server.server_address[:2]
        self._threads = [threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True),
                         threading.Thread(target=self._encode_loop, daemon=True)]
        for thread in self._threads:
            thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def viewers(self) -> int:
        return self._viewers

    def post(self, frame: np.ndarray, reading: Reading, *, stable: str, fps: float | None, index: int) -> None:
        """The reader's newest frame and reading. O(1): no drawing or encoding on the reader's thread."""
        summary = {**reading.as_dict(self.source), "frame": index, "stable": stable,
                   "fps": None if fps is None else round(fps, 1)}
        with self._condition:
            self._latest = (frame, reading, stable, fps)
            self._posted += 1
            self._reading = json.dumps(summary).encode()
            self._condition.notify_all()

    def reading_json(self) -> bytes:
        with self._condition:
            return self._reading

    def _encode_loop(self) -> None:
        from .annotate import annotate  # here, not at the top: the CLI imports this module for ServeAddress

        encoded = 0
        while True:
            with self._condition:
                while self._running and not (self._viewers and self._posted > encoded):
                    self._condition.wait(1.0)
                if not self._running:
                    return
                frame, reading, stable, fps = self._latest
                encoded = self._posted
            started = time.monotonic()
            picture = annotate(frame, reading, fps=fps, stable_text=stable)
            ok, buffer = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if ok:
                with self._condition:
                    self._jpeg, self._jpeg_id = buffer.tobytes(), self._jpeg_id + 1
                    self._condition.notify_all()
            time.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    def next_picture(self, after: int, timeout_s: float) -> tuple[int, bytes | None]:
        """The newest JPEG newer than picture `after`, waiting up to `timeout_s` (None: none came, or stopping)."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while self._running and self._jpeg_id <= after:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return after, None
                self._condition.wait(remaining)
            if not self._running:
                return after, None
            return self._jpeg_id, self._jpeg

    def sent(self) -> None:
        with self._condition:
            self.pictures_sent += 1

    def watching(self, delta: int) -> None:
        with self._condition:
            self._viewers += delta
            self._condition.notify_all()

    @property
    def running(self) -> bool:
        return self._running

    def close(self) -> None:
        with self._condition:
            self._running = False
            self._condition.notify_all()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=2.0)


def _handler(view: LiveView) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "digits-edge"
        timeout = VIEWER_TIMEOUT_S

        def log_message(self, format: str, *args) -> None:  # noqa: A002  (the base class's name)
            pass  # the terminal shows readings, not a web server's access log

        def _send(self, status: int, body: bytes, content_type: str, head: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def do_HEAD(self) -> None:  # noqa: N802  (http.server's names)
            self.do_GET(head=True)

        def do_GET(self, head: bool = False) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            try:
                if path in ("/", "/index.html"):
                    self._send(HTTPStatus.OK, view.page, "text/html; charset=utf-8", head)
                elif path == "/reading.json":
                    self._send(HTTPStatus.OK, view.reading_json(), "application/json", head)
                elif path == "/snapshot.jpg":
                    view.watching(+1)
                    try:
                        _, picture = view.next_picture(0, 5.0)
                    finally:
                        view.watching(-1)
                    if picture is None:
                        self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"no picture yet\n", "text/plain", head)
                    else:
                        self._send(HTTPStatus.OK, picture, "image/jpeg", head)
                elif path == "/stream.mjpg":
                    self._stream(head)
                else:
                    self._send(HTTPStatus.NOT_FOUND, b"not found: / /stream.mjpg /reading.json /snapshot.jpg\n",
                               "text/plain", head)
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                pass  # the viewer went away

        def _stream(self, head: bool) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if head:
                return
            # A small send buffer: a viewer that takes pictures slowly blocks its own thread after a picture
            # or two, then gets the newest one, instead of the kernel queueing seconds of old pictures for it.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)
            view.watching(+1)
            try:
                sent = 0
                while view.running:
                    sent, picture = view.next_picture(sent, 5.0)
                    if picture is None:
                        continue
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(picture))
                    self.wfile.write(picture)
                    self.wfile.write(b"\r\n")
                    view.sent()
            finally:
                view.watching(-1)

        def _read_only(self) -> None:
            self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
            self.send_header("Allow", "GET, HEAD")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _read_only  # noqa: N815

    return Handler


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def start_view(address: tuple[str, int], source: str, log: Callable[[str], None]) -> LiveView:
    view = LiveView(*address, source=source)
    log(f"browser view: {view.url} (read-only; the picture at up to {SERVE_FPS:g} fps)")
    return view
