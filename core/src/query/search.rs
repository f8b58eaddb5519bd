//! Intents over the text that was on screen: a plain search through the full-text index, when a
//! text was first seen, and how long it stayed.

use rusqlite::params;
use serde_json::json;

use super::context::{Cited, Ctx, Draft, hms};
use super::language::content_words;
use super::lexer::Parsed;

/// Words that frame a search ("which window showed …") rather than name what to find.
const SEARCH_FRAMING: [&str; 14] = [
    "window",
    "windows",
    "app",
    "apps",
    "showed",
    "show",
    "shown",
    "displayed",
    "display",
    "mentioned",
    "contained",
    "contain",
    "appeared",
    "appear",
];

pub(super) fn fts_query(parsed: &Parsed, text_override: Option<&str>) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let framing: &[&str] = if parsed.phrases.is_empty() {
        &[]
    } else {
        &SEARCH_FRAMING
    };
    match text_override {
        Some(text) => quote(text),
        None => parsed
            .phrases
            .iter()
            .map(|p| quote(p))
            .chain(
                content_words(&parsed.words, framing)
                    .iter()
                    .map(|w| quote(w)),
            )
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The fallback search when no content holds every term: the phrases alone (quoted texts and
/// identifiers), or any of the content words (returned too: a hit must hold most of them);
/// `None` when there is nothing to loosen.
fn any_term_query(parsed: &Parsed) -> Option<(String, Vec<String>)> {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    if !parsed.phrases.is_empty() {
        let phrases: Vec<String> = parsed.phrases.iter().map(|p| quote(p)).collect();
        return Some((phrases.join(" "), Vec::new()));
    }
    let words = content_words(&parsed.words, &SEARCH_FRAMING);
    (words.len() >= 3).then(|| {
        let any = words
            .iter()
            .map(|w| quote(w))
            .collect::<Vec<_>>()
            .join(" OR ");
        (any, words)
    })
}

/// The first node of a doc whose name contains `needle`, as (bbox, byte span in the doc text).
pub(super) fn locate(text: &str, bboxes: &str, needle: &str) -> (Option<[u64; 4]>, (u64, u64)) {
    let lower = text.to_lowercase();
    let needle = needle.to_lowercase();
    let Some(start) = lower.find(&needle) else {
        return (None, (0, 0));
    };
    let line = lower[..start].matches('\n').count();
    let boxes: Vec<[u64; 4]> = serde_json::from_str(bboxes).unwrap_or_default();
    (
        boxes.get(line).copied(),
        (start as u64, (start + needle.len()) as u64),
    )
}

/// The first frame (and doc) where `text` was seen.
fn first_seen(
    ctx: &Ctx<'_>,
    parsed: &Parsed,
    text: &str,
) -> rusqlite::Result<Option<(String, String, String, String)>> {
    let sql = "SELECT sp.first_frame_id, sp.first_ts, sp.first_doc_id, c.kind FROM content_fts
               JOIN s.search_contents c ON c.rowid = content_fts.rowid
               JOIN s.content_spans sp ON sp.content_rowid = c.rowid
               WHERE content_fts MATCH ?1 ORDER BY sp.first_ts, sp.first_frame_id LIMIT 1";
    Ok(ctx
        .handle
        .rows(sql, [fts_query(parsed, Some(text))], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .into_iter()
        .next())
}

pub(super) fn elapsed(
    ctx: &mut Ctx<'_>,
    parsed: &Parsed,
    from_text: &str,
    to_text: &str,
    out: &mut Draft,
) -> rusqlite::Result<()> {
    let (Some(a), Some(b)) = (
        first_seen(ctx, parsed, from_text)?,
        first_seen(ctx, parsed, to_text)?,
    ) else {
        out.no_evidence(format!("\"{from_text}\" or \"{to_text}\" was never seen"));
        return Ok(());
    };
    let seconds = match (
        crate::contract::parse_ts_utc(&a.1),
        crate::contract::parse_ts_utc(&b.1),
    ) {
        (Ok(x), Ok(y)) => (y - x).whole_seconds(),
        _ => 0,
    };
    let magnitude = seconds.unsigned_abs();
    let claim = format!(
        "\"{to_text}\" first appeared {} min {:02} s {} \"{from_text}\" ({} → {})",
        magnitude / 60,
        magnitude % 60,
        if seconds >= 0 { "after" } else { "before" },
        hms(&a.1),
        hms(&b.1)
    );
    out.summary = claim.clone();
    out.fields.insert("elapsed_seconds".into(), json!(seconds));
    out.fields.insert("from_ts_utc".into(), json!(a.1));
    out.fields.insert("to_ts_utc".into(), json!(b.1));
    for (frame_id, _, doc, kind) in [&a, &b] {
        ctx.cite(0, &claim, Cited::doc(doc, kind, frame_id, None, (0, 0)));
    }
    Ok(())
}

pub(super) fn search(ctx: &mut Ctx<'_>, parsed: &Parsed, out: &mut Draft) -> rusqlite::Result<()> {
    let fts = fts_query(parsed, None);
    if fts.is_empty() {
        out.no_evidence("nothing to search for".into());
        return Ok(());
    }
    let after = parsed.after.as_ref().map(|t| ctx.ts(t)).unwrap_or_default();
    let before = parsed
        .before
        .as_ref()
        .map(|t| ctx.ts(t))
        .unwrap_or_else(|| "9999".into());
    let like = |s: &Option<String>| {
        s.as_ref()
            .map(|v| format!("%{}%", v.to_lowercase()))
            .unwrap_or_else(|| "%".into())
    };
    // Distinct contents, best first; each cites its first frame inside the asked range.
    let sql = "SELECT c.rowid, c.kind, c.text, c.bboxes, c.window_title, c.process_name,
                      sp.first_ts, sp.first_frame_id, sp.first_doc_id
               FROM content_fts JOIN s.search_contents c ON c.rowid = content_fts.rowid
               JOIN s.content_spans sp ON sp.content_rowid = c.rowid
               WHERE content_fts MATCH ?1 AND sp.last_ts >= ?2 AND sp.first_ts <= ?3
                 AND lower(c.process_name) LIKE ?4 AND lower(c.window_title) LIKE ?5
               ORDER BY bm25(content_fts), sp.first_ts, c.rowid LIMIT 64";
    let run = |fts: &str| {
        ctx.handle.rows(
            sql,
            params![fts, after, before, like(&parsed.app), like(&parsed.window)],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    (
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, String>(8)?,
                    ),
                ))
            },
        )
    };
    // Every term first; when nothing holds them all, what was written in quotes or as an
    // identifier alone, else contents holding most of the words (more than half: one word of
    // a question on screen is not an answer to it), best ranked (BM25) first.
    let mut hits = run(&fts)?;
    let mut matched = "every term";
    if hits.is_empty()
        && let Some((any, words)) = any_term_query(parsed)
        && any != fts
    {
        hits = run(&any)?;
        hits.retain(|hit| {
            let text = format!("{} {}", hit.2, hit.4).to_lowercase();
            words.is_empty()
                || words.iter().filter(|w| text.contains(w.as_str())).count() * 2 > words.len()
        });
        matched = if words.is_empty() {
            "the quoted text"
        } else {
            "most terms"
        };
    }
    let mut rows = Vec::with_capacity(hits.len());
    for (content, kind, text, bboxes, title, process, first) in hits {
        let shown = if first.0 >= after {
            Some(first)
        } else {
            // The content was shown before the range too: its first frame inside it.
            ctx.handle
                .rows(
                    "SELECT f.ts_utc, f.frame_id, dc.doc_id FROM s.doc_contents dc
                     JOIN s.search_docs d ON d.doc_id = dc.doc_id
                     JOIN s.search_frames f ON f.uia_record_id = d.uia_record_id
                     WHERE dc.content_rowid = ?1 AND f.ts_utc >= ?2 AND f.ts_utc <= ?3
                     ORDER BY f.ts_utc, f.frame_id LIMIT 1",
                    params![content, after, before],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?
                .into_iter()
                .next()
        };
        let (ts, frame_id, doc) = match shown {
            Some((ts, frame_id, doc)) => (Some(ts), Some(frame_id), doc),
            None => (None, None, String::new()),
        };
        rows.push((doc, kind, text, bboxes, title, process, frame_id, ts));
    }
    let needle = parsed
        .phrases
        .first()
        .cloned()
        .or_else(|| content_words(&parsed.words, &[]).first().cloned())
        .unwrap_or_default();
    let mut claim_index = 0;
    for (doc, kind, text, bboxes, title, process, frame_id, ts) in rows {
        let (Some(frame_id), Some(ts)) = (frame_id, ts) else {
            continue;
        };
        let (bbox, span) = locate(&text, &bboxes, &needle);
        let line = text
            .lines()
            .nth(text[..span.0 as usize].matches('\n').count())
            .unwrap_or_default();
        let claim = format!("{} — \"{title}\" ({process}) at {}", line, hms(&ts));
        out.bullets.push(claim.clone());
        ctx.cite(
            claim_index,
            &claim,
            Cited::doc(&doc, &kind, &frame_id, bbox, span),
        );
        claim_index += 1;
        if claim_index as usize >= ctx.max_citations {
            break;
        }
    }
    if out.bullets.is_empty() {
        out.no_evidence(format!("nothing matches {fts}"));
        return Ok(());
    }
    out.summary = format!("{} matches; best: {}", out.bullets.len(), out.bullets[0]);
    out.fields.insert("matched".into(), json!(matched));
    out.confidence = Some(75);
    Ok(())
}
