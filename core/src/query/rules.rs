//! The rules table: which cues and times each intent requires and forbids, in priority order.
//! [`super::language`] fills the first rule that holds.

use super::lexicon::Cue;

/// The intents, as the rules table names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    While,
    WindowsUsed,
    Correlate,
    Chrome,
    Elapsed,
    BBox,
    Sum,
    Elements,
    Seen,
    Owner,
    Duration,
    Timeline,
    Adjacent,
    Inventory,
    FocusAt,
}

impl Kind {
    /// The rule's name, as an answer's `topic` names its intent.
    pub fn name(self) -> &'static str {
        match self {
            Kind::While => "while",
            Kind::WindowsUsed => "windows_used",
            Kind::Correlate => "correlate",
            Kind::Chrome => "browser_chrome",
            Kind::Elapsed => "elapsed",
            Kind::BBox => "bbox",
            Kind::Sum => "sum",
            Kind::Elements => "elements",
            Kind::Seen => "seen",
            Kind::Owner => "process_owner",
            Kind::Duration => "focus_duration",
            Kind::Timeline => "focus_timeline",
            Kind::Adjacent => "focus_adjacent",
            Kind::Inventory => "window_inventory",
            Kind::FocusAt => "focus_at",
        }
    }
}

/// The times an intent needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    Free,
    None,
    /// At least one moment.
    Moment,
    /// Two ends of a range.
    Range,
}

/// One row of the rules table: the cues an intent requires (all of `all`, one of `any` when it
/// is not empty) and forbids, and the times it needs.
pub struct Rule {
    pub kind: Kind,
    pub all: &'static [Cue],
    pub any: &'static [Cue],
    pub none: &'static [Cue],
    pub times: Times,
}

const fn rule(
    kind: Kind,
    all: &'static [Cue],
    any: &'static [Cue],
    none: &'static [Cue],
    times: Times,
) -> Rule {
    Rule {
        kind,
        all,
        any,
        none,
        times,
    }
}

/// The rules, in priority order: the first whose cues and times hold, and whose slots fill,
/// is the question's intent; none gives a search.
pub const RULES: &[Rule] = &[
    rule(
        Kind::While,
        &[Cue::While],
        &[Cue::Arrived, Cue::Seen, Cue::Role("list_item")],
        &[],
        Times::Free,
    ),
    rule(Kind::WindowsUsed, &[Cue::Pages], &[], &[], Times::Range),
    rule(Kind::Correlate, &[Cue::Apps], &[], &[], Times::None),
    rule(
        Kind::Chrome,
        &[Cue::Chrome],
        &[],
        &[Cue::HowMany],
        Times::Free,
    ),
    rule(
        Kind::Chrome,
        &[Cue::Tab],
        &[Cue::Current, Cue::Focus, Cue::Open],
        &[Cue::HowMany],
        Times::Free,
    ),
    rule(
        Kind::Elapsed,
        &[],
        &[Cue::Elapsed, Cue::Duration],
        &[],
        Times::None,
    ),
    rule(
        Kind::BBox,
        &[Cue::Where],
        &[],
        &[Cue::Focus, Cue::Moved, Cue::Apps],
        Times::Free,
    ),
    rule(Kind::Sum, &[Cue::Sum], &[Cue::Amounts], &[], Times::Free),
    rule(
        Kind::Seen,
        &[],
        &[Cue::First, Cue::Last],
        &[Cue::Duration],
        Times::None,
    ),
    rule(Kind::Elements, &[], &[], &[], Times::Free),
    rule(
        Kind::Seen,
        &[],
        &[Cue::First, Cue::Last],
        &[Cue::Duration],
        Times::Free,
    ),
    rule(
        Kind::Owner,
        &[Cue::Owner],
        &[Cue::Program],
        &[],
        Times::Free,
    ),
    rule(Kind::Duration, &[Cue::Duration], &[], &[], Times::Free),
    // A program and a window, no time: whose the window was.
    rule(Kind::Owner, &[Cue::Program], &[], &[Cue::Apps], Times::None),
    rule(Kind::Timeline, &[Cue::Timeline], &[], &[], Times::Range),
    rule(
        Kind::Adjacent,
        &[],
        &[Cue::Before, Cue::After],
        &[],
        Times::Moment,
    ),
    rule(
        Kind::Timeline,
        &[],
        &[Cue::Focus, Cue::Inventory, Cue::WindowNoun, Cue::Used],
        &[Cue::Before, Cue::After],
        Times::Range,
    ),
    rule(Kind::Inventory, &[Cue::Inventory], &[], &[], Times::Moment),
    // What was open at a moment, without a word for focus or for one app.
    rule(
        Kind::Inventory,
        &[Cue::Open],
        &[],
        &[Cue::Focus, Cue::Program, Cue::Apps],
        Times::Moment,
    ),
    rule(
        Kind::FocusAt,
        &[],
        &[Cue::Focus, Cue::WindowNoun, Cue::Program, Cue::Used],
        &[],
        Times::Moment,
    ),
];
