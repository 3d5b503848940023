# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test chaos lint typecheck clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "streamq needs Python >= 3.11 (found $$($(PYTHON) --version)); set PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/streamq demo

test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The chaos suite at full size (tests/chaos, docs/reliability.md): more jobs, kills and load.
chaos: $(VENV)/.installed-dev
	STREAMQ_CHAOS=long $(BIN)/python -m pytest tests/chaos -m chaos -p no:randomly --timeout 1800 -v

# The real-Redis tests again, as a least-privilege ACL user (docs/security.md) on a throwaway
# redis-server: proves the documented ACL is enough for everything streamq does.
test-acl: $(VENV)/.installed-dev
	STREAMQ_TEST_ACL=1 $(BIN)/python -m pytest -k "not memory" -p no:randomly

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Benchmarks against the peers (benchmarks/README.md). The peers live in venvs of their own
# under .bench/ (taskiq-redis needs a newer redis-py than arq and the bullmq port allow);
# BullMQ for Node is installed when node and npm are there, and skipped otherwise.
BENCH := .bench
BENCH_ARGS ?=

.PHONY: bench bench-quick bench-peers-venv

$(BENCH)/venv-peers/.installed: benchmarks/peers/requirements.txt
	$(PYTHON) -m venv $(BENCH)/venv-peers
	$(BENCH)/venv-peers/bin/pip install --quiet -r $<
	@touch $@

$(BENCH)/venv-taskiq/.installed: benchmarks/peers/requirements-taskiq.txt
	$(PYTHON) -m venv $(BENCH)/venv-taskiq
	$(BENCH)/venv-taskiq/bin/pip install --quiet -r $<
	@touch $@

$(BENCH)/node/.installed: benchmarks/peers/node/package.json
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
		mkdir -p $(BENCH)/node && cp $< $(BENCH)/node/ && \
		(cd $(BENCH)/node && npm install --no-audit --no-fund --no-package-lock) && touch $@; \
	else echo "node/npm not found: BullMQ (Node) will be skipped"; fi

bench-peers-venv: $(BENCH)/venv-peers/.installed $(BENCH)/venv-taskiq/.installed $(BENCH)/node/.installed

bench: $(VENV)/.installed-dev bench-peers-venv
	$(BIN)/python benchmarks/run.py --tag full $(BENCH_ARGS)

bench-quick: $(VENV)/.installed-dev bench-peers-venv
	$(BIN)/python benchmarks/run.py --tag quick --n 2000 --reps 1 --mem-n 10000 --ops-n 500 \
		--lat-n 100 --scale-waiting 2000,50000 --scale-slice 2000 --scale-delayed 10000 \
		--background-n 5000 --background-enqueues 500 $(BENCH_ARGS)
