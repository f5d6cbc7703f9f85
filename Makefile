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

# The main job: migrate the SQLite database in this folder, build the demo county, then serve it
# on http://127.0.0.1:8000/ (the demo users and passwords are printed first).
demo: $(VENV)/.base
	$(VENV)/bin/huimin demo --serve

# Everything CI runs: lint, the import contract, and the test suite (PostgreSQL lane when
# HUIMIN_TEST_POSTGRES_URL is set).
test: $(VENV)/.test
	./scripts/ensure-browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest
