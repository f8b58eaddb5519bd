//! What a question asks for: its intent, recognised from the words and times [`super::lexer`]
//! found, not from any fixed sentence, so natural phrasings ("which window had focus at 12:08?")
//! work.

use serde::Serialize;

use super::lexer::{Parsed, TimeSpec};

/// What a question asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Intent {
    /// Which window had focus at a moment.
    FocusAt(TimeSpec),
    /// The window that had focus just before or just after a moment.
    FocusAdjacent { at: TimeSpec, before: bool },
    /// The sequence of focused windows over a range.
    FocusTimeline { from: TimeSpec, to: TimeSpec },
    /// The windows open at a moment.
    WindowsAt(TimeSpec),
    /// The first or last time a text was on screen.
    Seen { text: String, first: bool },
    /// The process that owned a window (matched by title words).
    ProcessOwner { window: String },
    /// How long an app or window had focus (over a range, or the whole day).
    FocusDuration {
        target: String,
        from: Option<TimeSpec>,
        to: Option<TimeSpec>,
    },
    /// The elements of a role shown in a window at a moment (with labels and values); with
    /// `count`, how many. `filter` keeps elements whose label contains it (e.g. `unread`).
    Elements {
        role: &'static str,
        window: String,
        at: Option<TimeSpec>,
        count: bool,
        filter: Option<String>,
        /// Words that may name the list or pane asked about (`messages`, `inbox`): when one
        /// names a container of the window, only its elements count.
        scope: Vec<String>,
    },
    /// The browser chrome of a window at a moment: the active tab and the address bar's host.
    BrowserChrome {
        window: String,
        at: Option<TimeSpec>,
    },
    /// Every app (process) that showed a text, with when each first showed it.
    Correlate { text: String },
    /// The distinct windows of an app (or matching a title) that had focus over a range.
    WindowsUsed {
        target: String,
        from: TimeSpec,
        to: TimeSpec,
    },
    /// The timed list entries (messages, emails) stamped inside the span a window was open.
    While { window: String },
    /// The sum of the numbers shown in a window at a moment.
    Sum {
        window: String,
        at: Option<TimeSpec>,
    },
    /// Time between the first occurrences of two texts.
    Elapsed { from_text: String, to_text: String },
    /// The bounding box of a named element (at a moment, or its last appearance).
    BBox { name: String, at: Option<TimeSpec> },
    /// Free text search with filters.
    Search,
}

/// Element roles as people name them, and the UIA role each means.
const ROLES: [(&str, &str); 20] = [
    ("buttons", "button"),
    ("button", "button"),
    ("edits", "edit"),
    ("fields", "field"),
    ("pairs", "field"),
    ("details", "field"),
    ("textboxes", "edit"),
    ("tabs", "tab_item"),
    ("tab", "tab_item"),
    ("items", "list_item"),
    ("rows", "list_item"),
    ("messages", "list_item"),
    ("entries", "list_item"),
    ("emails", "list_item"),
    ("links", "hyperlink"),
    ("checkboxes", "check_box"),
    ("menu", "menu_item"),
    ("controls", "operable"),
    ("labels", "text"),
    ("lines", "text"),
];

fn role_of(words: &[String]) -> Option<(&'static str, &'static str)> {
    words
        .iter()
        .find_map(|w| ROLES.iter().find(|(name, _)| *name == w).copied())
}

const STOP: [&str; 48] = [
    "are", "be", "been", "any", "all", "list", "shown", "show", "a", "an", "the", "at", "on", "in",
    "of", "to", "for", "was", "is", "were", "did", "do", "does", "what", "which", "who", "when",
    "how", "i", "my", "me", "it", "that", "this", "and", "or", "from", "between", "by", "with",
    "have", "had", "has", "there", "time", "see", "saw", "seen",
];

fn has(words: &[String], any: &[&str]) -> bool {
    words.iter().any(|w| any.contains(&w.as_str()))
}

/// The content words: what remains after question words, intent words and fillers.
pub fn content_words(words: &[String], intent_words: &[&str]) -> Vec<String> {
    words
        .iter()
        .filter(|w| !STOP.contains(&w.as_str()) && !intent_words.contains(&w.as_str()))
        .cloned()
        .collect()
}

