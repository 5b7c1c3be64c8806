"""digits-edge: read handwritten numbers from images, folders, video or a live camera."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .errors import FiniteFloat, InputError, OneLineCommand


@click.command(cls=OneLineCommand)
@click.argument("inputs", nargs=-1, metavar="[IMAGE|FOLDER|GLOB|URL|-]...")
@click.option("--camera", type=click.IntRange(min=0), default=None, metavar="N", help="Read webcam N live (0 is the first).")
@click.option("--video", type=str, default=None, metavar="PATH|URL", help="Read a video file or a stream URL (rtsp://, http://).")
@click.option("--model", type=click.Path(path_type=Path), default=None,
              help="An ONNX model from digits-export. Default: the shipped artifacts/digits.onnx.")
@click.option("--min-confidence", type=FiniteFloat(0, 1), default=0.5, show_default=True,
              help="Candidates whose best digit is less likely than this are set aside (as are those a model with the "
                   "not-a-digit class calls not a digit); --json lists them under \"rejected\".")
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object per input (per frame for video/camera): {"source", "text", "digits": '
                   '[{"label", "confidence", "box": [x, y, w, h]}], "rejected": [{"box", "label", "confidence", '
                   '"reason"}], "ms"}; a rejected label is null when the model called it not a digit.')
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
@click.option("--max-frames", type=click.IntRange(min=1), default=None, metavar="N", help="Stop a video or camera after N frames.")
@click.option("--vid-stride", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="For a video file: read every Nth frame (the others are skipped without decoding).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="onnxruntime threads.")
@click.option("--doctor", is_flag=True, help="Describe this device (CPU, onnxruntime, OpenCV, display, cameras) and exit.")
def main(inputs: tuple[str, ...], camera: int | None, video: str | None, model: Path | None, min_confidence: float,
         as_json: bool, save: Path | None, debug: Path | None, save_crops: Path | None, show: bool | None,
         max_frames: int | None, vid_stride: int, threads: int, doctor: bool) -> None:
    """Read the handwritten digits in photos, folders, video or a live camera.

    Each picture may hold zero, one or several digits, dark on light or light on dark;
    the number comes back as text in reading order, with each digit's label, confidence
    and box. Needs only onnxruntime and OpenCV (no torch).

    \b
    Examples:
      digits-edge photo.jpg scans/ 'shots/*.png'
      digits-edge https://example.com/note.jpg      (http(s) image, 15 s timeout, 256 MiB cap)
      cat photo.jpg | digits-edge -                  (one image from standard input)
      digits-edge --json --save annotated/ photo.jpg
      digits-edge --video clip.mp4 --max-frames 100
      digits-edge --camera 0            (window if there is a display, else headless)
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

    reader = DigitReader(DigitModel(model, threads=threads), min_confidence=min_confidence)

    if inputs:
        if show:
            raise click.UsageError("--show is for --camera and --video; use --save to keep annotated images")
        failed = read_files(list(inputs), reader, as_json=as_json, save=save, debug=debug, crops=save_crops)
        sys.exit(1 if failed else 0)
    live = camera is not None or "://" in str(video)
    if vid_stride > 1 and live:
        raise click.UsageError("--vid-stride is for video files; a camera or stream always gives its newest frame")
    read_live(camera if camera is not None else video, reader, as_json=as_json, save=save, show=show,
              max_frames=max_frames, live=live, stride=vid_stride)


