# The two commands: `make run` (the embedded stack) and `make test` (the whole suite).
# Both create .venv and install the project on first use; `make test` also installs the Debian packages
# the suite talks to (Prometheus, Alertmanager, kubectl, PostgreSQL, Chromium) when run as root on Debian,
# and stops at once, naming them, anywhere else. Nothing else is needed but Python 3.11.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	@sh scripts/system-deps.sh run
	$(VENV)/bin/warroom run

system-deps:
	@sh scripts/system-deps.sh test

test: $(STAMP)
	@sh scripts/system-deps.sh test
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache
