# Two targets a newcomer needs: `make demo` and `make test`. Both set everything up first.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

.PHONY: setup demo test benchmark system-deps emulators lookmlint

system-deps:
	bash scripts/install_system_deps.sh

$(BIN)/callmood: setup.py
	$(MAKE) system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

setup: $(BIN)/callmood

demo: setup
	rm -f results.duckdb
	$(BIN)/callmood run --input examples/calls --output results.duckdb
	$(BIN)/python scripts/demo_summary.py results.duckdb
	$(BIN)/callmood dashboard --db results.duckdb --out report.html

emulators:
	bash scripts/install_emulators.sh

lookmlint:
	bash scripts/install_lookmlint.sh

test: setup emulators lookmlint
	$(BIN)/pytest -q -rs tests

benchmark: setup
	$(BIN)/python benchmarks/throughput.py
