//! Focus runs (see [`crate::stage2::focus_runs`]) clipped to a time range: what durations, timelines and
//! "the window like X at T" read instead of scanning frames.

use rusqlite::params;

use super::handle::QueryHandle;
use crate::stage2::focus_runs::{COLUMNS, Run, micros};

/// A run cut to the frames that fall inside a range.
#[derive(Debug, Clone)]
pub struct Span {
    pub run: Run,
    pub first_id: String,
    pub first_ts: String,
    pub first_us: i64,
    pub last_ts: String,
    last_id: String,
    pub last_us: i64,
    /// The frame after the run is inside the range too, so the run's tail counts.
    tail_counted: bool,
}

impl Span {
    /// The focus of the span's frames inside the range, in microseconds: each frame's focus lasts
    /// until the next frame in the range, capped.
    pub fn focus_us(&self) -> i64 {
        self.last_us - self.first_us
            + if self.tail_counted {
                self.run.tail_us
            } else {
                0
            }
    }

    /// Whether some frame of the span has a next frame inside the range (and so counts).
    pub fn counts(&self) -> bool {
        self.first_id != self.last_id || self.tail_counted
    }
}

/// The first (or last) timed frame at or after (at or before) `ts`.
fn edge_frame(
    handle: &QueryHandle,
    ts: &str,
    after: bool,
) -> rusqlite::Result<Option<(String, String)>> {
    let sql = if after {
        "SELECT frame_id, ts_utc FROM s.search_frames WHERE ts_utc >= ?1 AND ts_utc != '' ORDER BY ts_utc, frame_id LIMIT 1"
    } else {
        "SELECT frame_id, ts_utc FROM s.search_frames WHERE ts_utc <= ?1 AND ts_utc != '' ORDER BY ts_utc DESC, frame_id DESC LIMIT 1"
    };
    Ok(handle
        .rows(sql, [ts], |r| Ok((r.get(0)?, r.get(1)?)))?
        .into_iter()
        .next())
}

/// The runs with a frame in `[from, to]` (timestamps as text), in time order, each cut to the
/// range. Runs that straddle an end of the range look up their first (last) frame inside it.
pub fn spans(handle: &QueryHandle, from: &str, to: &str) -> rusqlite::Result<Vec<Span>> {
    let runs = handle.rows(
        &format!(
            "SELECT {COLUMNS} FROM s.focus_runs WHERE start_ts <= ?2 AND last_ts >= ?1 ORDER BY start_ts, start_frame_id"
        ),
        params![from, to],
        Run::from_row,
    )?;
    let mut spans = Vec::with_capacity(runs.len());
    for run in runs {
        let (first_id, first_ts, first_us) = if run.start_ts.as_str() >= from {
            (
                run.start_frame_id.clone(),
                run.start_ts.clone(),
                run.start_us,
            )
        } else {
            match edge_frame(handle, from, true)? {
                Some((id, ts)) => {
                    let us = micros(&ts).unwrap_or(run.start_us);
                    (id, ts, us)
                }
                None => continue,
            }
        };
        let (last_id, last_ts, last_us) = if run.last_ts.as_str() <= to {
            (run.last_frame_id.clone(), run.last_ts.clone(), run.last_us)
        } else {
            match edge_frame(handle, to, false)? {
                Some((id, ts)) => {
                    let us = micros(&ts).unwrap_or(run.last_us);
                    (id, ts, us)
                }
                None => continue,
            }
        };
        if (first_ts.as_str(), first_id.as_str()) > (last_ts.as_str(), last_id.as_str()) {
            // The range falls in a gap between two frames of the run.
            continue;
        }
        let tail_counted =
            run.last_ts.as_str() <= to && run.next_ts.as_deref().is_some_and(|n| n <= to);
        spans.push(Span {
            run,
            first_id,
            first_ts,
            first_us,
            last_ts,
            last_id,
            last_us,
            tail_counted,
        });
    }
    Ok(spans)
}

/// The newest run starting at or before `ts` of the window `linked` names (one of its
/// processes, when it links any, and a title holding every other word, ASCII
/// case-insensitive), and its latest frame at or before `ts`.
pub(super) fn latest_window_frame(
    handle: &QueryHandle,
    linked: &super::entities::Linked,
    ts: &str,
) -> rusqlite::Result<Option<String>> {
    if linked.is_empty() {
        return Ok(None);
    }
    let mut values: Vec<String> = Vec::new();
    let mut filter = String::new();
    for word in linked.words.iter().take(8) {
        values.push(format!("%{word}%"));
        filter.push_str(&format!(
            " AND lower(window_title || ' ' || process_name) LIKE ?{}",
            values.len() + 1
        ));
    }
    if !linked.processes.is_empty() {
        let first = values.len() + 2;
        values.extend(linked.processes.iter().cloned());
        let marks: Vec<String> = (first..first + linked.processes.len())
            .map(|n| format!("?{n}"))
            .collect();
        filter.push_str(&format!(
            " AND lower(process_name) IN ({})",
            marks.join(", ")
        ));
    }
    let mut params: Vec<&dyn rusqlite::ToSql> = vec![&ts];
    params.extend(values.iter().map(|v| v as &dyn rusqlite::ToSql));
    latest_frame_of_run(handle, &filter, params.as_slice(), ts)
}

/// The same for a window known by its exact title.
pub fn latest_titled_frame(
    handle: &QueryHandle,
    title: &str,
    ts: &str,
) -> rusqlite::Result<Option<String>> {
    latest_frame_of_run(handle, " AND window_title = ?2", &[&ts, &title], ts)
}

/// The newest run starting at or before `ts` that also meets `filter` (SQL over `?2…`), and its
/// latest frame at or before `ts`.
fn latest_frame_of_run(
    handle: &QueryHandle,
    filter: &str,
    values: &[&dyn rusqlite::ToSql],
    ts: &str,
) -> rusqlite::Result<Option<String>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM s.focus_runs WHERE start_ts <= ?1{filter} ORDER BY start_ts DESC, start_frame_id DESC LIMIT 1"
    );
    let Some(run) = handle.rows(&sql, values, Run::from_row)?.into_iter().next() else {
        return Ok(None);
    };
    if run.last_ts.as_str() <= ts {
        return Ok(Some(run.last_frame_id));
    }
    // `ts` falls inside the run: its latest frame at or before `ts` belongs to it.
    Ok(edge_frame(handle, ts, false)?.map(|(id, _)| id))
}
