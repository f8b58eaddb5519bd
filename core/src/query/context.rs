//! What every intent of the query engine works with: the context of one question ([`Ctx`]: the
//! handle, the asked time, the newest indexed frame), the answer being drafted ([`Draft`]),
//! cited records ([`Cited`]), frame rows of the index, and the evidence store's window records
//! and UIA nodes.

use rusqlite::params;
use serde_json::{Map, Value};

use super::answer::{AnswerState, Citation, NotAvailable};
use super::handle::QueryHandle;
use super::lexer::TimeSpec;
use super::runs;
use crate::uia::{Section, doc_id};

/// A frame row of the index.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    pub(super) id: String,
    pub(super) ts: String,
    pub(super) uia_record_id: String,
    pub(super) title: String,
    pub(super) process: String,
}

pub(super) const FRAME_COLUMNS: &str =
    "frame_id, ts_utc, uia_record_id, window_title, process_name";

pub(super) fn frame(row: &rusqlite::Row<'_>) -> rusqlite::Result<Frame> {
    Ok(Frame {
        id: row.get(0)?,
        ts: row.get(1)?,
        uia_record_id: row.get(2)?,
        title: row.get(3)?,
        process: row.get(4)?,
    })
}

/// What a citation points at.
pub(super) struct Cited<'a> {
    pub(super) record_id: &'a str,
    pub(super) record_type: &'a str,
    pub(super) source: &'a str,
    pub(super) doc: Option<&'a str>,
    pub(super) frame: Option<&'a str>,
    pub(super) bbox: Option<[u64; 4]>,
    pub(super) span: (u64, u64),
}

impl<'a> Cited<'a> {
    /// A frame record of the evidence store.
    pub(super) fn frame(frame_id: &'a str) -> Self {
        Cited {
            record_id: frame_id,
            record_type: "evidence.capture.frame",
            source: "metadata",
            doc: None,
            frame: Some(frame_id),
            bbox: None,
            span: (0, 0),
        }
    }

    /// Another record of the evidence store (a window record).
    pub(super) fn record(record_id: &'a str, record_type: &'a str) -> Self {
        Cited {
            record_id,
            record_type,
            source: "metadata",
            doc: None,
            frame: None,
            bbox: None,
            span: (0, 0),
        }
    }

    /// A doc of the Stage-2 index, seen on `frame`.
    pub(super) fn doc(
        doc_id: &'a str,
        kind: &'a str,
        frame: &'a str,
        bbox: Option<[u64; 4]>,
        span: (u64, u64),
    ) -> Self {
        Cited {
            record_id: doc_id,
            record_type: kind,
            source: "stage2_index",
            doc: Some(doc_id),
            frame: Some(frame),
            bbox,
            span,
        }
    }
}

pub(super) struct Ctx<'h> {
    pub(super) handle: &'h QueryHandle,
    pub(super) day: Option<String>,
    pub(super) newest_processed: Option<String>,
    pub(super) max_citations: usize,
    pub(super) citations: Vec<Citation>,
}

