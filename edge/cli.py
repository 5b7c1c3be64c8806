"""digits-edge: read handwritten numbers from images, folders, video or a live camera."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import FiniteFloat, InputError, OneLineCommand
from .serve import ServeAddress
from .session import BACKENDS


@click.command(cls=OneLineCommand)
@click.argument("inputs", nargs=-1, metavar="[IMAGE|FOLDER|GLOB|URL|-]...")
@click.option("--camera", type=click.IntRange(min=0), default=None, metavar="N", help="Read webcam N live (0 is the first).")
@click.option("--video", type=str, default=None, metavar="PATH|URL", help="Read a video file or a stream URL (rtsp://, http://).")
@click.option("--model", type=click.Path(path_type=Path), default=None,
              help="An ONNX model from digits-export. Default: the shipped artifacts/digits.onnx.")
@click.option("--min-confidence", type=FiniteFloat(0, 1), default=0.5, show_default=True,
              help="Candidates whose best digit is less likely than this among the ten digits are set aside (as are "
                   "those a model with the not-a-digit class calls not a digit); --json lists them under \"rejected\".")
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object per input (per frame for video/camera): {"source", "text", "digits": '
                   '[{"label", "confidence", "box": [x, y, w, h]}], "rejected": [{"box", "label", "confidence", '
                   '"reason"}], "ms"}; reason: not-a-digit (label null), below-min-confidence, too-wide, frame (encloses other '
                   'marks), solid (a blot), round (a true circle: a cup\'s ring, a coin), letter (a 1 or 0 in a word of letters), '
                   'texture (a blob among pieces read as no digit all round it: a carpet, fabric), '
                   'repeated (the same mark over and over: a column of them each alone in its line, or one piece: '
                   'a spiral binding\'s loops, a margin cut into 1s), '
                   'small (under half the digits\' height: a dot, a dash) or line (a long thin line: a pen, a ruler).')
@click.option("--save", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Write annotated images to DIR; for --video/--camera an annotated .avi, plus the live window's snapshots.")
@click.option("--debug", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="For images: write one PNG per picture to DIR showing each stage (ink map, stroke mask, candidates, "
                   "lines, the 28x28 inputs with the model's answers), to see why a photo read as it did.")
@click.option("--save-crops", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="For images: write each digit read as DIR/<label>/<picture>-<n>.png (its crop from the picture) and "
                   "DIR/28x28/<label>/<picture>-<n>.png (what the model saw); set-aside candidates go to DIR/set-aside/. "
                   "Check the labels, and the <label> folders are an ImageFolder for digits-train --data.")
@click.option("--show/--no-show", default=None,
              help="Live window for --camera/--video. Default: on when a display is there; --no-show forces headless.")
@click.option("--serve", type=ServeAddress(), default=None, metavar="[HOST:]PORT",
              help="For --camera/--video: serve a browser view (the annotated live picture and the current reading, "
                   "read-only) at http://HOST:PORT/, for a headless device over SSH. HOST defaults to 127.0.0.1 (this "
                   "machine only); 0.0.0.0 lets the network in. JSON at /reading.json, a picture at /snapshot.jpg.")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, metavar="N", help="Stop a video or camera after N frames.")
@click.option("--vid-stride", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="For a video file: read every Nth frame (the others are skipped without decoding).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="onnxruntime threads.")
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True,
              help="What runs the model: onnxruntime, or OpenCV's dnn module (for 32-bit Raspberry Pi OS and other "
                   "places without onnxruntime: the same answers, slower). auto: onnxruntime when it is installed.")
@click.option("--doctor", is_flag=True, help="Describe this device (CPU, onnxruntime, OpenCV, display, cameras) and exit.")
def main(inputs: tuple[str, ...], camera: int | None, video: str | None, model: Path | None, min_confidence: float,
         as_json: bool, save: Path | None, debug: Path | None, save_crops: Path | None, show: bool | None,
         serve: tuple[str, int] | None, max_frames: int | None, vid_stride: int, threads: int, backend: str,
         doctor: bool) -> None:
    """Read the handwritten digits in photos, folders, video or a live camera.

    Each picture may hold zero, one or several digits, dark on light or light on dark;
    the number comes back as text in reading order, with each digit's label, confidence
    and box. Needs only OpenCV and onnxruntime (or OpenCV alone, with --backend opencv); never torch.

    \b
    Examples:
      digits-edge photo.jpg scans/ 'shots/*.png'
      digits-edge https://example.com/note.jpg      (http(s) image, 15 s timeout, 256 MiB cap)
      cat photo.jpg | digits-edge -                  (one image from standard input)
      digits-edge --json --save annotated/ photo.jpg
      digits-edge --video clip.mp4 --max-frames 100
      digits-edge --camera 0            (window if there is a display, else headless)
      digits-edge --camera 0 --serve 8080   (then open http://127.0.0.1:8080/; over SSH: ssh -L 8080:localhost:8080 pi)
      digits-edge --doctor

    Live window keys: q or Esc quits, space pauses, s saves a snapshot. Video and
    camera readings are smoothed over the last 5 frames ("stable" in --json, with
    "frame"); a camera always gives its newest frame, never a queued stale one.

    Exit codes: 0 all read; 1 some inputs could not be read or written (each reported on one
    line), or a video/stream broke off; 2 bad usage, a model that does not fit, or a
    camera/video that does not open; 130 Ctrl-C; 143 SIGTERM.
    """
    if doctor:
        if inputs or camera is not None or video is not None:
            raise click.UsageError("--doctor describes this device and reads nothing; run it without inputs")
        from .doctor import report

        for line in report():
            click.echo(line)
        return
    chosen = [name for name, given in (("IMAGE", bool(inputs)), ("--camera", camera is not None), ("--video", video is not None)) if given]
    if len(chosen) != 1:
        raise click.UsageError("give images/folders/globs, --camera N or --video PATH (exactly one of them)"
                               if not chosen else f"choose one input kind, not {' and '.join(chosen)}")
    if serve is not None and inputs:
        raise click.UsageError("--serve is for --camera and --video; for images use --save")
    for flag, folder in (("--debug", debug), ("--save-crops", save_crops)):
        if folder is not None and not inputs:
            raise click.UsageError(f"{flag} is for images and folders; for --video/--camera use --save")
    for flag, folder in (("--save", save), ("--debug", debug), ("--save-crops", save_crops)):
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(f"{flag} {folder}: cannot create the folder ({exc.strerror or exc})") from None

    from .reader import DigitReader
    from .session import DigitModel

    onnx_model = DigitModel(model, threads=threads, backend=backend)
    if onnx_model.fallback_note:
        err(onnx_model.fallback_note)
    reader = DigitReader(onnx_model, min_confidence=min_confidence)

    if inputs:
        if show:
            raise click.UsageError("--show is for --camera and --video; use --save to keep annotated images")
        from .images import read_files

        failed = read_files(list(inputs), reader, as_json=as_json, save=save, debug=debug, crops=save_crops,
                            emit=click.echo, log=err)
        sys.exit(1 if failed else 0)
    from .live import read_live
    from .sources import is_stream

    spec = camera if camera is not None else video
    if vid_stride > 1 and is_stream(spec):
        raise click.UsageError("--vid-stride is for video files; a camera or stream always gives its newest frame")
    sys.exit(read_live(spec, reader, as_json=as_json, save=save, show=show, max_frames=max_frames, stride=vid_stride,
                       serve=serve, emit=click.echo, log=err))


def err(line: str) -> None:
    click.echo(line, err=True)


if __name__ == "__main__":
    main()
