//! Times as people write them (the forms are listed in `docs/query.md`): 24-hour clocks
//! (`16:20`, `10:20:30`), 12-hour clocks with `am`/`pm` attached or apart, with or without dots
//! (`4:20pm`, `10:21 AM`, `10:20:30 a.m.`, `4 pm`), `noon` and `midnight`, a clock followed by
//! "in the morning", "in the afternoon", "in the evening" or "at night", ranges in one token
//! (`10:15-10:25`, `9-11am`) or across a connector (`from 10 to 11`, `between 9:28 and 9:50am`,
//! `10:15 until 10:25`), and RFC 3339 timestamps. A bare number is a time only as an end of a
//! range introduced by `from`/`between`/`since`. Pure: no clock, no data.

use serde::Serialize;

/// A time as written: a clock time on the data's day, or a full timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TimeSpec {
    /// Seconds since midnight.
    Clock(u32),
    /// An RFC 3339 timestamp, normalised to UTC text.
    Instant(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meridiem {
    Am,
    Pm,
}

/// A clock as written: hours, minutes and seconds, whether minutes were written, and the
/// meridiem when one was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Written {
    h: u32,
    m: u32,
    s: u32,
    minutes: bool,
    meridiem: Option<Meridiem>,
}

impl Written {
    /// Seconds since midnight, when the clock is a real time (a 12-hour clock runs 1..=12).
    fn seconds(self) -> Option<u32> {
        let h = match self.meridiem {
            None => (self.h < 24).then_some(self.h)?,
            Some(meridiem) => {
                if !(1..=12).contains(&self.h) {
                    return None;
                }
                self.h % 12 + if meridiem == Meridiem::Pm { 12 } else { 0 }
            }
        };
        (self.m < 60 && self.s < 60).then_some(h * 3600 + self.m * 60 + self.s)
    }

    /// This clock read with `meridiem` when it has none and could take one.
    fn with(self, meridiem: Meridiem) -> Written {
        if self.meridiem.is_none() && (1..=12).contains(&self.h) {
            Written {
                meridiem: Some(meridiem),
                ..self
            }
        } else {
            self
        }
    }
}

fn other(meridiem: Meridiem) -> Meridiem {
    match meridiem {
        Meridiem::Am => Meridiem::Pm,
        Meridiem::Pm => Meridiem::Am,
    }
}

/// Lower case, without the punctuation a sentence puts around a word.
fn bare(token: &str) -> String {
    token
        .trim_start_matches(['(', '"', '\''])
        .trim_end_matches(['?', ',', '!', ';', ')', '"', '\''])
        .to_lowercase()
}

fn meridiem_word(word: &str) -> Option<Meridiem> {
    match word.replace('.', "").as_str() {
        "am" => Some(Meridiem::Am),
        "pm" => Some(Meridiem::Pm),
        _ => None,
    }
}

/// `H`, `H:MM` or `H:MM:SS`, with a meridiem attached or not (`4pm`, `10:21a.m.`).
fn written(text: &str) -> Option<Written> {
    let text = text.trim_end_matches('.');
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit() && c != ':')
        .unwrap_or(text.len());
    let (clock, suffix) = text.split_at(digits_end);
    let meridiem = if suffix.is_empty() {
        None
    } else {
        Some(meridiem_word(suffix)?)
    };
    let parts: Vec<&str> = clock.split(':').collect();
    if parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()))
        || parts.iter().skip(1).any(|p| p.len() != 2)
    {
        return None;
    }
    let number = |i: usize| parts.get(i).and_then(|p| p.parse::<u32>().ok());
    let written = Written {
        h: number(0)?,
        m: number(1).unwrap_or(0),
        s: number(2).unwrap_or(0),
        minutes: parts.len() >= 2,
        meridiem,
    };
    written.seconds().map(|_| written)
}

/// A clock that stands on its own: minutes written, or a meridiem attached.
fn standalone(text: &str) -> Option<Written> {
    written(text).filter(|w| w.minutes || w.meridiem.is_some())
}

