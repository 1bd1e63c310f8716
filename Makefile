# The store's two commands: `make run` and `make test`. See README.md.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
FLASK := $(BIN)/flask
HOST ?= 127.0.0.1
PORT ?= 5000
DEMO_ADMIN_EMAIL ?= admin@example.com
DEMO_ADMIN_PASSWORD ?= demo-admin-pass
DEMO_SHOPPER_EMAIL ?= shopper@example.com
DEMO_SHOPPER_PASSWORD ?= demo-shopper-pass

.PHONY: venv run db seed lighthouse test test-sqlite test-postgres test-browser lint format bench explain load clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@# A venv left half-made (python3 -m venv without python3-venv) has no pip: redo it.
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || { \
		$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
			echo "The store needs Python 3.11+: install it or set PYTHON=/path/to/python3.11" >&2; \
			exit 1; }; \
		rm -rf $(VENV); \
		$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
			echo "Could not create $(VENV); on Debian/Ubuntu: apt-get install python3-venv" >&2; \
			exit 1; }; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

db: venv
	$(FLASK) db upgrade

seed: db
	$(FLASK) seed --if-empty

run: seed
	@$(FLASK) create-admin --name "Demo Admin" --email $(DEMO_ADMIN_EMAIL) --password $(DEMO_ADMIN_PASSWORD)
	@echo ""
	@echo "  Store:    http://$(HOST):$(PORT)/"
	@echo "  Admin:    $(DEMO_ADMIN_EMAIL) / $(DEMO_ADMIN_PASSWORD)"
	@echo "  Shopper:  $(DEMO_SHOPPER_EMAIL) / $(DEMO_SHOPPER_PASSWORD)"
	@echo "  Another port: PORT=8000 make run"
	@echo "  Email:    $${MAIL_SERVER:+SMTP server $$MAIL_SERVER}$${MAIL_SERVER:-written to instance/mail/ as .eml files}"
	@echo ""
	@# The web server and the outbox worker side by side (Procfile); Ctrl-C stops both.
	PATH="$(CURDIR)/$(BIN):$$PATH" HOST=$(HOST) STORE_URL="$${STORE_URL:-http://$(HOST):$(PORT)}" \
		$(BIN)/honcho start --port $(PORT)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# Security lint: no medium or high findings in the store's own code.
	$(BIN)/bandit --quiet --recursive app config.py wsgi.py --severity-level medium

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# SQLite always; PostgreSQL too when TEST_DATABASE_URL points at a server.
test: lint test-sqlite test-postgres test-browser

test-sqlite: venv
	TEST_DATABASE_URL= $(BIN)/pytest -m "not browser"

test-postgres: venv
	@if [ -n "$(TEST_DATABASE_URL)" ]; then \
		$(BIN)/pytest -m "not browser"; \
	elif [ "$(CI)" = "true" ]; then \
		echo "CI needs TEST_DATABASE_URL: the PostgreSQL half may not be skipped." >&2; exit 1; \
	else \
		echo "Skipping the PostgreSQL half: set TEST_DATABASE_URL=postgresql://... to run it."; \
	fi

# End-to-end tests in Debian's headless Chromium (never a downloaded browser):
# tests/e2e/ serves the store on a loopback port with its own SQLite database.
# Screenshots and the axe report land in test-artifacts/.
CHROMIUM := /usr/bin/chromium
test-browser: venv
	@if [ -x $(CHROMIUM) ]; then \
		CHROMIUM=$(CHROMIUM) $(BIN)/pytest tests/e2e -m browser --output test-artifacts/playwright \
			--screenshot only-on-failure --tracing retain-on-failure; \
	elif [ "$(CI)" = "true" ]; then \
		echo "CI needs Chromium at $(CHROMIUM) for the browser tests: apt-get install chromium" >&2; exit 1; \
	else \
		echo "Skipping the browser tests: no Chromium at $(CHROMIUM) (sudo apt-get install chromium)."; \
	fi

# Lighthouse 12 (tools/lighthouse/package.json) on the catalogue, an item, a
# search, the cart and sign-in, mobile and desktop, against the demo store under
# gunicorn; the scores go to docs/lighthouse.md. Needs npm and Chromium.
lighthouse: venv
	@command -v npm >/dev/null || { echo "make lighthouse needs npm (apt-get install npm)" >&2; exit 1; }
	@[ -x tools/lighthouse/node_modules/.bin/lighthouse ] || \
		(cd tools/lighthouse && npm install --no-audit --no-fund --loglevel=error)
	CHROME_PATH=$${CHROME_PATH:-$(CHROMIUM)} $(BIN)/python tools/lighthouse/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# Seeds a large store per engine, serves it under gunicorn beside a raw-driver
# baseline page and loads both with wrk. BENCH_ARGS="--items 10000 ..." for a quick run.
# Numbers to bench/results.json, drawn into BENCHMARKS.md and docs/benchmarks.png
# (bench/report.py redraws both from the JSON alone).
bench: venv
	@command -v wrk >/dev/null || { echo "make bench needs wrk: sudo apt-get install wrk" >&2; \
		if [ "$$(id -u)" = 0 ]; then apt-get install -y -qq wrk; else exit 1; fi; }
	$(BIN)/python -m pip install --quiet -r requirements-bench.txt
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Shoppers under Locust (bench/locustfile.py): 50 users for a minute against the
# production gunicorn settings on PostgreSQL (DATABASE_URL or TEST_DATABASE_URL)
# with Redis (REDIS_URL, default redis://127.0.0.1:6379). LOAD_ARGS="--items 10000
# --shoppers 1000 --purchases 100000 --seconds 30" for a quick run. Per-page
# requests/s, p50/p95/p99, errors, orders and oversells into bench/results.json,
# BENCHMARKS.md and docs/locust.png.
load: venv
	$(BIN)/python -m pip install --quiet -r requirements-bench.txt
	$(BIN)/python bench/shoppers.py $(LOAD_ARGS)

# The plans of every statement the benchmarked pages run (after make bench).
explain: venv
	$(BIN)/python bench/explain.py
