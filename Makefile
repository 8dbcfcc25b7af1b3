# Parley: `make run` starts everything, `make test` checks everything.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export PATH := $(PATH):/usr/local/go/bin
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PY := .venv/bin/python
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test test-browser test-contract screenshots chromium lint format env bench clean-data

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv

env: .venv/.synced

# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on
# the machines this suite has run on) no process writes it, and each process
# (every `parley serve` worker a test or bench starts) compiled the
# dependencies from source: 6.6 s to import the app on a 2-CPU AMD EPYC, 3.0 s
# compiled. A 2-worker `parley serve` in `make test` took 15 s to have its
# workers running, past the test's 20 s wait once they had to start listening.
.venv/.synced: pyproject.toml uv.lock Makefile | $(UV)
	$(UV) sync --frozen --python python3.11 --compile-bytecode
	@touch $@

run: env
	.venv/bin/parley dev

lint: env
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench
	.venv/bin/mypy

test: lint chromium
	$(PY) -m pytest -q -p no:cacheprovider

# The API contract alone: schemathesis against a real app (tests/contract, part of `make test`).
test-contract: env
	$(PY) -m pytest -q -p no:cacheprovider tests/contract

# The browser tests alone (tests/browser); `make screenshots` refreshes the README's.
test-browser: env chromium
	$(PY) -m pytest -q -p no:cacheprovider tests/browser

screenshots: env chromium
	PARLEY_UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q -p no:cacheprovider tests/browser \
		-k "two_people_chat or frozen_mongodb"

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
chromium:
	@test -x /usr/bin/chromium || { \
		echo "installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

format: env
	.venv/bin/ruff format src tests bench
	.venv/bin/ruff check --fix src tests bench

bench: env
	$(PY) -m bench.failover
	$(PY) -m bench.messages
	$(PY) -m bench.realtime
	$(PY) -m bench.http
	$(PY) -m bench.history
	$(PY) -m bench.antientropy

clean-data:
	rm -rf .data
