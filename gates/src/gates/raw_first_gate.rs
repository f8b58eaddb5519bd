//! The `raw-first` gate: the DataRoot keeps every handoff payload and media file byte for byte
//! after ingest and after Stage 2, and sanitising happens only on the explicit export path.
//!
//! - Bytes: each handoff row's payload equals the DataRoot row's ([`raw_mismatches`]); the
//!   DataRoot's evidence table holds no other rows; each media file equals its DataRoot copy.
//! - Export: an export with media leaves the DataRoot's digest unchanged, verifies, keeps ids
//!   and times, carries no e-mail address the DataRoot rows had, and is audited.
//! - Module graph of `core/src` ([`sanitize_violations`]): no module outside `export` reaches
//!   `export::sanitize`, and nothing in ingest, Stage 2, query or the server reaches `export`.
//! - Planted: a payload rewritten and a media byte flipped in a copy of the DataRoot, and the
//!   fixture tree `fixtures/module-graph/ingest-uses-sanitize`, must each be caught.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use autocapture_core::base::clock::SteppingClock;
use autocapture_core::contract::sha256_file;
use autocapture_core::export::{self, ExportOptions, Rules, Selection};
use autocapture_core::handoff::{HandoffDb, HandoffError};
use autocapture_core::stage1::ingest::{IngestOptions, ingest_handoff};
use autocapture_core::store::DataRoot;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use serde_json::{Value, json};

use crate::corpus::build::BUILD_TIME;
use crate::corpus::copies::{copy_tree, private_spool};
use crate::corpus::digest::digest;
use crate::harness::gate::{Evidence, Gate, GateContext, GateOutcome};
use crate::probe::module_graph::ModuleGraph;

pub struct RawFirstGate;

/// The sanitiser's module.
pub const SANITIZE_MODULE: &str = "crate::export::sanitize";
/// The export area.
pub const EXPORT_MODULE: &str = "crate::export";
/// The command line: `autocapture export` is the user's explicit entry to the export path, so it
/// may reach the sanitiser, but only through the export area's own entry points, never by using
/// the sanitiser itself.
pub const COMMAND_LINE_MODULE: &str = "crate::cli";
/// Modules on the raw path: they must not reach the export area at all.
pub const RAW_PATH_MODULES: [&str; 4] = [
    "crate::stage1::ingest",
    "crate::stage2",
    "crate::query",
    "crate::server",
];

/// A difference between a handoff and the DataRoot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// `row_missing`, `payload_rewritten`, `row_extra`, `media_missing` or `media_changed`.
    pub kind: &'static str,
    /// The record id or media path.
    pub record: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
}

/// What a comparison covered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Compared {
    pub rows: u64,
    pub media_files: u64,
    pub media_bytes: u64,
}

fn sha(bytes: &[u8]) -> String {
    autocapture_core::contract::sha256_hex(bytes)
}

fn media_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> anyhow::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("list {}", dir.display()))? {
        let path = entry?.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            media_files(root, &path, out)?;
        } else if meta.is_file() {
            out.push(
                path.strip_prefix(root)?
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
        }
    }
    Ok(())
}

