//! The query language's words (grammar in `docs/query.md`): words, quoted phrases and the
//! operators `app:`, `window:`, `after:`, `before:`, `at:`; the times among the words are
//! [`super::times`]'s to find. Errors name their kind and position. What the words ask for is
//! [`super::language`]'s.

use serde::Serialize;
use thiserror::Error;

pub use super::times::TimeSpec;
use super::times::{parse_time, scan};

/// A syntax error, with the 0-based character position it was found at.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("query syntax error at position {position}: {message}")]
pub struct SyntaxError {
    pub position: usize,
    pub message: String,
}

/// A parsed query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Parsed {
    /// Lower-cased words outside operators and quotes, in order.
    pub words: Vec<String>,
    pub phrases: Vec<String>,
    /// Where each phrase was written: the number of words before it.
    pub phrase_at: Vec<usize>,
    pub app: Option<String>,
    pub window: Option<String>,
    pub after: Option<TimeSpec>,
    pub before: Option<TimeSpec>,
    pub at: Option<TimeSpec>,
    /// Times written in the free text ("at 12:08", "from 10:00 to 11:00"), in order.
    pub times: Vec<TimeSpec>,
}

const OPERATORS: [&str; 5] = ["app", "window", "after", "before", "at"];

/// Parses `input` into words, phrases, operators and times.
pub fn parse(input: &str) -> Result<Parsed, SyntaxError> {
    // Control characters separate words like spaces and never reach a word or phrase: FTS5 reads
    // a NUL inside a quoted term as the end of the query text ("unterminated string").
    let chars: Vec<char> = input
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut parsed = Parsed::default();
    // The free-text tokens, in order: times are found among them before the rest become words.
    let mut free: Vec<Free> = Vec::new();
    let mut i = 0;
    let err = |position: usize, message: String| SyntaxError { position, message };
    let read_quoted = |start: usize| -> Result<(String, usize), SyntaxError> {
        let mut j = start + 1;
        let mut text = String::new();
        while j < chars.len() && chars[j] != '"' {
            text.push(chars[j]);
            j += 1;
        }
        if j >= chars.len() {
            return Err(err(start, "unterminated quote".into()));
        }
        Ok((text, j + 1))
    };
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        if chars[i] == '"' {
            let (text, next) = read_quoted(i)?;
            if text.trim().is_empty() {
                return Err(err(i, "empty quoted phrase".into()));
            }
            free.push(Free::Phrase(text));
            i = next;
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '"' {
            i += 1;
        }
        let token: String = chars[start..i].iter().collect();
        // `name:value` is an operator when `name` is a word; `12:08` is a time. A word that
        // merely ends in a colon and is no operator ("Re:", "Note:") is a word.
        if let Some((name, rest)) = token.split_once(':')
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphabetic())
            && (!rest.is_empty() || OPERATORS.contains(&name.to_ascii_lowercase().as_str()))
        {
            let name_lower = name.to_ascii_lowercase();
            if !OPERATORS.contains(&name_lower.as_str()) {
                return Err(err(
                    start,
                    format!(
                        "unknown operator `{name}:` (known: app:, window:, after:, before:, at:)"
                    ),
                ));
            }
            let value_pos = start + name.chars().count() + 1;
            let value = if rest.is_empty() && i < chars.len() && chars[i] == '"' {
                let (text, next) = read_quoted(i)?;
                i = next;
                text
            } else {
                rest.to_owned()
            };
            if value.trim().is_empty() {
                return Err(err(value_pos, format!("`{name}:` needs a value")));
            }
            match name_lower.as_str() {
                "app" => parsed.app = Some(value),
                "window" => parsed.window = Some(value),
                time_op => {
                    let time = parse_time(&value).ok_or_else(|| {
                        err(
                            value_pos,
                            format!(
                                "`{value}` is not a time (a clock such as 16:20, 10:20:30 or \
                                 4:20pm, noon, midnight, or ISO-8601)"
                            ),
                        )
                    })?;
                    match time_op {
                        "after" => parsed.after = Some(time),
                        "before" => parsed.before = Some(time),
                        _ => parsed.at = Some(time),
                    }
                }
            }
            continue;
        }
        free.push(Free::Token(token));
    }
    let free = single_quoted(free);
    let tokens: Vec<String> = free
        .iter()
        .map(|f| match f {
            Free::Token(token) => token.clone(),
            Free::Phrase(_) => String::new(),
        })
        .collect();
    let (times, used) = scan(&tokens);
    parsed.times = times;
    for (item, _) in free.iter().zip(used).filter(|(_, used)| !used) {
        let token = match item {
            Free::Phrase(text) => {
                parsed.phrases.push(text.clone());
                parsed.phrase_at.push(parsed.words.len());
                continue;
            }
            Free::Token(token) => token,
        };
        let kept = token
            .trim_matches(|c: char| {
                !c.is_alphanumeric() && c != '-' && c != '#' && c != '$' && c != '.'
            })
            .trim_end_matches('.');
        // A possessive names its owner: `Excel's` is Excel, `what's` is what.
        let kept = kept
            .strip_suffix("'s")
            .or_else(|| kept.strip_suffix("’s"))
            .unwrap_or(kept);
        if is_identifier(kept) {
            parsed.phrases.push(kept.to_owned());
            parsed.phrase_at.push(parsed.words.len());
        } else if !kept.is_empty() {
            parsed.words.push(kept.to_lowercase());
        }
    }
    Ok(parsed)
}