def read_files(specs: list[str], reader, *, as_json: bool, save: Path | None, debug: Path | None = None,
               crops: Path | None = None) -> int:
    """Read each image; returns how many could not be read (or their annotated copy not written)."""
    from .annotate import annotate
    from .output import OutputError, SaveNames, describe, write_image
    from .reader import NOTHING_READ
    from .sources import SourceError, expand_inputs, read_image, read_remote

    failed = 0
    save_name = SaveNames(save, ".annotated.png") if save is not None else None
    debug_name = SaveNames(debug, ".debug.png") if debug is not None else None
    crop_name = SaveNames(crops, "") if crops is not None else None
    for source, path, error in expand_inputs(specs):
        if error is None:
            try:
                image = read_image(path) if path is not None else read_remote(source)
            except SourceError as exc:
                error = str(exc)
        if error is not None:
            failed += 1
            click.echo(f"error: {error}", err=True)
            if as_json:
                click.echo(json.dumps({"source": source, "error": error}))
            continue
        trace: list[dict] | None = [] if debug_name is not None else None
        reading = reader.read(image, trace=trace)
        if as_json:
            click.echo(json.dumps(reading.as_dict(source)))
        else:
            details = ", ".join(f"{d.label} ({100 * d.confidence:.0f}%)" for d in reading.digits)
            aside = f"   ({len(reading.rejected)} set aside)" if reading.rejected else ""
            click.echo(f"{describe(source)}: {reading.text or NOTHING_READ}" + (f"   [{details}]" if details else "") + aside
                       + f"   {reading.ms:.1f} ms")
        outputs = []  # (flag, what writes it) for each output asked for
        if save_name is not None:
            outputs.append(("--save", lambda: write_image(save_name(source), annotate(image, reading))))
        if crop_name is not None:
            outputs.append(("--save-crops", lambda: save_crops(crops, crop_name(source).name, image, reading)))
        if debug_name is not None:
            from .debug import debug_sheet

            outputs.append(("--debug", lambda: write_image(debug_name(source),
                                                           debug_sheet(image, reading, trace, describe(Path(source).name)))))
        for flag, write in outputs:
            try:
                write()
            except OutputError as exc:
                failed += 1
                click.echo(f"error: {flag}: {exc}", err=True)
    return failed


def save_crops(folder: Path, stem: str, image, reading) -> None:
    """Each digit's crop (with a margin) under folder/<label>/ and its 28x28 input under
    folder/28x28/<label>/; set-aside candidates under folder/set-aside/."""
    import numpy as np

    from .output import OutputError, describe, write_image

    def write(path: Path, picture) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{describe(path.parent)}: cannot create the folder ({exc.strerror or exc})") from None
        write_image(path, picture)

    items = [(str(d.label), d) for d in reading.digits] + [("set-aside", r) for r in reading.rejected]
    for n, (label, item) in enumerate(items, start=1):
        x, y, w, h = item.box
        m = max(2, round(0.15 * max(w, h)))
        crop = image[max(0, y - m) : y + h + m, max(0, x - m) : x + w + m]
        write(folder / label / f"{stem}-{n}.png", crop)
        if label != "set-aside":
            write(folder / "28x28" / label / f"{stem}-{n}.png", np.round(item.image * 255).astype(np.uint8))


def read_live(spec: int | str, reader, *, as_json: bool, save: Path | None, show: bool | None,
              max_frames: int | None, live: bool, stride: int = 1) -> None:
    """Read a camera, stream or video file until it ends, --max-frames, q, or Ctrl-C; exits 1 when
    the source broke off (a truncated file, a stream that stopped delivering)."""
    from .errors import Terminated
    from .live import read_stream
    from .output import describe
    from .sources import FileFrames, LiveFrames, has_display, open_capture

    display = has_display()
    if show and not display:
        raise InputError("--show: no display answers here (no $DISPLAY/$WAYLAND_DISPLAY, a stale one, or OpenCV built "
                         "without a GUI); use --no-show")
    show = display if show is None else show
    name = f"camera {spec}" if isinstance(spec, int) else describe(spec)
    log = lambda message: click.echo(message, err=True)  # noqa: E731
    first = open_capture(spec)
    frames = LiveFrames(lambda: open_capture(spec), first=first, log=log) if live else FileFrames(first, stride)
    if not show:
        log(f"reading {name} headless (Ctrl-C stops)")
    try:
        count = read_stream(frames, reader, source=name, emit=click.echo, as_json=as_json, show=show,
                            max_frames=max_frames, save_dir=save)
    except KeyboardInterrupt as exc:
        log(f"stopped ({'terminated' if isinstance(exc, Terminated) else 'Ctrl-C'})")
        raise
    finally:
        frames.close()
    log(f"{name}: {count} frames read")
    if frames.problem:
        if not live:  # LiveFrames has said it already
            log(f"error: {name}: {frames.problem}")
        sys.exit(1)


if __name__ == "__main__":
    main()
