# Two entry points for a fresh machine with Python 3.11, 3.12 or 3.13 (see README.md):
#   make run    install regionopt into .venv and run the default Zhejiang scenario
#   make test   install regionopt with its test extras (and headless Chromium) and run the test suite
# The newest python3.X (X >= 11) that runs is used; choose another with
# `make PYTHON=/path/to/python3.X test`.
PY_MINORS := 20 19 18 17 16 15 14 13 12 11
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for v in $(PY_MINORS); do \
            python3.$$v -c 'import sys' >/dev/null 2>&1 && { echo python3.$$v; break; }; \
          done)
endif
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test install install-test chromium python-check which-python

python-check:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "error: regionopt needs Python 3.11 or newer, and no python3.11 ... python3.20 was found on PATH." >&2; \
	  echo "  install one (Debian/Ubuntu: apt-get install python3.11 python3.11-venv; or pyenv install 3.13)" >&2; \
	  echo "  or name it: make PYTHON=/path/to/python3 $(MAKECMDGOALS)" >&2; exit 2; \
	fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || { \
	  echo "error: $(PYTHON) is not Python 3.11 or newer (regionopt needs >= 3.11): make PYTHON=/path/to/python3.11" >&2; exit 2; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "error: $(PYTHON) has no venv/ensurepip module (Debian/Ubuntu: apt-get install python3.X-venv)" >&2; exit 2; }

which-python: python-check
	@echo $(PYTHON)

$(BIN)/python: | python-check
	@echo "using $(PYTHON) ($$($(PYTHON) -c 'import sys; print(sys.version.split()[0])'))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'

# Browser tests drive Debian's Chromium; install it when it is missing and we may.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "note: /usr/bin/chromium missing; browser tests will be skipped (sudo apt-get install chromium)"; \
	  fi; \
	fi

run: install
	$(BIN)/regionopt run

test: install-test chromium
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q
