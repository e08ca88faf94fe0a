#!/usr/bin/env python3
"""RSS of a running `plugwire serve` (plain HTTP) before, during and after a burst of 16
concurrent 15 MiB bodies. Usage: rss_burst.py PID PORT. Numbers go to docs, not to tests."""
import socket, sys, threading, time

pid, port = int(sys.argv[1]), int(sys.argv[2])

def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    return 0

def call():
    pad = "x" * (15 * 1024 * 1024)
    body = ('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"invoke_hook","arguments":'
            '{"hook_type":"tool_pre_invoke","plugin_name":"ReplaceBadWordsPlugin","payload":{"name":"t","args":{"q":"%s"}},'
            '"context":{"global_context":{"request_id":"r"}}}}}' % pad).encode()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /mcp HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body)
    while s.recv(1 << 20):
        pass
    s.close()

before = rss()
ts = [threading.Thread(target=call) for _ in range(16)]
for t in ts: t.start()
peak = before
while any(t.is_alive() for t in ts):
    peak = max(peak, rss()); time.sleep(0.05)
after = [rss()]
for _ in range(3):
    time.sleep(1); after.append(rss())
print(f"RSS MiB: idle {before}, peak {peak}, after 0/1/2/3 s: {after}")
