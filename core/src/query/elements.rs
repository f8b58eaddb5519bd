//! Intents over the UIA elements of one window at one time: the items of a list or pane, the
//! amounts it shows added up, and where an element is on screen.

use rusqlite::params;
use serde_json::{Value, json};

use super::context::{
    Cited, Ctx, Draft, Node, frame, frame_nodes, hms, when, window_nodes, window_nodes_or_absent,
};
use super::lexer::TimeSpec;
use crate::uia::Section;

/// The container of a node: its automation id without the item index (`inbox.3` → `inbox`).
pub(super) fn container_of(aid: &str) -> &str {
    aid.split('.').next().unwrap_or(aid)
}

/// Whether `word` names `container` (`messages`, `message` and `inbox` name theirs).
pub(super) fn names_container(word: &str, container: &str) -> bool {
    let singular = |s: &str| s.strip_suffix('s').unwrap_or(s).to_owned();
    !container.is_empty() && (word == container || singular(word) == singular(container))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn elements(
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
    // When the question names one of the window's lists or panes, keep only its elements: the
    // first word that names one wins ("messages in the incident channel": the messages, not
    // the channel list).
    let named: Vec<&Node> = scope
        .iter()
        .map(|w| {
            chosen
                .iter()
                .copied()
                .filter(|n| names_container(w, container_of(&n.aid)))
                .collect::<Vec<&Node>>()
        })
        .find(|found| !found.is_empty())
        .unwrap_or_default();
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
pub(super) fn amounts(text: &str) -> Vec<f64> {
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

pub(super) fn sum(
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

/// Words that may follow an element's name in a question without being part of it ("the
/// Reply all *button* at 13:16"). Any other word there means the question names a longer
/// element than the one found, which must not answer for it.
const AFTER_NAME: [&str; 28] = [
    "button", "buttons", "field", "box", "link", "tab", "menu", "item", "icon", "control",
    "checkbox", "label", "text", "dialog", "window", "pane", "bar", "toolbar", "at", "in", "on",
    "of", "from", "for", "the", "was", "is", "located",
];

/// The element a question writes out by name: among the runs of the question's words that are
/// an element's whole name, those the next word does not continue (it is absent or one of
/// [`AFTER_NAME`]) compete; one followed by a word for an element (`button`, `field`) wins,
/// then one inside the window over the window's own node, then the longest, then the first
/// written. `Err` names the longer name asked when only
/// continued runs exist (a shorter element whose name merely begins the one asked); `None`
/// when no element's name is written in the question.
fn named_in_question<'n>(nodes: &'n [Node], asked: &[String]) -> Option<Result<&'n Node, String>> {
    let name_of = |node: &Node| {
        node.name
            .split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let names: Vec<(String, &Node)> = nodes
        .iter()
        .filter(|n| n.bbox.is_some())
        .map(|n| (name_of(n), n))
        .filter(|(name, _)| !name.is_empty())
        .collect();
    // (followed by an element word, not the window itself, words, -start) ranks a name.
    type Rank = (bool, bool, usize, isize);
    let mut best: Option<(Rank, &Node)> = None;
    let mut continued: Option<String> = None;
    for start in 0..asked.len() {
        for end in (start + 1..=asked.len()).rev() {
            let written = asked[start..end].join(" ");
            let Some((_, node)) = names.iter().find(|(name, _)| *name == written) else {
                continue;
            };
            match asked.get(end) {
                Some(next) if !AFTER_NAME.contains(&next.as_str()) => {
                    continued.get_or_insert(format!("{written} {next}"));
                }
                next => {
                    let element_word = next.is_some_and(|w| ELEMENT_WORDS.contains(&w.as_str()));
                    // The window's own node answers only when nothing in it is named.
                    let inside = !matches!(node.role.as_str(), "window" | "dialog" | "title_bar");
                    let rank = (element_word, inside, end - start, -(start as isize));
                    if best.as_ref().is_none_or(|(r, _)| rank > *r) {
                        best = Some((rank, node));
                    }
                }
            }
            break;
        }
    }
    match (best, continued) {
        (Some((_, node)), _) => Some(Ok(node)),
        (None, Some(longer)) => Some(Err(longer)),
        (None, None) => None,
    }
}

/// Words for an element that may follow its name ("the Cancel *button*").
const ELEMENT_WORDS: [&str; 11] = [
    "button", "buttons", "field", "box", "link", "tab", "menu", "item", "icon", "control",
    "checkbox",
];

/// The latest frame at or before `ts` whose indexed text holds `name`, with its nodes.
fn seen_with(
    ctx: &Ctx<'_>,
    name: &str,
    ts: &str,
) -> rusqlite::Result<Option<(super::context::Frame, Vec<Node>)>> {
    let candidates = ctx.handle.rows(
        "SELECT f.frame_id, f.ts_utc, f.uia_record_id, f.window_title, f.process_name FROM search_fts
         JOIN s.search_docs d ON d.rowid = search_fts.rowid JOIN s.search_frames f ON f.uia_record_id = d.uia_record_id
         WHERE search_fts MATCH ?1 AND f.ts_utc <= ?2 ORDER BY f.ts_utc DESC, f.frame_id DESC LIMIT 1",
        params![format!("\"{}\"", name.replace('"', "\"\"")), ts],
        frame,
    )?;
    let Some(found) = candidates.into_iter().next() else {
        return Ok(None);
    };
    window_nodes(
        ctx,
        &found.title,
        Some(&TimeSpec::Instant(found.ts.clone())),
    )
}

/// Where an element was. `asked` holds the question's words when the name was not quoted: the
/// element is then the one whose whole name the question writes out (never a shorter element
/// whose name only begins the one asked).
pub(super) fn bbox(
    ctx: &mut Ctx<'_>,
    name: &str,
    asked: Option<&[String]>,
    at: Option<&TimeSpec>,
    out: &mut Draft,
) -> rusqlite::Result<()> {
    let needle = name.trim().to_lowercase();
    let ts = at.map(|t| ctx.ts(t)).unwrap_or_else(|| "9999".into());
    // Unquoted, the element is first sought by its whole name on the screen in front then.
    let mut located = None;
    if let Some(words) = asked
        && let Some(front) = ctx.frame_at(&ts)?
    {
        let nodes = frame_nodes(ctx, &front)?;
        if named_in_question(&nodes, words).is_some() {
            located = Some((front, nodes));
        }
    }
    let (frame, nodes) = match located {
        Some(found) => found,
        None => {
            if needle.is_empty() {
                out.no_evidence("say which element, in quotes".into());
                return Ok(());
            }
            match seen_with(ctx, name, &ts)? {
                Some(found) => found,
                None => {
                    out.no_evidence(format!(
                        "no element named \"{name}\" was seen{}",
                        when(at, ctx)
                    ));
                    return Ok(());
                }
            }
        }
    };
    let node = match asked.and_then(|words| named_in_question(&nodes, words)) {
        Some(Ok(node)) => Some(node),
        Some(Err(longer)) => {
            out.no_evidence(format!(
                "no element named \"{longer}\" in \"{}\"",
                frame.title
            ));
            return Ok(());
        }
        None => nodes
            .iter()
            .find(|n| n.name.to_lowercase() == needle)
            .or_else(|| {
                nodes
                    .iter()
                    .find(|n| n.name.to_lowercase().contains(&needle))
            }),
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> Node {
        Node {
            name: name.into(),
            role: "button".into(),
            aid: String::new(),
            bbox: Some([0, 0, 1, 1]),
            doc_id: String::new(),
            kind: String::new(),
            hot: false,
        }
    }

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_whole_name_written_in_the_question_wins_and_a_prefix_never_answers() {
        let both = [node("Reply"), node("Reply all"), node("Send")];
        let asked = words("where was the reply all button");
        let found = named_in_question(&both, &asked).expect("named");
        assert_eq!(found.map(|n| n.name.as_str()), Ok("Reply all"));
        let asked = words("where was the reply button");
        let found = named_in_question(&both, &asked).expect("named");
        assert_eq!(found.map(|n| n.name.as_str()), Ok("Reply"));
        let asked = words("where was the send button in the reply");
        let found = named_in_question(&both, &asked).expect("named");
        assert_eq!(found.map(|n| n.name.as_str()), Ok("Send"));
        // Only the shorter element is on screen: it must not answer for "reply all".
        let short = [node("Reply")];
        let asked = words("where was the reply all button");
        assert_eq!(
            named_in_question(&short, &asked).map(|r| r.map(|n| n.name.clone())),
            Some(Err("reply all".to_owned()))
        );
        assert!(named_in_question(&short, &words("where was it")).is_none());
        // The name may stand anywhere in the question, after other names it is not.
        let dialog = [node("Save"), node("Cancel"), node("File name")];
        let asked = words("at 10:21 where on screen was the save as cancel button");
        let found = named_in_question(&dialog, &asked).expect("named");
        assert_eq!(found.map(|n| n.name.as_str()), Ok("Cancel"));
        let asked = words("position of cancel in save as");
        let found = named_in_question(&dialog, &asked).expect("named");
        assert_eq!(found.map(|n| n.name.as_str()), Ok("Cancel"));
        // The dialog's own node, named as the place, never answers for an element in it.
        let mut window = node("Save As");
        window.role = "window".into();
        let with_window = [node("Cancel"), window];
        let found = named_in_question(&with_window, &asked).expect("named");
        assert_eq!(found.map(|n| n.name.as_str()), Ok("Cancel"));
    }
}
