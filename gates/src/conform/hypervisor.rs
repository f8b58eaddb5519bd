//! `autocapture-gates conform hypervisor`: every `@hypervisor` and `@both` scenario of the
//! features folder run against a Hypervisor build through its adapter
//! (`crate::features::hypervisor`), compared with the folder's catalog (a scenario that did not
//! run fails the run), and reported three ways: a table per scenario ([`table`]), JUnit with one
//! suite per feature file and one case per scenario ([`junit`]), and an in-toto Statement
//! ([`statement`], signed by the caller like `run`'s report) whose subjects are the adapter file,
//! the contract lock, the feature files and the `autocapture` binary the scenarios used.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use autocapture_core::contract::{ContractIdentity, format_ts_utc, sha256_file};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::{Value, json};

use super::adapter::{Adapter, Verb};
use super::identity::IdentityCheck;
use crate::corpus::digest::tree_digest;
use crate::features::catalog::{self, ScenarioEntry, Side};
use crate::features::hypervisor::world::{self, OutcomeStatus, Settings};
use crate::harness::report::{STATEMENT_TYPE, git_commit};

/// The predicate type of the signed report.
pub use crate::harness::acceptance::conform::PREDICATE_TYPE;

/// What a run needs.
#[derive(Debug, Clone)]
pub struct HypervisorOptions {
    pub adapter: Adapter,
    pub features_dir: PathBuf,
    pub workspace: PathBuf,
    pub harness_bin: PathBuf,
    pub autocapture_bin: PathBuf,
    /// The producer's identity beside ours (the `@both` identity scenario judges it).
    pub identity: Option<IdentityCheck>,
    /// A folder for the scenarios' work (created; kept or removed by the caller).
    pub work: PathBuf,
}

/// One scenario of the catalog with its outcome.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub entry: ScenarioEntry,
    pub status: OutcomeStatus,
    pub duration_ms: u64,
}

impl ScenarioResult {
    pub fn passed(&self) -> bool {
        self.status == OutcomeStatus::Passed
    }

    /// `step: [rule] message` of a failure, or what else it was.
    pub fn describe(&self) -> String {
        match &self.status {
            OutcomeStatus::Passed => "passed".into(),
            OutcomeStatus::Skipped => "skipped: a step has no definition".into(),
            OutcomeStatus::Failed {
                step,
                rule,
                message,
            } => format!("{step}: [{rule}] {message}"),
        }
    }

    /// The rule at fault, for a failure.
    pub fn rule(&self) -> Option<&str> {
        match &self.status {
            OutcomeStatus::Failed { rule, .. } => Some(rule),
            OutcomeStatus::Skipped => Some("step_undefined"),
            OutcomeStatus::Passed => None,
        }
    }
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct HypervisorRun {
    pub run_id: String,
    pub started_at_utc: String,
    pub finished_at_utc: String,
    pub duration_ms: u64,
    pub adapter: Adapter,
    pub identity: Option<IdentityCheck>,
    /// The runnable scenarios (`@hypervisor`, `@both`) in catalog order.
    pub results: Vec<ScenarioResult>,
    /// Catalog problems, and scenarios that should have run and did not (or ran unknown).
    pub problems: Vec<String>,
    pub features_sha256: String,
    pub work: PathBuf,
}

impl HypervisorRun {
    /// Every scenario ran and passed, nothing was left over, the identity matches.
    pub fn passed(&self) -> bool {
        !self.results.is_empty()
            && self.problems.is_empty()
            && self.results.iter().all(ScenarioResult::passed)
            && self.identity.as_ref().is_none_or(|i| i.matches)
    }

    /// `(scenarios, passed, failed, skipped)`.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let count =
            |f: fn(&OutcomeStatus) -> bool| self.results.iter().filter(|r| f(&r.status)).count();
        (
            self.results.len(),
            count(|s| *s == OutcomeStatus::Passed),
            count(|s| matches!(s, OutcomeStatus::Failed { .. })),
            count(|s| *s == OutcomeStatus::Skipped),
        )
    }
}

