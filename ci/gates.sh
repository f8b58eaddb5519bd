#!/usr/bin/env bash
# Contract freshness, then the main job on the embedded default corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
export TZ=UTC
cargo run --release --locked -p autocapture-gates -- contract check
out="${GATES_OUT:-target/gates-run}"
rm -rf "$out"
cargo run --release --locked -p autocapture-gates -- run --out "$out"
