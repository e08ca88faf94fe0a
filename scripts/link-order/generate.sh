#!/usr/bin/env bash
# Regenerates crates/cli/link-order.txt and link-order-static.txt (`make link-order`): the
# functions of the release `plugwire` binary, dynamic and static (`make static`), that start-up
# runs, then those the hook paths run, which crates/cli/build.rs hands to the linker so they sit
# together (docs/decisions.md #96).
#
# How: builds each binary without an order (PLUGWIRE_LINK_ORDER=off), runs `plugwire serve`
# under callgrind from spawn to healthy (dumped there), then through hook calls of every
# transport from `plugwire call` to a clean stop, in the configurations start-up differs by
# (built-in plugins, RSA and ECDSA keys, TLS and plain, HTTP, gRPC over TLS and a Unix socket,
# the raw socket), and lists what ran. Needs valgrind. Servers bind 127.0.0.1 and sockets in a
# temporary directory; everything is stopped and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v valgrind >/dev/null || { echo "make link-order: needs valgrind (callgrind), which is not on PATH" >&2; exit 2; }
TARGET_DIR=${CARGO_TARGET_DIR:-target}
PYTHON=${PYTHON:-python3}
# Where `make static` puts its binary (the Makefile's STATIC_BIN, which follows STATIC_TARGET).
STATIC_BIN=${STATIC_BIN:?run through make link-order, which names the static binary}

echo "link-order: building the release binary without an order" >&2
PLUGWIRE_LINK_ORDER=off ${CARGO:-cargo} build --release --quiet -p plugwire
CLIENT=$(realpath "$TARGET_DIR/release/plugwire")

WORK=$(mktemp -d)
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

for key in rsa4096 ecdsa-p256; do
  "$CLIENT" certs plugin link-order --dir "$WORK/$key" --key-type "$key" >/dev/null
  "$CLIENT" certs gateway --dir "$WORK/$key" --key-type "$key" >/dev/null
done

free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# gateway_yaml NAME KIND-BLOCK: a gateway config with one external plugin reached by KIND-BLOCK.
gateway_yaml() {
  printf 'plugins:\n  - name: ReplaceBadWordsPlugin\n    kind: external\n    hooks: [tool_pre_invoke]\n%s\n' "$2" > "$WORK/$1.yaml"
}

# profile NAME CONFIG HEALTH-PORT GATEWAYS ENV...: callgrind one `plugwire serve`.
profile() {
  local name=$1 config=$2 health=$3 gateways=$4
  shift 4
  env MIMALLOC_PURGE_DELAY=0 PLUGINS_CONFIG_PATH="$config" "$@" \
    valgrind --tool=callgrind --demangle=no --callgrind-out-file="$WORK/$PASS-$name.callgrind" \
    "$BIN" serve > "$WORK/$PASS-$name.log" 2>&1 &
  SERVER=$!
  local waited=0
  until curl -sf "http://127.0.0.1:$health/health" >/dev/null; do
    kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/$PASS-$name.log" >&2; exit 1; }
    [ $((waited += 1)) -le 600 ] || { echo "link-order: $name not healthy on port $health after 60 s" >&2; exit 1; }
    sleep 0.1
  done
  # Start-up's functions first: a dump at healthy, the calls and the stop in the final one.
  callgrind_control --dump=healthy "$SERVER" >/dev/null 2>&1
  [ -s "$WORK/$PASS-$name.callgrind.1" ] || { echo "link-order: callgrind_control could not dump $name at healthy" >&2; exit 1; }
  local payload='{"name": "search", "args": {"query": "why does the crap build fail", "limit": 20, "filters": {"tags": ["ci"]}}}'
  for gateway in $gateways; do
    "$CLIENT" call --config "$WORK/$gateway.yaml" --hook tool_pre_invoke --payload "$payload" \
      --repeat 40 --concurrency 4 >/dev/null
  done
  kill "$SERVER"
  wait "$SERVER" || true
  SERVER=""
  grep -q "Collected" "$WORK/$PASS-$name.log" || { echo "link-order: no profile from $name:" >&2; cat "$WORK/$PASS-$name.log" >&2; exit 1; }
  STARTS+=("$WORK/$PASS-$name.callgrind.1")
  CALLS+=("$WORK/$PASS-$name.callgrind")
}