/// Runs every `@hypervisor` and `@both` scenario through the adapter.
pub fn run(options: &HypervisorOptions) -> anyhow::Result<HypervisorRun> {
    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc();
    let catalog = catalog::read(&options.features_dir)?;
    let settings = Settings::new(
        options.adapter.clone(),
        options.harness_bin.clone(),
        options.autocapture_bin.clone(),
        options.workspace.clone(),
        options.work.clone(),
        options.identity.as_ref().map(|i| i.producer.clone()),
    );
    let mut outcomes = world::run(
        settings,
        &options.features_dir,
        &options.work.join("cucumber-junit.xml"),
    )?;
    let mut problems = catalog.problems.clone();
    let mut results = Vec::new();
    for entry in catalog
        .scenarios
        .iter()
        .filter(|s| matches!(s.side, Side::Hypervisor | Side::Both))
    {
        let found = outcomes
            .iter()
            .position(|o| o.file == entry.file && o.line == entry.line && o.name == entry.name);
        match found {
            Some(index) => {
                let outcome = outcomes.remove(index);
                results.push(ScenarioResult {
                    entry: entry.clone(),
                    status: outcome.status,
                    duration_ms: outcome.duration_ms,
                });
            }
            None => problems.push(format!(
                "{}:{}: @{} scenario {:?} did not run",
                entry.file,
                entry.line,
                entry.side.tag(),
                entry.name
            )),
        }
    }
    problems.extend(outcomes.iter().map(|o| {
        format!(
            "{}:{}: a scenario {:?} ran that the catalog does not hold",
            o.file, o.line, o.name
        )
    }));
    let finished_at = time::OffsetDateTime::now_utc();
    Ok(HypervisorRun {
        run_id: format!(
            "conform_{}",
            format_ts_utc(started_at)
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
        ),
        started_at_utc: format_ts_utc(started_at),
        finished_at_utc: format_ts_utc(finished_at),
        duration_ms: started.elapsed().as_millis() as u64,
        adapter: options.adapter.clone(),
        identity: options.identity.clone(),
        results,
        problems,
        features_sha256: tree_digest(&options.features_dir)?.sha256,
        work: options.work.clone(),
    })
}

/// The table for people: one line per scenario, then each failure's step, rule and message.
pub fn table(run: &HypervisorRun) -> String {
    let mut out = String::new();
    let ours = ContractIdentity::embedded().ok();
    let _ = writeln!(
        out,
        "conform hypervisor: adapter {} ({}), contract {}",
        run.adapter.name,
        run.adapter.path.display(),
        ours.map_or("?", |o| o.contract_version.as_str()),
    );
    if let Some(identity) = &run.identity {
        let _ = writeln!(out, "{}", identity.line());
    }
    let place = |r: &ScenarioResult| format!("{}:{}", r.entry.file, r.entry.line);
    let width = run
        .results
        .iter()
        .map(|r| place(r).len())
        .max()
        .unwrap_or(8);
    let _ = writeln!(
        out,
        "{:<width$}  {:<10}  {:<6}  {:>6}  scenario",
        "file", "side", "result", "ms"
    );
    for r in &run.results {
        let verdict = match &r.status {
            OutcomeStatus::Passed => "pass".to_owned(),
            OutcomeStatus::Skipped => "SKIP".to_owned(),
            OutcomeStatus::Failed { rule, .. } => format!("FAIL [{rule}]"),
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:<10}  {:<6}  {:>6}  {}",
            place(r),
            r.entry.side.tag(),
            verdict,
            r.duration_ms,
            r.entry.name
        );
    }
    for r in run.results.iter().filter(|r| !r.passed()) {
        let _ = writeln!(
            out,
            "\n{} {:?}:\n  {}",
            place(r),
            r.entry.name,
            r.describe()
        );
    }
    for problem in &run.problems {
        let _ = writeln!(out, "\nPROBLEM {problem}");
    }
    let (total, passed, failed, skipped) = run.counts();
    let _ = writeln!(
        out,
        "\n{total} scenario(s): {passed} passed, {failed} failed, {skipped} skipped; verdict {} ({} ms)",
        if run.passed() { "pass" } else { "fail" },
        run.duration_ms
    );
    out
}

