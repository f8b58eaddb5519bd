//! Stage 2 (contract §6): the search index, built only while the user is idle.
//!
//! It walks the Stage-1-complete frames in time order and, for each one not yet processed, puts
//! its snapshot's UIA docs into an FTS5 index (once per doc), records the frame as searchable and
//! writes a `derived.ingest.stage2.complete` marker, all in `derived/stage2.db`. The activity gate
//! is read before every frame: when the user becomes active the current batch commits and the run
//! stops (`paused_active`). Each batch commits with its watermark, so a stopped or killed run
//! resumes where it left off and never indexes a frame twice. Per-frame durations go to the
//! processing trace `derived/stage2_trace.ndjson` for the SLA estimator.
//!
//! - [`contents`]: distinct doc contents with their first and last frame, kept with the index.
//! - [`focus_runs`]: runs of one focused window, kept with the index for durations and timelines.

pub mod contents;
pub mod focus_runs;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::{Value, json};
use thiserror::Error;

use crate::activity::{ActivityState, GateOverride, read_state, signal_path};
use crate::audit::{AuditError, AuditEvent, AuditLog};
use crate::base::clock::Clock;
use crate::base::crash;
use crate::contract::{derived_id, format_ts_utc, sha256_canonical};
use crate::store::{
    DERIVED_DIR, DataRoot, FRAME_RECORD_TYPE, LockError, STAGE1_COMPLETE_RECORD_TYPE,
    lock_data_root, read_only_uri,
};
use crate::uia::{Section, doc_id};

