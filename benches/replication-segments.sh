#!/usr/bin/env bash
# How many TCP segments replication sends per request: `slotcache up` (1 proxy, 3 shard
# servers, PARTITIONS partitions, RF sync), memtier over a million keys (RATIO, 50 clients, -P $P),
# then the kernel's per-socket counters (`ss -ti`: data_segs_out) for the proxy's lanes and
# for the replication connections (records one way, acknowledgements the other). Every
# segment between two processes on the same cores can wake one, which is what replication
# costs most at a sparse write rate. With OLD (another build's target/release), its figures
# come in alternating rounds beside this build's.
#
# RATIO (1:10), P (16), KEYS (1000000, not written first), SIZE (32), SECONDS_PER_RUN (10),
# ROUNDS (2), PARTITIONS (16), RF (2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RATIO=${RATIO:-1:10}
P=${P:-16}
KEYS=${KEYS:-1000000}
SIZE=${SIZE:-32}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
ROUNDS=${ROUNDS:-2}
PARTITIONS=${PARTITIONS:-16}
RF=${RF:-2}
MEMTIER=${MEMTIER:-../shared/bench-peers/memtier_benchmark}
cargo build --release -q --bins
source benches/ports.sh
scratch

run() { # binaries' directory
  local base
  base=$(free_block)
  "$1/slotcache" up --servers 3 --proxies 1 --partitions "$PARTITIONS" --replication-factor "$RF" \
    --base-port "$base" --cluster "segs$base" </dev/null >"$TMP/up.log" 2>&1 &
  local up=$!
  pids+=("$up")
  wait_serving "$base" "$TMP/up.log"
  local ops
  ops=$("$MEMTIER" -s 127.0.0.1 -p "$base" --protocol=redis -d "$SIZE" --key-minimum=1 \
    --key-maximum="$KEYS" --hide-histogram --ratio="$RATIO" --key-pattern=R:R -t 1 -c 50 \
    --pipeline="$P" --test-time="$SECONDS_PER_RUN" 2>/dev/null | awk '/Totals/ {print $2}')
  ss -tin state established >"$TMP/ss.txt"
  ss -tlnH | awk '{print $4}' >"$TMP/listening.txt"
  kill -INT "$up" 2>/dev/null
  wait "$up" 2>/dev/null || true
  python3 - "$TMP/ss.txt" "$TMP/listening.txt" "$base" "$ops" "$SECONDS_PER_RUN" "$1" <<'PY'
import re, sys
path, listening, base, ops, seconds, build = sys.argv[1:]
lines = open(path).read().split("\n")
# The accepting side of a connection: the leader's on a replication connection.
accepted = set(open(listening).read().split())
clients = {f"127.0.0.1:{int(base) + 10 + i}" for i in range(3)}
sockets = []
for addr, stats in zip(lines, lines[1:]):
    parts = addr.split()
    counters = dict(re.findall(r"(\w+):(\d+)", stats))
    if len(parts) >= 4 and "bytes_sent" in counters:
        sockets.append((parts[2], parts[3], int(counters.get("data_segs_out", 0)),
                        int(counters["bytes_sent"])))
requests = float(ops) * int(seconds)
lanes = sum(s[2] for s in sockets if (s[0] in clients or s[1] in clients) and s[3] > 100000)
# `slotcache up` takes ports base to base+49 (proxies, client ports, etcd, admin endpoints);
# the replication ports are the servers' other listening ports.
block = {f"127.0.0.1:{p}" for p in range(int(base), int(base) + 50)}
replication = [s for s in sockets if s[0] not in block and s[1] not in block
               and (s[0] in accepted or s[1] in accepted) and s[3] > 50000]
records = sum(s[2] for s in replication if s[0] in accepted)
acks = sum(s[2] for s in replication if s[0] not in accepted)
per_k = lambda n: 1000 * n / max(requests, 1)
print(f"{build:<22} {float(ops):>9.0f} ops/s  segments per 1k requests: lanes {per_k(lanes):5.1f}"
      f"  records {per_k(records):5.1f}  acknowledgements {per_k(acks):5.1f}")
PY
}

echo "memtier $RATIO -P $P over $KEYS keys, RF $RF sync, $PARTITIONS partitions on 3 servers"
for _ in $(seq "$ROUNDS"); do
  run ./target/release
  [ -n "${OLD:-}" ] && run "$OLD"
done
