//! The reaper's steps: handoffs of this repository's generator put in a spool, given their reap
//! markers by the real `autocapture handoff ingest` (or a marker that must not be trusted), the
//! adapter's `reap` run once over the spool, and every handoff judged: deleted exactly when its
//! marker is a valid v1 marker for this DataRoot and this handoff, the kept ones unchanged, the
//! DataRoot untouched, a witness of each marker kept and verifiable with
//! `autocapture audit verify --witness`.

use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use super::world::{HypervisorWorld, Subject, fail, require};
use crate::conform::adapter::Verb;
use crate::corpus::copies::copy_tree;
use crate::corpus::digest::{digest, tree_digest};

const MARKER: &str = "reap_eligible.json";

/// The handoffs whose markers a reaper must not trust, in the order they are put in the spool
/// ([`HypervisorWorld::untrusted_handoffs`] makes each): the case, and the rule a reaper that
/// deletes it breaks.
const UNTRUSTED: &[(&str, &str)] = &[
    ("no marker", "reap_marker_missing"),
    ("a marker whose schema is v0", "reap_marker_not_v1"),
    ("a marker that is not JSON", "reap_marker_not_v1"),
    (
        "a v1 schema name without the v1 fields",
        "reap_marker_not_v1",
    ),
    (
        "a valid v1 marker naming another DataRoot",
        "reap_foreign_data_root",
    ),
    (
        "a valid v1 marker naming another handoff",
        "reap_foreign_handoff_root",
    ),
];

impl HypervisorWorld {
    fn data_root(&mut self) -> anyhow::Result<PathBuf> {
        self.folder("data")
    }

    /// A copy of the template handoff at `path`.
    fn template_copy(&mut self, path: &Path) -> anyhow::Result<()> {
        let template = self.settings()?.template_handoff()?;
        copy_tree(&template, path)
    }

    /// The real `autocapture handoff ingest` of `handoff` into `data`; its marker.
    fn ingest(&mut self, handoff: &Path, data: &Path) -> anyhow::Result<Value> {
        let outcome = self.settings()?.ingest(handoff, data)?;
        ensure!(outcome.succeeded(), "ingest: {}", outcome.describe());
        let text = std::fs::read_to_string(handoff.join(MARKER))
            .with_context(|| format!("the ingest of {} left no marker", handoff.display()))?;
        Ok(serde_json::from_str(&text)?)
    }

    fn subject(
        &mut self,
        case: &'static str,
        path: PathBuf,
        delete: bool,
        rule: &'static str,
    ) -> anyhow::Result<()> {
        let digest = tree_digest(&path)?.sha256;
        self.subjects.push(Subject {
            case,
            path,
            delete,
            rule,
            digest,
        });
        Ok(())
    }

    fn remember_data_root(&mut self) -> anyhow::Result<()> {
        let data = self.data_root()?;
        self.data_digest = Some(serde_json::to_string(&digest(&data)?)?);
        Ok(())
    }

    pub fn marked_handoff(&mut self, schema: &str) -> anyhow::Result<()> {
        let handoff = self.folder("spool")?.join("handoff_0001");
        self.template_copy(&handoff)?;
        let data = self.data_root()?;
        let marker = self.ingest(&handoff, &data)?;
        ensure!(
            marker["schema"] == json!(schema),
            "the ingest wrote a marker of schema {}, not {schema:?}",
            marker["schema"]
        );
        self.marker = Some(marker);
        self.subject(
            "a valid v1 marker for this DataRoot",
            handoff,
            true,
            "reap_kept_valid_marker",
        )?;
        self.remember_data_root()
    }

    pub fn marked_handoff_with_audit_head(&mut self) -> anyhow::Result<()> {
        self.marked_handoff("autocapture.handoff.reap_eligible.v1")?;
        let marker = self.marker.clone().unwrap_or_default();
        ensure!(
            marker["audit_head"]["seq"].is_u64() && marker["audit_head"]["hash"].is_string(),
            "the marker carries no audit_head {{seq, hash}}: {marker}"
        );
        Ok(())
    }

    pub fn untrusted_handoffs(&mut self) -> anyhow::Result<()> {
        let spool = self.folder("spool")?;
        let data = self.data_root()?;
        // A handoff outside the spool, ingested into this DataRoot: its marker is valid here
        // but names that handoff.
        let elsewhere = self.folder("elsewhere")?.join("handoff_source");
        self.template_copy(&elsewhere)?;
        let borrowed = self.ingest(&elsewhere, &data)?;
        let foreign = self.folder("other-data")?;
        for (index, (case, rule)) in UNTRUSTED.iter().enumerate() {
            let handoff = spool.join(format!("handoff_{:04}", index + 1));
            self.template_copy(&handoff)?;
            let marker = handoff.join(MARKER);
            match index {
                0 => {}
                1 => std::fs::write(
                    &marker,
                    r#"{"schema": "autocapture.handoff.reap_eligible.v0"}"#,
                )?,
                2 => std::fs::write(&marker, "{not json")?,
                3 => std::fs::write(
                    &marker,
                    r#"{"schema": "autocapture.handoff.reap_eligible.v1"}"#,
                )?,
                4 => {
                    self.ingest(&handoff, &foreign)?;
                }
                _ => std::fs::write(&marker, serde_json::to_vec_pretty(&borrowed)?)?,
            }
            self.subject(case, handoff, false, rule)?;
        }
        self.remember_data_root()
    }

