#!/usr/bin/env bash
# The README's test command, deterministic environment.
set -euo pipefail
cd "$(dirname "$0")/.."
export TZ=UTC
cargo test --workspace --locked
