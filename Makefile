# Entry points for a fresh machine: `make demo`, `make test` and `make lint` (each creates the venv).
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: demo test lint bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/labtui demo

# A worker per core (pytest-xdist); the testbed's tests all go to one worker (tests/conftest.py).
TEST_JOBS ?= auto
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadgroup

# ruff, mypy (strict for labtui/) and the import contracts; all three run, and any finding fails the target.
lint: $(STAMP)
	@status=0; \
	echo "== ruff"; $(VENV)/bin/ruff check --no-cache . || status=1; \
	echo "== mypy"; $(VENV)/bin/mypy || status=1; \
	echo "== import contracts"; $(VENV)/bin/lint-imports --no-cache || status=1; \
	exit $$status

bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

screenshots: $(STAMP)
	$(PY) scripts/screenshots.py screenshots

clean:
	rm -rf $(VENV) build *.egg-info snapshot_report.html .mypy_cache
