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

.PHONY: help build test lint unit interop venv demo bench clean-certs \
        certs-mcp-all certs-mcp-ca certs-mcp-gateway certs-mcp-plugin certs-mcp-check

help:
	@echo "make demo    certificates, an mTLS plugin server and a gateway-side call, on loopback"
	@echo "make test    formatting, clippy, unit + end-to-end tests, interop with the Python package"
	@echo "make bench   benchmarks against the Python runtime (writes docs/benchmarks.md)"
	@echo "make certs-mcp-all | certs-mcp-ca | certs-mcp-gateway | certs-mcp-plugin PLUGIN_NAME=x | certs-mcp-check"

build:
	$(CARGO) build --quiet -p plugwire

# ---------------------------------------------------------------- certificates
#@certs-section

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

#@interop-section

# ---------------------------------------------------------------- demo
#@demo-section

# ---------------------------------------------------------------- benchmarks
#@bench-section