const FOCUS: [&str; 7] = [
    "focus",
    "focused",
    "foreground",
    "front",
    "active",
    "focussed",
    "using",
];
const SEEN: [&str; 6] = ["seen", "see", "saw", "appear", "appeared", "shown"];
const PROCESS: [&str; 5] = ["process", "executable", "program", "exe", "binary"];
const DURATION: [&str; 5] = ["long", "duration", "spent", "minutes", "hours"];
const WINDOWS: [&str; 3] = ["windows", "inventory", "open"];
/// Words that name a kind of window rather than a particular one.
const WINDOW_FILLERS: [&str; 10] = [
    "window", "dialog", "app", "open", "opened", "could", "can", "use", "have", "having",
];
const ARRIVED: [&str; 8] = [
    "arrived", "arrive", "came", "come", "received", "new", "got", "posted",
];
const USED: [&str; 10] = [
    "use", "used", "look", "looked", "visit", "visited", "focus", "focused", "work", "worked",
];
const SHOWED: [&str; 12] = [
    "showed",
    "show",
    "shown",
    "displayed",
    "mentioned",
    "contained",
    "see",
    "saw",
    "seen",
    "appear",
    "appeared",
    "had",
];

/// The intent of a parsed question.
pub fn intent(parsed: &Parsed) -> Intent {
    let w = &parsed.words;
    let mut times: Vec<TimeSpec> = parsed.times.clone();
    if let Some(at) = &parsed.at {
        times.insert(0, at.clone());
    }
    let range = || -> Option<(TimeSpec, TimeSpec)> {
        match (&parsed.after, &parsed.before, parsed.times.as_slice()) {
            (Some(a), Some(b), _) => Some((a.clone(), b.clone())),
            (_, _, [a, b, ..]) => Some((a.clone(), b.clone())),
            _ => None,
        }
    };
    let quoted_or_content = |intent_words: &[&str]| -> String {
        parsed
            .phrases
            .first()
            .cloned()
            .unwrap_or_else(|| content_words(w, intent_words).join(" "))
    };
    // Something that happened while a window was open: `while`/`during` and an arrival word.
    if let Some(pos) = w.iter().position(|x| x == "while" || x == "during")
        && has(w, &ARRIVED)
    {
        let window = content_words(&w[pos + 1..], &WINDOW_FILLERS).join(" ");
        return Intent::While {
            window: parsed.window.clone().unwrap_or(window),
        };
    }
    // The distinct windows used over a range: a plural of windows or pages, a use word, two times.
    if has(w, &["windows", "pages", "titles", "documents", "channels"])
        && has(w, &USED)
        && let Some((from, to)) = range()
    {
        let target = parsed.app.clone().unwrap_or_else(|| {
            content_words(
                w,
                &[
                    &USED[..],
                    &WINDOW_FILLERS[..],
                    &["pages", "titles", "documents", "channels", "windows"],
                ]
                .concat(),
            )
            .join(" ")
        });
        return Intent::WindowsUsed { target, from, to };
    }
    // Which apps showed a text: a plural of apps or windows, a seeing word, a quoted text.
    if has(w, &["apps", "applications", "programs", "windows"])
        && has(w, &SHOWED)
        && let Some(text) = parsed.phrases.first()
        && times.is_empty()
    {
        return Intent::Correlate { text: text.clone() };
    }
    // Browser chrome: the active tab, or the site (host) in the address bar.
    let how_many_early = w
        .windows(2)
        .any(|pair| pair[0] == "how" && pair[1] == "many");
    if !how_many_early
        && (has(w, &["host", "site", "domain", "url", "website", "address"])
            || (has(w, &["tab"]) && has(w, &["active", "current", "selected", "front"])))
    {
        let window = parsed
            .window
            .clone()
            .or_else(|| parsed.app.clone())
            .unwrap_or_else(|| {
                content_words(
                    w,
                    &[
                        &WINDOW_FILLERS[..],
                        &[
                            "host", "site", "domain", "url", "website", "address", "tab", "active",
                            "current", "selected", "front", "showing", "open", "opened", "bar",
                        ],
                    ]
                    .concat(),
                )
                .join(" ")
            });
        return Intent::BrowserChrome {
            window,
            at: times.first().cloned(),
        };
    }
    // Time between two texts: two quoted phrases and a word asking for elapsed time.
    if parsed.phrases.len() >= 2
        && has(
            w,
            &[
                "elapsed", "between", "passed", "long", "time", "minutes", "gap",
            ],
        )
    {
        return Intent::Elapsed {
            from_text: parsed.phrases[0].clone(),
            to_text: parsed.phrases[1].clone(),
        };
    }
    if has(
        w,
        &[
            "where", "bbox", "bounding", "position", "located", "location",
        ],
    ) && !has(w, &FOCUS)
    {
        let name = parsed.phrases.first().cloned().unwrap_or_else(|| {
            content_words(
                w,
                &[
                    "where", "bbox", "bounding", "box", "position", "located", "location",
                    "button", "element", "screen", "on",
                ],
            )
            .join(" ")
        });
        return Intent::BBox {
            name,
            at: times.first().cloned(),
        };
    }
    if has(w, &["sum", "total", "add", "added", "adds"])
        && has(
            w,
            &["numbers", "amounts", "values", "figures", "amount", "up"],
        )
    {
        let window = parsed
            .window
            .clone()
            .or_else(|| parsed.phrases.first().cloned())
            .unwrap_or_else(|| {
                content_words(
                    w,
                    &[
                        "sum", "total", "add", "added", "adds", "up", "numbers", "amounts",
                        "values", "figures", "amount", "shown", "window", "all", "in",
                    ],
                )
                .join(" ")
            });
        return Intent::Sum {
            window,
            at: times.first().cloned(),
        };
    }
    let how_many = w
        .windows(2)
        .any(|pair| pair[0] == "how" && pair[1] == "many")
        || has(w, &["count", "number"]);
    if let Some((role_word, role)) = role_of(w)
        && (how_many || has(w, &["which", "list", "what", "show"]))
    {
        let filter = ["unread", "selected", "active", "disabled"]
            .iter()
            .find(|f| has(w, &[**f]))
            .map(|f| (*f).to_owned());
        let intent_words: Vec<&str> = [
            "how", "many", "count", "number", "which", "list", "what", "show", "were", "open",
            "in", "window", "shown", "visible", "app", role_word,
        ]
        .into_iter()
        .chain(WINDOW_FILLERS)
        .chain(filter.as_deref())
        .collect();
        let window_words = content_words(w, &intent_words);
        let window = parsed
            .window
            .clone()
            .or_else(|| parsed.app.clone())
            .or_else(|| parsed.phrases.first().cloned())
            .unwrap_or_else(|| window_words.join(" "));
        let scope = std::iter::once(role_word.to_owned())
            .chain(window_words)
            .collect();
        return Intent::Elements {
            role,
            window,
            at: times.first().cloned(),
            count: how_many,
            filter,
            scope,
        };
    }
    if has(w, &["first", "last", "earliest", "latest"])
        && (has(w, &SEEN) || !parsed.phrases.is_empty())
    {
        let first = has(w, &["first", "earliest"]);
        return Intent::Seen {
            text: quoted_or_content(&[
                "first", "last", "earliest", "latest", "seen", "see", "saw", "appear", "appeared",
                "shown", "screen", "on",
            ]),
            first,
        };
    }
    if has(w, &PROCESS)
        && has(
            w,
            &[
                "owned", "owns", "owning", "behind", "ran", "runs", "running",
            ],
        )
    {
        return Intent::ProcessOwner {
            window: quoted_or_content(&[
                "process",
                "executable",
                "program",
                "exe",
                "binary",
                "owned",
                "owns",
                "owning",
                "behind",
                "ran",
                "runs",
                "running",
                "window",
            ]),
        };
    }
    if has(w, &DURATION) && (has(w, &FOCUS) || has(w, &["spend", "spent", "use", "used"])) {
        let (from, to) = range().map_or((None, None), |(a, b)| (Some(a), Some(b)));
        return Intent::FocusDuration {
            target: parsed
                .app
                .clone()
                .or_else(|| parsed.window.clone())
                .or_else(|| parsed.phrases.first().cloned())
                .unwrap_or_else(|| {
                    content_words(
                        w,
                        &[
                            "long", "duration", "spent", "spend", "minutes", "hours", "focus",
                            "focused", "use", "used", "active", "in", "window", "app",
                        ],
                    )
                    .join(" ")
                }),
            from,
            to,
        };
    }
    if has(w, &WINDOWS)
        && has(w, &["windows", "inventory"])
        && let Some(at) = times.first()
    {
        return Intent::WindowsAt(at.clone());
    }
    if has(w, &FOCUS) || has(w, &["window"]) && !times.is_empty() {
        if (has(w, &["timeline", "sequence"])
            || (times.len() >= 2 && !has(w, &["before", "after"])))
            && let Some((from, to)) = range()
        {
            return Intent::FocusTimeline { from, to };
        }
        if let Some(at) = times.first() {
            if has(w, &["before", "after", "previously", "next"])
                && parsed.before.is_none()
                && parsed.after.is_none()
            {
                return Intent::FocusAdjacent {
                    at: at.clone(),
                    before: has(w, &["before", "previously"]),
                };
            }
            return Intent::FocusAt(at.clone());
        }
    }
    Intent::Search
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::lexer::parse;

    #[track_caller]
    fn check(query: &str, expected: Intent) {
        let parsed = parse(query).expect("parses");
        assert_eq!(intent(&parsed), expected, "{query}");
    }

    // Regression: a NUL in a query reached the FTS5 match text and failed the query with a store
    // error (found by the query_text property run).
    #[test]
    fn natural_phrasings() {
        let t = |h: u32, m: u32| TimeSpec::Clock(h * 3600 + m * 60);
        check(
            "which window had focus at 12:08?",
            Intent::FocusAt(t(12, 8)),
        );
        check(
            "What was I focused on at 10:20:30",
            Intent::FocusAt(TimeSpec::Clock(10 * 3600 + 20 * 60 + 30)),
        );
        check(
            "what app was in the foreground at:09:45",
            Intent::FocusAt(t(9, 45)),
        );
        check(
            "what window was focused just before 10:21",
            Intent::FocusAdjacent {
                at: t(10, 21),
                before: true,
            },
        );
        check(
            "which window had focus right after 10:21",
            Intent::FocusAdjacent {
                at: t(10, 21),
                before: false,
            },
        );
        check(
            "focus timeline from 10:00 to 11:00",
            Intent::FocusTimeline {
                from: t(10, 0),
                to: t(11, 0),
            },
        );
        check(
            "which windows were open at 14:10?",
            Intent::WindowsAt(t(14, 10)),
        );
        check(
            "when did I first see \"INC-4821\"",
            Intent::Seen {
                text: "INC-4821".into(),
                first: true,
            },
        );
        check(
            "last time Globex was seen",
            Intent::Seen {
                text: "globex".into(),
                first: false,
            },
        );
        check(
            "which program owned the Save As window?",
            Intent::ProcessOwner {
                window: "save as".into(),
            },
        );
        check(
            "how long was chat focused between 09:00 and 12:00",
            Intent::FocusDuration {
                target: "chat".into(),
                from: Some(t(9, 0)),
                to: Some(t(12, 0)),
            },
        );
        check("Globex invoice amount", Intent::Search);
        check(
            "which buttons were in the Save As window at 10:20:30?",
            Intent::Elements {
                role: "button",
                window: "save as".into(),
                at: Some(TimeSpec::Clock(10 * 3600 + 20 * 60 + 30)),
                count: false,
                filter: None,
                scope: vec!["buttons".into(), "save".into(), "as".into()],
            },
        );
        check(
            "how many unread emails were in the inbox at 09:51?",
            Intent::Elements {
                role: "list_item",
                window: "inbox".into(),
                at: Some(t(9, 51)),
                count: true,
                filter: Some("unread".into()),
                scope: vec!["emails".into(), "inbox".into()],
            },
        );
        check(
            "what is the sum of the amounts shown in the budget at 10:41",
            Intent::Sum {
                window: "budget".into(),
                at: Some(t(10, 41)),
            },
        );
        check(
            "how much time passed between \"Save As\" and \"confirm the Globex amount\"",
            Intent::Elapsed {
                from_text: "Save As".into(),
                to_text: "confirm the Globex amount".into(),
            },
        );
        check(
            "where was the \"Send\" button at 11:06?",
            Intent::BBox {
                name: "Send".into(),
                at: Some(t(11, 6)),
            },
        );
    }

    #[test]
    fn phrasings_of_the_cross_window_intents() {
        let t = |h: u32, m: u32| TimeSpec::Clock(h * 3600 + m * 60);
        check(
            "Which tab was active in Firefox at 10:46?",
            Intent::BrowserChrome {
                window: "firefox".into(),
                at: Some(t(10, 46)),
            },
        );
        check(
            "What site was Firefox showing at 16:15?",
            Intent::BrowserChrome {
                window: "firefox".into(),
                at: Some(t(16, 15)),
            },
        );
        check(
            "In which apps did I see \"INV-20931\"?",
            Intent::Correlate {
                text: "INV-20931".into(),
            },
        );
        check(
            "Which Relay channels did I look at between 09:00 and 17:30?",
            Intent::WindowsUsed {
                target: "relay".into(),
                from: t(9, 0),
                to: t(17, 30),
            },
        );
        check(
            "Which message came in while the Save As dialog was open?",
            Intent::While {
                window: "save as".into(),
            },
        );
        // Counting tabs stays a count; one window's text stays a search.
        assert!(matches!(
            intent(&parse("How many tabs were open in Firefox at 10:42?").expect("parses")),
            Intent::Elements { count: true, .. }
        ));
        check("Which window showed \"DK-2291\"?", Intent::Search);
    }
}
