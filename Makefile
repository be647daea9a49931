# Patchbay: `make run` starts everything on a bare machine, `make test` runs the whole suite.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

# A Python >= 3.12: $(PYTHON) if given, else python3.13/3.12 on PATH (Debian or pyenv shims, which fail
# the version probe when pyenv's active version is older), else pyenv's own installs.
PYTHON ?= $(shell for c in python3.13 python3.12 python3 $$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3 /root/.pyenv/versions/3.13*/bin/python3 /root/.pyenv/versions/3.12*/bin/python3; do \
	if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then command -v $$c; break; fi; done)

.PHONY: run test install setup lint format bench clean

$(PY):
	@if [ -z "$(PYTHON)" ]; then echo "Patchbay needs Python >= 3.12 (python3.13, python3.12 or pyenv 3.12/3.13); none found. Set PYTHON=/path/to/python3.12." >&2; exit 1; fi
	@echo "Creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)

# pip runs only when pyproject.toml is newer than the stamp, so a second `make run` starts at once.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Migrate, load the catalog, collect static files and create the demo data, in one Python process.
setup: export PATCHBAY_BASE_URL ?= http://$(HOST):$(PORT)
setup: install
	$(PY) manage.py bootstrap_demo --with-setup

run: export PATCHBAY_BASE_URL ?= http://$(HOST):$(PORT)
run: setup
	$(PY) manage.py runall --host $(HOST) --port $(PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	@for script in bench/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) staticfiles