const CONNECTORS: [&str; 7] = ["to", "and", "until", "till", "through", "-", "–"];
const RANGE_OPENERS: [&str; 3] = ["from", "between", "since"];

/// Parses one time written as a single word: a clock (`12:08`, `4:20pm`, `noon`) or an RFC 3339
/// timestamp.
pub fn parse_time(text: &str) -> Option<TimeSpec> {
    match bare(text).as_str() {
        "noon" => return Some(TimeSpec::Clock(12 * 3600)),
        "midnight" => return Some(TimeSpec::Clock(0)),
        word => {
            if let Some(seconds) = standalone(word).and_then(Written::seconds) {
                return Some(TimeSpec::Clock(seconds));
            }
        }
    }
    crate::contract::parse_ts_utc(text.trim_end_matches(['?', ',', '!', ';', ')']))
        .ok()
        .map(|at| TimeSpec::Instant(crate::contract::format_ts_utc(at)))
}

/// A time found in the text, before the ends of a range share their meridiem.
enum Found {
    Clock(Written),
    Instant(String),
}

/// The times written or said in `tokens` (the words of a question, in order) and, for each
/// token, whether it was part of one (so it is not also a word).
pub fn scan(tokens: &[String]) -> (Vec<TimeSpec>, Vec<bool>) {
    let rewritten = super::spoken::rewrite(tokens);
    let texts: Vec<String> = rewritten.iter().map(|(text, _)| text.clone()).collect();
    let (times, used_rewritten) = scan_written(&texts);
    let mut used = vec![false; tokens.len()];
    for ((_, covers), in_time) in rewritten.iter().zip(used_rewritten) {
        if in_time {
            for &index in covers {
                used[index] = true;
            }
        }
    }
    (times, used)
}

/// [`scan`] over times written with digits.
fn scan_written(tokens: &[String]) -> (Vec<TimeSpec>, Vec<bool>) {
    let words: Vec<String> = tokens.iter().map(|t| bare(t)).collect();
    let mut used = vec![false; tokens.len()];
    // Each found time with whether it closes a range opened by the previous one.
    let mut found: Vec<(Found, bool)> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = words[i].as_str();
        let after_connector =
            i >= 2 && CONNECTORS.contains(&words[i - 1].as_str()) && used[i - 2] && !used[i - 1];
        // A range in one token: `10:15-10:25`, `9-11am`.
        if let Some((left, right)) = word.split_once(['-', '–'])
            && let (Some(l), Some(r)) = (written(left), written(right))
            && (l.minutes || r.minutes || l.meridiem.is_some() || r.meridiem.is_some())
        {
            found.push((Found::Clock(l), false));
            found.push((Found::Clock(r), true));
            used[i] = true;
            i += 1;
            continue;
        }
        let single = match word {
            "noon" => Some(Written {
                h: 12,
                m: 0,
                s: 0,
                minutes: true,
                meridiem: Some(Meridiem::Pm),
            }),
            "midnight" => Some(Written {
                h: 0,
                m: 0,
                s: 0,
                minutes: true,
                meridiem: None,
            }),
            _ => standalone(word).or_else(|| {
                // A bare hour: with a meridiem as the next word, or as an end of a range.
                let hour = written(word).filter(|w| !w.minutes && w.meridiem.is_none())?;
                let next_is_meridiem = words.get(i + 1).is_some_and(|n| meridiem_word(n).is_some());
                let opens_range = i >= 1
                    && RANGE_OPENERS.contains(&words[i - 1].as_str())
                    && words
                        .get(i + 1)
                        .is_some_and(|n| CONNECTORS.contains(&n.as_str()))
                    && words.get(i + 2).is_some_and(|n| written(n).is_some());
                let part_of_day_next = part_of_day(&words[i + 1..]).is_some();
                (next_is_meridiem || opens_range || after_connector || part_of_day_next)
                    .then_some(hour)
            }),
        };
        if let Some(mut clock) = single {
            used[i] = true;
            let mut next = i + 1;
            if clock.meridiem.is_none() && clock.h <= 12 {
                if let Some(meridiem) = words.get(next).and_then(|n| meridiem_word(n)) {
                    clock = clock.with(meridiem);
                    used[next] = true;
                    next += 1;
                } else if let Some((meridiem, len)) = part_of_day(&words[next.min(words.len())..]) {
                    clock = clock.with(meridiem);
                    for flag in &mut used[next..next + len] {
                        *flag = true;
                    }
                    next += len;
                }
            }
            found.push((Found::Clock(clock), after_connector));
            i = next;
            continue;
        }
        if let Some(TimeSpec::Instant(at)) = parse_time(&tokens[i]) {
            found.push((Found::Instant(at), after_connector));
            used[i] = true;
        }
        i += 1;
    }
    share_meridiems(&mut found);
    let times = found
        .into_iter()
        .filter_map(|(time, _)| match time {
            Found::Clock(clock) => clock.seconds().map(TimeSpec::Clock),
            Found::Instant(at) => Some(TimeSpec::Instant(at)),
        })
        .collect();
    (times, used)
}

