//! The rules that turn a corpus's `truth.json` into a case's checks: what the screen showed,
//! when each window had focus, what was open, where an element was. Pure functions over the
//! truth document; a rule that cannot apply (a window the story lacks, a text never on screen)
//! is a [`CaseError`] naming the case.

use serde_json::{Value, json};

use super::cases::{
    BboxExpect, Case, CaseError, CaseFile, CaseTemplate, Checks, EvidenceRule, PathCheck,
    PathExpect, Rule, case_err, frame_seq,
};
use super::text::{dollar_cents, label_minutes};

/// Instantiates every template of `file` on a corpus's truth.
pub fn instantiate(file: &CaseFile, truth: &Value) -> Result<Vec<Case>, CaseError> {
    let truth = Truth::read(truth)?;
    file.cases
        .iter()
        .map(|template| {
            let mut checks = derive(&truth, template)?;
            checks
                .expected_contains_all
                .extend(template.expected_contains_all.iter().cloned());
            checks.allow_indeterminate = template.allow_indeterminate;
            Ok(Case {
                id: template.id.clone(),
                class: template.class.clone(),
                question: template.question.clone(),
                phrasings: template.phrasings.clone(),
                checks,
            })
        })
        .collect()
}

/// The parts of `truth.json` the rules read.
pub(super) struct Truth<'a> {
    date: String,
    segments: Vec<&'a Value>,
    screens: Vec<&'a Value>,
    events: Vec<&'a Value>,
    windows: Vec<&'a Value>,
    texts: &'a serde_json::Map<String, Value>,
    /// Mean seconds between frames.
    frame_step_s: f64,
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn process_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

const OPERABLE_ROLES: [&str; 6] = [
    "button",
    "edit",
    "check_box",
    "hyperlink",
    "menu_item",
    "tab_item",
];

