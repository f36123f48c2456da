#!/usr/bin/env bash
# One server against one server, a cache's working set: slotcache-server, redis-server and
# Valkey (../shared/bench-peers/valkey-server, its rows skipped when absent), each holding a
# million keys with 32-byte values written first, so that every GET hits. Rounds alternate
# between the servers; the script prints medians of ops/s, the ratios to Redis and Valkey, and
# each server's CPU microseconds per request (user + system, from /proc).
#
# Loads, each at -P 1 and -P 16 with 50 clients:
#   redis-benchmark -t get,set -r KEYS -d SIZE (keys key:000000000000 ... as -r makes them);
#   memtier_benchmark 1:10 set:get over KEYS keys, uniform random (R:R);
#   single key: redis-benchmark -t get,set without -r, every request on one key (labelled so).
#
# ROUNDS (3), N (requests per redis-benchmark run, 1000000), SECONDS_PER_RUN (memtier, 10),
# KEYS (1000000), SIZE (32), PIPELINES ("1 16"), LOADS ("rb memtier single"), SERVERS
# ("slotcache redis valkey"); OLD=<another target/release> adds "slotcache-old", that build's
# server, to weigh a change against the build before it in the same run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS=${ROUNDS:-3}
N=${N:-1000000}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
KEYS=${KEYS:-1000000}
SIZE=${SIZE:-32}
PIPELINES=${PIPELINES:-1 16}
LOADS=${LOADS:-rb memtier single}
SERVERS=${SERVERS:-slotcache redis valkey}
[ -n "${OLD:-}" ] && SERVERS="$SERVERS slotcache-old"
PEERS=../shared/bench-peers
MEMTIER=${MEMTIER:-$PEERS/memtier_benchmark}
source benches/ports.sh
ensure_redis
if [[ " $LOADS " == *" memtier "* ]] && ! "$MEMTIER" --version >/dev/null 2>&1; then
  apt-get install -y -qq libevent-2.1-7 libevent-openssl-2.1-7 libevent-core-2.1-7 >/dev/null
fi
cargo build --release -q --bin slotcache-server
scratch

declare -A PORT PID
start() { # name command...
  local name=$1
  shift
  PORT[$name]=$(free_port)
  mkdir -p "$TMP/$name"
  (cd "$TMP/$name" && exec "$@" --port "${PORT[$name]}") >"$TMP/$name/log" 2>&1 &
  PID[$name]=$!
  pids+=($!)
  wait_serving "${PORT[$name]}" "$TMP/$name/log"
}
for server in $SERVERS; do
  case $server in
    slotcache) start slotcache "$PWD/target/release/slotcache-server" ;;
    slotcache-old) start slotcache-old "$OLD/slotcache-server" ;;
    redis) start redis redis-server --save '' --appendonly no ;;
    valkey)
      if [ -x "$PEERS/valkey-server" ]; then
        start valkey "$PWD/$PEERS/valkey-server" --save '' --appendonly no
      else
        echo "no $PEERS/valkey-server: Valkey's rows are skipped" >&2
        SERVERS=${SERVERS/valkey/}
      fi
      ;;
  esac
done

# Every key either load generator asks for, written first: redis-benchmark's key:%012d and
# memtier's memtier-%d, SIZE-byte values.
preload() { # port
  python3 - "$1" "$KEYS" "$SIZE" <<'PY'
import re, socket, sys
port, keys, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
value = b"x" * size
s = socket.create_connection(("127.0.0.1", port))
def command(key):
    return b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, size, value)
buf = bytearray()
for i in range(keys):
    buf += command(b"key:%012d" % i) + command(b"memtier-%d" % (i + 1))
    if len(buf) > 1 << 20:
        s.sendall(buf)
        buf = bytearray()
s.sendall(buf + b"*1\r\n$6\r\nDBSIZE\r\n")
data = b""
while not re.search(rb":\d+\r\n$", data):  # DBSIZE's reply comes after every +OK
    data = data[-64:] + s.recv(1 << 20)
PY
}
for server in $SERVERS; do
  preload "${PORT[$server]}"
  echo "$server: $(redis-cli -p "${PORT[$server]}" dbsize) keys" >&2
done

