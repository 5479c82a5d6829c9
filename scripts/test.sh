#!/usr/bin/env bash
# The test suite: builds the binaries the end-to-end tests start, runs every test with
# nextest, then the doc tests. Used by README.md and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