pub const TRACE_FILE: &str = "stage2_trace.ndjson";
pub const STAGE2_COMPLETE_RECORD_TYPE: &str = "derived.ingest.stage2.complete";
pub const PROVIDER_NAME: &str = "autocapture.stage2.fts5";
/// Frames per transaction.
pub const BATCH: usize = 256;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS search_docs (
    rowid INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    source_record_id TEXT NOT NULL,
    uia_record_id TEXT NOT NULL,
    ts_utc TEXT,
    window_title TEXT NOT NULL,
    process_name TEXT NOT NULL,
    hwnd TEXT,
    text TEXT NOT NULL,
    bboxes TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    provider_fingerprint TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(
    text, window_title, process_name, content = 'search_docs', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS search_frames (
    frame_id TEXT PRIMARY KEY,
    ts_utc TEXT NOT NULL,
    uia_record_id TEXT NOT NULL,
    window_title TEXT NOT NULL,
    process_name TEXT NOT NULL,
    hwnd TEXT
);
CREATE INDEX IF NOT EXISTS idx_search_frames_ts ON search_frames(ts_utc, frame_id);
CREATE INDEX IF NOT EXISTS idx_search_frames_uia_ts ON search_frames(uia_record_id, ts_utc, frame_id);
CREATE TABLE IF NOT EXISTS derived (
    id TEXT PRIMARY KEY, record_type TEXT NOT NULL, ts_utc TEXT, payload TEXT NOT NULL, run_id TEXT, source_record_id TEXT
);
CREATE TABLE IF NOT EXISTS stage2_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

#[derive(Debug, Clone)]
pub struct Stage2Options {
    pub activity_signal: Option<PathBuf>,
    pub fresh_seconds: u32,
    /// An operator's override of the idle gate (`stage2 run --now`); audited when it applies.
    pub gate_override: GateOverride,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage2State {
    /// Every Stage-1-complete frame is searchable.
    Completed,
    /// The user is active (or the signal cannot be trusted): nothing more was done.
    PausedActive,
}

/// The provider that produced the index, recorded on every derived record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderFingerprint {
    pub name: &'static str,
    pub version: &'static str,
    pub settings_hash: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage2Report {
    pub state: Stage2State,
    pub activity: ActivityState,
    pub frames_processed: u64,
    pub docs_indexed: u64,
    pub frames_searchable: u64,
    pub frames_pending: u64,
    pub watermark: Option<Watermark>,
    pub provider: ProviderFingerprint,
    pub duration_ms: u64,
    pub frames_per_s: f64,
}

/// The last frame committed: Stage 2 resumes after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Watermark {
    pub ts_utc: String,
    pub frame_id: String,
    pub frames_total: u64,
}

#[derive(Debug, Error)]
pub enum Stage2Error {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    HeavyInStage1(#[from] crate::base::stage1_context::HeavyInStage1),
    #[error("write stage-2 index {path}: {reason}")]
    Store { path: PathBuf, reason: String },
    #[error("append processing trace {path}: {source}")]
    Trace {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl Stage2Error {
    pub fn code(&self) -> &'static str {
        match self {
            Stage2Error::Lock(inner) => inner.code(),
            Stage2Error::HeavyInStage1(inner) => inner.code(),
            Stage2Error::Store { .. } => "stage2_store_error",
            Stage2Error::Trace { .. } => "stage2_trace_error",
            Stage2Error::Audit(inner) => inner.code(),
        }
    }
}

fn store_err(path: &Path) -> impl Fn(rusqlite::Error) -> Stage2Error + '_ {
    move |e| Stage2Error::Store {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The `stage2_state` key holding the rowid of the newest frame row of the evidence database when
/// a run last left no Stage-1-complete frame pending: every frame up to it was either indexed or
/// never complete, and any frame above it was ingested since. It names a row of the evidence
/// database, not of the derived one, because the two commit one after the other: a query reads
/// it against the same database its other figures come from.
pub const COMPLETE_THROUGH_KEY: &str = "frames_through_rowid";

/// `derived/stage2.db` of a DataRoot.
pub fn stage2_db(data_root: &DataRoot) -> PathBuf {
    data_root.stage2_db()
}

/// The fingerprint of this build's index provider.
pub fn provider() -> ProviderFingerprint {
    let settings = json!({"tokenizer": "unicode61 remove_diacritics 2", "fields": ["text", "window_title", "process_name"], "text": "node names and values, one per line"});
    ProviderFingerprint {
        name: PROVIDER_NAME,
        version: env!("CARGO_PKG_VERSION"),
        settings_hash: sha256_canonical(&settings).unwrap_or_default(),
    }
}

/// The searchable text of a UIA doc: each node's name, one per line.
fn doc_text(doc: &Value) -> String {
    doc["meta"]["uia_nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .filter_map(|n| n["name"].as_str())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// Runs Stage 2 on `data_root` if the activity gate allows.
pub fn run_stage2(
    data_root: &DataRoot,
    options: &Stage2Options,
    clock: &dyn Clock,
) -> Result<Stage2Report, Stage2Error> {
    crate::base::stage1_context::refuse_heavy("stage2::run_stage2")?;
    let started = Instant::now();
    let db_path = stage2_db(data_root);
    let signal = signal_path(&data_root.root, options.activity_signal.as_deref());
    let gate = || {
        let state = read_state(signal.as_deref(), clock.now(), options.fresh_seconds);
        options.gate_override.apply(state)
    };
    // Fail closed: the gate is read before anything is locked, created or opened for writing.
    let mut activity = gate();
    if !activity.idle {
        return paused_before_start(data_root, activity, started);
    }
    let _lock = lock_data_root(data_root)?;
    // Audited only once the run holds the DataRoot: a run refused for a held lock did nothing.
    if activity.reason == "operator_override" {
        let event = AuditEvent {
            action: "stage2.run_by_hand".into(),
            actor: "autocapture".into(),
            outcome: "started".into(),
            details: json!({"override": options.gate_override, "activity": activity.detail}),
        };
        AuditLog::in_data_root(&data_root.root).append(&event, clock.now())?;
    }
    let conn = Connection::open(&db_path).map_err(store_err(&db_path))?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .map_err(store_err(&db_path))?;
    conn.execute_batch(SCHEMA).map_err(store_err(&db_path))?;
    conn.execute_batch(focus_runs::SCHEMA)
        .map_err(store_err(&db_path))?;
    conn.execute_batch(contents::SCHEMA)
        .map_err(store_err(&db_path))?;
    if contents::missing(&conn).map_err(store_err(&db_path))? {
        let tx = conn.unchecked_transaction().map_err(store_err(&db_path))?;
        contents::rebuild(&tx).map_err(store_err(&db_path))?;
        tx.commit().map_err(store_err(&db_path))?;
    }
    if focus_runs::missing(&conn).map_err(store_err(&db_path))? {
        let tx = conn.unchecked_transaction().map_err(store_err(&db_path))?;
        focus_runs::update(&tx, None).map_err(store_err(&db_path))?;
        tx.commit().map_err(store_err(&db_path))?;
    }
    conn.execute(
        "ATTACH DATABASE ?1 AS m",
        [read_only_uri(&data_root.metadata_db())],
    )
    .map_err(store_err(&db_path))?;
    conn.execute(
        "ATTACH DATABASE ?1 AS d",
        [read_only_uri(&data_root.derived_db())],
    )
    .map_err(store_err(&db_path))?;
    let provider = provider();
    let fingerprint = serde_json::to_string(&provider).unwrap_or_default();
    let trace_path = data_root.root.join(DERIVED_DIR).join(TRACE_FILE);
    let mut watermark: Option<Watermark> = conn
        .query_row(
            "SELECT value FROM stage2_state WHERE key = 'watermark'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .map_err(store_err(&db_path))?
        .and_then(|text| serde_json::from_str(&text).ok());
    let (mut processed, mut docs_indexed) = (0u64, 0u64);
    let mut paused = !activity.idle;
    // Keyset over (ts, id) through the (record_type, ts_utc, source_record_id) index; frames
    // already searchable are skipped by the anti-join, so frames ingested late (older timestamps)
    // are still picked up. Frames without a timestamp come last, in id order.
    let mut cursor = (String::new(), String::new());
    let mut timeless = false;
    'batches: while !paused {
        let batch: Vec<(String, String)> = {
            let sql = if timeless {
                "SELECT x.source_record_id, '' FROM d.derived x
                 WHERE x.record_type = ?1 AND x.ts_utc IS NULL AND ?2 = '' AND x.source_record_id > ?3
                   AND NOT EXISTS (SELECT 1 FROM main.search_frames f WHERE f.frame_id = x.source_record_id)
                 ORDER BY x.source_record_id LIMIT ?4"
            } else {
                "SELECT x.source_record_id, x.ts_utc FROM d.derived x
                 WHERE x.record_type = ?1 AND x.ts_utc IS NOT NULL AND (x.ts_utc, x.source_record_id) > (?2, ?3)
                   AND NOT EXISTS (SELECT 1 FROM main.search_frames f WHERE f.frame_id = x.source_record_id)
                 ORDER BY x.ts_utc, x.source_record_id LIMIT ?4"
            };
            let mut stmt = conn.prepare_cached(sql).map_err(store_err(&db_path))?;
            let rows = stmt
                .query_map(
                    params![
                        STAGE1_COMPLETE_RECORD_TYPE,
                        cursor.0,
                        cursor.1,
                        BATCH as i64
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(store_err(&db_path))?;
            rows.collect::<Result<_, _>>()
                .map_err(store_err(&db_path))?
        };
        if batch.is_empty() && !timeless {
            timeless = true;
            cursor = (String::new(), String::new());
            continue;
        }
        if batch.is_empty() {
            break;
        }
        let tx = conn.unchecked_transaction().map_err(store_err(&db_path))?;
        let mut trace = Vec::with_capacity(batch.len());
        // The earliest timed frame of the batch: where the focus runs must be brought up to date.
        let mut earliest: Option<(String, String)> = None;
        for (frame_id, ts_utc) in &batch {
            activity = gate();
            if !activity.idle {
                paused = true;
                save_watermark(&tx, watermark.as_ref()).map_err(store_err(&db_path))?;
                update_runs(&tx, earliest.as_ref()).map_err(store_err(&db_path))?;
                tx.commit().map_err(store_err(&db_path))?;
                append_trace(&trace_path, &trace)?;
                break 'batches;
            }
            let frame_started = Instant::now();
            let indexed = index_frame(&tx, frame_id, ts_utc, &fingerprint, clock)
                .map_err(store_err(&db_path))?;
            docs_indexed += indexed;
            processed += 1;
            if trace.is_empty() {
                crash::point("stage2.mid_batch");
            }
            let key = (ts_utc.clone(), frame_id.clone());
            if !ts_utc.is_empty() && earliest.as_ref().is_none_or(|e| key < *e) {
                earliest = Some(key);
            }
            let total = watermark.as_ref().map_or(0, |w| w.frames_total) + 1;
            watermark = Some(Watermark {
                ts_utc: ts_utc.clone(),
                frame_id: frame_id.clone(),
                frames_total: total,
            });
            trace.push(json!({
                "schema_version": 1, "record_id": frame_id, "record_type": "evidence.capture.frame", "stage": "stage2.index",
                "ts_utc": ts_utc, "processed_at_utc": format_ts_utc(clock.now()),
                "duration_us": frame_started.elapsed().as_micros() as u64, "docs_indexed": indexed, "worker": 0,
            }));
            cursor = (ts_utc.clone(), frame_id.clone());
        }
        crash::point("stage2.before_watermark");
        save_watermark(&tx, watermark.as_ref()).map_err(store_err(&db_path))?;
        update_runs(&tx, earliest.as_ref()).map_err(store_err(&db_path))?;
        crash::point("stage2.before_commit");
        tx.commit().map_err(store_err(&db_path))?;
        crash::point("stage2.after_index_commit");
        append_trace(&trace_path, &trace)?;
        crash::point("stage2.after_trace");
    }
    if !paused {
        // Text records other producers left in the evidence store (`derived.text.*`).
        activity = gate();
        if activity.idle {
            let tx = conn.unchecked_transaction().map_err(store_err(&db_path))?;
            docs_indexed += index_text_records(&tx, &fingerprint).map_err(store_err(&db_path))?;
            tx.commit().map_err(store_err(&db_path))?;
        } else {
            paused = true;
        }
    }
    let count = |sql: &str| -> Result<u64, Stage2Error> {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(store_err(&db_path))
    };
    let frames_searchable = count("SELECT count(*) FROM main.search_frames")?;
    let frames_pending = conn
        .query_row(
            "SELECT count(*) FROM d.derived x WHERE x.record_type = ?1
             AND NOT EXISTS (SELECT 1 FROM main.search_frames f WHERE f.frame_id = x.source_record_id)",
            [STAGE1_COMPLETE_RECORD_TYPE],
            |r| r.get::<_, i64>(0),
        )
        .map_err(store_err(&db_path))? as u64;
    if !paused && frames_pending == 0 {
        // Every Stage-1-complete frame is indexed: record how far the evidence went, so a query
        // can tell frames ingested later (even with older times) from an index that holds all.
        conn.execute(
            &format!(
                "INSERT INTO stage2_state (key, value) VALUES ('{COMPLETE_THROUGH_KEY}',
                     (SELECT CAST(coalesce(max(rowid), 0) AS TEXT) FROM m.metadata WHERE record_type = ?1))
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value"
            ),
            [FRAME_RECORD_TYPE],
        )
        .map_err(store_err(&db_path))?;
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    Ok(Stage2Report {
        state: if paused {
            Stage2State::PausedActive
        } else {
            Stage2State::Completed
        },
        activity,
        frames_processed: processed,
        docs_indexed,
        frames_searchable,
        frames_pending,
        watermark,
        provider,
        duration_ms: (seconds * 1000.0) as u64,
        frames_per_s: processed as f64 / seconds,
    })
}

/// The report of a run whose gate said "not idle" before it began: nothing locked, created or
/// written; the counts and the watermark read, read-only, from what the DataRoot already holds.
fn paused_before_start(
    data_root: &DataRoot,
    activity: ActivityState,
    started: Instant,
) -> Result<Stage2Report, Stage2Error> {
    let db_path = stage2_db(data_root);
    let derived = data_root.derived_db();
    let conn = Connection::open_in_memory().map_err(store_err(&db_path))?;
    let attach = |path: &Path, name: &str| -> Result<bool, Stage2Error> {
        if !path.is_file() {
            return Ok(false);
        }
        conn.execute(
            &format!("ATTACH DATABASE ?1 AS {name}"),
            [read_only_uri(path)],
        )
        .map_err(store_err(path))?;
        Ok(true)
    };
    let indexed = attach(&db_path, "s")?;
    let stage1 = attach(&derived, "d")?;
    let count = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> Result<u64, Stage2Error> {
        conn.query_row(sql, params, |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(store_err(&db_path))
    };
    let frames_complete = if stage1 {
        count(
            "SELECT count(*) FROM d.derived WHERE record_type = ?1",
            &[&STAGE1_COMPLETE_RECORD_TYPE],
        )?
    } else {
        0
    };
    let (frames_searchable, watermark) = if indexed {
        let searchable = count("SELECT count(*) FROM s.search_frames", &[])?;
        let watermark = conn
            .query_row(
                "SELECT value FROM s.stage2_state WHERE key = 'watermark'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(store_err(&db_path))?
            .and_then(|text| serde_json::from_str(&text).ok());
        (searchable, watermark)
    } else {
        (0, None)
    };
    Ok(Stage2Report {
        state: Stage2State::PausedActive,
        activity,
        frames_processed: 0,
        docs_indexed: 0,
        frames_searchable,
        frames_pending: frames_complete.saturating_sub(frames_searchable),
        watermark,
        provider: provider(),
        duration_ms: started.elapsed().as_millis() as u64,
        frames_per_s: 0.0,
    })
}

/// Records the watermark in the same transaction as the frames it covers.
fn save_watermark(tx: &Connection, watermark: Option<&Watermark>) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO stage2_state (key, value) VALUES ('watermark', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [serde_json::to_string(&watermark).unwrap_or_default()],
    )?;
    Ok(())
}

/// Brings the focus runs up to date with the batch's frames (if it had timed ones).
fn update_runs(tx: &Connection, earliest: Option<&(String, String)>) -> rusqlite::Result<()> {
    match earliest {
        Some((ts, id)) => focus_runs::update(tx, Some((ts, id))),
        None => Ok(()),
    }
}

/// Indexes one frame: its snapshot's docs (once each), the frame row and its marker.
fn index_frame(
    tx: &Connection,
    frame_id: &str,
    ts_utc: &str,
    fingerprint: &str,
    clock: &dyn Clock,
) -> rusqlite::Result<u64> {
    let frame: Value = tx
        .query_row(
            "SELECT payload FROM m.metadata WHERE id = ?1",
            [frame_id],
            |r| Ok(crate::store::payload_json(r.get_ref(0)?)),
        )
        .optional()?
        .unwrap_or(Value::Null);
    let uia_record_id = frame["uia_ref"]["record_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let window = &frame["window_ref"]["window"];
    let mut window_title = window["title"].as_str().unwrap_or_default().to_owned();
    let process =
        crate::contract::process_name(window["process_path"].as_str().unwrap_or_default())
            .to_owned();
    let mut hwnd = window["hwnd"].as_str().map(str::to_owned);
    let mut indexed = 0;
    let mut doc_ids = Vec::new();
    for section in Section::ALL {
        let id = doc_id(&uia_record_id, section);
        if let Some(content) = contents::of_doc(tx, &id)? {
            // Indexed with an earlier frame of the same snapshot: only this frame's sighting.
            if window_title.is_empty() || hwnd.is_none() {
                let (title, doc_hwnd): (String, Option<String>) = tx.query_row(
                    "SELECT window_title, hwnd FROM search_docs WHERE doc_id = ?1",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                if window_title.is_empty() {
                    window_title = title;
                }
                if hwnd.is_none() {
                    hwnd = doc_hwnd;
                }
            }
            doc_ids.push(id.clone());
            if !ts_utc.is_empty() {
                contents::saw(tx, content, ts_utc, frame_id, &id)?;
            }
            continue;
        }
        let Some(payload) = tx
            .query_row("SELECT payload FROM d.derived WHERE id = ?1", [&id], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
        else {
            continue;
        };
        let doc: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
        if window_title.is_empty() {
            window_title = doc["window_title"].as_str().unwrap_or_default().to_owned();
        }
        if hwnd.is_none() {
            hwnd = doc["hwnd"].as_str().map(str::to_owned);
        }
        doc_ids.push(id.clone());
        let (title, text, bboxes) = (
            doc["window_title"].as_str().unwrap_or_default(),
            doc_text(&doc),
            doc["bboxes"].to_string(),
        );
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO search_docs (doc_id, kind, source_record_id, uia_record_id, ts_utc, window_title, process_name, hwnd, text, bboxes, provider_id, provider_fingerprint)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                id,
                section.kind(),
                doc["source_record_id"].as_str().unwrap_or(frame_id),
                uia_record_id,
                doc["ts_utc"].as_str(),
                title,
                process,
                doc["hwnd"].as_str(),
                text,
                bboxes,
                doc["provider_id"].as_str().unwrap_or_default(),
                fingerprint,
            ],
        )?;
        let content = if inserted == 1 {
            index_doc(tx, tx.last_insert_rowid())?;
            indexed += 1;
            Some(contents::register(
                tx,
                &id,
                section.kind(),
                title,
                &process,
                &text,
                &bboxes,
            )?)
        } else {
            contents::of_doc(tx, &id)?
        };
        if let Some(content) = content
            && !ts_utc.is_empty()
        {
            contents::saw(tx, content, ts_utc, frame_id, &id)?;
        }
    }
    tx.execute(
        "INSERT OR IGNORE INTO search_frames (frame_id, ts_utc, uia_record_id, window_title, process_name, hwnd) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![frame_id, ts_utc, uia_record_id, window_title, process, hwnd],
    )?;
    let mut marker = json!({
        "schema_version": 1, "record_type": STAGE2_COMPLETE_RECORD_TYPE, "run_id": crate::contract::run_of(frame_id),
        "ts_utc": ts_utc, "source_record_id": frame_id, "source_record_type": "evidence.capture.frame",
        "uia_record_id": uia_record_id, "doc_ids": doc_ids, "provider_id": PROVIDER_NAME,
        "provider_fingerprint": serde_json::from_str::<Value>(fingerprint).unwrap_or(Value::Null),
        "processed_at_utc": format_ts_utc(clock.now()),
    });
    if let Ok(hash) = sha256_canonical(&marker) {
        marker["payload_hash"] = Value::String(hash);
    }
    tx.execute(
        "INSERT OR IGNORE INTO derived (id, record_type, ts_utc, payload, run_id, source_record_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            derived_id(frame_id, STAGE2_COMPLETE_RECORD_TYPE),
            STAGE2_COMPLETE_RECORD_TYPE,
            ts_utc,
            marker.to_string(),
            crate::contract::run_of(frame_id),
            frame_id
        ],
    )?;
    Ok(indexed)
}

/// Indexes every `derived.text.*` record of the evidence store not indexed yet: its `text`
/// (or `summary`) field, linked to its source frame when the payload names one.
fn index_text_records(tx: &Connection, fingerprint: &str) -> rusqlite::Result<u64> {
    let mut stmt = tx.prepare(
        "SELECT m.id, m.record_type, m.ts_utc, m.payload FROM m.metadata m
         WHERE typeof(m.record_type) = 'text' AND m.record_type LIKE 'derived.text.%' AND NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.doc_id = m.id)
         ORDER BY m.id",
    )?;
    let records: Vec<(String, String, Option<String>, Value)> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                crate::store::text_value(r.get_ref(2)?),
                crate::store::payload_json(r.get_ref(3)?),
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut indexed = 0;
    for (id, record_type, ts_utc, value) in records {
        let text = value["text"]
            .as_str()
            .or_else(|| value["summary"].as_str())
            .unwrap_or_default();
        if text.is_empty() {
            continue;
        }
        let source = value["source_record_id"].as_str().unwrap_or(&id).to_owned();
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO search_docs (doc_id, kind, source_record_id, uia_record_id, ts_utc, window_title, process_name, hwnd, text, bboxes, provider_id, provider_fingerprint)
             VALUES (?1, ?2, ?3, '', ?4, ?5, '', NULL, ?6, ?7, ?8, ?9)",
            params![
                id,
                record_type,
                source,
                ts_utc,
                value["window_title"].as_str().unwrap_or_default(),
                text,
                value.get("bboxes").map(Value::to_string).unwrap_or_else(|| "[]".into()),
                value["provider_id"].as_str().unwrap_or_default(),
                fingerprint
            ],
        )?;
        if inserted == 1 {
            index_doc(tx, tx.last_insert_rowid())?;
            indexed += 1;
        }
    }
    Ok(indexed)
}

/// Adds the `search_docs` row `rowid` to the full-text index.
fn index_doc(tx: &Connection, rowid: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO search_fts (rowid, text, window_title, process_name) SELECT rowid, text, window_title, process_name FROM search_docs WHERE rowid = ?1",
        [rowid],
    )?;
    Ok(())
}

/// Appends trace lines (after the batch committed: a crash may lose lines, never duplicate them).
fn append_trace(path: &Path, lines: &[Value]) -> Result<(), Stage2Error> {
    if lines.is_empty() {
        return Ok(());
    }
    let err = |source| Stage2Error::Trace {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    let mut text = String::new();
    for line in lines {
        text.push_str(&line.to_string());
        text.push('\n');
    }
    file.write_all(text.as_bytes()).map_err(err)?;
    file.sync_data().map_err(err)
}
