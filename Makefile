# Set-up and the two everyday jobs. `make run`: install, then the quick sweep and its report.
# `make test`: install, then the test suite. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: run test install bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/neural-ode-bench run

# the suite on every core (pytest-xdist), each test module on one worker so that its fixtures run once
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadscope

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-only

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
