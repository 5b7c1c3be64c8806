"""digits.export: checkpoint -> ONNX, with a parity gate against torch on real digits."""
