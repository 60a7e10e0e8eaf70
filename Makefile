# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: messages translations run test assets test-compiled test-repeat test-sqlite test-postgres test-browser chromium axe install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv (Astral's installer, from PyPI) installs the project and its dependencies: on 2 cores it
# took 12 s where pip took 53 s for the same versions (bytecode compiled once here, not by
# each test process at its first import), a tenth of a fresh clone's `make test`.
$(BIN)/uv: | $(BIN)/python
	$(BIN)/pip install --quiet uv
INSTALL := $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python

$(VENV)/.installed: pyproject.toml | $(BIN)/uv
	$(INSTALL) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/uv
	$(INSTALL) -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed translations

## Every language's catalog compiled (.mo files are built, not committed) and the pseudo-locale written
translations: $(VENV)/.installed
	$(BIN)/python -m soonish.i18n.catalogs

## Extract every marked string into messages.pot and bring each language's .po up to it
# A new language: add it to soonish/i18n/__init__.py SUPPORTED_LOCALES and run this (it starts its .po).
LOCALES = $(shell $(BIN)/python -c 'from soonish.i18n import SUPPORTED_LOCALES as l; print(*l)')
POT := soonish/translations/messages.pot
messages: $(VENV)/.installed
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k N_ -k lazy_ngettext:1,2 -k locale_str --add-comments=Translators: \
		--sort-by-file --project=Soonish --copyright-holder=Soonish -o $(POT) .
	@for locale in $(LOCALES); do \
	  po=soonish/translations/$$locale/LC_MESSAGES/messages.po; \
	  if [ -f $$po ]; then $(BIN)/pybabel -q update --no-fuzzy-matching -i $(POT) -d soonish/translations -l $$locale; \
	  else $(BIN)/pybabel -q init -i $(POT) -d soonish/translations -l $$locale; fi; \
	done
	$(MAKE) --no-print-directory translations

## Set everything up and run Soonish at http://127.0.0.1:5000
run: $(VENV)/.installed translations
	SOONISH_ALLOW_PRIVATE_TARGETS=1 SOONISH_DEV=1 $(BIN)/soonish dev

## Set everything up and run the whole suite: SQLite, PostgreSQL and the browser tests side by side
# The runs mostly wait on Temporal, timers, mail and HTTP, so running all three together takes
# less than one after the other. Each has its own temporary folder; --output-sync prints each
# run's output whole when it ends.
test: $(VENV)/.installed-test translations
	@# The hashed static files (web/assets.py) and the compiled test modules, each made once
	@# before seven test processes start at once.
	$(MAKE) -j2 --output-sync=target assets test-compiled
	$(MAKE) -j3 --output-sync=target test-sqlite test-postgres test-browser

assets: $(VENV)/.installed
	$(BIN)/soonish assets

# pytest rewrites the asserts of every test module and of every pytest plugin's whole package
# (101 test modules; schemathesis, hypothesis and anyio: 381 in all) as it imports them, keeping them in
# __pycache__ unless PYTHONDONTWRITEBYTECODE is set, as it is on the machines we run on: each
# of the seven test processes then rewrote all of them, 14 s of CPU each before its first test
# (a collection took 21 s; with the cache, 7 s). Here bytecode is written, and one collection
# fills the cache before the suites start.
export PYTHONDONTWRITEBYTECODE :=
test-compiled: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -p no:cacheprovider -p no:playwright --collect-only > /dev/null

# Each suite spreads its tests over PARALLEL processes (pytest-xdist), each with its own
# Temporal dev server, sinks and database: a test mostly waits (timers, reminders due at their
# second, mail). With two, the box's 2 cores were 146% busy and the run took 10:00; with three,
# 160% and 9:26, every test passing (once, with a heavier suite, three starved a workflow
# activation past Temporal's 2 s deadlock check).
PARALLEL ?= 3
# Without pytest-playwright's plugin (only tests/browser uses it): importing it cost each of the
# six processes of the two suites (two workers and a controller each) 1.1 s of CPU.
# Tests go to the processes one at a time as each is free (a file's tests may run in both), so
# no process is left with a long file while the other idles at the end; the few modules that
# share a costly fixture are kept together by their xdist_group.
# A test that hung past its timeout (pyproject: timeout) is run once more; any other failure is not.
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider -p no:playwright --durations=15 -n $(PARALLEL) --dist loadgroup \
	--reruns 1 --only-rerun "Failed: Timeout"

test-sqlite:
	mkdir -p .pytest-tmp
	$(PYTEST) --basetemp=$(CURDIR)/.pytest-tmp/sqlite

test-postgres:
	mkdir -p .pytest-tmp
	SOONISH_TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(PYTEST) --basetemp=$(CURDIR)/.pytest-tmp/postgres

# Their own pytest call: pytest-playwright's sync fixtures leave an event loop running.
test-browser: chromium axe
	$(BIN)/pytest -q tests/browser

## Run the whole suite N times (default 3) from scratch and list every test that failed in any run
# Flakiness shows up here before CI: each run starts with empty temporary folders and databases,
# its output goes to .pytest-repeat/run-N.log, and the summary counts failures per test.
N ?= 3
test-repeat: $(VENV)/.installed-test
	@rm -rf .pytest-repeat && mkdir -p .pytest-repeat
	@for i in $$(seq $(N)); do \
	  rm -rf .pytest-tmp; started=$$(date +%s); \
	  $(MAKE) --no-print-directory test PYTEST_ADDOPTS="-rfE" > .pytest-repeat/run-$$i.log 2>&1; status=$$?; \
	  echo "run $$i of $(N): exit $$status in $$(( $$(date +%s) - started )) s ($$(grep -hE '^[0-9]+ (passed|failed)' .pytest-repeat/run-$$i.log | tr '\n' ' '))"; \
	done
	@if grep -qhE '^(FAILED|ERROR) ' .pytest-repeat/run-*.log; then \
	  echo "tests that failed (runs):"; grep -hE '^(FAILED|ERROR) ' .pytest-repeat/run-*.log | sed 's/ - .*//' | sort | uniq -c | sort -rn; exit 1; \
	else echo "no test failed in $(N) runs"; fi

# Debian's Chromium: Playwright can't download its own browser here.
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

## axe-core (accessibility checks in the browser tests), from the npm registry, pinned
AXE_VERSION = 4.14.1
axe: tests/browser/.axe/axe.min.js
tests/browser/.axe/axe.min.js:
	mkdir -p tests/browser/.axe
	cd tests/browser/.axe && npm pack --silent axe-core@$(AXE_VERSION) && tar xzf axe-core-$(AXE_VERSION).tgz package/axe.min.js \
		&& mv package/axe.min.js . && rm -r package axe-core-$(AXE_VERSION).tgz

clean:
	rm -rf $(VENV) instance .pytest_cache .pytest-tmp .pytest-repeat
