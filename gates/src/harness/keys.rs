//! Ed25519 signing keys for reports: generate, store, load. A private key file holds the 32-byte
//! seed and the public key; the `.pub` file holds only the public key, and `.pub.pem` the same
//! key as PEM (SubjectPublicKeyInfo, what other DSSE and in-toto tools read). Any of the three
//! can verify.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Environment variable holding a base64 32-byte seed, for CI secrets.
pub const KEY_ENV: &str = "AUTOCAPTURE_GATES_SIGNING_KEY";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    kty: String,
    keyid: String,
    public_key_b64: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_seed_b64: Option<String>,
}

/// The key id: sha256 hex of the 32 public key bytes.
pub fn keyid(key: &VerifyingKey) -> String {
    autocapture_core::contract::sha256_hex(key.as_bytes())
}

/// A fresh key from the operating system's randomness.
pub fn generate() -> anyhow::Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("read OS randomness: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

fn file_for(key: &VerifyingKey, seed: Option<&[u8; 32]>) -> KeyFile {
    KeyFile {
        kty: "ed25519".into(),
        keyid: keyid(key),
        public_key_b64: STANDARD.encode(key.as_bytes()),
        private_seed_b64: seed.map(|s| STANDARD.encode(s)),
    }
}

/// Writes `out` (private, mode 0600), `out.pub` (public) and `out.pub.pem` (public, PEM).
/// Refuses to overwrite any of them.
pub fn keygen(out: &Path) -> anyhow::Result<(PathBuf, VerifyingKey)> {
    let key = generate()?;
    let public = public_path(out);
    let pem = pem_path(&public);
    for path in [out, public.as_path(), pem.as_path()] {
        if path.exists() {
            bail!("{} exists; refusing to overwrite a key", path.display());
        }
    }
    let private =
        serde_json::to_string_pretty(&file_for(&key.verifying_key(), Some(&key.to_bytes())))?
            + "\n";
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    file.open(out)
        .and_then(|mut f| f.write_all(private.as_bytes()))
        .with_context(|| format!("write {}", out.display()))?;
    write_public(&public, &key.verifying_key())?;
    write_public_pem(&pem, &key.verifying_key())?;
    Ok((public, key.verifying_key()))
}

/// Writes a public key as PEM (SubjectPublicKeyInfo, `-----BEGIN PUBLIC KEY-----`).
pub fn write_public_pem(path: &Path, key: &VerifyingKey) -> anyhow::Result<()> {
    let text = key
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encode the public key as PEM: {e}"))?;
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

/// `F.pem` for a public key file `F`.
pub fn pem_path(public: &Path) -> PathBuf {
    let mut name = public.as_os_str().to_owned();
    name.push(".pem");
    PathBuf::from(name)
}

/// Writes a public key file.
pub fn write_public(path: &Path, key: &VerifyingKey) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(&file_for(key, None))? + "\n";
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

/// `F.pub` for a private key file `F`.
pub fn public_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// The formats a public key may come in, for error messages.
pub const PUBLIC_KEY_FORMATS: &str = "a PEM public key (SubjectPublicKeyInfo, `-----BEGIN PUBLIC KEY-----`, Ed25519) or an autocapture key file (JSON with kty \"ed25519\", from `keygen`)";

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("read key {}", path.display()))
}

fn parse_key_file(path: &Path, text: &str) -> anyhow::Result<KeyFile> {
    let file: KeyFile = serde_json::from_str(text).with_context(|| {
        format!(
            "parse key {}: expected {PUBLIC_KEY_FORMATS}",
            path.display()
        )
    })?;
    if file.kty != "ed25519" {
        bail!("key {} is {:?}, not ed25519", path.display(), file.kty);
    }
    Ok(file)
}

fn decode_32(text: &str, what: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = STANDARD
        .decode(text.trim())
        .with_context(|| format!("decode {what}"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{what} is not 32 bytes"))
}

/// The signing key in a private key file.
pub fn load_signing(path: &Path) -> anyhow::Result<SigningKey> {
    let file = parse_key_file(path, &read_text(path)?)?;
    let seed = file
        .private_seed_b64
        .as_deref()
        .with_context(|| format!("{} holds no private key", path.display()))?;
    let key = SigningKey::from_bytes(&decode_32(seed, "private seed")?);
    if keyid(&key.verifying_key()) != file.keyid {
        bail!("key {}: keyid does not match the key", path.display());
    }
    Ok(key)
}

/// The public key in a PEM file, or in a public or private key file.
pub fn load_public(path: &Path) -> anyhow::Result<VerifyingKey> {
    let text = read_text(path)?;
    if text.trim_start().starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text.trim()).map_err(|e| {
            anyhow::anyhow!(
                "parse key {}: {e}; expected {PUBLIC_KEY_FORMATS}",
                path.display()
            )
        });
    }
    let file = parse_key_file(path, &text)?;
    let key = VerifyingKey::from_bytes(&decode_32(&file.public_key_b64, "public key")?)
        .map_err(|e| anyhow::anyhow!("key {}: {e}", path.display()))?;
    if keyid(&key) != file.keyid {
        bail!("key {}: keyid does not match the key", path.display());
    }
    Ok(key)
}

/// The key a run signs with: `--signing-key F`, else the environment variable, else a throwaway
/// key. The flag says whether the report is `dev_signed` (throwaway).
pub fn resolve(path: Option<&Path>) -> anyhow::Result<(SigningKey, bool)> {
    if let Some(path) = path {
        return Ok((load_signing(path)?, false));
    }
    if let Ok(seed) = std::env::var(KEY_ENV) {
        let key = SigningKey::from_bytes(&decode_32(&seed, KEY_ENV)?);
        return Ok((key, false));
    }
    Ok((generate()?, true))
}
