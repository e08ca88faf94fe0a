# plugwire: certificates, plugin server, client, tests, demo and benchmarks.
# The certs-mcp-* targets keep the names and variables ContextForge users already know.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

CARGO ?= cargo
PYTHON ?= python3
PLUGWIRE := target/debug/plugwire

# Certificates (same variables as ContextForge's Makefile).
MCP_CERT_DAYS ?= 825
MCP_CERT_DIR ?= certs/mcp
# Empty: the default plugins/external/config.yaml, with the two example plugins when it is missing.
MCP_PLUGIN_CONFIG ?=
MCP_KEY_TYPE ?= rsa4096

# Python peer (interop tests, benchmarks): a venv under target/, pinned.
VENV := target/interop-venv
VENV_PY := $(VENV)/bin/python
INTEROP_CONSTRAINTS := tests/interop/contextforge-1.0.0-constraints.txt

.PHONY: help build test lint unit interop venv demo bench \
        certs-mcp-all certs-mcp-ca certs-mcp-gateway certs-mcp-plugin certs-mcp-check

help:
	@echo "make demo    certificates, an mTLS plugin server and a gateway-side call, on loopback"
	@echo "make test    formatting, clippy, unit + end-to-end tests, interop with the Python package"
	@echo "make bench   benchmarks against the Python runtime (writes docs/benchmarks.md)"
	@echo "make certs-mcp-all | certs-mcp-ca | certs-mcp-gateway | certs-mcp-plugin PLUGIN_NAME=x | certs-mcp-check"

build:
	$(CARGO) build --quiet -p plugwire

# ---------------------------------------------------------------- certificates
# Same target names and variables as ContextForge's Makefile, done by `plugwire certs` (X.509 v3
# with key usages, random serials, atomic writes; docs/certs.md). Extra variables:
#   MCP_CERT_SANS="DNS:svc.ns.svc IP:127.0.0.1"  extra SANs for plugin certificates
#   MCP_CERT_WARN_DAYS=30                          warning window of certs-mcp-check
#   MCP_CERT_FORCE=1                               replace existing identities (--force)
MCP_CERT_SANS ?=
MCP_CERT_WARN_DAYS ?= 30
MCP_CERT_FORCE ?=
MCP_CERT_ARGS = --dir "$(MCP_CERT_DIR)" --days "$(MCP_CERT_DAYS)" --key-type "$(MCP_KEY_TYPE)"$(if $(MCP_CERT_FORCE), --force)
MCP_CERT_SAN_ARGS = $(foreach san,$(MCP_CERT_SANS),--san "$(san)")

certs-mcp-ca: build
	$(PLUGWIRE) certs ca $(MCP_CERT_ARGS)

certs-mcp-gateway: build
	$(PLUGWIRE) certs gateway $(MCP_CERT_ARGS)

# PLUGIN_NAME reaches plugwire through the environment, so no quoting can break the command;
# plugwire refuses unsafe names before writing anything.
certs-mcp-plugin: export PLUGIN_NAME := $(PLUGIN_NAME)
certs-mcp-plugin: build
	@if [ -z "$${PLUGIN_NAME:-}" ]; then \
	  echo "❌  ERROR: PLUGIN_NAME not set" >&2; \
	  echo "💡  Usage: make certs-mcp-plugin PLUGIN_NAME=my-plugin" >&2; \
	  exit 1; \
	fi
	$(PLUGWIRE) certs plugin "$$PLUGIN_NAME" $(MCP_CERT_ARGS) $(MCP_CERT_SAN_ARGS)

# MCP_PLUGIN_CONFIG empty: plugins/external/config.yaml, or the two example plugins when it is missing.
certs-mcp-all: build
	$(PLUGWIRE) certs all $(MCP_CERT_ARGS) $(MCP_CERT_SAN_ARGS)$(if $(MCP_PLUGIN_CONFIG), --config "$(MCP_PLUGIN_CONFIG)")

# Exit 0 all fine, 1 something expires within MCP_CERT_WARN_DAYS, 2 expired/invalid/foreign issuer.
certs-mcp-check: build
	$(PLUGWIRE) certs check --dir "$(MCP_CERT_DIR)" --warn-days "$(MCP_CERT_WARN_DAYS)"

# ---------------------------------------------------------------- tests
test: lint unit interop

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --quiet -- -D warnings

unit:
	$(CARGO) test --workspace

venv: $(VENV)/.installed

$(VENV)/.installed: $(INTEROP_CONSTRAINTS) tests/interop/requirements-test.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check \
	    mcp-contextforge-gateway==1.0.0 -r tests/interop/requirements-test.txt -c $(INTEROP_CONSTRAINTS) \
	  || { echo "interop: could not install mcp-contextforge-gateway==1.0.0 into $(VENV): the interop tests cannot run" >&2; exit 1; }
	touch $@

# Interop with the real Python package (mcp-contextforge-gateway 1.0.0, pinned in the venv):
# the Python gateway client against `plugwire serve`, `plugwire call` against the Python runtime.
interop: venv
	$(CARGO) build --quiet -p plugwire
	PYTHONDONTWRITEBYTECODE=1 $(VENV_PY) -m pytest tests/interop -q

# ---------------------------------------------------------------- demo
# Builds (debug), creates ECDSA certificates under target/demo, starts `plugwire serve` with mTLS
# on a free loopback port, sends calls through `plugwire call`, shows an mTLS refusal, and
# stops the server. Every command is printed so it can be repeated by hand.
demo:
	CARGO="$(CARGO)" bash scripts/demo.sh

# ---------------------------------------------------------------- benchmarks
# Not part of `make test`. Release build, then every figure of docs/benchmarks.md (the harness
# prints its progress; about 5 minutes on 2 cores). Options of `plugwire-bench run` go in
# BENCH_ARGS, e.g. `make bench BENCH_ARGS="--runs 5"`.
BENCH_ARGS ?=
.PHONY: bench-smoke
bench: venv
	$(CARGO) build --release --quiet -p plugwire -p plugwire-bench
	target/release/plugwire-bench run --plugwire target/release/plugwire --python $(VENV_PY) \
	    --scripts scripts/bench --out docs/benchmarks.md --command "$(strip make bench $(BENCH_ARGS))" $(BENCH_ARGS)

# A few calls of everything except Python, debug build: checks the harness; the numbers mean nothing.
bench-smoke:
	$(CARGO) build --quiet -p plugwire -p plugwire-bench
	target/debug/plugwire-bench run --smoke --plugwire target/debug/plugwire --out target/bench-smoke.md

# ---------------------------------------------------------------- reliability
# Not part of `make test`. FUZZ_SECONDS per target; a crash is kept in crates/fuzz/corpus (replayed by make test).
FUZZ_SECONDS ?= 60
.PHONY: fuzz soak
fuzz:
	$(CARGO) run --quiet --release -p plugwire-fuzz -- run --seconds $(FUZZ_SECONDS)
# SOAK_CALLS (default 1,000,000) at c=16 over mTLS, with rotation, SIGTERM/restart and abuse (scripts/soak).
soak:
	$(CARGO) build --quiet -p plugwire -p plugwire-bench
	bash scripts/soak/soak.sh
