"""Data: MNIST or an ImageFolder tree, held in memory as uint8 tensors on the training
device, batched by index and augmented a whole batch at a time on that device."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from digits.edge.contract import CLASSES, DIGIT_BOX
from digits.edge.errors import DigitsError
from digits.edge.normalize import normalize_digit
from digits.edge.finder import dark_ink_guess, to_grey
from digits.edge.sources import IMAGE_SUFFIXES, read_image

from .paths import DATA_ENV, DEFAULT_DATA_ROOT

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class DataError(DigitsError):
    """The data could not be found or read; the message is one line for the user."""


@dataclass
class Split:
    images: torch.Tensor  # uint8 [N, 28, 28], white ink on black
    labels: torch.Tensor  # int64 [N]

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> "Split":
        return Split(self.images.to(device), self.labels.to(device))

    def head(self, n: int | None) -> "Split":
        return self if n is None else Split(self.images[:n], self.labels[:n])


def is_image_folder(root: Path) -> bool:
    """An ImageFolder tree: train/ and test/ (an error names the one that is missing)."""
    return (root / "train").is_dir() or (root / "test").is_dir()


def has_mnist(root: Path) -> bool:
    raw = root / "MNIST" / "raw"
    return all((raw / name).is_file() or (raw / f"{name}.gz").is_file() for name in MNIST_FILES)


def load_data(root: Path) -> tuple[Split, Split]:
    """(train, test) from an ImageFolder tree if `root` holds one, else MNIST under `root`.

    MNIST is downloaded only into the default cache (~/.cache/digits/mnist): a folder the user
    named (--data, $DIGITS_DATA) must already hold MNIST or an ImageFolder, and nothing is ever
    created under it. A mistyped path is an error, not a download.
    """
    if is_image_folder(root):
        return load_image_folder(root)
    if root.resolve() != DEFAULT_DATA_ROOT.resolve() and not has_mnist(root):
        what = "does not exist" if not root.exists() else "is not a folder" if not root.is_dir() else \
            "holds neither MNIST (MNIST/raw/*-ubyte) nor an ImageFolder (train/0-9/ and test/0-9/)"
        raise DataError(f"{root}: {what}; leave out --data and ${DATA_ENV} to download MNIST into {DEFAULT_DATA_ROOT}")
    return load_mnist(root)


def load_mnist(root: Path, download: bool = True) -> tuple[Split, Split]:
    """torchvision's MNIST: finds the files under `root`, downloads them when absent."""
    from torchvision.datasets import MNIST

    if not download and not has_mnist(root):
        raise DataError(f"MNIST not found under {root} (MNIST/raw/*-ubyte)")
    try:
        splits = [MNIST(root=str(root), train=train, download=download) for train in (True, False)]
    except Exception as exc:  # torchvision raises several types for network and file faults
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())[:300] or type(exc).__name__
        hint = f" (offline? point --data or ${DATA_ENV} at a copy of MNIST)" if download else ""
        raise DataError(f"cannot load MNIST under {root}: {reason}{hint}") from None
    return tuple(Split(s.data.clone(), s.targets.clone().long()) for s in splits)  # type: ignore[return-value]


def load_image_folder(root: Path) -> tuple[Split, Split]:
    """DIR/train/<digit>/*.png and DIR/test/<digit>/*.png, as the classic tutorials lay it out.

    Each image is brought to the model contract by the edge's own normalisation: grey,
    white ink on black (dark-on-light images are inverted), fitted and centred in 28x28.
    """
    missing = [name for name in ("train", "test") if not (root / name).is_dir()]
    if missing:
        raise DataError(f"{root}: an ImageFolder tree needs train/ and test/, each with folders 0-9; {' and '.join(missing)}/ is missing")
    return _read_split(root / "train"), _read_split(root / "test")


SCAN_SIDE = 32  # a digit crop no larger than this each way is a scan the size of USPS's (16) or MNIST's (28)


def _dark_ink(grey: np.ndarray) -> bool:
    """Whether a digit crop is dark ink on light paper. The edge's guess (dark_ink_guess) needs the
    ink to be a minority of each neighbourhood; a scan the size of USPS's is mostly its digit, and
    there it guessed 31 of the 300 USPS scans in ../shared light on dark (as 25 of 500 rendered
    16x16 scans), so a fine-tune learned them inverted. In so small a crop the paper still covers
    most pixels, so its median, against the middle of the range, decides (7 of 300 wrong)."""
    if max(grey.shape) <= SCAN_SIDE:
        return float(np.median(grey)) > (int(grey.min()) + int(grey.max())) / 2
    return dark_ink_guess(grey)


