#!/usr/bin/env bash
# `vs-redis.sh --cluster`: the same redis-benchmark load (-c $CLIENTS, -P 1 and -P 16) through
# one slotcache-proxy in front of 3 shard servers (`slotcache up`: etcd, servers, controllers),
# on one redis-server, and through nutcracker (twemproxy) in front of 3 redis-servers, run
# alternately for $ROUNDS rounds. Prints median ops/s, the proxy's ratio to each, and at -P 1
# the p99 latencies and the proxy's p99 overhead over direct redis-server. Then the CPU time
# (user + system, from /proc) each setup's serving processes and redis-benchmark spent per
# request: on a machine whose cores all run, ops/s is about cores / (serving + client) CPU per
# request, which is what bounds the ratios when the client shares the cores. The shard servers
# keep one copy of each partition (RF=1), as nutcracker's redis-servers do; RF=2 measures the
# cost of `sync` replication on top.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${N:-1000000}
# Keys the requests spread over (redis-benchmark -r): a cache's working set, not one key.
KEYSPACE=${KEYSPACE:-1000000}
RF=${RF:-1}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-50}
TESTS=${TESTS:-set,get,incr,lpush,hset,mset}
scripts/deps.sh >/dev/null
command -v nutcracker >/dev/null ||
  { apt-get update -qq && apt-get install -y -qq nutcracker >/dev/null; }
cargo build --release -q --bins
source benches/ports.sh
scratch

# slotcache: `up` on a block of ports from a free one; SIGTERM stops it and all it started.
BASE=$(free_block)
PROXY_PORT=$BASE
CLUSTER=vs$BASE
./target/release/slotcache up --servers 3 --proxies 1 --partitions 16 --replication-factor "$RF" \
  --base-port "$BASE" --cluster "$CLUSTER" </dev/null >"$TMP/up.log" 2>&1 & pids+=($!)

# redis-server alone, and three behind nutcracker.
start_redis() { redis-server --port "$1" --save '' --appendonly no --dir "$TMP" >/dev/null 2>&1 & pids+=($!); }
DIRECT_PORT=$(free_port); start_redis "$DIRECT_PORT"; direct_pids=$!
backends=(); nut_pids=()
for _ in 1 2 3; do
  port=$(free_port); start_redis "$port"; backends+=("$port"); nut_pids+=($!)
done
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
nut_pids+=($!)

for port in "$PROXY_PORT" "$DIRECT_PORT" "$NUT_PORT"; do
  wait_serving "$port" "$TMP/up.log"
done
proxy_pids=$(pgrep -f "slotcache-(server|proxy) .*--cluster $CLUSTER" | tr '\n' ' ')

hz=$(getconf CLK_TCK)

run() { # port pipeline pids... -> "test ops p99 serving-us client-us" lines, a test at a time
  local port=$1 pipeline=$2 test before line client
  shift 2
  for test in ${TESTS//,/ }; do
    before=$(ticks "$@")
    line=$( { /usr/bin/time -f '%U %S' -o "$TMP/client.cpu" redis-benchmark -p "$port" -t "$test" \
      -c "$CLIENTS" -n "$N" -P "$pipeline" -r "$KEYSPACE" --csv 2>/dev/null; } |
      tr -d '"' | awk -F, 'NR>1 {split(tolower($1), name, " "); print name[1], $2, $7}')
    client=$(awk '{print $1 + $2}' "$TMP/client.cpu")
    python3 -c "print('$line', ($(ticks "$@") - $before) * 1e6 / $hz / $N, $client * 1e6 / $N)"
  done
}

for P in 1 16; do
  for target in proxy direct nut; do : >"$TMP/$target.$P"; done
  for round in $(seq "$ROUNDS"); do
    run "$PROXY_PORT" "$P" $proxy_pids >>"$TMP/proxy.$P"
    run "$DIRECT_PORT" "$P" "$direct_pids" >>"$TMP/direct.$P"
    run "$NUT_PORT" "$P" "${nut_pids[@]}" >>"$TMP/nut.$P"
  done
done

python3 - "$TMP" <<'PY'
import sys, statistics, collections
tmp = sys.argv[1]
FIELDS = ("ops", "p99", "serving", "client")
def load(path):
    values = collections.defaultdict(lambda: collections.defaultdict(list))
    for line in open(path):
        name, *numbers = line.split()
        for field, number in zip(FIELDS, numbers):
            values[name][field].append(float(number))
    return {name: {f: statistics.median(v) for f, v in fields.items()}
            for name, fields in values.items()}
runs = {p: [load(f"{tmp}/{t}.{p}") for t in ("proxy", "direct", "nut")] for p in (1, 16)}
print(f"{'test':<6} {'P':>3} {'proxy ops/s':>12} {'redis ops/s':>12} {'nutcracker':>11} "
      f"{'vs redis':>9} {'vs nut':>7} {'p99 proxy':>10} {'p99 redis':>10} {'p99 nut':>8} {'overhead':>9}")
for p, (pr, rd, nt) in runs.items():
    for name in sorted(pr):
        a, b, c = pr[name], rd.get(name, {}), nt.get(name, {})
        ratio = lambda other: a["ops"] / other["ops"] if other.get("ops") else 0
        print(f"{name:<6} {p:>3} {a['ops']:>12.0f} {b.get('ops', 0):>12.0f} {c.get('ops', 0):>11.0f} "
              f"{ratio(b):>9.2f} {ratio(c):>7.2f} {a['p99']:>10.3f} {b.get('p99', 0):>10.3f} "
              f"{c.get('p99', 0):>8.3f} {a['p99'] - b.get('p99', 0):>+9.3f}")
print()
print("CPU microseconds per request: serving processes + redis-benchmark; the ratios they")
print("predict when the cores are the limit (the inverse ratio of the sums)")
print(f"{'test':<6} {'P':>3} {'proxy+3 servers':>16} {'redis-server':>13} {'nutcracker+3':>13} "
      f"{'vs redis':>9} {'vs nut':>7}")
for p, (pr, rd, nt) in runs.items():
    for name in sorted(pr):
        cell = lambda setup: (f"{setup[name]['serving']:.2f} + {setup[name]['client']:.2f}"
                              if name in setup else "-")
        total = lambda setup: setup[name]["serving"] + setup[name]["client"] if name in setup else 0
        ratio = lambda setup: total(setup) / total(pr) if total(pr) else 0
        print(f"{name:<6} {p:>3} {cell(pr):>16} {cell(rd):>13} {cell(nt):>13} "
              f"{ratio(rd):>9.2f} {ratio(nt):>7.2f}")
PY
