#!/usr/bin/env bash
# End-to-end demo on loopback: ECDSA certificates, an mTLS plugin server (`plugwire serve`) with
# SearchReplace and DenyList, and gateway-side calls through `plugwire call`.
#
# Every command is printed before it runs (lines starting with `$`) so you can repeat it by hand.
# The server is stopped on exit, whatever happens; nothing is left running.
#
# Environment: CARGO (default cargo), DEMO_DIR (default target/demo; recreated), PLUGWIRE (a built
# binary to use instead of building target/debug/plugwire).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
CARGO=${CARGO:-cargo}
DEMO_DIR=${DEMO_DIR:-target/demo}
PLUGWIRE=${PLUGWIRE:-target/debug/plugwire}
SERVER_PID=""

bold() { if [ -t 1 ]; then printf '\n\033[1m%s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }
show() { printf '$ %s\n' "$*"; }
run() { show "$*"; "$@"; }

cleanup() {
    local status=$?
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        echo
        show "kill $SERVER_PID   # stop plugwire serve"
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port P where both P and P+1000 (the plain health port) are free on 127.0.0.1.
free_port() {
    python3 - <<'EOF'
import random, socket
for _ in range(200):
    p = random.randint(20000, 60000)
    ok = True
    for q in (p, p + 1000):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", q))
        except OSError:
            ok = False
        finally:
            s.close()
    if ok:
        print(p)
        break
else:
    raise SystemExit("no free port pair found")
EOF
}

bold "1. Build (debug)"
if [ "$PLUGWIRE" = "target/debug/plugwire" ]; then
    run "$CARGO" build --quiet -p plugwire
fi

bold "2. Certificates: CA, gateway client identity, one server identity per external plugin (ECDSA P-256)"
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"
CERTS="$DEMO_DIR/certs"
run "$PLUGWIRE" certs all --config plugins/external/config.yaml --key-type ecdsa-p256 --dir "$CERTS"

bold "3. Plugin server config (SearchReplace + DenyList), served with mTLS on 127.0.0.1"
SERVER_YAML="$DEMO_DIR/server.yaml"
cat > "$SERVER_YAML" <<'EOF'
plugins:
  - name: ReplaceBadWordsPlugin
    kind: plugins.regex_filter.search_replace.SearchReplacePlugin
    hooks: [prompt_pre_fetch, prompt_post_fetch, tool_pre_invoke, tool_post_invoke]
    mode: enforce
    priority: 150
    config:
      words:
        - search: crap
          replace: crud
  - name: DenyListPlugin
    kind: plugins.deny_filter.deny.DenyListPlugin
    hooks: [prompt_pre_fetch]
    mode: enforce
    priority: 100
    config:
      words: [innovative, groundbreaking, revolutionary]
plugin_settings:
  plugin_timeout: 30
EOF
show "cat $SERVER_YAML"
sed 's/^/    /' "$SERVER_YAML"

PORT=$(free_port)
HEALTH_PORT=$((PORT + 1000))
SERVER_CERT="$CERTS/plugins/ReplaceBadWordsPlugin"
export PLUGINS_SERVER_HOST=127.0.0.1
export PLUGINS_SERVER_PORT=$PORT
export PLUGINS_SERVER_SSL_ENABLED=true
export PLUGINS_SERVER_SSL_CERTFILE=$SERVER_CERT/server.crt
export PLUGINS_SERVER_SSL_KEYFILE=$SERVER_CERT/server.key
export PLUGINS_SERVER_SSL_CA_CERTS=$CERTS/ca/ca.crt
export PLUGINS_SERVER_SSL_CERT_REQS=2
show "PLUGINS_SERVER_HOST=127.0.0.1 PLUGINS_SERVER_PORT=$PORT PLUGINS_SERVER_SSL_ENABLED=true \\"
show "  PLUGINS_SERVER_SSL_CERTFILE=$PLUGINS_SERVER_SSL_CERTFILE PLUGINS_SERVER_SSL_KEYFILE=$PLUGINS_SERVER_SSL_KEYFILE \\"
show "  PLUGINS_SERVER_SSL_CA_CERTS=$PLUGINS_SERVER_SSL_CA_CERTS PLUGINS_SERVER_SSL_CERT_REQS=2 \\"
show "  $PLUGWIRE serve --config $SERVER_YAML &"
"$PLUGWIRE" serve --config "$SERVER_YAML" 2> "$DEMO_DIR/server.log" &
SERVER_PID=$!
unset PLUGINS_SERVER_HOST PLUGINS_SERVER_PORT PLUGINS_SERVER_SSL_ENABLED PLUGINS_SERVER_SSL_CERTFILE \
      PLUGINS_SERVER_SSL_KEYFILE PLUGINS_SERVER_SSL_CA_CERTS PLUGINS_SERVER_SSL_CERT_REQS

bold "4. Wait for /health on the plain port $HEALTH_PORT (port + 1000)"
show "$PLUGWIRE health http://127.0.0.1:$HEALTH_PORT"
for i in $(seq 1 100); do
    if "$PLUGWIRE" health "http://127.0.0.1:$HEALTH_PORT" --timeout 1 >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "plugwire serve exited; its log ($DEMO_DIR/server.log):" >&2
        cat "$DEMO_DIR/server.log" >&2
        exit 1
    fi
    if [ "$i" = 100 ]; then
        echo "plugwire serve did not become healthy within 10 s; its log ($DEMO_DIR/server.log):" >&2
        cat "$DEMO_DIR/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
"$PLUGWIRE" health "http://127.0.0.1:$HEALTH_PORT"
run "$PLUGWIRE" health "https://localhost:$PORT" --ca-bundle "$CERTS/ca/ca.crt" \
    --certfile "$CERTS/gateway/client.crt" --keyfile "$CERTS/gateway/client.key"

# The gateway-side config reads its port and certificate directory from these two variables.
export PLUGIN_PORT=$PORT MCP_CERT_DIR=$CERTS
CALL=("$PLUGWIRE" call --config plugins/external/config-client.yaml --compact)

bold "5. A prompt through the gateway-side chain: SearchReplace rewrites it (crap -> crud)"
show "PLUGIN_PORT=$PORT MCP_CERT_DIR=$CERTS ${CALL[*]} --hook prompt_pre_fetch --payload '{\"prompt_id\":\"greeting\",\"args\":{\"text\":\"this is crap\"}}'"
OUT=$("${CALL[@]}" --hook prompt_pre_fetch --payload '{"prompt_id":"greeting","args":{"text":"this is crap"}}')
echo "$OUT"
grep -q '"text":"this is crud"' <<<"$OUT" || { echo "expected the prompt to be rewritten by SearchReplace" >&2; exit 1; }

bold "6. A prompt with a denied word: DenyList blocks it (exit code 3 = blocked)"
show "PLUGIN_PORT=$PORT MCP_CERT_DIR=$CERTS ${CALL[*]} --hook prompt_pre_fetch --payload '{\"prompt_id\":\"pitch\",\"args\":{\"text\":\"an innovative idea\"}}'"
set +e
OUT=$("${CALL[@]}" --hook prompt_pre_fetch --payload '{"prompt_id":"pitch","args":{"text":"an innovative idea"}}')
STATUS=$?
set -e
echo "$OUT"
echo "(exit code $STATUS)"
[ "$STATUS" = 3 ] && grep -q '"continue_processing":false' <<<"$OUT" \
    || { echo "expected DenyList to block the prompt" >&2; exit 1; }

bold "7. A tool call: SearchReplace rewrites its arguments; 20 calls at concurrency 4 reuse connections"
show "PLUGIN_PORT=$PORT MCP_CERT_DIR=$CERTS ${CALL[*]} --hook tool_pre_invoke --payload '{\"name\":\"search\",\"args\":{\"q\":\"crap\"}}' --repeat 20 --concurrency 4"
OUT=$("${CALL[@]}" --hook tool_pre_invoke --payload '{"name":"search","args":{"q":"crap"}}' --repeat 20 --concurrency 4)
echo "$OUT"
grep -q '"q":"crud"' <<<"$OUT" || { echo "expected the tool arguments to be rewritten" >&2; exit 1; }

bold "8. Without a client certificate the server refuses the connection (mTLS)"
NO_CERT_YAML="$DEMO_DIR/gateway-no-client-cert.yaml"
cat > "$NO_CERT_YAML" <<EOF
plugins:
  - name: ReplaceBadWordsPlugin
    kind: external
    mcp:
      proto: STREAMABLEHTTP
      url: https://localhost:$PORT/mcp
      tls:
        ca_bundle: $CERTS/ca/ca.crt
EOF
show "cat $NO_CERT_YAML"
sed 's/^/    /' "$NO_CERT_YAML"
show "$PLUGWIRE call --config $NO_CERT_YAML --hook tool_pre_invoke --payload '{\"name\":\"search\",\"args\":{\"q\":\"crap\"}}'"
set +e
"$PLUGWIRE" call --config "$NO_CERT_YAML" --compact --hook tool_pre_invoke \
    --payload '{"name":"search","args":{"q":"crap"}}'
STATUS=$?
set -e
echo "(exit code $STATUS)"
[ "$STATUS" != 0 ] || { echo "expected the server to refuse a gateway without client certificate" >&2; exit 1; }
show "$PLUGWIRE health https://localhost:$PORT --ca-bundle $CERTS/ca/ca.crt   # no --certfile/--keyfile"
set +e
"$PLUGWIRE" health "https://localhost:$PORT" --ca-bundle "$CERTS/ca/ca.crt" --timeout 5
STATUS=$?
set -e
echo "(exit code $STATUS)"
[ "$STATUS" != 0 ] || { echo "expected the server to refuse a client without certificate" >&2; exit 1; }

bold "Done. The server log is in $DEMO_DIR/server.log; the server is stopped now."
