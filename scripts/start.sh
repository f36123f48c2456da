#!/usr/bin/env bash
# Installs what is missing, builds, and runs a whole local cluster in the foreground with
# `slotcache up`: its own etcd, 3 shard servers, 2 controllers (Ctrl-C stops everything).
#   scripts/start.sh                      # servers on 7010.., etcd on 7030
#   scripts/start.sh --base-port 7100     # any `slotcache up` flags
#   scripts/start.sh --standalone         # one standalone slotcache-server on port 7000
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release -q --bins
if [[ "${1:-}" == "--standalone" ]]; then
  shift
  echo "slotcache-server starting; connect with: redis-cli -p 7000"
  exec ./target/release/slotcache-server --port 7000 "$@"
fi
exec ./target/release/slotcache up "$@"
