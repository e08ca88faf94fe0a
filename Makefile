# plugwire: certificates, plugin server, client, tests, demo and benchmarks.
# The certs-mcp-* targets keep the names and variables ContextForge users already know.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

CARGO ?= cargo
# Where cargo puts binaries: CARGO_TARGET_DIR when set (cargo honours it, so must we), else target/.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
PLUGWIRE := $(TARGET_DIR)/debug/plugwire

# Certificates (same variables as ContextForge's Makefile).
MCP_CERT_DAYS ?= 825
MCP_CERT_DIR ?= certs/mcp
# Empty: the default plugins/external/config.yaml, with the two example plugins when it is missing.
MCP_PLUGIN_CONFIG ?=
MCP_KEY_TYPE ?= rsa4096

# Python peers (interop tests, benchmarks): one venv per ContextForge era under target/, each pinned
# by its constraints file and rebuilt only when its requirements or pins change (stamp .installed).
#   1.0.0: mcp-contextforge-gateway[grpc]==1.0.0 on Python 3.11 (PYTHON, default python3)
#   1.1.0: mcp-contextforge-gateway==1.1.0 + cpex[grpc]==0.1.4 on Python 3.12 (PYTHON312)
PYTHON ?= python3
VENV := target/interop-venv
VENV_PY := $(VENV)/bin/python
VENV_1_1 := target/interop-venv-1.1.0
INTEROP_REQS_1_0 := tests/interop/contextforge-1.0.0-requirements.txt tests/interop/contextforge-1.0.0-constraints.txt
INTEROP_REQS_1_1 := tests/interop/contextforge-1.1.0-requirements.txt tests/interop/contextforge-1.1.0-constraints.txt
# A working python3.12: on PATH (a pyenv shim that refuses does not count), else pyenv's 3.12.x.
PYTHON312_CANDIDATES = python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12)
# (`?=` is expanded lazily: probed only when the 1.1.0 venv is built.)
PYTHON312 ?= $(firstword $(foreach p,$(PYTHON312_CANDIDATES),$(shell "$(p)" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && echo "$(p)")))
# The lint `make lint` and `make test` run (the latter at the lowest CPU priority).
CLIPPY = $(CARGO) clippy --workspace --all-targets --quiet -- -D warnings

# pytest arguments of `make interop` (e.g. -k grpc).
INTEROP_PYTEST_ARGS ?= -q

.PHONY: help build test rust-tests python-suites clippy-idle fmt-check lint unit interop interop-suites venv venv-1.0.0 venv-1.1.0 demo bench \
        certs-mcp-all certs-mcp-ca certs-mcp-gateway certs-mcp-plugin certs-mcp-check certs-mcp-revoke

help:
	@echo "make demo    certificates, an mTLS plugin server and a gateway-side call, on loopback"
	@echo "make test    formatting, clippy, unit + end-to-end tests, interop with the Python package"
	@echo "make bench   benchmarks against the Python runtime (writes docs/benchmarks.md)"
	@echo "make certs-mcp-all | certs-mcp-ca | certs-mcp-gateway | certs-mcp-plugin PLUGIN_NAME=x | certs-mcp-check | certs-mcp-revoke NAME=x"
	@echo "make k8s-validate | certs-mcp-k8s | static | image   Kubernetes (docs/kubernetes.md)"

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

# NAME=gateway or a plugin name: its serial goes into $(MCP_CERT_DIR)/ca/ca.crl (for ca_crl).
certs-mcp-revoke: export NAME := $(NAME)
certs-mcp-revoke: build
	@if [ -z "$${NAME:-}" ]; then \
	  echo "❌  ERROR: NAME not set" >&2; \
	  echo "💡  Usage: make certs-mcp-revoke NAME=gateway (or NAME=my-plugin)" >&2; \
	  exit 1; \
	fi
	$(PLUGWIRE) certs revoke "$$NAME" --dir "$(MCP_CERT_DIR)"

# Exit 0 all fine, 1 something expires within MCP_CERT_WARN_DAYS, 2 expired/invalid/foreign issuer.
certs-mcp-check: build
	$(PLUGWIRE) certs check --dir "$(MCP_CERT_DIR)" --warn-days "$(MCP_CERT_WARN_DAYS)"