/// Compares, row by row and file by file, the handoffs with the DataRoot: every handoff
/// payload must be in the DataRoot byte for byte, the DataRoot's evidence table must hold
/// nothing else, and every handoff media file must have an identical DataRoot copy.
pub fn raw_mismatches(
    handoffs: &[PathBuf],
    data: &DataRoot,
) -> anyhow::Result<(Compared, Vec<Mismatch>)> {
    let mut compared = Compared::default();
    let mut mismatches = Vec::new();
    let conn = Connection::open_with_flags(
        autocapture_core::store::read_only_uri(&data.metadata_db()),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
    )
    .with_context(|| format!("open {}", data.metadata_db().display()))?;
    let mut lookup = conn.prepare("SELECT payload FROM metadata WHERE id = ?1")?;
    let mut ids = BTreeSet::new();
    for handoff in handoffs {
        let db = HandoffDb::open(handoff)?;
        db.for_each_row(|_, row| -> Result<(), anyhow::Error> {
            compared.rows += 1;
            let stored: Option<Vec<u8>> = lookup
                .query_row([&row.id], |r| {
                    Ok(match r.get_ref(0)? {
                        ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
                        ValueRef::Integer(n) => n.to_string().into_bytes(),
                        ValueRef::Real(x) => x.to_string().into_bytes(),
                        ValueRef::Null => Vec::new(),
                    })
                })
                .optional()?;
            match stored {
                None => mismatches.push(Mismatch {
                    kind: "row_missing",
                    record: row.id.clone(),
                    expected: Some(sha(&row.payload())),
                    actual: None,
                }),
                Some(bytes) if bytes.as_slice() != &*row.payload() => mismatches.push(Mismatch {
                    kind: "payload_rewritten",
                    record: row.id.clone(),
                    expected: Some(sha(&row.payload())),
                    actual: Some(sha(&bytes)),
                }),
                Some(_) => {}
            }
            ids.insert(row.id);
            Ok(())
        })
        .map_err(|e: anyhow::Error| match e.downcast::<HandoffError>() {
            Ok(inner) => anyhow::Error::from(inner),
            Err(other) => other,
        })?;
        let media_root = handoff.join("media");
        let mut files = Vec::new();
        media_files(&media_root, &media_root, &mut files)?;
        files.sort();
        for relpath in files {
            compared.media_files += 1;
            let (expected, size) = sha256_file(&media_root.join(&relpath))?;
            compared.media_bytes += size;
            let copy = data.media_dir().join(&relpath);
            if !copy.is_file() {
                mismatches.push(Mismatch {
                    kind: "media_missing",
                    record: relpath,
                    expected: Some(expected),
                    actual: None,
                });
                continue;
            }
            let (actual, _) = sha256_file(&copy)?;
            if actual != expected {
                mismatches.push(Mismatch {
                    kind: "media_changed",
                    record: relpath,
                    expected: Some(expected),
                    actual: Some(actual),
                });
            }
        }
    }
    let mut all = conn.prepare("SELECT id FROM metadata ORDER BY id")?;
    let stored_ids = all.query_map([], |r| r.get::<_, String>(0))?;
    for id in stored_ids {
        let id = id?;
        if !ids.contains(&id) {
            mismatches.push(Mismatch {
                kind: "row_extra",
                record: id,
                expected: None,
                actual: Some("a row no handoff holds".into()),
            });
        }
    }
    Ok((compared, mismatches))
}

/// A module that may not reach what it reaches, with the chain of uses that leads there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub module: String,
    pub rule: &'static str,
    pub chain: Vec<String>,
}

/// The module graph of the crate at `src_dir` checked against the export boundary. Errors when
/// the graph lacks the modules the rules talk about (a rename would make the rules vacuous) or
/// when the export path does not reach the sanitiser (the graph would be blind).
pub fn sanitize_violations(src_dir: &Path) -> anyhow::Result<(usize, Vec<Violation>)> {
    let graph = ModuleGraph::load(src_dir)?;
    for required in RAW_PATH_MODULES
        .iter()
        .chain(&[EXPORT_MODULE, SANITIZE_MODULE])
    {
        anyhow::ensure!(
            graph.modules.contains_key(*required),
            "the module graph of {} has no {required}",
            src_dir.display()
        );
    }
    anyhow::ensure!(
        graph
            .reachable_from(EXPORT_MODULE)
            .contains(SANITIZE_MODULE),
        "{EXPORT_MODULE} does not reach {SANITIZE_MODULE} in {}: the graph misses the export path",
        src_dir.display()
    );
    let mut violations = Vec::new();
    for (name, module) in &graph.modules {
        if ModuleGraph::within(name, COMMAND_LINE_MODULE) {
            if let Some(used) = module
                .uses
                .iter()
                .find(|used| ModuleGraph::within(used, SANITIZE_MODULE))
            {
                violations.push(Violation {
                    module: name.clone(),
                    rule: "the command line reaches the sanitiser only through export",
                    chain: vec![name.clone(), used.clone()],
                });
            }
        } else if !ModuleGraph::within(name, EXPORT_MODULE)
            && let Some(chain) = graph.path_between(name, SANITIZE_MODULE)
        {
            violations.push(Violation {
                module: name.clone(),
                rule: "only the export area reaches the sanitiser",
                chain,
            });
        }
        if RAW_PATH_MODULES
            .iter()
            .any(|raw| ModuleGraph::within(name, raw))
        {
            let reached = graph
                .reachable_from(name)
                .into_iter()
                .find(|m| ModuleGraph::within(m, EXPORT_MODULE));
            if let Some(target) = reached {
                violations.push(Violation {
                    module: name.clone(),
                    rule: "ingest, Stage 2, query and the server never reach export",
                    chain: graph.path_between(name, &target).unwrap_or_default(),
                });
            }
        }
    }
    Ok((graph.modules.len(), violations))
}

