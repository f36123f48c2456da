#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, unit tests, and the end-to-end suites that
# start real slotcache-server and redis-server processes. Ends with a total line.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -q -- -D warnings
cargo build --release --workspace --bins
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --release --workspace 2>&1 | tee "$log" || status=$?
# Bounded runs of the fuzz targets (FUZZ_SECONDS each, a fixed seed so a commit fuzzes alike
# everywhere); a crash fails the run.
FUZZ_SEED=${FUZZ_SEED:-1} scripts/fuzz.sh || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
