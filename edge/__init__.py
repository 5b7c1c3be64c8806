"""digits.edge: read handwritten digits with onnxruntime + OpenCV, never torch."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("digits-toolkit")  # one version: pyproject.toml's, from the installed metadata
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