/// Records one check per kind of mismatch; evidence names the records.
pub fn check_raw(outcome: &mut GateOutcome, stage: &str, mismatches: &[Mismatch]) {
    let name = format!("payload and media bytes equal the handoffs' after {stage}");
    outcome.check(
        &name,
        mismatches.is_empty(),
        format!("{} differences", mismatches.len()),
    );
    for mismatch in mismatches.iter().take(10) {
        outcome.evidence.push(Evidence {
            check: name.clone(),
            record: Some(mismatch.record.clone()),
            expected: mismatch.expected.clone().map(Value::from),
            actual: mismatch.actual.clone().map(Value::from),
            detail: Some(mismatch.kind.to_owned()),
        });
    }
}

/// Counts e-mail-like strings (`x@y.z`): a scan independent of the sanitiser's patterns.
fn emails_in(text: &str) -> usize {
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-');
    let mut count = 0;
    for (at, _) in text.match_indices('@') {
        let local = at > 0 && word(bytes[at - 1]);
        let domain: Vec<u8> = bytes[at + 1..]
            .iter()
            .copied()
            .take_while(|b| word(*b))
            .collect();
        let dotted = domain
            .iter()
            .rposition(|b| *b == b'.')
            .is_some_and(|dot| dot > 0 && domain.len() - dot > 2);
        count += usize::from(local && dotted);
    }
    count
}

/// Runs an export of the DataRoot's first 15 minutes with media and checks what the export
/// path promises.
fn check_export(outcome: &mut GateOutcome, work: &Path, data: &DataRoot) -> anyhow::Result<()> {
    let conn = Connection::open_with_flags(
        autocapture_core::store::read_only_uri(&data.metadata_db()),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
    )?;
    let first: String = conn.query_row(
        "SELECT min(ts_utc) FROM metadata WHERE record_type = 'evidence.capture.frame'",
        [],
        |r| r.get(0),
    )?;
    let start = autocapture_core::contract::parse_ts_utc(&first)?;
    let end = autocapture_core::contract::format_ts_utc(start + time::Duration::minutes(15));
    let before = digest(&data.root)?;
    let out = work.join("bundle");
    let clock = SteppingClock::new(BUILD_TIME, time::Duration::ZERO);
    let report = export::export(
        data,
        &out,
        &ExportOptions {
            selection: Selection::TimeRange {
                from: first.clone(),
                to: end,
            },
            include_media: true,
            rules: Rules::default(),
        },
        &clock,
    )?;
    outcome.measure("bundle_files", report.files);
    outcome.measure("bundle_records", report.counts.metadata_records);
    outcome.check(
        "an export leaves the DataRoot's digest unchanged",
        digest(&data.root)? == before,
        "the evidence, derived rows or media changed during an export",
    );
    let verified = export::verify_bundle(&out)?;
    outcome.check(
        "the bundle verifies",
        verified.ok,
        format!("{:?}", verified.problems),
    );
    let records = std::fs::read_to_string(out.join("records/metadata.ndjson"))?;
    let (mut raw_emails, mut bundle_emails, mut kept) = (0, 0, true);
    let mut stmt = conn.prepare("SELECT ts_utc, payload FROM metadata WHERE id = ?1")?;
    for line in records.lines() {
        let value: Value = serde_json::from_str(line)?;
        let id = value["id"].as_str().unwrap_or_default();
        let stored: Option<(Option<String>, String)> = stmt
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match stored {
            Some((ts, payload)) => {
                kept &= value["ts_utc"].as_str() == ts.as_deref();
                raw_emails += emails_in(&payload);
            }
            None => kept = false,
        }
        bundle_emails += emails_in(line);
    }
    outcome.check(
        "bundle records keep their ids and times",
        kept,
        "a bundle record's id or ts_utc is not the DataRoot's",
    );
    outcome.check(
        "the exported rows hold personal data in the DataRoot",
        raw_emails > 0,
        "no e-mail address in the exported rows: the sanitisation check below proves nothing",
    );
    outcome.check_eq(
        "no e-mail address survives into the bundle",
        Some(&out.display().to_string()),
        json!(0),
        json!(bundle_emails),
    );
    let audited = autocapture_core::audit::AuditLog::in_data_root(&data.root).verify()?;
    let last = std::fs::read_to_string(data.root.join("audit.ndjson"))?
        .lines()
        .last()
        .map(serde_json::from_str::<Value>)
        .transpose()?
        .unwrap_or(Value::Null);
    outcome.check(
        "the export is audited",
        audited.lines > 0
            && last["action"] == "export"
            && last["details"]["bundle_digest"] == json!(report.bundle_digest),
        format!("last audit line: {last}"),
    );
    Ok(())
}

