# LabelPath — `make run` serves the API and the scheduler on the embedded SQLite default;
# `make test` runs the suite on SQLite and on PostgreSQL. Each target installs what it needs.

VENV    ?= .venv
PYTHON  ?= python3
PORT    ?= 5000
PY      := $(VENV)/bin/python
FLASK   := $(VENV)/bin/flask --app wsgi
PG_URL  ?= postgresql://postgres@127.0.0.1:5432/

REQ_STAMP := $(VENV)/.req-$(shell cat requirements.txt | sha1sum | cut -c1-12)
DEV_STAMP := $(VENV)/.dev-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: run test test-sqlite test-postgres lint bench fuzz browser install install-dev clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(REQ_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(REQ_STAMP)
install-dev: $(DEV_STAMP)

run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty
	@echo "Serving on http://127.0.0.1:$(PORT) (API docs: /api/docs); the scheduler runs beside it. Ctrl-C stops both."
	@trap 'kill 0' INT TERM EXIT; \
	$(FLASK) scheduler run & \
	MALLOC_ARENA_MAX=2 $(VENV)/bin/gunicorn --bind 0.0.0.0:$(PORT) --worker-class gthread --workers 2 --threads 8 \
		--keep-alive 5 wsgi:app & \
	wait

test: install-dev test-sqlite test-postgres

# The dashboard's browser test (tests/workforce/test_browser.py) drives Debian's chromium through
# chromium-driver: installed here when missing and allowed (root, or CI with sudo); never fails the
# run — without a browser that one test skips, loudly.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "!!! no apt-get: chromium not installed, the browser test will be SKIPPED !!!"; \
	else \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; elif [ "$$CI" = "true" ] && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
		else SUDO=none; fi; \
		if [ "$$SUDO" = none ]; then echo "!!! not root: chromium not installed, the browser test will be SKIPPED !!!"; \
		else echo "Installing chromium and chromium-driver for the browser test (apt-get)..."; \
			( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
				--no-install-recommends chromium chromium-driver ) >/tmp/labelpath-apt-chromium.log 2>&1 \
			|| echo "!!! apt-get could not install chromium (see /tmp/labelpath-apt-chromium.log): the browser test will be SKIPPED !!!"; \
		fi; \
	fi

test-sqlite: install-dev browser
	TEST_DB=sqlite $(PY) -m pytest -q

test-postgres: install-dev
	@if $(PY) scripts/check_postgres.py; then \
		TEST_DB=postgresql TEST_DATABASE_URL=$(PG_URL) $(PY) -m pytest -q; \
	elif [ "$$CI" = "true" ]; then \
		echo "CI: PostgreSQL must be reachable at $(PG_URL)"; exit 1; \
	else \
		echo "!!! PostgreSQL is not reachable at $(PG_URL): the PostgreSQL pass is SKIPPED !!!"; \
	fi

# schemathesis against the OpenAPI document with many more examples (`make test` runs a few, derandomized).
FUZZ_EXAMPLES ?= 100
fuzz: install-dev
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 TEST_DB=sqlite $(PY) -m pytest -q tests/security/test_contract_fuzz.py
	@if $(PY) scripts/check_postgres.py; then \
		FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 TEST_DB=postgresql TEST_DATABASE_URL=$(PG_URL) \
			$(PY) -m pytest -q tests/security/test_contract_fuzz.py; \
	else echo "!!! PostgreSQL is not reachable at $(PG_URL): the PostgreSQL fuzz pass is SKIPPED !!!"; fi

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: install-dev
	$(PY) -m bench $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
