//! The `autocapture` command line, shared by the `autocapture` and `autocapture-prime` binaries
//! so both run the same code path. Every command returns a [`Reply`] or a [`CodedError`]; one
//! place ([`run`]) prints it and maps it to an exit code: 0 ok, 1 operation failed (bad input,
//! gate not met), 2 usage or environment error. With `--json`, stdout is exactly one JSON document.

mod config;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use autocapture_core::audit;
use autocapture_core::base::clock::SystemClock;
use autocapture_core::contract::ContractIdentity;
use autocapture_core::export::{self, ExportOptions, Rules, Selection};
use autocapture_core::query::{self, QueryHandle, QueryOptions};
use autocapture_core::stage1::completeness;
use autocapture_core::stage1::drain::{
    Budget, DrainEvent, DrainOptions, DrainState, HandoffStatus, drain,
};
use autocapture_core::stage1::ingest::{ImportMode, IngestError, IngestOptions, ingest_handoff};
use autocapture_core::stage2::{Stage2Options, run_stage2};
use autocapture_core::store::DataRoot;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(
    name = "autocapture",
    version,
    about = "Stage-1 ingest, Stage 2, read-only query and the popup server"
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
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// Check a bundle against its manifest: every file's size and sha256, the bundle digest.
    Verify {
        dir: PathBuf,
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
    #[arg(long)]
    spool_root: PathBuf,
    #[arg(long)]
    data_dir: PathBuf,
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
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Hardlink,
    Copy,
}

#[derive(Debug, Args)]
struct IngestArgs {
    #[arg(long)]
    handoff_root: PathBuf,
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
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct QueryArgs {
    #[arg(long)]
    data_dir: PathBuf,
    /// Citations per answer (clamped to 1..32; default: the configuration's
    /// query.max_citations_default, else 8).
    #[arg(long)]
    max_citations: Option<usize>,
    #[arg(long)]
    json: bool,
    /// The question, in the query language of docs/query.md.
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    query: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Stage2Command {
    /// Index every Stage-1-complete frame not yet searchable; only while the user is idle.
    Run {
        #[arg(long)]
        data_dir: PathBuf,
        /// The activity signal file (default: <data-dir>/activity/activity_signal.json, then
        /// <data-dir>/activity_signal.json).
        #[arg(long)]
        activity_signal: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum Stage1Command {
    /// Frames total, queryable, blocked with reasons, and contiguous queryable windows.
    Audit {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ContractCommand {
    /// Print contract_version and schema_hash.
    Show {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify the hash chain of `<data-dir>/audit.ndjson`.
    Verify {
        #[arg(long)]
        data_dir: PathBuf,
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
            | Command::Audit(AuditCommand::Verify { json, .. }) => *json,
            Command::Export(ExportArgs {
                verify: Some(ExportCommand::Verify { json, .. }),
                ..
            }) => *json,
            Command::Export(args) => args.json,
        }
    }
}

/// Runs the CLI; `program` names the binary in messages.
pub fn run(program: &str) -> ExitCode {
    // Blocked before any thread starts (threads inherit the mask): a write past the file-size
    // limit then fails with EFBIG, reported as `data_dir_full`, instead of SIGXFSZ ending the
    // process half-way.
    let mut file_size_signal = nix::sys::signal::SigSet::empty();
    file_size_signal.add(nix::sys::signal::Signal::SIGXFSZ);
    let _ = file_size_signal.thread_block();
    // Name the program `autocapture` in usage and help whatever the binary is called, so the
    // deprecated name prints exactly the same text.
    let args =
        std::iter::once(std::ffi::OsString::from("autocapture")).chain(std::env::args_os().skip(1));
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let exit = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(exit);
        }
    };
    let json_mode = cli.command.json();
    let config = match config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            let mut coded = CodedError::new(error.code, error.message, 2);
            coded.extra = json!({"path": error.path, "key": error.key});
            return report_error(program, json_mode, &coded, &[]);
        }
    };
    for warning in &config.warnings {
        eprintln!("{program}: warning[{}]: {}", warning.code, warning.message);
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
                emit_line(reply.human.trim_end());
            }
            if reply.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => report_error(program, json_mode, &error, &config.warnings),
    }
}

/// Prints `error` (one JSON document in `--json` mode, else a line on stderr); its exit code.
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
        eprintln!("{program}: error[{}]: {}", error.code, error.message);
    }
    ExitCode::from(error.exit)
}

