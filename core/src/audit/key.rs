//! The audit key: 32 random bytes in an owner-only file outside every DataRoot, with which each
//! audit line's hash is authenticated (HMAC-SHA256). Whoever can write a DataRoot but cannot read
//! the key cannot add, edit or re-chain lines without `audit verify` noticing.
//!
//! Location: the path in `AUTOCAPTURE_AUDIT_KEY`, else `$XDG_CONFIG_HOME/autocapture/audit.key`,
//! else `$HOME/.config/autocapture/audit.key` (the user database's home when `HOME` is unset).
//! Created on first append (folder 0700, file 0600, never overwritten: two processes creating it
//! at once end up with the same key). A key file that is a symlink, not regular, not the
//! caller's own, or open to group or others is refused, never used or replaced: replacing it
//! would orphan every line it authenticated.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::AuditError;

/// The environment variable naming the key file.
pub const AUDIT_KEY_ENV: &str = "AUTOCAPTURE_AUDIT_KEY";
/// Bytes of key material.
const KEY_BYTES: usize = 32;

/// A loaded audit key.
#[derive(Clone)]
pub struct AuditKey {
    bytes: [u8; KEY_BYTES],
    id: String,
    path: PathBuf,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("id", &self.id)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The key file's path from the environment (or the user database's home folder when `HOME` is
/// not set), or `None` when none of them names one.
pub fn default_key_path() -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(path) = set(AUDIT_KEY_ENV) {
        return Some(PathBuf::from(path));
    }
    if let Some(config) = set("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(config).join("autocapture").join("audit.key"));
    }
    // A service started without HOME still has a home in the user database.
    let home = set("HOME").map(PathBuf::from).or_else(|| {
        nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|user| user.dir)
            .filter(|dir| !dir.as_os_str().is_empty())
    });
    home.map(|home| home.join(".config").join("autocapture").join("audit.key"))
}

fn key_error(path: &Path, code: &'static str, detail: impl Into<String>) -> AuditError {
    AuditError::Key {
        path: path.to_path_buf(),
        code,
        detail: detail.into(),
    }
}

impl AuditKey {
    /// The key's public name: the first 16 hex digits of its sha256.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the key at `path`; `Ok(None)` when there is no file.
    pub fn load(path: &Path) -> Result<Option<AuditKey>, AuditError> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let file = OpenOptions::new()
            .read(true)
            .custom_flags((nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK).bits())
            .open(path);
        let mut file = match file {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
                return Err(key_error(
                    path,
                    "audit_key_unsafe",
                    "the key file is a symlink",
                ));
            }
            Err(source) => {
                return Err(AuditError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let meta = file.metadata().map_err(|source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if !meta.is_file() {
            return Err(key_error(path, "audit_key_unsafe", "not a regular file"));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(key_error(
                path,
                "audit_key_unsafe",
                format!(
                    "mode {:o}: group or others may access it",
                    meta.mode() & 0o777
                ),
            ));
        }
        if meta.uid() != nix::unistd::geteuid().as_raw() {
            return Err(key_error(
                path,
                "audit_key_unsafe",
                format!("owned by uid {}, not by this user", meta.uid()),
            ));
        }
        let mut text = String::new();
        (&mut file)
            .take(256)
            .read_to_string(&mut text)
            .map_err(|source| AuditError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let bytes = hex::decode(text.trim())
            .ok()
            .and_then(|b| <[u8; KEY_BYTES]>::try_from(b).ok())
            .ok_or_else(|| {
                key_error(
                    path,
                    "audit_key_invalid",
                    "the key file does not hold 64 hex digits",
                )
            })?;
        Ok(Some(AuditKey::from_bytes(bytes, path)))
    }

    /// Loads the key at `path`, creating it first when there is none.
    pub fn load_or_create(path: &Path) -> Result<AuditKey, AuditError> {
        if let Some(key) = AuditKey::load(path)? {
            return Ok(key);
        }
        let io_err = |source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err)?;
        }
        let mut bytes = [0u8; KEY_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| io_err(io::Error::other(e.to_string())))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("audit.key");
        let temp = crate::base::durable::temp_path_for(dir, name);
        let written = (|| {
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(format!("{}\n", hex::encode(bytes)).as_bytes())?;
            file.sync_all()?;
            // A link never replaces: whoever links first made the key everyone uses.
            match fs::hard_link(&temp, path) {
                Ok(()) => crate::base::fsops::fsync_dir(dir),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(e),
            }
        })();
        let _ = fs::remove_file(&temp);
        written.map_err(io_err)?;
        AuditKey::load(path)?.ok_or_else(|| {
            key_error(
                path,
                "audit_key_missing",
                "the key file vanished after creation",
            )
        })
    }

    fn from_bytes(bytes: [u8; KEY_BYTES], path: &Path) -> AuditKey {
        let id = crate::contract::sha256_hex(&bytes)[..16].to_owned();
        AuditKey {
            bytes,
            id,
            path: path.to_path_buf(),
        }
    }

    fn mac_of(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.bytes).expect("HMAC takes a key of any length")
    }

    /// The line's `mac`: HMAC-SHA256 over the line's `hash` (hex text), in hex.
    pub fn mac(&self, hash: &str) -> String {
        let mut mac = self.mac_of();
        mac.update(hash.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `mac` authenticates `hash` (compared in constant time).
    pub fn authenticates(&self, hash: &str, mac: &str) -> bool {
        let Ok(given) = hex::decode(mac) else {
            return false;
        };
        let mut check = self.mac_of();
        check.update(hash.as_bytes());
        check.verify_slice(&given).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_owner_only_and_reloaded_the_same() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cfg").join("audit.key");
        let first = AuditKey::load_or_create(&path).expect("create");
        let again = AuditKey::load_or_create(&path).expect("load");
        assert_eq!(first.id(), again.id());
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mac = first.mac("abc");
        assert!(again.authenticates("abc", &mac));
        assert!(!again.authenticates("abd", &mac));
        assert!(!again.authenticates("abc", "zz"));
    }

    #[test]
    fn a_key_others_may_read_is_refused_not_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.key");
        AuditKey::load_or_create(&path).expect("create");
        let before = fs::read(&path).expect("read");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = AuditKey::load_or_create(&path).expect_err("refused");
        assert_eq!(err.code(), "audit_key_unsafe");
        assert_eq!(fs::read(&path).expect("read"), before);
    }

    #[test]
    fn a_symlinked_or_malformed_key_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real.key");
        AuditKey::load_or_create(&real).expect("create");
        let link = dir.path().join("link.key");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        assert_eq!(
            AuditKey::load(&link).expect_err("symlink").code(),
            "audit_key_unsafe"
        );
        let bad = dir.path().join("bad.key");
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&bad)
                .expect("open");
            f.write_all(b"not hex\n").expect("write");
        }
        assert_eq!(
            AuditKey::load(&bad).expect_err("malformed").code(),
            "audit_key_invalid"
        );
    }
}
