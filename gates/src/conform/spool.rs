//! The walk of a spool (or of one handoff): every entry of the spool in name order, each
//! handoff judged whole (database, rows, media, UIA refs, activity signal) between two looks at
//! its files, and ids compared across the spool's handoffs, which all go into one DataRoot.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use autocapture_core::contract::identity::{CONTRACT_VERSION, SchemaFile, schema_hash_of};
use autocapture_core::handoff::{Cell, MEDIA_DIR, METADATA_DB};
use autocapture_core::stage1::derive::FRAME_RECORD_TYPE;
use autocapture_core::stage1::stamp::{self, HandoffStamp};
use autocapture_core::uia::{Lookup, SNAPSHOT_RECORD_TYPE};
use serde_json::Value;

use super::database::{self, payload_of};
use super::media;
use super::report::{
    Collector, ConformError, ConformReport, Finding, HandoffReport, REPORT_SCHEMA, RootKind,
};
use super::rows::{self, IdIndex, RowContext};
use super::rules::ROW_RULES;
use super::signal;
use super::uia::{self, HandoffLookup, UiaChecker};
use crate::contract::schemas::ContractSet;

/// An entry of the spool worth a report.
enum Entry {
    Folder(PathBuf),
    Symlink(PathBuf),
}

impl Entry {
    fn path(&self) -> &Path {
        match self {
            Entry::Folder(path) | Entry::Symlink(path) => path,
        }
    }
}

/// A folder is taken for one handoff (not a spool) when it holds a handoff's own entries.
fn is_handoff(dir: &Path) -> bool {
    [METADATA_DB, MEDIA_DIR, "activity"]
        .iter()
        .any(|name| std::fs::symlink_metadata(dir.join(name)).is_ok())
}

fn environment(code: &'static str, message: String, path: &Path) -> anyhow::Error {
    ConformError {
        code,
        message,
        path: path.to_path_buf(),
    }
    .into()
}

/// The spool's folders and symlinks, in name order.
fn list(spool: &Path) -> anyhow::Result<Vec<Entry>> {
    let unreadable =
        |e: std::io::Error| environment("spool_unreadable", format!("read the spool: {e}"), spool);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(spool)
        .map_err(unreadable)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    paths.sort();
    Ok(paths
        .into_iter()
        .filter_map(|path| match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => Some(Entry::Symlink(path)),
            Ok(meta) if meta.is_dir() => Some(Entry::Folder(path)),
            _ => None,
        })
        .collect())
}