    pub fn reaper_runs(&mut self) -> anyhow::Result<()> {
        let settings = self.settings()?;
        let mut vars = self.common_vars()?;
        vars.extend([
            ("spool", self.folder("spool")?.display().to_string()),
            ("data_dir", self.data_root()?.display().to_string()),
            (
                "witness_dir",
                self.folder("witnesses")?.display().to_string(),
            ),
        ]);
        let outcome = settings.adapter.run(Verb::Reap, &vars, &self.env())?;
        let succeeded = outcome.succeeded();
        let described = outcome.describe();
        self.outcome = Some(outcome);
        require(succeeded, "reap_failed", || described)
    }

    /// Every subject as the deletion rule says, the DataRoot unchanged.
    pub fn judge_reap(&mut self) -> anyhow::Result<()> {
        for subject in &self.subjects {
            let exists = subject.path.exists();
            if subject.delete {
                require(!exists, subject.rule, || {
                    format!(
                        "{} ({}) was kept by the reaper",
                        subject.path.display(),
                        subject.case
                    )
                })?;
                continue;
            }
            require(exists, subject.rule, || {
                format!(
                    "{} ({}) was deleted by the reaper",
                    subject.path.display(),
                    subject.case
                )
            })?;
            let now = tree_digest(&subject.path)?.sha256;
            require(now == subject.digest, "reap_damaged_kept_handoff", || {
                format!(
                    "{} ({}) was kept but changed by the reaper",
                    subject.path.display(),
                    subject.case
                )
            })?;
        }
        let data = self.data_root()?;
        let now = serde_json::to_string(&digest(&data)?)?;
        require(
            self.data_digest.as_deref() == Some(now.as_str()),
            "reap_touched_data_root",
            || format!("the reaper changed the DataRoot {}", data.display()),
        )
    }

    pub fn reaper_deletes(&mut self) -> anyhow::Result<()> {
        self.reaper_runs()?;
        self.judge_reap()
    }

    /// Every JSON object the reaper kept under the witness folder (any depth).
    fn witnesses(&mut self) -> anyhow::Result<Vec<(PathBuf, Value)>> {
        let mut out = Vec::new();
        let mut stack = vec![self.folder("witnesses")?];
        while let Some(folder) = stack.pop() {
            for entry in std::fs::read_dir(&folder)? {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(value) =
                    serde_json::from_slice::<Value>(&std::fs::read(&path).unwrap_or_default())
                    && value.is_object()
                {
                    out.push((path, value));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    pub fn witness_kept(&mut self) -> anyhow::Result<()> {
        let marker = self.marker.clone().context("no marker to witness")?;
        let keys = ["dest_data_root", "ingest_run_id", "audit_head"];
        let witnesses = self.witnesses()?;
        require(
            witnesses
                .iter()
                .any(|(_, w)| keys.iter().all(|k| w[*k] == marker[*k])),
            "reap_witness_missing",
            || {
                format!(
                    "no JSON file under the witness folder holds the marker's {} ({} file(s) there)",
                    keys.join(", "),
                    witnesses.len()
                )
            },
        )
    }

    pub fn witness_verifies(&mut self, command: &str) -> anyhow::Result<()> {
        ensure!(
            command == "autocapture audit verify --witness",
            "unknown command {command:?}"
        );
        let marker = self.marker.clone().context("no marker to witness")?;
        let root = marker["dest_data_root"].clone();
        let latest = self
            .witnesses()?
            .into_iter()
            .filter(|(_, w)| w["dest_data_root"] == root)
            .max_by_key(|(_, w)| w["audit_head"]["seq"].as_u64().unwrap_or(0))
            .ok_or_else(|| {
                fail(
                    "reap_witness_missing",
                    format!("no witness kept for the DataRoot {root}"),
                )
            })?;
        let data = self.data_root()?;
        let outcome = self.settings()?.autocapture(&[
            "audit".into(),
            "verify".into(),
            "--data-dir".into(),
            data.display().to_string(),
            "--witness".into(),
            latest.0.display().to_string(),
            "--json".into(),
        ])?;
        require(outcome.succeeded(), "reap_witness_unverified", || {
            format!("{}: {}", latest.0.display(), outcome.describe())
        })
    }
}
