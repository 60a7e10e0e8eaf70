# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test test-sqlite test-postgres test-browser chromium install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

## Set everything up and run Soonish at http://127.0.0.1:5000
run: $(VENV)/.installed
	SOONISH_ALLOW_PRIVATE_TARGETS=1 SOONISH_DEV=1 $(BIN)/soonish dev

## Set everything up and run the whole suite: SQLite, PostgreSQL and the browser tests side by side
# The runs mostly wait on Temporal, timers, mail and HTTP (the load stays under 2 on 2 cores), so
# running all three together takes ~17 minutes instead of ~21 one after the other. Each has its
# own temporary folder; --output-sync prints each run's output whole when it ends.
test: $(VENV)/.installed-test
	$(MAKE) -j3 --output-sync=target test-sqlite test-postgres test-browser

test-sqlite:
	mkdir -p .pytest-tmp
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15 --basetemp=$(CURDIR)/.pytest-tmp/sqlite

test-postgres:
	mkdir -p .pytest-tmp
	SOONISH_TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/python -m pytest -q -p no:cacheprovider --durations=15 --basetemp=$(CURDIR)/.pytest-tmp/postgres

# Their own pytest call: pytest-playwright's sync fixtures leave an event loop running.
test-browser: chromium
	$(BIN)/pytest -q tests/browser

# Debian's Chromium: Playwright can't download its own browser here.
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

clean:
	rm -rf $(VENV) instance .pytest_cache .pytest-tmp
