//! Linking the names a question writes to the DataRoot's own apps, read-only: a word that is a
//! recorded process's name (`firefox` for `firefox.exe`) or an everyday name for a kind of app
//! whose process the data holds ([`super::apps::app_kind`]: `browser`, `editor`, `terminal`)
//! names those processes; the other words must be found in a window's title. A kind the data
//! holds no app of links nothing, and its word stays a word to find, so it can only match a
//! title that says it.

use super::apps::app_kind;
use super::handle::QueryHandle;

/// One word linked to recorded processes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(super) struct Link {
    pub(super) word: String,
    /// `process name` (the word is one), `kind of app` (an everyday name for one), or
    /// `name prefix` (the word is most of one): the order in which they are tried.
    pub(super) how: &'static str,
    pub(super) processes: Vec<String>,
    /// How sure the link is, in percent: 100 for a process's own name, 90 for a kind of app,
    /// the share of the name's letters the word covers for a prefix; divided by the number of
    /// processes the word names, so an ambiguous word scores lower.
    pub(super) score_pct: u32,
    /// The word names more than one recorded process (the question did not say which).
    pub(super) ambiguous: bool,
}

/// What a name in a question links to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Linked {
    /// Recorded process names (lower case) the name's app words link to; empty: any process.
    pub(super) processes: Vec<String>,
    /// Each app word that linked, how, and to which processes ("browser" → firefox.exe).
    pub(super) links: Vec<Link>,
    /// The words left to find in a window's title or process name.
    pub(super) words: Vec<String>,
}

impl Linked {
    /// Whether a window (title and process name) is the one named.
    pub(super) fn matches(&self, title: &str, process: &str) -> bool {
        let process = process.to_lowercase();
        let text = format!("{} {process}", title.to_lowercase());
        (self.processes.is_empty() || self.processes.contains(&process))
            && self.words.iter().all(|w| text.contains(w.as_str()))
    }

    /// Whether nothing was named.
    pub(super) fn is_empty(&self) -> bool {
        self.processes.is_empty() && self.words.is_empty()
    }
}

/// A process name without its directory and `.exe`, lower case.
pub(super) fn stem(process: &str) -> String {
    let lower = crate::contract::process_name(process).to_lowercase();
    lower.strip_suffix(".exe").unwrap_or(&lower).to_owned()
}

/// Links the words of `name` against the processes `recorded` holds.
pub(super) fn link_with(name: &str, recorded: &[String]) -> Linked {
    let mut linked = Linked::default();
    for word in name.split_whitespace().map(str::to_lowercase) {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric()).to_owned();
        if word.is_empty() {
            continue;
        }
        let by_name: Vec<&String> = recorded.iter().filter(|p| stem(p) == word).collect();
        let by_kind: Vec<&String> = app_kind(&word)
            .map(|apps| {
                recorded
                    .iter()
                    .filter(|p| apps.contains(&stem(p).as_str()))
                    .collect()
            })
            .unwrap_or_default();
        // A word that is most of a process's name begins it (`tessera` for `tesseradesk.exe`;
        // `windows` is not `windowsterminal.exe`).
        let by_prefix: Vec<&String> = if word.chars().count() >= 4 {
            recorded
                .iter()
                .filter(|p| {
                    let stem = stem(p);
                    stem.starts_with(&word) && word.len() * 2 > stem.len()
                })
                .collect()
        } else {
            Vec::new()
        };
        let found = [
            ("process name", by_name),
            ("kind of app", by_kind),
            ("name prefix", by_prefix),
        ]
        .into_iter()
        .find(|(_, found)| !found.is_empty());
        let Some((how, named)) = found else {
            linked.words.push(word);
            continue;
        };
        let processes: Vec<String> = named.iter().map(|p| p.to_lowercase()).collect();
        for process in &processes {
            if !linked.processes.contains(process) {
                linked.processes.push(process.clone());
            }
        }
        let quality = match how {
            "process name" => 100,
            "kind of app" => 90,
            _ => named
                .iter()
                .map(|p| (word.len() * 100 / stem(p).len().max(1)) as u32)
                .max()
                .unwrap_or(0),
        };
        linked.links.push(Link {
            score_pct: quality / processes.len().max(1) as u32,
            ambiguous: processes.len() > 1,
            word,
            how,
            processes,
        });
    }
    // A kind beside a named app only says what the app is ("the chat Relay").
    if !linked.processes.is_empty() {
        linked.words.retain(|w| app_kind(w).is_none());
    }
    linked
}