def _read_split(folder: Path) -> Split:
    images, labels = [], []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if not class_dir.name.isdigit() or int(class_dir.name) not in CLASSES:
            raise DataError(f"{class_dir}: class folders must be named 0-9")
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            # Decoded and oriented as the edge does (EXIF, transparency), ink polarity by its rule.
            grey = to_grey(read_image(path))
            if _dark_ink(grey):
                grey = 255 - grey
            images.append(np.round(normalize_digit(grey) * 255).astype(np.uint8))
            labels.append(int(class_dir.name))
    if not images:
        raise DataError(f"{folder}: no images in class folders 0-9")
    return Split(torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.long))


def batch_indices(n: int, batch_size: int, generator: torch.Generator | None, device: torch.device) -> Iterator[torch.Tensor]:
    """Index batches over n items, shuffled when a generator is given; the last may be short."""
    if generator is None:
        order = torch.arange(n, device=device)
    else:
        order = torch.randperm(n, generator=generator, device=generator.device).to(device)
    yield from order.split(batch_size)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B, 28, 28] -> float [B, 1, 28, 28] in [0, 1], the model contract's input."""
    return images.unsqueeze(1).float().div_(255.0)


@dataclass(frozen=True)
class Augmentation:
    """Random distortions of whole batches that teach an MNIST model to read real photos."""

    rotate_deg: float = 12.0
    scale: float = 0.15
    shift: float = 0.12  # fraction of the image size
    shear_deg: float = 10.0
    thickness_p: float = 0.3  # chance of thinning or thickening the strokes
    blur_p: float = 0.2
    elastic_p: float = 0.0  # chance of a smooth random warp (a hand's wobble: Simard et al.'s elastic distortion)
    elastic: float = 0.15  # its largest displacement, as a fraction of the image's half-width (0.15: 2.1 px)
    refit_p: float = 0.0  # chance of fitting the distorted digit back into the frame the reader gives it
    degrade_p: float = 0.0  # chance of a stronger blur (sigma in degrade_sigma px), half of them bolder first
    degrade_sigma: tuple[float, float] = (0.6, 1.4)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        b, dev = x.shape[0], x.device

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return torch.rand(b, generator=generator, device=generator.device).to(dev) * (hi - lo) + lo

        angle = uniform(-1, 1) * math.radians(self.rotate_deg)
        shear = uniform(-1, 1) * math.radians(self.shear_deg)
        scale = 1 + uniform(-1, 1) * self.scale
        tx, ty = uniform(-1, 1) * self.shift * 2, uniform(-1, 1) * self.shift * 2
        cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
        # theta maps output to input coordinates: rotation @ shear, divided by the scale.
        theta = torch.stack(
            [torch.stack([cos, cos * tan - sin, tx], 1), torch.stack([sin, sin * tan + cos, ty], 1)], 1
        ) / scale.view(b, 1, 1)
        theta[:, :, 2] *= scale.view(b, 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        if self.elastic_p > 0:  # a smooth displacement field: random offsets on a 4x4 lattice, interpolated
            lattice = (torch.rand((b, 2, 4, 4), generator=generator, device=generator.device).to(dev) * 2 - 1) * self.elastic
            lattice = lattice * (uniform(0, 1) < self.elastic_p).view(b, 1, 1, 1)
            field = F.interpolate(lattice, size=x.shape[-2:], mode="bicubic", align_corners=True)
            grid = grid + field.permute(0, 2, 3, 1)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

        pick = uniform(0, 1)
        thicker = F.max_pool2d(x, 3, stride=1, padding=1)
        thinner = -F.max_pool2d(-x, 2, stride=1, padding=0)
        thinner = F.pad(thinner, (0, 1, 0, 1))
        x = torch.where((pick < self.thickness_p / 2).view(b, 1, 1, 1), thicker, x)
        x = torch.where(((pick >= self.thickness_p / 2) & (pick < self.thickness_p)).view(b, 1, 1, 1), thinner, x)

        kernel = torch.tensor([0.25, 0.5, 0.25], device=dev)
        kernel = (kernel[:, None] * kernel[None, :]).view(1, 1, 3, 3).to(x.dtype)
        blurred = F.conv2d(x, kernel, padding=1)
        x = torch.where((uniform(0, 1) < self.blur_p).view(b, 1, 1, 1), blurred, x)
        x = x.clamp_(0, 1)
        if self.degrade_p > 0:  # (no draws when off: the recipes before it, and their resumes, stay exact)
            x = torch.where((uniform(0, 1) < self.degrade_p).view(b, 1, 1, 1), degraded(x, uniform(*self.degrade_sigma), uniform(0, 1) < 0.5), x)
        if self.refit_p > 0:
            x = torch.where((uniform(0, 1) < self.refit_p).view(b, 1, 1, 1), refit(x), x)
        return x


def degraded(x: torch.Tensor, sigma: torch.Tensor, bolder: torch.Tensor) -> torch.Tensor:
    """Digits [B,1,H,W] as an out-of-focus camera and a marker show them: those where `bolder` has its
    strokes widened by a 3x3 maximum first, then each blurred by a Gaussian of its own `sigma` (pixels),
    then its strongest ink brought back to 1, as the reader's normalisation brings a candidate's."""
    b = x.shape[0]
    x = torch.where(bolder.view(b, 1, 1, 1), F.max_pool2d(x, 3, stride=1, padding=1), x)
    taps = torch.arange(-3, 4, device=x.device, dtype=x.dtype)
    kernels = torch.exp(-taps[None] ** 2 / (2 * sigma.to(x.dtype)[:, None] ** 2))
    kernels = kernels / kernels.sum(dim=1, keepdim=True)  # [B, 7]
    rows = F.conv2d(F.pad(x.transpose(0, 1), (3, 3, 0, 0)), kernels.view(b, 1, 1, 7), groups=b)
    blurred = F.conv2d(F.pad(rows, (0, 0, 3, 3)), kernels.view(b, 1, 7, 1), groups=b).transpose(0, 1)
    return (blurred / blurred.amax(dim=(2, 3), keepdim=True).clamp_min(1e-6)).clamp(0, 1)


def refit(x: torch.Tensor, ink: float = 0.1) -> torch.Tensor:
    """Each image [B, 1, 28, 28] framed as the reader frames a candidate (edge/normalize.py): its ink's
    bounding box (pixels above `ink`) scaled to fit 20x20, its centre of mass at the centre, its peak at 1.
    A rotated, sheared or shrunk training digit otherwise reaches the model in a frame no candidate has."""
    b, _, h, w = x.shape
    rows, cols = x[:, 0].amax(2) > ink, x[:, 0].amax(1) > ink  # [B, H], [B, W]
    index_h, index_w = torch.arange(h, device=x.device), torch.arange(w, device=x.device)

    def extent(mask: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        first = torch.where(mask, index, len(index)).amin(1)
        last = torch.where(mask, index, -1).amax(1)
        return (last - first + 1).clamp(min=1)

    size = torch.maximum(extent(rows, index_h), extent(cols, index_w)).to(x.dtype)
    scale = DIGIT_BOX / size  # the ink box's longer side becomes the model's 20-px digit box
    mass = x[:, 0].sum((1, 2)).clamp(min=1e-6)
    cy = (x[:, 0].sum(2) * index_h.to(x.dtype)).sum(1) / mass
    cx = (x[:, 0].sum(1) * index_w.to(x.dtype)).sum(1) / mass
    # Output pixel p maps to input pixel (p - 13.5) / scale + centre of mass; in affine_grid's [-1, 1]
    # coordinates (align_corners=False, image side n) that is u / scale + (2 * centre + 1) / n - 1.
    zero = torch.zeros_like(scale)
    theta = torch.stack([torch.stack([1 / scale, zero, (2 * cx + 1) / w - 1], 1),
                         torch.stack([zero, 1 / scale, (2 * cy + 1) / h - 1], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    peak = out.amax((1, 2, 3), keepdim=True)
    empty = (rows.sum(1) == 0).view(b, 1, 1, 1)  # no ink: left as it was
    return torch.where(empty, x, out / peak.clamp(min=1e-6)).clamp_(0, 1)

