#!/usr/bin/env bash
# Two builds of slotcache-server side by side, standalone: this checkout's release binary and
# the one in OLD (a target/release directory of another checkout), alternating rounds of
# redis-benchmark over a keyspace of KEYS random keys, medians and new/old ratios.
#   OLD=/path/to/old/target/release benches/server-ab.sh
# POLICY sets maxmemory-policy (allkeys-lfu exercises the hot-key tracking), ROUNDS, N, P,
# SIZE and TESTS as in the other scripts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/ports.sh"
: "${OLD:?OLD=<a target/release directory holding the slotcache-server to compare with>}"
ROUNDS="${ROUNDS:-5}" N="${N:-2000000}" P="${P:-16}" KEYS="${KEYS:-1000000}" SIZE="${SIZE:-32}"
TESTS="${TESTS:-set,get}" POLICY="${POLICY:-allkeys-lfu}"
cargo build --release -q -p slotcache-server --manifest-path "$here/../Cargo.toml"
NEW="$here/../target/release"
dir="$(mktemp -d)"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
declare -A port
for build in old new; do
  port[$build]="$(free_port)"
  bin="$OLD"; [ "$build" = new ] && bin="$NEW"
  (cd "$dir" && exec "$bin/slotcache-server" --port "${port[$build]}" --maxmemory-policy "$POLICY") \
    >"$dir/$build.log" 2>&1 &
  pids+=($!)
  wait_serving "${port[$build]}" "$dir/$build.log"
  redis-benchmark -p "${port[$build]}" -q -n "$KEYS" -r "$KEYS" -P 16 -d "$SIZE" -t set >/dev/null
done
for round in $(seq "$ROUNDS"); do
  for build in old new; do
    redis-benchmark -p "${port[$build]}" -q -c 50 -n "$N" -r "$KEYS" -P "$P" -d "$SIZE" -t "$TESTS" --csv |
      grep -v '^"test"' | tr -d '"' | awk -F, -v b="$build" '{print b, $1, $2}' >>"$dir/results"
  done
done
ab_medians "$dir/results"
