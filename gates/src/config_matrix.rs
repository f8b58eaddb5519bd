//! The config matrix: CLI and configuration compatibility across the canonical `autocapture`, the
//! legacy `autocapture-prime` and the Hypervisor's caller, checked with the real binaries.
//!
//! - Schema and binary agree on `fixtures/contracts/config/`: every valid document is accepted
//!   without warnings; every invalid one is refused with a `config_*` code or, when its only fault
//!   is an unknown key, accepted with a `config_key_unknown` warning naming it.
//! - `AUTOCAPTURE_CONFIG` is read when `--config` is absent.
//! - Each command line of `fixtures/hypervisor/commands.toml` gives its exit code and the same
//!   JSON under both binaries (volatile keys removed, the work area replaced by `{area}`).
//! - Both positions of each rollback flag (`ingest.ledger_fast_path`, `uia.require_hash_match`)
//!   change what they promise to change, and nothing else.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::contract::schemas::ContractSet;
use crate::corpus::copies::copy_tree;

/// The Hypervisor's command lines, relative to the workspace root.
pub const COMMANDS_PATH: &str = "fixtures/hypervisor/commands.toml";

/// The config fixtures, relative to the workspace root.
pub const CONFIG_FIXTURES: &str = "fixtures/contracts/config";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HypervisorCommand {
    pub name: String,
    pub args: Vec<String>,
    pub exit: i32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HypervisorCommands {
    pub volatile: Vec<String>,
    pub command: Vec<HypervisorCommand>,
}

impl HypervisorCommands {
    pub fn load(path: &Path) -> anyhow::Result<HypervisorCommands> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let commands: HypervisorCommands =
            toml::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
        anyhow::ensure!(
            !commands.command.is_empty(),
            "{}: no command",
            path.display()
        );
        Ok(commands)
    }
}

/// One run of a binary.
#[derive(Debug, Clone)]
pub struct CliRun {
    pub exit: Option<i32>,
    /// stdout parsed as JSON (`Null` when it is not JSON).
    pub json: Value,
    pub stderr: String,
}

/// Runs `bin args` in `cwd` with `env` added (and `AUTOCAPTURE_CONFIG` cleared unless given).
pub fn run_cli(
    bin: &Path,
    args: &[String],
    cwd: &Path,
    env: &[(&str, &str)],
) -> anyhow::Result<CliRun> {
    let mut command = std::process::Command::new(bin);
    command
        .args(args)
        .current_dir(cwd)
        .env_remove("AUTOCAPTURE_CONFIG")
        .env("TZ", "UTC");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command
        .output()
        .with_context(|| format!("run {}", bin.display()))?;
    Ok(CliRun {
        exit: output.status.code(),
        json: serde_json::from_slice(&output.stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// `value` without the `volatile` keys (at any depth) and with `area` replaced by `{area}` in
/// every string.
pub fn normalise(value: &Value, volatile: &[String], area: &str) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !volatile.contains(k))
                .map(|(k, v)| (k.clone(), normalise(v, volatile, area)))
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| normalise(v, volatile, area)).collect())
        }
        Value::String(s) if !area.is_empty() => Value::String(s.replace(area, "{area}")),
        other => other.clone(),
    }
}

/// A work area for one binary: a copy of `spool` and room for a DataRoot.
struct Area {
    root: PathBuf,
    spool: PathBuf,
    handoff: PathBuf,
}

fn area(spool: &Path, root: &Path) -> anyhow::Result<Area> {
    let copy = root.join("spool");
    copy_tree(spool, &copy)?;
    let root = root.canonicalize()?;
    let spool = root.join("spool");
    let handoff = autocapture_core::stage1::drain::list_handoffs(&spool)?
        .into_iter()
        .next()
        .context("the spool has no handoff")?;
    Ok(Area {
        root,
        spool,
        handoff,
    })
}

fn substitute(args: &[String], area: &Area) -> Vec<String> {
    let path = |p: &Path| p.display().to_string();
    args.iter()
        .map(|arg| {
            arg.replace("{handoff}", &path(&area.handoff))
                .replace("{spool}", &path(&area.spool))
                .replace("{data_dir}", &path(&area.root.join("data")))
                .replace("{missing}", &path(&area.root.join("no-such-handoff")))
        })
        .collect()
}

