//! The SLA estimator's inputs: one JSON document (schema `contracts/sla-input.schema.json`) and,
//! when it names one, a Stage-2 processing trace (`derived/stage2_trace.ndjson`, schema
//! `contracts/processing-trace.schema.json`) for the calibration samples.
//!
//! Parsing is pure ([`parse_profile`], [`parse_inputs`], [`parse_trace`]); [`load_profile`] and
//! [`load_inputs`] are the edges that read files. A [`Profile`] keeps where its calibration came
//! from ([`CalibrationSource`]: the trace as given, the file read, its sha256), so a verdict can
//! name the trace it was judged on. Every problem is an [`SlaInputError`] with a stable code and
//! the path, field or line at fault.

use std::path::{Path, PathBuf};

use autocapture_core::contract::{parse_ts_utc, sha256_hex};
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;
use time::OffsetDateTime;

/// Hours in a week: the idle schedule and the arrival profile have one entry per hour, index 0
/// being Monday 00:00–01:00 UTC.
pub const HOURS_PER_WEEK: usize = 168;
/// The retention horizon (contract §10: `storage.retention.evidence = "6d"`).
pub const DEFAULT_HORIZON_HOURS: u32 = 144;
/// The safety margin: records must be processed before `horizon × (1 − margin)`.
pub const DEFAULT_MARGIN: f64 = 0.2;
/// Upper bound on workers, so capacity arithmetic stays far from overflow.
pub const MAX_WORKERS: u32 = 1024;

/// A group of pending records captured at the same instant.
#[derive(Debug, Clone, PartialEq)]
pub struct BacklogGroup {
    pub capture: OffsetDateTime,
    pub count: u64,
}

/// Checked estimator inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    /// The instant the projection starts from, when the document fixes it.
    pub now: Option<OffsetDateTime>,
    pub horizon_hours: u32,
    pub margin: f64,
    /// Per-record Stage-2 service times, in microseconds (at least one).
    pub samples_us: Vec<u64>,
    pub workers: u32,
    /// For each hour of the week, the fraction (0..=1) in which Stage 2 may run.
    pub idle_schedule: Vec<f64>,
    /// For each hour of the week, the records that arrive.
    pub arrival_profile: Vec<u64>,
    pub backlog: Vec<BacklogGroup>,
}

/// Where a profile's calibration samples came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalibrationSource {
    /// `calibration.samples_us`, written in the document itself.
    Samples,
    /// A processing trace.
    Trace(TraceSource),
}

/// The processing trace a profile was calibrated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSource {
    /// The path as given: the document's `calibration.trace` (relative to the document) when
    /// `from_profile`, else the override as passed (relative to the working directory).
    pub given: String,
    /// Whether the document named the trace (else an override replaced it).
    pub from_profile: bool,
    /// The file that was read.
    pub path: PathBuf,
    /// sha256 of the trace's bytes, lowercase hex.
    pub sha256: String,
}

/// A checked inputs document with the provenance of its calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The estimator's inputs; `samples_us` already multiplied by `scale`.
    pub inputs: Inputs,
    pub calibration: CalibrationSource,
    /// The document's `calibration.scale` (1 when absent).
    pub scale: u32,
}

#[derive(Debug, Error)]
pub enum SlaInputError {
    #[error("read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse {path}: {reason}")]
    NotJson { path: PathBuf, reason: String },
    #[error("check {path}: field {field}: {reason}")]
    Invalid {
        path: PathBuf,
        field: String,
        reason: String,
    },
    #[error("read processing trace {path}: {source}")]
    TraceUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse processing trace {path} line {line}: {reason}")]
    TraceInvalid {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("calibrate from {path}: no service-time samples")]
    NoSamples { path: PathBuf },
}

