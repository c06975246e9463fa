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

.PHONY: run test test-sqlite test-postgres lint bench install install-dev clean

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
	$(VENV)/bin/gunicorn --bind 0.0.0.0:$(PORT) --workers 2 --access-logfile - wsgi:app & \
	wait

test: install-dev test-sqlite test-postgres

test-sqlite: install-dev
	TEST_DB=sqlite $(PY) -m pytest -q

test-postgres: install-dev
	@if $(PY) scripts/check_postgres.py; then \
		TEST_DB=postgresql TEST_DATABASE_URL=$(PG_URL) $(PY) -m pytest -q; \
	elif [ "$$CI" = "true" ]; then \
		echo "CI: PostgreSQL must be reachable at $(PG_URL)"; exit 1; \
	else \
		echo "!!! PostgreSQL is not reachable at $(PG_URL): the PostgreSQL pass is SKIPPED !!!"; \
	fi

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: install-dev
	$(PY) -m bench $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
