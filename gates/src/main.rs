//! `autocapture-gates`: generate the fixture corpus, check the contract, run the gates.
//! Exit codes: 0 all passed, 1 a check failed, 2 usage or harness error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use autocapture_gates::contract::{self, annotations, doc, lock, schemas::ContractSet};
use autocapture_gates::corpus_check;
use autocapture_gates::fixtures::generate::{GenerateOptions, generate};
use autocapture_gates::fixtures::story::Story;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "autocapture-gates",
    version,
    about = "Proves the release hard gates of autocapture"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gates on the embedded default corpus and print a table.
    Run {
        /// Where the corpus and results go (default: a fresh temp dir, removed afterwards).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List the gates in run order with what each proves.
    List,
    /// Contract tooling: lock, generated doc, checks.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// Fixture corpus tooling.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
}

#[derive(Debug, Subcommand)]
enum ContractCommand {
    /// Rewrite contracts/contract.lock.json from the files (or, with --check, fail when stale).
    Lock {
        #[arg(long)]
        check: bool,
    },
    /// Regenerate docs/handoff-stage1-contract.md (or, with --check, fail when stale).
    Doc {
        #[arg(long)]
        check: bool,
    },
    /// Schemas valid, annotations complete, lock fresh, doc fresh.
    Check,
}

#[derive(Debug, Subcommand)]
enum FixturesCommand {
    /// Write a spool of handoff directories played back from the story, plus truth.json.
    Generate {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long, default_value_t = 2400)]
        frames: u64,
        #[arg(long, default_value_t = 3)]
        handoffs: u32,
        /// A story file instead of the embedded fixtures/story/workday.toml.
        #[arg(long)]
        story: Option<PathBuf>,
    },
}