/// Plants a sanitising rewrite of one payload and a flipped media byte in a copy of the
/// DataRoot; the comparison must name both.
fn check_planted_rewrite(
    outcome: &mut GateOutcome,
    work: &Path,
    handoffs: &[PathBuf],
    data: &DataRoot,
) -> anyhow::Result<()> {
    let planted = DataRoot::new(work.join("planted"));
    copy_tree(&data.root, &planted.root)?;
    let conn = Connection::open(planted.metadata_db())?;
    let victim: String = conn.query_row(
        "SELECT id FROM metadata WHERE payload LIKE '%@%' ORDER BY id LIMIT 1",
        [],
        |r| r.get(0),
    )?;
    conn.execute(
        "UPDATE metadata SET payload = replace(payload, '@', '*') WHERE id = ?1",
        [&victim],
    )?;
    drop(conn);
    let mut files = Vec::new();
    media_files(&planted.media_dir(), &planted.media_dir(), &mut files)?;
    files.sort();
    let blob = files.first().context("the DataRoot has no media")?.clone();
    let path = planted.media_dir().join(&blob);
    let mut bytes = std::fs::read(&path)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    // The copy may share its inode with the handoff's file: replace it, never edit in place.
    std::fs::remove_file(&path)?;
    std::fs::write(&path, bytes)?;
    let (_, mismatches) = raw_mismatches(handoffs, &planted)?;
    let found: BTreeSet<(String, String)> = mismatches
        .iter()
        .map(|m| (m.kind.to_owned(), m.record.clone()))
        .collect();
    outcome.check_eq(
        "planted payload rewrite is caught",
        Some(&victim),
        json!(true),
        json!(found.contains(&("payload_rewritten".to_owned(), victim.clone()))),
    );
    outcome.check_eq(
        "planted media change is caught",
        Some(&blob),
        json!(true),
        json!(found.contains(&("media_changed".to_owned(), blob.clone()))),
    );
    Ok(())
}

impl Gate for RawFirstGate {
    fn name(&self) -> &'static str {
        "raw-first"
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let mut outcome = GateOutcome::default();
        let (_, handoffs) = private_spool(&ctx.corpus, &ctx.work)?;
        let data = DataRoot::new(ctx.work.join("data"));
        let clock = SteppingClock::new(BUILD_TIME, time::Duration::ZERO);
        for handoff in &handoffs {
            ingest_handoff(
                handoff,
                &data,
                &IngestOptions {
                    workers: ctx.jobs.max(1),
                    ..IngestOptions::default()
                },
                &clock,
            )?;
        }
        let (compared, mismatches) = raw_mismatches(&handoffs, &data)?;
        outcome.measure("rows_compared", compared.rows);
        outcome.measure("media_files_compared", compared.media_files);
        outcome.measure("media_bytes_compared", compared.media_bytes);
        outcome.check(
            "rows and media were compared",
            compared.rows > 0 && compared.media_files > 0,
            "the corpus gave nothing to compare",
        );
        check_raw(&mut outcome, "ingest", &mismatches);
        crate::corpus::build::index_while_idle(&data, &clock)?;
        let (_, mismatches) = raw_mismatches(&handoffs, &data)?;
        check_raw(&mut outcome, "Stage 2", &mismatches);
        check_export(&mut outcome, &ctx.work, &data)?;
        let (_, mismatches) = raw_mismatches(&handoffs, &data)?;
        check_raw(&mut outcome, "an export", &mismatches);
        check_planted_rewrite(&mut outcome, &ctx.work, &handoffs, &data)?;

        let root = crate::contract::workspace_root()?;
        let (modules, violations) = sanitize_violations(&root.join("core").join("src"))?;
        outcome.measure("modules", modules as u64);
        outcome.check(
            "sanitising code is reachable only from the export path",
            violations.is_empty(),
            violations
                .iter()
                .map(|v| format!("{} ({}): {}", v.module, v.rule, v.chain.join(" -> ")))
                .collect::<Vec<_>>()
                .join("; "),
        );
        let fixture = root
            .join("fixtures")
            .join("module-graph")
            .join("ingest-uses-sanitize")
            .join("src");
        let (_, planted) = sanitize_violations(&fixture)?;
        outcome.check(
            "planted module-graph violation is caught",
            planted.iter().any(|v| v.module == "crate::stage1::ingest"),
            format!("{} reported {planted:?}", fixture.display()),
        );
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_scan() {
        assert_eq!(emails_in("a dana@northwind.example b"), 1);
        assert_eq!(emails_in("x@y.co and p.q@r.s.example"), 2);
        assert_eq!(emails_in("dana@build-01:~$ and ****@**** and @x.com"), 0);
    }
}
