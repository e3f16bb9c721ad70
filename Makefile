# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

UV_VERSION := 0.13.9

.PHONY: run test chaos chaos-kafka test-cluster test-kafka kafka bench lint schemas lock redis-server asyncapi python clean

# Re-install only when the lock file changes (idempotent bootstrap). Every package, direct
# and transitive, comes from requirements.lock at its pinned version and hash.
$(STAMP): requirements.lock pyproject.toml | python
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || \
	  { echo "error: ticketflow needs Python 3.11 or later as $(PYTHON) (make PYTHON=python3.12 ...)" >&2; exit 1; }

# The suites and `make run` start their own redis-server on free ports; install it if absent.
redis-server:
	@.ci/ensure-redis-server

# The official AsyncAPI parser, pinned in tools/asyncapi/package-lock.json, that a test runs
# over docs/asyncapi.yaml; installed once into tools/asyncapi/node_modules. Needs Node.js and npm.
ASYNCAPI_STAMP := tools/asyncapi/node_modules/.installed
asyncapi: $(ASYNCAPI_STAMP)
$(ASYNCAPI_STAMP): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || \
	  { echo "error: the contract check needs Node.js and npm on PATH (e.g. apt-get install nodejs npm)" >&2; exit 1; }
	cd tools/asyncapi && SCARF_ANALYTICS=false npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# Refresh the lock file on purpose (newest versions the ranges in pyproject.toml allow).
lock: | python
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/python -m uv pip compile pyproject.toml requirements-build.in --extra test --generate-hashes \
	  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu --quiet -o requirements.lock
	@echo "requirements.lock refreshed: run make schemas and the suite, then commit both"

run: $(STAMP) redis-server
	$(BIN)/ticketflow run

# The whole suite, the chaos run included (it brings its own broker; about 90 s).
# Two pytest processes share the end-to-end tests (each with its own broker and Redis); the
# chaos run, which kills replicas at random moments, then runs alone.
test: $(STAMP) redis-server asyncapi
	$(BIN)/python -m pytest -q -rfEP -n 2 --dist worksteal -m "not chaos and not broker_faults"
	$(BIN)/python -m pytest -q -rfEP -m chaos

# The chaos run alone (issue 6).
chaos: $(STAMP) redis-server
	$(BIN)/python -m pytest -q -rfEP -m chaos

# The end-to-end suite again, on a 3-master Redis Cluster started from redis-server binaries.
test-cluster: $(STAMP) redis-server
	TICKETFLOW_TEST_REDIS=cluster $(BIN)/python -m pytest -q -m "e2e and not chaos"

# Apache Kafka's jars (the version pinned in deploy/kafka/pom.xml) fetched with Maven into
# .cache/kafka/<version>/libs, once; needs Java 17+ and Maven. Idempotent.
kafka:
	@.ci/ensure-kafka

# The end-to-end suite, the chaos run included, on Apache Kafka (KRaft) instead of tansu.
test-kafka: $(STAMP) redis-server kafka
	TICKETFLOW_TEST_BROKER=kafka $(BIN)/python -m pytest -q -rfEP -m "e2e"

# Broker faults (X6) on a 3-node Apache Kafka cluster: a partition leader, then the active
# controller, SIGKILLed and restarted under traffic (a few minutes).
chaos-kafka: $(STAMP) redis-server kafka
	TICKETFLOW_TEST_BROKER=kafka $(BIN)/python -m pytest -q -rfEP -m broker_faults

bench: $(STAMP) redis-server
	$(BIN)/ticketflow bench

lint: $(STAMP)
	$(BIN)/ruff check .

schemas: $(STAMP)
	$(BIN)/python -m schemas.generate

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