fn dispatch(command: Command, config: &config::Config) -> Result<Reply, CodedError> {
    match command {
        Command::Handoff(HandoffCommand::Ingest(args)) => handoff_ingest(&args, config),
        Command::Handoff(HandoffCommand::Drain(args)) => handoff_drain(&args, config),
        Command::Query(args) => query(&args, config),
        Command::Serve { data_dir, bind } => serve(data_dir, bind.as_deref(), config),
        Command::Stage2(Stage2Command::Run {
            data_dir,
            activity_signal,
            ..
        }) => stage2_run(data_dir, activity_signal, config),
        Command::Stage1(Stage1Command::Audit { data_dir, .. }) => stage1_audit(data_dir),
        Command::Contract(ContractCommand::Show { .. }) => contract_show(),
        Command::Audit(AuditCommand::Verify { data_dir, .. }) => audit_verify(data_dir),
        Command::Export(ExportArgs {
            verify: Some(ExportCommand::Verify { dir, .. }),
            ..
        }) => export_verify(&dir),
        Command::Export(args) => export_bundle(&args),
    }
}

fn export_error(error: export::ExportError) -> CodedError {
    let exit = if error.is_environment() { 2 } else { 1 };
    let mut coded = CodedError::new(error.code(), format!("failed to export: {error}"), exit);
    match &error {
        export::ExportError::RecordUnknown { ids } => coded.extra = json!({"record_ids": ids}),
        export::ExportError::RulesInvalid { path, .. }
        | export::ExportError::RulesUnreadable { path, .. }
        | export::ExportError::OutNotEmpty { path }
        | export::ExportError::OutInsideDataRoot { path, .. }
        | export::ExportError::OutUnwritable { path, .. } => coded.extra = json!({"path": path}),
        _ => {}
    }
    coded
}

fn export_bundle(args: &ExportArgs) -> Result<Reply, CodedError> {
    // clap makes both required when no subcommand is given.
    let (Some(data_dir), Some(out)) = (&args.data_dir, &args.out) else {
        return Err(CodedError::new(
            "usage",
            "export needs --data-dir and --out",
            2,
        ));
    };
    let selection = match (&args.query, &args.from, &args.to) {
        (Some(text), _, _) => Selection::Query {
            text: text.clone(),
            max_citations: args.max_citations,
        },
        (None, Some(from), Some(to)) => Selection::TimeRange {
            from: from.clone(),
            to: to.clone(),
        },
        _ => Selection::Records(args.records.clone()),
    };
    let rules = match &args.rules {
        Some(path) => export::load_rules(path).map_err(export_error)?,
        None => Rules::default(),
    };
    let report = export::export(
        &DataRoot::new(data_dir),
        out,
        &ExportOptions {
            selection,
            include_media: args.include_media,
            rules,
        },
        &SystemClock,
    )
    .map_err(export_error)?;
    let mut document =
        serde_json::to_value(&report).map_err(|e| CodedError::new("internal", e.to_string(), 2))?;
    document["ok"] = json!(true);
    let c = &report.counts;
    let redactions: Vec<String> = c
        .redactions
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let human = format!(
        "exported {} records, {} derived, {} media files into {} ({} files)\n  dropped {} records; redactions: {}\n  bundle digest {}",
        c.metadata_records,
        c.derived_records,
        c.media_files,
        report.out.display(),
        report.files,
        c.dropped_records,
        if redactions.is_empty() {
            "none".to_owned()
        } else {
            redactions.join(", ")
        },
        report.bundle_digest
    );
    Ok(Reply {
        ok: true,
        json: document,
        human,
    })
}

fn export_verify(dir: &std::path::Path) -> Result<Reply, CodedError> {
    let report = export::verify_bundle(dir)
        .map_err(|e| CodedError::new(e.code(), format!("failed to verify: {e}"), 2))?;
    if let Some(first) = report.problems.first() {
        let mut error = CodedError::new(
            first.code,
            format!(
                "bundle {} does not verify: {}: {} ({} problems)",
                dir.display(),
                first.path,
                first.detail,
                report.problems.len()
            ),
            1,
        );
        error.extra = json!({"path": first.path, "problems": report.problems});
        return Err(error);
    }
    Ok(Reply {
        ok: true,
        json: json!({
            "ok": true,
            "dir": report.dir,
            "files_checked": report.files_checked,
            "bundle_digest": report.bundle_digest,
        }),
        human: format!(
            "bundle ok: {} files, digest {}",
            report.files_checked,
            report.bundle_digest.as_deref().unwrap_or_default()
        ),
    })
}

fn ingest_error(error: IngestError) -> CodedError {
    let exit = if error.is_environment() { 2 } else { 1 };
    CodedError::new(error.code(), format!("failed to ingest: {error}"), exit)
}

