//! Runs the `@repo` and `@both` scenarios of a features folder with cucumber (one at a time, on
//! a current-thread runtime), writes the JUnit report, reads it back, and compares what ran with
//! the folder's [`Catalog`]: a runnable scenario or a file that did not run is "unpicked", a
//! JUnit case that matches no scenario (a parse error) is "unknown".

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use cucumber::World as _;

use super::catalog::{self, Catalog, ScenarioEntry, Side};
use super::driver::{self, ContractWorld, Settings};

/// Frames and handoffs of the generated spool the scenarios copy from (one handoff per table
/// layout).
pub const TEMPLATE_FRAMES: u64 = 90;
pub const TEMPLATE_HANDOFFS: u32 = 3;

/// How a scenario ended, as the JUnit report says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Passed,
    /// A step failed; the message says which and why.
    Failed(String),
    /// A step had no definition (or was skipped): never a pass.
    Skipped,
}

/// One JUnit test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JunitCase {
    pub suite: String,
    pub name: String,
    pub status: Status,
}

/// A catalog scenario with its outcome.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub entry: ScenarioEntry,
    pub status: Status,
}

/// A run compared with its catalog.
#[derive(Debug, Clone)]
pub struct FeatureRun {
    pub catalog: Catalog,
    pub results: Vec<ScenarioResult>,
    /// Runnable scenarios and files that did not run, each named.
    pub unpicked: Vec<String>,
    /// JUnit cases that match no scenario of the catalog (parse errors among them).
    pub unknown: Vec<JunitCase>,
    pub junit_path: PathBuf,
}

impl FeatureRun {
    /// Every file and runnable scenario ran, each passed, and nothing else was reported.
    pub fn passed(&self) -> bool {
        self.catalog.problems.is_empty()
            && self.unpicked.is_empty()
            && self.unknown.is_empty()
            && self.results.iter().all(|r| r.status == Status::Passed)
    }

    /// `(run, passed, failed, skipped)` of the scenarios of `side`.
    pub fn counts(&self, side: Side) -> (usize, usize, usize, usize) {
        let of_side: Vec<&ScenarioResult> = self
            .results
            .iter()
            .filter(|r| r.entry.side == side)
            .collect();
        let count = |f: fn(&Status) -> bool| of_side.iter().filter(|r| f(&r.status)).count();
        (
            of_side.len(),
            count(|s| *s == Status::Passed),
            count(|s| matches!(s, Status::Failed(_))),
            count(|s| *s == Status::Skipped),
        )
    }

    /// One line per problem: catalog problems, unpicked files and scenarios, unknown cases,
    /// failed and skipped scenarios.
    pub fn problems(&self) -> Vec<String> {
        let mut out = self.catalog.problems.clone();
        out.extend(self.unpicked.iter().map(|u| format!("not picked up: {u}")));
        out.extend(self.unknown.iter().map(|c| {
            format!(
                "unknown case {:?} in {:?}: {}",
                c.name,
                c.suite,
                describe(&c.status)
            )
        }));
        out.extend(
            self.results
                .iter()
                .filter(|r| r.status != Status::Passed)
                .map(|r| {
                    format!(
                        "{}:{}: {}: {}",
                        r.entry.file,
                        r.entry.line,
                        r.entry.name,
                        describe(&r.status)
                    )
                }),
        );
        out
    }
}

