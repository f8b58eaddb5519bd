//! The `autocapture` command line, shared by the `autocapture` and `autocapture-prime` binaries
//! so both run the same code path. One place ([`run`]) maps outcomes to exit codes:
//! 0 ok, 1 operation failed, 2 usage or environment error.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use autocapture_core::audit;
use autocapture_core::contract::ContractIdentity;
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(
    name = "autocapture",
    version,
    about = "Stage-1 ingest, Stage 2, read-only query and the popup server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The contract this build implements.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// The DataRoot's audit log of privileged actions.
    #[command(subcommand)]
    Audit(AuditCommand),
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

/// How a command ended, before it becomes an exit code.
enum Outcome {
    Ok,
    /// The operation ran and failed (bad input, broken log): exit 1.
    Failed,
}

/// An error with the stable code reported in `--json` mode.
struct CodedError {
    code: &'static str,
    error: anyhow::Error,
    exit: u8,
}

/// Runs the CLI with `argv`; `program` names the binary in messages.
pub fn run(program: &str) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let exit = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(exit);
        }
    };
    let json_mode = match &cli.command {
        Command::Contract(ContractCommand::Show { json }) => *json,
        Command::Audit(AuditCommand::Verify { json, .. }) => *json,
    };
    match dispatch(cli.command) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(coded) => {
            if json_mode {
                emit_json(&json!({
                    "ok": false,
                    "error": {"code": coded.code, "message": format!("{:#}", coded.error)},
                }));
            } else {
                eprintln!("{program}: error[{}]: {:#}", coded.code, coded.error);
            }
            ExitCode::from(coded.exit)
        }
    }
}

fn dispatch(command: Command) -> Result<Outcome, CodedError> {
    match command {
        Command::Contract(ContractCommand::Show { json }) => {
            let identity = ContractIdentity::embedded().map_err(|e| CodedError {
                code: e.code(),
                error: anyhow::Error::new(e.clone()),
                exit: 2,
            })?;
            if json {
                emit_json(
                    &json!({"ok": true, "contract_version": identity.contract_version, "schema_hash": identity.schema_hash}),
                );
            } else {
                emit_line(&format!("contract_version {}", identity.contract_version));
                emit_line(&format!("schema_hash {}", identity.schema_hash));
            }
            Ok(Outcome::Ok)
        }
        Command::Audit(AuditCommand::Verify { data_dir, json }) => {
            if !data_dir.is_dir() {
                return Err(CodedError {
                    code: "data_dir_missing",
                    error: anyhow::anyhow!("data dir {} is not a directory", data_dir.display()),
                    exit: 2,
                });
            }
            let log = audit::AuditLog::in_data_root(&data_dir);
            match log.verify() {
                Ok(head) => {
                    if json {
                        emit_json(
                            &json!({"ok": true, "lines": head.lines, "last_hash": head.last_hash}),
                        );
                    } else {
                        emit_line(&format!(
                            "audit ok: {} lines, head {}",
                            head.lines,
                            head.last_hash.as_deref().unwrap_or("(empty)")
                        ));
                    }
                    Ok(Outcome::Ok)
                }
                Err(audit::AuditError::Broken {
                    path,
                    line,
                    kind,
                    detail,
                }) => {
                    if json {
                        emit_json(
                            &json!({"ok": false, "error": {"code": kind.code(), "message": detail, "path": path, "line": line}}),
                        );
                    } else {
                        eprintln!(
                            "audit broken at {}:{line} [{}]: {detail}",
                            path.display(),
                            kind.code()
                        );
                    }
                    Ok(Outcome::Failed)
                }
                Err(e) => Err(CodedError {
                    code: e.code(),
                    error: anyhow::Error::new(e).context("verify audit log"),
                    exit: 2,
                }),
            }
        }
    }
}

/// Writes one JSON document on stdout.
fn emit_json(value: &Value) {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{\"ok\":false}".to_owned());
    emit_line(&text);
}

/// Writes a line on stdout; a closed pipe ends the process quietly with exit 0.
fn emit_line(text: &str) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .context("write stdout")
    {
        if e.downcast_ref::<io::Error>().map(io::Error::kind) == Some(io::ErrorKind::BrokenPipe) {
            std::process::exit(0);
        }
        eprintln!("autocapture: {e:#}");
        std::process::exit(2);
    }
}
