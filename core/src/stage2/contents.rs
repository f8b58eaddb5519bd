//! Distinct doc contents: the UIA docs of a window that did not change between snapshots share
//! one content (same kind, window, process, text and boxes), indexed once for full-text search,
//! with the first and last frame that showed it. Stage 2 keeps them next to `search_docs` in the
//! same transaction as each batch; "first/last seen", "how long between" and plain searches read
//! a few contents instead of every doc of every snapshot.
//!
//! Spans keep the minimum and maximum `(ts_utc, frame_id)` seen, so the order frames arrive in
//! does not matter.

use rusqlite::{Connection, OptionalExtension, params};

use crate::contract::sha256_hex;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS search_contents (
    rowid INTEGER PRIMARY KEY,
    content_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    window_title TEXT NOT NULL,
    process_name TEXT NOT NULL,
    text TEXT NOT NULL,
    bboxes TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS content_fts USING fts5(
    text, window_title, process_name, content = 'search_contents', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS doc_contents (
    doc_id TEXT PRIMARY KEY,
    content_rowid INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_doc_contents_content ON doc_contents(content_rowid);
CREATE TABLE IF NOT EXISTS content_spans (
    content_rowid INTEGER PRIMARY KEY,
    first_ts TEXT NOT NULL,
    first_frame_id TEXT NOT NULL,
    first_doc_id TEXT NOT NULL,
    last_ts TEXT NOT NULL,
    last_frame_id TEXT NOT NULL,
    last_doc_id TEXT NOT NULL
);
";

/// What makes two docs the same content.
fn content_key(kind: &str, title: &str, process: &str, text: &str, bboxes: &str) -> String {
    let mut bytes = Vec::with_capacity(text.len() + 64);
    for part in [kind, title, process, text, bboxes] {
        bytes.extend_from_slice(part.as_bytes());
        bytes.push(0);
    }
    sha256_hex(&bytes)
}

/// Records that the `search_docs` row `doc_id` has this content (indexing the content the first
/// time it is met); returns the content's rowid.
pub fn register(
    tx: &Connection,
    doc_id: &str,
    kind: &str,
    title: &str,
    process: &str,
    text: &str,
    bboxes: &str,
) -> rusqlite::Result<i64> {
    let key = content_key(kind, title, process, text, bboxes);
    let existing: Option<i64> = tx
        .query_row(
            "SELECT rowid FROM search_contents WHERE content_key = ?1",
            [&key],
            |r| r.get(0),
        )
        .optional()?;
    let rowid = match existing {
        Some(rowid) => rowid,
        None => {
            tx.execute(
                "INSERT INTO search_contents (content_key, kind, window_title, process_name, text, bboxes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![key, kind, title, process, text, bboxes],
            )?;
            let rowid = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO content_fts (rowid, text, window_title, process_name) VALUES (?1, ?2, ?3, ?4)",
                params![rowid, text, title, process],
            )?;
            rowid
        }
    };
    tx.execute(
        "INSERT OR IGNORE INTO doc_contents (doc_id, content_rowid) VALUES (?1, ?2)",
        params![doc_id, rowid],
    )?;
    Ok(rowid)
}

/// The content of a registered doc.
pub fn of_doc(tx: &Connection, doc_id: &str) -> rusqlite::Result<Option<i64>> {
    tx.query_row(
        "SELECT content_rowid FROM doc_contents WHERE doc_id = ?1",
        [doc_id],
        |r| r.get(0),
    )
    .optional()
}

/// Widens the content's span to include the frame `(ts, frame_id)`, which showed it in `doc_id`.
pub fn saw(
    tx: &Connection,
    content_rowid: i64,
    ts: &str,
    frame_id: &str,
    doc_id: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO content_spans (content_rowid, first_ts, first_frame_id, first_doc_id, last_ts, last_frame_id, last_doc_id)
         VALUES (?1, ?2, ?3, ?4, ?2, ?3, ?4)
         ON CONFLICT(content_rowid) DO UPDATE SET
           first_ts = CASE WHEN (excluded.first_ts, excluded.first_frame_id) < (first_ts, first_frame_id) THEN excluded.first_ts ELSE first_ts END,
           first_doc_id = CASE WHEN (excluded.first_ts, excluded.first_frame_id) < (first_ts, first_frame_id) THEN excluded.first_doc_id ELSE first_doc_id END,
           first_frame_id = CASE WHEN (excluded.first_ts, excluded.first_frame_id) < (first_ts, first_frame_id) THEN excluded.first_frame_id ELSE first_frame_id END,
           last_ts = CASE WHEN (excluded.last_ts, excluded.last_frame_id) > (last_ts, last_frame_id) THEN excluded.last_ts ELSE last_ts END,
           last_doc_id = CASE WHEN (excluded.last_ts, excluded.last_frame_id) > (last_ts, last_frame_id) THEN excluded.last_doc_id ELSE last_doc_id END,
           last_frame_id = CASE WHEN (excluded.last_ts, excluded.last_frame_id) > (last_ts, last_frame_id) THEN excluded.last_frame_id ELSE last_frame_id END",
    )?
    .execute(params![content_rowid, ts, frame_id, doc_id])?;
    Ok(())
}

/// Whether contents must be built for an index that has docs but none registered.
pub fn missing(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM doc_contents) AND EXISTS (SELECT 1 FROM search_docs WHERE uia_record_id != '')",
        [],
        |r| r.get(0),
    )
}

/// Registers every frame doc of the index and the span of every content, from `search_docs`
/// and `search_frames` (an index written before contents were kept).
pub fn rebuild(tx: &Connection) -> rusqlite::Result<()> {
    let docs: Vec<(String, String, String, String, String, String)> = {
        let mut stmt = tx.prepare(
            "SELECT doc_id, kind, window_title, process_name, text, bboxes FROM search_docs WHERE uia_record_id != '' ORDER BY rowid",
        )?;
        stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<Result<_, _>>()?
    };
    for (doc_id, kind, title, process, text, bboxes) in &docs {
        register(tx, doc_id, kind, title, process, text, bboxes)?;
    }
    let mut stmt = tx.prepare(
        "SELECT c.content_rowid, f.ts_utc, f.frame_id, c.doc_id FROM doc_contents c
         JOIN search_docs d ON d.doc_id = c.doc_id
         JOIN search_frames f ON f.uia_record_id = d.uia_record_id
         WHERE f.ts_utc != ''",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (content, ts, frame, doc): (i64, String, String, String) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        saw(tx, content, &ts, &frame, &doc)?;
    }
    Ok(())
}
