#!/usr/bin/env bash
# Side-by-side throughput: redis-benchmark against slotcache and redis-server, run alternately
# for several rounds on this machine; prints the median ops/s of each and the ratio.
#   benches/vs-redis.sh                  # one slotcache-server vs one redis-server
#   N=200000 ROUNDS=3 benches/vs-redis.sh
#   benches/vs-redis.sh --cluster        # 1 proxy + 3 shard servers vs one redis-server
#                                        # and nutcracker in front of 3 redis-servers
N=${N:-1000000}
# Keys the requests spread over (redis-benchmark -r): a cache's working set, not one key.
KEYSPACE=${KEYSPACE:-1000000}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-50}
if [ "${1:-}" = --cluster ]; then
  TESTS=${TESTS:-set,get,incr,lpush,hset,mset}
  exec bash "$(dirname "$0")/vs-cluster.sh"
fi
TESTS=${TESTS:-set,get,incr,mset,lpush,lpop,sadd,hset,zadd,lrange_100}
source "$(dirname "$0")/common.sh"

run() { # port pipeline -> "test ops" lines
  redis-benchmark -p "$1" -t "$TESTS" -c "$CLIENTS" -n "$N" -P "$2" -r "$KEYSPACE" --csv -q 2>/dev/null |
    tr -d '"' | awk -F, 'NR>1 {print tolower($1), $2}'
}

for P in 1 16; do
  : >"$TMP/sc.$P"; : >"$TMP/rd.$P"
  for round in $(seq "$ROUNDS"); do
    run "$SC_PORT" "$P" >>"$TMP/sc.$P"
    run "$RD_PORT" "$P" >>"$TMP/rd.$P"
  done
done

python3 - "$TMP" "$TESTS" <<'PY'
import sys, statistics, collections
tmp, tests = sys.argv[1], sys.argv[2].split(",")
def load(path):
    d = collections.defaultdict(list)
    for line in open(path):
        name, ops = line.rsplit(" ", 1)
        d[name.split()[0]].append(float(ops))
    return d
print(f"{'test':<8} {'pipeline':>8} {'slotcache ops/s':>16} {'redis ops/s':>14} {'ratio':>7}")
for p in (1, 16):
    sc, rd = load(f"{tmp}/sc.{p}"), load(f"{tmp}/rd.{p}")
    for name in sorted(sc):
        a, b = statistics.median(sc[name]), statistics.median(rd.get(name, [0]))
        print(f"{name:<8} {p:>8} {a:>16.0f} {b:>14.0f} {a / b if b else 0:>7.2f}")
PY
