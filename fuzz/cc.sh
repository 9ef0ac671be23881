#!/bin/sh
# The C compiler for fuzz builds: clang, with libFuzzer's coverage on the C code
# built for the fuzz target (QuickJS), so that the fuzzer sees into it; not on
# the host build of the same crate, which a proc-macro links and could not load.
case "$*" in
  *"/x86_64-unknown-linux-gnu/"*|*"/aarch64-unknown-linux-gnu/"*) exec clang -fsanitize=fuzzer-no-link "$@" ;;
  *) exec clang "$@" ;;
esac
