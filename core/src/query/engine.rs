//! Answers a query from the precomputed artifacts: the Stage-2 index (`search_frames`,
//! `search_docs`, `search_fts`) and the evidence store's window records. Every `ok` answer
//! carries citations to real records; a time the index has not reached yet answers
//! `not_available_yet` with what to run; nothing found answers `no_evidence`.

use std::collections::BTreeMap;

use rusqlite::params;
use serde_json::{Value, json};

use super::answer::{Answer, AnswerState};
use super::context::{Cited, Ctx, Draft, FRAME_COLUMNS, frame, hms, window_records};
use super::elements::{bbox, elements, sum};
use super::handle::QueryHandle;
use super::language::{Intent, understand};
use super::lexer::{Parsed, SyntaxError, parse};
use super::runs;
use super::search::{elapsed, fts_query, locate, search};
use crate::contract::sha256_hex;
use crate::stage2::COMPLETE_THROUGH_KEY;
use crate::store::FRAME_RECORD_TYPE;

#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// Citations per answer, clamped to 1..=32.
    pub max_citations: usize,
    /// Say how the question was understood ([`Answer::explain`]).
    pub explain: bool,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            max_citations: 8,
            explain: false,
        }
    }
}

/// Why a query could not be answered at all.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    #[error("read the DataRoot: {0}")]
    Store(#[from] rusqlite::Error),
}

impl QueryError {
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::Syntax(_) => "query_syntax",
            QueryError::Store(_) => "query_store_error",
        }
    }
}

/// Answers `query` against `handle`.
pub fn answer(
    handle: &QueryHandle,
    query: &str,
    options: &QueryOptions,
) -> Result<Answer, QueryError> {
    let parsed = parse(query)?;
    handle.in_snapshot(|| answer_parsed(handle, query, &parsed, options))
}

/// [`answer`] for a parsed query, inside the handle's snapshot.
fn answer_parsed(
    handle: &QueryHandle,
    query: &str,
    parsed: &Parsed,
    options: &QueryOptions,
) -> Result<Answer, QueryError> {
    let (intent, explanation) = understand(parsed);
    let newest_processed: Option<String> = if handle.has_index {
        handle
            .rows("SELECT max(ts_utc) FROM s.search_frames", [], |r| {
                r.get::<_, Option<String>>(0)
            })?
            .into_iter()
            .flatten()
            .next()
    } else {
        None
    };
    // `+record_type` keeps the planner on the time index (almost every row is a frame).
    let newest_any: Option<String> = handle
        .rows(
            "SELECT ts_utc FROM metadata WHERE +record_type = 'evidence.capture.frame' AND typeof(ts_utc) = 'text' ORDER BY ts_utc DESC LIMIT 1",
            [],
            |r| r.get::<_, Option<String>>(0),
        )?
        .into_iter()
        .flatten()
        .next();
    let day = newest_processed
        .clone()
        .or(newest_any.clone())
        .map(|ts| ts.chars().take(10).collect());
    let mut ctx = Ctx {
        handle,
        day,
        newest_processed: newest_processed.clone(),
        max_citations: options.max_citations.clamp(1, 32),
        citations: Vec::new(),
    };
    let mut out = Draft::default();
    if !handle.has_index {
        out.not_available("the Stage-2 search index", None);
    } else {
        run_intent(&mut ctx, parsed, &intent, &mut out)?;
    }
    let state = out.state.unwrap_or(if ctx.citations.is_empty() {
        AnswerState::NoEvidence
    } else {
        AnswerState::Ok
    });
    // No citation, no `ok` (contract §7).
    let state = if state == AnswerState::Ok && ctx.citations.is_empty() {
        AnswerState::NoEvidence
    } else {
        state
    };
    // Frames captured but not indexed yet (a handoff ingested late, with older times; a first
    // Stage-2 run still going) could hold what was not found.
    // Read only when nothing was found: an answer that found something does not depend on it.
    let pending = if state == AnswerState::NoEvidence {
        pending_frames(handle)?
    } else {
        0
    };
    let state = if pending > 0 {
        out.pending(pending, newest_processed.clone());
        AnswerState::NotAvailableYet
    } else {
        state
    };
    let explain = if options.explain {
        let mut value = serde_json::to_value(&explanation).unwrap_or(Value::Null);
        if let Some(name) = named(&intent) {
            let linked = super::entities::link(handle, name)?;
            value["linked"] = json!({
                "name": name,
                "processes": linked.processes,
                "links": linked.links,
                "title_words": linked.words,
            });
        }
        if matches!(intent, Intent::Search) {
            value["search"] = json!({
                "terms": fts_query(parsed, None),
                "matched": out.fields.get("matched").cloned().unwrap_or(Value::Null),
            });
        }
        Some(value)
    } else {
        None
    };
    // The pending count only when it made the answer (a late, older handoff moves neither time).
    let fingerprint = format!(
        "{query}\u{0}{}\u{0}{}\u{0}{pending}",
        newest_processed.as_deref().unwrap_or(""),
        newest_any.as_deref().unwrap_or("")
    );
    Ok(Answer {
        query: query.to_owned(),
        query_run_id: format!("q_{}", &sha256_hex(fingerprint.as_bytes())[..16]),
        state,
        summary: out.summary,
        bullets: out.bullets,
        fields: out.fields,
        topic: Some(topic(&intent).to_owned()),
        confidence_pct: match state {
            AnswerState::Ok => out.confidence.unwrap_or(90),
            _ => 0,
        },
        needs_processing: state == AnswerState::NotAvailableYet,
        processing_blocked_reason: out.blocked,
        citations: ctx.citations,
        counters: handle.counters.values(),
        not_available: out.not_available_info.map(|mut info| {
            info.how_to_produce = stage2_command(handle.root());
            info
        }),
        explain,
    })
}

