# auroram: `make demo` runs the tiny Aurora-M recipe end to end; `make test` runs the test suite.
# Both install what they need into .venv/ first (Debian, Python 3.11+).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# the CPU wheel: a bare `torch` would pull a multi-GB CUDA build
TORCH  ?= torch==2.13.0
RUN    ?= runs/tiny

.PHONY: setup demo demo-deps test-deps test clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test,curate,lmeval,wandb,mlflow]"
	touch $(STAMP)

# the demo corpus is extracted from Debian doc packages: apt lists and the man-page renderer are needed
demo-deps:
	@bash scripts/demo-deps.sh

demo: setup demo-deps
	$(VENV)/bin/auroram run tiny --run-dir $(RUN)
	@echo "report: $(RUN)/report/index.html"

# Chromium for the review-page test and unshare for the sandbox (installed when missing, as root)
test-deps:
	@bash scripts/test-deps.sh

test: setup test-deps
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) runs
