# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test chaos test-cluster bench lint schemas clean

# Re-install only when pyproject.toml changes (idempotent bootstrap).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ticketflow run

# The whole suite, the chaos run included (it brings its own broker; about 90 s).
test: $(STAMP)
	$(BIN)/python -m pytest -q -rP

# The chaos run alone (issue 6).
chaos: $(STAMP)
	$(BIN)/python -m pytest -q -rP -m chaos

# The end-to-end suite again, on a 3-master Redis Cluster started from redis-server binaries.
test-cluster: $(STAMP)
	TICKETFLOW_TEST_REDIS=cluster $(BIN)/python -m pytest -q -m "e2e and not chaos"

bench: $(STAMP)
	$(BIN)/ticketflow bench

lint: $(STAMP)
	$(BIN)/ruff check .

schemas: $(STAMP)
	$(BIN)/python -m schemas.generate

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
