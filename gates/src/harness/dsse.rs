//! DSSE envelopes (the in-toto signature wrapper) signed with Ed25519. The signature covers the
//! pre-authentication encoding `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP
//! body`, with lengths in ASCII decimal; verification is strict (`verify_strict`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use super::keys::keyid;

/// The payload type of an in-toto Statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    pub keyid: String,
    pub sig: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

/// Why an envelope was rejected.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the envelope is not a DSSE JSON document (truncated or edited?): {0}")]
    NotEnvelope(String),
    #[error("the payload type is {0:?}, not {PAYLOAD_TYPE}")]
    PayloadType(String),
    #[error("the payload or a signature is not valid base64")]
    Base64,
    #[error("no signature was made by key {0}")]
    NoSignatureForKey(String),
    #[error("the signature does not verify: the payload was changed or signed by another key")]
    BadSignature,
    #[error("the payload is not a JSON in-toto Statement: {0}")]
    PayloadNotStatement(String),
}

impl VerifyError {
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::NotEnvelope(_) => "envelope_invalid",
            VerifyError::PayloadType(_) => "envelope_payload_type",
            VerifyError::Base64 => "envelope_base64",
            VerifyError::NoSignatureForKey(_) => "envelope_wrong_key",
            VerifyError::BadSignature => "envelope_signature_invalid",
            VerifyError::PayloadNotStatement(_) => "envelope_payload_invalid",
        }
    }
}

/// The pre-authentication encoding.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Signs `body` as an in-toto payload.
pub fn sign(body: &[u8], key: &SigningKey) -> Envelope {
    let signature = key.sign(&pae(PAYLOAD_TYPE, body));
    Envelope {
        payload: STANDARD.encode(body),
        payload_type: PAYLOAD_TYPE.to_owned(),
        signatures: vec![EnvelopeSignature {
            keyid: keyid(&key.verifying_key()),
            sig: STANDARD.encode(signature.to_bytes()),
        }],
    }
}

/// Checks an envelope's bytes against `key` and returns the Statement it carries.
pub fn verify(bytes: &[u8], key: &VerifyingKey) -> Result<Value, VerifyError> {
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|e| VerifyError::NotEnvelope(e.to_string()))?;
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(VerifyError::PayloadType(envelope.payload_type));
    }
    let body = STANDARD
        .decode(&envelope.payload)
        .map_err(|_| VerifyError::Base64)?;
    let wanted = keyid(key);
    let signature = envelope
        .signatures
        .iter()
        .find(|s| s.keyid == wanted)
        .ok_or_else(|| VerifyError::NoSignatureForKey(wanted.clone()))?;
    let sig_bytes: [u8; 64] = STANDARD
        .decode(&signature.sig)
        .map_err(|_| VerifyError::Base64)?
        .try_into()
        .map_err(|_| VerifyError::BadSignature)?;
    key.verify_strict(
        &pae(PAYLOAD_TYPE, &body),
        &Signature::from_bytes(&sig_bytes),
    )
    .map_err(|_| VerifyError::BadSignature)?;
    let statement: Value = serde_json::from_slice(&body)
        .map_err(|e| VerifyError::PayloadNotStatement(e.to_string()))?;
    if statement.get("_type").and_then(Value::as_str) != Some(super::report::STATEMENT_TYPE) {
        return Err(VerifyError::PayloadNotStatement(
            "no in-toto Statement v1 `_type`".into(),
        ));
    }
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_fixed_vector() {
        // The DSSE specification's example encoding.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }
}