/// The ingest options of the configuration (mode, strictness, ledger fast path, UIA settings).
fn configured_ingest(config: &config::Config) -> IngestOptions {
    IngestOptions {
        mode: config.ingest_mode,
        strict: config.ingest_strict,
        ledger_fast_path: config.ledger_fast_path,
        uia: config.uia.clone(),
        ..IngestOptions::default()
    }
}

fn handoff_ingest(args: &IngestArgs, config: &config::Config) -> Result<Reply, CodedError> {
    let configured = configured_ingest(config);
    let options = IngestOptions {
        mode: match args.mode {
            Some(ModeArg::Hardlink) => ImportMode::Hardlink,
            Some(ModeArg::Copy) => ImportMode::Copy,
            None => configured.mode,
        },
        strict: if args.no_strict {
            false
        } else {
            args.strict || configured.strict
        },
        workers: std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1),
        cpu_cap: None,
        ..configured
    };
    let report = ingest_handoff(
        &args.handoff_root,
        &DataRoot::new(&args.data_dir),
        &options,
        &SystemClock,
    )
    .map_err(ingest_error)?;
    let mut document =
        serde_json::to_value(&report).map_err(|e| CodedError::new("internal", e.to_string(), 2))?;
    document["ok"] = json!(true);
    let c = &report.counts;
    let human = format!(
        "ingested {} ({} layout) into {}\n  rows: {} seen, {} copied; media: {} files, {} linked, {} copied, {} already present, {} bytes\n  stage 1: {} complete frames of {}\n  {} warnings; {} ms; marker {}",
        report.handoff_root.display(),
        report.layout,
        report.data_root.display(),
        report.rows_seen,
        c.metadata_rows_copied,
        report.media_files_seen,
        c.media_files_linked,
        c.media_files_copied,
        report.media_files_present,
        c.bytes_ingested,
        c.stage1_complete_records,
        report.frames,
        report.warnings.len(),
        report.timings.total_ms,
        report.marker_path.display(),
    );
    if std::env::var_os(MAPPED_FILES_ENV).is_some() {
        document["mapped_files"] = json!(mapped_files()?);
    }
    Ok(Reply {
        ok: true,
        json: document,
        human,
    })
}

/// Set (to anything), `handoff ingest --json` adds `mapped_files`: every file mapped into the
/// process at the end of the ingest, from `/proc/self/maps` (the `import-guard` gate's run-time
/// check).
const MAPPED_FILES_ENV: &str = "AUTOCAPTURE_REPORT_MAPPED_FILES";

fn mapped_files() -> Result<Vec<String>, CodedError> {
    let maps = std::fs::read_to_string("/proc/self/maps")
        .map_err(|e| CodedError::new("maps_unreadable", format!("read /proc/self/maps: {e}"), 2))?;
    let mut files: Vec<String> = maps
        .lines()
        .filter_map(|line| line.splitn(6, ' ').nth(5))
        .map(|path| path.trim())
        .filter(|path| path.starts_with('/'))
        .map(|path| path.strip_suffix(" (deleted)").unwrap_or(path).to_owned())
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
}