impl<'a> Truth<'a> {
    pub(super) fn read(truth: &'a Value) -> Result<Truth<'a>, CaseError> {
        let list = |key: &str| -> Result<Vec<&'a Value>, CaseError> {
            truth[key]
                .as_array()
                .map(|a| a.iter().collect())
                .ok_or_else(|| case_err("truth", format!("truth.json has no {key} list")))
        };
        Ok(Truth {
            date: s(&truth["story"]["date"]).to_owned(),
            segments: list("focus_timeline")?,
            screens: list("screens")?,
            events: list("events")?,
            windows: list("windows")?,
            texts: truth["texts"]
                .as_object()
                .ok_or_else(|| case_err("truth", "truth.json has no texts map"))?,
            frame_step_s: {
                let handoffs = truth["handoffs"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let parse = |v: &Value| autocapture_core::contract::parse_ts_utc(s(v)).ok();
                let span = handoffs
                    .first()
                    .and_then(|h| parse(&h["first_ts_utc"]))
                    .zip(handoffs.last().and_then(|h| parse(&h["last_ts_utc"])))
                    .map_or(0.0, |(a, b)| (b - a).as_seconds_f64());
                span / truth["frames_total"].as_f64().unwrap_or(1.0).max(1.0)
            },
        })
    }

    /// `HH:MM[:SS]` → the timestamp text of the end of that second on the story's day.
    fn ts(&self, case: &str, clock: &str) -> Result<String, CaseError> {
        let parts: Vec<&str> = clock.split(':').collect();
        let valid = (2..=3).contains(&parts.len())
            && parts
                .iter()
                .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()));
        if !valid {
            return Err(case_err(case, format!("{clock:?} is not HH:MM[:SS]")));
        }
        Ok(format!(
            "{}T{}:{}:{}.999999Z",
            self.date,
            parts[0],
            parts[1],
            parts.get(2).unwrap_or(&"00")
        ))
    }

    fn window(&self, case: &str, id: &str) -> Result<&'a Value, CaseError> {
        self.windows
            .iter()
            .copied()
            .find(|w| s(&w["id"]) == id)
            .ok_or_else(|| case_err(case, format!("truth has no window {id:?}")))
    }

    /// Index of the focus segment showing at `ts`.
    fn segment_at(&self, ts: &str) -> Option<usize> {
        self.segments
            .iter()
            .rposition(|seg| s(&seg["start_ts_utc"]) <= ts)
    }

    /// Frame sequence range of segment `i`: its first frame up to the next segment's.
    fn segment_frames(&self, i: usize) -> [u64; 2] {
        let first = frame_seq(s(&self.segments[i]["first_frame_id"])).unwrap_or(0);
        let last = self
            .segments
            .get(i + 1)
            .and_then(|next| frame_seq(s(&next["first_frame_id"])))
            .map_or(u64::MAX, |n| n.saturating_sub(1));
        [first, last]
    }

    /// The last screen of `window` at or before `ts`, and the frames that still show it.
    fn screen_at(
        &self,
        case: &str,
        window: &str,
        ts: &str,
    ) -> Result<(&'a Value, [u64; 2]), CaseError> {
        let index = self
            .screens
            .iter()
            .rposition(|sc| s(&sc["window"]) == window && s(&sc["ts_utc"]) <= ts)
            .ok_or_else(|| case_err(case, format!("window {window:?} never showed by {ts}")))?;
        Ok((self.screens[index], self.screen_frames(index)))
    }

    fn screen_frames(&self, index: usize) -> [u64; 2] {
        let first = frame_seq(s(&self.screens[index]["frame_id"])).unwrap_or(0);
        let last = self
            .screens
            .get(index + 1)
            .and_then(|next| frame_seq(s(&next["frame_id"])))
            .map_or(u64::MAX, |n| n.saturating_sub(1));
        [first, last]
    }

    /// Open windows and their titles at `ts`, replaying the story's events.
    fn open_windows(&self, ts: &str) -> Vec<(String, String)> {
        let mut state: Vec<(String, String, bool)> = self
            .windows
            .iter()
            .map(|w| {
                (
                    s(&w["id"]).to_owned(),
                    s(&w["initial_title"]).to_owned(),
                    w["open_at_start"].as_bool().unwrap_or(false),
                )
            })
            .collect();
        for event in &self.events {
            if s(&event["ts_utc"]) > ts {
                break;
            }
            let action = &event["action"];
            let Some(entry) = state.iter_mut().find(|w| w.0 == s(&action["window"])) else {
                continue;
            };
            match s(&action["do"]) {
                "open" => entry.2 = true,
                "close" => entry.2 = false,
                "title" => entry.1 = s(&action["title"]).to_owned(),
                _ => {}
            }
        }
        state
            .into_iter()
            .filter(|w| w.2)
            .map(|w| (w.0, w.1))
            .collect()
    }

    /// The first and last sightings of any text holding `text` (case-insensitive).
    fn sightings(&self, text: &str) -> Option<(&'a Value, &'a Value)> {
        let needle = text.to_lowercase();
        let hits: Vec<&Value> = self
            .texts
            .iter()
            .filter(|(k, _)| k.to_lowercase().contains(&needle))
            .map(|(_, v)| v)
            .collect();
        let first = hits
            .iter()
            .map(|v| &v["first"])
            .min_by(|a, b| s(&a["ts_utc"]).cmp(s(&b["ts_utc"])))?;
        let last = hits
            .iter()
            .map(|v| &v["last"])
            .max_by(|a, b| s(&a["ts_utc"]).cmp(s(&b["ts_utc"])))?;
        Some((first, last))
    }
}

