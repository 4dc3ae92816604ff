# Quick start: `make demo` then `make test`; each creates .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
DEMO_OUT ?= demo-out

.PHONY: venv demo test bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	npm ci --no-audit --no-fund --loglevel=error  # Leaflet and plugins that map.html inlines (package-lock.json)
	touch $@

# Exit 1 means "conflicts found" (the demo province has them on purpose): only 2 or more is an error.
demo: venv
	$(BIN)/kgspatial demo --out $(DEMO_OUT) || [ $$? -eq 1 ]

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python bench/run_bench.py --sizes 100000x10000

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
