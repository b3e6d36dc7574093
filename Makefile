# newsbot: `make run` starts the bot (the terminal chat when no token is set), `make test` runs
# lint, type checks and the test suite. Both bootstrap their own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORPUS ?= ../shared/corpora/feedparser

.PHONY: run test lint typecheck pytest chaos corpus bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "newsbot needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/newsbot run

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

# The chaos suite at full size: SIGKILLs, SIGTERM, failing platforms and storage against the
# real `newsbot run` (minutes; `make test` runs it bounded). Figures: docs/reliability.md.
CHAOS_REPORT ?= chaos-report.json
chaos: $(STAMP)
	CHAOS_SIZE=full CHAOS_REPORT=$(CHAOS_REPORT) $(BIN)/pytest -q -m chaos -p no:cacheprovider tests/chaos

# Feeds every file of feedparser's own test corpus through ingest (not part of `make test`).
corpus: $(STAMP)
	$(BIN)/python -m bench.corpus_check $(CORPUS)

# search_bench builds its archives (up to 100k articles) once, in the temp folder; the
# PostgreSQL benchmarks start their own server with pgserver (pg_search_bench keeps its copy).
bench: $(STAMP)
	$(BIN)/python -m bench.outbox_bench
	$(BIN)/python -m bench.search_bench
	$(BIN)/python -m bench.feeds_bench
	$(BIN)/python -m bench.startup_bench
	$(BIN)/python -m bench.store_bench
	$(BIN)/python -m bench.ingest_bench
	$(BIN)/python -m bench.platform_bench
	$(BIN)/python -m bench.loop_lag_bench
	$(BIN)/python -m bench.memory_bench
	$(BIN)/python -m bench.press_bench
	$(BIN)/python -m bench.workers_bench
	$(BIN)/python -m bench.pg_search_bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
