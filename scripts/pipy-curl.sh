#!/usr/bin/env bash
# Runs Pipy's own curl suite (test/curl in a Pipy checkout) against this
# proxy, the way Pipy's test/curl/run.js does: for each case, start the binary
# on the case's main.js, wait for "Thread 0 started", run the case's test.sh
# in its folder, and compare what it prints with the case's output file
# (CRLF read as LF). Pipy's files are read where they are; nothing is copied
# into this repository.
#
#   scripts/pipy-curl.sh /path/to/pipy            # every case
#   scripts/pipy-curl.sh /path/to/pipy 003 007    # some
#
# Needs curl 8 or later (and the cases' own tools): curl 7.88's
# --http2-prior-knowledge sends only the first of several URLs on one
# connection, against any server, which 005 does. On Debian 12, curl 8 from
# bookworm-backports unpacked with `dpkg -x` and put first on PATH will do.
# Ports 8000-9090 must be free.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PIPY=${1:?usage: pipy-curl.sh PIPY_CHECKOUT [CASE...]}
shift
BIN=${BIN:-$HERE/../target/release/proxy}
[ -x "$BIN" ] || { echo "pipy-curl.sh: build first (cargo build --release), or set BIN" >&2; exit 2; }
SUITE=$PIPY/test/curl
OUT=$(mktemp -d /tmp/pipy-curl.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=($(cd "$SUITE" && ls -d [0-9][0-9][0-9]-*))
failed=0
for c in "${cases[@]}"; do
  dir=$(cd "$SUITE" && ls -d "$c"* 2>/dev/null | head -1)
  [ -n "$dir" ] || { echo "$c: no such case"; failed=1; continue; }
  "$BIN" "$SUITE/$dir/main.js" --log-level=debug:thread > "$OUT/$dir.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q "Thread 0 started" "$OUT/$dir.log" && break; sleep 0.1; done
  (cd "$SUITE/$dir" && timeout 120 bash ./test.sh > "$OUT/$dir.out" 2>/dev/null)
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  if cmp -s <(tr -d '\r' < "$SUITE/$dir/output") <(tr -d '\r' < "$OUT/$dir.out"); then
    echo "$dir: OK"
  else
    echo "$dir: FAIL"; failed=1
    diff <(tr -d '\r' < "$SUITE/$dir/output") <(tr -d '\r' < "$OUT/$dir.out") | head -8
    grep -E "\[(WRN|ERR)\]" "$OUT/$dir.log" | head -3
  fi
done
exit $failed
