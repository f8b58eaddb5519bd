//! sha256 helpers: bytes, files (streamed in fixed-size chunks) and canonical JSON values.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::canonical::canonical_json;
use super::error::ContractError;

/// A lowercase 64-character hex sha256 digest.
pub type Sha256Hex = String;

/// The read size used when hashing files; keeps memory flat whatever the file size.
const CHUNK: usize = 64 * 1024;

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> Sha256Hex {
    hex::encode(Sha256::digest(bytes))
}

/// Lowercase hex sha256 of everything `reader` yields, and the number of bytes read.
pub fn sha256_reader(mut reader: impl Read) -> io::Result<(Sha256Hex, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// Lowercase hex sha256 of the file at `path`, streamed, and its length in bytes.
pub fn sha256_file(path: &Path) -> io::Result<(Sha256Hex, u64)> {
    sha256_reader(File::open(path)?)
}

/// Lowercase hex sha256 of the canonical JSON of `value`.
pub fn sha256_canonical(value: &Value) -> Result<Sha256Hex, ContractError> {
    Ok(sha256_hex(&canonical_json(value)?))
}

/// True when `text` is a 64-character lowercase hex digest.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    #[test]
    fn fixed_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // sha256 of the canonical bytes {"a":1,"b":[true]}.
        assert_eq!(
            sha256_canonical(&json!({"b": [true], "a": 1})).as_deref(),
            Ok(sha256_hex(br#"{"a":1,"b":[true]}"#).as_str())
        );
        assert!(is_sha256_hex(&sha256_hex(b"x")));
        assert!(!is_sha256_hex(&sha256_hex(b"x").to_uppercase()));
    }

    #[test]
    fn file_hash_streams_across_chunks() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        let data: Vec<u8> = (0..(CHUNK * 3 + 17)).map(|i| (i % 251) as u8).collect();
        file.write_all(&data).expect("write");
        let (digest, len) = sha256_file(file.path()).expect("hash file");
        assert_eq!(len, data.len() as u64);
        assert_eq!(digest, sha256_hex(&data));
    }
}
