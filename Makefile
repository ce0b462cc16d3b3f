# One entry point for everything: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
# Four workers, each with its own embedded emulator; a module's tests stay on one worker (they share its
# stacks). Most of a test's time is spent waiting on executions, so four pay off even on two cores.
PYTEST_PARALLEL ?= -n 4 --dist loadscope
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins a boto3 that aws-sam-cli's pin excludes, so it gets a virtual environment of its own.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export PATH := $(abspath $(BIN)):$(PATH)

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required" if sys.version_info < (3, 11) else 0)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install Warden with its development tools

demo: $(STAMP) ## Replay the LLMjacking attack through the local stack and show the containment
	$(BIN)/warden demo --scenario llmjacking

lint: $(STAMP) ## ruff, mypy, cfn-lint and sam validate --lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/warden/python/warden warden_local functions tests scripts
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint

build: $(STAMP) ## sam build (no Docker and no local python3.13 needed), then check the layer's content
	$(BIN)/sam build
	test -f .aws-sam/build/WardenLayer/python/warden/service.py
	ls .aws-sam/build/WardenLayer/python/pydantic_core/ | grep -q 'cpython-313-aarch64-linux-gnu.so'
	! test -d .aws-sam/build/WardenLayer/python/botocore

$(CHECKOV_STAMP):
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	touch $(CHECKOV_STAMP)

security: $(STAMP) $(CHECKOV_STAMP) ## checkov on the template as the SAM transform expands it (suppressions need a reason)
	$(BIN)/python scripts/expand_template.py template.yaml .aws-sam/expanded.json
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation \
		--file .aws-sam/expanded.json

test: lint security build ## The whole suite: lint, checkov, sam build, then unit, integration and end-to-end tests
	$(BIN)/pytest $(PYTEST_PARALLEL)

fuzz: $(STAMP) ## 10,000+ generated inputs through readers, handlers, playbooks and replay; prints the counts
	$(BIN)/python scripts/fuzz.py

bench: $(STAMP) ## Generate CloudTrail data, measure hunting, the live path, cold start and cost; writes docs/performance.md
	$(BIN)/python scripts/bench.py

format: $(STAMP) ## Format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove build output and caches (keeps .venv and .venv-checkov)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .warden

.PHONY: help install demo lint security build test fuzz bench format clean
