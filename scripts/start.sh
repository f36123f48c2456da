#!/usr/bin/env bash
# Builds and starts a standalone slotcache-server in the foreground (Ctrl-C stops it).
#   scripts/start.sh                 # port 7000 (6379 is often taken by a packaged Redis)
#   scripts/start.sh --port 7100     # any slotcache-server flags
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release -q --bin slotcache-server
args=("$@")
[[ " ${args[*]} " == *" --port "* ]] || args+=(--port 7000)
echo "slotcache-server starting; connect with: redis-cli -p ${args[-1]}"
exec ./target/release/slotcache-server "${args[@]}"
