#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the steady figure on a noisy machine.
#
# For each scenario the proxy runs under callgrind twice, once for FEW and once for
# MANY requests (CONNS keep-alive clients, scripts/instructions.py), and the report is
# (instructions of the long run - instructions of the short run) / (MANY - FEW), so
# start-up, script loading and shutdown cancel out. The origin is nginx on its own,
# outside callgrind. With NGINX=1 nginx as the http-proxy is counted the same way.
#
#   scripts/instructions.sh                          # hello http-proxy routed tcp-proxy
#   SCENARIOS=http-proxy PROXY=/tmp/old/proxy scripts/instructions.sh
#
# Needs: valgrind, nginx, python3.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SCENARIOS=${SCENARIOS:-"hello http-proxy routed tcp-proxy"}
FEW=${FEW:-2000}
MANY=${MANY:-6000}
CONNS=${CONNS:-50}
PORT=${PORT:-18580}
ORIGIN=${ORIGIN:-18581}
PROXY=${PROXY:-$ROOT/target/release/proxy}

for t in valgrind nginx python3; do
  command -v "$t" >/dev/null || { echo "instructions.sh: missing $t (apt-get install valgrind nginx python3)" >&2; exit 2; }
done
if [ -z "${NO_BUILD:-}" ] && [ "$PROXY" = "$ROOT/target/release/proxy" ]; then (cd "$ROOT" && cargo build --release -q); fi

RUN=$(mktemp -d /tmp/proxy-instructions.XXXXXX)
mkdir -p "$RUN/tmp" "$RUN/www"; chmod 755 "$RUN" "$RUN/www"
head -c 65536 /dev/zero | tr '\0' 'x' > "$RUN/www/64k.bin"
ORIGIN_PID=""; SERVER=""
stop() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() { stop "$SERVER"; stop "$ORIGIN_PID"; rm -rf "$RUN"; }
trap cleanup EXIT

wait_port() {  # wait up to 60 s (callgrind starts slowly) for a listener on $1
  local i
  for i in $(seq 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "instructions.sh: nothing listens on $1" >&2; return 1
}
fill() { sed -e "s|__PORT__|$PORT|g" -e "s|__ORIGIN__|$ORIGIN|g" -e "s|__RUN__|$RUN|g" "$1" > "$2"; }

fill "$HERE/bench/nginx-origin.conf" "$RUN/origin.conf"
nginx -c "$RUN/origin.conf" -p "$RUN" >/dev/null 2>&1 &
ORIGIN_PID=$!
wait_port "$ORIGIN"

count() {  # count SERVER-COMMAND... : total instructions for $REQS requests
  local out="$RUN/callgrind.out"
  rm -f "$out"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"$RUN/server.log" 2>&1 &
  SERVER=$!
  wait_port "$PORT"
  python3 "$HERE/instructions.py" "$PORT" "$REQS" "$CONNS"
  stop "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
  awk '/^summary:/ { print $2 }' "$out"
}

per_request() {  # per_request SERVER-COMMAND...
  local few many
  REQS=$FEW; few=$(count "$@")
  REQS=$MANY; many=$(count "$@")
  echo $(( (many - few) / (MANY - FEW) ))
}

printf '%-12s %s\n' scenario "instructions per request ($CONNS clients, $MANY - $FEW requests)"
for s in $SCENARIOS; do
  fill "$HERE/bench/$s.js" "$RUN/$s.js"
  printf '%-12s %s\n' "$s" "$(per_request "$PROXY" "$RUN/$s.js")"
done
if [ -n "${NGINX:-}" ]; then
  fill "$HERE/bench/nginx-http-proxy.conf" "$RUN/nginx-proxy.conf"
  sed -i 's/^master_process on;/master_process off;/' "$RUN/nginx-proxy.conf"  # one process to count
  printf '%-12s %s\n' "nginx proxy" "$(per_request nginx -c "$RUN/nginx-proxy.conf" -p "$RUN")"
fi
