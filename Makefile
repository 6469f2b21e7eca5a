# Two entry points a fresh machine needs: `make demo` and `make test`; `make notebooks` after
# a change that alters what the notebooks print.
# torch is installed first and pinned: the CPU build lies on this kind of machine's disk,
# and any other torch request pulls a multi-gigabyte CUDA build.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install install-dev demo test lint typecheck unit bench notebooks clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[embeddings]"

install-dev: $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"

demo: install
	$(BIN)/sessionstate demo

lint:
	$(BIN)/ruff check langchain_sessionstate tests benchmarks
	$(BIN)/ruff format --check langchain_sessionstate tests benchmarks
	$(BIN)/mypy

test: install-dev lint
	$(BIN)/pytest

# Re-execute every notebook (or NB="01_quickstart 04_look_inside") on a clean kernel and save
# its outputs, normalised as tests/test_notebooks.py compares them; unchanged ones are not
# rewritten. Needs the dev extra (make install-dev) and redis-server for notebook 05.
notebooks: $(BIN)/python
	$(BIN)/python -m tests.notebook_outputs $(NB)

bench: install-dev
	$(BIN)/python benchmarks/turn_latency.py --out benchmarks/results/turn_latency.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