fn handoff_drain(args: &DrainArgs, config: &config::Config) -> Result<Reply, CodedError> {
    let options = DrainOptions {
        budget: match args.budget {
            BudgetArg::Auto => Budget::Auto,
            BudgetArg::ActiveSafe => Budget::ActiveSafe,
            BudgetArg::IdleMax => Budget::IdleMax,
        },
        activity_signal: args
            .activity_signal
            .clone()
            .or_else(|| config.activity_signal.clone()),
        fresh_seconds: config.fresh_seconds,
        include_marked: args.include_marked,
        fail_fast: args.fail_fast,
        ingest: configured_ingest(config),
        cores: cores(),
    };
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut on_event = |event: DrainEvent<'_>| match event {
        DrainEvent::Started { handoffs } => {
            if io::IsTerminal::is_terminal(&io::stderr()) {
                let progress = indicatif::ProgressBar::new(handoffs as u64);
                progress.set_style(
                    indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} handoffs {msg}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar = Some(progress);
            }
        }
        DrainEvent::Finished { name, status } => {
            if let Some(progress) = &bar {
                progress.set_message(format!("{name}: {status:?}"));
                progress.inc(1);
            }
        }
    };
    let report = drain(
        &args.spool_root,
        &DataRoot::new(&args.data_dir),
        &options,
        &SystemClock,
        &mut on_event,
    )
    .map_err(|e| match e {
        autocapture_core::stage1::drain::DrainError::Ingest(inner) => ingest_error(inner),
        placement @ autocapture_core::stage1::drain::DrainError::Placement(_) => {
            CodedError::new(placement.code(), format!("failed to drain: {placement}"), 1)
        }
        other => CodedError::new(other.code(), format!("failed to drain: {other}"), 2),
    })?;
    if let Some(progress) = bar {
        progress.finish_and_clear();
    }
    let ok = report.state != DrainState::Failed;
    let mut document =
        serde_json::to_value(&report).map_err(|e| CodedError::new("internal", e.to_string(), 2))?;
    document["ok"] = json!(ok);
    let t = &report.totals;
    let mut human = format!(
        "drain {:?}: {} handoffs: {} ingested, {} skipped (marked), {} marked for another data dir, {} failed, {} not run; {} symlinks skipped; activity: {} ({})\n",
        report.state,
        t.handoffs,
        t.ingested,
        t.skipped_marked,
        t.marked_elsewhere,
        t.failed,
        t.not_run,
        t.skipped_symlinks,
        report.activity.reason,
        report.activity.detail
    );
    for outcome in &report.handoffs {
        if outcome.status == HandoffStatus::Failed
            && let Some(error) = &outcome.error
        {
            human.push_str(&format!(
                "  {}: error[{}]: {}\n",
                outcome.name, error.code, error.message
            ));
        }
        if let Some(other) = &outcome.marked_for {
            human.push_str(&format!(
                "  {}: marked for another data dir, {other}; --include-marked ingests it here\n",
                outcome.name
            ));
        }
        if outcome.status == HandoffStatus::SkippedSymlink {
            human.push_str(&format!(
                "  {}: a symlink in the spool, not followed\n",
                outcome.name
            ));
        }
    }
    Ok(Reply {
        ok,
        json: document,
        human,
    })
}

fn require_data_dir(data_dir: &std::path::Path) -> Result<(), CodedError> {
    if data_dir.join("metadata.db").is_file() {
        Ok(())
    } else {
        Err(CodedError::new(
            "data_dir_missing",
            format!("{} holds no DataRoot (no metadata.db)", data_dir.display()),
            2,
        ))
    }
}

fn stage2_run(
    data_dir: PathBuf,
    activity_signal: Option<PathBuf>,
    config: &config::Config,
) -> Result<Reply, CodedError> {
    require_data_dir(&data_dir)?;
    let options = Stage2Options {
        activity_signal: activity_signal.or_else(|| config.activity_signal.clone()),
        fresh_seconds: config.fresh_seconds,
    };
    let report = run_stage2(&DataRoot::new(&data_dir), &options, &SystemClock).map_err(|e| {
        // Every Stage-2 failure is the environment's (the lock, the store), not bad input.
        CodedError::new(e.code(), format!("failed to run stage 2: {e}"), 2)
    })?;
    let mut document =
        serde_json::to_value(&report).map_err(|e| CodedError::new("internal", e.to_string(), 2))?;
    document["ok"] = json!(true);
    let human = format!(
        "stage 2 {:?}: {} frames processed, {} docs indexed; {} searchable, {} pending; activity {} ({}); {:.0} frames/s",
        report.state,
        report.frames_processed,
        report.docs_indexed,
        report.frames_searchable,
        report.frames_pending,
        report.activity.reason,
        report.activity.detail,
        report.frames_per_s
    );
    Ok(Reply {
        ok: true,
        json: document,
        human,
    })
}

fn stage1_audit(data_dir: PathBuf) -> Result<Reply, CodedError> {
    require_data_dir(&data_dir)?;
    let report = completeness::audit(&DataRoot::new(&data_dir)).map_err(|e| {
        CodedError::new(
            "data_root_store_error",
            format!("failed to audit {}: {e}", data_dir.display()),
            2,
        )
    })?;
    let mut document =
        serde_json::to_value(&report).map_err(|e| CodedError::new("internal", e.to_string(), 2))?;
    document["ok"] = json!(true);
    let blocked: Vec<String> = report
        .blocked
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let human = format!(
        "{} frames, {} queryable in {} windows; blocked: {}",
        report.frames_total,
        report.frames_queryable,
        report.windows_total,
        if blocked.is_empty() {
            "none".to_owned()
        } else {
            blocked.join(", ")
        }
    );
    Ok(Reply {
        ok: true,
        json: document,
        human,
    })
}