/// A free-text item: a token, or a phrase written in quotes.
#[derive(Clone)]
enum Free {
    Token(String),
    Phrase(String),
}

/// Tokens from one starting with `'` to one ending with `'` (before closing punctuation) are a
/// phrase, as people quote on a keyboard without double quotes: `'Waiting on parts'`. An
/// apostrophe inside a word (`I'm`, `Dana's`) quotes nothing.
fn single_quoted(free: Vec<Free>) -> Vec<Free> {
    let closes = |t: &str| {
        t.trim_end_matches(['?', '!', ',', '.', ';', ':', ')'])
            .ends_with('\'')
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < free.len() {
        if let Free::Token(token) = &free[i]
            && token.starts_with('\'')
            && token.len() > 1
            && let Some(end) = (i..free.len()).find(|&j| match &free[j] {
                Free::Token(t) => closes(if j == i { &t[1..] } else { t }),
                Free::Phrase(_) => false,
            })
            && free[i..=end].iter().all(|f| matches!(f, Free::Token(_)))
        {
            let words: Vec<&str> = free[i..=end]
                .iter()
                .map(|f| match f {
                    Free::Token(t) => t.as_str(),
                    Free::Phrase(_) => "",
                })
                .collect();
            let joined = words.join(" ");
            let text = joined
                .trim_end_matches(['?', '!', ',', '.', ';', ':', ')'])
                .trim_matches('\'')
                .trim();
            if !text.is_empty() {
                out.push(Free::Phrase(text.to_owned()));
                i = end + 1;
                continue;
            }
        }
        out.push(free[i].clone());
        i += 1;
    }
    out
}

/// An identifier written without quotes (`INV-20931`, `DK-2291`, `1Z999AA10123456784`): four or
/// more letters, digits and dashes, holding both a letter and a digit. It is sought as a phrase,
/// as if quoted.
fn is_identifier(word: &str) -> bool {
    word.chars().count() >= 4
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && word.chars().any(|c| c.is_ascii_digit())
        && word.chars().any(|c| c.is_ascii_alphabetic())
        && !word.starts_with('-')
        && !word.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_nul_in_query_is_a_separator() {
        let parsed = parse("invoice\0total \"due\0date\" app:mail\u{7}").expect("parses");
        assert_eq!(parsed.words, ["invoice", "total"]);
        assert_eq!(parsed.phrases, ["due date"]);
        assert_eq!(parsed.app.as_deref(), Some("mail"));
    }

    #[test]
    fn operators_and_phrases() {
        let parsed = parse(r#"app:"Relay" window:Inbox after:09:00 before:2026-02-20T12:00:00Z "vendor invoices" total"#).expect("parses");
        assert_eq!(parsed.app.as_deref(), Some("Relay"));
        assert_eq!(parsed.window.as_deref(), Some("Inbox"));
        assert_eq!(parsed.after, Some(TimeSpec::Clock(9 * 3600)));
        assert_eq!(
            parsed.before,
            Some(TimeSpec::Instant("2026-02-20T12:00:00.000000Z".into()))
        );
        assert_eq!(parsed.phrases, vec!["vendor invoices".to_owned()]);
        assert_eq!(parsed.words, vec!["total".to_owned()]);
    }

    #[test]
    fn identifiers_are_sought_as_phrases_and_a_colon_word_is_a_word() {
        let parsed = parse("when did 1Z999AA10123456784 and inv-20931 show up, Re: Q1 budget 2026")
            .expect("parses");
        assert_eq!(parsed.phrases, ["1Z999AA10123456784", "inv-20931"]);
        assert_eq!(
            parsed.words,
            [
                "when", "did", "and", "show", "up", "re", "q1", "budget", "2026"
            ]
        );
        for word in ["Q1", "2026", "abc-def", "10.5", "-12ab", "$5,816.75"] {
            assert!(!is_identifier(word), "{word}");
        }
        assert!(
            parse("frob:x").is_err(),
            "an unknown operator with a value is still refused"
        );
    }

    #[test]
    fn errors_name_their_position() {
        let cases = [
            ("hello \"world", 6, "unterminated quote"),
            ("foo bar:baz", 4, "unknown operator `bar:`"),
            ("after:lunch", 6, "`lunch` is not a time"),
            ("at: x", 3, "`at:` needs a value"),
            ("\"\"", 0, "empty quoted phrase"),
        ];
        for (query, position, message) in cases {
            let err = parse(query).expect_err(query);
            assert_eq!(err.position, position, "{query}");
            assert!(err.message.starts_with(message), "{query}: {}", err.message);
        }
    }
}
