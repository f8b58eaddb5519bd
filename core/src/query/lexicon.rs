//! The words people use to ask, as data: one table mapping words and phrases to the cues they
//! carry (focus, use, seen, arrival, sum, count, where, chrome, owner, lists, fields, controls…)
//! and the words that only shape a question. [`read`] finds the longest phrase of the table at
//! each word and leaves the rest as content words, the names a question writes out. The rules
//! that turn cues into an intent are [`super::language`]'s.

/// What a word or phrase tells about a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cue {
    /// Which window was in front: `focus`, `active`, `up front`, `working in`, `looking at`.
    Focus,
    /// A sequence over a range: `timeline`, `in order`, `switched between`, `rundown`.
    Timeline,
    /// Just before a moment.
    Before,
    /// Just after a moment: `after`, `next`, `moved on to`.
    After,
    /// A moving on to another window (`where did I go next`): a focus change, never a place.
    Moved,
    /// The windows of a moment: `windows`, `every window`, `inventory`.
    Inventory,
    /// Open or up on screen.
    Open,
    /// Seen on screen: `see`, `showed up`, `appeared`, `on my screen`.
    Seen,
    First,
    Last,
    /// A program: `process`, `executable`, `program`, `app`.
    Program,
    /// Belonging: `owned`, `behind`, `belong to`, `come from`.
    Owner,
    /// How long: `how long`, `time spent`, `how much time`, `minutes`.
    Duration,
    /// Time between two things: `elapsed`, `passed`, `gap`, `took`.
    Elapsed,
    /// Where an element was: `where`, `position`, `coordinates`.
    Where,
    /// Adding up: `sum`, `total`, `add up`, `come to`.
    Sum,
    /// What is added: `amounts`, `numbers`, `values`.
    Amounts,
    /// How many: `how many`, `count`, `number of`.
    HowMany,
    /// The browser's address: `site`, `url`, `host`, `address bar`.
    Chrome,
    Tab,
    /// The current one: `active`, `current`, `selected`.
    Current,
    /// While something was open: `while`, `during`.
    While,
    /// Arriving: `arrived`, `came in`, `new`, `landed`, `showed up`.
    Arrived,
    /// Several windows of one app: `pages`, `channels`, `conversations`, `documents`.
    Pages,
    /// Several apps: `apps`, `applications`, `programs`.
    Apps,
    /// Using or visiting: `used`, `visited`, `viewed`, `checked`, `was in`.
    Used,
    /// Looking for text: `find`, `search`, `mentioned`, `said`.
    Search,
    /// The controls a person operates, named by what one does with them: `click`, `usable`.
    Controls,
    /// A kind of element, by its UIA role (`button`, `list_item`, `field`, `operable`…).
    Role(&'static str),
    /// Elements kept by a word of their label or state (`unread`, `selected`, `disabled`).
    Filter(&'static str),
    /// The kind of app a word implies when no window is named (`emails`: mail, `tabs`: a
    /// browser); a word of [`super::apps::APP_KINDS`].
    App(&'static str),
    /// A word for a window that is not its name: `window`, `dialog`, `box`, `popup`, `screen`.
    WindowNoun,
    /// A word that only shapes the question.
    Stop,
}

use Cue::*;

/// Every word and phrase with its cues; the longest phrase at a word wins.
const LEXICON: &[(&str, &[Cue])] = &[
    // focus
    ("focus", &[Focus]),
    ("focused", &[Focus]),
    ("focussed", &[Focus]),
    ("foreground", &[Focus]),
    ("front", &[Focus, Current]),
    ("up front", &[Focus]),
    ("in front", &[Focus]),
    ("active", &[Focus, Current]),
    ("using", &[Focus, Used]),
    ("working in", &[Focus, Used]),
    ("working on", &[Focus, Used]),
    ("working", &[Focus, Used]),
    ("looking at", &[Focus, Used]),
    ("was i in", &[Focus, Used]),
    ("was i on", &[Focus, Used]),
    ("i was in", &[Focus, Used]),
    ("i was on", &[Focus, Used]),
    ("i had up", &[Focus, Used]),
    ("had up", &[Focus, Used]),
    ("had my focus", &[Focus]),
    ("in focus", &[Focus]),
    ("in front of me", &[Focus]),
    ("have up", &[Focus, Used]),
    // sequences
    ("timeline", &[Timeline]),
    ("sequence", &[Timeline]),
    ("in order", &[Timeline]),
    ("order", &[Timeline]),
    ("one after another", &[Timeline]),
    ("one after the other", &[Timeline]),
    ("step by step", &[Timeline]),
    ("switch", &[Timeline]),
    ("switched", &[Timeline]),
    ("switching", &[Timeline]),
    ("jump", &[Timeline]),
    ("jumped", &[Timeline]),
    ("bounce", &[Timeline]),
    ("bounced", &[Timeline]),
    ("rundown", &[Timeline]),
    ("walk me through", &[Timeline]),
    ("walk through", &[Timeline]),
    ("go through", &[Timeline]),
    ("went through", &[Timeline]),
    ("history", &[Timeline]),
    // before and after
    ("before", &[Before]),
    ("just before", &[Before]),
    ("right before", &[Before]),
    ("immediately before", &[Before]),
    ("prior to", &[Before]),
    ("immediately prior to", &[Before]),
    ("previously", &[Before]),
    ("earlier than", &[Before]),
    ("after", &[After]),
    ("right after", &[After]),
    ("just after", &[After]),
    ("immediately after", &[After]),
    ("next", &[After]),
    ("go next", &[After, Moved]),
    ("went next", &[After, Moved]),
    ("head next", &[After, Moved]),
    ("headed next", &[After, Moved]),
    ("move on to", &[After, Moved]),
    ("moved on to", &[After, Moved]),
    ("switch to", &[After, Moved]),
    ("switched to", &[After, Moved]),
    // windows of a moment
    ("windows", &[Inventory]),
    ("inventory", &[Inventory]),
    ("every window", &[Inventory]),
    ("all windows", &[Inventory]),
    ("all the windows", &[Inventory]),
    ("all my windows", &[Inventory]),
    ("open windows", &[Inventory, Open]),
    ("open", &[Open]),
    ("opened", &[Open]),
    ("up", &[Open]),
    ("on my screen", &[Seen, Open]),
    ("on screen", &[Seen, Open]),
    ("on the screen", &[Seen, Open]),
    // seen
    ("see", &[Seen]),
    ("saw", &[Seen]),
    ("seen", &[Seen]),
    ("appear", &[Seen]),
    ("appeared", &[Seen]),
    ("shown", &[Seen]),
    ("showing", &[Seen]),
    ("showed", &[Seen]),
    ("show", &[Stop]),
    ("show up", &[Seen, Arrived]),
    ("showed up", &[Seen, Arrived]),
    ("came up", &[Seen, Arrived]),
    ("come up", &[Seen, Arrived]),
    ("popped up", &[Seen, Arrived]),
    ("pop up", &[Seen, Arrived]),
    ("displayed", &[Seen]),
    ("sighting", &[Seen]),
    ("sightings", &[Seen]),
    ("visible", &[Seen]),
    ("first", &[First]),
    ("earliest", &[First]),
    ("last", &[Last]),
    ("latest", &[Last]),
    ("final", &[Last]),
    ("most recent", &[Last]),
    ("most recently", &[Last]),
    ("the words", &[Stop]),
    ("the line", &[Stop]),
    ("the text", &[Stop]),
    // owners
    ("process", &[Program]),
    ("executable", &[Program]),
    ("program", &[Program]),
    ("exe", &[Program]),
    ("binary", &[Program]),
    ("app", &[Program, WindowNoun]),
    ("application", &[Program, WindowNoun]),
    ("owned", &[Owner]),
    ("owns", &[Owner]),
    ("owning", &[Owner]),
    ("owner", &[Owner]),
    ("behind", &[Owner]),
    ("ran", &[Owner]),
    ("runs", &[Owner]),
    ("running", &[Owner]),
    ("belong to", &[Owner]),
    ("belonged to", &[Owner]),
    ("belongs to", &[Owner]),
    ("belong", &[Owner]),
    ("come from", &[Owner]),
    ("came from", &[Owner]),
    ("part of", &[Owner]),
    // durations
    ("how long", &[Duration]),
    ("duration", &[Duration]),
    ("spent", &[Duration]),
    ("spend", &[Duration]),
    ("time spent", &[Duration]),
    ("how much time", &[Duration]),
    ("total time", &[Duration]),
    ("minutes", &[Duration]),
    ("hours", &[Duration]),
    ("put into", &[Duration]),
    ("much of my day", &[Duration]),
    ("focus time", &[Duration]),
    ("usage", &[Duration]),
    ("usage time", &[Duration]),
    ("time in", &[Duration]),
    ("time on", &[Duration]),
    // elapsed
    ("elapsed", &[Elapsed]),
    ("passed", &[Elapsed]),
    ("gap", &[Elapsed]),
    ("took", &[Elapsed]),
    ("take", &[Elapsed]),
    ("seconds", &[Elapsed]),
    ("time from", &[Elapsed]),
    ("time between", &[Elapsed]),
    // where
    ("where", &[Where]),
    ("where on screen", &[Where]),
    ("where exactly", &[Where]),
    ("bbox", &[Where]),
    ("bounding box", &[Where]),
    ("bounding", &[Where]),
    ("position", &[Where]),
    ("located", &[Where]),
    ("location", &[Where]),
    ("coordinates", &[Where]),
    // sums
    ("sum", &[Sum]),
    ("total", &[Sum]),
    ("add", &[Sum]),
    ("add up", &[Sum]),
    ("added", &[Sum]),
    ("adds", &[Sum]),
    ("come to", &[Sum]),
    ("comes to", &[Sum]),
    ("came to", &[Sum]),
    ("altogether", &[Sum]),
    ("numbers", &[Amounts]),
    ("amounts", &[Amounts]),
    ("dollar amounts", &[Amounts]),
    ("dollar figures", &[Amounts]),
    ("dollar", &[Amounts]),
    ("values", &[Amounts, Role("field")]),
    ("figures", &[Amounts]),
    ("amount", &[Amounts]),
    ("dollars", &[Amounts]),
    // counts
    ("how many", &[HowMany]),
    ("count", &[HowMany]),
    ("number of", &[HowMany]),
    ("number", &[HowMany]),
    // browser chrome
    ("host", &[Chrome]),
    ("site", &[Chrome]),
    ("domain", &[Chrome]),
    ("url", &[Chrome, App("browser")]),
    ("website", &[Chrome, App("browser")]),
    ("address", &[Chrome]),
    ("address bar", &[Chrome]),
    ("web address", &[Chrome]),
    ("browsing", &[Chrome, App("browser")]),
    ("tab", &[Tab, Role("tab_item")]),
    ("current", &[Current]),
    ("selected", &[Current, Filter("selected")]),
    // arrivals
    ("while", &[While]),
    ("during", &[While]),
    ("during the time", &[While]),
    ("arrived", &[Arrived]),
    ("arrive", &[Arrived]),
    ("came in", &[Arrived]),
    ("come in", &[Arrived]),
    ("came", &[Arrived]),
    ("received", &[Arrived]),
    ("new", &[Arrived]),
    ("got", &[Arrived]),
    ("posted", &[Arrived]),
    ("landed", &[Arrived]),
    ("turned up", &[Arrived]),
    // several windows or apps
    ("pages", &[Pages, App("browser")]),
    ("web pages", &[Pages, App("browser")]),
    ("titles", &[Pages]),
    ("documents", &[Pages]),
    ("channels", &[Pages, App("chat")]),
    ("conversations", &[Pages, App("chat")]),
    ("dms", &[Pages, App("chat")]),
    ("sites", &[Pages, App("browser")]),
    ("apps", &[Apps]),
    ("applications", &[Apps]),
    ("programs", &[Apps]),
    ("every app", &[Apps]),
    ("which app", &[Apps, Program]),
    // use
    ("use", &[Used]),
    ("used", &[Used]),
    ("look", &[Used]),
    ("looked", &[Used]),
    ("look at", &[Used]),
    ("looked at", &[Used]),
    ("visit", &[Used]),
    ("visited", &[Used]),
    ("view", &[Used]),
    ("viewed", &[Used]),
    ("checked", &[Used]),
    ("check", &[Used]),
    ("worked", &[Used]),
    ("went to", &[Used]),
    ("went into", &[Used]),
    ("work", &[Used]),
    ("on", &[Stop]),
    // search
    ("find", &[Search]),
    ("search", &[Search]),
    ("look for", &[Search]),
    ("mention", &[Search]),
    ("mentioned", &[Search]),
    ("mentioning", &[Search]),
    ("contain", &[Search]),
    ("contained", &[Search]),
    ("containing", &[Search]),
    ("said", &[Search]),
    ("saying", &[Search]),
    ("says", &[Search]),
    ("say", &[Search]),
    ("anything about", &[Search]),
    ("everything about", &[Search]),
    // element roles
    ("buttons", &[Role("button")]),
    ("button", &[Role("button")]),
    ("edits", &[Role("edit")]),
    ("textboxes", &[Role("edit")]),
    ("inputs", &[Role("edit")]),
    ("fields", &[Role("field")]),
    ("pairs", &[Role("field")]),
    ("details", &[Role("field")]),
    ("filled in", &[Role("field")]),
    ("entered", &[Role("field")]),
    ("tabs", &[Role("tab_item"), App("browser")]),
    ("items", &[Role("list_item")]),
    ("rows", &[Role("list_item")]),
    ("messages", &[Role("list_item")]),
    ("entries", &[Role("list_item")]),
    ("emails", &[Role("list_item"), App("mail")]),
    ("links", &[Role("hyperlink")]),
    ("checkboxes", &[Role("check_box")]),
    ("menu", &[Role("menu_item")]),
    ("controls", &[Role("operable")]),
    ("usable", &[Controls]),
    ("clickable", &[Controls]),
    ("click", &[Controls]),
    ("type into", &[Controls]),
    ("interact with", &[Controls]),
    ("press", &[Controls]),
    ("menus", &[Role("menu_item")]),
    ("boxes", &[Role("edit")]),
    ("message", &[Role("list_item")]),
    ("mails", &[Role("list_item"), App("mail")]),
    ("tickets", &[Role("list_item")]),
    ("settings", &[Role("field")]),
    ("info", &[Role("field")]),
    ("information", &[Role("field")]),
    ("email", &[Role("list_item")]),
    ("entry", &[Role("list_item")]),
    ("labels", &[Role("text")]),
    ("lines", &[Role("text")]),
    ("unread", &[Filter("unread")]),
    ("disabled", &[Filter("disabled")]),
    // words for a window that are not its name
    ("window", &[WindowNoun]),
    ("dialog", &[WindowNoun]),
    ("dialog box", &[WindowNoun]),
    ("box", &[WindowNoun]),
    ("popup", &[WindowNoun]),
    ("pop-up", &[WindowNoun]),
    ("screen", &[WindowNoun]),
    ("page", &[WindowNoun]),
    ("thread", &[WindowNoun]),
    ("desktop", &[WindowNoun]),
    ("viewer", &[WindowNoun]),
    ("conversation", &[WindowNoun]),
    ("channel", &[WindowNoun]),
    ("tool", &[WindowNoun]),
    ("client", &[WindowNoun]),
    // words that only shape a question
    ("a", &[Stop]),
    ("an", &[Stop]),
    ("the", &[Stop]),
    ("at", &[Stop]),
    ("as of", &[Stop]),
    ("in", &[Stop]),
    ("of", &[Stop]),
    ("to", &[Stop]),
    ("for", &[Stop]),
    ("from", &[Stop]),
    ("between", &[Stop]),
    ("by", &[Stop]),
    ("with", &[Stop]),
    ("and", &[Stop]),
    ("or", &[Stop]),
    ("into", &[Stop]),
    ("about", &[Stop]),
    ("over", &[Stop]),
    ("is", &[Stop]),
    ("are", &[Stop]),
    ("was", &[Stop]),
    ("were", &[Stop]),
    ("be", &[Stop]),
    ("been", &[Stop]),
    ("did", &[Stop]),
    ("do", &[Stop]),
    ("does", &[Stop]),
    ("have", &[Stop]),
    ("had", &[Stop]),
    ("has", &[Stop]),
    ("having", &[Stop]),
    ("what", &[Stop]),
    ("which", &[Stop]),
    ("who", &[Stop]),
    ("when", &[Stop]),
    ("how", &[Stop]),
    ("i", &[Stop]),
    ("my", &[Stop]),
    ("me", &[Stop]),
    ("it", &[Stop]),
    ("that", &[Stop]),
    ("this", &[Stop]),
    ("there", &[Stop]),
    ("any", &[Stop]),
    ("all", &[Stop]),
    ("every", &[Stop]),
    ("list", &[Stop]),
    ("give me", &[Stop]),
    ("tell me", &[Stop]),
    ("can you", &[Stop]),
    ("could you", &[Stop]),
    ("please", &[Stop]),
    ("hey", &[Stop]),
    ("time", &[Stop]),
    ("today", &[Stop]),
    ("whole day", &[Stop]),
    ("all day", &[Stop]),
    ("the day", &[Stop]),
    ("actually", &[Stop]),
    ("exact", &[Stop]),
    ("just", &[Stop]),
    ("right", &[Stop]),
    ("much", &[Stop]),
    ("many", &[Stop]),
    ("whatever", &[Stop]),
    ("everything", &[Stop]),
    ("anything", &[Stop]),
    ("thing", &[Stop]),
    ("things", &[Stop]),
    ("stuff", &[Stop]),
    ("exactly", &[Stop]),
    ("one", &[Stop]),
    ("some", &[Stop]),
    ("could", &[Stop]),
    ("read me", &[Stop]),
    ("read", &[Stop]),
    ("you", &[Stop]),
    ("do you know", &[Stop]),
    ("know", &[Stop]),
    ("get", &[Stop]),
    ("if", &[Stop]),
    ("would", &[Stop]),
    ("should", &[Stop]),
    ("name", &[Stop]),
    ("shift", &[Stop]),
    ("overall", &[Stop]),
    ("sitting", &[Stop]),
    ("listed", &[Stop]),
    ("still", &[Stop]),
    ("etc", &[Stop]),
    ("were there", &[Stop]),
    ("there were", &[Stop]),
];

/// The roles of controls a person operates; naming several of them asks for every control.
const OPERABLE_ROLES: [&str; 6] = [
    "button",
    "edit",
    "hyperlink",
    "check_box",
    "menu_item",
    "operable",
];

/// Words people use for what a window's title writes otherwise: a reply's title says `Re`, a
/// forward's `Fw`, a mail being written `Write`.
const TITLE_WORDS: &[(&str, &str)] = &[
    ("reply", "re"),
    ("replying", "re"),
    ("answer", "re"),
    ("response", "re"),
    ("forward", "fw"),
    ("forwarding", "fw"),
    ("compose", "write"),
    ("composing", "write"),
    ("writing", "write"),
];

/// The title word an everyday word stands for, if any (`reply`: `re`).
pub fn title_word(word: &str) -> Option<&'static str> {
    TITLE_WORDS
        .iter()
        .find(|(said, _)| *said == word)
        .map(|(_, title)| *title)
}

/// The longest phrase of the table, in words.
const LONGEST: usize = 4;

/// A question's words read against the lexicon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    /// Each cue found, with the index of the first word of the phrase that carried it.
    pub cues: Vec<(Cue, usize)>,
    /// The words no entry of the table took, with their index: the names a question writes.
    pub content: Vec<(usize, String)>,
    /// Each phrase the table took: its first word's index and its length in words.
    pub phrases: Vec<(usize, usize)>,
}

