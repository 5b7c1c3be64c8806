"""digits.edge: read handwritten digits with onnxruntime + OpenCV, never torch.

    from digits.edge import read
    read("photo.jpg")["text"]      # see digits.edge.api
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("digits-toolkit")  # one version: pyproject.toml's, from the installed metadata
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"


__all__ = ["Reader", "read", "__version__"]


def __getattr__(name: str):
    """`from digits.edge import read, Reader` (edge/api.py), imported on first use so that the
    package's other modules (used by training too) do not load onnxruntime with it."""
    if name in ("Reader", "read"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
