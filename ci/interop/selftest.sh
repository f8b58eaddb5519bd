#!/usr/bin/env bash
# Self-test of the interop checker: verify_dsse.py must accept the fixed vector
# in fixtures/attestation/ and refuse tampered or wrongly signed copies, and
# make_vector.py must reproduce the committed fixtures byte for byte.
#
#   ci/interop/selftest.sh PYTHON     (a python with ci/interop/requirements.txt)
set -euo pipefail

py="${1:?usage: selftest.sh PYTHON}"
here="$(cd "$(dirname "$0")" && pwd)"
fix="$here/../../fixtures/attestation"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fails=0
checks=0
TR=https://in-toto.io/attestation/test-result/v0.1

# expect CODE NAME ENVELOPE [ARGS...]: run the verifier with the vector's key.
expect() {
    local want="$1" name="$2" env="$3" got=0
    shift 3
    "$py" "$here/verify_dsse.py" "$env" "$fix/vector-public.pem" "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
    checks=$((checks + 1))
    if [ "$got" -ne "$want" ]; then
        fails=$((fails + 1))
        echo "FAIL $name: exit $got, expected $want"
        sed 's/^/    /' "$tmp/out" "$tmp/err"
    else
        echo "ok   $name (exit $got) $(cat "$tmp/out" "$tmp/err" | head -n 1)"
    fi
}

# Build the tampered copies. Signing uses make_vector.py's pyca/cryptography code.
PYTHONPATH="$here" "$py" - "$fix" "$tmp" <<'EOF'
import base64, copy, json, sys
import make_vector as mv

fix, tmp = sys.argv[1], sys.argv[2]
good = json.load(open(f"{fix}/vector.dsse.json"))
body = base64.b64decode(good["payload"])
other_seed = bytes(range(33, 65))
trusted_keyid = good["signatures"][0]["keyid"]

def write(name, env):
    with open(f"{tmp}/{name}.json", "w") as f:
        json.dump(env, f)

# one payload byte changed, signature kept
tampered = copy.deepcopy(good)
changed = body.replace(b"interop-vector.txt", b"interop-vector.txu")
assert len(changed) == len(body) and sum(a != b for a, b in zip(changed, body)) == 1
tampered["payload"] = base64.standard_b64encode(changed).decode()
write("payload-byte", tampered)
# payloadType changed, signature kept
retyped = copy.deepcopy(good)
retyped["payloadType"] = "application/json"
write("payload-type", retyped)
# same body signed by another key: under its own keyid, and claiming the trusted keyid
write("other-key", mv.envelope(other_seed, body))
write("other-key-claims-keyid", mv.envelope(other_seed, body, kid=trusted_keyid))
# validly signed by the vector key, but a bad Statement / a different predicate
stmt = json.loads(body)
stmt["predicate"]["result"] = "OK"
write("bad-result", mv.envelope(mv.SEED, json.dumps(stmt).encode()))
stmt = json.loads(body)
stmt["subject"] = []
write("no-subject", mv.envelope(mv.SEED, json.dumps(stmt).encode()))
stmt = json.loads(body)
stmt["predicateType"], stmt["predicate"] = "urn:autocapture:predicate:gate-report:v1", {"gates": []}
write("gate-report", mv.envelope(mv.SEED, json.dumps(stmt).encode()))
EOF

expect 0 "vector verifies" "$fix/vector.dsse.json" --predicate-type "$TR" --expect-result PASSED
checks=$((checks + 1))
grep -qx "verified: $TR result=PASSED passed=3 failed=0" "$tmp/out" \
    || { fails=$((fails + 1)); echo "FAIL vector output line: $(cat "$tmp/out")"; }
expect 1 "one payload byte changed" "$tmp/payload-byte.json"
expect 1 "payloadType changed" "$tmp/payload-type.json"
expect 1 "signed by another key" "$tmp/other-key.json"
expect 1 "another key claiming the trusted keyid" "$tmp/other-key-claims-keyid.json"
expect 1 "wrong --expect-result" "$fix/vector.dsse.json" --expect-result FAILED
expect 1 "wrong --predicate-type" "$fix/vector.dsse.json" --predicate-type urn:autocapture:predicate:gate-report:v1
expect 1 "signed statement with bad result" "$tmp/bad-result.json"
expect 1 "signed statement with empty subject" "$tmp/no-subject.json"
expect 0 "signed gate-report statement" "$tmp/gate-report.json" --predicate-type urn:autocapture:predicate:gate-report:v1
expect 2 "usage error" "$fix/vector.dsse.json" --expect-result MAYBE

# The vector is reproducible and the committed fixtures are current.
"$py" "$here/make_vector.py" "$tmp/regen" >/dev/null
for f in dsse-vector.json vector-public.pem vector.dsse.json; do
    checks=$((checks + 1))
    if cmp -s "$fix/$f" "$tmp/regen/$f"; then
        echo "ok   $f regenerates byte-identical"
    else
        fails=$((fails + 1))
        echo "FAIL $f differs from a fresh make_vector.py run"
    fi
done

echo "interop: $((checks - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
