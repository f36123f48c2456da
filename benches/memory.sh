#!/usr/bin/env bash
# Memory per key: loads KEYS keys into slotcache-server and into redis-server, then reports
# each process's RSS growth per key and the ratio. KIND picks what each key holds:
#   string (default): a 32-byte value under a 16-byte key
#   hash, list, set, zset: 10 fields / items / members of 8-16 bytes (hash values 8 bytes,
#   sorted-set scores small integers)
#   benches/memory.sh                      # 1,000,000 strings
#   KIND=hash KEYS=200000 benches/memory.sh
KEYS=${KEYS:-1000000}
KIND=${KIND:-string}
source "$(dirname "$0")/common.sh"
python3 - "$KEYS" "$SC_PORT:$SC_PID" "$RD_PORT:$RD_PID" "$KIND" <<'PY'
import socket, sys
keys = int(sys.argv[1])
kind = sys.argv[4]
def command(i):
    key = b"key:%012d" % i
    if kind == "string":
        args = [b"SET", key, b"v" * 32]
    elif kind == "hash":
        args = [b"HSET", key] + sum(([b"field:%d" % j, b"val:%04d" % j] for j in range(10)), [])
    elif kind == "list":
        args = [b"RPUSH", key] + [b"item:%08d" % (i + j) for j in range(10)]
    elif kind == "set":
        args = [b"SADD", key] + [b"member:%d" % (i * 10 + j) for j in range(10)]
    elif kind == "zset":
        args = [b"ZADD", key] + sum(([b"%d" % j, b"member:%d" % (i * 10 + j)] for j in range(10)), [])
    else:
        raise SystemExit("KIND must be string, hash, list, set or zset")
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
def load(port):
    s = socket.create_connection(("127.0.0.1", port))
    buf = bytearray()
    for i in range(keys):
        buf += command(i)
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
    print(f"{name:<10} {kind:<6} RSS {after / 2**20:8.1f} MiB  {results[name]:6.1f} bytes/key")
print(f"ratio slotcache/redis: {results['slotcache'] / results['redis']:.2f}")
PY