impl Ctx<'_> {
    /// The timestamp text of a time spec (clock times fall on the data's day).
    pub(super) fn ts(&self, time: &TimeSpec) -> String {
        match time {
            TimeSpec::Instant(text) => text.clone(),
            TimeSpec::Clock(seconds) => format!(
                "{}T{:02}:{:02}:{:02}.999999Z",
                self.day.as_deref().unwrap_or("1970-01-01"),
                seconds / 3600,
                seconds / 60 % 60,
                seconds % 60
            ),
        }
    }

    pub(super) fn cite(&mut self, claim_index: u32, claim: &str, cited: Cited<'_>) {
        if self.citations.len() >= self.max_citations {
            return;
        }
        let citation_index = self
            .citations
            .iter()
            .filter(|c| c.claim_index == claim_index)
            .count() as u32;
        self.citations.push(Citation {
            claim_index,
            citation_index,
            claim_text: claim.to_owned(),
            record_id: cited.record_id.to_owned(),
            record_type: cited.record_type.to_owned(),
            source: cited.source.to_owned(),
            span_kind: if cited.doc.is_some() {
                "doc_text".into()
            } else {
                "record".into()
            },
            offset_start: cited.span.0,
            offset_end: cited.span.1,
            stale: false,
            stale_reason: None,
            doc_id: cited.doc.map(str::to_owned),
            frame_id: cited.frame.map(str::to_owned),
            bbox: cited.bbox,
        });
    }

    /// Cites a frame and the bbox of its focused element.
    pub(super) fn cite_frame(
        &mut self,
        claim_index: u32,
        claim: &str,
        f: &Frame,
    ) -> rusqlite::Result<()> {
        let focus = doc_id(&f.uia_record_id, Section::Focus);
        let bbox = self.focus_bbox(&focus)?;
        self.cite(claim_index, claim, Cited::frame(&f.id));
        if let Some(bbox) = bbox {
            self.cite(
                claim_index,
                claim,
                Cited::doc(&focus, "obs.uia.focus", &f.id, Some(bbox), (0, 0)),
            );
        }
        Ok(())
    }

    pub(super) fn focus_bbox(&self, focus_doc: &str) -> rusqlite::Result<Option<[u64; 4]>> {
        let rows = self.handle.rows(
            "SELECT bboxes FROM s.search_docs WHERE doc_id = ?1",
            [focus_doc],
            |r| r.get::<_, String>(0),
        )?;
        Ok(rows
            .first()
            .and_then(|text| serde_json::from_str::<Vec<[u64; 4]>>(text).ok())
            .and_then(|boxes| boxes.last().copied()))
    }

    /// An indexed frame by id.
    pub(super) fn frame_by_id(&self, frame_id: &str) -> rusqlite::Result<Option<Frame>> {
        let sql = format!("SELECT {FRAME_COLUMNS} FROM s.search_frames WHERE frame_id = ?1");
        Ok(self
            .handle
            .rows(&sql, [frame_id], frame)?
            .into_iter()
            .next())
    }

    /// The latest indexed frame at or before `ts`, and the latest frame of any kind there.
    pub(super) fn frame_at(&self, ts: &str) -> rusqlite::Result<Option<Frame>> {
        let sql = format!(
            "SELECT {FRAME_COLUMNS} FROM s.search_frames WHERE ts_utc <= ?1 ORDER BY ts_utc DESC, frame_id DESC LIMIT 1"
        );
        Ok(self.handle.rows(&sql, [ts], frame)?.into_iter().next())
    }

    /// Frames in the evidence store after the newest indexed one, up to `ts`: work Stage 2 has
    /// not done yet for the asked moment.
    pub(super) fn unprocessed_until(&self, ts: &str) -> rusqlite::Result<bool> {
        let newest = self.newest_processed.clone().unwrap_or_default();
        let rows = self.handle.rows(
            "SELECT 1 FROM metadata WHERE +record_type = 'evidence.capture.frame' AND ts_utc > ?1 AND ts_utc <= ?2 LIMIT 1",
            params![newest, ts],
            |r| r.get::<_, i64>(0),
        )?;
        Ok(!rows.is_empty())
    }
}

pub(super) fn hms(ts: &str) -> &str {
    ts.get(11..19).unwrap_or(ts)
}

#[derive(Default)]
pub(super) struct Draft {
    pub(super) state: Option<AnswerState>,
    pub(super) summary: String,
    pub(super) bullets: Vec<String>,
    pub(super) fields: Map<String, Value>,
    pub(super) confidence: Option<u32>,
    pub(super) blocked: Option<String>,
    pub(super) not_available_info: Option<NotAvailable>,
}

impl Draft {
    pub(super) fn not_available(&mut self, missing: &str, newest: Option<String>) {
        self.state = Some(AnswerState::NotAvailableYet);
        self.summary = format!("not available yet: {missing} does not cover that time");
        self.blocked = Some("stage2_pending".into());
        self.not_available_info = Some(NotAvailable {
            missing: missing.to_owned(),
            newest_processed_ts_utc: newest,
            // The engine names the DataRoot's own path (`engine::stage2_command`).
            how_to_produce: String::new(),
        });
    }

    /// Nothing was found, but `pending` captured frames are not in the search index yet and
    /// could hold it: not yet, rather than no evidence.
    pub(super) fn pending(&mut self, pending: u64, newest: Option<String>) {
        self.not_available(
            &format!("the search index, with {pending} captured frames not in it yet,"),
            newest,
        );
        self.summary = format!(
            "not available yet: nothing found so far, and {pending} captured frames are not in the search index yet"
        );
        self.fields
            .insert("pending_frames".into(), serde_json::json!(pending));
    }

    pub(super) fn no_evidence(&mut self, summary: String) {
        self.state = Some(AnswerState::NoEvidence);
        self.summary = summary;
    }
}

