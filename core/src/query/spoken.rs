//! Clock times said in words, rewritten to the written forms [`super::times`] reads: hours as
//! number words (`four` is `4`, `twenty-five` is `25`), "M past H" (`ten past eight`,
//! `half past four`, `25 past 4`, `2 minutes past 5`), "at M to H" (`at ten to six` is 5:50;
//! without `at`, "five to six" is the range five to six), and "H o'clock". A number word that
//! ends up in no time stays the word it was.

/// Number words for hours and for the minutes of "M past H".
const NUMBERS: [(&str, u32); 24] = [
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
    ("quarter", 15),
    ("a quarter", 15),
    ("fifteen", 15),
    ("twenty", 20),
    ("twenty-five", 25),
    ("twenty five", 25),
    ("half", 30),
    ("thirty", 30),
    ("forty", 40),
    ("forty-five", 45),
    ("forty five", 45),
    ("fifty", 50),
];

/// Lower case, without the punctuation a sentence puts around a word.
fn bare(token: &str) -> String {
    token
        .trim_start_matches(['(', '"', '\''])
        .trim_end_matches(['?', ',', '!', ';', ')', '"', '\''])
        .to_lowercase()
}

/// A number said at `words[i]` (a word, two words, or digits up to 59): its value and length.
fn number_at(words: &[String], i: usize) -> Option<(u32, usize)> {
    if let Some(pair) = words.get(i..i + 2)
        && let Some((_, n)) = NUMBERS.iter().find(|(w, _)| *w == pair.join(" "))
    {
        return Some((*n, 2));
    }
    let word = words.get(i)?;
    if let Some((_, n)) = NUMBERS.iter().find(|(w, _)| w == word) {
        return Some((*n, 1));
    }
    (word.len() <= 2 && word.bytes().all(|b| b.is_ascii_digit()))
        .then(|| word.parse().ok())
        .flatten()
        .filter(|n| *n < 60)
        .map(|n| (n, 1))
}

/// An hour said at `words[i]`: 1..=12 as a word or digits.
fn hour_at(words: &[String], i: usize) -> Option<u32> {
    number_at(words, i)
        .filter(|(n, len)| *len == 1 && (1..=12).contains(n) && words[i] != "quarter")
        .map(|(n, _)| n)
}

/// The tokens rewritten, each with the indexes of the original tokens it stands for.
pub fn rewrite(tokens: &[String]) -> Vec<(String, Vec<usize>)> {
    let words: Vec<String> = tokens.iter().map(|t| bare(t)).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        // M [minutes] past H, at M [minutes] to H.
        if let Some((minutes, len)) = number_at(&words, i) {
            let mut j = i + len;
            if matches!(words.get(j).map(String::as_str), Some("minutes" | "minute")) {
                j += 1;
            }
            let word = words.get(j).map(String::as_str);
            let at_before = i >= 1 && words[i - 1] == "at";
            if let Some(hour) = hour_at(&words, j + 1)
                && (1..60).contains(&minutes)
                && (word == Some("past") || (word == Some("to") && at_before))
            {
                let (h, m) = if word == Some("past") {
                    (hour, minutes)
                } else {
                    (if hour == 1 { 12 } else { hour - 1 }, 60 - minutes)
                };
                // The last token keeps any punctuation that follows it.
                let last = &tokens[j + 1];
                let tail = &last[last.rfind(char::is_alphanumeric).map_or(0, |p| p + 1)..];
                out.push((format!("{h}:{m:02}{tail}"), (i..=j + 1).collect()));
                i = j + 2;
                continue;
            }
        }
        // H o'clock.
        if let Some(hour) = hour_at(&words, i)
            && matches!(
                words.get(i + 1).map(String::as_str),
                Some("o'clock" | "oclock" | "o’clock")
            )
        {
            out.push((format!("{hour}:00"), vec![i, i + 1]));
            i += 2;
            continue;
        }
        // An hour word on its own: the written rules decide whether it is a time.
        if let Some(hour) = hour_at(&words, i)
            && !words[i].bytes().all(|b| b.is_ascii_digit())
        {
            out.push((hour.to_string(), vec![i]));
            i += 1;
            continue;
        }
        out.push((tokens[i].clone(), vec![i]));
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(text: &str) -> Vec<String> {
        let tokens: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        rewrite(&tokens).into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn clocks_said_in_words() {
        for (text, expected) in [
            ("at ten past eight", "at 8:10"),
            ("at half past four", "at 4:30"),
            ("at a quarter past nine", "at 9:15"),
            ("at 25 past 4", "at 4:25"),
            ("at twenty-five past nine", "at 9:25"),
            ("at twenty five past nine", "at 9:25"),
            ("at 2 minutes past 5", "at 5:02"),
            ("at ten to six", "at 5:50"),
            ("at quarter to one", "at 12:45"),
            ("at four o'clock", "at 4:00"),
            ("from two until seven", "from 2 until 7"),
            ("from five to six", "from 5 to 6"),
            ("at five past four?", "at 4:05?"),
        ] {
            assert_eq!(said(text).join(" "), expected, "{text}");
        }
    }
}