/// The process names of the DataRoot's focus runs.
pub(super) fn recorded_processes(handle: &QueryHandle) -> rusqlite::Result<Vec<String>> {
    handle.rows(
        "SELECT DISTINCT process_name FROM s.focus_runs ORDER BY process_name",
        [],
        |r| r.get::<_, String>(0),
    )
}

/// Links `name` against the DataRoot's recorded processes.
pub(super) fn link(handle: &QueryHandle, name: &str) -> rusqlite::Result<Linked> {
    Ok(link_with(name, &recorded_processes(handle)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded() -> Vec<String> {
        [
            "firefox.exe",
            "Code.exe",
            "relay.exe",
            "WindowsTerminal.exe",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    #[test]
    fn app_names_and_kinds_link_to_recorded_processes() {
        let linked = link_with("browser tabs", &recorded());
        assert_eq!(linked.processes, ["firefox.exe"]);
        assert_eq!(
            (linked.links[0].word.as_str(), linked.links[0].how),
            ("browser", "kind of app")
        );
        assert_eq!(linked.words, ["tabs"]);
        let linked = link_with("Firefox", &recorded());
        assert_eq!((linked.processes.len(), linked.words.len()), (1, 0));
        assert!(linked.matches("Q1 Budget - Mozilla Firefox", "firefox.exe"));
        assert!(!linked.matches("Firefox notes", "Code.exe"));
        let linked = link_with("editor", &recorded());
        assert_eq!(linked.processes, ["code.exe"]);
        let linked = link_with("windowster", &recorded());
        assert_eq!(linked.processes, ["windowsterminal.exe"], "most of a name");
        let linked = link_with("windows", &recorded());
        assert!(
            linked.processes.is_empty(),
            "less than half of a name links nothing"
        );
        let linked = link_with("relay platform-team", &recorded());
        assert_eq!(linked.processes, ["relay.exe"]);
        assert!(linked.matches("Relay - #platform-team", "relay.exe"));
        assert!(!linked.matches("Relay - #general", "relay.exe"));
    }

    #[test]
    fn a_kind_the_data_holds_no_app_of_stays_a_word() {
        // No chat app is recorded under a well-known name: "chat" must be found in a title.
        let linked = link_with("chat", &recorded());
        assert!(linked.processes.is_empty());
        assert_eq!(linked.words, ["chat"]);
        assert!(!linked.matches("Relay - #platform-team", "relay.exe"));
        assert!(linked.matches("Team chat - Relay", "relay.exe"));
        assert!(!link_with("chat", &recorded()).is_empty());
        // Beside an app it names, a kind only says what the app is.
        let linked = link_with("chat relay", &recorded());
        assert_eq!((linked.processes.len(), linked.words.len()), (1, 0));
    }

    #[test]
    fn each_link_has_a_score_and_an_ambiguous_word_says_so() {
        let score = |name: &str, recorded: &[String]| {
            let linked = link_with(name, recorded);
            (linked.links[0].score_pct, linked.links[0].ambiguous)
        };
        assert_eq!(score("firefox", &recorded()), (100, false));
        assert_eq!(score("browser", &recorded()), (90, false));
        // 10 of the 15 letters of `windowsterminal`.
        assert_eq!(score("windowster", &recorded()), (66, false));
        let two_browsers: Vec<String> = ["firefox.exe", "chrome.exe"].map(str::to_owned).to_vec();
        assert_eq!(score("browser", &two_browsers), (45, true));
    }
}