# ---------------------------------------------------------------- tests
# Two phases, so the 2-core CI run stays under 20 minutes (docs/decisions.md #102):
# 1. the Rust tests (their build leaves target/debug/plugwire) beside the three venv installs
#    (mostly downloads), with whole lines of output kept apart;
# 2. the Python suites against that binary (no second `cargo build`: the workspace's dev-dependencies
#    give shared crates other features, so `cargo build -p plugwire` would rebuild ~100 s of them),
#    beside clippy at the lowest CPU priority, which takes only the cycles the suites leave idle.
test:
	$(MAKE) --no-print-directory -j6 --output-sync=line rust-tests venv-1.0.0 venv-1.1.0 k8s-venv
	$(MAKE) --no-print-directory -j2 clippy-idle python-suites

# Formatting, then every Rust test.
rust-tests:
	$(MAKE) --no-print-directory fmt-check
	$(MAKE) --no-print-directory unit

# The interop suites, then the Kubernetes checks, against the plugwire binary already built.
python-suites:
	$(MAKE) --no-print-directory interop-suites
	$(MAKE) --no-print-directory k8s-suites

clippy-idle:
	MAKEFLAGS= nice -n 19 $(CLIPPY)

# Under `make test`'s parallel make, MAKEFLAGS names a jobserver whose descriptors make does not
# hand to these (non-recursive) commands; cargo would warn that it cannot reach it. Cleared, cargo
# runs its own jobs (one per core).
lint: fmt-check
	MAKEFLAGS= $(CLIPPY)

fmt-check:
	MAKEFLAGS= $(CARGO) fmt --all -- --check

unit:
	MAKEFLAGS= $(CARGO) test --workspace

venv: venv-1.0.0 venv-1.1.0
venv-1.0.0: $(VENV)/.installed
venv-1.1.0: $(VENV_1_1)/.installed

# A venv that cannot be installed fails the run, loudly; it is never skipped.
$(VENV)/.installed: $(INTEROP_REQS_1_0) tests/interop/requirements-test.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check \
	    -r tests/interop/contextforge-1.0.0-requirements.txt -r tests/interop/requirements-test.txt \
	    -c tests/interop/contextforge-1.0.0-constraints.txt \
	  || { echo "interop: could not install ContextForge 1.0.0 into $(VENV): the interop tests cannot run" >&2; exit 1; }
	touch $@

$(VENV_1_1)/.installed: $(INTEROP_REQS_1_1) tests/interop/requirements-test.txt
	@if [ -z "$(PYTHON312)" ]; then \
	  echo "interop: ContextForge 1.1.0 needs Python 3.12 and none was found: looked for a working python3.12 on PATH and $(HOME)/.pyenv/versions/3.12*/bin/python3.12" >&2; \
	  echo "interop: install Python 3.12 or run with PYTHON312=/path/to/python3.12" >&2; exit 1; fi
	rm -rf $(VENV_1_1)
	"$(PYTHON312)" -m venv $(VENV_1_1)
	$(VENV_1_1)/bin/python -m pip install --quiet --disable-pip-version-check \
	    -r tests/interop/contextforge-1.1.0-requirements.txt -r tests/interop/requirements-test.txt \
	    -c tests/interop/contextforge-1.1.0-constraints.txt \
	  || { echo "interop: could not install ContextForge 1.1.0 + cpex into $(VENV_1_1) with $(PYTHON312): the interop tests cannot run" >&2; exit 1; }
	touch $@

# Interop with the real Python packages of both eras (docs/interop.md): the same suite under each
# venv, the era forced by INTEROP_ERA; both eras always run, and the target fails if either did.
interop: venv build
	$(MAKE) --no-print-directory interop-suites

