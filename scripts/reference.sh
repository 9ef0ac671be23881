#!/usr/bin/env bash
# Rewrites the generated parts of docs/reference/filters/*.md and types/proxy.d.ts
# from the filter registry (each filter's declaration in the code). The hand-written
# parts of the pages, after their generated part, are kept. CI fails when these files
# are out of date (crates/proxy/src/reference.rs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UPDATE_REFERENCE=1 cargo test -q -p proxy --bin proxy reference::tests::the_reference_and_the_editor_types_match_the_registry
