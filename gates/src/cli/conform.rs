//! `autocapture-gates conform spool DIR`: a producer's spool (or one handoff) checked against
//! the contract without ingesting it (`crate::conform`). Exit 0 conforming, 1 findings, 2 the
//! folder is missing, unreadable or empty (`error[spool_unreadable]`, `error[spool_empty]`).

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::error::{self, CliError};
use super::exit;
use crate::conform::{self, ConformError, render};

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
    },
}

pub(super) fn conform(command: ConformCommand) -> anyhow::Result<u8> {
    match command {
        ConformCommand::Spool { dir, json, junit } => spool(&dir, json, junit.as_deref()),
    }
}

fn spool(dir: &Path, json: bool, junit: Option<&Path>) -> anyhow::Result<u8> {
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
    if let Some(path) = junit
        && let Err(e) = std::fs::write(path, render::junit(&report)?)
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
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render::table(&report));
    }
    Ok(exit::of(report.conforming))
}
