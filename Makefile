# `make test` and `make demo` both create .venv when it is missing and install ablate into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install test demo clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/ablate sweep search_spaces/quickstart.yaml
	@echo "Dashboard: $(CURDIR)/results/quickstart/dashboard.html"

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
