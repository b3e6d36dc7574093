# newsbot: `make run` starts the bot (the terminal chat when no token is set), `make test` runs
# lint, type checks and the test suite. Both bootstrap their own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORPUS ?= ../shared/corpora/feedparser

.PHONY: run shell test lint typecheck pytest browser constraints chaos corpus corpus-present bench clean

# constraints.txt pins every package to the versions the suite passed with (as the Dockerfile
# does); `make constraints` writes it anew from this virtual environment.
$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "newsbot needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,fulltext]'
	@touch $(STAMP)

constraints: $(STAMP)
	@{ sed -n '1,3p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -vi '^newsbot'; } > constraints.txt.new
	@mv constraints.txt.new constraints.txt
	@echo "constraints.txt: $$(grep -vc '^#' constraints.txt) packages pinned"

run: $(STAMP)
	$(BIN)/newsbot run

# A shell with `newsbot` on the PATH, for the README's examples; `exit` leaves it.
shell: $(STAMP)
	@echo "newsbot is on the PATH in this shell ($(BIN)); exit leaves it."
	@PATH="$(CURDIR)/$(BIN):$$PATH" $${SHELL:-/bin/sh}

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) browser
	$(BIN)/pytest -q

# The dashboard test drives Debian's headless Chromium: installed here when absent and this is
# root on a system with apt-get; otherwise a hint (the test is skipped, which CI=true fails).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq chromium chromium-driver; \
	else \
		echo "make: the dashboard test needs Chromium: sudo apt-get install chromium chromium-driver (it is skipped without them)" >&2; \
	fi

# The chaos suite at full size: SIGKILLs, SIGTERM, failing platforms and storage against the
# real `newsbot run` (minutes; `make test` runs it bounded). Figures: docs/reliability.md.
CHAOS_REPORT ?= chaos-report.json
chaos: $(STAMP)
	CHAOS_SIZE=full CHAOS_REPORT=$(CHAOS_REPORT) $(BIN)/pytest -q -m chaos -p no:cacheprovider tests/chaos

corpus-present:
	@test -d "$(CORPUS)" || { echo "make corpus: no corpus at $(CORPUS). It needs feedparser's test files: clone https://github.com/kurtmckee/feedparser and run make corpus CORPUS=path/to/feedparser/tests" >&2; exit 2; }

# Feeds every file of feedparser's own test corpus through ingest (not part of `make test`).
# The corpus is checked for first, before the virtual environment is built.
corpus: corpus-present $(STAMP)
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
	$(BIN)/python -m bench.metrics_bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