pub fn describe(status: &Status) -> String {
    match status {
        Status::Passed => "passed".into(),
        Status::Failed(why) => format!("failed: {why}"),
        Status::Skipped => "skipped: a step has no definition".into(),
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub features_dir: PathBuf,
    /// A fresh folder for the template spool and the scenarios' copies.
    pub work: PathBuf,
    pub autocapture_bin: PathBuf,
    pub workspace: PathBuf,
    pub junit_path: PathBuf,
    pub seed: u64,
}

/// Generates the template spool, runs the folder's runnable scenarios and compares.
pub fn run(options: &RunOptions) -> anyhow::Result<FeatureRun> {
    let catalog = catalog::read(&options.features_dir)?;
    let (template_spool, _) = crate::corpus::build::spool(
        &options.work.join("template"),
        options.seed,
        TEMPLATE_FRAMES,
        TEMPLATE_HANDOFFS,
    )?;
    driver::install(Arc::new(Settings::new(
        options.autocapture_bin.clone(),
        template_spool,
        options.work.join("scenarios"),
        options.workspace.clone(),
    )));
    run_cucumber(&options.features_dir, &options.junit_path)?;
    let cases = read_junit(&options.junit_path)?;
    Ok(compare(catalog, cases, &options.junit_path))
}

/// Runs another folder with the settings of the last [`run`] (its template spool and binary).
pub fn run_again(features_dir: &Path, junit_path: &Path) -> anyhow::Result<FeatureRun> {
    let catalog = catalog::read(features_dir)?;
    run_cucumber(features_dir, junit_path)?;
    let cases = read_junit(junit_path)?;
    Ok(compare(catalog, cases, junit_path))
}

/// Runs cucumber over `dir` (only `@repo` and `@both` scenarios) and writes JUnit to `junit`.
pub fn run_cucumber(dir: &Path, junit: &Path) -> anyhow::Result<()> {
    if let Some(parent) = junit.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let file =
        std::fs::File::create(junit).with_context(|| format!("create {}", junit.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let dir = dir.to_path_buf();
    runtime.block_on(async move {
        ContractWorld::cucumber()
            .max_concurrent_scenarios(1)
            .with_writer(cucumber::writer::JUnit::new(file, 0))
            .with_default_cli()
            .filter_run(dir, |feature, _rule, scenario| {
                let tags: Vec<String> = feature
                    .tags
                    .iter()
                    .chain(scenario.tags.iter())
                    .cloned()
                    .collect();
                Side::from_tags(&tags).is_ok_and(Side::runs_here)
            })
            .await;
    });
    Ok(())
}

/// The test cases of a JUnit report.
pub fn read_junit(path: &Path) -> anyhow::Result<Vec<JunitCase>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let doc = roxmltree::Document::parse(&text)
        .with_context(|| format!("parse the JUnit report {}", path.display()))?;
    let mut cases = Vec::new();
    for suite in doc.descendants().filter(|n| n.has_tag_name("testsuite")) {
        for case in suite.children().filter(|n| n.has_tag_name("testcase")) {
            let child = |tag: &str| case.children().find(|n| n.has_tag_name(tag));
            let status = if let Some(f) = child("failure").or_else(|| child("error")) {
                Status::Failed(
                    f.attribute("message")
                        .map(str::to_owned)
                        .or_else(|| f.text().map(str::to_owned))
                        .unwrap_or_default(),
                )
            } else if child("skipped").is_some() {
                Status::Skipped
            } else {
                Status::Passed
            };
            cases.push(JunitCase {
                suite: suite.attribute("name").unwrap_or_default().to_owned(),
                name: case.attribute("name").unwrap_or_default().to_owned(),
                status,
            });
        }
    }
    Ok(cases)
}

/// Whether a cucumber JUnit case (`Scenario: NAME: PATH:LINE:COL`) is this scenario.
fn is_case_of(case: &JunitCase, entry: &ScenarioEntry) -> bool {
    let Some(rest) = case.name.strip_prefix("Scenario: ") else {
        return false;
    };
    let mut parts = rest.rsplitn(3, ':');
    let (_col, line, head) = (parts.next(), parts.next(), parts.next());
    let (Some(line), Some(head)) = (line, head) else {
        return false;
    };
    line.parse::<usize>().ok() == Some(entry.line)
        && head.starts_with(&format!("{}: ", entry.name))
        && (head.ends_with(&format!("/{}", entry.file))
            || head == format!("{}: {}", entry.name, entry.file))
}

/// Matches the JUnit cases to the catalog's runnable scenarios.
pub fn compare(catalog: Catalog, cases: Vec<JunitCase>, junit_path: &Path) -> FeatureRun {
    let mut claimed = vec![false; cases.len()];
    let mut results = Vec::new();
    let mut unpicked = Vec::new();
    for entry in catalog.runnable() {
        let found = cases
            .iter()
            .enumerate()
            .find(|(idx, case)| !claimed[*idx] && is_case_of(case, entry));
        match found {
            Some((idx, case)) => {
                claimed[idx] = true;
                results.push(ScenarioResult {
                    entry: entry.clone(),
                    status: case.status.clone(),
                });
            }
            None => unpicked.push(format!(
                "{}:{}: @{} scenario {:?}",
                entry.file,
                entry.line,
                entry.side.tag(),
                entry.name
            )),
        }
    }
    for file in &catalog.files {
        let runnable = catalog.runnable().any(|s| &s.file == file);
        let ran = results.iter().any(|r| &r.entry.file == file);
        if runnable && !ran {
            unpicked.push(format!("{file}: no scenario of the file ran"));
        }
    }
    let unknown = cases
        .into_iter()
        .zip(claimed)
        .filter(|(_, claimed)| !claimed)
        .map(|(case, _)| case)
        .collect();
    FeatureRun {
        catalog,
        results,
        unpicked,
        unknown,
        junit_path: junit_path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(file: &str, name: &str, line: usize) -> ScenarioEntry {
        ScenarioEntry {
            file: file.into(),
            name: name.into(),
            line,
            side: Side::Repo,
        }
    }

    fn case(name: &str) -> JunitCase {
        JunitCase {
            suite: "Feature: F".into(),
            name: name.into(),
            status: Status::Passed,
        }
    }

    #[test]
    fn cases_match_by_name_file_and_line() {
        let e = entry("a.feature", "Do: it", 7);
        assert!(is_case_of(
            &case("Scenario: Do: it: /x/features/a.feature:7:3"),
            &e
        ));
        assert!(is_case_of(&case("Scenario: Do: it: a.feature:7:3"), &e));
        assert!(!is_case_of(
            &case("Scenario: Do: it: /x/features/a.feature:8:3"),
            &e
        ));
        assert!(!is_case_of(
            &case("Scenario: Do: it: /x/features/ba.feature:7:3"),
            &e
        ));
        assert!(!is_case_of(
            &case("Scenario: Do: /x/features/a.feature:7:3"),
            &e
        ));
    }

    #[test]
    fn a_scenario_that_did_not_run_is_unpicked_and_a_stray_case_unknown() {
        let catalog = Catalog {
            files: vec!["a.feature".into(), "b.feature".into()],
            scenarios: vec![entry("a.feature", "One", 3), entry("b.feature", "Two", 3)],
            ..Catalog::default()
        };
        let run = compare(
            catalog,
            vec![
                case("Scenario: One: /f/a.feature:3:3"),
                case("Feature: /f/c.feature"),
            ],
            Path::new("junit.xml"),
        );
        assert!(!run.passed());
        assert_eq!(run.results.len(), 1);
        assert_eq!(run.unpicked.len(), 2, "{:?}", run.unpicked);
        assert!(run.unpicked.iter().all(|u| u.starts_with("b.feature")));
        assert_eq!(run.unknown.len(), 1);
    }
}
