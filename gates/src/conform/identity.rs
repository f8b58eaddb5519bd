//! The producer's contract identity in the conformance loop: the `contract_version` and
//! `schema_hash` a Hypervisor build says it implements (its sister document, read as
//! `contract check` reads it, or the two values given as flags), compared with the contract this
//! build embeds (`ContractIdentity::embedded()`). Both `conform spool` and `conform hypervisor`
//! record it; a difference is `producer_contract_mismatch`.

use std::path::Path;
use std::time::Duration;

use autocapture_core::contract::ContractIdentity;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;
use serde_json::{Value, json};

use crate::harness::sister::{self, SisterError};

/// The code of a producer whose contract is not ours.
pub const MISMATCH_CODE: &str = "producer_contract_mismatch";
/// The code of identity flags that are not a contract identity.
pub const INVALID_CODE: &str = "producer_identity_invalid";

/// What the producer says it implements, and where that was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProducerIdentity {
    pub contract_version: String,
    pub schema_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hypervisor_version: Option<String>,
    /// The sister document's path, or `flags`.
    pub source: String,
}

impl ProducerIdentity {
    /// From a sister document (JSON, or Markdown with the pair in front matter or a table).
    pub fn from_sister(path: &Path) -> Result<ProducerIdentity, SisterError> {
        let document = sister::read(path)?;
        Ok(ProducerIdentity {
            contract_version: document.contract_version,
            schema_hash: document.schema_hash,
            hypervisor_version: document.hypervisor_version,
            source: path.display().to_string(),
        })
    }

    /// From `--producer-contract-version` and `--producer-schema-hash`; the message says what
    /// is wrong with them (a semver `X.Y.Z`, 64 lowercase hex digits).
    pub fn from_flags(version: &str, hash: &str) -> Result<ProducerIdentity, String> {
        let semver = version.split('.').count() == 3
            && version
                .split('.')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
        if !semver {
            return Err(format!(
                "--producer-contract-version {version:?} is not a version X.Y.Z"
            ));
        }
        if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!(
                "--producer-schema-hash {hash:?} is not 64 lowercase hex digits"
            ));
        }
        Ok(ProducerIdentity {
            contract_version: version.to_owned(),
            schema_hash: hash.to_owned(),
            hypervisor_version: None,
            source: "flags".to_owned(),
        })
    }
}

/// The producer's identity beside ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityCheck {
    pub producer: ProducerIdentity,
    pub contract_version: String,
    pub schema_hash: String,
    pub matches: bool,
}

impl IdentityCheck {
    /// Compares `producer` with the contract this build embeds.
    pub fn of(producer: ProducerIdentity) -> anyhow::Result<IdentityCheck> {
        let ours = ContractIdentity::embedded()?;
        Ok(IdentityCheck {
            matches: producer.contract_version == ours.contract_version
                && producer.schema_hash == ours.schema_hash,
            contract_version: ours.contract_version.clone(),
            schema_hash: ours.schema_hash.clone(),
            producer,
        })
    }

    /// What differs, one sentence (empty when nothing does).
    pub fn differences(&self) -> String {
        let mut parts = Vec::new();
        if self.producer.contract_version != self.contract_version {
            parts.push(format!(
                "contract_version {} (ours {})",
                self.producer.contract_version, self.contract_version
            ));
        }
        if self.producer.schema_hash != self.schema_hash {
            parts.push(format!(
                "schema_hash {} (ours {})",
                self.producer.schema_hash, self.schema_hash
            ));
        }
        if parts.is_empty() {
            return String::new();
        }
        format!(
            "the producer ({}) implements {}: it may not ship against this release",
            self.producer.source,
            parts.join(" and ")
        )
    }

    /// The record kept in reports: `{producer…, ours…, matches}`.
    pub fn to_json(&self) -> Value {
        json!({
            "contract_version": self.producer.contract_version,
            "schema_hash": self.producer.schema_hash,
            "hypervisor_version": self.producer.hypervisor_version,
            "source": self.producer.source,
            "ours": {"contract_version": self.contract_version, "schema_hash": self.schema_hash},
            "matches": self.matches,
        })
    }

    /// One line for the table.
    pub fn line(&self) -> String {
        if self.matches {
            format!(
                "producer contract {} / {}… ({}): matches ours",
                self.producer.contract_version,
                self.producer
                    .schema_hash
                    .chars()
                    .take(12)
                    .collect::<String>(),
                self.producer.source
            )
        } else {
            format!("producer contract: DIFFERS: {}", self.differences())
        }
    }

    /// A JUnit suite `contract identity` with one case, failed on a mismatch.
    pub fn junit_suite(&self) -> TestSuite {
        let mut suite = TestSuite::new("contract identity");
        for (name, value) in [
            ("producer_source", self.producer.source.as_str()),
            (
                "producer_contract_version",
                self.producer.contract_version.as_str(),
            ),
            ("producer_schema_hash", self.producer.schema_hash.as_str()),
            ("contract_version", self.contract_version.as_str()),
            ("schema_hash", self.schema_hash.as_str()),
        ] {
            suite.add_property((name, value));
        }
        let status = if self.matches {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(self.differences());
            status.set_type(MISMATCH_CODE);
            status
        };
        let mut case = TestCase::new("producer contract identity", status);
        case.set_classname("conform.identity");
        case.set_time(Duration::ZERO);
        suite.add_test_case(case);
        suite
    }
}

/// `junit` (a JUnit document) with the identity suite added.
pub fn junit_with(junit: &str, check: &IdentityCheck) -> anyhow::Result<String> {
    let mut report = Report::deserialize_from_str(junit)
        .map_err(|e| anyhow::anyhow!("read back the JUnit document: {e}"))?;
    report.add_test_suite(check.junit_suite());
    Ok(report.to_string()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_must_be_an_identity_and_a_difference_is_named() {
        assert!(ProducerIdentity::from_flags("3.0", &"a".repeat(64)).is_err());
        assert!(ProducerIdentity::from_flags("3.0.0", &"A".repeat(64)).is_err());
        let ours = ContractIdentity::embedded().expect("identity");
        let same =
            ProducerIdentity::from_flags(&ours.contract_version, &ours.schema_hash).expect("flags");
        let check = IdentityCheck::of(same).expect("check");
        assert!(check.matches && check.differences().is_empty());
        let other = ProducerIdentity::from_flags("0.0.1", &ours.schema_hash).expect("flags");
        let check = IdentityCheck::of(other).expect("check");
        assert!(!check.matches);
        assert!(check.differences().contains("contract_version 0.0.1"));
        let junit = junit_with(&Report::new("r").to_string().expect("xml"), &check).expect("junit");
        assert!(junit.contains(MISMATCH_CODE), "{junit}");
    }
}