/// Checks the spool (or the one handoff) at `root` against `set`.
pub fn check(set: &ContractSet, root: &Path) -> anyhow::Result<ConformReport> {
    let started = Instant::now();
    match std::fs::metadata(root) {
        Err(e) => {
            return Err(environment(
                "spool_unreadable",
                format!("no spool or handoff folder here: {e}"),
                root,
            ));
        }
        Ok(meta) if !meta.is_dir() => {
            return Err(environment(
                "spool_unreadable",
                "not a folder".to_owned(),
                root,
            ));
        }
        Ok(_) => {}
    }
    let (kind, entries) = if is_handoff(root) {
        (RootKind::Handoff, vec![Entry::Folder(root.to_path_buf())])
    } else {
        (RootKind::Spool, list(root)?)
    };
    if entries.is_empty() {
        return Err(environment(
            "spool_empty",
            "neither a handoff nor a spool holding one: nothing to check".to_owned(),
            root,
        ));
    }
    let paths: Vec<PathBuf> = entries.iter().map(|e| e.path().to_path_buf()).collect();
    let names: Vec<String> = paths
        .iter()
        .map(|p| {
            p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let mut ids = IdIndex::default();
    let mut handoffs = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let report = match entry {
            Entry::Symlink(path) => {
                let mut out = Collector::default();
                out.checked(&["spool_entry_symlink"]);
                let target = std::fs::read_link(path)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                out.add(Finding::new(
                    "spool_entry_symlink",
                    ".",
                    format!("a symlink to {target:?}: the drain skips it"),
                ));
                let mut report = HandoffReport {
                    name: names[index].clone(),
                    path: path.clone(),
                    ..HandoffReport::default()
                };
                out.finish(&mut report);
                report
            }
            Entry::Folder(path) => {
                let spool = Spool {
                    set,
                    names: &names,
                    paths: &paths,
                };
                spool.handoff(path, index, &mut ids)
            }
        };
        handoffs.push(report);
    }
    let files: Vec<SchemaFile> = set
        .docs
        .values()
        .map(|doc| SchemaFile {
            name: doc.file_name.clone(),
            text: doc.text.clone(),
        })
        .collect();
    let findings_total = handoffs.iter().map(HandoffReport::total_findings).sum();
    Ok(ConformReport {
        schema: REPORT_SCHEMA,
        root: root.to_path_buf(),
        kind,
        contract_version: CONTRACT_VERSION.to_owned(),
        schema_hash: schema_hash_of(&files)?,
        conforming: findings_total == 0,
        handoffs_checked: handoffs.len() as u64,
        findings_total,
        handoffs,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// The database side files that say a connection is open: a `-wal` (any size), a non-empty
/// `-journal` (an empty one is what `journal_mode=TRUNCATE` leaves after a commit).
fn open_side_files(handoff: &Path) -> Vec<String> {
    [("-wal", false), ("-journal", true)]
        .into_iter()
        .filter_map(|(suffix, needs_bytes)| {
            let name = format!("{METADATA_DB}{suffix}");
            let meta = std::fs::symlink_metadata(handoff.join(&name)).ok()?;
            (!needs_bytes || meta.len() > 0).then_some(name)
        })
        .collect()
}

/// The file that differs between two looks.
fn changed_file(first: &HandoffStamp, second: &HandoffStamp) -> String {
    if first.db != second.db {
        return METADATA_DB.to_owned();
    }
    first
        .media
        .iter()
        .find(|(relpath, stamp)| second.media.get(*relpath) != Some(*stamp))
        .map(|(relpath, _)| relpath)
        .or_else(|| {
            second
                .media
                .keys()
                .find(|relpath| !first.media.contains_key(*relpath))
        })
        .map_or_else(|| MEDIA_DIR.to_owned(), |r| format!("{MEDIA_DIR}/{r}"))
}

/// What every handoff of one check shares.
struct Spool<'a> {
    set: &'a ContractSet,
    names: &'a [String],
    paths: &'a [PathBuf],
}

impl Spool<'_> {
    /// A snapshot that an earlier handoff of the spool holds, read from it.
    fn earlier_snapshot(&self, ids: &IdIndex, index: usize, id: &str) -> Lookup {
        let Some(holder) = ids.handoff_of(id).filter(|h| *h < index) else {
            return Lookup::Missing;
        };
        let Some(opened) = self.paths.get(holder).and_then(|p| database::reopen(p)) else {
            return Lookup::Missing;
        };
        match payload_of(&opened, id) {
            Ok(Some(bytes)) => Lookup::Found(bytes),
            Ok(None) => Lookup::Missing,
            Err(e) => Lookup::Failed(e.to_string()),
        }
    }

    /// Judges the handoff at `path`, the `index`-th entry of the spool.
    fn handoff(&self, path: &Path, index: usize, ids: &mut IdIndex) -> HandoffReport {
        let started = Instant::now();
        let mut out = Collector::default();
        let mut report = HandoffReport {
            name: self.names[index].clone(),
            path: path.to_path_buf(),
            ..HandoffReport::default()
        };
        // A folder, not a symlink: the one spool-level rule holds for it.
        out.checked(&["spool_entry_symlink", "not_closed", "handoff_unreadable"]);
        let first = stamp::take(path);
        let mut open_files: BTreeSet<String> = open_side_files(path).into_iter().collect();
        let tree = media::check_tree(path, &mut out);
        report.media_files = tree.files;
        if let Some(opened) = database::open(path, &mut out) {
            report.layout = Some(opened.layout.name());
            database::check_layout(&opened, &mut out);
            out.checked(ROW_RULES);
            let earlier = |id: &str| self.earlier_snapshot(ids, index, id);
            let lookup = HandoffLookup {
                opened: &opened,
                earlier: &earlier,
            };
            let mut context = RowContext {
                set: self.set,
                earlier: ids,
                names: self.names,
                index,
                current: IdIndex::default(),
            };
            let mut uia_checker = UiaChecker::default();
            let (mut frames, mut verified) = (0u64, 0u64);
            let streamed = database::for_each_row(&opened, |row| {
                let Some(seen) = rows::check_row(&mut context, &row, &mut out) else {
                    return;
                };
                let Some(payload) = &seen.payload else {
                    return;
                };
                let is_frame = seen.record_type.as_deref() == Some(FRAME_RECORD_TYPE);
                frames += u64::from(is_frame);
                verified += media::check_refs(path, &seen.id, is_frame, payload, &tree, &mut out);
                if is_frame {
                    uia_checker.check_frame(&seen.id, payload, &lookup, &mut out);
                }
                if seen.record_type.as_deref() == Some(SNAPSHOT_RECORD_TYPE)
                    && let (Cell::Text(bytes) | Cell::Blob(bytes), Value::Object(map)) =
                        (&row.values.payload, payload)
                {
                    uia::check_sections(&seen.id, bytes, rows::unwrapped(map), &mut out);
                }
            });
            match streamed {
                Ok(rows) => report.rows = rows,
                Err(e) => out.add(Finding::new(
                    "metadata_corrupt",
                    METADATA_DB,
                    format!("read the rows: {e}"),
                )),
            }
            report.frames = frames;
            report.blobs_verified = verified;
            let current = context.current;
            ids.absorb(current);
        }
        signal::check_signal(self.set, path, &mut out);
        // The second look: the same files, nothing open.
        open_files.extend(open_side_files(path));
        for name in &open_files {
            out.add(Finding::new(
                "not_closed",
                name.clone(),
                format!("{name} exists: a connection still has the database open, or it was copied mid-write"),
            ));
        }
        match (first, stamp::take(path)) {
            (Ok(first), Ok(second)) => {
                if let Some(what) = stamp::difference(&first, &second) {
                    out.add(Finding::new(
                        "not_closed",
                        changed_file(&first, &second),
                        format!("changed while it was checked: {what}"),
                    ));
                }
            }
            (Err(e), _) | (_, Err(e)) => out.add(Finding::new(
                "handoff_unreadable",
                ".",
                format!("stamp the handoff's files: {e}"),
            )),
        }
        out.finish(&mut report);
        report.duration_ms = started.elapsed().as_millis() as u64;
        report
    }
}
