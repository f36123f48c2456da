#!/usr/bin/env bash
# User-space instructions per request, counted by callgrind, which repeats on a noisy machine
# where timings do not: slotcache-server against redis-server (and OLD's build, when given),
# each under valgrind, KEYS keys written first, then N requests per test at -P 1 from 50
# redis-benchmark clients, counted from a zeroed counter to a dump. The kernel's share (the
# socket calls, alike in both servers) is not counted: see benches/standalone.sh for CPU time.
#
# N (20000), KEYS (100000), SIZE (32), TESTS ("get set"); OLD=<another target/release> adds
# that build's server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${N:-20000}
KEYS=${KEYS:-100000}
SIZE=${SIZE:-32}
TESTS=${TESTS:-get set}
source benches/ports.sh
ensure_redis
command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
cargo build --release -q --bin slotcache-server
scratch

SERVERS="slotcache redis"
[ -n "${OLD:-}" ] && SERVERS="slotcache slotcache-old redis"

# The command line of `server` listening on `port`, into CMD.
command_of() { # server port
  case $1 in
    slotcache) CMD=("$PWD/target/release/slotcache-server" --port "$2") ;;
    slotcache-old) CMD=("$OLD/slotcache-server" --port "$2") ;;
    redis) CMD=(redis-server --save '' --appendonly no --port "$2") ;;
  esac
}

# Instructions per request of `server` for each test, one line: name count...
count() { # server
  local name=$1 port out vg counts=()
  port=$(free_port)
  out="$TMP/$name"
  mkdir -p "$out"
  command_of "$name" "$port"
  (cd "$out" && exec valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" \
    --dump-instr=no "${CMD[@]}") >"$out/log" 2>&1 &
  vg=$!
  pids+=($vg)
  until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.5; done
  redis-benchmark -p "$port" -t set -n "$KEYS" -r "$KEYS" -d "$SIZE" -c 50 -P 16 -q >/dev/null
  for test in $TESTS; do
    callgrind_control -z "$vg" >/dev/null 2>&1
    redis-benchmark -p "$port" -t "$test" -n "$N" -r "$KEYS" -d "$SIZE" -c 50 -P 1 -q >/dev/null
    rm -f "$out"/cg.*
    callgrind_control -d "$vg" >/dev/null 2>&1
    local total
    total=$(grep -h '^summary:' "$out"/cg.*.* | awk '{ s += $2 } END { print s }')
    counts+=("$((total / N))")
  done
  kill "$vg"
  wait "$vg" 2>/dev/null || true
  echo "$name ${counts[*]}"
}

for server in $SERVERS; do count "$server"; done >"$TMP/results"
python3 - "$TMP/results" "$TESTS" "$N" "$KEYS" <<'PY'
import sys
path, tests, n, keys = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4]
rows = {line.split()[0]: [int(x) for x in line.split()[1:]] for line in open(path)}
print(f"user instructions per request (callgrind), -P 1, 50 clients, {n} requests per test over {keys} keys")
print(f"{'server':<15}" + "".join(f"{t:>10}" for t in tests) + "".join(f"{'/redis ' + t:>13}" for t in tests))
for name, counts in rows.items():
    ratios = [c / r for c, r in zip(counts, rows["redis"])]
    print(f"{name:<15}" + "".join(f"{c:>10}" for c in counts) + "".join(f"{x:>13.2f}" for x in ratios))
PY
