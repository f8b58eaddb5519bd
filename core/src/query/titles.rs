//! Which window a question names when no title holds every one of its words: the recorded
//! title that holds the most of them (at least half), the newest on a tie. Titles come from the
//! evidence store's window records, so a window that never had focus is still known by name.

use super::handle::QueryHandle;

/// The words of a title: runs of letters, digits, `-`, `#` and `@`, lower-cased.
fn title_words(title: &str) -> Vec<String> {
    title
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '#' | '@')))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether a question word names a title word (`invoice` names `invoices`).
fn word_matches(word: &str, title_word: &str) -> bool {
    word == title_word
        || (word.len() >= 4 && title_word.len() >= 4 && title_word.starts_with(word))
        || (word.len() >= 4 && title_word.len() >= 4 && word.starts_with(title_word))
}

/// How many of `words` a title holds.
pub(super) fn score(title: &str, words: &[String]) -> usize {
    let held = title_words(title);
    words
        .iter()
        .filter(|w| held.iter().any(|t| word_matches(w, t)))
        .count()
}

/// The best title for `window` among the window records up to `until`.
pub(super) fn best_title(
    handle: &QueryHandle,
    window: &str,
    until: &str,
) -> rusqlite::Result<Option<String>> {
    let words: Vec<String> = window
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Ok(None);
    }
    let titles = handle.rows(
        "SELECT CASE WHEN typeof(payload) IN ('text', 'blob') AND json_valid(CAST(payload AS TEXT))
                THEN json_extract(CAST(payload AS TEXT), '$.window.title') END AS title, max(ts_utc) AS newest
         FROM metadata
         WHERE record_type = 'evidence.window.meta' AND typeof(ts_utc) = 'text' AND ts_utc <= ?1 AND typeof(title) = 'text'
         GROUP BY title ORDER BY newest DESC, title",
        [until],
        |r| r.get::<_, String>(0),
    )?;
    let mut best: Option<(usize, String)> = None;
    for title in titles {
        let held = score(&title, &words);
        if held * 2 >= words.len() && held > best.as_ref().map_or(0, |b| b.0) {
            best = Some((held, title));
        }
    }
    Ok(best.map(|b| b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_count_named_words() {
        let words = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(score("Save As", &words("save as dialog")), 2);
        assert_eq!(
            score(
                "RE: Q1 vendor invoices - Message (HTML)",
                &words("q1 vendor invoice reply")
            ),
            3
        );
        assert_eq!(
            score("Inbox - dana@northwind.example", &words("outlook")),
            0
        );
    }
}