/// JUnit: one suite per feature file, one case per scenario (a failure's message names the
/// scenario, the step and the rule; its type is the rule); catalog problems in a suite of their
/// own; the identity as its own suite.
pub fn junit(run: &HypervisorRun) -> anyhow::Result<String> {
    let mut report = Report::new("autocapture-gates conform hypervisor");
    report.set_time(Duration::from_millis(run.duration_ms));
    let ours = ContractIdentity::embedded()?;
    let mut files: Vec<&str> = run.results.iter().map(|r| r.entry.file.as_str()).collect();
    files.dedup();
    for file in files {
        let mut suite = TestSuite::new(file);
        for (name, value) in [
            ("adapter", run.adapter.path.display().to_string()),
            ("adapter_sha256", run.adapter.sha256.clone()),
            ("contract_version", ours.contract_version.clone()),
            ("schema_hash", ours.schema_hash.clone()),
        ] {
            suite.add_property((name, value.as_str()));
        }
        let class = format!("conform.hypervisor.{}", file.trim_end_matches(".feature"));
        for r in run.results.iter().filter(|r| r.entry.file == file) {
            let status = match &r.status {
                OutcomeStatus::Passed => TestCaseStatus::success(),
                _ => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message(format!("{}: {}", r.entry.name, r.describe()));
                    status.set_type(r.rule().unwrap_or("failed"));
                    status.set_description(format!(
                        "{}:{} @{} {:?}\n{}",
                        r.entry.file,
                        r.entry.line,
                        r.entry.side.tag(),
                        r.entry.name,
                        r.describe()
                    ));
                    status
                }
            };
            let mut case = TestCase::new(r.entry.name.clone(), status);
            case.set_classname(class.clone());
            case.set_time(Duration::from_millis(r.duration_ms));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    if !run.problems.is_empty() {
        let mut suite = TestSuite::new("catalog");
        for problem in &run.problems {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(problem.clone());
            status.set_type("scenario_not_run");
            let mut case = TestCase::new(problem.clone(), status);
            case.set_classname("conform.hypervisor.catalog");
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    if let Some(identity) = &run.identity {
        report.add_test_suite(identity.junit_suite());
    }
    Ok(report.to_string()?)
}

/// The in-toto Statement of the run (unsigned; the caller signs it).
pub fn statement(
    run: &HypervisorRun,
    options: &HypervisorOptions,
    dev_signed: bool,
) -> anyhow::Result<Value> {
    let ours = ContractIdentity::embedded()?;
    let lock = options
        .workspace
        .join("contracts")
        .join("contract.lock.json");
    let commit = git_commit(&options.workspace);
    let mut subjects = vec![
        json!({"name": format!("adapter:{}", file_name(&run.adapter.path)), "digest": {"sha256": run.adapter.sha256}}),
        json!({"name": "contracts/contract.lock.json", "digest": {"sha256": sha256_file(&lock)?.0}}),
        json!({"name": "features", "digest": {"sha256": run.features_sha256}}),
        json!({"name": "autocapture", "digest": {"sha256": sha256_file(&options.autocapture_bin)?.0}}),
    ];
    if let Some(commit) = &commit {
        subjects.push(json!({"name": "git-commit", "digest": {"gitCommit": commit}}));
    }
    let commands: serde_json::Map<String, Value> = Verb::ALL
        .iter()
        .map(|verb| (verb.key().to_owned(), json!(run.adapter.template(*verb))))
        .collect();
    let scenarios: Vec<Value> = run
        .results
        .iter()
        .map(|r| {
            let mut item = json!({
                "file": r.entry.file, "line": r.entry.line, "name": r.entry.name,
                "side": r.entry.side.tag(), "duration_ms": r.duration_ms,
                "status": match r.status { OutcomeStatus::Passed => "passed", OutcomeStatus::Skipped => "skipped", OutcomeStatus::Failed { .. } => "failed" },
            });
            if let OutcomeStatus::Failed {
                step,
                rule,
                message,
            } = &r.status
            {
                item["step"] = json!(step);
                item["rule"] = json!(rule);
                item["message"] = json!(message);
            }
            item
        })
        .collect();
    let (total, passed, failed, skipped) = run.counts();
    Ok(json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "run_id": run.run_id,
            "started_at_utc": run.started_at_utc,
            "finished_at_utc": run.finished_at_utc,
            "dev_signed": dev_signed,
            "verdict": if run.passed() { "pass" } else { "fail" },
            "contract_version": ours.contract_version,
            "schema_hash": ours.schema_hash,
            "producer": run.identity.as_ref().map(IdentityCheck::to_json),
            "adapter": {"name": run.adapter.name, "path": run.adapter.path, "sha256": run.adapter.sha256, "commands": commands},
            "counts": {"scenarios": total, "passed": passed, "failed": failed, "skipped": skipped, "problems": run.problems.len()},
            "scenarios": scenarios,
            "problems": run.problems,
            "environment": {
                "os": std::env::consts::OS, "arch": std::env::consts::ARCH,
                "git_commit": commit, "harness_version": env!("CARGO_PKG_VERSION"),
            },
        },
    }))
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
