#!/usr/bin/env bash
# Runs each cargo-fuzz target (cluster/protocol/fuzz: the request parser, the proxy's reply
# framer, the replication wire decoder, the ACL rule parser, the glob matcher) for
# FUZZ_SECONDS seconds (default 10) and prints, per target, the executions and the corpus's
# coverage. A crash fails the run and leaves its input under cluster/protocol/fuzz/artifacts/.
# FUZZ_SEED fixes libFuzzer's seed (the test command sets it, so a CI run repeats what the
# same commit did elsewhere); unset, each run explores afresh.
#
# The machine's one toolchain is stable: RUSTC_BOOTSTRAP lets cargo-fuzz's coverage flags
# through. No sanitizer (the targets are safe Rust); debug assertions on, so an arithmetic
# overflow panics instead of wrapping.
set -euo pipefail
cd "$(dirname "$0")/../cluster/protocol/fuzz"
seconds=${FUZZ_SECONDS:-10}
seed=()
[ -n "${FUZZ_SEED:-}" ] && seed=(-seed="$FUZZ_SEED")
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
export RUSTC_BOOTSTRAP=1
flags=(--release --debug-assertions --sanitizer none)
cargo fuzz build "${flags[@]}"
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  log=$(mktemp)
  # -malloc_limit_mb: no single allocation on an input's say-so; -timeout: a hang is a bug.
  if ! cargo fuzz run "${flags[@]}" "$target" -- -max_total_time="$seconds" \
      -malloc_limit_mb=256 -rss_limit_mb=2048 -timeout=10 "${seed[@]}" >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $target failed"
    exit 1
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1 | grep -o '[0-9]*')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  echo "fuzz: $target ${seconds}s, ${runs:-0} executions, coverage ${cov:-0} edges, no crash"
  rm -f "$log"
done
