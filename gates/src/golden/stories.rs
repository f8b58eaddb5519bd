//! The stories the golden gate certifies, each with its case file, both embedded so the gate runs
//! on a fresh clone: the scripted workday the run's corpus is generated from, and a second story
//! (another person, job, day and set of apps) whose corpus the gate generates itself.

use crate::corpus::story::DEFAULT_STORY;

use super::run::DEFAULT_CASES;

/// A story file and the case file asked of its corpus.
#[derive(Debug, Clone, Copy)]
pub struct GoldenStory {
    /// A short name: check names and figures of the gate start with it.
    pub name: &'static str,
    /// The story file, as the repository names it.
    pub story_path: &'static str,
    pub story: &'static str,
    /// The case file, as the repository names it.
    pub cases_path: &'static str,
    pub cases: &'static str,
}

impl GoldenStory {
    /// The story the run's own corpus is generated from.
    pub fn is_run_corpus(&self) -> bool {
        self.story == DEFAULT_STORY
    }

    /// `name` as a figure's prefix (`support_night`).
    pub fn figure_prefix(&self) -> String {
        self.name.replace('-', "_")
    }
}

/// Every story the golden gate asks its cases of, the run corpus's first.
pub const GOLDEN_STORIES: [GoldenStory; 2] = [
    GoldenStory {
        name: "workday",
        story_path: "fixtures/story/workday.toml",
        story: DEFAULT_STORY,
        cases_path: "fixtures/golden/q40.toml",
        cases: DEFAULT_CASES,
    },
    GoldenStory {
        name: "support-night",
        story_path: "fixtures/story/support-night.toml",
        story: include_str!("../../../fixtures/story/support-night.toml"),
        cases_path: "fixtures/golden/support-night.toml",
        cases: include_str!("../../../fixtures/golden/support-night.toml"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_story_is_the_run_corpus_and_names_are_unique() {
        assert!(GOLDEN_STORIES[0].is_run_corpus());
        assert!(GOLDEN_STORIES[1..].iter().all(|s| !s.is_run_corpus()));
        let mut names: Vec<&str> = GOLDEN_STORIES.iter().map(|s| s.name).collect();
        names.dedup();
        assert_eq!(names.len(), GOLDEN_STORIES.len());
    }
}
