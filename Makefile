# Parley: `make run` starts everything, `make test` checks everything.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export PATH := $(PATH):/usr/local/go/bin
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PY := .venv/bin/python

.PHONY: run test lint format env bench clean-data

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv

env: .venv/.synced

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python python3.11
	@touch $@

run: env
	.venv/bin/parley dev

lint: env
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench
	.venv/bin/mypy

test: lint
	$(PY) -m pytest -q -p no:cacheprovider

format: env
	.venv/bin/ruff format src tests bench
	.venv/bin/ruff check --fix src tests bench

bench: env
	$(PY) bench/failover.py
	$(PY) bench/messages.py
	$(PY) bench/realtime.py

clean-data:
	rm -rf .data
