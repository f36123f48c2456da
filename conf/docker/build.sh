#!/usr/bin/env bash
# Builds the slotcache image (TAG, default slotcache:local) from release binaries (BIN,
# default target/release, built if missing) and Debian's etcd: the binaries, stripped of debug
# information, and every shared library `ldd` lists for them are staged into a root filesystem
# that the Dockerfile copies onto an empty base.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
TAG=${TAG:-slotcache:local}
BIN=${BIN:-target/release}
[ -x "$BIN/slotcache-server" ] || cargo build --release -q --bins
command -v etcd >/dev/null || { apt-get update -qq && apt-get install -y -qq etcd-server >/dev/null; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/rootfs
mkdir -p "$root/usr/local/bin" "$root/tmp" "$root/data"
chmod 1777 "$root/tmp"
for binary in slotcache slotcache-server slotcache-proxy slotcache-controller; do
  strip --strip-debug -o "$root/usr/local/bin/$binary" "$BIN/$binary"
done
cp "$(command -v etcd)" "$root/usr/local/bin/etcd"
for binary in "$root"/usr/local/bin/*; do
  for lib in $(ldd "$binary" | grep -o '/[^ )]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
done
cp conf/docker/Dockerfile "$stage/Dockerfile"
docker build -q -t "$TAG" "$stage" >/dev/null
echo "$TAG"
