#!/usr/bin/env bash
# What metrics cost: `slotcache up` (1 proxy, 3 shard servers, RF $RF) with its admin
# endpoints on and every /metrics scraped each second, side by side with the same cluster
# started --no-metrics (no admin endpoints, no per-command timing in the proxy). A million
# keys, $SIZE-byte values, redis-benchmark -r; rounds alternate off and on, and the script
# prints each side's mean ops/s and CPU microseconds per request (proxy + servers) and the
# ratios on/off.
#   benches/metrics-cost.sh                    # this checkout's release build
#   ROUNDS=5 TESTS=set,get benches/metrics-cost.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${N:-1000000}
KEYS=${KEYS:-1000000}
SIZE=${SIZE:-100}
P=${P:-16}
RF=${RF:-2}
CLIENTS=${CLIENTS:-50}
ROUNDS=${ROUNDS:-3}
TESTS=${TESTS:-set,get}
if [ -z "${BIN:-}" ]; then
  cargo build --release -q --bins
  BIN=target/release
fi
source benches/ports.sh
TMP=$(mktemp -d)
UP=
SCRAPER=
stop() {
  local pid
  for pid in $SCRAPER $UP; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  UP= SCRAPER=
}
trap 'stop; rm -rf "$TMP"' EXIT
hz=$(getconf CLK_TCK)
# One side's run of every test: "<side> <test> <ops/s> <CPU us/request>" lines.
run_side() {
  local side=$1 base cluster flags=() pids
  base=$(free_block)
  cluster=m$base
  [ "$side" = off ] && flags=(--no-metrics)
  "$BIN/slotcache" up --servers 3 --proxies 1 --partitions 16 --replication-factor "$RF" \
    --base-port "$base" --cluster "$cluster" "${flags[@]}" </dev/null >"$TMP/up.log" 2>&1 &
  UP=$!
  wait_serving "$base" "$TMP/up.log"
  if [ "$side" = on ]; then
    (while true; do
      for port in $((base + 20)) $((base + 32)) $((base + 33)) $((base + 40)) $((base + 41)) $((base + 42)); do
        curl -s -o /dev/null "http://127.0.0.1:$port/metrics" || true
      done
      sleep 1
    done) &
    SCRAPER=$!
  fi
  pids=$(pgrep -f "slotcache-(server|proxy) .*--cluster $cluster( |$)" | tr '\n' ' ')
  for test in ${TESTS//,/ }; do
    local before after ops
    before=$(ticks $pids)
    ops=$(redis-benchmark -p "$base" -t "$test" -c "$CLIENTS" -n "$N" -P "$P" -r "$KEYS" -d "$SIZE" --csv 2>/dev/null |
      tr -d '"' | awk -F, 'NR>1 {print $2}')
    after=$(ticks $pids)
    python3 -c "print('$side $test $ops %.3f' % (($after - $before) * 1e6 / $hz / $N))"
  done
  stop
}
for round in $(seq "$ROUNDS"); do
  run_side off >>"$TMP/results"
  run_side on >>"$TMP/results"
  echo "round $round of $ROUNDS done" >&2
done
python3 - "$TMP/results" "$RF" "$KEYS" "$SIZE" "$P" <<'PY'
import sys, statistics
rows = [line.split() for line in open(sys.argv[1])]
rf, keys, size, pipeline = sys.argv[2:6]
print(f"slotcache up: 1 proxy, 3 servers, RF {rf}; {keys} keys, {size}-byte values, -P {pipeline}")
print(f"{'test':6} {'off ops/s':>11} {'on ops/s':>11} {'on/off':>7} {'off CPU us':>11} {'on CPU us':>10} {'on/off':>7}")
for test in dict.fromkeys(r[1] for r in rows):
    def mean(side, column):
        return statistics.mean(float(r[column]) for r in rows if r[0] == side and r[1] == test)
    off_ops, on_ops = mean("off", 2), mean("on", 2)
    off_cpu, on_cpu = mean("off", 3), mean("on", 3)
    print(f"{test:6} {off_ops:11.0f} {on_ops:11.0f} {on_ops / off_ops:7.3f} {off_cpu:11.2f} {on_cpu:10.2f} {on_cpu / off_cpu:7.3f}")
PY
