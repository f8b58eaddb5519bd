//! The world of the Hypervisor-side run: what every scenario shares ([`Settings`]: the adapter,
//! the binaries, the producer's identity, a generated handoff and an ingested DataRoot built once),
//! one scenario's state ([`HypervisorWorld`]), failures that name their rule ([`RuleFailure`]),
//! and the run itself ([`run`]): cucumber over the `@hypervisor` and `@both` scenarios, one at a
//! time, each scenario's outcome taken in an `after` hook with the step and rule at fault.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use cucumber::World as _;
use cucumber::event::ScenarioFinished;
use cucumber::gherkin::{Feature, Rule, Scenario, Step};
use serde_json::Value;

use super::relay::Relay;
use crate::conform::adapter::{Adapter, CaptureSession, Outcome};
use crate::conform::identity::ProducerIdentity;
use crate::conform::report::ConformReport;
use crate::corpus::copies::copy_tree;
use crate::features::catalog::Side;
use crate::probe::server::ProcessServer;

/// A check that failed, by the rule it enforces (`docs/conformance.md` lists them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[{rule}] {message}")]
pub struct RuleFailure {
    pub rule: String,
    pub message: String,
}

/// A failure of `rule`.
pub fn fail(rule: &str, message: impl Into<String>) -> anyhow::Error {
    RuleFailure {
        rule: rule.to_owned(),
        message: message.into(),
    }
    .into()
}

/// `Err(fail(rule, message))` unless `holds`.
pub fn require(holds: bool, rule: &str, message: impl FnOnce() -> String) -> anyhow::Result<()> {
    if holds {
        Ok(())
    } else {
        Err(fail(rule, message()))
    }
}

/// The rule of an error that is not a [`RuleFailure`]: the harness could not do its part.
pub const HARNESS_ERROR: &str = "harness_error";

/// What every scenario of a run shares.
#[derive(Debug)]
pub struct Settings {
    pub adapter: Adapter,
    pub harness_bin: PathBuf,
    pub autocapture_bin: PathBuf,
    pub workspace: PathBuf,
    /// Where scenarios make their folders.
    pub work: PathBuf,
    /// The producer's identity (`--sister` or the flags); else the sister document the
    /// scenario names is read from the checkout.
    pub producer: Option<ProducerIdentity>,
    template: Mutex<Option<PathBuf>>,
    popup_data: Mutex<Option<PathBuf>>,
}

impl Settings {
    pub fn new(
        adapter: Adapter,
        harness_bin: PathBuf,
        autocapture_bin: PathBuf,
        workspace: PathBuf,
        work: PathBuf,
        producer: Option<ProducerIdentity>,
    ) -> Settings {
        Settings {
            adapter,
            harness_bin,
            autocapture_bin,
            workspace,
            work,
            producer,
            template: Mutex::new(None),
            popup_data: Mutex::new(None),
        }
    }

    /// A handoff of this repository's generator (never changed: scenarios copy it), for the
    /// scenarios that judge the reaper and the popup rather than the producer.
    pub(super) fn template_handoff(&self) -> anyhow::Result<PathBuf> {
        let mut slot = self
            .template
            .lock()
            .map_err(|_| anyhow::anyhow!("the template's lock is poisoned"))?;
        if let Some(path) = slot.as_ref() {
            return Ok(path.clone());
        }
        let (_, handoffs) = crate::corpus::build::spool(&self.work.join("template"), 7, 12, 1)?;
        let handoff = handoffs
            .first()
            .context("the template spool is empty")?
            .clone();
        *slot = Some(handoff.clone());
        Ok(handoff)
    }