impl Reading {
    pub fn has(&self, cue: Cue) -> bool {
        self.cues.iter().any(|(c, _)| *c == cue)
    }

    pub fn any(&self, cues: &[Cue]) -> bool {
        cues.iter().any(|c| self.has(*c))
    }

    /// The role asked about, and the word index where it was written: the first role cue, or
    /// every operable control when several kinds are named ("buttons, links, inputs").
    pub fn role(&self) -> Option<(&'static str, usize)> {
        let roles: Vec<(&'static str, usize)> = self
            .cues
            .iter()
            .filter_map(|(c, at)| match c {
                Role(role) => Some((*role, *at)),
                _ => None,
            })
            .collect();
        let Some(first) = roles.first().copied() else {
            return self.position(Controls).map(|at| ("operable", at));
        };
        let several = roles.iter().any(|(r, _)| *r != first.0)
            && roles.iter().all(|(r, _)| OPERABLE_ROLES.contains(r));
        Some(if several {
            ("operable", first.1)
        } else {
            first
        })
    }

    /// The kind of app the question's words imply, if any.
    pub fn implied_app(&self) -> Option<&'static str> {
        self.cues.iter().find_map(|(c, _)| match c {
            App(kind) => Some(*kind),
            _ => None,
        })
    }

    pub fn filter(&self) -> Option<&'static str> {
        self.cues.iter().find_map(|(c, _)| match c {
            Filter(word) => Some(*word),
            _ => None,
        })
    }

    /// Where a cue was first written.
    pub fn position(&self, cue: Cue) -> Option<usize> {
        self.cues.iter().find(|(c, _)| *c == cue).map(|(_, at)| *at)
    }

    /// The words of the phrase that starts at word `at`.
    pub fn phrase_at<'w>(&self, words: &'w [String], at: usize) -> &'w [String] {
        let len = self
            .phrases
            .iter()
            .find(|(start, _)| *start == at)
            .map_or(1, |(_, len)| *len);
        words.get(at..at + len).unwrap_or_default()
    }

    /// The content words, joined: a name as the question writes it.
    pub fn name(&self) -> String {
        self.content_in(0..usize::MAX)
    }

    /// The content words whose index lies in `range`, joined.
    pub fn content_in(&self, range: std::ops::Range<usize>) -> String {
        self.content
            .iter()
            .filter(|(at, _)| range.contains(at))
            .map(|(_, w)| w.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The entry for the phrase starting at `words[start]`, longest first, with its length.
fn entry_at(words: &[String], start: usize) -> Option<(&'static [Cue], usize)> {
    (1..=LONGEST.min(words.len() - start))
        .rev()
        .find_map(|len| {
            let phrase = words[start..start + len].join(" ");
            LEXICON
                .iter()
                .find(|(written, _)| *written == phrase)
                .map(|(_, cues)| (*cues, len))
        })
}

/// Reads lower-cased words against the lexicon.
pub fn read(words: &[String]) -> Reading {
    let mut reading = Reading::default();
    let mut i = 0;
    while i < words.len() {
        match entry_at(words, i) {
            Some((cues, len)) => {
                for cue in cues.iter().filter(|c| **c != Stop) {
                    reading.cues.push((*cue, i));
                }
                reading.phrases.push((i, len));
                i += len;
            }
            None => {
                reading.content.push((i, words[i].clone()));
                i += 1;
            }
        }
    }
    reading
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_longest_phrase_wins_and_the_rest_is_content() {
        let reading = read(&words("what had i been looking at right before"));
        assert!(reading.has(Focus) && reading.has(Before));
        assert_eq!(reading.name(), "");
        let reading = read(&words("the executable that owned the save as box"));
        assert!(reading.has(Program) && reading.has(Owner) && reading.has(WindowNoun));
        assert_eq!(reading.name(), "save as");
        let reading = read(&words("where did i go next after"));
        assert!(reading.has(Where) && reading.has(Moved) && reading.has(After));
        let reading = read(&words("number of tabs in the browser"));
        assert!(reading.has(HowMany));
        assert_eq!(reading.role(), Some(("tab_item", 2)));
        assert_eq!(reading.name(), "browser");
    }

    #[test]
    fn every_entry_is_lower_case_single_spaced_and_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (phrase, cues) in LEXICON {
            assert_eq!(*phrase, phrase.to_lowercase(), "{phrase}");
            assert_eq!(
                phrase.split_whitespace().collect::<Vec<_>>().join(" "),
                *phrase
            );
            assert!(phrase.split(' ').count() <= LONGEST, "{phrase}");
            assert!(!cues.is_empty(), "{phrase}");
            assert!(seen.insert(*phrase), "{phrase} is listed twice");
        }
    }
}
