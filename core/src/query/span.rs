//! Questions over a span of time: which windows of an app had focus over a range, and what
//! arrived (timed list entries: messages, emails) while a named window was open. The second
//! takes two steps: the window's open span from its window records, then the entries whose
//! own time stamp falls inside that span, wherever they were later seen.

use std::collections::BTreeSet;

use rusqlite::params;
use serde_json::{Value, json};

use super::context::{Cited, Ctx, Draft, hms, window_records};
use super::lexer::TimeSpec;

/// The longest open span looked at, in minutes (a day).
const MAX_SPAN_MINUTES: u32 = 24 * 60;

/// Distinct context docs (one per window title and text: a re-taken snapshot adds nothing)
/// read per question when looking for timed entries.
const MAX_DOCS: usize = 4096;

pub(super) fn windows_used(
    ctx: &mut Ctx<'_>,
    target: &str,
    from: &TimeSpec,
    to: &TimeSpec,
    out: &mut Draft,
) -> rusqlite::Result<()> {
    let (from, to) = (ctx.ts(from), ctx.ts(to));
    let linked = super::entities::link(ctx.handle, target)?;
    if linked.is_empty() {
        out.no_evidence("say which app or window".into());
        return Ok(());
    }
    // Per distinct title, in order of first focus: its first frame and its focus time (each
    // frame's focus lasts until the next frame, capped at 10 minutes), from the focus runs.
    struct Used {
        title: String,
        process: String,
        first_ts: String,
        first_id: String,
        focus_us: i64,
    }
    let mut used: Vec<Used> = Vec::new();
    for span in super::runs::spans(ctx.handle, &from, &to)? {
        let run = &span.run;
        if !linked.matches(&run.window_title, &run.process_name) {
            continue;
        }
        match used.iter_mut().find(|u| u.title == run.window_title) {
            Some(u) => u.focus_us += span.focus_us(),
            None => used.push(Used {
                title: run.window_title.clone(),
                process: run.process_name.clone(),
                first_ts: span.first_ts.clone(),
                first_id: span.first_id.clone(),
                focus_us: span.focus_us(),
            }),
        }
    }
    if used.is_empty() {
        out.no_evidence(format!(
            "no window of \"{target}\" had focus between {} and {}",
            hms(&from),
            hms(&to)
        ));
        return Ok(());
    }
    out.summary = format!(
        "{} windows of \"{target}\"{} had focus between {} and {}",
        used.len(),
        super::engine::linked_apps(&linked),
        hms(&from),
        hms(&to)
    );
    let mut windows = Vec::new();
    for (index, u) in used.iter().enumerate() {
        let total = u.focus_us as f64 / 1e6;
        let bullet = format!(
            "\"{}\" ({}) from {}, about {} min",
            u.title,
            u.process,
            hms(&u.first_ts),
            (total / 60.0).round() as u64
        );
        ctx.cite(index as u32, &bullet, Cited::frame(&u.first_id));
        windows.push(json!({"window_title": u.title, "process_name": u.process,
            "first_ts_utc": u.first_ts, "focus_seconds": total.round() as u64}));
        out.bullets.push(bullet);
    }
    out.fields.insert("windows".into(), Value::Array(windows));
    Ok(())
}

/// The first `HH:MM` in a label, as minutes since midnight.
fn clock_minutes(label: &str) -> Option<u32> {
    label.split_whitespace().find_map(|token| {
        let token = token.trim_matches(|c: char| !c.is_ascii_digit() && c != ':');
        let (h, m) = token.split_once(':')?;
        let valid = (1..=2).contains(&h.len())
            && m.len() == 2
            && h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit());
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (valid && h < 24 && m < 60).then_some(h * 60 + m)
    })
}

/// Seconds since midnight of a timestamp's clock time.
fn clock_seconds(ts: &str) -> Option<u32> {
    let at = crate::contract::parse_ts_utc(ts).ok()?;
    Some(u32::from(at.hour()) * 3600 + u32::from(at.minute()) * 60 + u32::from(at.second()))
}

/// A window record: its id and timestamp.
type RecordAt = (String, String);

/// The open span of the window titled `title`: its first record and the first close after it.
fn open_span(ctx: &Ctx<'_>, title: &str) -> rusqlite::Result<Option<(RecordAt, RecordAt)>> {
    let records = window_records(ctx, None)?;
    let Some((open_id, open_value)) = records
        .iter()
        .find(|(_, v)| v["window"]["title"] == title && v["event"] != "closed")
    else {
        return Ok(None);
    };
    let hwnd = open_value["window"]["hwnd"].clone();
    let opened = open_value["ts_utc"].as_str().unwrap_or_default().to_owned();
    let same_window: Vec<&(String, Value)> = records
        .iter()
        .filter(|(_, v)| v["window"]["hwnd"] == hwnd && v["ts_utc"].as_str() >= Some(&opened))
        .collect();
    let end = same_window
        .iter()
        .find(|(_, v)| v["event"] == "closed")
        .or(same_window.last())
        .map(|(id, v)| {
            (
                id.clone(),
                v["ts_utc"].as_str().unwrap_or_default().to_owned(),
            )
        });
    Ok(end.map(|end| ((open_id.clone(), opened), end)))
}