/// The evidence store's window records (up to `until` when given), in time order, parsed.
pub(super) fn window_records(
    ctx: &Ctx<'_>,
    until: Option<&str>,
) -> rusqlite::Result<Vec<(String, Value)>> {
    let rows = ctx.handle.rows(
        "SELECT id, payload FROM metadata WHERE record_type = 'evidence.window.meta' AND typeof(ts_utc) = 'text' AND (?1 IS NULL OR ts_utc <= ?1) ORDER BY ts_utc, id",
        [until],
        |r| Ok((r.get::<_, String>(0)?, crate::store::payload_json(r.get_ref(1)?))),
    )?;
    Ok(rows)
}

/// A UIA node of a frame's snapshot, with the doc it came from.
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) name: String,
    pub(super) role: String,
    pub(super) aid: String,
    pub(super) bbox: Option<[u64; 4]>,
    pub(super) doc_id: String,
    pub(super) kind: String,
    /// Active, selected, unread or checked.
    pub(super) hot: bool,
}

/// The latest indexed frame at or before `at` (or at all) whose window title contains every word
/// of `window`, and the nodes of its snapshot's docs.
pub(super) fn window_nodes(
    ctx: &Ctx<'_>,
    window: &str,
    at: Option<&TimeSpec>,
) -> rusqlite::Result<Option<(Frame, Vec<Node>)>> {
    let ts = at.map(|t| ctx.ts(t)).unwrap_or_else(|| "9999".into());
    let linked = super::entities::link(ctx.handle, window)?;
    let mut found_id = runs::latest_window_frame(ctx.handle, &linked, &ts)?;
    // No title holds every word: the title that holds most of them, if any.
    if found_id.is_none()
        && let Some(title) = super::titles::best_title(ctx.handle, window, &ts)?
    {
        found_id = runs::latest_titled_frame(ctx.handle, &title, &ts)?;
    }
    let Some(found) = (match found_id {
        Some(id) => ctx.frame_by_id(&id)?,
        None => None,
    }) else {
        return Ok(None);
    };
    let nodes = frame_nodes(ctx, &found)?;
    Ok(Some((found, nodes)))
}

/// The nodes of a frame's snapshot docs (focus, context, operable).
pub(super) fn frame_nodes(ctx: &Ctx<'_>, found: &Frame) -> rusqlite::Result<Vec<Node>> {
    let mut nodes = Vec::new();
    for section in [Section::Focus, Section::Context, Section::Operable] {
        let id = doc_id(&found.uia_record_id, section);
        let payloads =
            ctx.handle
                .rows("SELECT payload FROM d.derived WHERE id = ?1", [&id], |r| {
                    r.get::<_, String>(0)
                })?;
        let Some(doc) = payloads
            .first()
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
        else {
            continue;
        };
        for n in doc["meta"]["uia_nodes"].as_array().into_iter().flatten() {
            let bbox = n["bbox"].as_array().and_then(|a| {
                let v: Vec<u64> = a.iter().filter_map(Value::as_u64).collect();
                (v.len() == 4).then(|| [v[0], v[1], v[2], v[3]])
            });
            nodes.push(Node {
                name: n["name"].as_str().unwrap_or_default().to_owned(),
                role: n["role"].as_str().unwrap_or_default().to_owned(),
                aid: n["aid"].as_str().unwrap_or_default().to_owned(),
                bbox,
                doc_id: id.clone(),
                kind: section.kind().to_owned(),
                hot: n["hot"].as_bool().unwrap_or(false),
            });
        }
    }
    Ok(nodes)
}

/// [`window_nodes`], or a `no_evidence` answer naming the window when none was recorded.
pub(super) fn window_nodes_or_absent(
    ctx: &Ctx<'_>,
    window: &str,
    at: Option<&TimeSpec>,
    out: &mut Draft,
) -> rusqlite::Result<Option<(Frame, Vec<Node>)>> {
    let found = window_nodes(ctx, window, at)?;
    if found.is_none() {
        out.no_evidence(format!(
            "no window like \"{window}\" was recorded{}",
            when(at, ctx)
        ));
    }
    Ok(found)
}

pub(super) fn when(at: Option<&TimeSpec>, ctx: &Ctx<'_>) -> String {
    at.map(|t| format!(" at {}", hms(&ctx.ts(t))))
        .unwrap_or_default()
}