impl SlaInputError {
    pub fn code(&self) -> &'static str {
        match self {
            SlaInputError::Unreadable { .. } => "sla_input_unreadable",
            SlaInputError::NotJson { .. } => "sla_input_not_json",
            SlaInputError::Invalid { .. } => "sla_input_invalid",
            SlaInputError::TraceUnreadable { .. } => "sla_trace_unreadable",
            SlaInputError::TraceInvalid { .. } => "sla_trace_invalid",
            SlaInputError::NoSamples { .. } => "sla_no_samples",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputsDoc {
    schema_version: u32,
    #[serde(default)]
    now_utc: Option<String>,
    #[serde(default)]
    horizon_hours: Option<u32>,
    #[serde(default)]
    margin: Option<f64>,
    calibration: CalibrationDoc,
    workers: u32,
    idle_schedule: Vec<f64>,
    arrival_profile: Vec<u64>,
    #[serde(default)]
    backlog: Vec<BacklogDoc>,
    /// Free text for readers; the estimator does not use it.
    #[serde(default, rename = "description")]
    _description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalibrationDoc {
    #[serde(default)]
    samples_us: Option<Vec<u64>>,
    #[serde(default)]
    trace: Option<String>,
    /// Multiplies every sample (e.g. to express an accelerated replay in its own time).
    #[serde(default)]
    scale: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BacklogDoc {
    capture_ts_utc: String,
    #[serde(default = "one")]
    count: u64,
}

fn one() -> u64 {
    1
}

/// One line of a processing trace. Every field is listed so that unknown ones are refused; the
/// estimator reads `schema_version`, `stage` and `duration_us`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TraceLine {
    schema_version: u32,
    record_id: String,
    record_type: String,
    stage: String,
    ts_utc: String,
    processed_at_utc: String,
    duration_us: u64,
    docs_indexed: u64,
    worker: u64,
}

/// The service-time samples of a processing trace (one JSON object per line; blank lines are
/// allowed). `path` only names the file in errors.
pub fn parse_trace(text: &str, path: &Path) -> Result<Vec<u64>, SlaInputError> {
    let mut samples = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let invalid = |reason: String| SlaInputError::TraceInvalid {
            path: path.to_path_buf(),
            line: index + 1,
            reason,
        };
        let parsed: TraceLine = serde_json::from_str(line).map_err(|e| invalid(e.to_string()))?;
        if parsed.schema_version != 1 {
            return Err(invalid(format!(
                "schema_version {} is not 1",
                parsed.schema_version
            )));
        }
        if !parsed.stage.starts_with("stage2.") {
            return Err(invalid(format!("stage {:?} is not stage2.*", parsed.stage)));
        }
        samples.push(parsed.duration_us);
    }
    Ok(samples)
}

/// Parses and checks an inputs document. `path` names it in errors; `read_trace` resolves a
/// `calibration.trace` (relative to the document's folder) and returns its text.
pub fn parse_inputs(
    text: &str,
    path: &Path,
    read_trace: &mut dyn FnMut(&Path) -> Result<String, SlaInputError>,
) -> Result<Inputs, SlaInputError> {
    parse_profile(text, path, None, read_trace).map(|profile| profile.inputs)
}

/// Parses and checks an inputs document like [`parse_inputs`], keeping where the calibration
/// came from. `trace_override`, when given, replaces the document's calibration samples or trace
/// (the document's `scale` still applies); it is passed to `read_trace` as given.
pub fn parse_profile(
    text: &str,
    path: &Path,
    trace_override: Option<&Path>,
    read_trace: &mut dyn FnMut(&Path) -> Result<String, SlaInputError>,
) -> Result<Profile, SlaInputError> {
    let value: Value = serde_json::from_str(text).map_err(|e| SlaInputError::NotJson {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let doc: InputsDoc = serde_json::from_value(value).map_err(|e| SlaInputError::Invalid {
        path: path.to_path_buf(),
        field: "(document)".into(),
        reason: e.to_string(),
    })?;
    let invalid = |field: &str, reason: String| SlaInputError::Invalid {
        path: path.to_path_buf(),
        field: field.to_owned(),
        reason,
    };
    if doc.schema_version != 1 {
        return Err(invalid(
            "schema_version",
            format!("{} is not 1", doc.schema_version),
        ));
    }
    let now = doc
        .now_utc
        .as_deref()
        .map(|t| parse_ts_utc(t).map_err(|e| invalid("now_utc", e.to_string())))
        .transpose()?;
    let horizon_hours = doc.horizon_hours.unwrap_or(DEFAULT_HORIZON_HOURS);
    if !(1..=24 * 366).contains(&horizon_hours) {
        return Err(invalid(
            "horizon_hours",
            format!("{horizon_hours} is not between 1 and 8784"),
        ));
    }
    let margin = doc.margin.unwrap_or(DEFAULT_MARGIN);
    if !(0.0..1.0).contains(&margin) {
        return Err(invalid("margin", format!("{margin} is not in [0, 1)")));
    }
    if !(1..=MAX_WORKERS).contains(&doc.workers) {
        return Err(invalid(
            "workers",
            format!("{} is not between 1 and {MAX_WORKERS}", doc.workers),
        ));
    }
    if doc.idle_schedule.len() != HOURS_PER_WEEK {
        return Err(invalid(
            "idle_schedule",
            format!(
                "has {} entries; it needs one per hour of the week ({HOURS_PER_WEEK})",
                doc.idle_schedule.len()
            ),
        ));
    }
    if let Some((hour, f)) = doc
        .idle_schedule
        .iter()
        .enumerate()
        .find(|(_, f)| !(0.0..=1.0).contains(*f))
    {
        return Err(invalid(
            &format!("idle_schedule/{hour}"),
            format!("{f} is not a fraction in [0, 1]"),
        ));
    }
    if doc.arrival_profile.len() != HOURS_PER_WEEK {
        return Err(invalid(
            "arrival_profile",
            format!(
                "has {} entries; it needs one per hour of the week ({HOURS_PER_WEEK})",
                doc.arrival_profile.len()
            ),
        ));
    }
    if let Some((hour, n)) = doc
        .arrival_profile
        .iter()
        .enumerate()
        .find(|(_, n)| **n > 100_000_000)
    {
        return Err(invalid(
            &format!("arrival_profile/{hour}"),
            format!("{n} records in one hour is beyond the model's range (100,000,000)"),
        ));
    }
    let mut backlog = Vec::with_capacity(doc.backlog.len());
    for (index, group) in doc.backlog.iter().enumerate() {
        let capture = parse_ts_utc(&group.capture_ts_utc)
            .map_err(|e| invalid(&format!("backlog/{index}/capture_ts_utc"), e.to_string()))?;
        if group.count == 0 || group.count > 1_000_000_000 {
            return Err(invalid(
                &format!("backlog/{index}/count"),
                format!("{} is not between 1 and 1,000,000,000", group.count),
            ));
        }
        if let Some(now) = now
            && capture > now
        {
            return Err(invalid(
                &format!("backlog/{index}/capture_ts_utc"),
                format!("{} is after now_utc", group.capture_ts_utc),
            ));
        }
        backlog.push(BacklogGroup {
            capture,
            count: group.count,
        });
    }
    let calibration = &doc.calibration;
    let mut read = |given: String, from_profile: bool, trace_path: PathBuf| {
        let text = read_trace(&trace_path)?;
        let samples = parse_trace(&text, &trace_path)?;
        let source = TraceSource {
            given,
            from_profile,
            sha256: sha256_hex(text.as_bytes()),
            path: trace_path,
        };
        Ok::<_, SlaInputError>((samples, CalibrationSource::Trace(source)))
    };
    let (mut samples_us, source) =
        match (trace_override, &calibration.samples_us, &calibration.trace) {
            (_, Some(_), Some(_)) | (_, None, None) => {
                return Err(invalid(
                    "calibration",
                    "give exactly one of samples_us and trace".into(),
                ));
            }
            (Some(trace_path), _, _) => read(
                trace_path.display().to_string(),
                false,
                trace_path.to_path_buf(),
            )?,
            (None, Some(samples), None) => (samples.clone(), CalibrationSource::Samples),
            (None, None, Some(trace)) => {
                let trace_path = path.parent().unwrap_or_else(|| Path::new(".")).join(trace);
                read(trace.clone(), true, trace_path)?
            }
        };
    if samples_us.is_empty() {
        // Name the file the samples should have come from.
        let path = match &source {
            CalibrationSource::Trace(trace) => trace.path.clone(),
            CalibrationSource::Samples => path.to_path_buf(),
        };
        return Err(SlaInputError::NoSamples { path });
    }
    let scale = calibration.scale.unwrap_or(1);
    if scale == 0 {
        return Err(invalid("calibration/scale", "0 is not at least 1".into()));
    }
    for sample in &mut samples_us {
        *sample = sample.saturating_mul(u64::from(scale));
    }
    Ok(Profile {
        inputs: Inputs {
            now,
            horizon_hours,
            margin,
            samples_us,
            workers: doc.workers,
            idle_schedule: doc.idle_schedule,
            arrival_profile: doc.arrival_profile,
            backlog,
        },
        calibration: source,
        scale,
    })
}

/// Reads a file's text for [`parse_inputs`]' trace resolver.
pub fn read_trace_file(path: &Path) -> Result<String, SlaInputError> {
    std::fs::read_to_string(path).map_err(|source| SlaInputError::TraceUnreadable {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and checks the inputs document at `path` (and the trace it names).
pub fn load_inputs(path: &Path) -> Result<Inputs, SlaInputError> {
    load_profile(path, None).map(|profile| profile.inputs)
}

/// Reads and checks the inputs document at `path` and the trace that calibrates it:
/// `trace_override` when given, else the one the document names (see [`parse_profile`]).
pub fn load_profile(path: &Path, trace_override: Option<&Path>) -> Result<Profile, SlaInputError> {
    let text = std::fs::read_to_string(path).map_err(|source| SlaInputError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    parse_profile(&text, path, trace_override, &mut read_trace_file)
}
