#!/usr/bin/env bash
# Runs Pipy's codec suite (test/codec in a Pipy checkout) against this proxy,
# the way Pipy's test/codec/run.js does: for each case, run the binary on the
# case's main.js in its folder, let it exit (each case reads its `input` file
# and writes to stdout), and compare stdout with the case's `output`, byte for
# byte. Pipy's files are read where they are; nothing is copied into this
# repository.
#
#   scripts/pipy-codec.sh /path/to/pipy              # every case
#   scripts/pipy-codec.sh /path/to/pipy mqtt thrift  # some
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PIPY=${1:?usage: pipy-codec.sh PIPY_CHECKOUT [CASE...]}
shift
BIN=${BIN:-$HERE/../target/release/proxy}
[ -x "$BIN" ] || { echo "pipy-codec.sh: build first (cargo build --release), or set BIN" >&2; exit 2; }
SUITE=$PIPY/test/codec
OUT=$(mktemp -d /tmp/pipy-codec.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=($(cd "$SUITE" && for d in */; do echo "${d%/}"; done))
failed=0
for c in "${cases[@]}"; do
  [ -f "$SUITE/$c/main.js" ] || { echo "$c: no such case"; failed=1; continue; }
  (cd "$SUITE/$c" && timeout 10 "$BIN" main.js > "$OUT/$c.out" 2> "$OUT/$c.log")
  rc=$?
  if [ $rc -eq 0 ] && cmp -s "$SUITE/$c/output" "$OUT/$c.out"; then
    echo "$c: OK"
  else
    echo "$c: FAIL (exit $rc)"; failed=1
    cmp "$SUITE/$c/output" "$OUT/$c.out" 2>&1 | head -1 | sed 's/^/  /'
    tail -3 "$OUT/$c.log" | sed 's/^/  /'
  fi
done
exit $failed
