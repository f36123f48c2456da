#!/usr/bin/env bash
# Memory per key: loads KEYS keys (16-byte keys, 32-byte values) into slotcache-server and into
# redis-server, then reports each process's RSS growth per key and the ratio.
#   benches/memory.sh            # 1,000,000 keys
#   KEYS=200000 benches/memory.sh
KEYS=${KEYS:-1000000}
source "$(dirname "$0")/common.sh"
python3 - "$KEYS" "$SC_PORT:$SC_PID" "$RD_PORT:$RD_PID" <<'PY'
import socket, sys
keys = int(sys.argv[1])
def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
def load(port):
    s = socket.create_connection(("127.0.0.1", port))
    buf = bytearray()
    value = b"v" * 32
    for i in range(keys):
        buf += b"*3\r\n$3\r\nSET\r\n$16\r\n" + (b"key:%012d" % i) + b"\r\n$32\r\n" + value + b"\r\n"
        if len(buf) > 1 << 20:
            s.sendall(buf); buf = bytearray()
    s.sendall(buf + b"*1\r\n$6\r\nDBSIZE\r\n")
    data = b""
    marker = (":%d\r\n" % keys).encode()
    while not data.endswith(marker):
        data = data[-64:] + s.recv(1 << 20)
results = {}
for name, spec in (("slotcache", sys.argv[2]), ("redis", sys.argv[3])):
    port, pid = map(int, spec.split(":"))
    before = rss(pid)
    load(port)
    after = rss(pid)
    results[name] = (after - before) / keys
    print(f"{name:<10} RSS {after / 2**20:8.1f} MiB  {results[name]:6.1f} bytes/key")
print(f"ratio slotcache/redis: {results['slotcache'] / results['redis']:.2f}")
PY
