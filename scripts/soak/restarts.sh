#!/usr/bin/env bash
# Server restarts behind the gateway-side client (make restarts; not part of make test).
# `plugwire call --repeat` runs RESTART_CALLS hook calls at concurrency RESTART_CONCURRENCY over
# each transport in turn (MCP over mTLS, gRPC over mTLS, the raw Unix socket) while
# `plugwire serve` is stopped and started again RESTARTS times, RESTART_EVERY seconds apart and
# RESTART_DOWN seconds down each time; once with SIGTERM (a drain) and once with SIGKILL
# (RESTART_TRANSPORTS picks among `mcp grpc unix`). Prints
# one line per transport and signal: the calls, how many the failure policy blocked because the
# plugin could not be reached, and those errors grouped by cause. What the figures mean and what
# to expect: docs/reliability.md, "Restarts behind the gateway-side client". Everything binds
# 127.0.0.1 or a socket in a temporary directory, and is stopped and removed at the end.
set -euo pipefail
BIN=${SOAK_BIN_DIR:-target/debug}
PW=$BIN/plugwire; BENCH=$BIN/plugwire-bench
CALLS=${RESTART_CALLS:-20000}
CONCURRENCY=${RESTART_CONCURRENCY:-16}
RESTARTS=${RESTARTS:-2}
EVERY=${RESTART_EVERY:-1.5}
DOWN=${RESTART_DOWN:-0.3}
for tool in "$PW" "$BENCH"; do
  [ -x "$tool" ] || { echo "restarts: $tool is missing (run through make restarts)" >&2; exit 2; }
done

WORK=$(mktemp -d)
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill -9 "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port); GRPC_PORT=$(free_port); SOCK=$WORK/raw.sock
"$BENCH" gen-certs --dir "$WORK/certs" >/dev/null
C=$WORK/certs; S=$C/plugins/bench-plugin; G=$C/gateway

cat >"$WORK/server.yaml" <<YAML
plugins:
  - name: ReplaceBadWordsPlugin
    kind: plugins.regex_filter.search_replace.SearchReplacePlugin
    hooks: ["tool_pre_invoke"]
    config:
      words:
        - {search: crap, replace: crud}
YAML

# gateway_yaml TRANSPORT: a gateway config reaching the server over TRANSPORT.
gateway_yaml() {
  local block
  case $1 in
    mcp) block="    mcp:
      proto: STREAMABLEHTTP
      url: https://localhost:$HTTP_PORT/mcp
      tls: {certfile: $G/client.crt, keyfile: $G/client.key, ca_bundle: $C/ca/ca.crt}" ;;
    grpc) block="    grpc:
      target: localhost:$GRPC_PORT
      tls: {certfile: $G/client.crt, keyfile: $G/client.key, ca_bundle: $C/ca/ca.crt}" ;;
    unix) block="    unix_socket: {path: $SOCK}" ;;
  esac
  printf 'plugins:\n  - name: ReplaceBadWordsPlugin\n    kind: external\n    mode: enforce\n    hooks: [tool_pre_invoke]\n%s\n' "$block" > "$WORK/gateway-$1.yaml"
}

start_server() {
  # A killed server leaves its socket file: removed here so the wait below sees the new one.
  rm -f "$SOCK"
  env PLUGINS_CONFIG_PATH="$WORK/server.yaml" \
    PLUGINS_SERVER_HOST=127.0.0.1 PLUGINS_SERVER_PORT="$HTTP_PORT" PLUGINS_SERVER_SSL_ENABLED=true \
    PLUGINS_SERVER_SSL_CERTFILE="$S/server.crt" PLUGINS_SERVER_SSL_KEYFILE="$S/server.key" \
    PLUGINS_SERVER_SSL_CA_CERTS="$C/ca/ca.crt" PLUGINS_SERVER_SSL_CERT_REQS=2 \
    PLUGINS_GRPC_SERVER_HOST=127.0.0.1 PLUGINS_GRPC_SERVER_PORT="$GRPC_PORT" \
    PLUGINS_GRPC_SERVER_SSL_ENABLED=true PLUGINS_GRPC_SERVER_SSL_CERTFILE="$S/server.crt" \
    PLUGINS_GRPC_SERVER_SSL_KEYFILE="$S/server.key" PLUGINS_GRPC_SERVER_SSL_CA_CERTS="$C/ca/ca.crt" \
    PLUGINS_GRPC_SERVER_SSL_CLIENT_AUTH=require PLUGINS_UNIX_SOCKET_PATH="$SOCK" \
    "$PW" serve --transport http,grpc,unix >>"$WORK/serve.log" 2>&1 &
  SERVER=$!
  local waited=0
  until [ -S "$SOCK" ]; do
    kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
    [ $((waited += 1)) -le 300 ] || { echo "restarts: the server did not start in 30 s" >&2; exit 1; }
    sleep 0.1
  done
}

PAYLOAD='{"name":"search","args":{"query":"why does the crap build fail"}}'
echo "restarts: $CALLS calls at c=$CONCURRENCY per line, $RESTARTS restarts $EVERY s apart, down $DOWN s each ($PW)"
for transport in ${RESTART_TRANSPORTS:-mcp grpc unix}; do
  gateway_yaml "$transport"
  for signal in TERM KILL; do
    start_server
    "$PW" call --config "$WORK/gateway-$transport.yaml" --hook tool_pre_invoke --payload "$PAYLOAD" \
      --repeat "$CALLS" --concurrency "$CONCURRENCY" --timeout 10 --compact \
      >"$WORK/out.json" 2>"$WORK/err.log" &
    CALLER=$!
    for _ in $(seq "$RESTARTS"); do
      sleep "$EVERY"
      kill -"$signal" "$SERVER"; wait "$SERVER" 2>/dev/null || true
      sleep "$DOWN"
      start_server
    done
    wait "$CALLER" || true
    kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
    blocked=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("blocked", "?"))' "$WORK/out.json")
    causes=$({ grep -o "error=.*" "$WORK/err.log" || true; } | sed -E "s/^error=external plugin '[^']*': //; s/[0-9a-f-]{36}//g" \
      | sort | uniq -c | sort -rn | awk '{n=$1; $1=""; printf "%s x%s; ", n, $0}')
    echo "$transport SIG$signal: calls $CALLS, blocked (unreachable) $blocked${causes:+: $causes}"
  done
done
