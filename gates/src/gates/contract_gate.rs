//! The `contract` gate: the schemas are valid and every property annotated, the lock, this
//! build's embedded `schema_hash`, the compatibility matrix and the generated doc all agree, and
//! everything the generated corpus holds validates against the schemas. Its `config` section is
//! the config matrix ([`crate::config_matrix`]), run with the real `autocapture` and
//! `autocapture-prime`.

use anyhow::Context;
use serde_json::json;

use crate::config_matrix::{
    COMMANDS_PATH, CONFIG_FIXTURES, HypervisorCommands, compare_binaries, env_and_flag,
    flag_positions, schema_agreement,
};

use crate::contract::{
    annotations, default_contracts_dir, doc, lock, schemas::ContractSet, workspace_root,
};
use crate::corpus::check::check_spool;
use crate::harness::gate::{Gate, GateContext, GateOutcome};
use crate::harness::sister::{checkpoint, default_sister_path};

pub struct ContractGate;

impl Gate for ContractGate {
    fn name(&self) -> &'static str {
        "contract"
    }

    /// A few seconds: ahead of the sub-second gates.
    fn weight(&self) -> u32 {
        4
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let dir = default_contracts_dir()?;
        let set = ContractSet::load(&dir)?;
        let mut outcome = GateOutcome::default();
        outcome.measure("schemas", set.docs.len() as u64);
        let problems: Vec<String> = set
            .docs
            .values()
            .flat_map(|d| annotations::check(&d.file_name, &d.value))
            .map(|p| format!("{}{}: {}", p.file, p.pointer, p.problem))
            .collect();
        outcome.check(
            "every property annotated",
            problems.is_empty(),
            problems.join("; "),
        );
        let lock_problems = lock::check(&dir)?;
        outcome.check(
            "lock, build and matrix agree",
            lock_problems.is_empty(),
            lock_problems.join("; "),
        );
        let committed =
            std::fs::read_to_string(workspace_root()?.join(doc::DOC_PATH)).unwrap_or_default();
        let doc_problem = match doc::regenerate(&set, &lock::compute(&dir)?, &committed) {
            Ok(rendered) => doc::staleness(&committed, &rendered),
            Err(problem) => Some(problem),
        };
        outcome.check(
            "contract doc fresh",
            doc_problem.is_none(),
            doc_problem.unwrap_or_default(),
        );
        let sister = checkpoint(&default_sister_path()?)?;
        outcome.measure("sister_schema_hash", sister.schema_hash.clone());
        outcome.check(
            "schema_hash equals the Hypervisor's sister document",
            sister.matches,
            format!(
                "sister has contract_version {} and schema_hash {}",
                sister.contract_version, sister.schema_hash
            ),
        );
        let report = check_spool(&set, &ctx.corpus, true)?;
        outcome.measure("corpus_rows_validated", report.rows_validated);
        outcome.measure("corpus_blobs_verified", report.blobs_verified);
        outcome.measure("corpus_signals_validated", report.signals_validated);
        outcome.check(
            "corpus validates against the schemas",
            report.problems.is_empty() && report.rows_validated == report.rows && report.rows > 0,
            report
                .problems
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
        );
        let frames = crate::corpus::copies::truth(&ctx.corpus)?["frames_total"].clone();
        outcome.check_eq(
            "every frame blob re-hashed to its content_hash",
            None,
            frames,
            json!(report.blobs_verified),
        );
        config_section(ctx, &set, &mut outcome)?;
        Ok(outcome)
    }
}

/// The config matrix, with the real binaries.
fn config_section(
    ctx: &GateContext,
    set: &ContractSet,
    outcome: &mut GateOutcome,
) -> anyhow::Result<()> {
    let bin = ctx
        .autocapture_bin
        .as_deref()
        .context("the contract gate's config matrix runs the real autocapture; none was given")?;
    let prime = bin.with_file_name("autocapture-prime");
    anyhow::ensure!(
        prime.is_file(),
        "the legacy autocapture-prime is not built beside {}",
        bin.display()
    );
    let root = workspace_root()?;
    let work = ctx.work.join("config-matrix");
    std::fs::create_dir_all(&work)?;
    let (documents, problems) = schema_agreement(set, bin, &root.join(CONFIG_FIXTURES))?;
    outcome.measure("config_fixtures_judged", documents as u64);
    outcome.check(
        "config: schema and binary agree on every config fixture",
        problems.is_empty() && documents > 0,
        problems.join("; "),
    );
    for check in env_and_flag(bin, &root.join(CONFIG_FIXTURES), &work)? {
        outcome.check(
            &format!("config: {}", check.name),
            check.passed,
            check.detail,
        );
    }
    let commands = HypervisorCommands::load(&root.join(COMMANDS_PATH))?;
    let (ran, problems) =
        compare_binaries(&commands, [bin, &prime], &ctx.corpus, &work.join("cli"))?;
    outcome.measure("config_hypervisor_commands", ran as u64);
    outcome.check(
        "config: the Hypervisor's command lines behave identically under autocapture and autocapture-prime",
        problems.is_empty(),
        problems.join("; "),
    );
    // The comparisons can fail: a planted wrong exit code and a planted disagreement are caught.
    let mut planted = commands.clone();
    planted.command.retain(|c| c.exit != 0);
    for command in &mut planted.command {
        command.exit = 0;
    }
    let (_, problems) = compare_binaries(
        &planted,
        [bin, &prime],
        &ctx.corpus,
        &work.join("planted-cli"),
    )?;
    outcome.check(
        "config: a planted wrong exit code is caught",
        !planted.command.is_empty() && problems.len() == 2 * planted.command.len(),
        format!("{problems:?}"),
    );
    let planted_dir = work.join("planted-fixtures");
    for kind in ["valid", "invalid"] {
        std::fs::create_dir_all(planted_dir.join(kind))?;
    }
    std::fs::write(
        planted_dir.join("valid/open_bind.json"),
        r#"{"server": {"bind": "0.0.0.0:8787"}}"#,
    )?;
    let (_, problems) = schema_agreement(set, bin, &planted_dir)?;
    outcome.check(
        "config: a planted schema/binary disagreement is caught",
        problems.iter().any(|p| p.contains("open_bind.json")),
        format!("{problems:?}"),
    );
    let (_, handoffs) =
        crate::corpus::copies::private_spool(&ctx.corpus, &work.join("flags-spool"))?;
    let handoff = handoffs.first().context("the corpus has no handoff")?;
    for check in flag_positions(bin, handoff, &work.join("flags"))? {
        outcome.check(
            &format!("config: {}", check.name),
            check.passed,
            check.detail,
        );
    }
    Ok(())
}
