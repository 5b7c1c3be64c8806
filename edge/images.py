"""Reading pictures (files, folders, globs, URLs, standard input) and writing what the user asked
for beside each reading: annotated images, crops, debug sheets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from .annotate import annotate
from .debug import debug_sheet
from .output import OutputError, SaveNames, describe, write_image
from .reader import NOTHING_READ, DigitReader
from .sources import SourceError, expand_inputs, read_image, read_remote


def read_files(specs: list[str], reader: DigitReader, *, as_json: bool, save: Path | None, debug: Path | None = None,
               crops: Path | None = None, emit: Callable[[str], None], log: Callable[[str], None]) -> int:
    """Read each image; `emit` gets the readings, `log` the errors. Returns how many could not be
    read (or an output asked for could not be written)."""
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
            log(f"error: {error}")
            if as_json:
                emit(json.dumps({"source": source, "error": error}))
            continue
        trace: list[dict] | None = [] if debug_name is not None else None
        reading = reader.read(image, trace=trace)
        if as_json:
            emit(json.dumps(reading.as_dict(source)))
        else:
            details = ", ".join(f"{d.label} ({100 * d.confidence:.0f}%)" for d in reading.digits)
            aside = f"   ({len(reading.rejected)} set aside)" if reading.rejected else ""
            emit(f"{describe(source)}: {reading.text or NOTHING_READ}" + (f"   [{details}]" if details else "") + aside
                 + f"   {reading.ms:.1f} ms")
        outputs = []  # (flag, what writes it) for each output asked for
        if save_name is not None:
            outputs.append(("--save", lambda: write_image(save_name(source), annotate(image, reading))))
        if crop_name is not None:
            outputs.append(("--save-crops", lambda: save_crops(crops, crop_name(source).name, image, reading)))
        if debug_name is not None:
            outputs.append(("--debug", lambda: write_image(debug_name(source),
                                                           debug_sheet(image, reading, trace, describe(Path(source).name)))))
        for flag, write in outputs:
            try:
                write()
            except OutputError as exc:
                failed += 1
                log(f"error: {flag}: {exc}")
    return failed


def save_crops(folder: Path, stem: str, image, reading) -> None:
    """Each digit's crop (with a margin) under folder/<label>/ and its 28x28 input under
    folder/28x28/<label>/; set-aside candidates under folder/set-aside/."""
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
