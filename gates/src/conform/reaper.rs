//! The reference reaper (`autocapture-gates conform reference reap`): one pass over a spool that
//! deletes a handoff only on a valid v1 reap marker for this DataRoot (contract §4, and the
//! marker's field annotations: `reap_eligible.json` exists, validates against
//! `contracts/reap-eligible.schema.json`, its `dest_data_root` is the DataRoot this reaper
//! serves and its `handoff_root` is the handoff itself). Before deleting it keeps a witness of
//! the marker (`dest_data_root`, `handoff_root`, `ingest_run_id`, `audit_head`) in the witness
//! folder, for `autocapture audit verify --witness`. Two planted faults show that
//! `conform hypervisor` catches a reaper that trusts less than that.

use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use autocapture_core::base::durable::write_atomic;
use serde_json::{Value, json};

use crate::contract::schemas::ContractSet;

/// The marker's file name in a handoff.
pub const MARKER_FILE: &str = "reap_eligible.json";
/// The `schema` of a witness file the reference reaper writes.
pub const WITNESS_SCHEMA: &str = "autocapture.conform.reference.witness.v1";

/// Faults `reap` can plant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ReapPlant {
    /// Deletes every handoff holding a `reap_eligible.json`, whatever it says.
    AnyMarker,
    /// Checks the marker but not the DataRoot it names.
    AnyDataRoot,
}

/// A path as the file system resolves it, or as given when it does not exist.
fn resolved(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// Why `handoff` may not be deleted by a reaper serving `data_root`; its marker when it may.
fn judge(
    contracts: &ContractSet,
    handoff: &Path,
    data_root: &Path,
    plant: Option<ReapPlant>,
) -> Result<Value, String> {
    let path = handoff.join(MARKER_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("no marker".into()),
        Err(e) => return Err(format!("the marker cannot be read: {e}")),
    };
    let marker: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if plant == Some(ReapPlant::AnyMarker) {
        return Ok(marker);
    }
    if !marker.is_object() {
        return Err("the marker is not a JSON object".into());
    }
    let violations = contracts
        .validate("reap-eligible", &marker)
        .map_err(|e| format!("{e:#}"))?;
    if let Some(first) = violations.first() {
        return Err(format!("not a valid v1 marker: {first}"));
    }
    let named = |key: &str| resolved(Path::new(marker[key].as_str().unwrap_or_default()));
    if plant != Some(ReapPlant::AnyDataRoot) && named("dest_data_root") != data_root {
        return Err(format!(
            "the marker names another DataRoot: {}",
            marker["dest_data_root"]
        ));
    }
    if named("handoff_root") != resolved(handoff) {
        return Err(format!(
            "the marker names another handoff: {}",
            marker["handoff_root"]
        ));
    }
    Ok(marker)
}

/// One reaper pass over `spool` for the DataRoot `data_dir`, witnesses kept in `witness_dir`.
pub fn reap(
    spool: &Path,
    data_dir: &Path,
    witness_dir: &Path,
    plant: Option<ReapPlant>,
) -> anyhow::Result<Value> {
    let data_root = data_dir
        .canonicalize()
        .with_context(|| format!("the DataRoot {} is not there", data_dir.display()))?;
    let spool = spool
        .canonicalize()
        .with_context(|| format!("the spool {} is not there", spool.display()))?;
    ensure!(
        !spool.starts_with(&data_root) && !data_root.starts_with(&spool),
        "the spool and the DataRoot lie inside one another: refusing to delete anything"
    );
    let contracts = super::embedded_contracts()?;
    std::fs::create_dir_all(witness_dir)
        .with_context(|| format!("create {}", witness_dir.display()))?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&spool)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    let (mut deleted, mut kept) = (Vec::new(), Vec::new());
    for handoff in entries {
        let meta = std::fs::symlink_metadata(&handoff)?;
        if !meta.is_dir() {
            continue;
        }
        let name = handoff
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match judge(&contracts, &handoff, &data_root, plant) {
            Err(reason) => kept.push(json!({"name": name, "reason": reason})),
            Ok(marker) => {
                let run = marker["ingest_run_id"].as_str().unwrap_or("unknown");
                let witness = json!({
                    "schema": WITNESS_SCHEMA,
                    "dest_data_root": marker["dest_data_root"],
                    "handoff_root": marker["handoff_root"],
                    "ingest_run_id": marker["ingest_run_id"],
                    "audit_head": marker["audit_head"],
                    "reaped_at_utc": autocapture_core::contract::format_ts_utc(time::OffsetDateTime::now_utc()),
                });
                let file = format!("{run}-{name}.json");
                write_atomic(
                    witness_dir,
                    &file,
                    serde_json::to_string_pretty(&witness)?.as_bytes(),
                )?;
                std::fs::remove_dir_all(&handoff)
                    .with_context(|| format!("delete {}", handoff.display()))?;
                deleted.push(json!(name));
            }
        }
    }
    std::fs::File::open(&spool).and_then(|f| f.sync_all())?;
    Ok(json!({"ok": true, "deleted": deleted, "kept": kept}))
}
