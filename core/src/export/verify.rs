//! Verifying a bundle (`autocapture export verify DIR`): the manifest must parse, be rendered
//! exactly as written (so any changed byte in it shows), carry the right bundle digest, and list
//! exactly the files present, each with its size and sha256. Every problem is reported, each
//! with a stable code and the path at fault.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::manifest::{MANIFEST_FILE, MANIFEST_SCHEMA, Manifest};
use crate::contract::sha256_file;

/// One way a bundle fails verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `export_manifest_missing`, `export_manifest_invalid`, `export_manifest_not_canonical`,
    /// `export_digest_mismatch`, `export_path_unsafe`, `export_file_missing`,
    /// `export_file_unlisted`, `export_file_size_mismatch` or `export_file_hash_mismatch`.
    pub code: &'static str,
    pub path: String,
    pub detail: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub dir: PathBuf,
    pub ok: bool,
    pub files_checked: u64,
    pub bundle_digest: Option<String>,
    pub problems: Vec<Problem>,
}

/// Why a bundle could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("read bundle {path}: {reason}")]
pub struct BundleUnreadable {
    pub path: PathBuf,
    pub reason: String,
}

impl BundleUnreadable {
    pub fn code(&self) -> &'static str {
        "export_bundle_unreadable"
    }
}

/// Every entry under `dir` that is not a directory, as `/`-separated relative paths, sorted.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), BundleUnreadable> {
    let unreadable = |e: std::io::Error| BundleUnreadable {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    };
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        let meta = std::fs::symlink_metadata(&path).map_err(unreadable)?;
        if meta.is_dir() {
            walk(root, &path, out)?;
        } else {
            let relpath = path
                .strip_prefix(root)
                .map(|p| {
                    p.components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or_else(|_| path.display().to_string());
            out.push(relpath);
        }
    }
    Ok(())
}

fn safe_relpath(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path != MANIFEST_FILE
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Verifies the bundle at `dir`.
pub fn verify_bundle(dir: &Path) -> Result<VerifyReport, BundleUnreadable> {
    if !dir.is_dir() {
        return Err(BundleUnreadable {
            path: dir.to_path_buf(),
            reason: "not a directory".into(),
        });
    }
    let mut report = VerifyReport {
        dir: dir.to_path_buf(),
        ok: false,
        files_checked: 0,
        bundle_digest: None,
        problems: Vec::new(),
    };
    let mut problem = |code, path: &str, detail: String| {
        report.problems.push(Problem {
            code,
            path: path.to_owned(),
            detail,
        });
    };
    let manifest_path = dir.join(MANIFEST_FILE);
    let bytes = match std::fs::read(&manifest_path) {
        Ok(bytes) => bytes,
        Err(e) => {
            problem("export_manifest_missing", MANIFEST_FILE, e.to_string());
            return Ok(report);
        }
    };
    let manifest: Manifest = match serde_json::from_slice(&bytes) {
        Ok(manifest) => manifest,
        Err(e) => {
            problem("export_manifest_invalid", MANIFEST_FILE, e.to_string());
            return Ok(report);
        }
    };
    if manifest.schema != MANIFEST_SCHEMA {
        problem(
            "export_manifest_invalid",
            MANIFEST_FILE,
            format!("schema {:?} is not {MANIFEST_SCHEMA}", manifest.schema),
        );
    }
    if manifest.render().ok().as_deref() != Some(bytes.as_slice()) {
        problem(
            "export_manifest_not_canonical",
            MANIFEST_FILE,
            "the bytes are not the manifest's rendering (sorted keys, 2-space indent, newline)"
                .into(),
        );
    }
    match manifest.compute_digest() {
        Ok(digest) if digest == manifest.bundle_digest => {}
        Ok(digest) => problem(
            "export_digest_mismatch",
            MANIFEST_FILE,
            format!(
                "bundle_digest {} but the content hashes to {digest}",
                manifest.bundle_digest
            ),
        ),
        Err(reason) => problem("export_manifest_invalid", MANIFEST_FILE, reason),
    }
    let sorted = manifest
        .files
        .windows(2)
        .all(|pair| pair[0].path < pair[1].path);
    if !sorted {
        problem(
            "export_manifest_invalid",
            MANIFEST_FILE,
            "files are not listed once each in path order".into(),
        );
    }
    let mut present = Vec::new();
    walk(dir, dir, &mut present)?;
    present.retain(|p| p != MANIFEST_FILE);
    present.sort();
    let listed: std::collections::BTreeSet<&str> =
        manifest.files.iter().map(|f| f.path.as_str()).collect();
    for relpath in &present {
        if !listed.contains(relpath.as_str()) {
            problem(
                "export_file_unlisted",
                relpath,
                "present in the bundle but not in the manifest".into(),
            );
        }
    }
    for file in &manifest.files {
        if !safe_relpath(&file.path) {
            problem(
                "export_path_unsafe",
                &file.path,
                "not a relative path inside the bundle".into(),
            );
            continue;
        }
        let path = dir.join(&file.path);
        let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
        if !regular {
            problem(
                "export_file_missing",
                &file.path,
                "listed in the manifest but not a file in the bundle".into(),
            );
            continue;
        }
        match sha256_file(&path) {
            Ok((sha256, size)) => {
                if size != file.size {
                    problem(
                        "export_file_size_mismatch",
                        &file.path,
                        format!("{size} bytes, manifest says {}", file.size),
                    );
                } else if sha256 != file.sha256 {
                    problem(
                        "export_file_hash_mismatch",
                        &file.path,
                        format!("sha256 {}, manifest says {}", sha256, file.sha256),
                    );
                }
            }
            Err(e) => problem("export_file_missing", &file.path, e.to_string()),
        }
        report.files_checked += 1;
    }
    report.ok = report.problems.is_empty();
    report.bundle_digest = Some(manifest.bundle_digest);
    Ok(report)
}
