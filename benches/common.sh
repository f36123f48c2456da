# Sourced by the side-by-side scripts: builds slotcache-server and starts it and redis-server
# on free ports in a temp dir ($SC_PORT/$SC_PID, $RD_PORT/$RD_PID, $TMP), stopping both on exit.
# BIN=<dir> runs that directory's slotcache-server instead (another build, to compare two).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benches/ports.sh
ensure_redis
build_server
SC_PORT=$(free_port); RD_PORT=$(free_port)
TMP=$(mktemp -d)
"$BIN/slotcache-server" --port "$SC_PORT" >"$TMP/slotcache.log" 2>&1 & SC_PID=$!
redis-server --port "$RD_PORT" --save '' --appendonly no --dir "$TMP" >"$TMP/redis.log" 2>&1 & RD_PID=$!
trap 'kill $SC_PID $RD_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
for port in $SC_PORT $RD_PORT; do
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