/// Frames not in the search index yet: the evidence database's frames above the mark the last
/// Stage-2 run that left none pending recorded ([`COMPLETE_THROUGH_KEY`]; every frame when no run
/// has), so the usual answer costs one index probe. Read from the evidence database, as the
/// answer's other figures are: an ingest commits it and the derived database one after the
/// other, and a reader between the two must still see one state.
fn pending_frames(handle: &QueryHandle) -> rusqlite::Result<u64> {
    if !handle.has_index {
        return Ok(0);
    }
    let through: i64 = handle
        .rows(
            "SELECT CAST(value AS INTEGER) FROM s.stage2_state WHERE key = ?1",
            [COMPLETE_THROUGH_KEY],
            |r| r.get(0),
        )?
        .into_iter()
        .next()
        .unwrap_or(-1);
    let pending: i64 = handle
        .rows(
            "SELECT count(*) FROM main.metadata WHERE rowid > ?2 AND record_type = ?1",
            params![FRAME_RECORD_TYPE, through],
            |r| r.get(0),
        )?
        .into_iter()
        .next()
        .unwrap_or(0);
    Ok(pending as u64)
}

/// What a name linked to, for an answer to say: ` (firefox.exe)`, or nothing.
pub(super) fn linked_apps(linked: &super::entities::Linked) -> String {
    if linked.links.is_empty() {
        String::new()
    } else {
        format!(" ({})", linked.processes.join(", "))
    }
}

/// The window, app or element name an intent's answer looks up, if it has one.
fn named(intent: &Intent) -> Option<&str> {
    match intent {
        Intent::ProcessOwner { window }
        | Intent::Elements { window, .. }
        | Intent::BrowserChrome { window, .. }
        | Intent::While { window }
        | Intent::Sum { window, .. } => Some(window),
        Intent::FocusDuration { target, .. } | Intent::WindowsUsed { target, .. } => Some(target),
        _ => None,
    }
}

fn topic(intent: &Intent) -> &'static str {
    match intent {
        Intent::FocusAt(_) => "focus_at",
        Intent::FocusAdjacent { .. } => "focus_adjacent",
        Intent::FocusTimeline { .. } => "focus_timeline",
        Intent::WindowsAt(_) => "window_inventory",
        Intent::Seen { .. } => "seen",
        Intent::ProcessOwner { .. } => "process_owner",
        Intent::FocusDuration { .. } => "focus_duration",
        Intent::Elements { count: true, .. } => "count",
        Intent::Elements { .. } => "elements",
        Intent::Sum { .. } => "sum",
        Intent::Elapsed { .. } => "elapsed",
        Intent::BBox { .. } => "bbox",
        Intent::BrowserChrome { .. } => "browser_chrome",
        Intent::Correlate { .. } => "correlate",
        Intent::WindowsUsed { .. } => "windows_used",
        Intent::While { .. } => "while",
        Intent::Search => "search",
    }
}

