# Yuqing Radar — two commands on a fresh machine:
#   make demo   create .venv, install, run the main job on embedded defaults
#   make test   the whole suite (ruff + pytest, real Kafka broker and chDB)

PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint imports bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/yuqing run --input demo

lint: $(STAMP)
	$(BIN)/ruff check .

# The import contracts of pyproject.toml, on the installed layout: the root folders
# dataflows/ and sinks/ are staged as yuqing.dataflows and yuqing.sinks for the graph.
imports: $(STAMP)
	$(BIN)/lint-imports --no-cache

test: $(STAMP) lint imports
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python loadtest/bench_flow.py
	$(BIN)/python loadtest/bench_report.py
	$(BIN)/python loadtest/bench_latency.py

clean:
	rm -rf var build *.egg-info .pytest_cache .ruff_cache