/// The gates in run order: (name, what it proves, built in this harness yet).
const GATES: &[(&str, &str)] = &[
    (
        "contract",
        "schemas valid and annotated; fixtures and outputs validate; lock fresh; schema_hash matches the sister",
    ),
    (
        "features",
        "every shared .feature scenario passes against the core",
    ),
    (
        "import-guard",
        "Stage-1 code reaches no heavy module or crate",
    ),
    (
        "ingest",
        "idempotent, restartable, deterministic; marker only on success",
    ),
    (
        "crash",
        "kill at every crash point: marker implies durable data; rerun converges",
    ),
    (
        "uia",
        "metadata-first, hash-gated fallback, deterministic ids, linkage, bbox validity",
    ),
    (
        "query-readonly",
        "query handle cannot write; counters stay 0; DataRoot unchanged",
    ),
    (
        "bind",
        "non-loopback binds refused; no deletion route; token required",
    ),
    (
        "golden-q40",
        "strict 40/40, 3 identical repro runs, latency within budget",
    ),
    (
        "sla",
        "backlog clears before the 144 h reap boundary at p99 with margin",
    ),
    (
        "audit",
        "privileged actions leave a verifiable chain; tampering detected",
    ),
    (
        "budget",
        "Stage-1 peak RSS and CPU within caps; no Stage-2 work while active",
    ),
    (
        "raw-first",
        "DataRoot bytes equal the handoff's; sanitising only on export",
    ),
    (
        "hostile",
        "hostile inputs give documented codes; nothing lost; no panic",
    ),
];

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match dispatch(cli.command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("autocapture-gates: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<bool> {
    match command {
        Command::List => {
            for (name, proves) in GATES {
                println!("{name:<15} {proves}");
            }
            Ok(true)
        }
        Command::Contract(ContractCommand::Lock { check }) => contract_lock(check),
        Command::Contract(ContractCommand::Doc { check }) => contract_doc(check),
        Command::Contract(ContractCommand::Check) => {
            let problems = contract_problems()?;
            for problem in &problems {
                eprintln!("{problem}");
            }
            if problems.is_empty() {
                println!("contract ok");
            }
            Ok(problems.is_empty())
        }
        Command::Fixtures(FixturesCommand::Generate {
            out,
            seed,
            frames,
            handoffs,
            story,
        }) => {
            let story = match story {
                Some(path) => Story::load(&path)?,
                None => Story::default_story()?,
            };
            let started = Instant::now();
            let summary = generate(
                &story,
                &GenerateOptions {
                    out,
                    seed,
                    frames,
                    handoffs,
                },
            )?;
            let seconds = started.elapsed().as_secs_f64();
            println!("{}", serde_json::to_string_pretty(&summary)?);
            eprintln!(
                "generated {} frames in {seconds:.2} s ({:.0} frames/s)",
                summary.frames,
                summary.frames as f64 / seconds.max(1e-9)
            );
            Ok(true)
        }
        Command::Run { out } => run(out),
    }
}

fn contract_lock(check: bool) -> anyhow::Result<bool> {
    let dir = contract::default_contracts_dir();
    if check {
        let problems = lock::check(&dir)?;
        for problem in &problems {
            eprintln!("{problem}");
        }
        return Ok(problems.is_empty());
    }
    let computed = lock::compute(&dir)?;
    std::fs::write(dir.join(lock::LOCK_FILE), lock::render(&computed)?)?;
    println!(
        "contract_version {}\nschema_hash {}",
        computed.contract_version, computed.schema_hash
    );
    Ok(true)
}

fn contract_doc(check: bool) -> anyhow::Result<bool> {
    let dir = contract::default_contracts_dir();
    let set = ContractSet::load(&dir)?;
    let path = contract::workspace_root().join(doc::DOC_PATH);
    let committed =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let rendered =
        doc::regenerate(&set, &lock::compute(&dir)?, &committed).map_err(anyhow::Error::msg)?;
    if check {
        if let Some(problem) = doc::staleness(&committed, &rendered) {
            eprintln!("{problem}");
            return Ok(false);
        }
        return Ok(true);
    }
    std::fs::write(&path, rendered).with_context(|| format!("write {}", path.display()))?;
    println!("wrote {}", doc::DOC_PATH);
    Ok(true)
}

/// Schemas, annotations, lock and doc problems of the workspace's contracts.
fn contract_problems() -> anyhow::Result<Vec<String>> {
    let dir = contract::default_contracts_dir();
    let set = ContractSet::load(&dir)?;
    let mut problems = Vec::new();
    for doc in set.docs.values() {
        for p in annotations::check(&doc.file_name, &doc.value) {
            problems.push(format!("{}{}: {}", p.file, p.pointer, p.problem));
        }
    }
    problems.extend(lock::check(&dir)?);
    let committed =
        std::fs::read_to_string(contract::workspace_root().join(doc::DOC_PATH)).unwrap_or_default();
    match doc::regenerate(&set, &lock::compute(&dir)?, &committed) {
        Ok(rendered) => problems.extend(doc::staleness(&committed, &rendered)),
        Err(problem) => problems.push(problem),
    }
    Ok(problems)
}

/// Runs what the harness has so far on the embedded default corpus and prints a table.
fn run(out: Option<PathBuf>) -> anyhow::Result<bool> {
    let temp;
    let out = match out {
        Some(out) => out,
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let spool = out.join("corpus");
    let started = Instant::now();
    let story = Story::default_story()?;
    let summary = generate(
        &story,
        &GenerateOptions {
            out: spool.clone(),
            seed: 7,
            frames: 2400,
            handoffs: 3,
        },
    )?;
    let mut rows: Vec<(String, &str, String)> = Vec::new();
    rows.push((
        "corpus".into(),
        "pass",
        format!(
            "{} frames, {} handoffs, {} rows in {:.1} s",
            summary.frames,
            summary.handoffs,
            summary.rows,
            started.elapsed().as_secs_f64()
        ),
    ));
    let problems = contract_problems()?;
    let set = ContractSet::load(&contract::default_contracts_dir())?;
    let report = corpus_check::check_spool(&set, &spool, true)?;
    let mut all = problems;
    all.extend(report.problems.iter().cloned());
    let verdict = if all.is_empty() { "pass" } else { "fail" };
    rows.push((
        "contract".into(),
        verdict,
        if all.is_empty() {
            format!("{} schemas annotated, lock and doc fresh; {} rows and {} blobs of the corpus valid", set.docs.len(), report.rows_validated, report.blobs_verified)
        } else {
            format!("{} problems; first: {}", all.len(), all[0])
        },
    ));
    for (name, _) in GATES.iter().skip(1) {
        rows.push(((*name).into(), "not built", String::new()));
    }
    println!("{:<15} {:<10} detail", "gate", "verdict");
    for (name, verdict, detail) in &rows {
        println!("{name:<15} {verdict:<10} {detail}");
    }
    for problem in all.iter().take(20) {
        eprintln!("  {problem}");
    }
    let not_built = GATES.len() - 1;
    println!(
        "\n{not_built} of {} gates are not built yet: this run is not a release signoff.",
        GATES.len()
    );
    Ok(all.is_empty())
}
