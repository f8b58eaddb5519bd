#!/usr/bin/env bash
# The hostile suite's slow mode: the property runs at ten times their inputs, every committed
# seed and regression input replayed, and `cargo fuzz` on each target for a fixed budget
# (stable toolchain, no sanitizer, debug assertions on). Installs cargo-fuzz when missing.
# Usage: ci/fuzz.sh [SECONDS_PER_TARGET] [SEED]   (default 60 7); FUZZ_OUT sets the work folder.
# Exit 0 all clean, 1 a crash, a hang over the 2 s bound, or a run that could not start.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
seed="${2:-7}"
export TZ=UTC LC_ALL=C

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

cargo build --release --locked -q -p autocapture-gates
target/release/autocapture-gates fuzz --slow --seconds "$seconds" --seed "$seed" \
  --out "${FUZZ_OUT:-target/hostile-fuzz}"
