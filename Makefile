VENV ?= .venv
PYTHON ?= python3

.PHONY: demo test install

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e .
	touch $@

$(VENV)/.test: $(VENV)/.base
	$(VENV)/bin/pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.base

# The main job: migrate the SQLite database in this folder and build the demo county.
demo: $(VENV)/.base
	$(VENV)/bin/huimin demo

# Everything CI runs: lint, the import contract, and the test suite (PostgreSQL lane when
# HUIMIN_TEST_POSTGRES_URL is set).
test: $(VENV)/.test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest
