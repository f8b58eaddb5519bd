//! DSSE envelopes (the in-toto signature wrapper) signed with Ed25519. The signature covers the
//! pre-authentication encoding `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP
//! body`, with lengths in ASCII decimal; verification is strict (`verify_strict`). As the DSSE
//! specification says, a signature's `keyid` is only a hint: verification tries every trusted
//! key on every signature and accepts the first that verifies.

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
    #[error(
        "no signature verifies with a trusted key ({trusted}); the envelope names keyids {named}"
    )]
    NoSignatureForKey { trusted: String, named: String },
    #[error("the signature does not verify: the payload was changed or signed by another key")]
    BadSignature,
    #[error("the envelope carries no signature")]
    Unsigned,
    #[error("the payload is not a JSON in-toto Statement: {0}")]
    PayloadNotStatement(String),
}

impl VerifyError {
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::NotEnvelope(_) => "envelope_invalid",
            VerifyError::PayloadType(_) => "envelope_payload_type",
            VerifyError::Base64 => "envelope_base64",
            VerifyError::NoSignatureForKey { .. } => "envelope_wrong_key",
            VerifyError::BadSignature => "envelope_signature_invalid",
            VerifyError::Unsigned => "envelope_unsigned",
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

/// A verified envelope: the Statement it carries and the trusted key that signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub statement: Value,
    /// The keyid (sha256 hex of the public key) of the trusted key whose signature verified.
    pub keyid: String,
}

fn signature_bytes(text: &str) -> Option<Signature> {
    let bytes: [u8; 64] = STANDARD.decode(text).ok()?.try_into().ok()?;
    Some(Signature::from_bytes(&bytes))
}

/// Checks an envelope's bytes against the trusted `keys` and returns the Statement it carries.
pub fn verify(bytes: &[u8], keys: &[VerifyingKey]) -> Result<Verified, VerifyError> {
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|e| VerifyError::NotEnvelope(e.to_string()))?;
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(VerifyError::PayloadType(envelope.payload_type));
    }
    let body = STANDARD
        .decode(&envelope.payload)
        .map_err(|_| VerifyError::Base64)?;
    if envelope.signatures.is_empty() {
        return Err(VerifyError::Unsigned);
    }
    let message = pae(PAYLOAD_TYPE, &body);
    let signer = envelope.signatures.iter().find_map(|signature| {
        let sig = signature_bytes(&signature.sig)?;
        keys.iter()
            .find(|key| key.verify_strict(&message, &sig).is_ok())
    });
    let Some(signer) = signer else {
        let trusted: Vec<String> = keys.iter().map(keyid).collect();
        let named: Vec<&str> = envelope
            .signatures
            .iter()
            .map(|s| s.keyid.as_str())
            .collect();
        // A signature that names a trusted key but does not verify means changed bytes.
        if named.iter().any(|n| trusted.iter().any(|t| t == n)) {
            return Err(VerifyError::BadSignature);
        }
        return Err(VerifyError::NoSignatureForKey {
            trusted: trusted.join(", "),
            named: named.join(", "),
        });
    };
    let statement: Value = serde_json::from_slice(&body)
        .map_err(|e| VerifyError::PayloadNotStatement(e.to_string()))?;
    if statement.get("_type").and_then(Value::as_str) != Some(super::report::STATEMENT_TYPE) {
        return Err(VerifyError::PayloadNotStatement(
            "no in-toto Statement v1 `_type`".into(),
        ));
    }
    Ok(Verified {
        statement,
        keyid: keyid(signer),
    })
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
