# Patchbay: `make run` starts everything on a bare machine, `make test` runs the whole suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

# A Python >= 3.12: $(PYTHON) if given, else python3.13/3.12 on PATH (Debian or pyenv shims), else pyenv's.
PYTHON ?= $(shell for c in python3.13 python3.12 $$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3 /root/.pyenv/versions/3.13*/bin/python3 /root/.pyenv/versions/3.12*/bin/python3; do \
	if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then command -v $$c; break; fi; done)

.PHONY: run test install setup lint format bench clean

$(PY):
	@if [ -z "$(PYTHON)" ]; then echo "Patchbay needs Python >= 3.12 (python3.13, python3.12 or pyenv 3.12/3.13); none found." >&2; exit 1; fi
	@echo "Creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

setup: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_catalog
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py bootstrap_demo

run: setup
	$(PY) manage.py runall --host $(HOST) --port $(PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) bench/api_list.py

clean:
	rm -rf $(VENV) staticfiles
