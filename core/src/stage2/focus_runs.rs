//! Focus runs: the indexed frames cut into maximal runs of one focused window, kept by Stage 2
//! next to `search_frames` so the query engine answers durations and timelines from a few
//! hundred rows instead of every frame.
//!
//! A run is a sequence of consecutive frames (in `(ts_utc, frame_id)` order) with the same
//! window title and process, no two of them more than [`GAP_CAP_US`] apart. A frame's focus lasts
//! until the next frame, capped at [`GAP_CAP_US`] (a gap is not focus), so inside a run the focus
//! of frames `p..q` sums to `t(q) − t(p)`; the run also stores `tail_us`, the capped gap from its
//! last frame to the next frame, which starts the next run. Frames without a parseable timestamp
//! are not part of any run.
//!
//! [`update`] runs in the same transaction as the frames it covers. Frames that arrive in time
//! order extend the last run; a frame older than the last run's end rebuilds the runs from the
//! run that contains it.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::contract::parse_ts_utc;

/// The longest gap between two frames that still counts as focus: 10 minutes.
pub const GAP_CAP_US: i64 = 600_000_000;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS focus_runs (
    start_ts TEXT NOT NULL,
    start_frame_id TEXT NOT NULL,
    start_us INTEGER NOT NULL,
    last_ts TEXT NOT NULL,
    last_frame_id TEXT NOT NULL,
    last_us INTEGER NOT NULL,
    next_ts TEXT,
    tail_us INTEGER NOT NULL,
    window_title TEXT NOT NULL,
    process_name TEXT NOT NULL,
    frames INTEGER NOT NULL,
    PRIMARY KEY (start_ts, start_frame_id)
) WITHOUT ROWID;
";

/// The columns [`Run::from_row`] reads, in order.
pub const COLUMNS: &str = "start_ts, start_frame_id, start_us, last_ts, last_frame_id, last_us, next_ts, tail_us, window_title, process_name, frames";

/// One run of focus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub start_ts: String,
    pub start_frame_id: String,
    pub start_us: i64,
    pub last_ts: String,
    pub last_frame_id: String,
    pub last_us: i64,
    /// The timestamp of the frame after the run, if any.
    pub next_ts: Option<String>,
    /// The focus of the run's last frame: the gap to `next_ts`, capped; 0 without a next frame.
    pub tail_us: i64,
    pub window_title: String,
    pub process_name: String,
    pub frames: i64,
}

impl Run {
    /// Reads a row selected with [`COLUMNS`].
    pub fn from_row(row: &Row<'_>) -> rusqlite::Result<Run> {
        Ok(Run {
            start_ts: row.get(0)?,
            start_frame_id: row.get(1)?,
            start_us: row.get(2)?,
            last_ts: row.get(3)?,
            last_frame_id: row.get(4)?,
            last_us: row.get(5)?,
            next_ts: row.get(6)?,
            tail_us: row.get(7)?,
            window_title: row.get(8)?,
            process_name: row.get(9)?,
            frames: row.get(10)?,
        })
    }

    fn start(ts: String, frame_id: String, us: i64, title: String, process: String) -> Run {
        Run {
            start_ts: ts.clone(),
            start_frame_id: frame_id.clone(),
            start_us: us,
            last_ts: ts,
            last_frame_id: frame_id,
            last_us: us,
            next_ts: None,
            tail_us: 0,
            window_title: title,
            process_name: process,
            frames: 1,
        }
    }
}

/// Microseconds since the epoch of a contract timestamp.
pub fn micros(ts: &str) -> Option<i64> {
    parse_ts_utc(ts)
        .ok()
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1000).ok())
}

