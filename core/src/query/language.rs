//! What a question asks for: its intent, recognised from the words and times [`super::lexer`]
//! found, not from any fixed sentence, so natural phrasings ("which window had focus at 12:08?")
//! work.

use serde::Serialize;

use super::lexer::{Parsed, TimeSpec};
use super::lexicon::{Cue, Reading, read};
use super::rules::{Kind, RULES, Times};

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

/// The content words of a question: what the lexicon does not take, less `extra`.
pub fn content_words(words: &[String], extra: &[&str]) -> Vec<String> {
    read(words)
        .content
        .into_iter()
        .map(|(_, w)| w)
        .filter(|w| !extra.contains(&w.as_str()))
        .collect()
}

/// A question as the rules see it.
struct Question<'p> {
    parsed: &'p Parsed,
    reading: Reading,
    /// Every time written, an `at:` first.
    times: Vec<TimeSpec>,
}

impl Question<'_> {
    fn range(&self) -> Option<(TimeSpec, TimeSpec)> {
        let p = self.parsed;
        match (&p.after, &p.before, p.times.as_slice()) {
            (Some(a), Some(b), _) => Some((a.clone(), b.clone())),
            (_, _, [a, b, ..]) => Some((a.clone(), b.clone())),
            _ => None,
        }
    }

    fn times_hold(&self, need: Times) -> bool {
        match need {
            Times::Free => true,
            Times::None => self.times.is_empty(),
            Times::Moment => !self.times.is_empty(),
            Times::Range => self.range().is_some(),
        }
    }

    fn at(&self) -> Option<TimeSpec> {
        self.times.first().cloned()
    }

    /// A window named by an operator, then by a phrase, then by the content words; without
    /// any, the word before a word for a window ("the *Open* dialog") even when it is a cue,
    /// else the kind of app the words imply ("unread emails": mail).
    fn window(&self) -> String {
        let named = self
            .parsed
            .window
            .clone()
            .or_else(|| self.parsed.app.clone())
            .or_else(|| self.parsed.phrases.first().cloned())
            .unwrap_or_else(|| self.names_with_window_word());
        if !named.is_empty() {
            return named;
        }
        self.reading
            .position(Cue::WindowNoun)
            .and_then(|at| at.checked_sub(1))
            .and_then(|before| self.parsed.words.get(before))
            .filter(|word| !matches!(word.as_str(), "the" | "a" | "my" | "that" | "this"))
            .cloned()
            .or_else(|| self.reading.implied_app().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The names, with the word before a word for a window when that word is a cue ("the Open
    /// file dialog" names "open file": `open` is a cue, but here it is part of the name).
    fn names_with_window_word(&self) -> String {
        let r = &self.reading;
        let mut words: Vec<(usize, &str)> =
            r.content.iter().map(|(at, w)| (*at, w.as_str())).collect();
        // The run of words right before the noun, back to a stop word, is its name.
        if !words.is_empty()
            && let Some(noun) = r.position(Cue::WindowNoun)
        {
            let mut at = noun;
            while let Some(before) = at.checked_sub(1) {
                let content = words.iter().any(|(w, _)| *w == before);
                let cue = r.cues.iter().any(|(_, c)| *c == before);
                if !(content || cue) {
                    break;
                }
                if !content && let Some(word) = self.parsed.words.get(before) {
                    words.push((before, word));
                }
                at = before;
            }
            words.sort();
        }
        words.iter().map(|(_, w)| *w).collect::<Vec<_>>().join(" ")
    }

    /// A text as written between word indexes `lo` and `hi`: from its first content word (or
    /// phrase) to its last, with the words between them; phrases stand where they were written.
    fn text_in(&self, lo: usize, hi: usize) -> String {
        let content: Vec<usize> = self
            .reading
            .content
            .iter()
            .map(|(at, _)| *at)
            .filter(|at| (lo..hi).contains(at))
            .collect();
        let phrases: Vec<(usize, &String)> = self
            .parsed
            .phrase_at
            .iter()
            .copied()
            .zip(&self.parsed.phrases)
            .filter(|(at, _)| (lo..=hi).contains(at))
            .collect();
        // Phrases sit before the word of their index; count them as at `index - ½`.
        let first = content
            .first()
            .map(|w| w * 2 + 1)
            .into_iter()
            .chain(phrases.first().map(|(p, _)| p * 2))
            .min();
        let last = content
            .last()
            .map(|w| w * 2 + 1)
            .into_iter()
            .chain(phrases.last().map(|(p, _)| p * 2))
            .max();
        let (Some(first), Some(last)) = (first, last) else {
            return String::new();
        };
        let mut out: Vec<&str> = Vec::new();
        for slot in first..=last {
            if slot % 2 == 0 {
                out.extend(
                    phrases
                        .iter()
                        .filter(|(p, _)| p * 2 == slot)
                        .map(|(_, t)| t.as_str()),
                );
            } else if let Some(word) = self.parsed.words.get(slot / 2) {
                out.push(word);
            }
        }
        out.join(" ")
    }

    /// The two texts of an elapsed-time question: two phrases, or the texts either side of
    /// `and`/`to`/`until`/`till` (after `between`/`from`/`after`/`since` when one is written).
    fn two_texts(&self) -> Option<(String, String)> {
        let p = self.parsed;
        if p.phrases.len() >= 2 {
            return Some((p.phrases[0].clone(), p.phrases[1].clone()));
        }
        let w = &p.words;
        // Without an opening word only a word for elapsed time ("elapsed", "gap") asks it:
        // "how long was I in Relay and Firefox" is no elapsed time.
        let open = match w
            .iter()
            .position(|x| matches!(x.as_str(), "between" | "from" | "after" | "since"))
        {
            Some(at) => at + 1,
            None if self.reading.has(Cue::Elapsed) => 0,
            None => return None,
        };
        let split =
            (open..w.len()).find(|&i| matches!(w[i].as_str(), "and" | "to" | "until" | "till"))?;
        let (a, b) = (self.text_in(open, split), self.text_in(split + 1, w.len()));
        (!a.is_empty() && !b.is_empty()).then_some((a, b))
    }

    /// The text a first/last question asks about.
    fn seen_text(&self) -> String {
        self.parsed
            .phrases
            .first()
            .cloned()
            .unwrap_or_else(|| self.text_in(0, self.parsed.words.len()))
    }

    /// The intent a rule gives, when its slots fill.
    fn fill(&self, kind: Kind) -> Option<Intent> {
        let r = &self.reading;
        Some(match kind {
            Kind::While => {
                // The window is named after `while`, up to the clause's next cue ("…was open").
                let from = r.position(Cue::While)? + 1;
                let until = r
                    .cues
                    .iter()
                    .filter(|(cue, at)| {
                        *at > from
                            && matches!(
                                cue,
                                Cue::Open | Cue::Arrived | Cue::Seen | Cue::Role(_) | Cue::Search
                            )
                    })
                    .map(|(_, at)| *at)
                    .min()
                    .unwrap_or(usize::MAX);
                let window = self
                    .parsed
                    .window
                    .clone()
                    .unwrap_or_else(|| r.content_in(from..until));
                (!window.is_empty()).then_some(Intent::While { window })?
            }
            Kind::WindowsUsed => {
                let (from, to) = self.range()?;
                let target = self.window();
                (!target.is_empty()).then_some(Intent::WindowsUsed { target, from, to })?
            }
            Kind::Correlate => {
                let text = self.seen_text();
                (!text.is_empty()).then_some(Intent::Correlate { text })?
            }
            Kind::Chrome => {
                // Without a window named, the browser is meant.
                let window = self.window();
                Intent::BrowserChrome {
                    window: if window.is_empty() {
                        "browser".to_owned()
                    } else {
                        window
                    },
                    at: self.at(),
                }
            }
            Kind::Elapsed => {
                let (from_text, to_text) = self.two_texts()?;
                Intent::Elapsed { from_text, to_text }
            }
            Kind::BBox => Intent::BBox {
                name: self
                    .parsed
                    .phrases
                    .first()
                    .cloned()
                    .unwrap_or_else(|| r.name()),
                at: self.at(),
            },
            Kind::Sum => Intent::Sum {
                window: self.window(),
                at: self.at(),
            },
            Kind::Elements => {
                // Unread things are list items even when the question names none.
                let (role, role_word) = match (r.role(), r.filter()) {
                    (Some((role, at_word)), _) => (role, self.parsed.words.get(at_word)?.clone()),
                    (None, Some("unread")) if r.has(Cue::HowMany) => {
                        ("list_item", "unread".to_owned())
                    }
                    _ => return None,
                };
                let window = self.window();
                let scope = std::iter::once(role_word)
                    .chain(r.content.iter().map(|(_, w)| w.clone()))
                    .collect();
                Intent::Elements {
                    role,
                    window,
                    at: self.at(),
                    count: r.has(Cue::HowMany),
                    filter: r.filter().map(str::to_owned),
                    scope,
                }
            }
            Kind::Seen => {
                let text = self.seen_text();
                let asks_seen = r.any(&[Cue::Seen, Cue::Search, Cue::Arrived, Cue::Open]);
                (!text.is_empty() && (asks_seen || !self.parsed.phrases.is_empty())).then_some(
                    Intent::Seen {
                        text,
                        first: r.has(Cue::First),
                    },
                )?
            }
            Kind::Owner => Intent::ProcessOwner {
                window: self.window(),
            },
            Kind::Duration => {
                let (from, to) = self
                    .range()
                    .map_or((None, None), |(a, b)| (Some(a), Some(b)));
                let target = self.window();
                (!target.is_empty()).then_some(Intent::FocusDuration { target, from, to })?
            }
            Kind::Timeline => {
                let (from, to) = self.range()?;
                Intent::FocusTimeline { from, to }
            }
            Kind::Adjacent => {
                if self.parsed.before.is_some() || self.parsed.after.is_some() {
                    return None;
                }
                Intent::FocusAdjacent {
                    at: self.at()?,
                    before: r.has(Cue::Before),
                }
            }
            Kind::Inventory => Intent::WindowsAt(self.at()?),
            Kind::FocusAt => Intent::FocusAt(self.at()?),
        })
    }
}

/// How a question was understood: what `--explain` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// Every time read from the question, in order (an `at:` first): `HH:MM:SS` on the data's
    /// day, or a timestamp.
    pub times: Vec<String>,
    /// The cues the lexicon found, with the words that carried them.
    pub cues: Vec<String>,
    /// The words no lexicon entry took: the names the question writes.
    pub names: Vec<String>,
    /// The rule chosen (the first whose cues and times hold and whose slots fill), or `search`.
    pub rule: String,
    /// The other rules that held, in priority order.
    pub runners_up: Vec<String>,
    /// No rule's slots filled: the question was answered by a full-text search.
    pub fell_to_search: bool,
}

/// The intent of a parsed question: the first rule of [`RULES`] whose cues and times hold and
/// whose slots fill; a search when none does.
pub fn intent(parsed: &Parsed) -> Intent {
    understand(parsed).0
}

/// The intent and how it was reached.
pub fn understand(parsed: &Parsed) -> (Intent, Explanation) {
    let mut times: Vec<TimeSpec> = parsed.times.clone();
    if let Some(at) = &parsed.at {
        times.insert(0, at.clone());
    }
    let question = Question {
        parsed,
        reading: read(&parsed.words),
        times,
    };
    let r = &question.reading;
    let mut held: Vec<(Kind, Intent)> = RULES
        .iter()
        .filter(|rule| {
            rule.all.iter().all(|c| r.has(*c))
                && (rule.any.is_empty() || r.any(rule.any))
                && !r.any(rule.none)
                && question.times_hold(rule.times)
        })
        .filter_map(|rule| Some((rule.kind, question.fill(rule.kind)?)))
        .collect();
    let mut kinds = Vec::new();
    held.retain(|(kind, _)| {
        let first = !kinds.contains(kind);
        kinds.push(*kind);
        first
    });
    let name = |kind: Kind| kind.name().to_owned();
    let explanation = Explanation {
        times: question
            .times
            .iter()
            .map(|t| match t {
                TimeSpec::Clock(s) => format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
                TimeSpec::Instant(at) => at.clone(),
            })
            .collect(),
        cues: r
            .cues
            .iter()
            .map(|(cue, at)| {
                format!(
                    "{} ({})",
                    snake(&format!("{cue:?}")),
                    r.phrase_at(&parsed.words, *at).join(" ")
                )
            })
            .collect(),
        names: r.content.iter().map(|(_, w)| w.clone()).collect(),
        rule: held
            .first()
            .map_or_else(|| "search".to_owned(), |(k, _)| name(*k)),
        runners_up: held.iter().skip(1).map(|(k, _)| name(*k)).collect(),
        fell_to_search: held.is_empty(),
    };
    let intent = held
        .into_iter()
        .next()
        .map_or(Intent::Search, |(_, intent)| intent);
    (intent, explanation)
}

/// A cue's name: `WindowNoun` as `window_noun`, `Role("button")` as `role("button")`.
fn snake(debug: &str) -> String {
    let mut out = String::new();
    for (index, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if index > 0 && !out.ends_with('(') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
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

    /// Rules, not sentences: each line is read by the lexicon and the rules table.
    #[test]
    fn the_rules_table_reads_everyday_phrasings() {
        let t = |h: u32, m: u32| TimeSpec::Clock(h * 3600 + m * 60);
        check(
            "what was i busy working in around 2:05 pm",
            Intent::FocusAt(t(14, 5)),
        );
        check(
            "after 3pm where did i head next",
            Intent::FocusAdjacent {
                at: t(15, 0),
                before: false,
            },
        );
        check(
            "how long was the browser up front overall",
            Intent::FocusDuration {
                target: "browser".into(),
                from: None,
                to: None,
            },
        );
        check(
            "gap between dock shipped and INC-9 closed",
            Intent::Elapsed {
                from_text: "dock shipped".into(),
                to_text: "INC-9 closed".into(),
            },
        );
        check(
            "elapsed Save As to 'confirm totals'",
            Intent::Elapsed {
                from_text: "save as".into(),
                to_text: "confirm totals".into(),
            },
        );
        check(
            "INV-7 which applications",
            Intent::Correlate {
                text: "INV-7".into(),
            },
        );
        // Several kinds of control, or what one does with them, mean every operable control;
        // the word before `dialog` names it even when it is a cue.
        let controls = |q: &str| match intent(&parse(q).expect("parses")) {
            Intent::Elements { role, window, .. } => (role, window),
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(
            controls("buttons, links and inputs of the Export window at 9:10"),
            ("operable", "export".to_owned())
        );
        assert_eq!(
            controls("what could i click in the Open file dialog at 9:10"),
            ("operable", "open file".to_owned())
        );
        assert_eq!(
            controls("controls in the Open dialog at 9:10"),
            ("operable", "open".to_owned())
        );
        // A question about something never on screen is still a search, not a guess.
        check(
            "what did Omar say about the pipeline rewrite",
            Intent::Search,
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
