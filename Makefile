# The few commands people type. Everything else is `hfit ...` inside the virtualenv.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CUSTOMERS ?= 10000

.PHONY: demo test soak lint dagster serve lock clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev,scale]'
	touch $(STAMP)

## make demo: create the environment, generate the SQLite demo source, build daily-dev-scenario
demo: $(STAMP)
	$(BIN)/hfit demo --customers $(CUSTOMERS)

## make test: lint and the whole test suite (needs MariaDB and PostgreSQL on 127.0.0.1; see .ci/run)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

## make soak: the load tests with ten times the requests (not part of make test)
soak: $(STAMP)
	HFIT_SOAK=1 $(BIN)/pytest tests/reliability/test_load.py -s

lint: $(STAMP)
	$(BIN)/ruff check .

## make dagster: the Dagster UI over templates/ (after `make demo`)
dagster: $(STAMP)
	$(BIN)/dagster dev -w workspace.yaml

## make bench: hfit build beside mysqldump on a generated MariaDB dataset (SCALE=small|medium|default, REPEAT=3);
## figures in bench/results/latest.json, method in docs/performance.md
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python bench/run.py --scale $(or $(SCALE),default) --repeat $(or $(REPEAT),3)

## make lock: refresh requirements.lock from the current environment
lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e ' > requirements.lock

clean:
	rm -rf .hfit .pytest_cache
