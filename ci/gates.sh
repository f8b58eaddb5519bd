#!/usr/bin/env bash
# Contract freshness and the Hypervisor checkpoint, then every gate on the embedded default corpus.
# Writes report.json, report.dsse.json, junit.xml, summary.md and summary.html under $GATES_OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
export TZ=UTC LC_ALL=C
cargo build --release --locked -q -p autocapture-core -p autocapture-gates
target/release/autocapture-gates contract check
out="${GATES_OUT:-target/gates-run}"
rm -rf "$out"
target/release/autocapture-gates run --out "$out"
target/release/autocapture-gates verify "$out/report.dsse.json" --public-key "$out/signing-key.pub.json"
