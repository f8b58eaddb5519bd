//! What the `.feature` files of a folder define: every scenario with its file, line and side tag,
//! read with the Gherkin parser on its own, so a run can be checked against it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use cucumber::gherkin::{Feature, GherkinEnv};

/// Which side implements a scenario's steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// This repository (`@repo`).
    Repo,
    /// The Hypervisor's repository (`@hypervisor`): parsed and counted, never run here.
    Hypervisor,
    /// Both (`@both`).
    Both,
}

impl Side {
    pub fn tag(self) -> &'static str {
        match self {
            Side::Repo => "repo",
            Side::Hypervisor => "hypervisor",
            Side::Both => "both",
        }
    }

    /// Whether this repository runs the scenario.
    pub fn runs_here(self) -> bool {
        matches!(self, Side::Repo | Side::Both)
    }

    /// The side named by a scenario's tags (with its feature's), or why there is none.
    pub fn from_tags(tags: &[String]) -> Result<Side, String> {
        let sides: BTreeSet<Side> = tags
            .iter()
            .filter_map(|t| match t.as_str() {
                "repo" => Some(Side::Repo),
                "hypervisor" => Some(Side::Hypervisor),
                "both" => Some(Side::Both),
                _ => None,
            })
            .collect();
        match sides.len() {
            1 => Ok(*sides.iter().next().unwrap_or(&Side::Repo)),
            0 => Err("no side tag (@repo, @hypervisor or @both)".into()),
            _ => Err(format!("more than one side tag: {sides:?}")),
        }
    }
}

/// One scenario of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioEntry {
    /// The file's path relative to the features folder, with `/` separators.
    pub file: String,
    pub name: String,
    pub line: usize,
    pub side: Side,
}

/// Every scenario of a folder, and the files and scenarios that are wrong in themselves.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub root: PathBuf,
    /// Every `.feature` file, relative, sorted.
    pub files: Vec<String>,
    pub scenarios: Vec<ScenarioEntry>,
    /// A file that does not parse, a scenario without exactly one side tag, a name used twice in
    /// a file: each a line naming the file and scenario.
    pub problems: Vec<String>,
}

impl Catalog {
    pub fn runnable(&self) -> impl Iterator<Item = &ScenarioEntry> {
        self.scenarios.iter().filter(|s| s.side.runs_here())
    }

    pub fn count(&self, side: Side) -> usize {
        self.scenarios.iter().filter(|s| s.side == side).count()
    }
}

/// Every `*.feature` file under `dir` (any depth, the extension in any case), relative, sorted.
pub fn feature_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in
            std::fs::read_dir(&folder).with_context(|| format!("read {}", folder.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("feature"))
            {
                out.push(path.strip_prefix(dir).unwrap_or(&path).to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads every `.feature` file under `dir`. An unreadable folder is an error; a file that does
/// not parse is a problem of the catalog.
pub fn read(dir: &Path) -> anyhow::Result<Catalog> {
    let mut catalog = Catalog {
        root: dir.to_path_buf(),
        ..Catalog::default()
    };
    for rel in feature_files(dir)? {
        let file = rel.to_string_lossy().replace('\\', "/");
        catalog.files.push(file.clone());
        let feature = match Feature::parse_path(dir.join(&rel), GherkinEnv::default()) {
            Ok(feature) => feature,
            Err(e) => {
                catalog
                    .problems
                    .push(format!("{file}: does not parse: {e}"));
                continue;
            }
        };
        let mut names = BTreeSet::new();
        let rule_scenarios = feature.rules.iter().flat_map(|r| r.scenarios.iter());
        for scenario in feature.scenarios.iter().chain(rule_scenarios) {
            let tags: Vec<String> = feature
                .tags
                .iter()
                .chain(scenario.tags.iter())
                .cloned()
                .collect();
            if !scenario.examples.is_empty() {
                catalog.problems.push(format!(
                    "{file}:{}: scenario {:?} is an outline; write one scenario per case",
                    scenario.position.line, scenario.name
                ));
            }
            if !names.insert(scenario.name.clone()) {
                catalog.problems.push(format!(
                    "{file}:{}: scenario name {:?} is used twice",
                    scenario.position.line, scenario.name
                ));
            }
            match Side::from_tags(&tags) {
                Ok(side) => catalog.scenarios.push(ScenarioEntry {
                    file: file.clone(),
                    name: scenario.name.clone(),
                    line: scenario.position.line,
                    side,
                }),
                Err(why) => catalog.problems.push(format!(
                    "{file}:{}: scenario {:?}: {why}",
                    scenario.position.line, scenario.name
                )),
            }
        }
    }
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_come_from_exactly_one_tag() {
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(Side::from_tags(&tags(&["repo"])), Ok(Side::Repo));
        assert_eq!(Side::from_tags(&tags(&["slow", "both"])), Ok(Side::Both));
        assert!(Side::from_tags(&tags(&["slow"])).is_err());
        assert!(Side::from_tags(&tags(&["repo", "hypervisor"])).is_err());
    }

    #[test]
    fn untagged_duplicate_and_unparsable_scenarios_are_problems() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("a.feature"),
            "Feature: A\n\n  @repo\n  Scenario: One\n    Then x\n\n  Scenario: Two\n    Then y\n\n  @repo\n  Scenario: One\n    Then z\n",
        )
        .expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/b.FEATURE"), "this is not gherkin\n").expect("write");
        let catalog = read(dir.path()).expect("read");
        assert_eq!(catalog.files, vec!["a.feature", "sub/b.FEATURE"]);
        assert_eq!(catalog.scenarios.len(), 2, "{:?}", catalog.scenarios);
        assert_eq!(catalog.problems.len(), 3, "{:?}", catalog.problems);
        assert!(catalog.problems.iter().any(|p| p.contains("\"Two\"")));
        assert!(catalog.problems.iter().any(|p| p.contains("used twice")));
        assert!(
            catalog
                .problems
                .iter()
                .any(|p| p.starts_with("sub/b.FEATURE"))
        );
    }
}
