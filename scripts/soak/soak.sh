#!/usr/bin/env bash
# Soak and chaos run of `plugwire serve` over mTLS on loopback (make soak; not part of make test).
# SOAK_CALLS calls (default 1,000,000) at c=16 in rounds; between rounds, in the same run:
# certificate rotation in place and by symlink swap, stalled bodies, slowloris, a connection
# flood, and a SIGTERM + restart of the server while a client keeps calling. Prints calls, errors,
# the server's RSS series and each check's verdict; exits 1 on any lost call or unbounded RSS.
# Lost-call accounting (every round): the client reports each call it started as answered (ok) or
# failed with its cause, and the run fails unless sent == ok + failed. Outside the restart window
# failed must be 0; inside it, only calls that never reached the server (`connect: ...`: refused
# while it is down, the client does not retry) may fail, never one that was written (`call: ...`).
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
load() { # calls name -> $WORK/name.json; prints "ok failed lost accounted causes"
  "$BENCH" load --url "https://localhost:$PORT/mcp" --ca "$C/ca/ca.crt" --cert "$C/gateway/client.crt" \
    --key "$C/gateway/client.key" -c 16 --calls "$1" >"$WORK/$2.json" 2>"$WORK/$2.err" || true
  python3 - "$WORK/$2.json" "$1" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except ValueError:  # the client could not even start: every call counts as lost
    print(0, sys.argv[2], sys.argv[2], "no", "client-failed-to-start"); sys.exit()
sent, causes = int(sys.argv[2]), r.get("causes", {})
lost = sum(n for c, n in causes.items() if not c.startswith("connect:"))
accounted = r["calls"] == sent and r["ok"] + r["errors"] == sent and sum(causes.values()) == r["errors"]
text = "; ".join(f"{n} x {c}" for c, n in causes.items()).replace(" ", "_") or "-"
print(r["ok"], r["errors"], lost, "yes" if accounted else "no", text)
PY
}
CHAOS=; FAIL=0; TOTAL=0; OKS=0; ERRS=0; UNACCOUNTED=0; SERIES=()
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
  read -r OK E LOST ACC CAUSES < <(load "$PER" "round$r"); [ -n "${CHAOS:-}" ] && { wait "$CHAOS" || true; }; CHAOS=
  TOTAL=$((TOTAL + PER)); OKS=$((OKS + OK)); ERRS=$((ERRS + E)); SERIES+=("$(rss)")
  [ "$ACC" = yes ] || UNACCOUNTED=1
  echo "round $r: sent $PER, ok $OK, failed $E (causes: $CAUSES), RSS ${SERIES[-1]} KiB"
done
verdict "sent $TOTAL = ok $OKS + failed $ERRS" "$([ "$UNACCOUNTED" = 0 ] && [ $((OKS + ERRS)) = "$TOTAL" ] && echo ok || echo FAILED)"
verdict "failed calls outside the restart window: $ERRS" "$([ "$ERRS" = 0 ] && echo ok || echo FAILED)"
# SIGTERM + restart behind a client that keeps calling: every call that got a connection is answered.
RESTART_CALLS=${SOAK_RESTART_CALLS:-20000}
( load "$RESTART_CALLS" restart >"$WORK/restart.summary" ) & LOADER=$!
sleep 1; kill -TERM "$PID"; wait "$PID" && RC=0 || RC=$?
verdict "SIGTERM drain exit code ($RC)" "$([ "$RC" = 0 ] && echo ok || echo FAILED)"
if grep -q "without an answer\|connection closed before message completed" "$WORK/server.log"; then verdict "no call lost at SIGTERM" FAILED; else verdict "no call lost at SIGTERM" ok; fi
start_server; wait "$LOADER" || true
read -r OK E LOST ACC CAUSES <"$WORK/restart.summary"
echo "restart round: sent $RESTART_CALLS, ok $OK, failed $E (causes: $CAUSES)"
verdict "restart: sent $RESTART_CALLS = ok $OK + failed $E" "$([ "$ACC" = yes ] && echo ok || echo FAILED)"
verdict "restart: calls written but unanswered: $LOST" "$([ "$LOST" = 0 ] && echo ok || echo FAILED)"
SERIES+=("$(rss)")
kill -HUP "$PID"; sleep 0.5
verdict "SIGHUP does not kill" "$(kill -0 "$PID" 2>/dev/null && echo ok || echo FAILED)"
FIRST=${SERIES[1]}; LAST=${SERIES[-1]}
echo "RSS series (KiB): ${SERIES[*]}"
verdict "RSS bounded (last <= 2 x first round + 64 MiB)" "$([ "$LAST" -le $(( FIRST * 2 + 65536 )) ] && echo ok || echo FAILED)"
kill -TERM "$PID"; wait "$PID" || true
exit $FAIL
