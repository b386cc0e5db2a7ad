# leapportal: the two commands are `make demo` and `make test`. See README.md.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# make test runs against real services; these are the defaults it uses.
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/leapportal
TEST_BROKER_URL ?= redis://127.0.0.1:6379/1

.PHONY: demo test install services lint fmt check pytest bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "[install] dependencies into $(VENV) (log: $(VENV)/pip.log)"
	@$(BIN)/python -m pip install -q --upgrade pip >$(VENV)/pip.log 2>&1 || { tail -30 $(VENV)/pip.log; exit 1; }
	@$(BIN)/python -m pip install -q -e '.[dev]' -c constraints.txt >>$(VENV)/pip.log 2>&1 || { tail -30 $(VENV)/pip.log; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

services: install
	@bash scripts/services.sh
	@$(BIN)/python scripts/createdb.py $(TEST_DATABASE_URL)

demo: install
	@bash scripts/demo.sh

# What CI runs (.ci/run calls exactly this).
test: services
	@export DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL); \
	set -e; \
	echo "[test] chromium: $$(/usr/bin/chromium --version 2>/dev/null | head -1); playwright: $$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("playwright"))')"; \
	echo "[test] ruff"; $(BIN)/ruff check .; $(BIN)/ruff format --check .; \
	echo "[test] manage.py check"; DEBUG=true $(BIN)/python manage.py check --fail-level WARNING; \
	echo "[test] makemigrations --check"; DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run >/dev/null; \
	echo "[test] pytest"; $(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf var staticfiles db.sqlite3 .pytest_cache .ruff_cache