/// "in the morning" (am), "in the afternoon", "in the evening", "at night" (pm) at the start of
/// `words`: the meridiem and how many words it took.
fn part_of_day(words: &[String]) -> Option<(Meridiem, usize)> {
    let first: Vec<&str> = words.iter().take(3).map(String::as_str).collect();
    match first.as_slice() {
        ["in", "the", "morning", ..] => Some((Meridiem::Am, 3)),
        ["in", "the", "afternoon" | "evening", ..] => Some((Meridiem::Pm, 3)),
        ["at", "night", ..] => Some((Meridiem::Pm, 2)),
        _ => None,
    }
}

/// In a range, an end written without a meridiem takes the other end's ("between 9:28 and
/// 9:50am" is 9:28 am), switched when that would put the range's start after its end
/// ("11:30 to 1pm" starts at 11:30 am).
fn share_meridiems(found: &mut [(Found, bool)]) {
    for k in 1..found.len() {
        if !found[k].1 {
            continue;
        }
        let (before, rest) = found.split_at_mut(k);
        let (Found::Clock(start), Found::Clock(end)) = (&mut before[k - 1].0, &mut rest[0].0)
        else {
            continue;
        };
        match (start.meridiem, end.meridiem) {
            (None, Some(meridiem)) => {
                let mut candidate = start.with(meridiem);
                if candidate.seconds() > end.seconds() {
                    candidate = start.with(other(meridiem));
                }
                *start = candidate;
            }
            (Some(meridiem), None) => {
                let mut candidate = end.with(meridiem);
                if candidate.seconds() < start.seconds() {
                    candidate = end.with(other(meridiem));
                }
                *end = candidate;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clocks(text: &str) -> Vec<String> {
        let tokens: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        scan(&tokens)
            .0
            .into_iter()
            .map(|t| match t {
                TimeSpec::Clock(s) => format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
                TimeSpec::Instant(at) => at,
            })
            .collect()
    }

    fn left(text: &str) -> Vec<String> {
        let tokens: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        let (_, used) = scan(&tokens);
        tokens
            .into_iter()
            .zip(used)
            .filter(|(_, used)| !used)
            .map(|(t, _)| t)
            .collect()
    }

    #[test]
    fn single_times_in_every_form() {
        for (text, expected) in [
            ("at 10:21?", "10:21:00"),
            ("at 16:20", "16:20:00"),
            ("10:20:30", "10:20:30"),
            ("4:20pm", "16:20:00"),
            ("4:20 PM", "16:20:00"),
            ("10:21 am", "10:21:00"),
            ("10:20:30 a.m.", "10:20:30"),
            ("10:20:30AM", "10:20:30"),
            ("at 4 pm", "16:00:00"),
            ("around 11pm", "23:00:00"),
            ("12:05 am", "00:05:00"),
            ("12:30 pm", "12:30:00"),
            ("at noon", "12:00:00"),
            ("by midnight", "00:00:00"),
            ("7:30 in the morning", "07:30:00"),
            ("4:20 in the afternoon", "16:20:00"),
            ("9:15 at night", "21:15:00"),
            ("at 2026-02-20T12:08:00Z", "2026-02-20T12:08:00.000000Z"),
            ("at three in the afternoon", "15:00:00"),
            ("at ten past eight in the evening", "20:10:00"),
            ("at half past four in the afternoon", "16:30:00"),
            ("at 25 past 4 in the afternoon", "16:25:00"),
            ("at twenty-five past nine in the evening", "21:25:00"),
            ("at 2 minutes past 5 in the evening", "17:02:00"),
            ("at five past ten at night", "22:05:00"),
            ("at ten to six in the evening", "17:50:00"),
            ("at nine o'clock", "09:00:00"),
        ] {
            assert_eq!(clocks(text), [expected], "{text}");
        }
    }

    #[test]
    fn ranges_in_every_form() {
        for (text, expected) in [
            ("from 10:15 to 10:25", ["10:15:00", "10:25:00"]),
            ("10:15-10:25", ["10:15:00", "10:25:00"]),
            ("14:00-15:00", ["14:00:00", "15:00:00"]),
            ("9-11am", ["09:00:00", "11:00:00"]),
            ("11-1pm", ["11:00:00", "13:00:00"]),
            ("between 9:28 and 9:50am", ["09:28:00", "09:50:00"]),
            ("between 1:30 and 2:15 pm", ["13:30:00", "14:15:00"]),
            ("from 11:30 to 1pm", ["11:30:00", "13:00:00"]),
            ("from 10 to 11", ["10:00:00", "11:00:00"]),
            ("from 9am to 11", ["09:00:00", "11:00:00"]),
            ("from 11am to 1", ["11:00:00", "13:00:00"]),
            ("10:15 until 10:25", ["10:15:00", "10:25:00"]),
            ("since 9 until 5pm", ["09:00:00", "17:00:00"]),
            ("between 9:05 and 9:40pm", ["21:05:00", "21:40:00"]),
            ("from 22:00 to 23:30", ["22:00:00", "23:30:00"]),
            (
                "from two to five in the afternoon",
                ["14:00:00", "17:00:00"],
            ),
            ("from five to six in the evening", ["17:00:00", "18:00:00"]),
            (
                "from two until seven in the evening",
                ["14:00:00", "19:00:00"],
            ),
            (
                "from four to twenty past four in the afternoon",
                ["16:00:00", "16:20:00"],
            ),
        ] {
            assert_eq!(clocks(text), expected, "{text}");
        }
    }

    #[test]
    fn numbers_that_are_not_times_stay_words() {
        for text in [
            "INV-20931",
            "order 1Z999AA10123456784",
            "2026-02-20",
            "$5,816.75",
            "9-5",
            "at 4",
            "13pm",
            "24:00",
            "10:75",
            "how many tabs 3 and 4",
        ] {
            assert_eq!(clocks(text), Vec::<String>::new(), "{text}");
        }
        assert_eq!(
            left("windows open at 4:20 pm please"),
            ["windows", "open", "at", "please"]
        );
        assert_eq!(left("between 9 and 11 am"), ["between", "and"]);
        assert_eq!(left("7:30 in the morning"), Vec::<String>::new());
        // Number words that are no clock stay the words they were.
        assert_eq!(
            clocks("which one was it, half the day"),
            Vec::<String>::new()
        );
        assert_eq!(left("which one at ten past eight"), ["which", "one", "at"]);
    }

    #[test]
    fn one_word_times_for_operators() {
        assert_eq!(
            parse_time("4:45pm"),
            Some(TimeSpec::Clock(16 * 3600 + 45 * 60))
        );
        assert_eq!(
            parse_time("12:08"),
            Some(TimeSpec::Clock(12 * 3600 + 8 * 60))
        );
        assert_eq!(parse_time("noon"), Some(TimeSpec::Clock(12 * 3600)));
        assert_eq!(parse_time("4"), None);
        assert_eq!(parse_time("25:00"), None);
        assert_eq!(
            parse_time("2026-02-20T12:08:00Z"),
            Some(TimeSpec::Instant("2026-02-20T12:08:00.000000Z".into()))
        );
    }
}
