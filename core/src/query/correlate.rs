//! Cross-window correlation: every app (process) whose windows showed a text, with the window
//! and the moment each first showed it, so the same id or name can be followed across apps.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::engine::{Cited, Ctx, Draft, hms};

/// Where a process first showed the text: (ts, frame id, doc id, doc kind, window title).
type Sighting = (String, String, String, String, String);

pub(super) fn correlate(ctx: &mut Ctx<'_>, text: &str, out: &mut Draft) -> rusqlite::Result<()> {
    if text.trim().is_empty() {
        out.no_evidence("say which text to follow, in quotes".into());
        return Ok(());
    }
    // Per process, the doc indexed first (SQLite returns the row of `min()`), then that doc's
    // earliest frame through the (uia_record_id, ts_utc) index.
    let sql = "SELECT g.process_name, g.window_title, g.doc_id, g.kind,
                (SELECT f.ts_utc FROM s.search_frames f WHERE f.uia_record_id = g.uia_record_id
                 ORDER BY f.ts_utc, f.frame_id LIMIT 1) AS ts_utc,
                (SELECT f.frame_id FROM s.search_frames f WHERE f.uia_record_id = g.uia_record_id
                 ORDER BY f.ts_utc, f.frame_id LIMIT 1) AS frame_id
         FROM (SELECT d.process_name, d.window_title, d.doc_id, d.kind, d.uia_record_id,
                      min(d.ts_utc || ' ' || d.doc_id) AS first_key
               FROM search_fts JOIN s.search_docs d ON d.rowid = search_fts.rowid
               WHERE search_fts MATCH ?1 AND d.ts_utc IS NOT NULL GROUP BY d.process_name) AS g";
    let phrase = format!("\"{}\"", text.replace('"', "\"\""));
    let rows = ctx.handle.rows(sql, [phrase], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<String>>(5)?,
        ))
    })?;
    let mut first: BTreeMap<String, Sighting> = BTreeMap::new();
    for (process, title, doc, kind, ts, frame_id) in rows {
        let (Some(ts), Some(frame_id)) = (ts, frame_id) else {
            continue;
        };
        first.insert(process, (ts, frame_id, doc, kind, title));
    }
    if first.is_empty() {
        out.no_evidence(format!("\"{text}\" was not seen in any app"));
        return Ok(());
    }
    let mut ordered: Vec<(String, Sighting)> = first.into_iter().collect();
    ordered.sort_by(|a, b| (&a.1.0, &a.0).cmp(&(&b.1.0, &b.0)));
    let mut apps = Vec::new();
    for (index, (process, (ts, frame_id, doc, kind, title))) in ordered.iter().enumerate() {
        let claim = format!(
            "{process}: \"{title}\" first showed \"{text}\" at {}",
            hms(ts)
        );
        ctx.cite(
            index as u32,
            &claim,
            Cited::doc(doc, kind, frame_id, None, (0, 0)),
        );
        out.bullets.push(claim);
        apps.push(json!({"process_name": process, "window_title": title, "first_ts_utc": ts, "frame_id": frame_id}));
    }
    out.summary = format!(
        "\"{text}\" appeared in {} apps: {}",
        apps.len(),
        ordered
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    out.fields.insert("apps".into(), Value::Array(apps));
    Ok(())
}