    /// A DataRoot holding the template handoff, ingested by the real `autocapture`.
    pub(super) fn popup_data(&self) -> anyhow::Result<PathBuf> {
        let mut slot = self
            .popup_data
            .lock()
            .map_err(|_| anyhow::anyhow!("the popup DataRoot's lock is poisoned"))?;
        if let Some(path) = slot.as_ref() {
            return Ok(path.clone());
        }
        let handoff = self.work.join("popup-spool").join("handoff_0001");
        copy_tree(&self.template_handoff()?, &handoff)?;
        let data = self.work.join("popup-data");
        let ingest = self.ingest(&handoff, &data)?;
        anyhow::ensure!(
            ingest.succeeded(),
            "ingest the popup DataRoot: {}",
            ingest.describe()
        );
        *slot = Some(data.clone());
        Ok(data)
    }

    /// The real `autocapture handoff ingest --json` of `handoff` into `data`, to its end.
    pub(super) fn ingest(&self, handoff: &Path, data: &Path) -> anyhow::Result<Outcome> {
        self.autocapture(&crate::features::driver::ingest_args(handoff, data))
    }

    /// Runs the real `autocapture` with `args` to its end.
    pub(super) fn autocapture(&self, args: &[String]) -> anyhow::Result<Outcome> {
        let started = Instant::now();
        let output = Command::new(&self.autocapture_bin)
            .args(args)
            .env("TZ", "UTC")
            .env("LC_ALL", "C")
            .env_remove("AUTOCAPTURE_CONFIG")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run {}", self.autocapture_bin.display()))?;
        Ok(Outcome {
            argv: std::iter::once("autocapture".to_owned())
                .chain(args.iter().cloned())
                .collect(),
            exit: output.status.code(),
            timed_out: false,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }
}

static SETTINGS: Mutex<Option<Arc<Settings>>> = Mutex::new(None);
static OUTCOMES: Mutex<Vec<ScenarioOutcome>> = Mutex::new(Vec::new());
/// One run at a time per process: the settings and outcomes above are the run's.
static RUN: Mutex<()> = Mutex::new(());

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeStatus {
    Passed,
    /// `step` (keyword and text) failed its `rule`.
    Failed {
        step: String,
        rule: String,
        message: String,
    },
    /// A step had no definition: never a pass.
    Skipped,
}

/// One scenario's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioOutcome {
    /// The file relative to the features folder.
    pub file: String,
    pub line: usize,
    pub name: String,
    pub status: OutcomeStatus,
    pub duration_ms: u64,
}

/// The step and rule at fault in a scenario, recorded by [`HypervisorWorld::step`].
#[derive(Debug, Clone)]
struct StepFailure {
    step: String,
    rule: String,
    message: String,
}

/// What the producer is asked to capture in this scenario.
#[derive(Debug, Clone)]
pub(super) struct Capture {
    pub run_id: String,
    pub session: CaptureSession,
    pub layout: String,
    pub fallback: bool,
}

impl Default for Capture {
    fn default() -> Capture {
        Capture {
            run_id: "run1".into(),
            session: CaptureSession {
                seed: 7,
                frames: 12,
                handoffs: 1,
            },
            layout: "canonical".into(),
            fallback: false,
        }
    }
}

/// A handoff put in the spool for the reaper, what the reaper must do with it and the rule it
/// breaks if it does not.
#[derive(Debug, Clone)]
pub(super) struct Subject {
    pub case: &'static str,
    pub path: PathBuf,
    pub delete: bool,
    pub rule: &'static str,
    pub digest: String,
}

/// One read of the activity signal while its publisher runs.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    pub at: time::OffsetDateTime,
    pub elapsed_ms: u64,
    pub bytes: Option<Vec<u8>>,
}

