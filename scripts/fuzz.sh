#!/usr/bin/env bash
# Runs the coverage-guided fuzz targets of fuzz/ (cargo fuzz, libFuzzer, with
# AddressSanitizer) for a given time each, and says whether any input crashed.
#
#   scripts/fuzz.sh                      # every target for 60 s, one after another
#   scripts/fuzz.sh 1800                 # every target for 30 minutes
#   JOBS=2 scripts/fuzz.sh 1800          # two targets at a time
#   scripts/fuzz.sh 300 demux_http       # one target
#
# Corpora grow in fuzz/corpus/<target> (seeded from fuzz/seeds/<target>), crashes
# land in fuzz/artifacts/<target>; each run's libFuzzer log is fuzz/logs/<target>.log.
# Needs: the nightly toolchain (rustup), cargo-fuzz (cargo install cargo-fuzz), and
# preferably clang (apt-get install clang).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE/../fuzz"
SECONDS_EACH=${1:-60}
shift || true
TARGETS=${*:-"http_request_decoder http_response_decoder demux_http serve_http json_decode tls_client_hello tls_session h2_guard mux_http2 decompress proxy_protocol socks websocket yaml_decode resp jwt mqtt multipart thrift protobuf dubbo xml_decode"}
JOBS=${JOBS:-1}

command -v cargo-fuzz >/dev/null || { echo "fuzz.sh: cargo-fuzz is missing (cargo install cargo-fuzz)" >&2; exit 2; }
# With clang, QuickJS's C code is instrumented too (fuzz/cc.sh), so json_decode
# is guided inside the JSON parser; without it only the Rust code is.
if command -v clang >/dev/null; then
  export CC="$PWD/cc.sh"
else
  echo "fuzz.sh: no clang (apt-get install clang): QuickJS's C code will not guide the fuzzer" >&2
fi
cargo +nightly fuzz build >/dev/null
mkdir -p logs

run() {
  local t=$1
  mkdir -p "corpus/$t"
  if cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      >"logs/$t.log" 2>&1; then
    echo "$t: $(grep -E '^#[0-9]+.*DONE' "logs/$t.log" | tail -1 || true) -- no crash in ${SECONDS_EACH}s"
  else
    echo "$t: CRASH (see fuzz/logs/$t.log and fuzz/artifacts/$t)"
    return 1
  fi
}

status=0
running=0
for t in $TARGETS; do
  run "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
exit $status
