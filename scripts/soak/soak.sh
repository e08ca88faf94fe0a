#!/usr/bin/env bash
# Soak and chaos run of `plugwire serve` over mTLS on loopback (make soak; not part of make test).
# SOAK_CALLS calls (default 1,000,000) at c=16 in rounds; between rounds, in the same run:
# certificate rotation in place and by symlink swap, stalled bodies, slowloris, a connection
# flood, and a SIGTERM + restart of the server while a client keeps calling. Prints calls, errors,
# the server's RSS series and each check's verdict; exits 1 on any lost call or unbounded RSS.
set -euo pipefail
CALLS=${SOAK_CALLS:-1000000}
ROUNDS=${SOAK_ROUNDS:-10}
BIN=${SOAK_BIN_DIR:-target/debug}
PW=$BIN/plugwire; BENCH=$BIN/plugwire-bench
WORK=${SOAK_DIR:-target/soak}
rm -rf "$WORK"; mkdir -p "$WORK"
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$BENCH" gen-certs --dir "$WORK/certs" >/dev/null
C=$WORK/certs
# The served key pair lives behind a `..data` symlink, as a Kubernetes secret volume.
mkdir -p "$WORK/live/v1"; cp "$C/plugins/bench-plugin/server.crt" "$C/plugins/bench-plugin/server.key" "$WORK/live/v1/"
ln -s v1 "$WORK/live/..data"
cat >"$WORK/server.yaml" <<YAML
plugins:
  - name: ReplaceBadWordsPlugin
    kind: plugins.regex_filter.search_replace.SearchReplacePlugin
    hooks: ["prompt_pre_fetch", "tool_pre_invoke", "tool_post_invoke"]
    config:
      words:
        - {search: crap, replace: crud}
        - {search: crud, replace: yikes}
server_settings:
  host: 127.0.0.1
  port: $PORT
  tls:
    certfile: $WORK/live/..data/server.crt
    keyfile: $WORK/live/..data/server.key
    ca_bundle: $C/ca/ca.crt
    ssl_cert_reqs: 2
YAML
PID=
start_server() {
  PLUGINS_SERVER_BODY_TIMEOUT=${SOAK_BODY_TIMEOUT:-5} "$PW" serve -c "$WORK/server.yaml" 2>>"$WORK/server.log" &
  PID=$!
  for _ in $(seq 200); do curl -fs "http://127.0.0.1:$((PORT + 1000))/health" >/dev/null && return; sleep 0.05; done
  echo "server did not start"; cat "$WORK/server.log"; exit 1
}
rss() { awk '/VmRSS/{print $2}' "/proc/$PID/status" 2>/dev/null || echo 0; }
load() { # calls -> prints errors
  "$BENCH" load --url "https://localhost:$PORT/mcp" --ca "$C/ca/ca.crt" --cert "$C/gateway/client.crt" \
    --key "$C/gateway/client.key" -c 16 --calls "$1" | python3 -c 'import json,sys;print(json.load(sys.stdin)["errors"])'
}
CHAOS=; FAIL=0; TOTAL=0; ERRS=0; SERIES=()
verdict() { printf '%-44s %s\n' "$1" "$2"; [ "$2" = ok ] || FAIL=1; }
chaos() { python3 - "$PORT" "$1" <<'PY'
import socket, sys, time
port, what = int(sys.argv[1]), sys.argv[2]
def conn(p=port):
    s = socket.create_connection(("127.0.0.1", p)); return s
socks = []
if what == "stalled":   # plain health port: headers then a body that never comes
    for _ in range(20):
        s = conn(port + 1000); s.sendall(b"POST /health HTTP/1.1\r\nhost: x\r\ncontent-length: 16000000\r\n\r\nxx"); socks.append(s)
elif what == "slowloris":
    for _ in range(50):
        s = conn(); s.sendall(b"\x16\x03\x01"); socks.append(s)   # a ClientHello that never ends
elif what == "flood":
    for _ in range(2000):
        try: socks.append(conn())
        except OSError: break
time.sleep(1)
for s in socks: s.close()
PY
}
start_server
SERIES+=("$(rss)")
PER=$(( CALLS / ROUNDS ))
for r in $(seq "$ROUNDS"); do
  case $((r % 5)) in
    1) chaos stalled & CHAOS=$! ;;
    2) chaos slowloris & CHAOS=$! ;;
    3) chaos flood & CHAOS=$! ;;
    4) cp "$C/plugins/bench-plugin/server.crt" "$WORK/live/v1/server.crt.new" && mv "$WORK/live/v1/server.crt.new" "$WORK/live/v1/server.crt" ;;  # in place
    0) mkdir -p "$WORK/live/v$r" && cp "$WORK/live/v1/"server.* "$WORK/live/v$r/" && ln -sfn "v$r" "$WORK/live/..data.tmp" && mv -T "$WORK/live/..data.tmp" "$WORK/live/..data" ;;
  esac
  E=$(load "$PER"); [ -n "${CHAOS:-}" ] && { wait "$CHAOS" || true; }; CHAOS=
  TOTAL=$((TOTAL + PER)); ERRS=$((ERRS + E)); SERIES+=("$(rss)")
  echo "round $r: $PER calls, $E errors, RSS ${SERIES[-1]} KiB"
done
verdict "calls $TOTAL, errors $ERRS" "$([ "$ERRS" = 0 ] && echo ok || echo FAILED)"
# SIGTERM + restart behind a client that keeps calling: every call that got a connection is answered.
( load 20000 >"$WORK/restart.errors" ) & LOADER=$!
sleep 1; kill -TERM "$PID"; wait "$PID" && RC=0 || RC=$?
verdict "SIGTERM drain exit code ($RC)" "$([ "$RC" = 0 ] && echo ok || echo FAILED)"
if grep -q "without an answer\|connection closed before message completed" "$WORK/server.log"; then verdict "no call lost at SIGTERM" FAILED; else verdict "no call lost at SIGTERM" ok; fi
start_server; wait "$LOADER" || true
echo "restart round: $(cat "$WORK/restart.errors") errors (refused connects while down are expected)"
SERIES+=("$(rss)")
kill -HUP "$PID"; sleep 0.5
verdict "SIGHUP does not kill" "$(kill -0 "$PID" 2>/dev/null && echo ok || echo FAILED)"
FIRST=${SERIES[1]}; LAST=${SERIES[-1]}
echo "RSS series (KiB): ${SERIES[*]}"
verdict "RSS bounded (last <= 2 x first round + 64 MiB)" "$([ "$LAST" -le $(( FIRST * 2 + 65536 )) ] && echo ok || echo FAILED)"
kill -TERM "$PID"; wait "$PID" || true
exit $FAIL
