# The README's commands. Each target sets up what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test bench lint build validate layer-size clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	@$(PY) -m pip install -q -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
	@$(PY) -c 'import thermocline, duckdb, moto, pyarrow' && rm -f $(VENV)/.installed-* && touch $@

## demo: run the whole pipeline on the local stack (ORDERS=N to scale)
demo: $(STAMP)
	$(VENV)/bin/thermocline demo $(if $(ORDERS),--orders $(ORDERS))

## test: the whole suite, with moto's server and PostgreSQL started by the suite
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

## bench: the benchmarks (they print their figures)
bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# sam-cli pins its own boto3 and friends, so it gets a venv of its own, installed on first use.
SAM_VENV ?= .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_RUN := SAM_CLI_TELEMETRY=0 $(SAM)
# A CPython 3.12 for the layer's smoke test (optional: pyenv's, or python3.12 on PATH).
PYTHON312 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python) $(shell command -v python3.12))

$(SAM):
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	@echo '*' > $(SAM_VENV)/.gitignore
	@$(SAM_VENV)/bin/python -m pip install -q --disable-pip-version-check 'aws-sam-cli>=1.170,<2' 2>&1 \
		| { grep -v '^WARNING: Location' || true; }
	@test -x $(SAM)

## validate: sam validate --lint (cfn-lint) on template.yaml
validate: $(SAM)
	$(SAM_RUN) validate --lint

## build: sam build; makefile builds fetch Lambda wheels with pip, so no python3.12 or Docker is needed
build: $(SAM)
	PYTHON=$(abspath $(SAM_VENV)/bin/python) $(SAM_RUN) build

## layer-size: unzipped size of the built layer and functions, and a Python 3.12 smoke test of the layer
layer-size: build
	@$(SAM_VENV)/bin/python scripts/layer_size.py .aws-sam/build
	@if [ -n "$(PYTHON312)" ]; then \
		$(PYTHON312) scripts/check_layer.py .aws-sam/build/ThermoclineLayer/python \
			$(foreach f,StreamIngestFunction WarehouseLoadFunction AnalyticsReportFunction,--function .aws-sam/build/$(f)) \
			--runtime "$$($(SAM_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"; \
	else echo "layer-size: no CPython 3.12 found, smoke test skipped"; fi

clean:
	rm -rf .aws-sam out .thermocline
