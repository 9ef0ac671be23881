#!/usr/bin/env bash
# Side-by-side loopback benchmark of proxy, nginx and haproxy.
#
# Each run starts one server pinned to PROXY_CPU (kept awake by a lowest-priority
# spinner that yields to real work), warms it up, then drives it with wrk pinned to
# LOAD_CPU and measures: requests/s, p50/p99 latency, the server's CPU use (its
# own utime+stime from /proc), requests per CPU-second (the steadier per-core
# figure) and peak RSS (VmHWM). Every scenario runs REPEAT times; the table shows
# medians and each figure as a ratio to the best peer. Only 127.0.0.1 is used;
# every process started is stopped by PID.
#
# Scenarios: hello, hello-js (proxy answers itself); routed (a script routes and
# balances each request, proxy only, compared with http-proxy); hello-2t and
# http-proxy-2t (two workers: proxy --threads 2 and nginx worker_processes 2,
# unpinned, wrk -t2 unpinned too); http-proxy, http-proxy-64k,
# http-proxy-1k-conns (1000 clients), tcp-proxy (in front of an nginx origin on
# LOAD_CPU; "direct" is wrk straight to the origin, the ceiling). For 1000
# connections the table also gives memory per connection pair:
# (peak RSS - RSS before load) / 1000. gzip-64k: the reverse proxy gzipping
# a 64 KiB text answer (compressHTTP level 2 against nginx gzip on, level 1:
# the same or a smaller output, see bench/gzip-64k.js).
# ws-echo: WebSocket messages through the reverse proxy (the upgrade becomes a
# tunnel) to an echo service run by proxy on LOAD_CPU, driven by
# bench/ws-load.py (50 connections, batches of 16 32-byte messages); its
# "req/s" are messages per second.
#
#   scripts/bench.sh                   # build release, run everything
#   SCENARIOS=hello REPEAT=1 DURATION=5 scripts/bench.sh
#   BASELINE=/tmp/old/proxy scripts/bench.sh   # also an older build, as "baseline"
#
# With BASELINE, every scenario proxy runs in is also run with that binary,
# interleaved run by run, so that a change is compared within one run.
#
# Needs: wrk, nginx, haproxy, curl, taskset, chrt (Debian: wrk nginx haproxy curl util-linux).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SCENARIOS=${SCENARIOS:-"hello hello-js http-proxy routed tcp-proxy http-proxy-64k http-proxy-1k-conns gzip-64k ws-echo"}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-50}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PORT=${PORT:-18480}
ORIGIN=${ORIGIN:-18481}
BIG_CONNS=${BIG_CONNS:-1000}
PROXY=${PROXY:-$ROOT/target/release/proxy}

for t in wrk nginx haproxy curl taskset chrt python3; do
  command -v "$t" >/dev/null || { echo "bench.sh: missing $t (apt-get install wrk nginx haproxy curl util-linux python3)" >&2; exit 2; }
done
if [ -z "${NO_BUILD:-}" ]; then (cd "$ROOT" && cargo build --release -q); fi
ulimit -n 16384 2>/dev/null || true

RUN=$(mktemp -d /tmp/proxy-bench.XXXXXX)
mkdir -p "$RUN/tmp" "$RUN/www"; chmod 755 "$RUN" "$RUN/www"
head -c 65536 /dev/zero | tr '\0' 'x' > "$RUN/www/64k.bin"; chmod 644 "$RUN/www/64k.bin"
# 64 KiB of text that compresses as prose does (about 3:1), the same every run.
python3 -c '
import random
r = random.Random(1); words = "the of and to in is that for it as with was on be by at this from are or an have not".split() + ["w%d" % i for i in range(400)]
t = " ".join(r.choice(words) for _ in range(20000)).encode()[:65536]
open("'"$RUN"'/www/64k.txt", "wb").write(t)'
chmod 644 "$RUN/www/64k.txt"
RESULTS="$RUN/results.tsv"
HZ=$(getconf CLK_TCK)
SERVER=""; SPINNER=""; ORIGIN_PID=""

stop() {  # stop a PID we started: TERM, then KILL after 5 s
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() { stop "$SERVER"; SERVER=""; stop "$ORIGIN_PID"; ORIGIN_PID=""; stop "$SPINNER"; SPINNER=""; }
trap 'cleanup; rm -rf "$RUN"' EXIT
trap 'exit 130' INT TERM

tree() { local p; for p in "$@"; do echo "$p"; tree $(ps -o pid= --ppid "$p" 2>/dev/null); done; }
ticks() { local s=0 p t; for p in $(tree "$1"); do t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12+$13}'); s=$((s + ${t:-0})); done; echo $s; }
kib() { local s=0 p v; for p in $(tree "$1"); do v=$(awk -v f="$2:" '$1==f{print $2}' "/proc/$p/status" 2>/dev/null); s=$((s + ${v:-0})); done; echo $s; }
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print "NA" }'; }

