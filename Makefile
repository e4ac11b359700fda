# Steward's commands. `make run` and `make test` each take a fresh machine all the way.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The MLflow server the tests start (requirements-test.txt); its own venv, see that file.
MLFLOW_VENV := .venv-mlflow
PORT ?= 8000
# The tests' PostgreSQL, over its Unix socket (/var/run/postgresql): each of the suite's
# several hundred thousand queries costs the client, the server and the kernel less than over
# 127.0.0.1. PG_URL=postgres://postgres@127.0.0.1:5432/steward for a server reached by TCP.
PG_URL ?= postgres://postgres@/steward
REDIS_URL ?= redis://127.0.0.1:6379/15
# Test processes for make test (pytest-xdist), each with its own database and Celery worker.
# More than the cores: much of a test's time is spent waiting on servers and browsers.
TEST_WORKERS ?= 4

# The test and benchmark environment: PostgreSQL, Redis, production-like security.
TEST_ENV := DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) CELERY_TASK_ALWAYS_EAGER=true \
	SECRET_KEY=test-only-secret SECURE=false DEBUG=false \
	STATICFILES_BACKEND=django.contrib.staticfiles.storage.StaticFilesStorage
# The suite starts a hundred Python processes (workers, servers, commands): each reads the
# compiled modules (__pycache__, ignored by git) rather than compiling the code again, even
# where the environment says not to write them (PYTHONDONTWRITEBYTECODE); pytest keeps each test
# module with its asserts rewritten the same way.
TEST_PYCACHE := PYTHONDONTWRITEBYTECODE=
PY_PACKAGES := portal registry assessments incidents monitoring compliance dashboard people \
	search devtools tests
RUN_ENV := DEBUG=true SECURE=false
# make run's jobs: a worker with beat on the embedded broker (queues as files in STATE_DIR),
# and links in emails that point at the port served.
RUN_JOBS_ENV := CELERY_BROKER_URL=filesystem:// SITE_URL=http://127.0.0.1:$(PORT)

.PHONY: run test test-fast bench lint checks setup assets services browser prometheus pdf-libs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(MLFLOW_VENV)/.installed: requirements-test.txt
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/pip install --quiet --upgrade pip
	$(MLFLOW_VENV)/bin/pip install --quiet -r requirements-test.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed assets pdf-libs

assets: node_modules/.installed

## Start the portal with demo data on SQLite at http://127.0.0.1:$(PORT), with a worker and
## beat beside it (pulls, rules, reminders, emails and webhooks run; no Redis needed).
run: setup
	$(RUN_ENV) $(RUN_JOBS_ENV) $(BIN)/python manage.py migrate --noinput
	$(RUN_ENV) $(RUN_JOBS_ENV) $(BIN)/python manage.py seed_demo
	$(RUN_ENV) $(RUN_JOBS_ENV) $(BIN)/python manage.py serve 127.0.0.1:$(PORT)

## Start the local PostgreSQL and Redis if they are installed and down.
services:
	@if command -v pg_lsclusters >/dev/null && ! pg_isready -h 127.0.0.1 -q; then \
		echo "Starting PostgreSQL"; \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start; \
		for i in $$(seq 30); do pg_isready -h 127.0.0.1 -q && break; sleep 1; done; fi
	@if command -v redis-server >/dev/null && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then \
		echo "Starting Redis"; mkdir -p /var/lib/redis /var/log/redis; \
		redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
			--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log; \
		for i in $$(seq 30); do redis-cli ping >/dev/null 2>&1 && break; sleep 1; done; fi

## Pango and a font for WeasyPrint's PDFs (Debian's packages), if missing.
pdf-libs:
	@if ! ldconfig -p | grep -q 'libpango-1.0.so.0' || ! ldconfig -p | grep -q 'libpangoft2-1.0.so.0' \
		|| ! fc-list 2>/dev/null | grep -qi dejavu; then \
		echo "Installing Pango and DejaVu fonts for PDFs"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core fontconfig >/dev/null; fi

## Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Debian's chromium"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; fi

## Debian's Prometheus for the monitoring tests (they start their own on 127.0.0.1).
prometheus:
	@if ! command -v prometheus >/dev/null; then \
		echo "Installing Debian's prometheus"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends prometheus >/dev/null; fi

## The whole test suite against PostgreSQL, Redis, a Celery worker, MLflow and Chromium.
test: setup services browser prometheus $(MLFLOW_VENV)/.installed checks
	$(BIN)/python -m compileall -q $(PY_PACKAGES) manage.py > /dev/null
	$(TEST_ENV) $(TEST_PYCACHE) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

## The inner loop: every test that starts no server or browser (-m "not slow"), on a kept
## test database. PostgreSQL still; no Chromium, Prometheus or MLflow needed.
test-fast: setup services
	$(TEST_ENV) $(TEST_PYCACHE) $(BIN)/python -m pytest --reuse-db -m "not slow" $(PYTEST_ARGS)

## Benchmarks on PostgreSQL: prints median and p95 time and queries per request.
bench: setup services
	$(TEST_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/steward_bench \
		$(BIN)/python manage.py bench $(BENCH_ARGS)

## Static checks: ruff, the app graph's layers (import-linter) and types (mypy).
checks: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(RUN_ENV) SECRET_KEY=lint-only $(BIN)/mypy

lint: checks
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(MLFLOW_VENV) node_modules staticfiles db.sqlite3
