"""digits.edge: read handwritten digits with onnxruntime + OpenCV, never torch."""

__version__ = "0.1.0"
