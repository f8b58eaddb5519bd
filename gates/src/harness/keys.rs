//! Ed25519 signing keys for reports: generate, store, load. A private key file holds the 32-byte
//! seed and the public key; the `.pub` file holds only the public key. Either can verify.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
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

/// Writes `out` (private, mode 0600) and `out.pub` (public). Refuses to overwrite either.
pub fn keygen(out: &Path) -> anyhow::Result<(PathBuf, VerifyingKey)> {
    let key = generate()?;
    let public = public_path(out);
    for path in [out, public.as_path()] {
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
    Ok((public, key.verifying_key()))
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

fn read(path: &Path) -> anyhow::Result<KeyFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("read key {}", path.display()))?;
    let file: KeyFile =
        serde_json::from_str(&text).with_context(|| format!("parse key {}", path.display()))?;
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
    let file = read(path)?;
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

/// The public key in a public or private key file.
pub fn load_public(path: &Path) -> anyhow::Result<VerifyingKey> {
    let file = read(path)?;
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
