#!/usr/bin/env bash
# Contract freshness and the Hypervisor checkpoint, then every gate on the embedded default corpus.
# Writes report.json, report.dsse.json, test-result.json, test-result.dsse.json, junit.xml,
# summary.md and summary.html under $GATES_OUT, verifies the signed report (CI holds no release
# key, so the run is dev-signed and verify is told to accept that, and only that), and checks both
# envelopes with an independent DSSE verifier (ci/interop, securesystemslib in a venv). Then
# renders summary.html in headless Chromium (ci/check-summary-html.sh, which installs Chromium when
# missing), for this passing run and for a run made to fail (the SLA gate on a deployment profile
# known to fail), with a screenshot of each beside its summary.
set -euo pipefail
cd "$(dirname "$0")/.."
export TZ=UTC LC_ALL=C
cargo build --release --locked -q -p autocapture-core -p autocapture-gates
target/release/autocapture-gates contract check
out="${GATES_OUT:-target/gates-run}"
rm -rf "$out"
target/release/autocapture-gates run --out "$out"
target/release/autocapture-gates verify "$out/report.dsse.json" \
  --public-key "$out/signing-key.pub.pem" --allow-dev-signed

venv=target/interop-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r ci/interop/requirements.txt
fi
bash ci/interop/selftest.sh "$venv/bin/python"
"$venv/bin/python" ci/interop/verify_dsse.py "$out/report.dsse.json" "$out/signing-key.pub.pem" \
  --predicate-type urn:autocapture:predicate:gate-report:v2
"$venv/bin/python" ci/interop/verify_dsse.py "$out/test-result.dsse.json" \
  "$out/signing-key.pub.pem" --predicate-type https://in-toto.io/attestation/test-result/v0.1 \
  --expect-result PASSED

# summary.html in a real browser: the passing run, then a run made to fail.
bash ci/check-summary-html.sh --self-test
bash ci/check-summary-html.sh --expect pass "$out/summary.html" "$out/summary.png"
failing="$out-failing"
rm -rf "$failing"
code=0
target/release/autocapture-gates run --gate sla --sla-input fixtures/sla/known/fail/burst-week.json \
  --out "$failing" --scratch "$failing" > /dev/null || code=$?
if [ "$code" != 1 ]; then
  echo "the run made to fail exited $code, not 1" >&2
  exit 1
fi
bash ci/check-summary-html.sh --expect fail "$failing/summary.html" "$failing/summary.png"
# A failing run keeps its copies (in a private folder of --scratch); they are not needed here.
rm -rf "$failing"/autocapture-gates-*
