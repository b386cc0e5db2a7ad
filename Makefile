# leapportal: the two commands are `make demo` and `make test`. See README.md.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# make test runs against real services on loopback (scripts/services.sh starts them if needed).
PG_PORT ?= 5432
REDIS_PORT ?= 6379
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:$(PG_PORT)/leapportal
TEST_BROKER_URL ?= redis://127.0.0.1:$(REDIS_PORT)/1
export PG_PORT REDIS_PORT

.PHONY: demo test install services services-stop lint fmt check clean

# Reinstalls when pyproject.toml or constraints.txt change. pip's output goes to a log, shown on
# failure only (a pipe through grep once hid pip failures).
$(STAMP): pyproject.toml constraints.txt
	@if [ ! -x $(BIN)/python ]; then \
	  echo "[install] creating $(VENV) with $$($(PY) --version 2>&1)"; \
	  $(PY) -m venv $(VENV) 2>/dev/null || { \
	    echo "[install] $(PY) -m venv failed: installing Debian's python3-venv"; rm -rf $(VENV); \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null \
	      && $(PY) -m venv $(VENV); }; \
	fi
	@echo "[install] dependencies into $(VENV) (log: $(VENV)/pip.log)"
	@$(BIN)/python -m pip install -q --upgrade pip >$(VENV)/pip.log 2>&1 || { tail -30 $(VENV)/pip.log; exit 1; }
	@$(BIN)/python -m pip install -q -e '.[dev]' -c constraints.txt >>$(VENV)/pip.log 2>&1 || { tail -30 $(VENV)/pip.log; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

services: install
	@bash scripts/services.sh start
	@$(BIN)/python scripts/createdb.py $(TEST_DATABASE_URL)

services-stop:
	@bash scripts/services.sh stop

demo:
	@bash scripts/demo.sh

# What CI runs (.ci/run calls exactly this). Any failing step stops it; pytest's summary is last.
test: services
	@export DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL); \
	set -eo pipefail; \
	echo "[test] python $$($(BIN)/python -c 'import sys; print(sys.version.split()[0])'); chromium: $$($${CHROMIUM_PATH:-/usr/bin/chromium} --version 2>/dev/null | head -1); playwright: $$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("playwright"))')"; \
	echo "[test] database $$DATABASE_URL, broker $$CELERY_BROKER_URL"; \
	echo "[test] ruff"; $(BIN)/ruff check .; $(BIN)/ruff format --check .; \
	echo "[test] mypy"; LEAPPORTAL_TESTING=true $(BIN)/mypy; \
	echo "[test] import-linter"; $(BIN)/lint-imports --no-cache; \
	echo "[test] manage.py check"; DEBUG=true $(BIN)/python manage.py check --fail-level WARNING; \
	echo "[test] makemigrations --check"; DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run; \
	echo "[test] pytest"; $(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

# Also deletes the embedded PostgreSQL's data (var/postgres), so it stops that server first.
clean:
	@if [ -x $(BIN)/python ]; then $(BIN)/python manage.py embedded_db stop; fi
	rm -rf var staticfiles .pytest_cache .ruff_cache .mypy_cache test-artifacts
