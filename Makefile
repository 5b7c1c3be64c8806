# Two commands on a fresh machine (see README):
#   make demo   install the edge runtime and read the sample photos with the shipped model
#   make test   install everything the tests need and run them
PYTHON ?= python3
VENV ?= .venv
EDGE_VENV ?= .venv-edge
# MNIST: $DIGITS_DATA when set, else ~/.cache/digits/mnist (the rule lives in train/paths.py)

.PHONY: demo test test-fast test-edge test-oldest pi-check bench real-photos default-model samples clean

$(EDGE_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(EDGE_VENV)
	$(EDGE_VENV)/bin/pip install -q --upgrade pip
	$(EDGE_VENV)/bin/pip install -q .
	touch $@

# pytest and onnx for the edge tests, added to the base install only when they run.
$(EDGE_VENV)/.installed-test: $(EDGE_VENV)/.installed
	$(EDGE_VENV)/bin/pip install -q '.[test]'
	touch $@

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[train,test]'
	touch $@

demo: $(EDGE_VENV)/.installed
	$(EDGE_VENV)/bin/digits-edge artifacts/samples

test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -q

# The inner loop: everything not marked slow.
test-fast: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -q -m "not slow"

# The edge tests in a base install (no torch), as a Raspberry Pi has it.
test-edge: $(EDGE_VENV)/.installed-test
	@if $(EDGE_VENV)/bin/python -c 'import torch' 2>/dev/null; then echo 'torch is installed in $(EDGE_VENV)'; exit 1; fi
	$(EDGE_VENV)/bin/python -m pytest -q tests/test_edge.py tests/test_reader_photos.py tests/test_faults_edge.py tests/test_api.py tests/test_serve.py

# The edge tests with the oldest versions pyproject.toml admits (numpy, onnxruntime, OpenCV, click):
# what a distribution or an older Pi image has.
OLDEST_VENV ?= .venv-oldest
$(OLDEST_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/pip install -q $$($(PYTHON) .ci/oldest.py)
	$(OLDEST_VENV)/bin/pip install -q --no-deps .
	touch $@

test-oldest: $(OLDEST_VENV)/.installed
	$(OLDEST_VENV)/bin/python -c 'import numpy, cv2, onnxruntime, click; print("oldest:", "numpy", numpy.__version__, "OpenCV", cv2.__version__, "onnxruntime", onnxruntime.__version__, "click", click.__version__)'
	$(OLDEST_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_edge.py tests/test_reader_photos.py tests/test_faults_edge.py tests/test_api.py tests/test_serve.py

# The edge on emulated 64-bit ARM (Debian bookworm arm64 under qemu): installs the base from a wheel
# there, compares its readings of the samples with this machine's, runs the edge tests there. Needs
# root and apt's qemu-user-static binfmt-support debootstrap; the root is cached in ~/.cache/digits.
pi-check: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/pi_check.py

bench: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/train_bench.py
	$(VENV)/bin/python benchmarks/export_bench.py
	$(VENV)/bin/python benchmarks/edge_bench.py
	$(VENV)/bin/python benchmarks/not_a_digit.py
	$(VENV)/bin/python benchmarks/serve_bench.py
	$(VENV)/bin/python benchmarks/real_photos.py

# The reader on ../shared/real-photos (read from there, never copied into the project).
real-photos: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/real_photos.py --wrong

# Rebuilds the shipped model from scratch: train, export through the parity gate, model card.
default-model: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/build_default_model.py

samples: $(VENV)/.installed
	$(VENV)/bin/python -m digits.train.render artifacts/samples

clean:
	rm -rf $(VENV) $(EDGE_VENV) $(OLDEST_VENV) build *.egg-info .pytest_cache
