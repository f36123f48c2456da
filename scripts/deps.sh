#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for building and testing slotcache (idempotent).
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v etcd >/dev/null || need+=(etcd-server)
command -v protoc >/dev/null || need+=(protobuf-compiler)
# promtool, which checks the /metrics endpoints in the tests.
command -v promtool >/dev/null || need+=(prometheus)
# docker-compose, for the test of conf/docker's deployment across hosts.
command -v docker-compose >/dev/null || need+=(docker-compose)
# Chromium, headless, for the dashboard's browser test.
command -v chromium >/dev/null || need+=(chromium)
command -v cc >/dev/null || need+=(gcc)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# redis-py, for the end-to-end tests of Python clients, in a venv of its own.
pyenv="$(dirname "$0")/../target/pyenv"
# websocket-client drives headless Chromium over the DevTools protocol (the dashboard test).
if ! "$pyenv/bin/python" -c 'import redis, websocket' 2>/dev/null; then
  python3 -m venv "$pyenv"
  "$pyenv/bin/pip" install -q "redis==8.1.0" "websocket-client==1.9.2"
fi
command -v cargo >/dev/null || { echo "cargo (Rust toolchain) is required" >&2; exit 1; }
