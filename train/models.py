"""The model zoo. A new architecture is one class decorated with @register.

Every model takes the contract's input already normalised ((x - mean) / std, done by the
training loop or inside the exported graph) and returns logits [N, 10].
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch
from torch import nn

from digits.edge.contract import CLASSES, IMAGE_SIZE, MNIST_MEAN, MNIST_STD
from digits.edge.errors import ConfigError, first_line

from .data import to_float

NUM_CLASSES = len(CLASSES)
ARCHITECTURES: dict[str, type[nn.Module]] = {}


def register(name: str, *, augment: bool) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Add a model class to the registry; `augment` is its default for training. The first line
    of the class's docstring is what `digits-train --help` says of it."""

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        if name in ARCHITECTURES:
            raise ValueError(f"architecture {name!r} registered twice")
        cls.default_augment = augment
        ARCHITECTURES[name] = cls
        return cls

    return decorate


def architecture_help() -> str:
    """'mlp (784-256-10, the first network of most tutorials), ...': the zoo as --arch's help lists it."""
    return ", ".join(f"{name} ({(cls.__doc__ or '').strip().splitlines()[0].rstrip('.')})" for name, cls in ARCHITECTURES.items())


def build_model(arch: str, *, reject: bool = False, **config) -> nn.Module:
    """A zoo model; with `reject`, its last layer gets one more output: the not-a-digit class."""
    if arch not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")
    try:
        with warnings.catch_warnings():  # torch warns about zero-size layers; the check below refuses them
            warnings.simplefilter("ignore")
            model = ARCHITECTURES[arch](**config)
    except TypeError:
        raise ConfigError(f"architecture {arch!r} does not take options {sorted(config)}") from None
    except (ValueError, RuntimeError) as exc:  # torch refuses the layer sizes (width=0, width=-1, dropout=2)
        raise ConfigError(f"{arch} cannot be built with {config}: {first_line(exc)}") from None
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE))
    except RuntimeError as exc:  # sizes torch accepts at construction but that cannot run (width=0)
        raise ConfigError(f"{arch} cannot be built with {config}: {first_line(exc)}") from None
    model.train()
    if reject:
        add_reject_output(model)
    return model


def add_reject_output(model: nn.Module) -> None:
    """Widen the model's last affine layer by one output (index REJECT_INDEX), for any zoo model:
    all of them end in the nn.Linear that makes the 10 logits."""
    parent, name, last = None, "", None
    for module in model.modules():
        for child_name, child in module.named_children():
            if isinstance(child, nn.Linear):
                parent, name, last = module, child_name, child
    if last is None or last.out_features != NUM_CLASSES:
        raise ConfigError(f"{type(model).__name__} does not end in a {NUM_CLASSES}-output affine layer")
    setattr(parent, name, nn.Linear(last.in_features, NUM_CLASSES + 1, bias=last.bias is not None))
    model.reject = True


def has_reject_output(model: nn.Module) -> bool:
    return bool(getattr(model, "reject", False))


class _MLP(nn.Module):
    """A fully connected network through `sizes`, ReLU between layers, logits out (no ReLU or
    softmax after the last layer)."""

    sizes: tuple[int, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in zip(self.sizes, self.sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.net = nn.Sequential(*layers[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register("mlp", augment=False)
class MLP(_MLP):
    """784-256-10, the first network of most tutorials."""

    sizes = (IMAGE_SIZE * IMAGE_SIZE, 256, NUM_CLASSES)


@register("deep-mlp", augment=False)
class DeepMLP(_MLP):
    """784-400-200-100-10, a deeper fully connected network."""

    sizes = (IMAGE_SIZE * IMAGE_SIZE, 400, 200, 100, NUM_CLASSES)


@register("mlp4", augment=False)
class MLP4(_MLP):
    """784-256-128-64-10, four affine layers."""

    sizes = (IMAGE_SIZE * IMAGE_SIZE, 256, 128, 64, NUM_CLASSES)


@register("simple-cnn", augment=True)
class SimpleCNN(nn.Module):
    """conv 30x5x5 - relu - maxpool 2 - affine 100 - relu - affine 10."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(30 * 12 * 12, 100), nn.ReLU(), nn.Linear(100, NUM_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register("lenet5", augment=True)
class LeNet5(nn.Module):
    """LeNet-5, the 28x28 digit padded to the 32x32 input it was designed for."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, NUM_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _conv_bn(n_in: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(n_in, n_out, 3, padding=1, bias=False), nn.BatchNorm2d(n_out), nn.ReLU())


@register("digitnet", augment=True)
class DigitNet(nn.Module):
    """ours for the edge: three 3x3 conv-BN-ReLU stages and one affine layer, 4.3 M multiply-adds.

    Channels double as the resolution halves, so each stage costs about the same; BatchNorm
    folds into the convolutions at export, so the edge pays only for the convolutions.
    width=24 is 4.3 M multiply-adds and ~77 us per digit in onnxruntime on one thread;
    width=16 is the 2.0 M variant (~38 us), about 0.05 points less accurate.
    """

    def __init__(self, width: int = 24, dropout: float = 0.2) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _conv_bn(1, width), nn.MaxPool2d(2),
            _conv_bn(width, 2 * width), nn.MaxPool2d(2),
            _conv_bn(2 * width, 4 * width),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(4 * width * 7 * 7, NUM_CLASSES))
        self.config = {"width": width, "dropout": dropout}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def model_config(model: nn.Module) -> dict:
    """The constructor arguments that rebuild `model` (empty for fixed architectures)."""
    return dict(getattr(model, "config", {}))


def count_multiply_adds(model: nn.Module) -> int:
    """Multiply-adds of one forward pass on one digit (convolutions and linear layers)."""
    total = 0

    def hook(module: nn.Module, inputs, output) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += output[0].numel() * k
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Contract input in [0, 1] -> what the networks see; the exported graph does the same."""
    return (x - MNIST_MEAN) / MNIST_STD


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Logits for uint8 images [N, 28, 28]."""
    model.eval()
    return torch.cat([model(standardize(to_float(chunk))).float() for chunk in images.split(batch_size)])
