//! Replay protection for signed reports. A signature proves who signed a report, not that it is
//! the report of the run at hand: an older, validly signed report (of another commit, another
//! run, or from before a point in time) presented as current verifies. [`check`] compares the
//! verified Statement with what the verifier expects (`verify --expect-commit`,
//! `--expect-run-id`, `--not-before`); every field it reads is inside the signed payload.

use serde_json::Value;
use thiserror::Error;
use time::OffsetDateTime;

use autocapture_core::contract::parse_ts_utc;

/// What the current report must say. Empty expectations accept any report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    /// The git commit the report must be about (predicate `environment.git_commit` and the
    /// `git-commit` subject).
    pub commit: Option<String>,
    /// The run id the report must carry (predicate `run_id`).
    pub run_id: Option<String>,
    /// The run must have finished at or after this time (predicate `finished_at_utc`).
    pub not_before: Option<OffsetDateTime>,
}

/// Why a verified report is not the expected current one.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReplayError {
    #[error("the report is about commit {found:?}, not {expected}: an older report replayed?")]
    CommitMismatch {
        expected: String,
        found: Option<String>,
    },
    #[error("the report is of run {found:?}, not {expected}: another run's report replayed?")]
    RunIdMismatch {
        expected: String,
        found: Option<String>,
    },
    #[error("the report finished at {finished}, before {not_before}: an older report replayed?")]
    Stale {
        finished: String,
        not_before: String,
    },
    #[error("the report has no valid {0}; it cannot be checked for replay")]
    FieldMissing(&'static str),
}

impl ReplayError {
    pub fn code(&self) -> &'static str {
        match self {
            ReplayError::CommitMismatch { .. } => "report_commit_mismatch",
            ReplayError::RunIdMismatch { .. } => "report_run_id_mismatch",
            ReplayError::Stale { .. } => "report_stale",
            ReplayError::FieldMissing(_) => "report_field_missing",
        }
    }
}

/// Checks a verified Statement against `expect`.
pub fn check(statement: &Value, expect: &Expectations) -> Result<(), ReplayError> {
    let predicate = &statement["predicate"];
    if let Some(expected) = &expect.commit {
        let expected = expected.to_ascii_lowercase();
        let in_predicate = predicate["environment"]["git_commit"]
            .as_str()
            .map(str::to_owned);
        let subjects: Vec<String> = statement["subject"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["name"] == "git-commit")
            .filter_map(|s| s["digest"]["gitCommit"].as_str().map(str::to_owned))
            .collect();
        let agrees = in_predicate.as_deref() == Some(expected.as_str())
            && !subjects.is_empty()
            && subjects.iter().all(|s| *s == expected);
        if !agrees {
            return Err(ReplayError::CommitMismatch {
                expected,
                found: in_predicate.or_else(|| subjects.first().cloned()),
            });
        }
    }
    if let Some(expected) = &expect.run_id {
        let found = predicate["run_id"].as_str().map(str::to_owned);
        if found.as_deref() != Some(expected.as_str()) {
            return Err(ReplayError::RunIdMismatch {
                expected: expected.clone(),
                found,
            });
        }
    }
    if let Some(not_before) = expect.not_before {
        let text = predicate["finished_at_utc"]
            .as_str()
            .ok_or(ReplayError::FieldMissing("finished_at_utc"))?;
        let finished =
            parse_ts_utc(text).map_err(|_| ReplayError::FieldMissing("finished_at_utc"))?;
        if finished < not_before {
            return Err(ReplayError::Stale {
                finished: text.to_owned(),
                not_before: autocapture_core::contract::format_ts_utc(not_before),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn statement(commit: &str, run_id: &str, finished: &str) -> Value {
        json!({
            "subject": [{"name": "git-commit", "digest": {"gitCommit": commit}}],
            "predicate": {"run_id": run_id, "finished_at_utc": finished,
                          "environment": {"git_commit": commit}},
        })
    }

    #[test]
    fn each_expectation_catches_an_older_report() {
        let old = statement(&"a".repeat(40), "20260101T000000Z", "2026-01-01T00:10:00Z");
        let expect = |commit: Option<&str>, run: Option<&str>, not_before| Expectations {
            commit: commit.map(str::to_owned),
            run_id: run.map(str::to_owned),
            not_before,
        };
        assert_eq!(check(&old, &Expectations::default()), Ok(()));
        assert_eq!(
            check(
                &old,
                &expect(
                    Some(&"A".repeat(40)),
                    Some("20260101T000000Z"),
                    Some(datetime!(2026-01-01 00:10 UTC))
                )
            ),
            Ok(())
        );
        let code = |e: &Expectations| check(&old, e).map_err(|e| e.code());
        assert_eq!(
            code(&expect(Some(&"b".repeat(40)), None, None)),
            Err("report_commit_mismatch")
        );
        assert_eq!(
            code(&expect(None, Some("20260202T000000Z"), None)),
            Err("report_run_id_mismatch")
        );
        assert_eq!(
            code(&expect(
                None,
                None,
                Some(datetime!(2026-01-01 00:10:01 UTC))
            )),
            Err("report_stale")
        );
        let mut no_subject = old.clone();
        no_subject["subject"] = json!([]);
        assert_eq!(
            check(&no_subject, &expect(Some(&"a".repeat(40)), None, None)).map_err(|e| e.code()),
            Err("report_commit_mismatch"),
            "both places must name the commit"
        );
        let mut no_time = old.clone();
        no_time["predicate"]["finished_at_utc"] = json!(null);
        assert_eq!(
            check(
                &no_time,
                &expect(None, None, Some(datetime!(2026-01-01 00:00 UTC)))
            )
            .map_err(|e| e.code()),
            Err("report_field_missing")
        );
    }
}
