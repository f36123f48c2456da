#!/usr/bin/env bash
# Two builds of slotcache-proxy side by side in front of the same cluster (etcd, one shard
# server, RF 1, 8 partitions): this checkout's and the one in OLD (a target/release directory
# of another checkout), each with --threads 1, alternating rounds of redis-benchmark at -P 1
# and -P 16 over KEYS random keys; medians and new/old ratios.
#   OLD=/path/to/old/target/release benches/proxy-ab.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/ports.sh"
: "${OLD:?OLD=<a target/release directory holding the slotcache-proxy to compare with>}"
ROUNDS="${ROUNDS:-5}" N="${N:-300000}" KEYS="${KEYS:-100000}" TESTS="${TESTS:-set,get}"
cargo build --release -q --manifest-path "$here/../Cargo.toml"
NEW="$here/../target/release"
dir="$(mktemp -d)"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; sleep 0.5; rm -rf "$dir"; }
trap cleanup EXIT
client="$(free_port)" peer="$(free_port)"
etcd --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$client" \
  --advertise-client-urls "http://127.0.0.1:$client" --listen-peer-urls "http://127.0.0.1:$peer" \
  --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "default=http://127.0.0.1:$peer" >"$dir/etcd.log" 2>&1 &
pids+=($!)
target=(--etcd "http://127.0.0.1:$client" --cluster ab)
for _ in $(seq 100); do
  "$NEW/slotcache" cluster init "${target[@]}" --partitions 8 --replication-factor 1 >/dev/null 2>&1 && break
  sleep 0.2
done
server="$(free_port)"
(cd "$dir" && exec "$NEW/slotcache-server" --port "$server" "${target[@]}" --node-id n1) >"$dir/server.log" 2>&1 &
pids+=($!)
"$NEW/slotcache-controller" "${target[@]}" >"$dir/controller.log" 2>&1 &
pids+=($!)
declare -A port
for build in old new; do
  port[$build]="$(free_port)"
  bin="$OLD"; [ "$build" = new ] && bin="$NEW"
  "$bin/slotcache-proxy" --port "${port[$build]}" "${target[@]}" --threads 1 >"$dir/$build.log" 2>&1 &
  pids+=($!)
  wait_serving "${port[$build]}" "$dir/$build.log"
done
for round in $(seq "$ROUNDS"); do
  for build in old new; do
    for p in 1 16; do
      n="$N"; [ "$p" = 16 ] && n=$((N * 3))
      redis-benchmark -p "${port[$build]}" -q -c 50 -n "$n" -r "$KEYS" -P "$p" -t "$TESTS" --csv |
        grep -v '^"test"' | tr -d '"' | awk -F, -v b="$build" -v p="$p" '{print b, $1 "-P" p, $2}' >>"$dir/results"
    done
  done
done
ab_medians "$dir/results"
