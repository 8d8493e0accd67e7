# The quick start is two commands: `make serve` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: serve test test-cluster unit lint bench bench-full bench-start install install-test install-bench clean

$(BIN)/hub: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $(BIN)/hub

$(VENV)/.test-deps: $(BIN)/hub
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

$(VENV)/.bench-deps: $(BIN)/hub
	$(BIN)/pip install --quiet -e '.[bench]'
	@touch $@

install: $(BIN)/hub
install-test: $(VENV)/.test-deps
install-bench: $(VENV)/.bench-deps

## Set up and run the hub on an embedded local Ray (http://127.0.0.1:8000).
serve: install
	$(BIN)/hub serve $(ARGS)

## Set up and run the whole test suite: the JS client's package (clients/js: npm ci from its lockfile,
## its unit tests with Node's runner, then the pack check: the `npm pack` tarball installed into a
## scratch project and type-checked with tsc), then pytest (unit, integration on one local Ray, browser
## tests in Debian's Chromium), then the cluster tests.
## Before pytest, scripts/build-nextjs-example builds examples/nextjs (npm ci, next build) for its browser test.
test: install-test
	./scripts/ensure-chromium
	npm --prefix clients/js ci --no-audit --no-fund --ignore-scripts
	npm --prefix clients/js test
	npm --prefix clients/js run check-pack
	./scripts/build-nextjs-example
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(BIN)/python -m pytest tests/cluster $(PYTEST_ARGS)

## The multi-node tests: a three-node Ray cluster (ray.cluster_utils) and two `hub serve` processes,
## in a pytest session of their own (a session has one Ray). About a minute and a half on 2 cores.
test-cluster: install-test
	$(BIN)/python -m pytest tests/cluster $(PYTEST_ARGS)

## ruff (lint and format check) and mypy.
lint: install-test
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/ruff check hub actors jobs tests bench
	$(BIN)/ruff format --check hub actors jobs tests bench
	$(BIN)/mypy hub actors jobs

unit: install-test
	$(BIN)/python -m pytest tests/unit tests/adapters $(PYTEST_ARGS)

## Measure POST /api/jobs -> queued / processing / completed on this machine.
bench-start: install
	$(BIN)/python bench/job_start.py $(ARGS)

## Benchmarks, quick mode (about 2.5 minutes on 2 cores): idle connections, job start, fan-out against
## bare FastAPI and python-socketio, end-to-end latency, streaming against polling; one hub for all.
## Reports (Markdown, JSON) and the chart (benchmarks.png) go to bench/results/.
bench: install-bench
	$(BIN)/python bench/run.py --quick

## The full run (1,000 fan-out clients x 500 messages, 10,000 connections, latency up to 40 jobs).
bench-full: install-bench
	$(BIN)/python bench/run.py --full

clean:
	rm -rf $(VENV) *.egg-info
