# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install browser bench bench-turn bench-serve schemas clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Serve on 127.0.0.1:8080: demo catalog and policy, SQLite under var/, offline model, demo keys printed.
run: $(STAMP)
	mkdir -p var
	DEALDESK_DB=sqlite:///$(CURDIR)/var/dealdesk.db $(BIN)/dealdesk serve --host 127.0.0.1 --port 8080 --demo

# The console's browser tests drive the system Chromium (Debian package) through Playwright;
# never `playwright install` (no browser download). Installed here when missing (as root).
CHROMIUM := /usr/bin/chromium

browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium (apt-get)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "$(CHROMIUM) is missing and this is not root: run 'sudo apt-get install -y chromium'" >&2; \
	    if [ -n "$$CI" ]; then exit 1; fi; \
	  fi; \
	fi

test: $(STAMP) browser
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python bench/pricing.py

bench-turn: $(STAMP)
	$(BIN)/python bench/turn.py --turns 200

bench-serve: $(STAMP)
	$(BIN)/python bench/serve.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
