#!/usr/bin/env bash
# What TLS and ACL checks cost, slotcache-server side by side with redis-server 7 in one run:
# each server in three ways, on a million keys with $SIZE-byte values (redis-benchmark -r):
#   plain: the default user (no rules to check), plain TCP;
#   acl:   a user with key and channel patterns and a category rule (`~key:* &* +@all
#          -@dangerous`), logged in with --user, so every request is checked;
#   tls:   the default user over TLS (client certificates required, as both default to).
# Rounds alternate the servers; the script prints, per test and way, the median ops/s and the
# server's CPU microseconds per request (user + system, from /proc), each way's cost over
# plain, and slotcache over Redis.
#   benches/security-cost.sh
#   ROUNDS=5 TESTS=get P=1 benches/security-cost.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${N:-500000}
KEYS=${KEYS:-1000000}
SIZE=${SIZE:-100}
P=${P:-16}
CLIENTS=${CLIENTS:-50}
ROUNDS=${ROUNDS:-3}
TESTS=${TESTS:-set,get}
command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl >/dev/null; }
source benches/ports.sh
ensure_redis
build_server
TMP=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
hz=$(getconf CLK_TCK)

# A throwaway CA, a server certificate for 127.0.0.1 and a client certificate (X.509 v3).
(
  cd "$TMP"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=bench-ca
  for who in server client; do
    openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr -subj /CN=$who
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >$who.ext
    openssl x509 -req -in $who.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $who.crt \
      -days 2 -extfile $who.ext
  done
) >/dev/null 2>&1
tls_server=(--tls-cert-file "$TMP/server.crt" --tls-key-file "$TMP/server.key"
  --tls-ca-cert-file "$TMP/ca.crt")
tls_client=(--tls --cacert "$TMP/ca.crt" --cert "$TMP/client.crt" --key "$TMP/client.key")
ACL_USER=(bench on '>bench-pass' '~key:*' '&*' '+@all' '-@dangerous')

start() {
  local name=$1 port=$2 tls_port=$3
  case $name in
    slotcache) "$BIN/slotcache-server" --port "$port" --tls-port "$tls_port" "${tls_server[@]}" \
      >"$TMP/$name.log" 2>&1 & ;;
    redis) redis-server --port "$port" --tls-port "$tls_port" "${tls_server[@]}" --save '' \
      --appendonly no --dir "$TMP" >"$TMP/$name.log" 2>&1 & ;;
  esac
  PIDS+=($!)
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$port" ACL SETUSER "${ACL_USER[@]}" >/dev/null
}

SC_PORT=$(free_port) SC_TLS=$(free_port) RD_PORT=$(free_port) RD_TLS=$(free_port)
start slotcache "$SC_PORT" "$SC_TLS"; SC_PID=${PIDS[-1]}
start redis "$RD_PORT" "$RD_TLS"; RD_PID=${PIDS[-1]}

# One run: "<server> <way> <test> <ops/s> <CPU us/request>".
run() {
  local server=$1 way=$2 test=$3 port pid args=() before after ops
  case $server in slotcache) port=$SC_PORT pid=$SC_PID ;; redis) port=$RD_PORT pid=$RD_PID ;; esac
  case $way in
    acl) args=(--user bench -a bench-pass) ;;
    tls) args=("${tls_client[@]}")
      case $server in slotcache) port=$SC_TLS ;; redis) port=$RD_TLS ;; esac ;;
  esac
  before=$(ticks "$pid")
  ops=$(redis-benchmark -h 127.0.0.1 -p "$port" "${args[@]}" -t "$test" -c "$CLIENTS" -n "$N" \
    -P "$P" -r "$KEYS" -d "$SIZE" --csv 2>/dev/null | tr -d '"' | awk -F, 'NR>1 {print $2}')
  after=$(ticks "$pid")
  python3 -c "print('$server $way $test $ops %.3f' % (($after - $before) * 1e6 / $hz / $N))"
}
for round in $(seq "$ROUNDS"); do
  for test in ${TESTS//,/ }; do
    for way in plain acl tls; do
      for server in slotcache redis; do run $server $way "$test" >>"$TMP/results"; done
    done
  done
  echo "round $round of $ROUNDS done" >&2
done
python3 - "$TMP/results" "$KEYS" "$SIZE" "$P" "$CLIENTS" <<'PY'
import sys, statistics
rows = [line.split() for line in open(sys.argv[1])]
keys, size, pipeline, clients = sys.argv[2:6]
print(f"one server each; {keys} keys, {size}-byte values, {clients} clients, -P {pipeline}; medians")
med = lambda server, way, test, col: statistics.median(
    float(r[col]) for r in rows if r[:3] == [server, way, test])
print(f"{'test':5} {'way':6} {'slotcache ops/s':>15} {'redis ops/s':>12} {'sc/redis':>8} "
      f"{'sc CPU us':>9} {'redis CPU us':>12} {'sc cost':>8} {'redis cost':>10}")
for test in dict.fromkeys(r[2] for r in rows):
    for way in ("plain", "acl", "tls"):
        sc, rd = med("slotcache", way, test, 3), med("redis", way, test, 3)
        scu, rdu = med("slotcache", way, test, 4), med("redis", way, test, 4)
        # A way's cost: its CPU per request over plain's, on the same server.
        scc = scu / med("slotcache", "plain", test, 4)
        rdc = rdu / med("redis", "plain", test, 4)
        print(f"{test:5} {way:6} {sc:15.0f} {rd:12.0f} {sc/rd:8.2f} {scu:9.3f} {rdu:12.3f} "
              f"{scc:8.2f} {rdc:10.2f}")
PY
