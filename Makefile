# `make run` and `make test` work on a fresh machine with Python 3.11 and nothing else.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps: reinstall only when pyproject.toml changes. Running Pulse needs the server
# extra (Ray, torch, the store); the plain package is only the SDK and client CLI.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[server]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[server,test]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run

## Start Ray + Serve locally on 127.0.0.1:8000 with a SQLite store in ./.pulse/,
## with a small demo datasource (transactions-db) the first time
run: $(VENV)/.installed-run
	$(BIN)/pulse demo transactions --rows 20000 --if-missing
	$(BIN)/pulse serve

## Lint, then every test (unit, store on SQLite and PostgreSQL if configured, Serve),
## then, each once the Ray before it is gone, the README walk-through and the notebook
## against `make run`'s own service (default settings and ports), and the multi-node test
test: $(VENV)/.installed-test lint
	$(BIN)/pytest
	$(BIN)/pytest -m e2e
	$(BIN)/pytest -m multinode

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache *.egg-info
