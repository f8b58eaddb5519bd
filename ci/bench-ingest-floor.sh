#!/usr/bin/env bash
# Times `autocapture handoff ingest` against the raw floor on the same generated handoff (the
# sqlite3 CLI doing ATTACH + INSERT OR IGNORE … SELECT, plus `cp -al` of the media and
# `sha256sum` of every media file), alternating runs; prints medians, the ratio, a re-ingest and
# our peak RSS. Installs the sqlite3 CLI when missing. The measuring is
# `autocapture-gates bench ingest` (gates/src/bench/ingest.rs).
# Usage: ci/bench-ingest-floor.sh [FRAMES] [RUNS]   (default 100000 3); BENCH_DIR keeps the handoff.
set -euo pipefail
cd "$(dirname "$0")/.."
frames="${1:-100000}"
runs="${2:-3}"
export TZ=UTC LC_ALL=C

if ! command -v sqlite3 >/dev/null 2>&1; then
  echo "installing the sqlite3 CLI" >&2
  apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null
fi

cargo build --release --locked -q -p autocapture-core -p autocapture-gates
args=(bench ingest --frames "$frames" --runs "$runs")
if [ -n "${BENCH_DIR:-}" ]; then args+=(--work "$BENCH_DIR"); fi
target/release/autocapture-gates "${args[@]}"
