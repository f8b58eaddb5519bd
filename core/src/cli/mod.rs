//! The `autocapture` command line, shared by the `autocapture` and `autocapture-prime` binaries
//! so both run the same code path. Every command returns a [`Reply`] or a [`CodedError`]; one
//! place ([`run`]) prints it and maps it to an exit code: 0 ok, 1 operation failed (bad input,
//! gate not met), 2 usage or environment error. With `--json`, stdout is exactly one JSON document.

/// The exit codes, the same for every command.
pub mod exit {
    pub const OK: u8 = 0;
    /// The operation ran and failed: bad input, a gate not met, a broken log.
    pub const FAILED: u8 = 1;
    /// Usage or environment: bad arguments, a missing or unreadable DataRoot, a full disk.
    pub const ENVIRONMENT: u8 = 2;
}

mod answer;
mod bundle;
mod config;
mod inspect;
mod live;
mod pipeline;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(
    name = "autocapture",
    version,
    about = "Stage-1 ingest, Stage 2, read-only query and the popup server",
    after_help = EXIT_CODES
)]
struct Cli {
    /// A JSON configuration file (contracts/config.schema.json; default: $AUTOCAPTURE_CONFIG).
    /// Flags given on the command line win over it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Stage 1: ingest handoff directories into a DataRoot.
    #[command(subcommand)]
    Handoff(HandoffCommand),
    /// Stage 2: build the search index while the user is idle.
    #[command(subcommand)]
    Stage2(Stage2Command),
    /// Stage-1 completeness.
    #[command(subcommand)]
    Stage1(Stage1Command),
    /// Answer a question from the DataRoot, read-only, with citations.
    Query(QueryArgs),
    /// Serve the popup query API on loopback until interrupted.
    Serve {
        /// The DataRoot folder (created by the first ingest).
        #[arg(long)]
        data_dir: PathBuf,
        /// Loopback address and port; anything else is refused (default: the configuration's
        /// server.bind, else 127.0.0.1:8787).
        #[arg(long)]
        bind: Option<String>,
    },
    /// The contract this build implements.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// The DataRoot's audit log of privileged actions.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write a sanitised, verifiable bundle of selected evidence (see docs/export.md).
    Export(ExportArgs),
}

/// The exit-code table, the same in both binaries' `--help` (docs/release-gates.md).
pub const EXIT_CODES: &str = "Exit codes (both autocapture and autocapture-gates):
  0  ok: the command did what it was asked (a paused drain or Stage 2 is ok)
  1  failed: bad input or a check not met (a damaged handoff, a broken audit log, a refused
     bind, a failing gate)
  2  usage or environment: bad arguments, a missing DataRoot, a held lock, a full disk, an
     errored gate