hz=$(getconf CLK_TCK)
: >"$TMP/results"
record() { # server load pipeline test ops before after seconds-or-requests
  echo "$1 $2 $3 $4 $5 $(python3 -c "print(($7 - $6) * 1e6 / $hz / max($8, 1))")" >>"$TMP/results"
}
run_rb() { # server pipeline load [redis-benchmark args...]
  local server=$1 pipeline=$2 load=$3 before after test ops
  shift 3
  for test in set get; do
    before=$(ticks "${PID[$server]}")
    ops=$(redis-benchmark -p "${PORT[$server]}" -c 50 -n "$N" -P "$pipeline" -d "$SIZE" -t "$test" \
      --csv -q "$@" 2>/dev/null | tr -d '"' | awk -F, 'NR>1 {print $2}')
    after=$(ticks "${PID[$server]}")
    record "$server" "$load" "$pipeline" "$test" "$ops" "$before" "$after" "$N"
  done
}
run_memtier() { # server pipeline
  local server=$1 pipeline=$2 before after ops
  before=$(ticks "${PID[$server]}")
  "$MEMTIER" -s 127.0.0.1 -p "${PORT[$server]}" --protocol=redis -t 1 -c 50 --ratio=1:10 \
    --pipeline="$pipeline" -d "$SIZE" --key-pattern=R:R --key-minimum=1 --key-maximum="$KEYS" \
    --test-time="$SECONDS_PER_RUN" --distinct-client-seed --hide-histogram \
    --json-out-file="$TMP/run.json" >/dev/null 2>&1
  after=$(ticks "${PID[$server]}")
  ops=$(python3 -c "import json; print(json.load(open('$TMP/run.json'))['ALL STATS']['Totals']['Ops/sec'])")
  record "$server" memtier "$pipeline" 1:10 "$ops" "$before" "$after" \
    "$(python3 -c "print(int($ops * $SECONDS_PER_RUN))")"
}
for round in $(seq "$ROUNDS"); do
  for pipeline in $PIPELINES; do
    for load in $LOADS; do
      for server in $SERVERS; do
        case $load in
          rb) run_rb "$server" "$pipeline" "-r $KEYS" -r "$KEYS" ;;
          single) run_rb "$server" "$pipeline" "single-key" ;;
          memtier) run_memtier "$server" "$pipeline" ;;
        esac
      done
    done
  done
  echo "round $round done" >&2
done

python3 - "$TMP/results" "$SERVERS" "$KEYS" "$SIZE" "$ROUNDS" <<'PY'
import statistics, sys
path, servers, keys, size, rounds = sys.argv[1], sys.argv[2].split(), *sys.argv[3:]
ops, cpu, rows = {}, {}, []
for line in open(path):
    server, *load, pipeline, test, o, c = line.split()
    row = (" ".join(load), int(pipeline), test)
    if row not in rows:
        rows.append(row)
    ops.setdefault((row, server), []).append(float(o))
    cpu.setdefault((row, server), []).append(float(c))
med = lambda d, row, s: statistics.median(d[(row, s)]) if (row, s) in d else None
print(f"standalone, {keys} keys written first, {size}-byte values, 50 clients, medians of {rounds} rounds")
print("ops/s, slotcache's ratio to each peer, then server CPU µs per request and its ratio")
peers = [s for s in ("redis", "valkey", "slotcache-old") if s in servers]
short = {"slotcache": "sc", "slotcache-old": "sc-old", "redis": "redis", "valkey": "valkey"}
head = f"{'load':<14} {'-P':>3} {'test':<5}" + "".join(f"{short[s]:>10}" for s in servers)
head += "".join(f"{'/' + short[p]:>8}" for p in peers) + " |" + "".join(f"{short[s]:>8}" for s in servers)
head += "".join(f"{'/' + short[p]:>8}" for p in peers)
print(head)
for row in rows:
    line = f"{row[0]:<14} {row[1]:>3} {row[2]:<5}"
    line += "".join(f"{med(ops, row, s) or 0:>10.0f}" for s in servers)
    sc = med(ops, row, "slotcache")
    line += "".join(f"{sc / med(ops, row, p):>8.2f}" for p in peers) + " |"
    line += "".join(f"{med(cpu, row, s) or 0:>8.2f}" for s in servers)
    scc = med(cpu, row, "slotcache")
    line += "".join(f"{scc / med(cpu, row, p):>8.2f}" for p in peers)
    print(line)
PY
