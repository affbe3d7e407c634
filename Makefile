# Two entry points for a fresh machine with Python 3.11 (see README.md):
#   make run    install regionopt into .venv and run the default Zhejiang scenario
#   make test   install regionopt with its test extras (and headless Chromium) and run the test suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test install install-test chromium

$(BIN)/python:
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
	$(BIN)/python -m pytest -q
