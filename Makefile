# The few commands people type. Everything else is `hfit ...` inside the virtualenv.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CUSTOMERS ?= 10000

.PHONY: demo test test-fast test-nojit snapshot-definitions soak lint dagster serve lock clean

# the install also compiles hfit's bytecode: where PYTHONDONTWRITEBYTECODE is set (as on the machines CI runs on here) every hfit
# process would otherwise compile its ~130 modules again (~0.1 s of CPU each time)
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev,scale]'
	$(BIN)/python -m hfit_dagster.jit_warmup
	$(BIN)/python -m compileall -q hfit_dagster api
	touch $(STAMP)

## make demo: create the environment, generate the SQLite demo source, build daily-dev-scenario
demo: $(STAMP)
	$(BIN)/hfit demo --customers $(CUSTOMERS)

## make test-fast: unit and contract tests, the API through an in-process TestClient; no database server, no
## subprocess server (the tests tests/conftest.py marks `fast`); one pytest worker per core, WORKERS=0 for one
## process
WORKERS ?= auto
test-fast: $(STAMP)
	$(BIN)/pytest -m fast -n $(WORKERS)

## make test: lint, the whole suite (both tiers; needs MariaDB and PostgreSQL on 127.0.0.1, see .ci/run), and
## the compiled loops' equivalence tests once more with numba's JIT off; one pytest worker per core (tests make
## their own throwaway databases, homes and ports, so they run side by side), WORKERS=0 for one process
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(WORKERS)
	$(MAKE) test-nojit

# the tests that compare a compiled (numba) loop with its reference path, or check a compiled loop's output
# property by property (IBAN check digits, the row prefilter), selected by name in the packages that hold
# compiled loops (extract, checks, masking, package)
NOJIT_TESTS  := tests/extract tests/checks tests/masking tests/package
NOJIT_SELECT := fast_path or reference or compiled or equal or python or wire or decode or siphash or kernel \
                or iban_keeps or row_prefilter

## make test-nojit: those equivalence tests with NUMBA_DISABLE_JIT=1, so the loops run as plain Python and
## both sides are checked by the interpreter too
test-nojit: $(STAMP)
	NUMBA_DISABLE_JIT=1 $(BIN)/pytest -n $(WORKERS) $(NOJIT_TESTS) -k "$(NOJIT_SELECT)"

## make snapshot-definitions: rewrite tests/orchestration/snapshots/definitions.json from templates/ after an
## intended change of assets, jobs, schedules, sensors or checks (review the diff, commit it with the change)
snapshot-definitions: $(STAMP)
	HFIT_UPDATE_SNAPSHOT=1 $(BIN)/pytest tests/orchestration/test_definitions_snapshot.py -q -rs

## make soak: the load tests with ten times the requests (not part of make test)
soak: $(STAMP)
	HFIT_SOAK=1 $(BIN)/pytest tests/reliability/test_load.py -s

lint: $(STAMP)
	$(BIN)/ruff check .

## make dagster: the Dagster UI over templates/ (after `make demo`), on the instance `hfit serve` and `hfit build`
## use: $DAGSTER_HOME when set, else <home>/dagster (HFIT_HOME, default .hfit), created private
dagster: $(STAMP)
	DAGSTER_HOME="$$($(BIN)/python -m hfit_dagster.orchestration.instance)" && export DAGSTER_HOME && \
		$(BIN)/dagster dev -w workspace.yaml

## make bench: hfit build beside mysqldump on a generated MariaDB dataset and beside pg_dump on the same rows in
## PostgreSQL (SCALE=small|medium|default, REPEAT=3); figures in bench/results/latest.json, method in
## docs/performance.md
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python bench/run.py --scale $(or $(SCALE),default) --repeat $(or $(REPEAT),3)

## make lock: refresh requirements.lock from the current environment
lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e ' > requirements.lock

clean:
	rm -rf .hfit .pytest_cache

## make privacy: free-text redaction recall per entity kind, over-masking and texts/s beside stock Presidio on a
## generated corpus (held-out seed; SEED=1 for the development seed); figures in bench/results/privacy.json
.PHONY: privacy
privacy: $(STAMP)
	$(BIN)/python bench/privacy.py --seed $(or $(SEED),2026)