/// Runs every command under each binary (`bins[0]` is the reference) in its own copy of `spool`
/// under `work`; one problem per command whose exit code differs from the file's or whose
/// normalised JSON differs between the binaries. Also returns how many commands ran.
pub fn compare_binaries(
    commands: &HypervisorCommands,
    bins: [&Path; 2],
    spool: &Path,
    work: &Path,
) -> anyhow::Result<(usize, Vec<String>)> {
    let areas = [
        area(spool, &work.join("reference"))?,
        area(spool, &work.join("other"))?,
    ];
    let mut problems = Vec::new();
    for command in &commands.command {
        let mut outputs = Vec::new();
        for (bin, area) in bins.iter().zip(&areas) {
            let run = run_cli(bin, &substitute(&command.args, area), &area.root, &[])?;
            if run.exit != Some(command.exit) {
                problems.push(format!(
                    "{:?} under {}: exit {:?}, expected {} ({})",
                    command.name,
                    bin.display(),
                    run.exit,
                    command.exit,
                    run.stderr.trim()
                ));
            }
            if run.json.is_null() {
                problems.push(format!(
                    "{:?} under {}: stdout is not one JSON document",
                    command.name,
                    bin.display()
                ));
            }
            outputs.push(normalise(
                &run.json,
                &commands.volatile,
                &area.root.display().to_string(),
            ));
        }
        if outputs[0] != outputs[1] {
            problems.push(format!(
                "{:?}: {} and {} print different JSON: {} vs {}",
                command.name,
                bins[0].display(),
                bins[1].display(),
                outputs[0],
                outputs[1]
            ));
        }
    }
    Ok((commands.command.len(), problems))
}

/// How the binary judged one config fixture.
fn judge(bin: &Path, file: &Path, cwd: &Path) -> anyhow::Result<CliRun> {
    run_cli(
        bin,
        &[
            "--config".to_owned(),
            file.display().to_string(),
            "contract".to_owned(),
            "show".to_owned(),
            "--json".to_owned(),
        ],
        cwd,
        &[],
    )
}

/// Schema and binary agreement on every document under `dir/{valid,invalid}`; the number of
/// documents and the disagreements.
pub fn schema_agreement(
    set: &ContractSet,
    bin: &Path,
    dir: &Path,
) -> anyhow::Result<(usize, Vec<String>)> {
    let mut problems = Vec::new();
    let mut count = 0;
    for (kind, valid) in [("valid", true), ("invalid", false)] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(kind))
            .with_context(|| format!("read {}", dir.join(kind).display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        files.sort();
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "json"))
        {
            count += 1;
            let name = file.display();
            let document: Value = serde_json::from_str(&std::fs::read_to_string(file)?)
                .with_context(|| format!("parse {name}"))?;
            let violations = set.validate("config", &document)?;
            if violations.is_empty() != valid {
                problems.push(format!(
                    "{name}: the schema {} it",
                    if valid { "rejects" } else { "accepts" }
                ));
            }
            let run = judge(bin, file, dir)?;
            let warnings = run.json["config_warnings"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let code = run.json["error"]["code"].as_str().unwrap_or_default();
            let only_unknown_keys = !violations.is_empty()
                && violations
                    .iter()
                    .all(|v| v.contains("Additional properties") || v.contains("additional"));
            let judged_right = if valid {
                run.exit == Some(0) && warnings.is_empty()
            } else if only_unknown_keys {
                run.exit == Some(0)
                    && warnings
                        .iter()
                        .any(|w| w["code"] == json!("config_key_unknown"))
            } else {
                run.exit == Some(2) && code.starts_with("config_")
            };
            if !judged_right {
                problems.push(format!(
                    "{name} ({kind}): the binary gave exit {:?}, code {code:?}, warnings {warnings:?}",
                    run.exit
                ));
            }
        }
    }
    Ok((count, problems))
}

/// One flag position and what it showed.
#[derive(Debug, Clone)]
pub struct FlagCheck {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

fn write_config(path: &Path, document: &Value) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(document)?)
        .with_context(|| format!("write {}", path.display()))
}

