# soloreel — the two set-up commands are `make demo` and `make test`; both build .venv first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
EXTRAS ?= dev,ml,farm
comma := ,
# The stamp names the extras and is rebuilt whenever pyproject.toml changes, so the (large)
# install runs once per dependency change, not once per command.
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
DEMO ?= timelines/campfire

.PHONY: venv demo test test-all lint bench clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	$(BIN)/python -m render_engine.capture.models
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: venv
	$(BIN)/soloreel demo $(DEMO)

test: venv
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-all: venv
	$(BIN)/python -m pytest -q -m "slow or not slow" $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .

bench: venv
	$(BIN)/python -m bench $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
