#!/usr/bin/env bash
# Where a replicated write's CPU goes: `slotcache up` (1 proxy, 3 shard servers, 16
# partitions, RF $RF, sync), memtier over a million keys (RATIO, 50 clients, -P $P), and
# `perf record --call-graph dwarf` on one shard server meanwhile. Every server leads some
# partitions and follows others, so its samples split by role: serving clients (the
# proxy's connections: run the command, record it), streaming records to its followers, and
# following (decode, apply, record again, acknowledge); then the functions that cost most in
# each role, as a share of all the server's samples.
#
# RF (2), RATIO (1:0), P (16), KEYS (1000000), SIZE (32), SECONDS_PER_RUN (8).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RF=${RF:-2}
RATIO=${RATIO:-1:0}
P=${P:-16}
KEYS=${KEYS:-1000000}
SIZE=${SIZE:-32}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
MEMTIER=${MEMTIER:-../shared/bench-peers/memtier_benchmark}
command -v perf >/dev/null || apt-get install -y -qq linux-perf >/dev/null
cargo build --release -q --bins
source benches/ports.sh
scratch

base=$(free_block)
./target/release/slotcache up --servers 3 --proxies 1 --partitions 16 --replication-factor "$RF" \
  --base-port "$base" --cluster "prof$base" </dev/null >"$TMP/up.log" 2>&1 &
pids+=($!)
wait_serving "$base" "$TMP/up.log"
memtier() {
  "$MEMTIER" -s 127.0.0.1 -p "$base" --protocol=redis -d "$SIZE" --key-minimum=1 \
    --key-maximum="$KEYS" --hide-histogram "$@"
}
memtier --ratio=1:0 --key-pattern=P:P --requests=allkeys --pipeline=64 -t 1 -c 1 >/dev/null 2>&1
server=$(pgrep -f "slotcache-server .*--cluster prof$base" | head -1)
(sleep 2 && perf record -F 499 --call-graph dwarf,16384 -p "$server" -o "$TMP/perf.data" \
  -- sleep $((SECONDS_PER_RUN - 4)) >"$TMP/perf.log" 2>&1) &
memtier --ratio="$RATIO" --key-pattern=R:R -t 1 -c 50 --pipeline="$P" \
  --test-time="$SECONDS_PER_RUN" 2>/dev/null | grep Totals | awk '{printf "memtier: %.0f ops/s\n", $2}'
wait $!
perf script -i "$TMP/perf.data" 2>/dev/null >"$TMP/stacks.txt"
python3 - "$TMP/stacks.txt" "$RF" "$RATIO" "$P" <<'PY'
import collections, sys
path, rf, ratio, pipeline = sys.argv[1:]
samples = [s for s in open(path).read().split("\n\n") if s.strip()]
roles = [("following", "follower::run_partition"),
         ("serving clients", "net::handle"),
         ("streaming to followers", "leader::serve_follower")]
parts = ["MessageReader", "take_effects", "apply_effect", "Log::append", "Log::seal",
         "Db::peek", "strings::set", "execute_resolved", "__libc_send", "__libc_recv",
         "malloc", "mi_free"]
count = collections.Counter()
for sample in samples:
    role = next((name for name, frame in roles if frame in sample), "other (idle, timers)")
    count[role] += 1
    for part in parts:
        if part in sample:
            count[(role, part)] += 1
total = max(len(samples), 1)
print(f"one shard server, RF {rf}, memtier {ratio} -P {pipeline}: {total} samples")
for role in [name for name, _ in roles] + ["other (idle, timers)"]:
    print(f"  {role:<24} {100 * count[role] / total:5.1f}%")
    shares = sorted(((count[(role, p)], p) for p in parts if count[(role, p)]), reverse=True)
    for n, part in shares[:8]:
        print(f"      {part:<20} {100 * n / total:5.1f}%")
PY