tls_env() { # tls_env PREFIX KEY: a server's TLS variables for the certificates of KEY.
  local certs="$WORK/$2/plugins/link-order"
  echo "${1}_SSL_ENABLED=true ${1}_SSL_CERTFILE=$certs/server.crt ${1}_SSL_KEYFILE=$certs/server.key ${1}_SSL_CA_CERTS=$certs/ca.crt"
}

# profile_all: every configuration with this pass's BIN.
profile_all() {
  STARTS=()
  CALLS=()
  # Start-up: every built-in plugin, RSA keys, mTLS (ContextForge's defaults).
  port=$(free_port)
  # shellcheck disable=SC2046
  profile builtins plugins/all-builtins.yaml $((port + 1000)) "" \
    PLUGINS_SERVER_HOST=127.0.0.1 PLUGINS_SERVER_PORT="$port" $(tls_env PLUGINS_SERVER rsa4096) PLUGINS_SERVER_SSL_CERT_REQS=2

  # MCP and gRPC over mTLS with ECDSA keys, with calls.
  port=$(free_port); grpc_port=$(free_port)
  gateway_cert="$WORK/ecdsa-p256/gateway"
  client_tls="{certfile: $gateway_cert/client.crt, keyfile: $gateway_cert/client.key, ca_bundle: $gateway_cert/ca.crt}"
  gateway_yaml mcp-tls "    mcp: {proto: STREAMABLEHTTP, url: 'https://localhost:$port/mcp', tls: $client_tls}"
  gateway_yaml grpc-tls "    grpc: {target: 'localhost:$grpc_port', tls: $client_tls}"
  # shellcheck disable=SC2046
  profile tls plugins/test.yaml $((port + 1000)) "mcp-tls grpc-tls" \
    PLUGINS_TRANSPORT=http,grpc PLUGINS_SERVER_HOST=127.0.0.1 PLUGINS_SERVER_PORT="$port" \
    $(tls_env PLUGINS_SERVER ecdsa-p256) PLUGINS_SERVER_SSL_CERT_REQS=2 \
    PLUGINS_GRPC_SERVER_HOST=127.0.0.1 PLUGINS_GRPC_SERVER_PORT="$grpc_port" \
    $(tls_env PLUGINS_GRPC_SERVER ecdsa-p256) PLUGINS_GRPC_SERVER_SSL_CLIENT_AUTH=require

  # Plain MCP, gRPC on a Unix socket and the raw socket, with calls.
  port=$(free_port)
  gateway_yaml mcp-plain "    mcp: {proto: STREAMABLEHTTP, url: http://127.0.0.1:$port/mcp}"
  gateway_yaml grpc-uds "    grpc: {uds: $WORK/grpc.sock}"
  gateway_yaml raw "    unix_socket: {path: $WORK/raw.sock}"
  # (Plain HTTP answers /health on its own port.)
  profile sockets plugins/test.yaml "$port" "mcp-plain grpc-uds raw" \
    PLUGINS_TRANSPORT=http,grpc,unix PLUGINS_SERVER_HOST=127.0.0.1 PLUGINS_SERVER_PORT="$port" \
    PLUGINS_GRPC_SERVER_UDS="$WORK/grpc.sock" PLUGINS_UNIX_SOCKET_PATH="$WORK/raw.sock"
}

# write_order FILE WHAT: the functions the profiles of this pass saw, start-up's first.
write_order() {
  {
    echo "# Functions of $2 that start-up runs, then those the hook paths run, for lld's"
    echo "# --symbol-ordering-file (crates/cli/build.rs, docs/decisions.md #96). Written by"
    echo "# \`make link-order\` ($(rustc -V)); names the binary no longer has are ignored."
    "$PYTHON" scripts/link-order/executed.py plugwire "${STARTS[@]}" "${CALLS[@]}"
  } > "$WORK/order.txt"
  mv "$WORK/order.txt" "$1"
  echo "link-order: $(grep -vc '^#' "$1") functions written to $1" >&2
}

PASS=dynamic BIN=$CLIENT
profile_all
write_order crates/cli/link-order.txt "the release \`plugwire\` binary (\`cargo build --release -p plugwire\`)"

echo "link-order: building the static binary without an order (make static)" >&2
PLUGWIRE_LINK_ORDER=off make --no-print-directory static CARGO="${CARGO:-cargo}" PYTHON="$PYTHON" >&2
PASS=static BIN=$(realpath "$STATIC_BIN")
profile_all
write_order crates/cli/link-order-static.txt "the static \`plugwire\` binary (\`make static\`, deploy/Dockerfile)"
