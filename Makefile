# leadgen: every target installs what it needs (pinned) into .venv and node_modules.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PIP := $(BIN)/pip -q --disable-pip-version-check

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PYTHONDONTWRITEBYTECODE := 1

DEMO_DIR := .demo
DEMO_PORT ?= 8000

.PHONY: help install install-deploy install-dev browser demo data build serve score test lint typecheck unit functional infra synth bench bench-build bench-server bench-real bench-bulk build-job openapi clean

help:
	@echo "make demo   - install, generate CRM data, build artifacts, serve locally, score an example lead"
	@echo "make test   - install dev dependencies, lint, typecheck, run every test (unit, functional, infra)"
	@echo "make synth  - synthesise the CDK stack (cdk-nag checked) into cdk.out/"
	@echo "make install-deploy - only what the README's deploy steps need (any host with Python and Node)"
	@echo "make bench  - run the benchmark suite: bench/RESULTS.md and bench/REFRESH.md"

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# Runtime + model export (torch CPU wheel, only used to export the encoder to ONNX once) + the
# build's extras (matplotlib for report.html): a laptop runs builds as well as serving. Then the
# project itself, editable and without dependencies (the pins above are the lock): .venv/bin/leadgen.
$(VENV)/.installed-run: requirements.txt requirements-export.txt requirements-build.txt pyproject.toml | $(BIN)/activate
	$(PIP) install -r requirements.txt -r requirements-export.txt -r requirements-build.txt
	$(PIP) install --no-deps -e .
	touch $@

# What the README's deploy steps need: the runtime (`leadgen data`, `leadgen client`) and the CDK
# app. Nothing test-only or Linux-only (no torch, no emulator, no browser): any host with Python
# and Node installs it.
$(VENV)/.installed-deploy: requirements.txt requirements-deploy.txt pyproject.toml | $(BIN)/activate
	$(PIP) install -r requirements.txt -r requirements-deploy.txt
	$(PIP) install --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-export.txt requirements-build.txt requirements-deploy.txt requirements-dev.txt pyproject.toml | $(BIN)/activate
	$(PIP) install -r requirements-dev.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $(VENV)/.installed-run $(VENV)/.installed-deploy $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed-run
install-deploy: $(VENV)/.installed-deploy node_modules/.installed
# The Lambda Runtime Interface Emulator, from the aws-sam-cli wheel (no deps installed).
.cache/rie/aws-lambda-rie: lambda_src/fetch_rie.sh | $(VENV)/.installed-dev
	bash lambda_src/fetch_rie.sh $(PY)

install-dev: $(VENV)/.installed-dev node_modules/.installed .cache/rie/aws-lambda-rie browser

# The report page test (tests/functional/test_report_page.py) renders report.html in Debian's
# headless chromium; it fails, never skips, without it. Installed with apt where there is apt
# (Debian/Ubuntu: CI and the test machines); elsewhere (a Mac) install-dev says so and goes on:
# nothing else needs the browser, deploying included.
browser:
	@if command -v chromium >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then apt-get update -qq && apt-get install -y -qq chromium; \
	else echo "browser: no apt-get here, so no chromium: only tests/functional/test_report_page.py needs it (it fails until chromium is on PATH)"; fi

# ---- the demo: embedded default, no AWS, no Docker ------------------------------------------
demo: $(VENV)/.installed-run
	@bash scripts/demo.sh "$(PY)" "$(DEMO_DIR)" "$(DEMO_PORT)"

data: $(VENV)/.installed-run
	$(BIN)/leadgen data --out $(DEMO_DIR)/crm.parquet

build: $(VENV)/.installed-run
	$(BIN)/leadgen build --input $(DEMO_DIR)/crm.parquet --out $(DEMO_DIR)/artifacts

serve: $(VENV)/.installed-run
	$(BIN)/leadgen serve --artifacts $(DEMO_DIR)/artifacts --port $(DEMO_PORT)

# ---- tests -----------------------------------------------------------------------------------
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

unit: install-dev
	$(BIN)/python -m pytest -q tests/unit

functional: install-dev
	$(BIN)/python -m pytest -q tests/functional

infra: install-dev
	$(BIN)/python -m pytest -q tests/infra

synth: install-deploy
	PATH="$(CURDIR)/$(BIN):$$PATH" npx cdk synth --quiet
	@ls -la cdk.out/*.template.json

openapi: $(VENV)/.installed-dev
	$(BIN)/leadgen openapi > openapi.json

bench: install-dev
	$(PY) -m bench
	$(PY) -m bench.refresh_bench

bench-build: install-dev
	$(PY) -m bench.build_bench

# 200 simultaneous clients against `leadgen serve` (waitress) and a stdlib server as the baseline.
bench-server: install-dev
	$(PY) -m bench.server_bench --clients 200 --rounds 5

# Real public tables: data from package archives cached in .cache/bench-data.
bench-real: install-dev
	$(PY) -m bench.quality_real

bench-bulk: install-dev
	$(PY) -m bench.bulk_bench

# The CodeBuild job, locally: env in, a verified version out (LATEST moved last).
build-job: $(VENV)/.installed-run
	LEADGEN_INPUT_PATH=$(DEMO_DIR)/crm.parquet ARTIFACTS_URI=$(DEMO_DIR)/artifacts $(PY) -m build_job

clean:
	rm -rf $(DEMO_DIR) cdk.out .mypy_cache .ruff_cache .pytest_cache