render() { sed -e "s#__RUN__#$RUN#g" -e "s/__PORT__/$PORT/g" -e "s/__ORIGIN__/$ORIGIN/g" "$1" > "$2"; }

wait_http() {  # wait_http PORT PATH PID: until it answers 200
  local i
  for i in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1$2")" = 200 ] && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

start_origin() {
  if [ "${ORIGIN_KIND:-nginx}" = ws ]; then
    render "$HERE/bench/ws-origin.js" "$RUN/ws-origin.js"
    taskset -c "$1" "$PROXY" --no-graph --no-reload "$RUN/ws-origin.js" > "$RUN/origin.log" 2>&1 &
    ORIGIN_PID=$!
    wait_http "$ORIGIN" / "$ORIGIN_PID" || { echo "bench.sh: ws origin did not start" >&2; cat "$RUN/origin.log" >&2; return 1; }
    return 0
  fi
  render "$HERE/bench/nginx-origin.conf" "$RUN/origin.conf"
  taskset -c "$1" nginx -c "$RUN/origin.conf" -e "$RUN/origin-error.log" > "$RUN/origin.log" 2>&1 &
  ORIGIN_PID=$!
  wait_http "$ORIGIN" / "$ORIGIN_PID" || { echo "bench.sh: origin did not start" >&2; cat "$RUN/origin.log" >&2; return 1; }
}

start() {  # start SERVER CONFIG [WORKERS]: sets SERVER to its PID, waits until it answers
  local server=$1 sc=$2 workers=${3:-1} pin=(taskset -c "$PROXY_CPU")
  # Two workers run unpinned: the kernel spreads them (and the load) over the CPUs.
  [ "$workers" = 1 ] || pin=()
  case "$server" in
    proxy|baseline)
             local bin=$PROXY; [ "$server" = baseline ] && bin=$BASELINE
             render "$HERE/bench/$sc.js" "$RUN/$sc.js"
             "${pin[@]}" "$bin" --no-graph --no-reload --threads "$workers" "$RUN/$sc.js" > "$RUN/server.log" 2>&1 & ;;
    nginx)   render "$HERE/bench/nginx-$sc.conf" "$RUN/nginx.conf"
             sed -i "s/^worker_processes 1;/worker_processes $workers;/" "$RUN/nginx.conf"
             "${pin[@]}" nginx -c "$RUN/nginx.conf" -e "$RUN/nginx-error.log" > "$RUN/server.log" 2>&1 & ;;
    haproxy) render "$HERE/bench/haproxy-$sc.cfg" "$RUN/haproxy.cfg"
             "${pin[@]}" haproxy -db -f "$RUN/haproxy.cfg" > "$RUN/server.log" 2>&1 & ;;
  esac
  SERVER=$!
  wait_http "$PORT" / "$SERVER" && return 0
  echo "bench.sh: $server did not start for $sc:" >&2; cat "$RUN/server.log" >&2; return 1
}

measure() {  # measure SERVER SCENARIO RUN#
  local server=$1 sc=$2 n=$3 out="$RUN/wrk.txt"
  local config=$sc path=/ conns=$CONNS port=$PORT target workers=1 load=(taskset -c "$LOAD_CPU") threads=1
  local headers=() ws=""
  ORIGIN_KIND=nginx
  case "$sc" in
    http-proxy-64k) config=http-proxy; path=/64k.bin;;
    gzip-64k) path=/64k.txt; headers=(-H 'Accept-Encoding: gzip');;
    ws-echo) ws=1; ORIGIN_KIND=ws;;
    http-proxy-1k-conns) config=http-proxy; conns=$BIG_CONNS;;
    *-2t) config=${sc%-2t}; workers=2; load=(); threads=2;;
  esac
  if [ "$workers" = 1 ]; then
    chrt -i 0 taskset -c "$PROXY_CPU" bash -c 'while :; do :; done' & SPINNER=$!
  fi
  case "$config" in hello|hello-js) ;; *)
    if [ "$workers" = 2 ]; then start_origin 0-1
    elif [ "$server" = direct ]; then start_origin "$PROXY_CPU"; else start_origin "$LOAD_CPU"; fi || { cleanup; return 1; }
  esac
  if [ "$server" = direct ]; then
    target=$ORIGIN_PID; port=$ORIGIN
  else
    start "$server" "$config" "$workers" || { cleanup; return 1; }
    target=$SERVER
  fi
  wait_http "$port" "$path" "$target" || { echo "bench.sh: $server does not answer $path" >&2; cleanup; return 1; }
  local idle; idle=$(kib "$target" VmRSS)
  if [ -n "$ws" ]; then
    "${load[@]}" python3 "$HERE/bench/ws-load.py" "$port" "$conns" "$WARMUP" > /dev/null 2>&1
  else
    "${load[@]}" wrk -t"$threads" -c"$conns" -d"${WARMUP}s" "${headers[@]}" "http://127.0.0.1:$port$path" > /dev/null 2>&1
  fi
  local c0 c1 t0 t1
  c0=$(ticks "$target"); t0=$(date +%s.%N)
  if [ -n "$ws" ]; then
    "${load[@]}" python3 "$HERE/bench/ws-load.py" "$port" "$conns" "$DURATION" > "$out" 2>&1
  else
    "${load[@]}" wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency "${headers[@]}" "http://127.0.0.1:$port$path" > "$out" 2>&1
  fi
  c1=$(ticks "$target"); t1=$(date +%s.%N)
  local hwm; hwm=$(kib "$target" VmHWM)
  cleanup
  local rps p50 p99 cpu errs
  rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
  p50=$(to_ms "$(awk '/Latency Distribution/{f=1;next} f&&$1=="50%"{print $2; exit}' "$out")")
  p99=$(to_ms "$(awk '/Latency Distribution/{f=1;next} f&&$1=="99%"{print $2; exit}' "$out")")
  errs=$(awk '/Socket errors/{gsub(/,/,""); s+=$4+$6+$8+$10} /Non-2xx/{s+=$NF} END{print s+0}' "$out")
  cpu=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$HZ" 'BEGIN{printf "%.3f", (b-a)/hz/(t1-t0)}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$server" "$n" "$rps" "$p50" "$p99" "$cpu" "$hwm" "$idle" "$conns" "$errs" >> "$RESULTS"
  printf '  %-20s %-8s run %s: %8.0f req/s, cpu %.2f, p99 %s ms, errors %s\n' "$sc" "$server" "$n" "$rps" "$cpu" "$p99" "$errs" >&2
}

