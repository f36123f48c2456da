#!/usr/bin/env bash
# What replication costs, side by side in one run: memtier_benchmark over a million keys
# (uniform random, 32-byte values, 50 connections, -P 1 and -P 16, 1:10 and 1:0 set:get)
# through one slotcache-proxy in front of 3 shard servers (`slotcache up`) at RF 1, at RF 2
# `sync` with lease reads (the default) and at RF 2 `sync` with barrier reads, against a
# Redis Cluster of 3 masters and 3 (asynchronous) replicas driven by memtier's cluster mode,
# and one redis-server. Rounds alternate between the setups; medians of ops/s, the ratios the
# replication issue asks for, and the serving processes' CPU microseconds per request (and the
# proxy's part of it).
#
# ROUNDS (2), SECONDS_PER_RUN (10), KEYS (1000000), SIZE (32), CLIENTS ("50": memtier's
# connections, each keeping -P requests in flight; several counts run side by side),
# PATTERN (R:R uniform; G:G Gaussian, hot keys in the middle of the range), RATIOS
# ("1:10 1:0"), PIPELINES ("1 16"), SETUPS (all of: redis cluster rf1 lease barrier
# rf1-direct lease-direct; and lease-old, RF 2 lease from the binaries in OLD, another
# checkout's target/release, to weigh a change to replication against the build before it in
# the same run; lease-old-direct, its servers driven in cluster mode; nutcracker, in front of
# 3 redis-servers; cluster-masters, a Redis Cluster of 3 masters without replicas).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS=${ROUNDS:-2}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
KEYS=${KEYS:-1000000}
SIZE=${SIZE:-32}
CLIENTS=${CLIENTS:-50}
PATTERN=${PATTERN:-R:R}
RATIOS=${RATIOS:-1:10 1:0}
PIPELINES=${PIPELINES:-1 16}
SETUPS=${SETUPS:-redis cluster rf1 lease barrier rf1-direct lease-direct}
MEMTIER=${MEMTIER:-../shared/bench-peers/memtier_benchmark}
scripts/deps.sh >/dev/null
if ! "$MEMTIER" --version >/dev/null 2>&1; then
  apt-get install -y -qq libevent-2.1-7 libevent-openssl-2.1-7 libevent-core-2.1-7 >/dev/null
fi
cargo build --release -q --bins
source benches/ports.sh
scratch

declare -A PORT SERVING PROXY CLUSTER_MODE
start_redis() { # port [extra args...]
  local port=$1
  shift
  mkdir -p "$TMP/redis-$port"
  redis-server --port "$port" --save '' --appendonly no --dir "$TMP/redis-$port" "$@" \
    >"$TMP/redis-$port/log" 2>&1 &
  pids+=($!)
}

# slotcache: one `up` per setup; the servers take the read consistency from the environment.
start_slotcache() { # setup rf read-consistency [binaries' directory]
  local base
  base=$(free_block)
  PORT[$1]=$base
  SLOTCACHE_READ_CONSISTENCY=$3 "${4:-./target/release}/slotcache" up --servers 3 --proxies 1 \
    --partitions 16 --replication-factor "$2" --base-port "$base" --cluster "rep$base" \
    </dev/null >"$TMP/$1.log" 2>&1 &
  pids+=($!)
  # Serving before the next setup picks its ports.
  wait_serving "$base" "$TMP/$1.log"
  SERVING[$1]=$(pgrep -f "slotcache-(server|proxy) .*--cluster rep$base" | tr '\n' ' ')
  PROXY[$1]=$(pgrep -f "slotcache-proxy .*--cluster rep$base" | tr '\n' ' ')
}
for setup in $SETUPS; do
  case $setup in
    rf1) start_slotcache rf1 1 lease ;;
    lease) start_slotcache lease 2 lease ;;
    lease-old) start_slotcache lease-old 2 lease "${OLD:?OLD=<a target/release directory>}" ;;
    barrier) start_slotcache barrier 2 barrier ;;
    rf1-direct | lease-direct | lease-old-direct)
      # The servers of a setup started above (servers from base-port + 10), in cluster mode.
      of=${setup%-direct}
      PORT[$setup]=$((PORT[$of] + 10))
      SERVING[$setup]=${SERVING[$of]}
      CLUSTER_MODE[$setup]=--cluster-mode
      ;;
    redis)
      PORT[redis]=$(free_port)
      start_redis "${PORT[redis]}"
      SERVING[redis]=$!
      wait_serving "${PORT[redis]}" /dev/null
      ;;
    nutcracker)
      # nutcracker (twemproxy) in front of 3 redis-servers: the proxy slotcache's replaces.
      command -v nutcracker >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq nutcracker >/dev/null; }
      backends=()
      serving=()
      for _ in 1 2 3; do
        port=$(free_port)
        start_redis "$port"
        backends+=("  - 127.0.0.1:$port:1")
        serving+=($!)
        wait_serving "$port" /dev/null
      done
      PORT[nutcracker]=$(free_port)
      printf 'pool:\n  listen: 127.0.0.1:%s\n  hash: fnv1a_64\n  distribution: ketama\n  redis: true\n  auto_eject_hosts: false\n  servers:\n%s\n' \
        "${PORT[nutcracker]}" "$(printf '%s\n' "${backends[@]}")" >"$TMP/nutcracker.yml"
      nutcracker -c "$TMP/nutcracker.yml" -s "$(free_port)" >"$TMP/nutcracker.log" 2>&1 &
      pids+=($!)
      SERVING[nutcracker]="$! ${serving[*]}"
      PROXY[nutcracker]=$!
      wait_serving "${PORT[nutcracker]}" "$TMP/nutcracker.log"
      ;;
    cluster | cluster-masters)
      # Ports below 22700, so that the cluster bus (port + 10000) stays out of the ephemeral
      # range, where an outgoing connection may hold it. cluster-masters: no replicas.
      nodes=()
      serving=()
      replicas=1
      [ "$setup" = cluster-masters ] && replicas=0
      for _ in $(seq $((3 * (replicas + 1)))); do
        while :; do
          port=$((20000 + RANDOM % 2700))
          if python3 -c "import socket,sys