fn run_intent(
    ctx: &mut Ctx<'_>,
    parsed: &Parsed,
    intent: &Intent,
    out: &mut Draft,
) -> rusqlite::Result<()> {
    match intent {
        Intent::FocusAt(time) | Intent::FocusAdjacent { at: time, .. } => {
            let ts = ctx.ts(time);
            if ctx.unprocessed_until(&ts)? {
                out.not_available(
                    &format!("the search index at {}", hms(&ts)),
                    ctx.newest_processed.clone(),
                );
                return Ok(());
            }
            let Some(at) = ctx.frame_at(&ts)? else {
                out.no_evidence(format!(
                    "no focused window is recorded at or before {}",
                    hms(&ts)
                ));
                return Ok(());
            };
            let target = match intent {
                Intent::FocusAdjacent { before, .. } => {
                    let sql = if *before {
                        format!(
                            "SELECT {FRAME_COLUMNS} FROM s.search_frames WHERE ts_utc < ?1 AND window_title != ?2 ORDER BY ts_utc DESC LIMIT 1"
                        )
                    } else {
                        format!(
                            "SELECT {FRAME_COLUMNS} FROM s.search_frames WHERE ts_utc > ?1 AND window_title != ?2 ORDER BY ts_utc ASC LIMIT 1"
                        )
                    };
                    let anchor = if *before { &at.ts } else { &ts };
                    match ctx
                        .handle
                        .rows(&sql, params![anchor, at.title], frame)?
                        .into_iter()
                        .next()
                    {
                        Some(f) => f,
                        None => {
                            out.no_evidence(format!(
                                "no other window had focus {} {}",
                                if *before { "before" } else { "after" },
                                hms(&ts)
                            ));
                            return Ok(());
                        }
                    }
                }
                _ => at,
            };
            let claim = format!(
                "\"{}\" ({}) had focus at {}",
                target.title,
                target.process,
                hms(&target.ts)
            );
            out.summary = claim.clone();
            out.fields
                .insert("window_title".into(), json!(target.title));
            out.fields
                .insert("process_name".into(), json!(target.process));
            out.fields.insert("ts_utc".into(), json!(target.ts));
            out.fields.insert("frame_id".into(), json!(target.id));
            ctx.cite_frame(0, &claim, &target)?;
        }
        Intent::FocusTimeline { from, to } => {
            let (from, to) = (ctx.ts(from), ctx.ts(to));
            // Adjacent runs of one title are one segment: (first span, end timestamp, end µs),
            // unless a capture gap longer than the focus cap (the user was away, the screen
            // locked) separates them: then they are two visits.
            let mut segments: Vec<(runs::Span, String, i64)> = Vec::new();
            for span in runs::spans(ctx.handle, &from, &to)? {
                match segments.last_mut() {
                    Some((first, end, end_us))
                        if first.run.window_title == span.run.window_title
                            && span.first_us - *end_us <= crate::stage2::focus_runs::GAP_CAP_US =>
                    {
                        *end = span.last_ts.clone();
                        *end_us = span.last_us;
                    }
                    _ => {
                        let (end, end_us) = (span.last_ts.clone(), span.last_us);
                        segments.push((span, end, end_us));
                    }
                }
            }
            if segments.is_empty() {
                out.no_evidence(format!(
                    "no focused window is recorded between {} and {}",
                    hms(&from),
                    hms(&to)
                ));
                return Ok(());
            }
            out.summary = format!(
                "{} focus changes between {} and {}",
                segments.len(),
                hms(&from),
                hms(&to)
            );
            let mut timeline = Vec::new();
            for (index, (span, end, _)) in segments.iter().enumerate() {
                let Some(first) = ctx.frame_by_id(&span.first_id)? else {
                    continue;
                };
                let bullet = format!(
                    "{}–{} {} ({})",
                    hms(&first.ts),
                    hms(end),
                    first.title,
                    first.process
                );
                ctx.cite_frame(index as u32, &bullet, &first)?;
                timeline.push(json!({"start_ts_utc": first.ts, "last_seen_ts_utc": end, "window_title": first.title, "process_name": first.process}));
                out.bullets.push(bullet);
            }
            out.fields.insert("timeline".into(), Value::Array(timeline));
        }
        Intent::WindowsAt(time) => {
            let ts = ctx.ts(time);
            let records = window_records(ctx, Some(&ts))?;
            let mut open: BTreeMap<String, (String, Value)> = BTreeMap::new();
            for (id, value) in records {
                let hwnd = value["window"]["hwnd"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if value["event"] == "closed" {
                    open.remove(&hwnd);
                } else {
                    open.insert(hwnd, (id, value));
                }
            }
            if open.is_empty() {
                out.no_evidence(format!("no window records at or before {}", hms(&ts)));
                return Ok(());
            }
            out.summary = format!("{} windows were open at {}", open.len(), hms(&ts));
            let mut windows = Vec::new();
            for (index, (hwnd, (id, value))) in open.iter().enumerate() {
                let title = value["window"]["title"].as_str().unwrap_or_default();
                let process = crate::contract::process_name(
                    value["window"]["process_path"].as_str().unwrap_or_default(),
                );
                let bullet = format!("{title} ({process})");
                ctx.cite(
                    index as u32,
                    &bullet,
                    Cited::record(id, "evidence.window.meta"),
                );
                windows.push(json!({"hwnd": hwnd, "window_title": title, "process_name": process}));
                out.bullets.push(bullet);
            }
            out.fields.insert("windows".into(), Value::Array(windows));
        }
        Intent::Seen { text, first } => {
            if text.trim().is_empty() {
                out.no_evidence("say which text to look for, in quotes".into());
                return Ok(());
            }
            // Each distinct content that matches carries its first and last frame.
            let (side, order) = if *first {
                ("first", "ASC")
            } else {
                ("last", "DESC")
            };
            let sql = format!(
                "SELECT sp.{side}_frame_id, sp.{side}_ts, sp.{side}_doc_id, c.kind, c.text, c.bboxes
                 FROM content_fts JOIN s.search_contents c ON c.rowid = content_fts.rowid
                 JOIN s.content_spans sp ON sp.content_rowid = c.rowid
                 WHERE content_fts MATCH ?1 ORDER BY sp.{side}_ts {order}, sp.{side}_frame_id {order} LIMIT 1"
            );
            let hit = ctx
                .handle
                .rows(&sql, [fts_query(parsed, Some(text))], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                })?;
            let Some((frame_id, ts, doc, kind, doc_text, bboxes)) = hit.into_iter().next() else {
                out.no_evidence(format!("\"{text}\" was not seen"));
                return Ok(());
            };
            let claim = format!(
                "\"{text}\" was {} seen at {}",
                if *first { "first" } else { "last" },
                hms(&ts)
            );
            out.summary = claim.clone();
            out.fields.insert("ts_utc".into(), json!(ts));
            out.fields.insert("frame_id".into(), json!(frame_id));
            let (bbox, span) = locate(&doc_text, &bboxes, text);
            ctx.cite(0, &claim, Cited::frame(&frame_id));
            ctx.cite(0, &claim, Cited::doc(&doc, &kind, &frame_id, bbox, span));
        }
        Intent::ProcessOwner { window } => {
            let mut words: Vec<String> = window.split_whitespace().map(str::to_lowercase).collect();
            let records = window_records(ctx, None)?;
            // No title holds every word: the window the words name best.
            let held = |words: &[String], title: &str| {
                let lower = title.to_lowercase();
                !words.is_empty() && words.iter().all(|w| lower.contains(w.as_str()))
            };
            if !records
                .iter()
                .any(|(_, v)| held(&words, v["window"]["title"].as_str().unwrap_or_default()))
                && let Some(title) = super::titles::best_title(ctx.handle, window, "9999")?
            {
                words = vec![title.to_lowercase()];
            }
            let mut owners: BTreeMap<String, (String, String)> = BTreeMap::new();
            for (id, value) in records {
                let title = value["window"]["title"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if held(&words, &title) {
                    let path = value["window"]["process_path"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    owners.entry(path).or_insert((id, title));
                }
            }
            if owners.is_empty() {
                out.no_evidence(format!("no window titled like \"{window}\" was recorded"));
                return Ok(());
            }
            for (index, (path, (id, title))) in owners.iter().enumerate() {
                let claim = format!(
                    "\"{title}\" belonged to {} ({path})",
                    crate::contract::process_name(path)
                );
                if index == 0 {
                    out.summary = claim.clone();
                    out.fields.insert("process_path".into(), json!(path));
                    out.fields.insert(
                        "process_name".into(),
                        json!(crate::contract::process_name(path)),
                    );
                    out.fields.insert("window_title".into(), json!(title));
                }
                out.bullets.push(claim.clone());
                ctx.cite(
                    index as u32,
                    &claim,
                    Cited::record(id, "evidence.window.meta"),
                );
            }
        }
        Intent::FocusDuration { target, from, to } => {
            let from = from.as_ref().map(|t| ctx.ts(t)).unwrap_or_default();
            let to = to
                .as_ref()
                .map(|t| ctx.ts(t))
                .unwrap_or_else(|| "9999".into());
            let linked = super::entities::link(ctx.handle, target)?;
            // A frame's focus lasts until the next frame, capped (a gap is not focus); the runs
            // hold those sums.
            let mut total_us = 0i64;
            let mut first_match: Option<String> = None;
            for span in runs::spans(ctx.handle, &from, &to)? {
                let run = &span.run;
                let matches =
                    !linked.is_empty() && linked.matches(&run.window_title, &run.process_name);
                if matches && span.counts() {
                    total_us += span.focus_us();
                    first_match.get_or_insert_with(|| span.first_id.clone());
                }
            }
            let total = total_us as f64 / 1e6;
            let first_match = match first_match {
                Some(id) => ctx.frame_by_id(&id)?,
                None => None,
            };
            let Some(first) = first_match else {
                out.no_evidence(format!("\"{target}\" never had focus in that range"));
                return Ok(());
            };
            let minutes = (total / 60.0).round() as u64;
            let claim = format!(
                "\"{target}\"{} had focus for about {} h {:02} min",
                linked_apps(&linked),
                minutes / 60,
                minutes % 60
            );
            out.summary = claim.clone();
            out.fields
                .insert("focus_seconds".into(), json!(total.round() as u64));
            ctx.cite_frame(0, &claim, &first)?;
        }
        Intent::Elements {
            role,
            window,
            at,
            count,
            filter,
            scope,
        } => elements(
            ctx,
            role,
            window,
            at.as_ref(),
            *count,
            filter.as_deref(),
            scope,
            out,
        )?,
        Intent::BrowserChrome { window, at } => {
            super::chrome::browser_chrome(ctx, window, at.as_ref(), out)?
        }
        Intent::Correlate { text } => super::correlate::correlate(ctx, text, out)?,
        Intent::WindowsUsed { target, from, to } => {
            super::span::windows_used(ctx, target, from, to, out)?
        }
        Intent::While { window } => super::span::arrived_while(ctx, window, out)?,
        Intent::Sum { window, at } => sum(ctx, window, at.as_ref(), out)?,
        Intent::Elapsed { from_text, to_text } => elapsed(ctx, parsed, from_text, to_text, out)?,
        Intent::BBox { name, at } => {
            // A quoted name is taken as written; otherwise the question's words say which
            // element, whole.
            let quoted = parsed.phrases.first() == Some(name);
            let asked = (!quoted).then_some(parsed.words.as_slice());
            bbox(ctx, name, asked, at.as_ref(), out)?
        }
        Intent::Search => search(ctx, parsed, out)?,
    }
    Ok(())
}

/// The command that indexes what is missing, runnable as printed: the DataRoot's own path, quoted
/// for a POSIX shell when it holds anything but plain path characters.
fn stage2_command(root: &std::path::Path) -> String {
    let path = root.display().to_string();
    let plain = !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@".contains(c));
    let quoted = if plain {
        path
    } else {
        format!("'{}'", path.replace('\'', "'\\''"))
    };
    format!(
        "autocapture stage2 run --data-dir {quoted} (runs while the user is idle; add --now to run \
         it at once)"
    )
}