With --json, stdout is exactly one JSON document; an error is
{\"ok\": false, \"error\": {\"code\", \"message\", \"path\" or \"record_id\" when one is at fault}}.
autocapture-gates verify refuses a report with one code each: 3 envelope invalid, 4 signature
untrusted, 5 report invalid, 6 replayed, 7 not a pass, 8 partial, 9 dev-signed.";

const EXPORT_CODES: &str = "Error codes (exit 1: bad input; exit 2: environment):
  export_record_unknown        a --records id is in neither the evidence nor the derived store (1)
  export_out_not_empty         --out exists and is not an empty directory (1)
  export_out_inside_data_root  --out lies inside the DataRoot (1)
  export_rules_unreadable      the --rules file cannot be read (1)
  export_rules_invalid         the --rules file does not parse or a pattern does not compile (1)
  export_time_invalid          --from or --to is not an ISO-8601 time with an offset (1)
  export_range_reversed        --from is after --to (1)
  export_selection_empty       the selection matches no record (1)
  query_syntax                 the --query does not parse (1)
  export_out_unwritable        the bundle cannot be written or renamed into place (2)
  export_media_unreadable      a selected frame's media file cannot be read (2)
  data_dir_missing, data_root_unreadable, export_store_error, audit_*  (2)
Verify codes (exit 1): export_manifest_missing, export_manifest_invalid,
  export_manifest_not_canonical, export_digest_mismatch, export_path_unsafe,
  export_file_missing, export_file_unlisted, export_file_size_mismatch,
  export_file_hash_mismatch; export_bundle_unreadable (2).";

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = EXPORT_CODES
)]
struct ExportArgs {
    #[command(subcommand)]
    verify: Option<ExportCommand>,
    /// The DataRoot to export from (opened read-only).
    #[arg(long, required = true)]
    data_dir: Option<PathBuf>,
    /// The bundle directory to create (must not exist, or be empty).
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// Export the records cited by the answer to this query.
    #[arg(long, conflicts_with_all = ["records", "from", "to"], required_unless_present_any = ["records", "from"])]
    query: Option<String>,
    /// Export these records (frames bring their snapshot, window, input and derived records).
    #[arg(long, num_args = 1.., conflicts_with_all = ["from", "to"])]
    records: Vec<String>,
    /// Export the frames at or after this time (ISO-8601 with offset); needs --to.
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// Export the frames before this time; needs --from.
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// Copy the selected frames' media files (not sanitised) into the bundle.
    #[arg(long)]
    include_media: bool,
    /// A rules file (autocapture.export.rules.v1); default: the built-in rules.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Citations of a --query answer (clamped to 1..32).
    #[arg(long, default_value_t = 32)]
    max_citations: usize,
    /// Print the result as one JSON document on stdout (exact strings, no escaping).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// Check a bundle against its manifest: every file's size and sha256, the bundle digest.
    Verify {
        /// The bundle directory written by `autocapture export`.
        dir: PathBuf,
        /// Print the result as one JSON document on stdout (exact strings, no escaping).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum HandoffCommand {
    /// Ingest one handoff directory, then write its reap_eligible.json.
    Ingest(IngestArgs),
    /// Ingest every handoff of a spool in name order, gated on the user's activity.
    Drain(DrainArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BudgetArg {
    /// Work only while a fresh activity signal says the user is idle; pause otherwise.
    Auto,
    /// Work even while the user is active, with one throttled worker.
    ActiveSafe,
    /// Work with every core.
    IdleMax,
}

#[derive(Debug, Args)]
struct DrainArgs {
    /// The spool folder whose handoff directories are ingested in name order.
    #[arg(long)]
    spool_root: PathBuf,
    /// The DataRoot folder (created by the first ingest).
    #[arg(long)]
    data_dir: PathBuf,
    /// How much work while the user is active: auto pauses unless a fresh idle signal says
    /// otherwise.
    #[arg(long, value_enum, default_value = "auto")]
    budget: BudgetArg,
    /// The activity signal file (default: <data-dir>/activity/activity_signal.json, then
    /// <data-dir>/activity_signal.json).
    #[arg(long)]
    activity_signal: Option<PathBuf>,
    /// Re-ingest handoffs that already have a valid marker.
    #[arg(long)]
    include_marked: bool,
    /// Stop at the first failing handoff.
    #[arg(long)]
    fail_fast: bool,
    /// Print the result as one JSON document on stdout (exact strings, no escaping).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    /// Hard-link each media file into the DataRoot (copy across file systems).
    Hardlink,
    /// Copy each media file.
    Copy,
}

#[derive(Debug, Args)]
struct IngestArgs {
    /// The handoff directory to ingest (metadata.db and media/).
    #[arg(long)]
    handoff_root: PathBuf,
    /// The DataRoot folder (created by the first ingest).
    #[arg(long)]
    data_dir: PathBuf,
    /// How media reach the DataRoot (default: the configuration's ingest.mode, else hardlink).
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Every media reference must resolve (the default, unless the configuration's ingest.strict
    /// is false).
    #[arg(long, overrides_with = "no_strict")]
    strict: bool,
    /// Count unresolvable media references as warnings instead of failing.
    #[arg(long)]
    no_strict: bool,
    /// Print the result as one JSON document on stdout (exact strings, no escaping).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct QueryArgs {
    /// The DataRoot folder (created by the first ingest).
    #[arg(long)]
    data_dir: PathBuf,
    /// Citations per answer (clamped to 1..32; default: the configuration's
    /// query.max_citations_default, else 8).
    #[arg(long)]
    max_citations: Option<usize>,
    /// Print the result as one JSON document on stdout (exact strings, no escaping).
    #[arg(long)]
    json: bool,
    /// Also say how the question was understood: the times read, the cues and names, the rule
    /// chosen and the runners-up, the apps linked (an `explain` field with --json).
    #[arg(long)]
    explain: bool,
    /// The question, in the query language of docs/query.md.
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    query: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Stage2Command {
    /// Index every Stage-1-complete frame not yet searchable; only while the user is idle.
    Run {
        /// The DataRoot folder (created by the first ingest).
        #[arg(long)]
        data_dir: PathBuf,
        /// The activity signal file (default: <data-dir>/activity/activity_signal.json, then
        /// <data-dir>/activity_signal.json).
        #[arg(long)]
        activity_signal: Option<PathBuf>,
        /// Run now, by hand, although no fresh idle signal says so (missing, stale or unreadable
        /// signal); audited as stage2.run_by_hand. A fresh signal that the user is active still
        /// pauses the run.
        #[arg(long)]
        now: bool,
        /// With --now: run even while a fresh signal says the user is active.
        #[arg(long, requires = "now")]
        even_if_active: bool,
        /// Print the result as one JSON document on stdout (exact strings, no escaping).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum Stage1Command {
    /// Frames total, queryable, blocked with reasons, and contiguous queryable windows.
    Audit {
        /// The DataRoot folder (created by the first ingest).
        #[arg(long)]
        data_dir: PathBuf,
        /// Print the result as one JSON document on stdout (exact strings, no escaping).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ContractCommand {
    /// Print contract_version and schema_hash.
    Show {
        /// Print the result as one JSON document on stdout (exact strings, no escaping).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify the hash chain of `<data-dir>/audit.ndjson` and authenticate every line with the
    /// audit key (see docs/security.md).
    Verify {
        /// The DataRoot whose audit log is verified.
        #[arg(long)]
        data_dir: PathBuf,
        /// A reap marker (reap_eligible.json) whose audit_head the log must still hold; repeat
        /// for several. Detects a cut tail and a rewritten history.
        #[arg(long = "witness", value_name = "MARKER")]
        witnesses: Vec<PathBuf>,
        /// Check the chain without the key (lines are then not authenticated); without this
        /// flag a missing key is an error (audit_key_missing).
        #[arg(long)]
        chain_only: bool,
        /// Print the result as one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Move a torn last line (left by an append the disk or a crash interrupted) into
    /// `audit.ndjson.quarantine/` and record the repair; any other damage is refused. Appends do
    /// the same on their own.
    Repair {
        /// The DataRoot whose audit log is repaired.
        #[arg(long)]
        data_dir: PathBuf,
        /// Print the result as one JSON document.
        #[arg(long)]
        json: bool,
    },
}

/// What a command has to say: its JSON document, its human text, and whether it succeeded.
struct Reply {
    ok: bool,
    json: Value,
    human: String,
}

/// An error with the stable code reported in `--json` mode and its exit code.
struct CodedError {
    code: &'static str,
    message: String,
    exit: u8,
    extra: Value,
}

impl CodedError {
    fn new(code: &'static str, message: impl Into<String>, exit: u8) -> CodedError {
        CodedError {
            code,
            message: message.into(),
            exit,
            extra: Value::Null,
        }
    }
}

impl Command {
    fn json(&self) -> bool {
        match self {
            Command::Handoff(HandoffCommand::Ingest(args)) => args.json,
            Command::Handoff(HandoffCommand::Drain(args)) => args.json,
            Command::Query(args) => args.json,
            Command::Serve { .. } => false,
            Command::Stage2(Stage2Command::Run { json, .. })
            | Command::Stage1(Stage1Command::Audit { json, .. }) => *json,
            Command::Contract(ContractCommand::Show { json })
            | Command::Audit(AuditCommand::Verify { json, .. })
            | Command::Audit(AuditCommand::Repair { json, .. }) => *json,
            Command::Export(ExportArgs {
                verify: Some(ExportCommand::Verify { json, .. }),
                ..
            }) => *json,
            Command::Export(args) => args.json,
        }
    }
}

/// Runs the CLI; `program` names the binary in messages.
pub fn run(program: &'static str) -> ExitCode {
    // Blocked before any thread starts (threads inherit the mask): a write past the file-size
    // limit then fails with EFBIG, reported as `data_dir_full`, instead of SIGXFSZ ending the
    // process half-way.
    let mut file_size_signal = nix::sys::signal::SigSet::empty();
    file_size_signal.add(nix::sys::signal::Signal::SIGXFSZ);
    let _ = file_size_signal.thread_block();
    // Usage and help name the binary that was run (`autocapture-prime` names itself); the
    // commands and their output are otherwise the same.
    let parsed = {
        use clap::{CommandFactory, FromArgMatches};
        let command = Cli::command().name(program).bin_name(program);
        command
            .try_get_matches_from(
                std::iter::once(std::ffi::OsString::from(program))
                    .chain(std::env::args_os().skip(1)),
            )
            .and_then(|matches| Cli::from_arg_matches(&matches))
    };
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let status = if e.use_stderr() {
                exit::ENVIRONMENT
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(status);
        }
    };
    let json_mode = cli.command.json();
    let config = match config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            let mut coded = CodedError::new(error.code, error.message, exit::ENVIRONMENT);
            coded.extra = json!({"path": error.path, "key": error.key});
            return report_error(program, json_mode, &coded, &[]);
        }
    };
    for warning in &config.warnings {
        eprintln!(
            "{program}: warning[{}]: {}",
            warning.code,
            safe_text(&warning.message)
        );
    }
    match dispatch(cli.command, &config) {
        Ok(mut reply) => {
            if json_mode {
                if !config.warnings.is_empty()
                    && let Some(document) = reply.json.as_object_mut()
                {
                    document.insert("config_warnings".into(), json!(config.warnings));
                }
                emit_line(
                    &serde_json::to_string(&reply.json).unwrap_or_else(|_| "{\"ok\":false}".into()),
                );
            } else if !reply.human.is_empty() {
                // Human text holds captured text: made inert for the terminal, line by line.
                emit_line(&safe_lines(reply.human.trim_end()));
            }
            if reply.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(exit::FAILED)
            }
        }
        Err(error) => report_error(program, json_mode, &error, &config.warnings),
    }
}

/// Prints `error` (one JSON document in `--json` mode, else a line on stderr); its exit code.
/// The line is `PROGRAM: error[code]: message (path)`, the path only when the error names one
/// that the message does not already hold (the same rule as `autocapture-gates`).
fn report_error(
    program: &str,
    json_mode: bool,
    error: &CodedError,
    warnings: &[config::ConfigWarning],
) -> ExitCode {
    if json_mode {
        let mut body = json!({"code": error.code, "message": error.message});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), error.extra.as_object()) {
            body.extend(extra.clone());
        }
        let mut document = json!({"ok": false, "error": body});
        if !warnings.is_empty() {
            document["config_warnings"] = json!(warnings);
        }
        emit_line(&document.to_string());
    } else {
        eprintln!(
            "{program}: error[{}]: {}",
            error.code,
            safe_text(&human_text(error))
        );
    }
    ExitCode::from(error.exit)
}

/// The message of `error` for people: ` (path)` appended when its extra JSON names a path the
/// message does not already hold.
fn human_text(error: &CodedError) -> String {
    match error.extra.get("path").and_then(Value::as_str) {
        Some(path) if !path.is_empty() && !error.message.contains(path) => {
            format!("{} ({path})", error.message)
        }
        _ => error.message.clone(),
    }
}

use crate::base::terminal::{safe_lines, safe_text};

fn dispatch(command: Command, config: &config::Config) -> Result<Reply, CodedError> {
    match command {
        Command::Handoff(HandoffCommand::Ingest(args)) => pipeline::handoff_ingest(&args, config),
        Command::Handoff(HandoffCommand::Drain(args)) => pipeline::handoff_drain(&args, config),
        Command::Query(args) => answer::query(&args, config),
        Command::Serve { data_dir, bind } => answer::serve(data_dir, bind.as_deref(), config),
        Command::Stage2(Stage2Command::Run {
            data_dir,
            activity_signal,
            now,
            even_if_active,
            ..
        }) => {
            let gate_override = match (now, even_if_active) {
                (_, true) => crate::activity::GateOverride::EvenIfActive,
                (true, false) => crate::activity::GateOverride::Now,
                (false, false) => crate::activity::GateOverride::None,
            };
            pipeline::stage2_run(data_dir, activity_signal, gate_override, config)
        }
        Command::Stage1(Stage1Command::Audit { data_dir, .. }) => inspect::stage1_audit(data_dir),
        Command::Contract(ContractCommand::Show { .. }) => inspect::contract_show(),
        Command::Audit(AuditCommand::Verify {
            data_dir,
            witnesses,
            chain_only,
            ..
        }) => inspect::audit_verify(data_dir, &witnesses, chain_only),
        Command::Audit(AuditCommand::Repair { data_dir, .. }) => inspect::audit_repair(data_dir),
        Command::Export(ExportArgs {
            verify: Some(ExportCommand::Verify { dir, .. }),
            ..
        }) => bundle::export_verify(&dir),
        Command::Export(args) => bundle::export_bundle(&args),
    }
}

fn require_data_dir(data_dir: &std::path::Path) -> Result<(), CodedError> {
    if data_dir.join("metadata.db").is_file() {
        Ok(())
    } else {
        let mut error = CodedError::new(
            "data_dir_missing",
            format!("{} holds no DataRoot (no metadata.db)", data_dir.display()),
            exit::ENVIRONMENT,
        );
        error.extra = serde_json::json!({"path": data_dir.to_string_lossy()});
        Err(error)
    }
}

/// A command's report as its JSON document, with `"ok"` set.
fn report_document(report: &impl serde::Serialize, ok: bool) -> Result<Value, CodedError> {
    let mut document = serde_json::to_value(report)
        .map_err(|e| CodedError::new("internal", e.to_string(), exit::ENVIRONMENT))?;
    document["ok"] = json!(ok);
    Ok(document)
}

/// Writes a line on stdout; a closed pipe ends the process quietly with exit 0.
fn emit_line(text: &str) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("autocapture: write stdout: {e}");
        std::process::exit(2);
    }
}

/// `command path: argument` for every argument of `command` and its subcommands that has no
/// help text (the tests of both command lines use it).
pub fn undocumented_args(command: &clap::Command) -> Vec<String> {
    fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        let here = format!("{path} {}", command.get_name()).trim().to_owned();
        missing.extend(
            command
                .get_arguments()
                .filter(|a| a.get_id() != "help" && a.get_id() != "version")
                .filter(|a| a.get_help().is_none() && a.get_long_help().is_none())
                .map(|a| format!("{here}: {}", a.get_id())),
        );
        for sub in command.get_subcommands() {
            if sub.get_name() != "help" {
                walk(sub, &here, missing);
            }
        }
    }
    let mut missing = Vec::new();
    walk(command, "", &mut missing);
    missing
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::undocumented_args;

    #[test]
    fn every_option_and_argument_has_help() {
        let missing = undocumented_args(&super::Cli::command());
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }

    #[test]
    fn the_path_at_fault_is_named_once() {
        let mut error = super::CodedError::new("data_dir_missing", "no DataRoot", 2);
        assert_eq!(super::human_text(&error), "no DataRoot");
        error.extra = serde_json::json!({"path": "/d", "key": null});
        assert_eq!(super::human_text(&error), "no DataRoot (/d)");
        error.message = "open /d read-only: no DataRoot".into();
        assert_eq!(super::human_text(&error), "open /d read-only: no DataRoot");
    }

    #[test]
    fn planted_an_option_without_help_is_found() {
        let planted = clap::Command::new("planted")
            .arg(
                clap::Arg::new("documented")
                    .long("documented")
                    .help("has help"),
            )
            .subcommand(clap::Command::new("sub").arg(clap::Arg::new("bare").long("bare")));
        assert_eq!(
            undocumented_args(&planted),
            vec!["planted sub: bare".to_owned()]
        );
    }
}
