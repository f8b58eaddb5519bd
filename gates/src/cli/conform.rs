//! `autocapture-gates conform …`: a producer checked against the contract.
//!
//! - `spool DIR`: a producer's spool (or one handoff) checked without ingesting it
//!   (`crate::conform`). Exit 0 conforming, 1 findings, 2 the folder is missing, unreadable or
//!   empty (`error[spool_unreadable]`, `error[spool_empty]`).
//! - `hypervisor --adapter F`: every `@hypervisor` and `@both` scenario run against a Hypervisor
//!   build through its adapter (`crate::conform::hypervisor`); a table, JUnit and a signed
//!   report. Exit 0 every scenario passed, 1 one failed, 2 usage or environment.
//! - `reference <verb>`: the reference adapter's commands (`crate::conform::reference`).
//!
//! Both checks record the producer's contract identity (`--sister` or the two flags) and fail
//! with `producer_contract_mismatch` when it is not ours.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};

use super::error::{self, CliError};
use super::exit;
use crate::conform::identity::{self, IdentityCheck, ProducerIdentity};
use crate::conform::reaper::ReapPlant;
use crate::conform::reference::{ActivityState, ClosePlant, PopupPlant, WritePlant};
use crate::conform::{self, ConformError, adapter, hypervisor, render};
use crate::harness::keys;

/// The producer's contract identity, from its sister document or given as two values.
#[derive(Debug, Args)]
pub(super) struct ProducerArgs {
    /// The producer's sister contract document (JSON, or Markdown with the pair in front matter
    /// or a table, as `contract check` reads it): its contract_version and schema_hash must be
    /// ours, else error[producer_contract_mismatch] and exit 1.
    #[arg(long, conflicts_with_all = ["producer_contract_version", "producer_schema_hash"])]
    sister: Option<PathBuf>,
    /// The producer's contract_version (with --producer-schema-hash), instead of --sister.
    #[arg(long, requires = "producer_schema_hash")]
    producer_contract_version: Option<String>,
    /// The producer's schema_hash, 64 lowercase hex digits (with --producer-contract-version).
    #[arg(long, requires = "producer_contract_version")]
    producer_schema_hash: Option<String>,
}

impl ProducerArgs {
    /// The identity given, if any: a bad sister document is exit 1, bad flags exit 2.
    fn identity(&self) -> Result<Option<ProducerIdentity>, CliError> {
        if let Some(path) = &self.sister {
            return ProducerIdentity::from_sister(path)
                .map(Some)
                .map_err(|e| CliError::sister(&e));
        }
        match (&self.producer_contract_version, &self.producer_schema_hash) {
            (Some(version), Some(hash)) => ProducerIdentity::from_flags(version, hash)
                .map(Some)
                .map_err(|m| CliError::usage(identity::INVALID_CODE, m)),
            _ => Ok(None),
        }
    }
}

/// The identity compared with ours.
fn identity_check(producer: Option<ProducerIdentity>) -> anyhow::Result<Option<IdentityCheck>> {
    producer.map(IdentityCheck::of).transpose()
}