echo "# $(date -u +%FT%TZ) $(nproc) cpus, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
echo "# server on cpu $PROXY_CPU, wrk -t1 -c$CONNS on cpu $LOAD_CPU, ${DURATION}s after ${WARMUP}s warm-up, $REPEAT run(s) each"
echo "# $(nginx -v 2>&1 | sed 's/.*: //'), $(haproxy -v 2>&1 | head -1 | awk '{print $1, $2, $3}'), proxy $("$PROXY" --version | awk '{print $2}') ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
for sc in $SCENARIOS; do
  case "$sc" in
    hello) servers="proxy nginx haproxy";;
    hello-js|routed) servers="proxy";;
    hello-2t|http-proxy-2t|gzip-64k|ws-echo) servers="proxy nginx";;
    *) servers="proxy nginx haproxy direct";;
  esac
  [ -n "${BASELINE:-}" ] && servers="baseline $servers"
  for n in $(seq "$REPEAT"); do
    for server in $servers; do measure "$server" "$sc" "$n"; done
  done
done

python3 - "$RESULTS" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter="\t"))
med = {}
for sc, server, _, rps, p50, p99, cpu, hwm, idle, conns, errs in rows:
    d = med.setdefault((sc, server), {"rps": [], "p50": [], "p99": [], "cpu": [], "rpc": [], "hwm": [], "pair": [], "errs": []})
    d["rps"].append(float(rps)); d["p50"].append(float(p50)); d["p99"].append(float(p99))
    d["cpu"].append(float(cpu)); d["rpc"].append(float(rps) / max(float(cpu), 1e-9)); d["hwm"].append(float(hwm) / 1024)
    d["pair"].append((float(hwm) - float(idle)) / max(int(conns), 1)); d["errs"].append(float(errs))
m = {k: {f: statistics.median(v) for f, v in d.items()} for k, d in med.items()}
print("| scenario | server | req/s | p50 ms | p99 ms | CPU | req per CPU-s | vs best peer | peak RSS MiB | KiB per conn pair | errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for sc in dict.fromkeys(k[0] for k in m):
    peers = [m[k]["rpc"] for k in m if k[0] == sc and k[1] in ("nginx", "haproxy")]
    own = "http-proxy" if sc == "routed" else "hello"
    base = max(peers) if peers else (m.get((own, "proxy"), {}).get("rpc") if sc != own else None)
    label = "best peer" if peers else f"proxy {own}"
    for (s, server), v in m.items():
        if s != sc:
            continue
        ratio = f'{v["rpc"] / base:.2f}× {label}' if base and server != "direct" else "(ceiling)" if server == "direct" else "–"
        pair = f'{v["pair"]:.1f}' if sc.endswith("1k-conns") else "–"
        print(f'| {sc} | {server} | {v["rps"]:.0f} | {v["p50"]:.3f} | {v["p99"]:.3f} | {v["cpu"]:.2f} | {v["rpc"]:.0f} | {ratio} | {v["hwm"]:.1f} | {pair} | {v["errs"]:.0f} |')
ab = [(sc, m[(sc, "proxy")]["rpc"] / m[(sc, "baseline")]["rpc"]) for sc in dict.fromkeys(k[0] for k in m)
      if (sc, "baseline") in m and (sc, "proxy") in m]
if ab:
    print()
    print("proxy against the baseline build, req per CPU-s: " + ", ".join(f"{sc} {r:.2f}×" for sc, r in ab))
PY
