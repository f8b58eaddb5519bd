//! Cross-window correlation: every app (process) whose windows showed a text, with the window
//! and the moment each first showed it, so the same id or name can be followed across apps.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::context::{Cited, Ctx, Draft, hms};

/// Where a process first showed the text: (ts, frame id, doc id, doc kind, window title).
type Sighting = (String, String, String, String, String);

pub(super) fn correlate(ctx: &mut Ctx<'_>, text: &str, out: &mut Draft) -> rusqlite::Result<()> {
    if text.trim().is_empty() {
        out.no_evidence("say which text to follow, in quotes".into());
        return Ok(());
    }
    // Every distinct content showing the text, with its first sighting; per process the
    // earliest of them.
    let sql = "SELECT c.process_name, c.window_title, sp.first_doc_id, c.kind, sp.first_ts, sp.first_frame_id
         FROM content_fts JOIN s.search_contents c ON c.rowid = content_fts.rowid
         JOIN s.content_spans sp ON sp.content_rowid = c.rowid
         WHERE content_fts MATCH ?1";
    let phrase = format!("\"{}\"", text.replace('"', "\"\""));
    let rows = ctx.handle.rows(sql, [phrase], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut first: BTreeMap<String, Sighting> = BTreeMap::new();
    for (process, title, doc, kind, ts, frame_id) in rows {
        let earlier = first
            .get(&process)
            .is_none_or(|seen| (&ts, &frame_id) < (&seen.0, &seen.1));
        if earlier {
            first.insert(process, (ts, frame_id, doc, kind, title));
        }
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