for p in ($port, $port + 10000):
    socket.socket().bind(('127.0.0.1', p))" 2>/dev/null; then break; fi
        done
        start_redis "$port" --cluster-enabled yes --cluster-config-file nodes.conf
        nodes+=("127.0.0.1:$port")
        serving+=($!)
      done
      PORT[$setup]=${nodes[0]#127.0.0.1:}
      SERVING[$setup]="${serving[*]}"
      CLUSTER_MODE[$setup]=--cluster-mode
      for node in "${nodes[@]}"; do
        until [ "$(redis-cli -p "${node#127.0.0.1:}" ping 2>/dev/null)" = PONG ]; do sleep 0.1; done
      done
      redis-cli --cluster create "${nodes[@]}" --cluster-replicas "$replicas" --cluster-yes \
        >"$TMP/create-$setup.log"
      until redis-cli -p "${PORT[$setup]}" cluster info | grep -q cluster_state:ok; do sleep 0.2; done
      sleep 1
      ;;
  esac
done

memtier() { # setup [memtier args...]
  local setup=$1
  shift
  "$MEMTIER" -s 127.0.0.1 -p "${PORT[$setup]}" --protocol=redis ${CLUSTER_MODE[$setup]:-} \
    -d "$SIZE" --key-minimum=1 --key-maximum="$KEYS" --hide-histogram "$@"
}

# Every key written once, so that GETs hit.
for setup in $SETUPS; do
  memtier "$setup" --ratio=1:0 --key-pattern=P:P --requests=allkeys --pipeline=64 -t 1 -c 1 \
    >/dev/null 2>&1
done

hz=$(getconf CLK_TCK)
# Each -P with each connection count, as "pipeline/clients".
LOADS=$(for p in $PIPELINES; do for c in $CLIENTS; do echo "$p/$c"; done; done)
: >"$TMP/results"
for round in $(seq "$ROUNDS"); do
  # Every other round runs the setups in reverse: on this machine whichever runs first in a
  # round measured up to 10% slower, whatever it was.
  order=$SETUPS
  # shellcheck disable=SC2086
  [ $((round % 2)) = 0 ] && order=$(printf '%s\n' $SETUPS | tac | tr '\n' ' ')
  for ratio in $RATIOS; do
    for load in $LOADS; do
      pipeline=${load%/*}
      clients=${load#*/}
      for setup in $order; do
        # shellcheck disable=SC2086
        before=$(ticks ${SERVING[$setup]})
        # shellcheck disable=SC2086
        proxy_before=$(ticks ${PROXY[$setup]:-})
        memtier "$setup" --ratio="$ratio" --key-pattern="$PATTERN" -t 1 -c "$clients" \
          --pipeline="$pipeline" --test-time="$SECONDS_PER_RUN" --distinct-client-seed \
          --json-out-file="$TMP/run.json" >/dev/null 2>&1
        # shellcheck disable=SC2086
        after=$(ticks ${SERVING[$setup]})
        # shellcheck disable=SC2086
        proxy_after=$(ticks ${PROXY[$setup]:-})
        python3 - "$TMP/run.json" "$setup" "$ratio" "$load" "$before" "$after" "$hz" \
          "$SECONDS_PER_RUN" "$proxy_before" "$proxy_after" >>"$TMP/results" <<'PY'
import json, sys
path, setup, ratio, load, before, after, hz, secs, proxy_before, proxy_after = sys.argv[1:]
totals = json.load(open(path))["ALL STATS"]["Totals"]
ops = totals["Ops/sec"]
per_request = lambda ticks: ticks * 1e6 / int(hz) / max(ops * float(secs), 1)
cpu_us = per_request(int(after) - int(before))
proxy_us = per_request(int(proxy_after) - int(proxy_before))
print(setup, ratio, load, ops, cpu_us, proxy_us)
PY
      done
    done
  done
done

python3 - "$TMP/results" "$SETUPS" <<'PY'
import statistics, sys, collections
runs = collections.defaultdict(list)
cpu = collections.defaultdict(list)
proxy_cpu = collections.defaultdict(list)
for line in open(sys.argv[1]):
    setup, ratio, pipeline, ops, us, proxy_us = line.split()
    runs[(ratio, pipeline, setup)].append(float(ops))
    cpu[(ratio, pipeline, setup)].append(float(us))
    proxy_cpu[(ratio, pipeline, setup)].append(float(proxy_us))
setups = sys.argv[2].split()
names = {"redis": "redis", "cluster": "redis cluster 3+3", "rf1": "slotcache RF1",
         "lease": "RF2 sync lease", "barrier": "RF2 sync barrier",
         "rf1-direct": "RF1 direct", "lease-direct": "RF2 lease direct",
         "lease-old": "RF2 lease (OLD)", "lease-old-direct": "RF2 direct (OLD)",
         "nutcracker": "nutcracker+3",
         "cluster-masters": "redis cluster 3"}
med = lambda d, k: statistics.median(d[k]) if k in d else 0
# P is "pipeline/clients".
cases = sorted({(r, p) for r, p, _ in runs},
               key=lambda c: (c[0], *map(int, c[1].split("/"))))
print("median ops/s (serving CPU µs per request); P: memtier's -P / connections")
print(f"{'set:get':<8} {'P':>6} " + " ".join(f"{names[s]:>22}" for s in setups))
for ratio, p in cases:
    cells = [f"{med(runs, (ratio, p, s)):>10.0f} ({med(cpu, (ratio, p, s)):>5.2f} µs)" for s in setups]
    print(f"{ratio:<8} {p:>6} " + " ".join(f"{c:>22}" for c in cells))
print()
# Where the serving CPU goes: the proxy's part of it, for the setups that go through one.
proxied = [s for s in setups if med(proxy_cpu, (cases[0][0], cases[0][1], s)) > 0] if cases else []
if proxied:
    print("of it, the proxy's CPU µs per request")
    print(f"{'set:get':<8} {'P':>6} " + " ".join(f"{names[s]:>22}" for s in proxied))
    for ratio, p in cases:
        print(f"{ratio:<8} {p:>6} "
              + " ".join(f"{med(proxy_cpu, (ratio, p, s)):>19.2f} µs" for s in proxied))
    print()
pairs = [("lease", "rf1"), ("lease", "cluster"), ("barrier", "rf1"), ("lease", "barrier"),
         ("rf1", "cluster"), ("lease-direct", "cluster"), ("lease-direct", "rf1-direct"),
         ("lease", "lease-old"), ("lease-direct", "lease-old-direct"), ("rf1", "nutcracker"),
         ("rf1-direct", "cluster-masters")]
pairs = [(a, b) for a, b in pairs if a in setups and b in setups]
print("ratios of median ops/s")
print(f"{'set:get':<8} {'P':>6} " + " ".join(f"{names[a] + ' / ' + names[b]:>38}" for a, b in pairs))
for ratio, p in cases:
    cells = []
    for a, b in pairs:
        x, y = med(runs, (ratio, p, a)), med(runs, (ratio, p, b))
        cells.append(f"{x / y if y else 0:>38.2f}")
    print(f"{ratio:<8} {p:>6} " + " ".join(cells))
PY
