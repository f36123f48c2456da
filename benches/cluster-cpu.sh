#!/usr/bin/env bash
# CPU time per request through `slotcache up` (1 proxy, 3 shard servers, RF=$RF): runs
# redis-benchmark per test and prints ops/s and the CPU microseconds the proxy and the servers
# spent per request (user + system, from /proc). Unlike ops/s on a shared 2-core machine, CPU
# per request barely moves with what else runs, so two builds compare fairly:
#   benches/cluster-cpu.sh                          # this checkout's release build
#   BIN=/tmp/old/target/release benches/cluster-cpu.sh   # another build
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${N:-1000000}
# Keys the requests spread over (redis-benchmark -r): a cache's working set, not one key.
KEYSPACE=${KEYSPACE:-1000000}
P=${P:-16}
RF=${RF:-1}
CLIENTS=${CLIENTS:-50}
TESTS=${TESTS:-set,get,mset}
if [ -z "${BIN:-}" ]; then
  cargo build --release -q --bins
  BIN=target/release
fi
source benches/ports.sh
TMP=$(mktemp -d)
BASE=$(free_block)
CLUSTER=cpu$BASE
"$BIN/slotcache" up --servers 3 --proxies 1 --partitions 16 --replication-factor "$RF" \
  --base-port "$BASE" --cluster "$CLUSTER" </dev/null >"$TMP/up.log" 2>&1 &
UP=$!
trap 'kill $UP 2>/dev/null; wait $UP 2>/dev/null; rm -rf "$TMP"' EXIT
wait_serving "$BASE" "$TMP/up.log"
pids=$(pgrep -f "slotcache-(server|proxy) .*--cluster $CLUSTER" | tr '\n' ' ')
hz=$(getconf CLK_TCK)
printf '%-6s %3s %12s %14s\n' test P 'ops/s' 'CPU us/request'
for test in ${TESTS//,/ }; do
  before=$(ticks $pids)
  ops=$(redis-benchmark -p "$BASE" -t "$test" -c "$CLIENTS" -n "$N" -P "$P" -r "$KEYSPACE" --csv 2>/dev/null |
    tr -d '"' | awk -F, 'NR>1 {print $2}')
  after=$(ticks $pids)
  python3 -c "print('%-6s %3s %12.0f %14.2f' % ('$test', $P, $ops, ($after - $before) * 1e6 / $hz / $N))"
done
