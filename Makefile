# Entry points. `make run` and `make test` set up .venv themselves on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
READY  := $(VENV)/.installed
LOCK   := requirements.lock
# uv resolves the lock (make lock) and the lowest allowed versions (make test-lowest); pip installs the lock.
UV_VERSION := 0.13.9
UV     := $(VENV)/bin/uv
UV_READY := $(VENV)/.uv-$(UV_VERSION)
LOWEST ?= .venv-lowest

export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_LOGGING_LEVEL ?= WARNING

.PHONY: install lock run test test-lowest lint format bench bench-load serve status sample clean core

# One line, before pip starts resolving, when the Python is missing or too old (pip would spin for minutes).
PYCHECK := import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else "error: Python 3.11+ needed, $(PYTHON) \
is %d.%d (make PYTHON=python3.11 ...)" % v[:2])

# The Python check, then $(VENV) if missing.
define venv
@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; Python 3.11+ needed (make PYTHON=...)" >&2; exit 1; }
@$(PYTHON) -c '$(PYCHECK)'
test -x $(PY) || $(PYTHON) -m venv $(VENV)
endef

# Exactly the locked versions (hash-checked), then the project itself without resolving anything. pip check fails
# when the lock no longer satisfies pyproject.toml's dependencies: run `make lock`.
$(READY): pyproject.toml $(LOCK)
	$(venv)
	@echo "installing the locked dependencies into $(VENV) (about 2 minutes the first time; later runs skip this)"
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@$(PY) -m pip check >/dev/null || { $(PY) -m pip check >&2; echo "error: $(LOCK) does not fit pyproject.toml: \
	make lock" >&2; exit 1; }
	touch $(READY)

$(UV_READY):
	$(venv)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	touch $(UV_READY)

install: $(READY)

# The newest versions pyproject.toml allows (dev extra included), for Python 3.11+ on every platform, one version
# of each package where possible, with hashes. `make lock LOCKFLAGS=` keeps the pins that still fit instead.
LOCKFLAGS ?= --upgrade
lock: $(UV_READY) ## re-resolve requirements.lock from pyproject.toml
	$(UV) pip compile pyproject.toml --extra dev --universal --fork-strategy fewest --python-version 3.11 \
	  --generate-hashes --custom-compile-command 'make lock' $(LOCKFLAGS) --quiet -o $(LOCK)

run: $(READY)   ## export raw/ into output/<STUDYID>/<UTC stamp>/ and point latest at it
	$(PY) -m flows export --raw raw --out output

test: $(READY)  ## the test suite (what CI runs)
	$(PY) -m pytest

# The lowest versions pyproject.toml allows for its direct dependencies (uv's lowest-direct resolution; what those
# pull in at its newest), in $(LOWEST) (the versions: $(LOWEST)/requirements.txt), and the tests that exercise them:
# all but the server tests (-m 'not server', the pandas, pyarrow, numpy, pandera, pyreadstat, lxml and jsonschema code
# paths, the Prefect flow on a test server, deployments and crash detection), plus one served deployment triggered
# end to end through the API (Prefect's server, runner and client). The whole suite (~9 min) would double CI's time.
test-lowest: $(UV_READY) ## the tests on the lowest allowed versions (what CI runs after make test)
	@$(PYTHON) -c '$(PYCHECK)'
	test -x $(LOWEST)/bin/python || $(PYTHON) -m venv --without-pip $(LOWEST)
	$(UV) pip compile pyproject.toml --extra dev --resolution lowest-direct --python $(LOWEST)/bin/python \
	  --quiet -o $(LOWEST)/requirements.txt
	$(UV) pip sync --python $(LOWEST)/bin/python --quiet $(LOWEST)/requirements.txt
	$(UV) pip install --python $(LOWEST)/bin/python --quiet --no-deps -e .
	$(LOWEST)/bin/s103-sdtm --version
	$(LOWEST)/bin/python -m pytest -m 'not server'
	$(LOWEST)/bin/python -m pytest tests/test_serve.py::test_triggered_run_completes_publishes_and_reports

lint: $(READY)  ## ruff, and the floor plan: stage packages import one way ([tool.importlinter] in pyproject.toml)
	$(VENV)/bin/ruff check flows tests bench
	$(VENV)/bin/ruff format --check flows tests bench
	$(VENV)/bin/lint-imports

format: $(READY)
	$(VENV)/bin/ruff format flows tests bench
	$(VENV)/bin/ruff check --fix flows tests bench

sample: $(READY) ## regenerate the committed sample raw exports
	$(PY) -m flows synth --subjects 34 --seed 20250321 --out raw

clean:
	rm -rf output .pytest_cache .ruff_cache

# A local Prefect server (database in .prefect/, http://127.0.0.1:4200) unless PREFECT_API_URL (or the active
# Prefect profile) names one, and a runner serving prefect.yaml's nightly deployment. Ctrl-C stops both.
# SPECS="specs tests/studies/PBO-2201/specs" serves (and shows) one deployment per study.
serve: $(READY) ## serve the scheduled export (prefect.yaml); UI at http://127.0.0.1:4200
	$(PY) -m flows serve $(foreach s,$(SPECS),--specs $(s))

status: $(READY) ## the latest transfer and the last runs
	$(PY) -m flows status $(foreach s,$(SPECS),--specs $(s))

# Export cost at 1k, 10k and 100k subjects (core and Prefect flow) against a pyarrow floor measured in the same run;
# medians of 3 fresh processes each (one run of the 100k flow), stage timings at 100k, one core run of 300k for the
# memory target (skipped, with the reason in the report, when 3x the 100k run's transfer and peak RSS would not fit in
# the free disk and MemAvailable), reading 10k as CSV, vendor CSV, XPT and ODM, the cold CLI run on raw/; issue 23's
# targets met or not, with the stage that holds each not met. Data are kept in bench/data/, transfers deleted once
# measured. A subset while developing: BENCH_SIZES=1000,10000 (subjects) and BENCH_SKIP_300K=1 (no 300k run), e.g.
# `make bench BENCH_SIZES=1000,10000 BENCH_SKIP_300K=1`.
bench: $(READY) ## the benchmark table on stdout and in bench/results.md
	$(PY) bench/run.py

# 20 copies of the study scheduled (study.yaml cron) for the same minute, a process work pool of two workers, on a
# throwaway server with SQLite, then PostgreSQL (initdb/pg_ctl in a temporary folder): every run completes, no slot,
# lock or "database is locked" left; the drain times go to their section of bench/results.md. Ctrl-C cleans up.
bench-load: $(READY) ## drain time of 20 studies scheduled for one minute, SQLite and PostgreSQL
	$(PY) bench/load.py

# CDISC CORE's SDTMIG 3.4 rules on the latest transfer (make run first), offline, outside the project's venv: Python
# 3.12, CORE from PyPI in ../core-venv and its rules cache in ../core-src (README, "CDISC CORE"). Not part of make test
# or CI. CORE_FLAGS="--transfer DIR --source PATH ..." (python3 tools/core/run_core.py --help).
core: ## CDISC CORE conformance report of output/<STUDYID>/latest in output/core/
	$(PYTHON) tools/core/run_core.py $(CORE_FLAGS)