/// On a mismatch, `error[producer_contract_mismatch]` on stderr (after the command's outputs, so
/// that it is the last word of the log).
fn report_mismatch(check: Option<&IdentityCheck>) {
    if let Some(check) = check.filter(|c| !c.matches) {
        let mut error = CliError::new(identity::MISMATCH_CODE, check.differences(), exit::FAIL);
        if check.producer.source != "flags" {
            error = error.at(&check.producer.source);
        }
        error.eprint();
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum ConformCommand {
    /// Check a spool (or one handoff folder) that any producer wrote, read-only: every contract
    /// violation with its file, row, rule and Stage-1 code (docs/conformance.md). Exit 0
    /// conforming, 1 findings, 2 the folder is missing or empty.
    Spool {
        /// The spool (its subfolders are the handoffs) or a single handoff folder.
        dir: PathBuf,
        /// One JSON document on stdout (schema autocapture.conform.report.v1) instead of the
        /// table.
        #[arg(long)]
        json: bool,
        /// Also write JUnit XML to this file: one test suite per handoff, one test case per rule.
        #[arg(long)]
        junit: Option<PathBuf>,
        #[command(flatten)]
        producer: ProducerArgs,
    },
    /// Run every @hypervisor and @both scenario of features/ against a Hypervisor build through
    /// its adapter file (docs/conformance.md); print a table per scenario, write junit.xml and a
    /// signed report (report.json, report.dsse.json). Exit 0 every scenario passed, 1 one
    /// failed (or the producer's contract is not ours), 2 usage or environment.
    Hypervisor(HypervisorArgs),
    /// The reference adapter's commands (fixtures/conform/reference.toml): this repository's
    /// own producer, reaper, activity publisher and popup client; `--plant` makes one fault.
    #[command(subcommand)]
    Reference(ReferenceCommand),
}

#[derive(Debug, Args)]
pub(super) struct HypervisorArgs {
    /// The adapter file (TOML, schema autocapture.conform.adapter.v1) naming the commands of the
    /// Hypervisor build under test.
    #[arg(long)]
    adapter: PathBuf,
    /// Where junit.xml, report.json, report.dsse.json and the public key go (and the work
    /// folder of a failing run).
    #[arg(long, default_value = "out/conform-hypervisor")]
    out: PathBuf,
    #[command(flatten)]
    producer: ProducerArgs,
    /// Ed25519 key file (see `keygen`); else $AUTOCAPTURE_GATES_SIGNING_KEY; else a throwaway key
    /// and the report says dev-signed.
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// The folder of .feature files (default: the checkout's features/).
    #[arg(long)]
    features: Option<PathBuf>,
    /// Keep the scenarios' work folder after a passing run too (a failing run keeps it).
    #[arg(long)]
    keep_work: bool,
}

#[derive(Debug, Subcommand)]
pub(super) enum ReferenceCommand {
    /// write_handoff: write handoff `handoff_index` of the capture session the input describes
    /// (schema autocapture.conform.capture.v1) with the fixture generator.
    WriteHandoff {
        /// The capture input (JSON).
        #[arg(long)]
        input: PathBuf,
        /// The handoff folder to write (must not exist).
        #[arg(long)]
        handoff: PathBuf,
        /// The DataRoot, where the UIA fallback uia/latest.snap.json goes when the input asks.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Plant a fault.
        #[arg(long, value_enum)]
        plant: Option<WritePlant>,
    },
    /// close_handoff: make the handoff durable and move it into the spool.
    CloseHandoff {
        /// The handoff folder written by write-handoff.
        #[arg(long)]
        handoff: PathBuf,
        /// The spool to move it into.
        #[arg(long)]
        spool: PathBuf,
        /// Its name in the spool (default: its folder name).
        #[arg(long)]
        name: Option<String>,
        /// Plant a fault.
        #[arg(long, value_enum)]
        plant: Option<ClosePlant>,
    },
    /// reap: delete every handoff of the spool whose reap_eligible.json is a valid v1 marker
    /// naming this DataRoot and the handoff itself, keeping a witness of each marker.
    Reap {
        /// The spool.
        #[arg(long)]
        spool: PathBuf,
        /// The DataRoot this reaper serves.
        #[arg(long)]
        data_dir: PathBuf,
        /// Where a witness of each deleted handoff's marker is kept.
        #[arg(long)]
        witness_dir: PathBuf,
        /// Plant a fault.
        #[arg(long, value_enum)]
        plant: Option<ReapPlant>,
    },
    /// refresh_activity: write the activity signal every --every-ms until stopped.
    Activity {
        /// The signal file.
        #[arg(long)]
        signal: PathBuf,
        /// What the user is doing.
        #[arg(long, value_enum)]
        state: ActivityState,
        /// Milliseconds between two writes.
        #[arg(long, default_value_t = 1000)]
        every_ms: u64,
        /// Write once and exit.
        #[arg(long)]
        once: bool,
    },
    /// popup_request: ask a question at the popup server with its bearer token; print the
    /// status and the answer as JSON (exit 1 unless 200).
    Popup {
        /// The server's base URL (http://127.0.0.1:PORT).
        #[arg(long)]
        url: String,
        /// The question.
        #[arg(long)]
        question: String,
        /// The server's token file (else the token is fetched from /api/auth/token).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Plant a fault.
        #[arg(long, value_enum)]
        plant: Option<PopupPlant>,
    },
}

pub(super) fn conform(command: ConformCommand) -> anyhow::Result<u8> {
    match command {
        ConformCommand::Spool {
            dir,
            json,
            junit,
            producer,
        } => {
            let producer = match producer.identity() {
                Ok(producer) => producer,
                Err(e) => return Ok(error::report(&e, json)),
            };
            spool(&dir, json, junit.as_deref(), producer)
        }
        ConformCommand::Hypervisor(args) => hypervisor_run(&args),
        ConformCommand::Reference(command) => reference(command),
    }
}

fn spool(
    dir: &Path,
    json: bool,
    junit: Option<&Path>,
    producer: Option<ProducerIdentity>,
) -> anyhow::Result<u8> {
    let report = match conform::check_spool(dir) {
        Ok(report) => report,
        Err(e) => {
            let Some(env) = e.downcast_ref::<ConformError>() else {
                return Err(e);
            };
            let cli = CliError::new(env.code, env.message.clone(), exit::ERROR).at(&env.path);
            return Ok(error::report(&cli, json));
        }
    };
    let identity = identity_check(producer)?;
    let mut document = render::junit(&report)?;
    if let Some(check) = &identity {
        document = identity::junit_with(&document, check)?;
    }
    if let Some(path) = junit
        && let Err(e) = std::fs::write(path, document)
    {
        let cli = CliError::io(
            "out_unwritable",
            "write the JUnit file",
            path,
            &e,
            exit::ERROR,
        );
        return Ok(error::report(&cli, json));
    }
    let matches = identity.as_ref().is_none_or(|i| i.matches);
    if json {
        let mut value = serde_json::to_value(&report)?;
        if let Some(check) = &identity {
            value["producer"] = check.to_json();
            value["conforming"] = (report.conforming && matches).into();
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", render::table(&report));
        if let Some(check) = &identity {
            println!("{}", check.line());
        }
    }
    report_mismatch(identity.as_ref());
    Ok(exit::of(report.conforming && matches))
}

/// `conform hypervisor`.
fn hypervisor_run(args: &HypervisorArgs) -> anyhow::Result<u8> {
    let adapter = adapter::load(&args.adapter)
        .map_err(|e| CliError::new(e.code, e.message.clone(), exit::ERROR).at(&e.path))?;
    let workspace = crate::contract::workspace_root().map_err(error::checkout_missing)?;
    let producer = match args.producer.identity()? {
        Some(producer) => producer,
        None => {
            let path = workspace.join(crate::harness::sister::DEFAULT_SISTER);
            ProducerIdentity::from_sister(&path).map_err(|e| CliError::sister(&e))?
        }
    };
    let features_dir = args
        .features
        .clone()
        .unwrap_or_else(|| workspace.join("features"));
    if !features_dir.is_dir() {
        return Err(CliError::new(
            "features_missing",
            format!("no features folder at {}", features_dir.display()),
            exit::ERROR,
        )
        .at(&features_dir)
        .into());
    }
    let (harness_bin, autocapture_bin) = error::autocapture_beside_harness()?;
    let (key, dev_signed) = error::signing_key(args.signing_key.as_deref())?;
    error::writable_dir(&args.out)?;
    let out = std::path::absolute(&args.out)?;
    let work = tempfile::Builder::new().prefix("work-").tempdir_in(&out)?;
    let options = hypervisor::HypervisorOptions {
        adapter,
        features_dir,
        workspace,
        harness_bin,
        autocapture_bin,
        identity: identity_check(Some(producer))?,
        work: work.path().to_path_buf(),
    };
    let run = hypervisor::run(&options)?;
    std::fs::write(out.join("junit.xml"), hypervisor::junit(&run)?)
        .map_err(|e| CliError::out_unwritable(&out.join("junit.xml"), &e))?;
    let statement = hypervisor::statement(&run, &options, dev_signed)?;
    super::release::write_signed(
        &out,
        "report",
        &serde_json::to_vec_pretty(&statement)?,
        &key,
    )?;
    keys::write_public(&out.join("signing-key.pub.json"), &key.verifying_key())?;
    keys::write_public_pem(&out.join("signing-key.pub.pem"), &key.verifying_key())?;
    print!("{}", hypervisor::table(&run));
    if run.passed() && !args.keep_work {
        work.close()?;
    } else {
        let kept = work.keep();
        eprintln!(
            "autocapture-gates: the scenarios' work folder is kept in {}",
            kept.display()
        );
    }
    println!(
        "outputs in {}{}",
        out.display(),
        if dev_signed {
            " (dev-signed with a throwaway key)"
        } else {
            ""
        }
    );
    report_mismatch(run.identity.as_ref());
    Ok(exit::of(run.passed()))
}

/// `conform reference <verb>`: one JSON line on stdout; a failure is exit 1.
fn reference(command: ReferenceCommand) -> anyhow::Result<u8> {
    use crate::conform::{reaper, reference};
    let failed =
        |e: anyhow::Error| CliError::new("reference_failed", error::chain_text(&e), exit::FAIL);
    let printed = match command {
        ReferenceCommand::WriteHandoff {
            input,
            handoff,
            data_dir,
            plant,
        } => reference::write_handoff(&input, &handoff, data_dir.as_deref(), plant),
        ReferenceCommand::CloseHandoff {
            handoff,
            spool,
            name,
            plant,
        } => reference::close_handoff(&handoff, &spool, name.as_deref(), plant),
        ReferenceCommand::Reap {
            spool,
            data_dir,
            witness_dir,
            plant,
        } => reaper::reap(&spool, &data_dir, &witness_dir, plant),
        ReferenceCommand::Activity {
            signal,
            state,
            every_ms,
            once,
        } => reference::refresh_activity(&signal, state, Duration::from_millis(every_ms), once)
            .map(|()| serde_json::json!({"ok": true})),
        ReferenceCommand::Popup {
            url,
            question,
            token_file,
            plant,
        } => {
            let (status, body) =
                reference::popup(&url, &question, token_file.as_deref(), plant).map_err(failed)?;
            println!("{}", serde_json::json!({"status": status, "body": body}));
            return Ok(exit::of(status == 200));
        }
    };
    println!("{}", printed.map_err(failed)?);
    Ok(exit::PASS)
}