fn ingest_args(handoff: &Path, data: &Path, config: &Path) -> Vec<String> {
    [
        "--config",
        &config.display().to_string(),
        "handoff",
        "ingest",
        "--handoff-root",
        &handoff.display().to_string(),
        "--data-dir",
        &data.display().to_string(),
        "--json",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Both positions of `ingest.ledger_fast_path` and `uia.require_hash_match`, through the real
/// binary and a config file, on copies of `handoff`.
pub fn flag_positions(bin: &Path, handoff: &Path, work: &Path) -> anyhow::Result<Vec<FlagCheck>> {
    let mut checks = Vec::new();
    std::fs::create_dir_all(work)?;
    // The binary runs in folders under `work`: every path it is given must be absolute.
    let work = &work
        .canonicalize()
        .with_context(|| format!("resolve {}", work.display()))?;
    // ingest.ledger_fast_path: a re-ingest answers from the ledger only when on.
    let mut digests = Vec::new();
    for on in [true, false] {
        let dir = work.join(format!("ledger-{on}"));
        let copy = dir.join("handoff");
        copy_tree(handoff, &copy)?;
        let config = dir.join("config.json");
        write_config(&config, &json!({"ingest": {"ledger_fast_path": on}}))?;
        let data = dir.join("data");
        let first = run_cli(bin, &ingest_args(&copy, &data, &config), &dir, &[])?;
        let again = run_cli(bin, &ingest_args(&copy, &data, &config), &dir, &[])?;
        let passed = first.exit == Some(0)
            && again.exit == Some(0)
            && first.json["unchanged"] == json!(false)
            && again.json["unchanged"] == json!(on);
        checks.push(FlagCheck {
            name: format!("ingest.ledger_fast_path {on}: a re-ingest has unchanged {on}"),
            passed,
            detail: format!(
                "exits {:?}/{:?}, unchanged {} then {}: {}",
                first.exit,
                again.exit,
                first.json["unchanged"],
                again.json["unchanged"],
                again.stderr.trim()
            ),
        });
        digests.push(crate::corpus::digest::digest(&data)?);
    }
    // Derived rows carry the ingest time of each run, so they are compared by count.
    let (on, off) = (&digests[0], &digests[1]);
    checks.push(FlagCheck {
        name: "ingest.ledger_fast_path: both positions give the same evidence, media and derived row count".into(),
        passed: on.metadata == off.metadata && on.media == off.media && on.derived.rows == off.derived.rows,
        detail: format!("on {on:?}, off {off:?}"),
    });

    // uia.require_hash_match: a fallback snapshot whose content_hash differs from the frame's
    // uia_ref is refused when on and used when off.
    let (snapshot_id, snapshot) = crate::corpus::copies::first_snapshot(handoff)?;
    let mut stale = snapshot.clone();
    stale["content_hash"] = json!(autocapture_core::contract::sha256_hex(b"another snapshot"));
    let bytes = serde_json::to_vec(&stale)?;
    for on in [true, false] {
        let dir = work.join(format!("uia-{on}"));
        let copy = dir.join("handoff");
        copy_tree(handoff, &copy)?;
        Connection::open(copy.join("metadata.db"))?
            .execute("DELETE FROM metadata WHERE id = ?1", [&snapshot_id])?;
        let data = dir.join("data");
        std::fs::create_dir_all(data.join("uia"))?;
        std::fs::write(data.join("uia/latest.snap.json"), &bytes)?;
        std::fs::write(
            data.join("uia/latest.snap.sha256"),
            autocapture_core::contract::sha256_hex(&bytes),
        )?;
        let config = dir.join("config.json");
        write_config(&config, &json!({"uia": {"require_hash_match": on}}))?;
        let run = run_cli(bin, &ingest_args(&copy, &data, &config), &dir, &[])?;
        let refused = run.json["uia_problems"]["fallback_content_hash_mismatch"]
            .as_u64()
            .unwrap_or(0);
        let passed = run.exit == Some(0) && (refused > 0) == on;
        checks.push(FlagCheck {
            name: format!(
                "uia.require_hash_match {on}: a stale fallback is {}",
                if on { "refused" } else { "used" }
            ),
            passed,
            detail: format!(
                "exit {:?}, uia_problems {}: {}",
                run.exit,
                run.json["uia_problems"],
                run.stderr.trim()
            ),
        });
    }
    Ok(checks)
}

/// `AUTOCAPTURE_CONFIG` names the file when `--config` is absent: a non-loopback bind there is
/// refused; the flag wins over it.
pub fn env_and_flag(bin: &Path, fixtures: &Path, work: &Path) -> anyhow::Result<Vec<FlagCheck>> {
    let bad = fixtures.join("invalid/bind_non_loopback.json");
    let good = fixtures.join("valid/empty.json");
    let show = ["contract", "show", "--json"].map(str::to_owned);
    let from_env = run_cli(
        bin,
        &show,
        work,
        &[("AUTOCAPTURE_CONFIG", &bad.display().to_string())],
    )?;
    let mut flag_first = vec!["--config".to_owned(), good.display().to_string()];
    flag_first.extend(show.iter().cloned());
    let flag_wins = run_cli(
        bin,
        &flag_first,
        work,
        &[("AUTOCAPTURE_CONFIG", &bad.display().to_string())],
    )?;
    Ok(vec![
        FlagCheck {
            name: "AUTOCAPTURE_CONFIG with a non-loopback bind fails closed".into(),
            passed: from_env.exit == Some(2)
                && from_env.json["error"]["code"] == json!("config_bind_not_loopback"),
            detail: format!("exit {:?}: {}", from_env.exit, from_env.json),
        },
        FlagCheck {
            name: "--config wins over AUTOCAPTURE_CONFIG".into(),
            passed: flag_wins.exit == Some(0),
            detail: format!("exit {:?}: {}", flag_wins.exit, flag_wins.json),
        },
    ])
}
