#!/usr/bin/env bash
# `vs-redis.sh --cluster`: the same redis-benchmark load (-c $CLIENTS, -P 1 and -P 16) through
# one slotcache-proxy in front of 3 shard servers (`slotcache up`: etcd, servers, controllers),
# on one redis-server, and through nutcracker (twemproxy) in front of 3 redis-servers, run
# alternately for $ROUNDS rounds. Prints median ops/s, the proxy's ratio to each, and at -P 1
# the p99 latencies and the proxy's p99 overhead over direct redis-server. The shard servers
# keep one copy of each partition (RF=1), as nutcracker's redis-servers do; RF=2 measures the
# cost of `sync` replication on top.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${N:-1000000}
RF=${RF:-1}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-50}
TESTS=${TESTS:-set,get,incr,lpush,hset,mset}
scripts/deps.sh >/dev/null
command -v nutcracker >/dev/null ||
  { apt-get update -qq && apt-get install -y -qq nutcracker >/dev/null; }
cargo build --release -q --bins
source benches/ports.sh
TMP=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# slotcache: `up` on a block of ports from a free one; SIGTERM stops it and all it started.
BASE=$(free_block)
PROXY_PORT=$BASE
./target/release/slotcache up --servers 3 --proxies 1 --partitions 16 --replication-factor "$RF" --base-port "$BASE" \
  </dev/null >"$TMP/up.log" 2>&1 & pids+=($!)

# redis-server alone, and three behind nutcracker.
start_redis() { redis-server --port "$1" --save '' --appendonly no --dir "$TMP" >/dev/null 2>&1 & pids+=($!); }
DIRECT_PORT=$(free_port); start_redis "$DIRECT_PORT"
backends=()
for _ in 1 2 3; do port=$(free_port); start_redis "$port"; backends+=("$port"); done
NUT_PORT=$(free_port)
cat >"$TMP/nutcracker.yml" <<YML
pool:
  listen: 127.0.0.1:$NUT_PORT
  hash: fnv1a_64
  distribution: ketama
  redis: true
  auto_eject_hosts: false
  servers:
   - 127.0.0.1:${backends[0]}:1
   - 127.0.0.1:${backends[1]}:1
   - 127.0.0.1:${backends[2]}:1
YML
nutcracker -c "$TMP/nutcracker.yml" -s "$(free_port)" >"$TMP/nutcracker.log" 2>&1 & pids+=($!)

for port in "$PROXY_PORT" "$DIRECT_PORT" "$NUT_PORT"; do
  wait_serving "$port" "$TMP/up.log"
done

run() { # port pipeline -> "test ops p99" lines
  redis-benchmark -p "$1" -t "$TESTS" -c "$CLIENTS" -n "$N" -P "$2" -r 100000 --csv 2>/dev/null |
    tr -d '"' | awk -F, 'NR>1 {print tolower($1), $2, $7}'
}

for P in 1 16; do
  for target in proxy direct nut; do : >"$TMP/$target.$P"; done
  for round in $(seq "$ROUNDS"); do
    run "$PROXY_PORT" "$P" >>"$TMP/proxy.$P"
    run "$DIRECT_PORT" "$P" >>"$TMP/direct.$P"
    run "$NUT_PORT" "$P" >>"$TMP/nut.$P"
  done
done

python3 - "$TMP" <<'PY'
import sys, statistics, collections
tmp = sys.argv[1]
def load(path):
    ops, p99 = collections.defaultdict(list), collections.defaultdict(list)
    for line in open(path):
        fields = line.split()
        name = fields[0]
        ops[name].append(float(fields[-2]))
        p99[name].append(float(fields[-1]))
    return ({k: statistics.median(v) for k, v in ops.items()},
            {k: statistics.median(v) for k, v in p99.items()})
print(f"{'test':<6} {'P':>3} {'proxy ops/s':>12} {'redis ops/s':>12} {'nutcracker':>11} "
      f"{'vs redis':>9} {'vs nut':>7} {'p99 proxy':>10} {'p99 redis':>10} {'p99 nut':>8} {'overhead':>9}")
for p in (1, 16):
    (pr, pr99), (rd, rd99), (nt, nt99) = (load(f"{tmp}/{t}.{p}") for t in ("proxy", "direct", "nut"))
    for name in sorted(pr):
        a, b, c = pr[name], rd.get(name, 0), nt.get(name, 0)
        print(f"{name:<6} {p:>3} {a:>12.0f} {b:>12.0f} {c:>11.0f} {a / b if b else 0:>9.2f} "
              f"{a / c if c else 0:>7.2f} {pr99[name]:>10.3f} {rd99.get(name, 0):>10.3f} "
              f"{nt99.get(name, 0):>8.3f} {pr99[name] - rd99.get(name, 0):>+9.3f}")
PY
