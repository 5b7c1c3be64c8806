"""A stand-in for Picamera2 (which needs a Raspberry Pi camera and libcamera): the same methods
digits-edge calls, serving recorded frames from the video file named by $DIGITS_STANDIN_VIDEO at
its own pace, as a camera delivers them. Put tests/standins on PYTHONPATH to use it.

$DIGITS_STANDIN_FAIL_AFTER=N: every camera object stops delivering after N frames (capture_array
raises, as when a ribbon cable is pulled), to exercise reopening."""

from __future__ import annotations

import os
import time

import cv2
import numpy as np

OPENED: list[int] = []  # camera numbers opened in this process, for tests in the same process


class Picamera2:
    @staticmethod
    def global_camera_info() -> list[dict]:
        return [{"Model": "stand-in (recorded frames)", "Num": 0, "Location": 2, "Rotation": 0, "Id": "/base/stand-in"}]

    def __init__(self, camera_num: int = 0) -> None:
        if camera_num >= len(self.global_camera_info()):
            raise IndexError(f"camera {camera_num} not found")
        self.capture = cv2.VideoCapture(os.environ["DIGITS_STANDIN_VIDEO"])
        self.fail_after = int(os.environ.get("DIGITS_STANDIN_FAIL_AFTER", "0"))
        self.delivered, self.started, self.size, self.format = 0, False, (640, 480), "RGB888"
        OPENED.append(camera_num)

    def create_video_configuration(self, main: dict | None = None) -> dict:
        return {"main": dict(main or {})}

    def configure(self, config: dict) -> None:
        main = config["main"]
        self.size, self.format = tuple(main.get("size", self.size)), main.get("format", self.format)

    def start(self) -> None:
        self.started = True

    def capture_array(self, name: str = "main") -> np.ndarray:
        if not self.started:
            raise RuntimeError("camera not started")
        if self.fail_after and self.delivered >= self.fail_after:
            raise RuntimeError("camera frontend has timed out")
        time.sleep(1 / 30)
        ok, frame = self.capture.read()
        if not ok:  # the recording is over: start it again, a camera never ends
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.capture.read()
        self.delivered += 1
        frame = cv2.resize(frame, self.size)
        # XRGB8888 is 4 channels (B, G, R, 255); RGB888 is B, G, R.
        return np.dstack([frame, np.full(frame.shape[:2], 255, np.uint8)]) if self.format == "XRGB8888" else frame

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.capture.release()
