//! Which window a question names when no title holds every one of its words: the recorded
//! title that holds the most of them, helped by the text the window showed, the newest on a tie
//! ([`best_title`]). Titles come from the evidence store's window records, so a window that
//! never had focus is still known by name.

use super::handle::QueryHandle;

/// The words of a title: runs of letters, digits, `-`, `#` and `@`, lower-cased.
fn title_words(title: &str) -> Vec<String> {
    title
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '#' | '@')))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether a question word names a title word (`invoice` names `invoices`, `reply` names the
/// `Re` of a reply's title, [`super::lexicon::title_word`]).
fn word_matches(word: &str, title_word: &str) -> bool {
    word == title_word
        || (word.len() >= 4 && title_word.len() >= 4 && title_word.starts_with(word))
        || (word.len() >= 4 && title_word.len() >= 4 && word.starts_with(title_word))
        || super::lexicon::title_word(word) == Some(title_word)
}

/// How many of `words` a title holds.
pub(super) fn score(title: &str, words: &[String]) -> usize {
    let held = title_words(title);
    words
        .iter()
        .filter(|w| held.iter().any(|t| word_matches(w, t)))
        .count()
}

/// The best title for `window` among the window records up to `until`. App words link to
/// recorded processes ([`super::entities`]) and keep only their windows; the other words are
/// sought in each title, and those a title lacks in the text its window showed ("the reply to
/// Megan": a reply whose To field names Megan). A title qualifies holding more than half of the
/// words (one word of two is not a name: "Payroll Portal" is not "Service Portal"), or some of
/// them with its window's text holding the rest; the most words held in the
/// title (counted twice) and the text win, the newest title on a tie.
pub(super) fn best_title(
    handle: &QueryHandle,
    window: &str,
    until: &str,
) -> rusqlite::Result<Option<String>> {
    let linked = super::entities::link(handle, window)?;
    let words: Vec<String> = linked
        .words
        .iter()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() && linked.processes.is_empty() {
        return Ok(None);
    }
    let titles = handle.rows(
        "SELECT title, process_path, max(ts_utc) AS newest FROM (
            SELECT CASE WHEN typeof(payload) IN ('text', 'blob') AND json_valid(CAST(payload AS TEXT))
                   THEN json_extract(CAST(payload AS TEXT), '$.window.title') END AS title,
                   CASE WHEN typeof(payload) IN ('text', 'blob') AND json_valid(CAST(payload AS TEXT))
                   THEN json_extract(CAST(payload AS TEXT), '$.window.process_path') END AS process_path,
                   ts_utc
            FROM metadata
            WHERE record_type = 'evidence.window.meta' AND typeof(ts_utc) = 'text' AND ts_utc <= ?1)
         WHERE typeof(title) = 'text'
         GROUP BY title ORDER BY newest DESC, title",
        [until],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            ))
        },
    )?;
    let mut best: Option<(usize, String)> = None;
    for (title, process_path) in titles {
        let process = super::entities::stem(&process_path);
        if !linked.processes.is_empty()
            && !linked
                .processes
                .iter()
                .any(|p| super::entities::stem(p) == process)
        {
            continue;
        }
        let in_title = score(&title, &words);
        let rest: Vec<String> = words
            .iter()
            .filter(|w| score(&title, std::slice::from_ref(w)) == 0)
            .cloned()
            .collect();
        let in_text = if in_title > 0 && !rest.is_empty() {
            shown_by(handle, &title, &rest)?
        } else {
            0
        };
        let qualifies =
            in_title * 2 > words.len() || (in_title > 0 && in_title + in_text == words.len());
        let rank = 2 * in_title + in_text;
        if qualifies && best.as_ref().is_none_or(|(r, _)| rank > *r) {
            best = Some((rank, title));
        }
    }
    Ok(best.map(|b| b.1))
}

/// How many of `words` the text a window showed holds (its distinct indexed contents).
fn shown_by(handle: &QueryHandle, title: &str, words: &[String]) -> rusqlite::Result<usize> {
    let texts = handle.rows(
        "SELECT text FROM s.search_contents WHERE window_title = ?1 LIMIT 256",
        [title],
        |r| r.get::<_, String>(0),
    )?;
    let held: Vec<String> = texts.iter().flat_map(|t| title_words(t)).collect();
    Ok(words
        .iter()
        .filter(|w| held.iter().any(|t| word_matches(w, t)))
        .count())
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
            4,
            "a reply's title says RE"
        );
        assert_eq!(
            score("Inbox - dana@northwind.example", &words("outlook")),
            0
        );
        // A reply's title says `Re`, a mail being written `Write`.
        assert_eq!(
            score(
                "Write: Re: Refund still not received",
                &words("composing reply")
            ),
            2
        );
        assert_eq!(score("Reports", &words("re")), 0);
    }
}
