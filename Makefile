# imsim: every target does its own set-up on a fresh machine.
#   make demo   create .venv, install torch (CPU) and imsim, run the main job
#   make test   the same plus the dev, dask and onnx extras, then ruff check and pytest
#               (on JOBS=2 worker processes)
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
ARGS   ?=
JOBS   ?= 2
BIN    := $(VENV)/bin

.PHONY: demo test install install-dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first: the pinned CPU build installs from a local file in seconds,
# an unpinned torch would pull a multi-GB CUDA build.
$(VENV)/.torch: $(BIN)/python
	$(BIN)/pip install -q "$(TORCH)"
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml setup.py
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.torch pyproject.toml setup.py
	$(BIN)/pip install -q -e ".[dev,dask,onnx]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# real MNIST when the shared copy sits beside the checkout (ARGS can override it)
DEMO_DATA := $(if $(wildcard ../shared/datasets/mnist/train-images-idx3-ubyte.gz),--data-dir ../shared/datasets/mnist)

demo: $(VENV)/.installed
	$(BIN)/imsim demo $(DEMO_DATA) $(ARGS)

# pytest-xdist: whole modules spread over JOBS worker processes (a module's fixtures are
# made once); JOBS=0 runs in this process
test: $(VENV)/.installed-dev
	$(BIN)/ruff check
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadscope $(ARGS)

$(VENV)/.installed-bench: $(VENV)/.torch pyproject.toml setup.py
	$(BIN)/pip install -q -e ".[bench]"
	touch $@

bench: $(VENV)/.installed $(VENV)/.installed-bench
	$(BIN)/python benchmarks/search.py

clean:
	rm -rf $(VENV) build src/*.egg-info imsim-demo