/// Brings the runs up to date after frames were added to `search_frames`. `earliest_new` is the
/// smallest `(ts_utc, frame_id)` among them; `None` rebuilds every run.
pub fn update(tx: &Connection, earliest_new: Option<(&str, &str)>) -> rusqlite::Result<()> {
    let last: Option<Run> = tx
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM focus_runs ORDER BY start_ts DESC, start_frame_id DESC LIMIT 1"
            ),
            [],
            Run::from_row,
        )
        .optional()?;
    let (current, after): (Option<Run>, Option<(String, String, bool)>) = match (earliest_new, last)
    {
        (Some(new), Some(last)) if new > (last.last_ts.as_str(), last.last_frame_id.as_str()) => {
            // In time order: continue the last run.
            tx.execute(
                "DELETE FROM focus_runs WHERE start_ts = ?1 AND start_frame_id = ?2",
                params![last.start_ts, last.start_frame_id],
            )?;
            let after = (last.last_ts.clone(), last.last_frame_id.clone(), false);
            (Some(last), Some(after))
        }
        (Some((ts, id)), _) => {
            let containing: Option<(String, String)> = tx
                .query_row(
                    "SELECT start_ts, start_frame_id FROM focus_runs WHERE (start_ts, start_frame_id) <= (?1, ?2)
                     ORDER BY start_ts DESC, start_frame_id DESC LIMIT 1",
                    params![ts, id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            match containing {
                Some((start_ts, start_id)) => {
                    tx.execute(
                        "DELETE FROM focus_runs WHERE (start_ts, start_frame_id) >= (?1, ?2)",
                        params![start_ts, start_id],
                    )?;
                    (None, Some((start_ts, start_id, true)))
                }
                None => {
                    tx.execute("DELETE FROM focus_runs", [])?;
                    (None, None)
                }
            }
        }
        (None, _) => {
            tx.execute("DELETE FROM focus_runs", [])?;
            (None, None)
        }
    };
    let (from_ts, from_id, inclusive) = after.unwrap_or_default();
    let mut stmt = tx.prepare_cached(
        "SELECT frame_id, ts_utc, window_title, process_name FROM search_frames
         WHERE ts_utc != '' AND ((?3 AND (ts_utc, frame_id) >= (?1, ?2)) OR (NOT ?3 AND (ts_utc, frame_id) > (?1, ?2)))
         ORDER BY ts_utc, frame_id",
    )?;
    let mut rows = stmt.query(params![from_ts, from_id, inclusive])?;
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO focus_runs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))?;
    let mut save = |run: &Run| -> rusqlite::Result<()> {
        insert.execute(params![
            run.start_ts,
            run.start_frame_id,
            run.start_us,
            run.last_ts,
            run.last_frame_id,
            run.last_us,
            run.next_ts,
            run.tail_us,
            run.window_title,
            run.process_name,
            run.frames
        ])?;
        Ok(())
    };
    let mut current = current;
    while let Some(row) = rows.next()? {
        let (frame_id, ts, title, process): (String, String, String, String) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        let Some(us) = micros(&ts) else {
            continue;
        };
        match current.as_mut() {
            Some(run)
                if run.window_title == title
                    && run.process_name == process
                    && us - run.last_us <= GAP_CAP_US =>
            {
                run.last_ts = ts;
                run.last_frame_id = frame_id;
                run.last_us = us;
                run.frames += 1;
            }
            _ => {
                if let Some(mut done) = current.take() {
                    done.tail_us = (us - done.last_us).clamp(0, GAP_CAP_US);
                    done.next_ts = Some(ts.clone());
                    save(&done)?;
                }
                current = Some(Run::start(ts, frame_id, us, title, process));
            }
        }
    }
    if let Some(mut done) = current {
        done.next_ts = None;
        done.tail_us = 0;
        save(&done)?;
    }
    Ok(())
}

/// Whether the runs must be built from scratch: none exist while indexed frames do (an index
/// written before runs were kept).
pub fn missing(conn: &Connection) -> rusqlite::Result<bool> {
    let runs: i64 = conn.query_row("SELECT EXISTS (SELECT 1 FROM focus_runs)", [], |r| r.get(0))?;
    let frames: i64 = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM search_frames WHERE ts_utc != '')",
        [],
        |r| r.get(0),
    )?;
    Ok(runs == 0 && frames == 1)
}
