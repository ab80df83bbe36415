# The two commands a newcomer needs: `make run` (local stack with demo data) and `make test` (everything CI runs).
# Every target installs what it needs; nothing has to be set up by hand on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13, as the Lambda runtime. pyenv provides it on the development machines; any python3.13 on PATH works too.
PYTHON313 ?= $(shell PYENV_VERSION=3.13.0 pyenv which python 2>/dev/null || command -v python3.13)
VENV := .venv
VENV_SAM := .venv-sam
VENV_SCAN := .venv-scan
PY := $(VENV)/bin/python
SAM := $(VENV_SAM)/bin/sam
CHROMIUM := /usr/bin/chromium
export AWS_DEFAULT_REGION ?= us-east-1
# sam and cfn-lint only need a region to validate and build; they never call AWS here.
export SAM_CLI_TELEMETRY := 0

.PHONY: help run test venv sam-venv scan-venv browser lint typecheck validate scan build unit e2e bench openapi mutation clean

help:
	@echo "make run    - start the local stack (gateway, Asana sandbox, moto, dev sign-in) with demo data"
	@echo "make test   - install what is needed, then lint, type-check, validate, scan, build and run every test"
	@echo "make scan   - checkov on template.yaml and on its CloudFormation after the SAM transform"
	@echo "make bench  - run the benchmarks in bench/"
	@echo "make openapi - regenerate the API's OpenAPI document (functions/settings/openapi.json) from the routes"
	@echo "make mutation - mutation testing of the security-critical modules (slow; MODULES=\"identity ...\" for some)"

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13.0) or set PYTHON313"; exit 1; }
	$(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(VENV_SAM)/.installed: requirements-sam.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13.0) or set PYTHON313"; exit 1; }
	$(PYTHON313) -m venv $(VENV_SAM)
	$(VENV_SAM)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_SAM)/bin/python -m pip install --quiet -r requirements-sam.txt
	touch $@

# checkov pins many packages of its own, so it gets a virtualenv of its own too.
$(VENV_SCAN)/.installed: requirements-scan.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13.0) or set PYTHON313"; exit 1; }
	$(PYTHON313) -m venv $(VENV_SCAN)
	$(VENV_SCAN)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_SCAN)/bin/python -m pip install --quiet -r requirements-scan.txt
	touch $@

venv: $(VENV)/.installed
sam-venv: $(VENV_SAM)/.installed
scan-venv: $(VENV_SCAN)/.installed

# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser of its own).
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy layers/common/asana_integration functions local

validate: sam-venv
	$(SAM) validate --lint

# checkov on the template as written and on the CloudFormation the SAM transform makes of it (the generated roles,
# schedule and API stage are only there). Skips and their reasons: .checkov.yaml and the resources' Metadata.
TRANSFORMED := .aws-sam/transformed-template.json
scan: sam-venv scan-venv
	@mkdir -p $(dir $(TRANSFORMED))
	$(VENV_SAM)/bin/python tests/iam/sam_transform.py template.yaml > $(TRANSFORMED)
	$(VENV_SCAN)/bin/checkov --config-file .checkov.yaml --file template.yaml --file $(TRANSFORMED)

# The sam venv's python3.13 is on PATH so the python3.13 build workflow finds a matching interpreter (no container).
build: sam-venv
	PATH="$(CURDIR)/$(VENV_SAM)/bin:$$PATH" $(SAM) build --parallel

unit: venv
	$(PY) -m pytest -m "not e2e and not browser"

test: venv sam-venv browser lint typecheck validate scan build
	$(PY) -m pytest

run: venv
	$(PY) -m local.run

bench: venv
	$(PY) -m bench

# The API's OpenAPI document from every function's routes; the settings function serves it (tests keep it current).
openapi: venv
	PYTHONPATH=layers/common $(PY) -m local.openapi

# Mutation testing (mutmut 3) of the security-critical modules with the fast tests: each module's score, failing under
# 90% or when no mutant is switched on. Too slow for CI. Modules: [tool.mutmut] in pyproject.toml; see tests/mutation.
# mutmut runs pytest in-process, so it goes into .venv beside the test dependencies (none of them conflict).
$(VENV)/.mutation-installed: $(VENV)/.installed requirements-mutation.txt
	$(PY) -m pip install --quiet -r requirements-mutation.txt
	touch $@

mutation: venv $(VENV)/.mutation-installed
	$(PY) -m tests.mutation $(MODULES)

clean:
	rm -rf mutants $(VENV) $(VENV_SAM) $(VENV_SCAN) .aws-sam .pytest_cache .mypy_cache .ruff_cache .local-state
