# The quick start is two commands: `make serve` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: serve test unit lint bench bench-full bench-start install install-test clean

$(BIN)/hub: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $(BIN)/hub

$(VENV)/.test-deps: $(BIN)/hub
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/hub
install-test: $(VENV)/.test-deps

## Set up and run the hub on an embedded local Ray (http://127.0.0.1:8000).
serve: install
	$(BIN)/hub serve $(ARGS)

## Set up and run the whole test suite: the JS client's unit tests (Node's runner), then pytest
## (unit, integration on one local Ray, browser tests in Debian's Chromium).
test: install-test
	./scripts/ensure-chromium
	node --test tests/js/
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## ruff (lint and format check) and mypy.
lint: install-test
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/ruff check hub actors jobs tests bench
	$(BIN)/ruff format --check hub actors jobs tests bench
	$(BIN)/mypy hub actors jobs

unit: install-test
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

## Measure POST /api/jobs -> queued / processing / completed on this machine.
bench-start: install
	$(BIN)/python bench/job_start.py $(ARGS)

## Benchmarks, quick mode (a few minutes on 2 cores): job start, fan-out against bare FastAPI.
bench: install
	$(BIN)/python bench/job_start.py --jobs 5
	$(BIN)/python bench/fanout.py --quick
	$(BIN)/python bench/polling.py --quick
	$(BIN)/python bench/connections.py --quick

## The full fan-out run (1,000 clients x 500 messages).
bench-full: install
	$(BIN)/python bench/job_start.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/polling.py
	$(BIN)/python bench/connections.py

clean:
	rm -rf $(VENV) *.egg-info
