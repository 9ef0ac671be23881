#!/bin/bash
# HTTP/2 to origins, side by side with haproxy: h2c in (h2load, 10 connections
# x 10 streams), HTTP/2 to an nginx h2c origin over one connection; prints
# requests per CPU-second of each proxy, pinned to core 0 (load and origin on
# core 1). Needs nginx, haproxy, h2load (nghttp2-client), a release build.
#   scripts/h2-upstream-bench.sh
set -u
BIN=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/proxy}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
cd "$DIR"
mkdir -p t
cat > origin.conf <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $DIR/origin.pid;
error_log $DIR/origin-error.log error;
events { worker_connections 8000; multi_accept on; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  http2_max_concurrent_streams 1000;
  client_body_temp_path $DIR/t; proxy_temp_path $DIR/t; fastcgi_temp_path $DIR/t; uwsgi_temp_path $DIR/t; scgi_temp_path $DIR/t;
  server {
    listen 127.0.0.1:18081 http2 backlog=4096;
    location = / { default_type text/plain; return 200 "Hi, there!\n"; }
  }
}
CONF
cat > proxy.js <<'JS'
pipy()
  .listen(18080)
  .demuxHTTP().to(
    $=>$.muxHTTP(() => 'origin', { version: 2 }).to(
      $=>$.connect('127.0.0.1:18081')
    )
  )
JS
cat > haproxy.cfg <<'CFG'
global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
frontend fe
  bind 127.0.0.1:18080 proto h2 backlog 4096
  default_backend be
backend be
  http-reuse always
  server origin 127.0.0.1:18081 proto h2
CFG
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
one() {
  local label=$1; shift
  taskset -c 1 nginx -c "$DIR/origin.conf" -p "$DIR" & local o=$!
  sleep 0.5
  taskset -c 0 "$@" > "$DIR/$label.log" 2>&1 & local p=$!
  sleep 1
  curl -s --http2-prior-knowledge http://127.0.0.1:18080/ > /dev/null || echo "$label: no answer"
  taskset -c 1 h2load -c 10 -m 10 -D 2 http://127.0.0.1:18080/ > /dev/null 2>&1
  local t0=$(ticks $p)
  local out=$(taskset -c 1 h2load -c 10 -m 10 -D 10 http://127.0.0.1:18080/ 2>&1)
  local t1=$(ticks $p)
  local done=$(echo "$out" | grep -oP '\d+(?= succeeded)' | head -1)
  local cpu=$(( t1 - t0 ))
  local conns=$(ss -tn state established '( dport = :18081 )' | tail -n +2 | wc -l)
  echo -e "$label\t$done req\t$cpu ticks\t$(( done * 100 / (cpu > 0 ? cpu : 1) )) req/CPU-s\tupstream conns $conns"
  kill $p; wait $p 2>/dev/null; kill $o; wait $o 2>/dev/null
}
one proxy "$BIN" "$DIR/proxy.js"
one haproxy haproxy -f "$DIR/haproxy.cfg"