fn query(args: &QueryArgs, config: &config::Config) -> Result<Reply, CodedError> {
    let started = std::time::Instant::now();
    let handle = QueryHandle::open(&DataRoot::new(&args.data_dir))
        .map_err(|e| CodedError::new(e.code(), format!("failed to open: {e}"), 2))?;
    let text = args.query.join(" ");
    let answer = query::answer(
        &handle,
        &text,
        &QueryOptions {
            max_citations: args.max_citations.unwrap_or(config.max_citations_default),
        },
    )
    .map_err(|e| {
        let mut error = CodedError::new(e.code(), format!("failed to answer: {e}"), 1);
        if let query::engine::QueryError::Syntax(syntax) = &e {
            error.extra = json!({"position": syntax.position});
        }
        error
    })?;
    let document = answer.to_popup(started.elapsed().as_millis() as u64);
    let mut human = format!(
        "[{}] {}\n",
        serde_json::to_value(answer.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        answer.summary
    );
    for bullet in &answer.bullets {
        human.push_str(&format!("  - {bullet}\n"));
    }
    for c in &answer.citations {
        human.push_str(&format!(
            "  [{}.{}] {} {}{}\n",
            c.claim_index,
            c.citation_index,
            c.record_type,
            c.record_id,
            c.bbox.map(|b| format!(" bbox {b:?}")).unwrap_or_default()
        ));
    }
    if let Some(missing) = &answer.not_available {
        human.push_str(&format!(
            "  missing: {}; newest processed: {}; run: {}\n",
            missing.missing,
            missing.newest_processed_ts_utc.as_deref().unwrap_or("none"),
            missing.how_to_produce
        ));
    }
    Ok(Reply {
        ok: true,
        json: document,
        human,
    })
}

fn serve(
    data_dir: PathBuf,
    bind: Option<&str>,
    config: &config::Config,
) -> Result<Reply, CodedError> {
    use autocapture_core::server::{BoundServer, ServerError};
    let bind = bind.unwrap_or(&config.bind);
    // Refuse a non-loopback bind before touching anything (fail-closed, exit 1).
    autocapture_core::server::check_bind(bind)
        .map_err(|e| CodedError::new(e.code(), format!("failed to start: {e}"), 1))?;
    require_data_dir(&data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CodedError::new("runtime_failed", format!("failed to start: {e}"), 2))?;
    let data_root = DataRoot::new(&data_dir);
    let result: Result<(), ServerError> = runtime.block_on(async {
        let server =
            BoundServer::bind(&data_root, bind, config.popup_timeout, &SystemClock).await?;
        eprintln!(
            "autocapture: serving http://{} (token in {})",
            server.addr,
            data_dir
                .join(autocapture_core::server::TOKEN_FILE)
                .display()
        );
        server
            .run(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    });
    result.map_err(|e| {
        let exit = if matches!(e, ServerError::BindRefused { .. }) {
            1
        } else {
            2
        };
        CodedError::new(e.code(), format!("failed to serve: {e}"), exit)
    })?;
    Ok(Reply {
        ok: true,
        json: json!({"ok": true}),
        human: String::new(),
    })
}

fn contract_show() -> Result<Reply, CodedError> {
    let identity =
        ContractIdentity::embedded().map_err(|e| CodedError::new(e.code(), e.to_string(), 2))?;
    Ok(Reply {
        ok: true,
        json: json!({"ok": true, "contract_version": identity.contract_version, "schema_hash": identity.schema_hash}),
        human: format!(
            "contract_version {}\nschema_hash {}",
            identity.contract_version, identity.schema_hash
        ),
    })
}

fn audit_verify(data_dir: PathBuf) -> Result<Reply, CodedError> {
    if !data_dir.is_dir() {
        return Err(CodedError::new(
            "data_dir_missing",
            format!("data dir {} is not a directory", data_dir.display()),
            2,
        ));
    }
    match audit::AuditLog::in_data_root(&data_dir).verify() {
        Ok(head) => Ok(Reply {
            ok: true,
            json: json!({"ok": true, "lines": head.lines, "last_hash": head.last_hash}),
            human: format!(
                "audit ok: {} lines, head {}",
                head.lines,
                head.last_hash.as_deref().unwrap_or("(empty)")
            ),
        }),
        Err(audit::AuditError::Broken {
            path,
            line,
            kind,
            detail,
        }) => {
            let mut error = CodedError::new(
                kind.code(),
                format!(
                    "audit log {} is broken at line {line}: {detail}",
                    path.display()
                ),
                1,
            );
            error.extra = json!({"path": path, "line": line});
            Err(error)
        }
        Err(e) => Err(CodedError::new(
            e.code(),
            format!("failed to verify audit log: {e}"),
            2,
        )),
    }
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
