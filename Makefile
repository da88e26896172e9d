# The two commands of the README's quick start. Each installs what it needs into .venv, idempotently.
# The bench extra (OpenVINO, NNCF) installs in seconds from wheels, so CI runs the peer engines' tests too.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test install

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/segdeploy demo

test: $(STAMP)
	$(BIN)/python -m pytest
