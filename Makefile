# gripctl's entry points. `make demo` and `make test` set up everything they need on a fresh machine.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
export UV_PYTHON_DOWNLOADS := never
UV_VERSION := 0.13.8
VENV := .venv
GRIPCTL := $(VENV)/bin/gripctl
PYTEST := $(VENV)/bin/pytest
# Tests run with the pinned toolchain first on PATH; benchmarks with the pinned toolchain plus the
# benchmark-only tools (scripts/toolchain.sh --bench: helmfile).
TOOLBIN = $(shell scripts/toolchain.sh)
BENCHBIN = $(shell scripts/toolchain.sh --bench)

.PHONY: setup toolchain bench-toolchain venv postgres browser demo demo-down test test-unit test-cluster lint fmt bench bench-validate bench-deploy bench-metrics bench-drift bench-helmd bench-scale bench-helmfile bench-serve clean

setup: toolchain venv  ## Build the pinned toolchain (cached) and the Python environment (locked).

toolchain:
	@scripts/toolchain.sh >/dev/null

bench-toolchain:  ## The pinned toolchain plus the benchmark-only tools (helmfile); only `make bench` needs it.
	@scripts/toolchain.sh --bench >/dev/null

venv:
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@# Bytecode compiled once here, not on every start: with PYTHONDONTWRITEBYTECODE set (as on these
	@# machines) each gripctl command otherwise recompiles every module it imports, ~1.5 s of its start-up.
	@python3 -m uv sync --frozen --quiet --compile-bytecode
	@$(VENV)/bin/python -m compileall -q -j 0 src >/dev/null

postgres: ## Start the test PostgreSQL server (installs Debian's postgresql when missing).
	@scripts/postgres.sh start

browser: ## Debian's chromium for the browser tests (tests/web; installed with apt-get when missing).
	@scripts/browser.sh install

demo: setup  ## Two local clusters, the example deployed to staging and promoted to production, its CI workflows.
	@PATH="$(TOOLBIN):$$PATH" scripts/demo.sh

demo-down:
	@pid="$$HOME/.cache/gripctl/demo/serve.pid"; if [[ -f "$$pid" ]]; then kill "$$(cat "$$pid")" 2>/dev/null || true; rm -f "$$pid"; fi
	@PATH="$(TOOLBIN):$$PATH" $(GRIPCTL) sandbox down --name production
	@PATH="$(TOOLBIN):$$PATH" $(GRIPCTL) sandbox down

# Three test workers on two cores: most cluster tests wait on the cluster, not the CPU. Tests of one file
# share a worker (module fixtures: the browser). The control-plane chaos tests run afterwards, alone.
TEST_WORKERS ?= 3

test: setup postgres browser lint  ## Everything: lint, unit, browser and cluster tests (starts the sandbox itself).
	@PATH="$(TOOLBIN):$$PATH" GRIPCTL_TEST_POSTGRES_URL="$$(scripts/postgres.sh url)" \
		$(PYTEST) -n $(TEST_WORKERS) --dist loadfile -m "not control_plane" tests
	@PATH="$(TOOLBIN):$$PATH" $(PYTEST) -m control_plane tests

test-unit: setup  ## The tests that need no cluster (helm, sops and age are real; PostgreSQL cases skip).
	@PATH="$(TOOLBIN):$$PATH" $(PYTEST) -m "not cluster" tests

test-cluster: setup  ## The tests that run against the sandbox cluster (started by the test session).
	@PATH="$(TOOLBIN):$$PATH" $(PYTEST) -m cluster tests

lint: venv
	@$(VENV)/bin/ruff check src tests bench
	@$(VENV)/bin/ruff format --check src tests bench
	@$(VENV)/bin/mypy

fmt: venv
	@$(VENV)/bin/ruff format src tests bench
	@$(VENV)/bin/ruff check --fix src tests bench

bench: bench-toolchain bench-validate bench-deploy bench-metrics bench-drift bench-helmd bench-scale bench-helmfile bench-serve  ## The benchmarks (bench/), with the benchmark-only tools.

bench-validate: setup bench-toolchain
	@PATH="$(BENCHBIN):$$PATH" $(VENV)/bin/python bench/validate.py

bench-deploy: setup bench-toolchain
	@PATH="$(BENCHBIN):$$PATH" $(VENV)/bin/python bench/deploy.py

bench-drift: setup bench-toolchain  ## gripctl drift of a 30-release example-like platform on the sandbox (target < 2 s).
	@PATH="$(BENCHBIN):$$PATH" $(VENV)/bin/python bench/drift.py

bench-metrics: setup bench-toolchain postgres
	@PATH="$(BENCHBIN):$$PATH" GRIPCTL_TEST_POSTGRES_URL="$$(scripts/postgres.sh url)" $(VENV)/bin/python bench/metrics.py

bench-helmd: setup bench-toolchain  ## observe's helm calls: a helm process per call vs gripctl-helmd (renders; reads, snapshot on the sandbox).
	@PATH="$(BENCHBIN):$$PATH" $(VENV)/bin/python bench/helmd.py

bench-scale: setup bench-toolchain  ## gripctl's cost curve for 12/40/100/300 releases on the sandbox (issue 14's targets).
	@PATH="$(BENCHBIN):$$PATH" $(VENV)/bin/python bench/scale.py

bench-helmfile: setup bench-toolchain  ## gripctl and helmfile side by side, whole CLI processes, on the sandbox.
	@PATH="$(BENCHBIN):$$PATH" $(VENV)/bin/python bench/helmfile.py

bench-serve: setup postgres  ## The server over a million deploys: page and API times (p95 < 200 ms), SSE latency.
	@PATH="$(TOOLBIN):$$PATH" GRIPCTL_TEST_POSTGRES_URL="$$(scripts/postgres.sh url)" $(VENV)/bin/python bench/serve.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
