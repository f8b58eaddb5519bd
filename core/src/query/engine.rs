//! Answers a query from the precomputed artifacts: the Stage-2 index (`search_frames`,
//! `search_docs`, `search_fts`) and the evidence store's window records. Every `ok` answer
//! carries citations to real records; a time the index has not reached yet answers
//! `not_available_yet` with what to run; nothing found answers `no_evidence`.

use std::collections::BTreeMap;

use rusqlite::params;
use serde_json::{Value, json};

use super::answer::{Answer, AnswerState};
use super::context::{
    Cited, Ctx, Draft, FRAME_COLUMNS, Node, frame, hms, when, window_nodes, window_nodes_or_absent,
    window_records,
};
use super::handle::QueryHandle;
use super::language::{Intent, Parsed, SyntaxError, TimeSpec, content_words, intent, parse};
use super::runs;
use crate::contract::sha256_hex;
use crate::uia::Section;

#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// Citations per answer, clamped to 1..=32.
    pub max_citations: usize,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions { max_citations: 8 }
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

fn fts_query(parsed: &Parsed, text_override: Option<&str>) -> String {
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

/// The first node of a doc whose name contains `needle`, as (bbox, byte span in the doc text).
fn locate(text: &str, bboxes: &str, needle: &str) -> (Option<[u64; 4]>, (u64, u64)) {
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

/// Answers `query` against `handle`.
pub fn answer(
    handle: &QueryHandle,
    query: &str,
    options: &QueryOptions,
) -> Result<Answer, QueryError> {
    let parsed = parse(query)?;
    let intent = intent(&parsed);
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
        run_intent(&mut ctx, &parsed, &intent, &mut out)?;
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
    let fingerprint = format!(
        "{query}\u{0}{}\u{0}{}",
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
        not_available: out.not_available_info,
    })
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
            // Adjacent runs of one title are one segment: (first span, end timestamp).
            let mut segments: Vec<(runs::Span, String)> = Vec::new();
            for span in runs::spans(ctx.handle, &from, &to)? {
                match segments.last_mut() {
                    Some((first, end)) if first.run.window_title == span.run.window_title => {
                        *end = span.last_ts.clone()
                    }
                    _ => {
                        let end = span.last_ts.clone();
                        segments.push((span, end));
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
            for (index, (span, end)) in segments.iter().enumerate() {
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
            let words: Vec<String> = window.split_whitespace().map(str::to_lowercase).collect();
            let records = window_records(ctx, None)?;
            let mut owners: BTreeMap<String, (String, String)> = BTreeMap::new();
            for (id, value) in records {
                let title = value["window"]["title"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let lower = title.to_lowercase();
                if !words.is_empty() && words.iter().all(|w| lower.contains(w.as_str())) {
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
            let needle = target.to_lowercase();
            // A frame's focus lasts until the next frame, capped (a gap is not focus); the runs
            // hold those sums.
            let mut total_us = 0i64;
            let mut first_match: Option<String> = None;
            for span in runs::spans(ctx.handle, &from, &to)? {
                let run = &span.run;
                let matches = !needle.is_empty()
                    && (run.window_title.to_lowercase().contains(&needle)
                        || run.process_name.to_lowercase().contains(&needle));
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
                "\"{target}\" had focus for about {} h {:02} min",
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
        Intent::BBox { name, at } => bbox(ctx, name, at.as_ref(), out)?,
        Intent::Search => search(ctx, parsed, out)?,
    }
    Ok(())
}

/// The container of a node: its automation id without the item index (`inbox.3` → `inbox`).
fn container_of(aid: &str) -> &str {
    aid.split('.').next().unwrap_or(aid)
}

/// Whether `word` names `container` (`messages`, `message` and `inbox` name theirs).
fn names_container(word: &str, container: &str) -> bool {
    let singular = |s: &str| s.strip_suffix('s').unwrap_or(s).to_owned();
    !container.is_empty() && (word == container || singular(word) == singular(container))
}

#[allow(clippy::too_many_arguments)]
fn elements(
    ctx: &mut Ctx<'_>,
    role: &str,
    window: &str,
    at: Option<&TimeSpec>,
    count: bool,
    filter: Option<&str>,
    scope: &[String],
    out: &mut Draft,
) -> rusqlite::Result<()> {
    let Some((frame, nodes)) = window_nodes_or_absent(ctx, window, at, out)? else {
        return Ok(());
    };
    let mut seen = std::collections::BTreeSet::new();
    let chosen: Vec<&Node> = nodes
        .iter()
        .filter(|n| {
            // `field`: a label with a value beside it (a detail pane's key/value pair).
            let role_matches = if role == "field" {
                !n.aid.is_empty() && nodes.iter().any(|v| v.aid == format!("{}.value", n.aid))
            } else if role == "operable" {
                // Operable controls: what the operable doc lists, whatever their role.
                n.kind == Section::Operable.kind()
            } else {
                n.role == role
            };
            // `active`/`selected` are states (hot elements); `unread` is also in the label.
            let state_matches = filter.is_none_or(|f| {
                n.name.to_lowercase().contains(f) || (n.hot && matches!(f, "active" | "selected"))
            });
            role_matches && state_matches
        })
        .filter(|n| seen.insert((n.aid.clone(), n.name.clone())))
        .collect();
    // When the question names one of the window's lists or panes, keep only its elements.
    let named: Vec<&Node> = chosen
        .iter()
        .copied()
        .filter(|n| {
            scope
                .iter()
                .any(|w| names_container(w, container_of(&n.aid)))
        })
        .collect();
    let chosen = if named.is_empty() { chosen } else { named };
    let value_of = |n: &Node| {
        nodes
            .iter()
            .find(|v| !n.aid.is_empty() && v.aid == format!("{}.value", n.aid))
            .map(|v| v.name.clone())
    };
    let label = format!(
        "{}{}",
        filter.map(|f| format!("{f} ")).unwrap_or_default(),
        role.replace('_', " ")
    );
    let claim = format!(
        "{} {label}s in \"{}\" at {}",
        chosen.len(),
        frame.title,
        hms(&frame.ts)
    );
    if chosen.is_empty() && !count {
        out.no_evidence(format!(
            "no {label}s in \"{}\" at {}",
            frame.title,
            hms(&frame.ts)
        ));
        return Ok(());
    }
    out.summary = claim.clone();
    ctx.cite(0, &claim, Cited::frame(&frame.id));
    let mut list = Vec::new();
    for (index, n) in chosen.iter().enumerate() {
        let value = value_of(n);
        let bullet = match &value {
            Some(v) => format!("{}: {v}", n.name),
            None => n.name.clone(),
        };
        ctx.cite(
            index as u32 + 1,
            &bullet,
            Cited::doc(&n.doc_id, &n.kind, &frame.id, n.bbox, (0, 0)),
        );
        list.push(json!({"label": n.name, "value": value, "bbox": n.bbox}));
        out.bullets.push(bullet);
    }
    out.fields.insert("count".into(), json!(chosen.len()));
    out.fields.insert("elements".into(), Value::Array(list));
    out.fields.insert("window_title".into(), json!(frame.title));
    out.fields.insert("ts_utc".into(), json!(frame.ts));
    Ok(())
}

/// Amounts in a text: tokens with a currency sign or exactly two decimals (`$1,284.50`, `612.25`).
fn amounts(text: &str) -> Vec<f64> {
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|token| {
            let token = token.trim_end_matches([',', '.', ';', ':', '!', '?']);
            let currency = token.starts_with(['$', '€', '£']);
            let digits: String = token
                .trim_start_matches(['$', '€', '£', '-'])
                .chars()
                .filter(|c| *c != ',')
                .collect();
            let two_decimals = digits
                .split_once('.')
                .is_some_and(|(a, b)| !a.is_empty() && b.len() == 2);
            if !(currency || two_decimals)
                || digits.is_empty()
                || !digits.chars().all(|c| c.is_ascii_digit() || c == '.')
            {
                return None;
            }
            digits
                .parse::<f64>()
                .ok()
                .map(|v| if token.starts_with('-') { -v } else { v })
        })
        .collect()
}

fn sum(
    ctx: &mut Ctx<'_>,
    window: &str,
    at: Option<&TimeSpec>,
    out: &mut Draft,
) -> rusqlite::Result<()> {
    let Some((frame, nodes)) = window_nodes_or_absent(ctx, window, at, out)? else {
        return Ok(());
    };
    // A value labelled as a total is reported, not added again.
    let mut total_cents: i64 = 0;
    let mut numbers = Vec::new();
    let mut shown_total = None;
    let mut seen = std::collections::BTreeSet::new();
    for (index, n) in nodes.iter().enumerate() {
        if !seen.insert((n.aid.clone(), n.name.clone())) {
            continue;
        }
        let label = if n.aid.ends_with(".value") {
            nodes[..index]
                .iter()
                .rev()
                .find(|l| format!("{}.value", l.aid) == n.aid)
                .map(|l| l.name.clone())
                .unwrap_or_default()
        } else {
            String::new()
        };
        for value in amounts(&n.name) {
            if label.to_lowercase().contains("total") || n.name.to_lowercase().contains("total") {
                shown_total = Some(value);
                continue;
            }
            total_cents += (value * 100.0).round() as i64;
            numbers.push(json!({"value": value, "label": label, "text": n.name}));
            ctx.cite(
                numbers.len() as u32,
                &n.name,
                Cited::doc(&n.doc_id, &n.kind, &frame.id, n.bbox, (0, 0)),
            );
        }
    }
    if numbers.is_empty() {
        out.no_evidence(format!(
            "no amounts shown in \"{}\" at {}",
            frame.title,
            hms(&frame.ts)
        ));
        return Ok(());
    }
    let sum = format!("{}.{:02}", total_cents / 100, (total_cents % 100).abs());
    let claim = format!(
        "the {} amounts in \"{}\" at {} add up to {sum}",
        numbers.len(),
        frame.title,
        hms(&frame.ts)
    );
    out.summary = claim.clone();
    ctx.cite(0, &claim, Cited::frame(&frame.id));
    out.fields.insert("sum".into(), json!(sum));
    out.fields.insert("numbers".into(), Value::Array(numbers));
    out.fields.insert(
        "shown_total".into(),
        json!(shown_total.map(|t| format!("{t:.2}"))),
    );
    out.fields.insert("window_title".into(), json!(frame.title));
    Ok(())
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

fn elapsed(
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

fn bbox(
    ctx: &mut Ctx<'_>,
    name: &str,
    at: Option<&TimeSpec>,
    out: &mut Draft,
) -> rusqlite::Result<()> {
    let needle = name.trim().to_lowercase();
    if needle.is_empty() {
        out.no_evidence("say which element, in quotes".into());
        return Ok(());
    }
    // The frame at the asked moment (or the latest one) whose snapshot shows the element.
    let ts = at.map(|t| ctx.ts(t)).unwrap_or_else(|| "9999".into());
    let candidates = ctx.handle.rows(
        "SELECT f.frame_id, f.ts_utc, f.uia_record_id, f.window_title, f.process_name FROM search_fts
         JOIN s.search_docs d ON d.rowid = search_fts.rowid JOIN s.search_frames f ON f.uia_record_id = d.uia_record_id
         WHERE search_fts MATCH ?1 AND f.ts_utc <= ?2 ORDER BY f.ts_utc DESC, f.frame_id DESC LIMIT 1",
        params![format!("\"{}\"", name.replace('"', "\"\"")), ts],
        frame,
    )?;
    let Some(found) = candidates.into_iter().next() else {
        out.no_evidence(format!(
            "no element named \"{name}\" was seen{}",
            when(at, ctx)
        ));
        return Ok(());
    };
    let words: String = found.title.clone();
    let Some((frame, nodes)) =
        window_nodes(ctx, &words, Some(&TimeSpec::Instant(found.ts.clone())))?
    else {
        out.no_evidence(format!(
            "no element named \"{name}\" was seen{}",
            when(at, ctx)
        ));
        return Ok(());
    };
    let node = nodes
        .iter()
        .find(|n| n.name.to_lowercase() == needle)
        .or_else(|| {
            nodes
                .iter()
                .find(|n| n.name.to_lowercase().contains(&needle))
        });
    let Some(node) = node.filter(|n| n.bbox.is_some()) else {
        out.no_evidence(format!(
            "no element named \"{name}\" in \"{}\"",
            frame.title
        ));
        return Ok(());
    };
    let b = node.bbox.unwrap_or_default();
    let claim = format!(
        "\"{}\" ({}) was at [{}, {}, {}, {}] in \"{}\" at {}",
        node.name,
        node.role,
        b[0],
        b[1],
        b[2],
        b[3],
        frame.title,
        hms(&frame.ts)
    );
    out.summary = claim.clone();
    out.fields.insert("bbox".into(), json!(b));
    out.fields.insert("role".into(), json!(node.role));
    out.fields.insert("name".into(), json!(node.name));
    out.fields.insert("window_title".into(), json!(frame.title));
    out.fields.insert("ts_utc".into(), json!(frame.ts));
    ctx.cite(
        0,
        &claim,
        Cited::doc(&node.doc_id, &node.kind, &frame.id, Some(b), (0, 0)),
    );
    Ok(())
}

fn search(ctx: &mut Ctx<'_>, parsed: &Parsed, out: &mut Draft) -> rusqlite::Result<()> {
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
    let hits = ctx.handle.rows(
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
    )?;
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
    out.confidence = Some(75);
    Ok(())
}