# The suites alone, against $(PLUGWIRE) as it is (make test's second phase: the one `cargo test` built).
interop-suites:
	@status=0; \
	for era in 1.0.0 1.1.0; do \
	  py=$(VENV_PY); [ "$$era" = 1.1.0 ] && py=$(VENV_1_1)/bin/python; \
	  echo "interop: ContextForge $$era ($$py)"; start=$$SECONDS; \
	  PLUGWIRE_BIN="$(abspath $(PLUGWIRE))" INTEROP_ERA=$$era PYTHONDONTWRITEBYTECODE=1 \
	    "$$py" -m pytest tests/interop $(INTEROP_PYTEST_ARGS) || status=1; \
	  echo "interop: ContextForge $$era done in $$((SECONDS - start)) s"; \
	done; exit $$status

# ---------------------------------------------------------------- demo
# Builds (debug), creates ECDSA certificates under target/demo, starts `plugwire serve` with mTLS
# on a free loopback port, sends calls through `plugwire call`, shows an mTLS refusal, and
# stops the server. Every command is printed so it can be repeated by hand.
demo: build
	CARGO="$(CARGO)" PLUGWIRE="$(PLUGWIRE)" bash scripts/demo.sh

# ---------------------------------------------------------------- benchmarks
# Not part of `make test`. Release build, then every figure of docs/benchmarks.md and its charts
# in docs/bench/*.svg (the harness prints its progress; about 10 minutes on 2 cores). The 1.0.0
# venv holds every Python peer (MCP, gRPC and raw-socket runtimes and clients). Options of
# `plugwire-bench run` go in BENCH_ARGS, e.g. `make bench BENCH_ARGS="--runs 5"`.
BENCH_ARGS ?=
.PHONY: bench-smoke
bench: venv-1.0.0
	@# Two builds: built together with the harness, the binary's dependencies would get the harness's
	@# features too, and its functions other symbol names than crates/cli/link-order.txt lists.
	$(CARGO) build --release --quiet -p plugwire
	$(CARGO) build --release --quiet -p plugwire-bench
	$(TARGET_DIR)/release/plugwire-bench run --plugwire $(TARGET_DIR)/release/plugwire --python $(VENV_PY) \
	    --scripts scripts/bench --out docs/benchmarks.md --command "$(strip make bench $(BENCH_ARGS))" $(BENCH_ARGS)

# Regenerates crates/cli/link-order.txt (and link-order-static.txt for `make static`), the order
# in which release builds link the functions that start-up and the hook paths run
# (docs/decisions.md #96), from callgrind profiles of both release binaries; needs valgrind.
# After dependency or toolchain updates: `make bench` reports how many of its functions the
# binary still has.
.PHONY: link-order
link-order:
	CARGO="$(CARGO)" PYTHON="$(PYTHON)" STATIC_BIN="$(STATIC_BIN)" bash scripts/link-order/generate.sh

# A few calls of everything except Python, debug build: checks the harness (report and charts
# under target/); the numbers mean nothing.
bench-smoke:
	$(CARGO) build --quiet -p plugwire -p plugwire-bench
	$(TARGET_DIR)/debug/plugwire-bench run --smoke --plugwire $(TARGET_DIR)/debug/plugwire --out target/bench-smoke.md

# ---------------------------------------------------------------- Kubernetes (docs/kubernetes.md)
# k8s-validate (part of make test): manifests, the rendered example overlay, cert-manager
# resources, alert rules and dashboard against published schemas and parsers (pinned in
# tests/k8s/constraints.txt, venv built once under target/), plus `plugwire serve` run with the
# Deployment's env and a Secret `..data` swap during calls. No cluster needed.
K8S_VENV := target/k8s-venv
K8S_PY := $(K8S_VENV)/bin/python
K8S_NAMESPACE ?= mcp
STATIC_TARGET ?= x86_64-unknown-linux-gnu
STATIC_BIN := $(TARGET_DIR)/$(STATIC_TARGET)/release/plugwire
IMAGE ?= plugwire:0.1.0
.PHONY: k8s-venv k8s-validate k8s-suites certs-mcp-k8s static image

k8s-venv: $(K8S_VENV)/.installed

$(K8S_VENV)/.installed: tests/k8s/requirements.txt tests/k8s/constraints.txt
	rm -rf $(K8S_VENV)
	$(PYTHON) -m venv $(K8S_VENV)
	$(K8S_PY) -m pip install --quiet --disable-pip-version-check -r tests/k8s/requirements.txt -c tests/k8s/constraints.txt \
	  || { echo "k8s-validate: could not install the pinned validators (tests/k8s/requirements.txt) into $(K8S_VENV)" >&2; exit 1; }
	touch $@