pub(super) fn arrived_while(
    ctx: &mut Ctx<'_>,
    window: &str,
    out: &mut Draft,
) -> rusqlite::Result<()> {
    let Some(title) = super::titles::best_title(ctx.handle, window, "9999")? else {
        out.no_evidence(format!("no window like \"{window}\" was recorded"));
        return Ok(());
    };
    let Some(((open_id, opened), (close_id, closed))) = open_span(ctx, &title)? else {
        out.no_evidence(format!("\"{title}\" was never recorded open"));
        return Ok(());
    };
    let (Some(start), Some(end)) = (clock_seconds(&opened), clock_seconds(&closed)) else {
        out.no_evidence(format!("\"{title}\" has no readable open span"));
        return Ok(());
    };
    let start_minute = start / 60;
    let end_minute = (end / 60).min(start_minute + MAX_SPAN_MINUTES);
    // Only docs holding one of the span's `HH:MM` stamps (the index finds them), one per
    // distinct window and text.
    let stamps = (start_minute..=end_minute)
        .map(|m| format!("\"{:02} {:02}\"", m / 60, m % 60))
        .collect::<Vec<_>>()
        .join(" OR ");
    // Per distinct content (a re-taken snapshot adds nothing) shown at or after the opening:
    // its first doc and frame from then on (the first sighting, or the last when the first came
    // earlier), with that doc's nodes.
    let docs = ctx.handle.rows(
        &format!(
            "SELECT doc_id, kind, x.payload, frame_id FROM (
                 SELECT CASE WHEN sp.first_ts >= ?2 THEN sp.first_doc_id ELSE sp.last_doc_id END AS doc_id,
                        CASE WHEN sp.first_ts >= ?2 THEN sp.first_frame_id ELSE sp.last_frame_id END AS frame_id,
                        CASE WHEN sp.first_ts >= ?2 THEN sp.first_ts ELSE sp.last_ts END AS shown_ts,
                        c.kind AS kind
                 FROM content_fts JOIN s.search_contents c ON c.rowid = content_fts.rowid
                 JOIN s.content_spans sp ON sp.content_rowid = c.rowid
                 WHERE content_fts MATCH ?1 AND c.kind = 'obs.uia.context' AND sp.last_ts >= ?2) AS g
             JOIN d.derived x ON x.id = g.doc_id
             ORDER BY g.shown_ts, g.doc_id LIMIT {MAX_DOCS}"
        ),
        params![stamps, opened],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        },
    )?;
    let span_claim = format!(
        "\"{title}\" was open from {} to {}",
        hms(&opened),
        hms(&closed)
    );
    let mut seen = BTreeSet::new();
    let mut entries = Vec::new();
    let mut cited = Vec::new();
    for (doc, kind, text, frame_id) in docs {
        let Some(frame_id) = frame_id else { continue };
        let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let nodes = parsed["meta"]["uia_nodes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for node in &nodes {
            let label = node["name"].as_str().unwrap_or_default();
            if node["role"] != "list_item" {
                continue;
            }
            let Some(minute) = clock_minutes(label) else {
                continue;
            };
            if minute < start_minute || minute > end_minute || minute * 60 > end {
                continue;
            }
            let aid = node["aid"].as_str().unwrap_or_default();
            let value = nodes
                .iter()
                .find(|v| !aid.is_empty() && v["aid"].as_str() == Some(&format!("{aid}.value")))
                .and_then(|v| v["name"].as_str())
                .map(str::to_owned);
            if !seen.insert((label.to_owned(), value.clone())) {
                continue;
            }
            entries.push(json!({"label": label, "value": value}));
            cited.push((
                match &value {
                    Some(v) => format!("{label}: {v}"),
                    None => label.to_owned(),
                },
                doc.clone(),
                kind.clone(),
                frame_id.clone(),
            ));
        }
    }
    if entries.is_empty() {
        out.no_evidence(format!(
            "nothing stamped inside that span arrived; {span_claim}"
        ));
        return Ok(());
    }
    out.summary = format!("{} arrived while {span_claim}", cited[0].0);
    if cited.len() > 1 {
        out.summary = format!("{} entries arrived while {span_claim}", cited.len());
    }
    ctx.cite(
        0,
        &span_claim,
        Cited::record(&open_id, "evidence.window.meta"),
    );
    ctx.cite(
        0,
        &span_claim,
        Cited::record(&close_id, "evidence.window.meta"),
    );
    for (index, (claim, doc, kind, frame_id)) in cited.iter().enumerate() {
        ctx.cite(
            index as u32 + 1,
            claim,
            Cited::doc(doc, kind, frame_id, None, (0, 0)),
        );
        out.bullets.push(claim.clone());
    }
    out.fields.insert("window_title".into(), json!(title));
    out.fields.insert("open_ts_utc".into(), json!(opened));
    out.fields.insert("close_ts_utc".into(), json!(closed));
    out.fields.insert("entries".into(), Value::Array(entries));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::clock_minutes;

    #[test]
    fn label_clocks() {
        assert_eq!(clock_minutes("Priya Raman 10:20"), Some(620));
        assert_eq!(clock_minutes("Unread, Marco - Re: x - 11:08"), Some(668));
        assert_eq!(clock_minutes("09:30-09:45 Platform standup"), None);
        assert_eq!(clock_minutes("Thu 16:02"), Some(962));
        assert_eq!(clock_minutes("no time here"), None);
    }
}
