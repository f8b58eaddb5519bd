#!/usr/bin/env python3
"""Independent check that a signed attestation is readable by standard tooling.

The project's Rust tool emits DSSE envelopes (payloadType
application/vnd.in-toto+json) around in-toto Statement v1 bodies, signed with
Ed25519. This script verifies such an envelope with a third-party library
(securesystemslib) instead of the project's own code, then checks the shape of
the Statement and, for the in-toto Test Result predicate, of the predicate.

    verify_dsse.py ENVELOPE PUBLIC_KEY_PEM [--predicate-type URI]
                   [--expect-result PASSED|WARNED|FAILED]

Prints `verified: <predicateType> result=<r> passed=<n> failed=<n>` and exits 0.
Any failure prints `interop verify failed: <reason>` to stderr and exits 1;
usage errors exit 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
TEST_RESULT = "https://in-toto.io/attestation/test-result/v0.1"
RESULTS = ("PASSED", "WARNED", "FAILED")
TEST_LISTS = ("passedTests", "warnedTests", "failedTests")


class Refused(Exception):
    """The envelope or its Statement is not acceptable."""


def require(cond: bool, reason: str) -> None:
    if not cond:
        raise Refused(reason)


def load_key(pem_path: str) -> SSlibKey:
    """Ed25519 key from a SubjectPublicKeyInfo PEM; keyid = sha256(raw key)."""
    with open(pem_path, "rb") as f:
        public_key = load_pem_public_key(f.read())
    require(isinstance(public_key, Ed25519PublicKey), "public key is not Ed25519")
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return SSlibKey.from_crypto(public_key, keyid=hashlib.sha256(raw).hexdigest())


def no_duplicate_keys(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    require(len(keys) == len(set(keys)), "duplicate JSON member in statement")
    return dict(pairs)


def check_digest_set(value: object, where: str) -> None:
    require(isinstance(value, dict) and value, f"{where}: digest must be a non-empty object")
    for alg, hexval in value.items():
        require(isinstance(hexval, str) and hexval, f"{where}: digest {alg!r} must be a non-empty string")


def check_descriptor(rd: object, where: str, need_digest: bool) -> None:
    """A ResourceDescriptor: an object with at least one of uri/digest/content."""
    require(isinstance(rd, dict), f"{where} must be an object")
    require(any(k in rd for k in ("uri", "digest", "content")), f"{where} needs uri, digest or content")
    require(not need_digest or "digest" in rd, f"{where} has no digest")
    if "digest" in rd:
        check_digest_set(rd["digest"], where)
    if "name" in rd:
        require(isinstance(rd["name"], str), f"{where}: name must be a string")


def check_statement(body: bytes, predicate_type: str | None) -> dict:
    try:
        stmt = json.loads(body.decode("utf-8"), object_pairs_hook=no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as e:
        raise Refused(f"payload is not a UTF-8 JSON statement: {e}") from e
    require(isinstance(stmt, dict), "statement is not a JSON object")
    require(stmt.get("_type") == STATEMENT_TYPE, f"_type is {stmt.get('_type')!r}")
    subjects = stmt.get("subject")
    require(isinstance(subjects, list) and subjects, "subject must be a non-empty list")
    for i, subject in enumerate(subjects):
        check_descriptor(subject, f"subject[{i}]", need_digest=True)
    ptype = stmt.get("predicateType")
    require(isinstance(ptype, str) and ptype, "predicateType missing")
    require(predicate_type is None or ptype == predicate_type, f"predicateType is {ptype!r}, expected {predicate_type!r}")
    require(isinstance(stmt.get("predicate", {}), dict), "predicate must be an object")
    return stmt


def check_test_result(pred: dict) -> None:
    require(pred.get("result") in RESULTS, f"result {pred.get('result')!r} is not one of {RESULTS}")
    config = pred.get("configuration")
    require(isinstance(config, list), "configuration must be a list of ResourceDescriptors")
    for i, rd in enumerate(config):
        check_descriptor(rd, f"configuration[{i}]", need_digest=False)
    require(isinstance(pred.get("url", ""), str), "url must be a string")
    for name in TEST_LISTS:
        tests = pred.get(name, [])
        require(isinstance(tests, list) and all(isinstance(t, str) for t in tests), f"{name} must be a list of strings")


def verify(envelope_path: str, pem_path: str, predicate_type: str | None, expect_result: str | None) -> str:
    key = load_key(pem_path)
    with open(envelope_path, "rb") as f:
        data = json.load(f)
    require(isinstance(data, dict), "envelope is not a JSON object")
    try:
        envelope = Envelope.from_dict(data)
    except (KeyError, TypeError, ValueError) as e:  # binascii.Error is a ValueError
        raise Refused(f"malformed envelope: {type(e).__name__}: {e}") from e
    envelope.verify([key], 1)  # raises VerificationError unless the key signed PAE(type, payload)
    require(envelope.payload_type == PAYLOAD_TYPE, f"payloadType is {envelope.payload_type!r}")

    # Only the bytes the signature covered are parsed from here on.
    stmt = check_statement(envelope.payload, predicate_type)
    ptype, pred = stmt["predicateType"], stmt.get("predicate", {})
    if ptype != TEST_RESULT:
        require(expect_result is None, f"--expect-result given but predicateType is {ptype!r}")
        return f"verified: {ptype} result=n/a passed=n/a failed=n/a"
    check_test_result(pred)
    result = pred["result"]
    require(expect_result is None or result == expect_result, f"result is {result}, expected {expect_result}")
    passed, failed = len(pred.get("passedTests", [])), len(pred.get("failedTests", []))
    return f"verified: {ptype} result={result} passed={passed} failed={failed}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("envelope", help="DSSE envelope JSON file")
    parser.add_argument("public_key", help="Ed25519 public key, SubjectPublicKeyInfo PEM")
    parser.add_argument("--predicate-type", metavar="URI", help="required predicateType")
    parser.add_argument("--expect-result", choices=RESULTS, help="required test-result `result`")
    args = parser.parse_args(argv)  # exits 2 on usage errors
    try:
        print(verify(args.envelope, args.public_key, args.predicate_type, args.expect_result))
    except Exception as e:  # noqa: BLE001 - every failure must map to exit 1
        reason = str(e) if isinstance(e, Refused) else f"{type(e).__name__}: {e}"
        print(f"interop verify failed: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