/// One scenario's state.
#[derive(cucumber::World, Default)]
pub struct HypervisorWorld {
    pub(super) settings: Option<Arc<Settings>>,
    pub(super) scenario: String,
    started: Option<Instant>,
    dir: Option<tempfile::TempDir>,
    failure: Option<StepFailure>,
    pub(super) capture: Capture,
    /// Handoffs written but not yet closed (staging path, name).
    pub(super) staged: Vec<(PathBuf, String)>,
    /// Handoffs the producer closed into the spool.
    pub(super) written: Vec<PathBuf>,
    pub(super) report: Option<ConformReport>,
    pub(super) subjects: Vec<Subject>,
    pub(super) data_digest: Option<String>,
    pub(super) marker: Option<Value>,
    pub(super) outcome: Option<Outcome>,
    pub(super) active: Option<bool>,
    pub(super) samples: Vec<Sample>,
    pub(super) server: Option<ProcessServer>,
    pub(super) relay: Option<Relay>,
    pub(super) question: String,
    pub(super) producer: Option<ProducerIdentity>,
}

impl std::fmt::Debug for HypervisorWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HypervisorWorld")
            .field("scenario", &self.scenario)
            .field("dir", &self.dir.as_ref().map(|d| d.path().to_path_buf()))
            .field("written", &self.written)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

impl HypervisorWorld {
    pub(super) fn settings(&mut self) -> anyhow::Result<Arc<Settings>> {
        if self.settings.is_none() {
            self.settings = SETTINGS.lock().ok().and_then(|slot| slot.clone());
        }
        self.settings
            .clone()
            .context("no settings installed: run the scenarios through conform hypervisor")
    }

    /// The scenario's own folder.
    pub(super) fn dir(&mut self) -> anyhow::Result<PathBuf> {
        if self.dir.is_none() {
            let work = self.settings()?.work.clone();
            std::fs::create_dir_all(&work)?;
            self.dir = Some(
                tempfile::Builder::new()
                    .prefix("scenario-")
                    .tempdir_in(work)?,
            );
        }
        Ok(self
            .dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default())
    }

    /// A folder of the scenario, created.
    pub(super) fn folder(&mut self, name: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir()?.join(name);
        std::fs::create_dir_all(&path)?;
        Ok(path)
    }

    /// The placeholders every command gets.
    pub(super) fn common_vars(&mut self) -> anyhow::Result<Vec<(&'static str, String)>> {
        let harness = self.settings()?.harness_bin.display().to_string();
        let state = self.folder("adapter-state")?.display().to_string();
        Ok(vec![("harness", harness), ("state_dir", state)])
    }

    /// The scenario's name for the adapter's environment.
    pub(super) fn env(&self) -> [(&'static str, &str); 1] {
        [("AUTOCAPTURE_CONFORM_SCENARIO", self.scenario.as_str())]
    }

    /// Runs the step body `run`, remembering the step and rule when it fails.
    pub fn step(
        &mut self,
        step: &Step,
        run: impl FnOnce(&mut HypervisorWorld) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let result = run(self);
        if let Err(e) = &result
            && self.failure.is_none()
        {
            let (rule, message) = match e.downcast_ref::<RuleFailure>() {
                Some(failure) => (failure.rule.clone(), failure.message.clone()),
                None => (HARNESS_ERROR.to_owned(), format!("{e:#}")),
            };
            self.failure = Some(StepFailure {
                step: format!("{}{}", step.keyword, step.value),
                rule,
                message,
            });
        }
        result
    }
}

/// The file of `feature` relative to `features_dir`, with `/` separators.
fn relative(feature: &Feature, features_dir: &Path) -> String {
    let path = feature.path.clone().unwrap_or_default();
    let dir = features_dir
        .canonicalize()
        .unwrap_or_else(|_| features_dir.to_path_buf());
    let path = path.canonicalize().unwrap_or(path);
    path.strip_prefix(&dir)
        .unwrap_or(&path)
        .to_string_lossy()
        .replace('\\', "/")
}

type Hook<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

fn before_hook<'a>(
    _feature: &'a Feature,
    _rule: Option<&'a Rule>,
    scenario: &'a Scenario,
    world: &'a mut HypervisorWorld,
) -> Hook<'a> {
    Box::pin(async move {
        world.scenario = scenario.name.clone();
        world.started = Some(Instant::now());
    })
}

