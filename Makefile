# The two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test venv test-venv system-deps demo bench clean

$(BIN)/.installed: requirements.txt setup.cfg
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e . --config-settings editable_mode=compat
	touch $@

$(BIN)/.installed-test: $(BIN)/.installed requirements-test.txt
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@

venv: $(BIN)/.installed
test-venv: $(BIN)/.installed-test

## make run: set up, migrate, load the demo (once) and serve on http://$(HOST):$(PORT)
run: venv
	$(BIN)/wuyepay db upgrade
	$(BIN)/wuyepay demo --if-empty
	$(BIN)/wuyepay serve --host $(HOST) --port $(PORT)

## make test: set up, install missing system packages, run every test
test: test-venv system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

system-deps:
	@bash scripts/ensure-system-deps.sh

bench: test-venv system-deps
	$(BIN)/python bench/billing_run.py --houses 50000

clean:
	rm -rf $(VENV) .pytest_cache test-output
