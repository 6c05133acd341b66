# Two commands from a fresh clone (see README.md):
#   make demo          installs into .venv and runs the demo on testproject (SQLite)
#   make test          installs into .venv and runs the tests (DB=sqlite|postgres|mariadb)
# Both create their own virtualenv with $(PYTHON) (3.10 or newer).

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3.10 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null \
	&& { echo $$p; break; }; done)
VENV ?= .venv
DB ?= sqlite
PYTEST_ARGS ?=
BIN = $(VENV)/bin

ifeq ($(DB),sqlite)
  TEST_DATABASE_URL ?=
else ifeq ($(DB),postgres)
  TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/django_cicd
else ifeq ($(DB),mariadb)
  TEST_DATABASE_URL ?= mysql://root@127.0.0.1:3306/django_cicd
else
  $(error DB must be sqlite, postgres or mariadb, not '$(DB)')
endif

.PHONY: demo test lint docs benchmark clean

$(BIN)/activate:
	@test -n "$(PYTHON)" || { echo "Python 3.10 or newer is needed (set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml requirements/test.txt
	$(BIN)/python -m pip install --quiet -e '.[all]' -r requirements/test.txt
	touch $@

$(VENV)/.mysqlclient: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet 'mysqlclient>=2.2'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python scripts/demo.py

test: $(VENV)/.installed $(if $(filter mariadb,$(DB)),$(VENV)/.mysqlclient)
	$(if $(TEST_DATABASE_URL),DATABASE_URL='$(TEST_DATABASE_URL)') $(BIN)/coverage run -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -r requirements/lint.txt
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy django_cicd

docs: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -r requirements/docs.txt
	$(BIN)/mkdocs build --strict

# make benchmark BENCH=predeploy BENCH_ARGS='--repeat 5'   (runs benchmarks/bench_$(BENCH).py; see benchmarks/)
benchmark: $(VENV)/.installed $(VENV)/.mysqlclient
	@test -n "$(BENCH)" || { echo "BENCH=name is needed, one of: $$(ls benchmarks/bench_*.py | sed 's|.*/bench_||; s|\.py||' | tr '\n' ' ')"; exit 2; }
	$(BIN)/python benchmarks/bench_$(BENCH).py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .tox var build dist site .coverage .coverage.* htmlcov