fn after_hook<'a>(
    feature: &'a Feature,
    _rule: Option<&'a Rule>,
    scenario: &'a Scenario,
    finished: &'a ScenarioFinished,
    world: Option<&'a mut HypervisorWorld>,
) -> Hook<'a> {
    Box::pin(async move {
        let (failure, duration_ms) = match world {
            Some(world) => {
                // The scenario's processes end here, before the next one starts.
                world.server = None;
                world.relay = None;
                let elapsed = world.started.map_or(0, |s| s.elapsed().as_millis() as u64);
                (world.failure.take(), elapsed)
            }
            None => (None, 0),
        };
        let status = match finished {
            ScenarioFinished::StepPassed => OutcomeStatus::Passed,
            ScenarioFinished::StepSkipped => OutcomeStatus::Skipped,
            ScenarioFinished::StepFailed(_, _, error) => match failure {
                Some(f) => OutcomeStatus::Failed {
                    step: f.step,
                    rule: f.rule,
                    message: f.message,
                },
                None => OutcomeStatus::Failed {
                    step: String::new(),
                    rule: HARNESS_ERROR.to_owned(),
                    message: error.to_string(),
                },
            },
            ScenarioFinished::BeforeHookFailed(_) => OutcomeStatus::Failed {
                step: String::new(),
                rule: HARNESS_ERROR.to_owned(),
                message: "the scenario's setup failed".to_owned(),
            },
        };
        let dir = FEATURES_DIR
            .lock()
            .ok()
            .and_then(|d| d.clone())
            .unwrap_or_default();
        if let Ok(mut outcomes) = OUTCOMES.lock() {
            outcomes.push(ScenarioOutcome {
                file: relative(feature, &dir),
                line: scenario.position.line,
                name: scenario.name.clone(),
                status,
                duration_ms,
            });
        }
    })
}

static FEATURES_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Runs the `@hypervisor` and `@both` scenarios of `features_dir` with `settings` (cucumber's
/// own JUnit goes to `cucumber_junit`); every scenario's outcome, in run order.
pub fn run(
    settings: Settings,
    features_dir: &Path,
    cucumber_junit: &Path,
) -> anyhow::Result<Vec<ScenarioOutcome>> {
    let _one_run = RUN
        .lock()
        .map_err(|_| anyhow::anyhow!("an earlier run panicked"))?;
    *SETTINGS
        .lock()
        .map_err(|_| anyhow::anyhow!("settings poisoned"))? = Some(Arc::new(settings));
    *FEATURES_DIR
        .lock()
        .map_err(|_| anyhow::anyhow!("features dir poisoned"))? = Some(features_dir.to_path_buf());
    OUTCOMES
        .lock()
        .map_err(|_| anyhow::anyhow!("outcomes poisoned"))?
        .clear();
    if let Some(parent) = cucumber_junit.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let file = std::fs::File::create(cucumber_junit)
        .with_context(|| format!("create {}", cucumber_junit.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let dir = features_dir.to_path_buf();
    runtime.block_on(async move {
        HypervisorWorld::cucumber()
            .max_concurrent_scenarios(1)
            .before(before_hook)
            .after(after_hook)
            .with_writer(cucumber::writer::JUnit::new(file, 0))
            .with_default_cli()
            .filter_run(dir, |feature, _rule, scenario| {
                let tags: Vec<String> = feature
                    .tags
                    .iter()
                    .chain(scenario.tags.iter())
                    .cloned()
                    .collect();
                matches!(Side::from_tags(&tags), Ok(Side::Hypervisor | Side::Both))
            })
            .await;
    });
    let outcomes = std::mem::take(
        &mut *OUTCOMES
            .lock()
            .map_err(|_| anyhow::anyhow!("outcomes poisoned"))?,
    );
    if let Ok(mut slot) = SETTINGS.lock() {
        *slot = None;
    }
    Ok(outcomes)
}