# PYTEST_DISABLE_PLUGIN_AUTOLOAD: cloudcoil registers a pytest plugin for live clusters that needs
# packages this venv does not have.
k8s-validate: k8s-venv build
	$(MAKE) --no-print-directory k8s-suites

k8s-suites:
	PLUGWIRE="$(abspath $(PLUGWIRE))" PYTHONDONTWRITEBYTECODE=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $(K8S_PY) -m pytest tests/k8s -q -p no:cacheprovider

# The cert-manager resources for the plugins of MCP_PLUGIN_CONFIG (as certs-mcp-all reads it),
# written where the kustomize tree takes them from.
certs-mcp-k8s: build
	$(PLUGWIRE) certs cert-manager --namespace "$(K8S_NAMESPACE)"$(if $(MCP_PLUGIN_CONFIG), --config "$(MCP_PLUGIN_CONFIG)") \
	    > deploy/kubernetes/cert-manager/cert-manager.yaml.tmp
	mv deploy/kubernetes/cert-manager/cert-manager.yaml.tmp deploy/kubernetes/cert-manager/cert-manager.yaml
	@echo "✅  deploy/kubernetes/cert-manager/cert-manager.yaml (namespace $(K8S_NAMESPACE))"

# Statically linked release binary (glibc with crt-static; the image's build stage does the
# same, with the same flags and debug info stripped, so that its functions have the names
# crates/cli/link-order-static.txt lists: decision 96), its relative relocations packed (DT_RELR:
# docs/decisions.md #78), then checked: no ELF interpreter, relocations packed, runs. Not in
# make test (fat LTO takes minutes).
STATIC_RUSTFLAGS = -C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs
static:
	RUSTFLAGS="$(STATIC_RUSTFLAGS)" CARGO_PROFILE_RELEASE_STRIP=debuginfo $(CARGO) build --release --locked --target $(STATIC_TARGET) -p plugwire
	$(PYTHON) tests/k8s/check_static.py $(STATIC_BIN)

# Container image from deploy/Dockerfile with the first working builder.
image:
	@for tool in docker podman buildah; do \
	  if command -v $$tool >/dev/null 2>&1 && $$tool info >/dev/null 2>&1; then \
	    echo "building $(IMAGE) with $$tool"; \
	    if [ $$tool = buildah ]; then exec buildah bud -f deploy/Dockerfile -t $(IMAGE) .; fi; \
	    exec $$tool build -f deploy/Dockerfile -t $(IMAGE) .; \
	  fi; \
	done; \
	echo "make image: no working container builder (docker, podman or buildah with a reachable engine) on this machine." >&2; \
	echo "The binary it packages is built and checked by 'make static'; build the image elsewhere with: docker build -f deploy/Dockerfile -t $(IMAGE) ." >&2; \
	exit 1

# ---------------------------------------------------------------- reliability
# Not part of `make test`. FUZZ_SECONDS per target; a crash is kept in crates/fuzz/corpus (replayed by make test).
FUZZ_SECONDS ?= 60
.PHONY: fuzz soak restarts
fuzz:
	$(CARGO) run --quiet --release -p plugwire-fuzz -- run --seconds $(FUZZ_SECONDS)
# SOAK_CALLS (default 1,000,000) at c=16 over mTLS, with rotation, SIGTERM/restart and abuse (scripts/soak).
soak:
	$(CARGO) build --quiet -p plugwire -p plugwire-bench
	SOAK_BIN_DIR="$(TARGET_DIR)/debug" bash scripts/soak/soak.sh
# The gateway-side client over MCP, gRPC and the raw socket while the server restarts (SIGTERM,
# SIGKILL): the calls blocked and why (RESTART_CALLS, RESTARTS, RESTART_EVERY, RESTART_DOWN).
restarts:
	$(CARGO) build --quiet -p plugwire -p plugwire-bench
	SOAK_BIN_DIR="$(TARGET_DIR)/debug" bash scripts/soak/restarts.sh
