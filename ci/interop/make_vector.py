#!/usr/bin/env python3
"""Compute a fixed DSSE/in-toto test vector with pyca/cryptography only.

The vector is made here, outside the project's Rust code, so a Rust test can
sign the same body with the same seed and compare byte for byte: PAE, the
Ed25519 signature, the keyid and the envelope. Ed25519 is deterministic, so
running this again gives identical files.

    make_vector.py [OUT_DIR]      (default: fixtures/attestation)

Writes OUT_DIR/dsse-vector.json, OUT_DIR/vector-public.pem and
OUT_DIR/vector.dsse.json.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PAYLOAD_TYPE = "application/vnd.in-toto+json"
SEED = bytes(range(1, 33))  # 0x01..0x20


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding, written out from the protocol text:
    "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN = byte length in
    ASCII decimal without leading zeros."""
    t = payload_type.encode("utf-8")
    return b" ".join([b"DSSEv1", str(len(t)).encode(), t, str(len(body)).encode(), body])


def keyid(raw_public: bytes) -> str:
    return hashlib.sha256(raw_public).hexdigest()


def envelope(seed: bytes, body: bytes, payload_type: str = PAYLOAD_TYPE, kid: str | None = None) -> dict:
    """A DSSE envelope over body signed by the Ed25519 key with this seed."""
    key = Ed25519PrivateKey.from_private_bytes(seed)
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    sig = key.sign(pae(payload_type, body))
    return {
        "payload": base64.standard_b64encode(body).decode("ascii"),
        "payloadType": payload_type,
        "signatures": [{"keyid": kid or keyid(raw), "sig": base64.standard_b64encode(sig).decode("ascii")}],
    }


def statement_body() -> bytes:
    """The fixed Statement. One test name is non-ASCII on purpose: LEN() in PAE
    counts UTF-8 bytes, not characters, and the vector should catch that."""
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": "interop-vector.txt", "digest": {"sha256": hashlib.sha256(b"interop vector subject\n").hexdigest()}}
        ],
        "predicateType": "https://in-toto.io/attestation/test-result/v0.1",
        "predicate": {
            "result": "PASSED",
            "configuration": [
                {"name": "interop-config.toml", "digest": {"sha256": hashlib.sha256(b"interop vector config\n").hexdigest()}}
            ],
            "passedTests": ["interop::pae_matches", "interop::signature_matches", "interop::caf\u00e9_utf8_name"],
            "warnedTests": [],
            "failedTests": [],
        },
    }
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def dump(obj: object) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    # Cross-check pae() against the example in the DSSE protocol document.
    if pae("http://example.com/HelloWorld", b"hello world") != b"DSSEv1 29 http://example.com/HelloWorld 11 hello world":
        raise SystemExit("pae() does not match the DSSE protocol example")

    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[2] / "fixtures" / "attestation"
    out.mkdir(parents=True, exist_ok=True)
    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")
    body = statement_body()
    env = envelope(SEED, body)
    vector = {
        "seed_hex": SEED.hex(),
        "public_key_hex": raw.hex(),
        "public_key_pem": pem,
        "keyid": keyid(raw),
        "payload_type": PAYLOAD_TYPE,
        "body": body.decode("utf-8"),
        "pae_hex": pae(PAYLOAD_TYPE, body).hex(),
        "signature_b64": env["signatures"][0]["sig"],
        "envelope": env,
    }
    (out / "dsse-vector.json").write_text(dump(vector), encoding="utf-8")
    (out / "vector-public.pem").write_text(pem, encoding="ascii")
    (out / "vector.dsse.json").write_text(dump(env), encoding="utf-8")
    print(f"wrote {out}/dsse-vector.json, vector-public.pem, vector.dsse.json (keyid {vector['keyid']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
