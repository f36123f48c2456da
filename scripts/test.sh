#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, unit tests, and the end-to-end suites that
# start real slotcache-server and redis-server processes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -q -- -D warnings
cargo build --release --workspace --bins
cargo test --release --workspace
