# ADS developer entry points. Every target installs what it needs first:
# a virtualenv with the pinned Python packages, and the pinned CDK CLI.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_EC2_METADATA_DISABLED := true

.PHONY: help venv cdk-cli test test-unit test-integration test-workflow test-infra test-e2e test-aws demo synth lint format bench docs clean

help:
	@echo "make demo    - deploy, health-check and destroy a sample lab on this machine (no AWS account)"
	@echo "make test    - run the whole test suite (unit, integration, workflow, infra, e2e)"
	@echo "make test-aws AWS_PROFILE=P ADS_AWS_ACCOUNT=N - deploy the stack and hello-web to that account, then remove both (costs money)"
	@echo "make synth   - synthesize the CloudFormation template with the pinned CDK CLI"
	@echo "make lint    - ruff lint and format check, mypy type check (make test runs it first)"
	@echo "make bench   - run the local workflow benchmark"
	@echo "make docs    - build the documentation site into site/ (mkdocs, --strict)"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

cdk-cli: $(NODE_STAMP)

test: venv cdk-cli lint
	$(PY) -m pytest

test-unit: venv
	$(PY) -m pytest tests/unit
test-integration: venv
	$(PY) -m pytest tests/integration
test-workflow: venv
	$(PY) -m pytest tests/workflow
test-infra: venv cdk-cli
	$(PY) -m pytest tests/infra
test-e2e: venv
	$(PY) -m pytest tests/e2e

# Real AWS: deploys the control plane (LAB_ACCESS=public by default; load-balancer needs
# LB_DOMAIN and LB_CERTIFICATE_ARN), deploys hello-web, opens its app_url, destroys the
# lab, checks no ads:managed instance is left, then destroys the stack
# (ADS_AWS_KEEP_STACK=1 keeps it). Without credentials it is skipped with the reason.
test-aws: venv cdk-cli
	ADS_AWS_TESTS=1 ADS_AWS_ACCOUNT="$(ADS_AWS_ACCOUNT)" \
		$(foreach v,AWS_PROFILE LAB_ACCESS LB_DOMAIN LB_CERTIFICATE_ARN,$(if $($(v)),$(v)="$($(v))")) \
		$(PY) -m pytest tests/aws -v -rs

demo: venv
	$(VENV)/bin/ads demo

synth: venv cdk-cli
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" node_modules/.bin/cdk synth --no-notices --quiet

# mypy reads its targets and settings from pyproject.toml and keeps a cache in .mypy_cache.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: venv
	$(PY) benchmarks/bench_workflow.py

# The documentation site (docs/, mkdocs.yml); --strict fails on a dead link or anchor.
docs: venv
	$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) node_modules cdk.out site .pytest_cache .ruff_cache .mypy_cache
