# Two entry points a fresh machine needs: `make demo` and `make test`.
# torch is installed first and pinned: the CPU build lies on this kind of machine's disk,
# and any other torch request pulls a multi-gigabyte CUDA build.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install install-dev demo test lint typecheck unit bench clean

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

bench: install-dev
	$(BIN)/python benchmarks/turn_latency.py --out benchmarks/results/turn_latency.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
