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

clean:
	rm -rf .aws-sam out .thermocline