/// The nodes of a screen, deduplicated by (aid, name) in walk order.
fn screen_nodes(screen: &Value) -> Vec<&Value> {
    let mut seen = std::collections::BTreeSet::new();
    screen["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .filter(|n| seen.insert((s(&n["aid"]).to_owned(), s(&n["name"]).to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn value_of<'v>(nodes: &[&'v Value], aid: &str) -> Option<&'v str> {
    let value_aid = format!("{aid}.value");
    nodes
        .iter()
        .find(|v| !aid.is_empty() && s(&v["aid"]) == value_aid)
        .map(|v| s(&v["name"]))
}

fn container(aid: &str) -> &str {
    aid.split('.').next().unwrap_or(aid)
}

fn clock_seconds(ts: &str) -> Option<u32> {
    let at = autocapture_core::contract::parse_ts_utc(ts).ok()?;
    Some(u32::from(at.hour()) * 3600 + u32::from(at.minute()) * 60 + u32::from(at.second()))
}

fn rule(record_type: &str, frames: Option<[u64; 2]>) -> EvidenceRule {
    EvidenceRule {
        record_type: record_type.to_owned(),
        frames,
    }
}

/// Frames and UIA docs cited on frames in `range`.
fn on_frames(range: [u64; 2]) -> Vec<EvidenceRule> {
    [
        "evidence.capture.frame",
        "obs.uia.focus",
        "obs.uia.context",
        "obs.uia.operable",
    ]
    .iter()
    .map(|t| rule(t, Some(range)))
    .collect()
}

/// UIA docs on any frame.
fn uia_docs() -> Vec<EvidenceRule> {
    ["obs.uia.focus", "obs.uia.context", "obs.uia.operable"]
        .iter()
        .map(|t| rule(t, None))
        .collect()
}

fn equals(path: &str, value: Value) -> PathCheck {
    PathCheck {
        path: path.to_owned(),
        expect: PathExpect::Equals(value),
    }
}

pub(super) fn derive(truth: &Truth<'_>, template: &CaseTemplate) -> Result<Checks, CaseError> {
    let id = template.id.as_str();
    let mut c = Checks::default();
    match &template.truth {
        Rule::NoEvidence => {
            c.allowed_answer_states = vec!["no_evidence".into()];
            c.require_citations = false;
        }
        Rule::WindowsOpenAt { at } => {
            let open = truth.open_windows(&truth.ts(id, at)?);
            c.expected_contains_all = open.iter().map(|w| w.1.clone()).collect();
            c.expected_paths
                .push(equals("fields.windows.#", json!(open.len())));
            c.allowed_evidence = Some(vec![rule("evidence.window.meta", None)]);
        }
        Rule::FocusAt { at } => {
            let ts = truth.ts(id, at)?;
            let Some(i) = truth.segment_at(&ts) else {
                c.allowed_answer_states = vec!["no_evidence".into()];
                c.require_citations = false;
                return Ok(c);
            };
            let seg = truth.segments[i];
            if s(&seg["window"]) == "locked" {
                return Err(case_err(id, "the screen is locked at that time"));
            }
            c.expected_contains_all = vec![s(&seg["title"]).to_owned()];
            c.expected_paths = vec![
                equals("fields.window_title", seg["title"].clone()),
                equals(
                    "fields.process_name",
                    json!(process_name(s(&seg["process_path"]))),
                ),
            ];
            c.allowed_evidence = Some(on_frames(truth.segment_frames(i)));
        }
        Rule::FocusAdjacent { at, before } => {
            let ts = truth.ts(id, at)?;
            let i = truth
                .segment_at(&ts)
                .ok_or_else(|| case_err(id, "no focus at that time"))?;
            let title = s(&truth.segments[i]["title"]);
            let differs = |j: &usize| {
                let seg = truth.segments[*j];
                s(&seg["window"]) != "locked" && s(&seg["title"]) != title
            };
            let j = if *before {
                (0..i).rev().find(differs)
            } else {
                (i + 1..truth.segments.len()).find(differs)
            }
            .ok_or_else(|| case_err(id, "no other window on that side"))?;
            let seg = truth.segments[j];
            c.expected_contains_all = vec![s(&seg["title"]).to_owned()];
            c.expected_paths = vec![equals("fields.window_title", seg["title"].clone())];
            c.allowed_evidence = Some(on_frames(truth.segment_frames(j)));
        }
        Rule::FocusTimeline { from, to } => {
            let (from, to) = (truth.ts(id, from)?, truth.ts(id, to)?);
            let first = truth
                .segment_at(&from)
                .ok_or_else(|| case_err(id, "no focus at the start"))?;
            let last = truth
                .segment_at(&to)
                .ok_or_else(|| case_err(id, "no focus at the end"))?;
            let segments: Vec<usize> = (first..=last)
                .filter(|j| s(&truth.segments[*j]["window"]) != "locked")
                .collect();
            let timeline: Vec<Value> = segments
                .iter()
                .map(|j| json!({"window_title": truth.segments[*j]["title"]}))
                .collect();
            c.expected_answer = Some(json!({"fields": {"timeline": timeline}}));
            c.expected_paths
                .push(equals("fields.timeline.#", json!(segments.len())));
            c.allowed_evidence = Some(on_frames([
                truth.segment_frames(first)[0],
                truth.segment_frames(last)[1],
            ]));
        }
        Rule::FocusSeconds { app, from, to } => {
            let from = from.as_ref().map(|t| truth.ts(id, t)).transpose()?;
            let to = to.as_ref().map(|t| truth.ts(id, t)).transpose()?;
            let parse = |t: &str| autocapture_core::contract::parse_ts_utc(t).ok();
            let mut total = 0.0;
            for seg in truth.segments.iter().filter(|seg| s(&seg["app"]) == app) {
                let (Some(mut a), Some(mut b)) =
                    (parse(s(&seg["start_ts_utc"])), parse(s(&seg["end_ts_utc"])))
                else {
                    continue;
                };
                if let Some(from) = from.as_deref().and_then(parse) {
                    a = a.max(from);
                }
                if let Some(to) = to.as_deref().and_then(parse) {
                    b = b.min(to);
                }
                total += (b - a).as_seconds_f64().max(0.0);
            }
            if total <= 0.0 {
                return Err(case_err(id, format!("app {app:?} never had focus there")));
            }
            // The engine measures from frame to frame: each range end can cut one frame gap,
            // and a jittered gap is up to 1.5 mean steps.
            let slack = 4.0 * truth.frame_step_s;
            c.expected_paths.push(PathCheck {
                path: "fields.focus_seconds".into(),
                expect: PathExpect::Between([total - slack, total + slack]),
            });
        }
        Rule::Seen { text, first } => {
            let (first_seen, last_seen) = truth
                .sightings(text)
                .ok_or_else(|| case_err(id, format!("{text:?} was never on screen")))?;
            let sighting = if *first { first_seen } else { last_seen };
            c.expected_paths = vec![
                equals("fields.ts_utc", sighting["ts_utc"].clone()),
                equals("fields.frame_id", sighting["frame_id"].clone()),
            ];
            c.required_evidence = vec![s(&sighting["frame_id"]).to_owned()];
            let seq = frame_seq(s(&sighting["frame_id"]))
                .ok_or_else(|| case_err(id, "a sighting without a frame id"))?;
            c.allowed_evidence = Some(on_frames([seq, seq]));
        }
        Rule::WindowShowing { text } => {
            let needle = text.to_lowercase();
            let mut titles: Vec<String> = Vec::new();
            for screen in &truth.screens {
                let shows = screen["nodes"].as_array().is_some_and(|nodes| {
                    nodes
                        .iter()
                        .any(|n| s(&n["name"]).to_lowercase().contains(&needle))
                });
                let title = s(&screen["title"]).to_owned();
                if shows && !titles.contains(&title) {
                    titles.push(title);
                }
            }
            if titles.is_empty() {
                return Err(case_err(id, format!("{text:?} was never on screen")));
            }
            c.expected_contains_any = titles;
            c.allowed_evidence = Some(uia_docs());
        }
        Rule::Fields { window, at } => {
            let (screen, frames) = truth.screen_at(id, window, &truth.ts(id, at)?)?;
            let nodes = screen_nodes(screen);
            let pairs: Vec<String> = nodes
                .iter()
                .filter_map(|n| {
                    value_of(&nodes, s(&n["aid"])).map(|v| format!("{}: {v}", s(&n["name"])))
                })
                .collect();
            c.expected_paths
                .push(equals("fields.count", json!(pairs.len())));
            c.expected_contains_all = pairs;
            c.allowed_evidence = Some(on_frames(frames));
        }
        Rule::ListItems {
            window,
            at,
            section,
        } => {
            let (screen, frames) = truth.screen_at(id, window, &truth.ts(id, at)?)?;
            let nodes = screen_nodes(screen);
            let items: Vec<Value> = nodes
                .iter()
                .filter(|n| s(&n["role"]) == "list_item" && container(s(&n["aid"])) == section)
                .map(|n| json!({"label": n["name"], "value": value_of(&nodes, s(&n["aid"]))}))
                .collect();
            c.expected_paths
                .push(equals("fields.count", json!(items.len())));
            c.expected_answer = Some(json!({"fields": {"elements": items}}));
            c.allowed_evidence = Some(on_frames(frames));
        }
        Rule::BrowserChrome { window, at } => {
            let (screen, frames) = truth.screen_at(id, window, &truth.ts(id, at)?)?;
            let nodes = screen_nodes(screen);
            let tab = nodes
                .iter()
                .find(|n| s(&n["role"]) == "tab_item" && n["hot"] == true)
                .map(|n| s(&n["name"]))
                .ok_or_else(|| case_err(id, "no active tab on that screen"))?;
            let url = nodes
                .iter()
                .filter(|n| s(&n["role"]) == "edit")
                .find_map(|n| value_of(&nodes, s(&n["aid"])))
                .filter(|v| v.contains("://"))
                .ok_or_else(|| case_err(id, "no address on that screen"))?;
            let host = url
                .split_once("://")
                .map(|(_, rest)| rest.split(['/', '?', '#', ':']).next().unwrap_or_default())
                .unwrap_or_default();
            c.expected_paths = vec![
                equals("fields.active_tab", json!(tab)),
                equals("fields.host", json!(host)),
            ];
            c.allowed_evidence = Some(on_frames(frames));
        }
        Rule::Controls { window, at, roles } => {
            let (screen, frames) = truth.screen_at(id, window, &truth.ts(id, at)?)?;
            let names: Vec<String> = screen_nodes(screen)
                .iter()
                .filter(|n| {
                    let role = s(&n["role"]);
                    OPERABLE_ROLES.contains(&role) && roles.iter().any(|r| r == role)
                })
                .map(|n| s(&n["name"]).to_owned())
                .collect();
            c.expected_paths
                .push(equals("fields.count", json!(names.len())));
            c.expected_contains_all = names;
            c.allowed_evidence = Some(on_frames(frames));
        }
        Rule::ProcessOwner { window } => {
            let w = truth.window(id, window)?;
            let path = s(&w["process_path"]);
            c.expected_paths = vec![
                equals("fields.process_path", json!(path)),
                equals("fields.process_name", json!(process_name(path))),
            ];
            c.allowed_evidence = Some(vec![rule("evidence.window.meta", None)]);
        }
        Rule::Count {
            window,
            at,
            section,
            role,
            flag,
        } => {
            let (screen, frames) = truth.screen_at(id, window, &truth.ts(id, at)?)?;
            let n = screen_nodes(screen)
                .iter()
                .filter(|n| {
                    s(&n["role"]) == role
                        && container(s(&n["aid"])) == section
                        && flag.as_deref().is_none_or(|f| {
                            s(&n["name"]).to_lowercase().contains(f) || n["hot"] == true
                        })
                })
                .count();
            c.expected_paths.push(equals("fields.count", json!(n)));
            c.allowed_evidence = Some(on_frames(frames));
        }
        Rule::Sum { window, at } => {
            let (screen, frames) = truth.screen_at(id, window, &truth.ts(id, at)?)?;
            let nodes = screen_nodes(screen);
            let mut cents = 0;
            let mut shown_total = None;
            for n in &nodes {
                let aid = s(&n["aid"]);
                let label = aid
                    .strip_suffix(".value")
                    .and_then(|label_aid| nodes.iter().find(|l| s(&l["aid"]) == label_aid))
                    .map(|l| s(&l["name"]).to_lowercase())
                    .unwrap_or_default();
                for amount in dollar_cents(s(&n["name"])) {
                    if label.contains("total") || s(&n["name"]).to_lowercase().contains("total") {
                        shown_total = Some(amount);
                    } else {
                        cents += amount;
                    }
                }
            }
            let text = |c: i64| format!("{}.{:02}", c / 100, c % 100);
            c.expected_paths
                .push(equals("fields.sum", json!(text(cents))));
            if let Some(total) = shown_total {
                c.expected_paths
                    .push(equals("fields.shown_total", json!(text(total))));
            }
            c.allowed_evidence = Some(on_frames(frames));
        }
        Rule::Elapsed { from_text, to_text } => {
            let first = |text: &str| {
                truth
                    .sightings(text)
                    .map(|(first, _)| first)
                    .ok_or_else(|| case_err(id, format!("{text:?} was never on screen")))
            };
            let (a, b) = (first(from_text)?, first(to_text)?);
            let parse = |v: &Value| autocapture_core::contract::parse_ts_utc(s(&v["ts_utc"]));
            let seconds = match (parse(a), parse(b)) {
                (Ok(a), Ok(b)) => (b - a).whole_seconds(),
                _ => return Err(case_err(id, "unreadable sighting times")),
            };
            c.expected_paths = vec![
                equals("fields.elapsed_seconds", json!(seconds)),
                equals("fields.from_ts_utc", a["ts_utc"].clone()),
                equals("fields.to_ts_utc", b["ts_utc"].clone()),
            ];
            c.required_evidence = vec![s(&a["frame_id"]).to_owned(), s(&b["frame_id"]).to_owned()];
            c.allowed_evidence = Some(uia_docs());
        }
        Rule::WindowsUsed { app, from, to } => {
            let (from, to) = (truth.ts(id, from)?, truth.ts(id, to)?);
            let mut titles: Vec<String> = Vec::new();
            for seg in &truth.segments {
                let overlaps = s(&seg["start_ts_utc"]) <= to.as_str()
                    && s(&seg["end_ts_utc"]) >= from.as_str();
                let title = s(&seg["title"]).to_owned();
                if s(&seg["app"]) == app && overlaps && !titles.contains(&title) {
                    titles.push(title);
                }
            }
            let windows: Vec<Value> = titles.iter().map(|t| json!({"window_title": t})).collect();
            c.expected_paths
                .push(equals("fields.windows.#", json!(windows.len())));
            c.expected_answer = Some(json!({"fields": {"windows": windows}}));
            c.allowed_evidence = Some(vec![rule("evidence.capture.frame", None)]);
        }
        Rule::Bbox { name, at } => {
            let ts = truth.ts(id, at)?;
            let needle = name.to_lowercase();
            let index = truth
                .screens
                .iter()
                .rposition(|sc| {
                    s(&sc["ts_utc"]) <= ts.as_str()
                        && sc["nodes"].as_array().is_some_and(|nodes| {
                            nodes.iter().any(|n| s(&n["name"]).to_lowercase() == needle)
                        })
                })
                .ok_or_else(|| case_err(id, format!("no element {name:?} by then")))?;
            let screen = truth.screens[index];
            let node = screen["nodes"]
                .as_array()
                .and_then(|nodes| {
                    nodes
                        .iter()
                        .find(|n| s(&n["name"]).to_lowercase() == needle)
                })
                .ok_or_else(|| case_err(id, "element vanished"))?;
            let bbox: Vec<f64> = node["bbox"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            let [l, t, r, b] =
                <[f64; 4]>::try_from(bbox).map_err(|_| case_err(id, "element without a bbox"))?;
            c.expected_bbox = Some(BboxExpect {
                path: "fields.bbox".into(),
                bbox: [l, t, r, b],
                min_iou: 0.60,
            });
            c.allowed_evidence = Some(on_frames(truth.screen_frames(index)));
        }
        Rule::Correlate { text } => {
            let needle = text.to_lowercase();
            let mut processes: Vec<String> = Vec::new();
            for screen in &truth.screens {
                let shows = screen["nodes"].as_array().is_some_and(|nodes| {
                    nodes
                        .iter()
                        .any(|n| s(&n["name"]).to_lowercase().contains(&needle))
                });
                if !shows {
                    continue;
                }
                let w = truth.window(id, s(&screen["window"]))?;
                let process = process_name(s(&w["process_path"])).to_owned();
                if !processes.contains(&process) {
                    processes.push(process);
                }
            }
            if processes.len() < 2 {
                return Err(case_err(id, format!("{text:?} was not seen in two apps")));
            }
            c.expected_paths
                .push(equals("fields.apps.#", json!(processes.len())));
            c.expected_contains_all = processes;
            c.allowed_evidence = Some(uia_docs());
        }
        Rule::ArrivedWhile { window } => {
            let w = truth.window(id, window)?;
            let mut opened = w["open_at_start"]
                .as_bool()
                .unwrap_or(false)
                .then(|| format!("{}T00:00:00.000000Z", truth.date));
            let mut closed = None;
            for event in &truth.events {
                let action = &event["action"];
                if s(&action["window"]) != window {
                    continue;
                }
                match s(&action["do"]) {
                    "open" if opened.is_none() => opened = Some(s(&event["ts_utc"]).to_owned()),
                    "close" if opened.is_some() && closed.is_none() => {
                        closed = Some(s(&event["ts_utc"]).to_owned())
                    }
                    _ => {}
                }
            }
            let (Some(opened), Some(closed)) = (opened, closed) else {
                return Err(case_err(id, "the window never opened and closed"));
            };
            let (Some(start), Some(end)) = (clock_seconds(&opened), clock_seconds(&closed)) else {
                return Err(case_err(id, "unreadable open span"));
            };
            let mut labels: Vec<String> = Vec::new();
            for screen in truth
                .screens
                .iter()
                .filter(|sc| s(&sc["ts_utc"]) >= opened.as_str())
            {
                for n in screen["nodes"].as_array().into_iter().flatten() {
                    let label = s(&n["name"]);
                    let inside =
                        label_minutes(label).is_some_and(|m| m >= start / 60 && m * 60 <= end);
                    if s(&n["role"]) == "list_item" && inside && !labels.iter().any(|l| l == label)
                    {
                        labels.push(label.to_owned());
                    }
                }
            }
            if labels.is_empty() {
                return Err(case_err(id, "nothing arrived in that span"));
            }
            c.expected_paths
                .push(equals("fields.entries.#", json!(labels.len())));
            c.expected_contains_all = labels;
            c.allowed_evidence = Some(
                std::iter::once(rule("evidence.window.meta", None))
                    .chain(uia_docs())
                    .collect(),
            );
        }
    }
    Ok(c)
}
