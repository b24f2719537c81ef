# The README's commands. Each target sets up what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Reinstalled when the package's build inputs change: pyproject.toml and the C fast path (built by pip).
SPEEDUPS := $(addprefix layers/thermocline/thermocline/sources/dynamodb_streams/,_speedups.c _super_json.h _staging.h _column_buffer.h _arrow_build.h)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(SPEEDUPS) | cksum | cut -d' ' -f1)

.PHONY: demo test bench lint build validate review layer-size schedules clean

$(STAMP): pyproject.toml $(SPEEDUPS)
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

## bench: the benchmarks (they print their figures); the cold-start one and decode's --layer run measure the
## built layer under the runtime's CPython
bench: $(STAMP) build
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done
	@$(PY) benchmarks/bench_decode.py --layer

## schedules: write one EventBridge schedule per report definition into template.yaml
schedules: $(STAMP)
	$(PY) scripts/report_schedules.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# sam-cli pins its own boto3 and friends, so it gets a venv of its own, installed on first use.
SAM_VENV ?= .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_RUN := SAM_CLI_TELEMETRY=0 $(SAM)
# The Lambda platform of every function and layer: the template's parameters and the layers' build target
# (scripts/build_layer.py reads LAMBDA_ARCHITECTURE and LAMBDA_RUNTIME) come from these two, so they agree.
# Set them on the command line (`make build ARCH=arm64`); an ARCH in the environment is not taken.
ARCH = x86_64
RUNTIME = python3.12
PLATFORM := Architecture=$(ARCH) PythonRuntime=$(RUNTIME)
export LAMBDA_ARCHITECTURE := $(ARCH)
export LAMBDA_RUNTIME := $(RUNTIME)
# A CPython of the target version for the layer's smoke test (pyenv's, or pythonX.Y on PATH; optional).
TARGET_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/$(RUNTIME:python%=%).*/bin/$(RUNTIME)) \
	$(shell command -v $(RUNTIME)))

$(SAM):
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { \
		echo "make: aws-sam-cli needs Python 3.10 or newer, and $(PYTHON) is older (macOS's own python3 is 3.9):"\
		"name another one, e.g. make build PYTHON=python3.13"; exit 1; }
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	@echo '*' > $(SAM_VENV)/.gitignore
	@$(SAM_VENV)/bin/python -m pip install -q --disable-pip-version-check 'aws-sam-cli>=1.170,<2' 2>&1 \
		| { grep -v '^WARNING: Location' || true; }
	@test -x $(SAM)

## validate: sam validate --lint (cfn-lint) on template.yaml
validate: $(SAM)
	$(SAM_RUN) validate --lint

# checkov pins its own dependencies, so it too gets a venv of its own, installed on first use.
REVIEW_VENV ?= .venv-review
CHECKOV := $(REVIEW_VENV)/bin/checkov

$(CHECKOV):
	@test -x $(REVIEW_VENV)/bin/python || $(PYTHON) -m venv $(REVIEW_VENV)
	@echo '*' > $(REVIEW_VENV)/.gitignore
	@$(REVIEW_VENV)/bin/python -m pip install -q --disable-pip-version-check 'checkov>=3.2,<4' 2>&1 \
		| { grep -v '^WARNING: Location' || true; }
	@test -x $(CHECKOV)

## review: cfn-lint and checkov on template.yaml; every suppression sits in the template with its reason
review: $(STAMP) $(CHECKOV)
	$(VENV)/bin/cfn-lint template.yaml
	$(CHECKOV) --file template.yaml --framework cloudformation --skip-download --compact --quiet

## build: sam build for ARCH=x86_64|arm64 and RUNTIME=python3.12|python3.13, from any host without Docker
build: $(SAM)
	PYTHON="$$(cd "$(SAM_VENV)/bin" && pwd)/python" $(SAM_RUN) build --parameter-overrides $(PLATFORM)
	@$(SAM_VENV)/bin/python scripts/lambda_platform.py pin .aws-sam/build/template.yaml

## layer-size: unzipped size of the built layer and functions, its native files checked against the
## target, and a smoke test of the layer when the host can run the target (Linux with glibc, same machine,
## a CPython of the target version), or under qemu-user with EMULATED_ROOT=DIR (a Debian root with the
## target machine's python3.13: scripts/emulated_runtime.sh); on other hosts (macOS) the check alone
SMOKE := scripts/check_layer.py .aws-sam/build/ThermoclineLayer/python \
	$(foreach f,StreamIngestFunction WarehouseLoadFunction AnalyticsReportFunction ExportIngestFunction ExportStartFunction WarehouseSetupFunction,--function .aws-sam/build/$(f)) \
	--runtime "$$($(SAM_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
layer-size: build
	@$(SAM_VENV)/bin/python scripts/layer_size.py .aws-sam/build
	@$(SAM_VENV)/bin/python scripts/check_native.py .aws-sam/build/ThermoclineLayer/python \
		--extension thermocline.sources.dynamodb_streams._speedups --bytecode
	@if [ -n "$(TARGET_PYTHON)" ] && $(SAM_VENV)/bin/python scripts/lambda_platform.py runs-here; then \
		$(TARGET_PYTHON) $(SMOKE); \
	elif [ -n "$(EMULATED_ROOT)" ]; then \
		test -x "$(EMULATED_ROOT)/usr/bin/$(RUNTIME)" || { echo "layer-size: no $(RUNTIME) in $(EMULATED_ROOT)"; exit 1; }; \
		echo "layer-size: smoke test under qemu-$(subst arm64,aarch64,$(ARCH)) with $(EMULATED_ROOT)/usr/bin/$(RUNTIME)"; \
		qemu-$(subst arm64,aarch64,$(ARCH)) -L "$(EMULATED_ROOT)" "$(EMULATED_ROOT)/usr/bin/$(RUNTIME)" $(SMOKE); \
	else echo "layer-size: smoke test not run (no $(RUNTIME) here that runs the layer; EMULATED_ROOT not set)"; fi

clean:
	rm -rf .aws-sam out .thermocline
