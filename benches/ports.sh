# Sourced by the bench scripts: the tools they need, free loopback ports, waiting for a server
# to answer, and the CPU time processes have spent.

# Installs redis-server and redis-benchmark when they are missing.
ensure_redis() {
  command -v redis-benchmark >/dev/null && command -v redis-server >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null; }
}

# Builds slotcache-server into target/release unless BIN names another build's directory.
build_server() {
  if [ -z "${BIN:-}" ]; then
    cargo build --release -q --bin slotcache-server
    BIN=target/release
  fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A base port with the 50 ports from it free: `slotcache up` takes base (proxies) to base+49
# (servers from base+10, etcd at base+30, admin endpoints from base+20, base+32 and base+40).
free_block() {
  python3 - <<'PY'
import random, socket
def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
while True:
    base = random.randrange(20000, 60000, 50)
    if all(free(p) for p in range(base, base + 50)):
        print(base)
        break
PY
}

# Waits until the server on port $1 answers SET; otherwise prints log $2 and fails.
wait_serving() {
  for _ in $(seq 300); do
    [ "$(redis-cli -p "$1" set bench:ready 1 2>/dev/null)" = OK ] && return 0
    sleep 0.1
  done
  echo "nothing serving on $1" >&2
  cat "$2" >&2
  return 1
}

ticks() { # user + system clock ticks the given processes have spent (from /proc)
  local total=0 fields pid
  for pid in "$@"; do
    read -r -a fields <<<"$(cut -d' ' -f14,15 "/proc/$pid/stat")"
    total=$((total + fields[0] + fields[1]))
  done
  echo "$total"
}

# Prints, from a file of `<old|new> <test> <ops/s>` lines, each test's median ops/s of both
# builds and their new/old ratio (the A/B scripts).
ab_medians() {
  python3 - "$1" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    build, test, rps = line.split()
    runs.setdefault((test, build), []).append(float(rps))
print(f"{'test':<8} {'old ops/s':>12} {'new ops/s':>12} {'new/old':>8}   (medians)")
for test in sorted({t for t, _ in runs}):
    old, new = statistics.median(runs[(test, "old")]), statistics.median(runs[(test, "new")])
    print(f"{test:<8} {old:>12.0f} {new:>12.0f} {new / old:>8.3f}")
PY
}

# A scratch directory ($TMP) and a list of started processes ($pids), both cleaned up on exit.
scratch() {
  TMP=$(mktemp -d)
  pids=()
  trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT
}
