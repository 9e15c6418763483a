# The two commands of the README: `make demo` (the main job) and `make test` (the whole suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint docs bench clean system-deps

$(BIN)/poolwarden: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## demo: set up and run the main job — `poolwarden check` over examples/ (exit 1: it finds the seeds' bugs)
demo: $(BIN)/poolwarden
	$(BIN)/poolwarden check examples/

## system-deps: the Debian packages the suite runs for real (PostgreSQL, PgBouncer, Redis), if missing
system-deps:
	./scripts/system-deps

## test: set up and run the whole test suite, plus ruff, mypy and poolwarden on its own source
test: system-deps $(BIN)/poolwarden
	$(BIN)/ruff check src tests $(wildcard benchmarks/*.py)
	$(BIN)/mypy
	$(BIN)/poolwarden check src/
	$(BIN)/pytest -n 2

lint: $(BIN)/poolwarden
	$(BIN)/ruff check src tests $(wildcard benchmarks/*.py)
	$(BIN)/mypy

docs: $(BIN)/poolwarden
	$(BIN)/python -m poolwarden.check.docs docs/rules

bench: $(BIN)/poolwarden
	$(BIN)/python benchmarks/check_speed.py
	$(BIN)/python benchmarks/doctor_snapshot.py
	$(BIN)/python benchmarks/monitor_overhead.py
	$(BIN)/python benchmarks/django_overhead.py
	$(BIN)/python benchmarks/breaker_outage.py

clean:
	rm -rf $(VENV) .poolwarden_cache .pytest_cache .mypy_cache .ruff_cache
