# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install bench schemas clean

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

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python bench/pricing.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
