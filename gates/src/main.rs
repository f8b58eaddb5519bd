//! `autocapture-gates`: run the gates and sign the result; contract and fixture tooling.
//! Exit codes: 0 every gate passed, 1 a gate (or a check) failed, 2 a gate errored or the harness
//! itself could not run (usage, environment).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use autocapture_core::base::clock::SystemClock;
use autocapture_core::contract::ContractIdentity;
use autocapture_gates::contract::{self, annotations, doc, lock, schemas::ContractSet};
use autocapture_gates::fixtures::generate::{GenerateOptions, generate};
use autocapture_gates::fixtures::story::Story;
use autocapture_gates::gates::{PLAN, registry};
use autocapture_gates::harness::acceptance::{self, Policy, Refusal};
use autocapture_gates::harness::gate::{GateContext, Target, Verdict};
use autocapture_gates::harness::report::{
    ReportInputs, predicate_violations, statement, test_result,
};
use autocapture_gates::harness::runner::{
    RunOptions, RunResults, RunVerdict, exit_code, run_gates,
};
use autocapture_gates::harness::sister::{SisterCheckpoint, checkpoint, default_sister_path};
use autocapture_gates::harness::{dsse, freshness, junit, keys, summary};
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "autocapture-gates",
    version,
    about = "Proves the release hard gates of autocapture and signs the result"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Run only these gates (repeatable); the order is always the registry's.
    #[arg(long = "gate")]
    gates: Vec<String>,
    /// Where the report, JUnit, summaries, corpus and work files go.
    #[arg(long, default_value = "out/gates")]
    out: PathBuf,
    /// Ed25519 key file (see `keygen`); else $AUTOCAPTURE_GATES_SIGNING_KEY; else a throwaway key
    /// and the report says dev-signed.
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// The system under test for the query gates: `embedded` or a popup URL on loopback.
    #[arg(long, default_value = "embedded")]
    target: String,
    /// Worker threads for the gates that use them.
    #[arg(long)]
    jobs: Option<usize>,
    /// Run each gate N times; any difference in verdict or figures fails it.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Seed of the generated corpus.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Frames in the generated corpus.
    #[arg(long, default_value_t = 2400)]
    frames: u64,
    /// The deployment profile the `sla` gate judges (default fixtures/sla/deployment.json).
    #[arg(long)]
    sla_input: Option<PathBuf>,
    /// The processing trace the `sla` gate calibrates the deployment with (default: the trace the
    /// profile names).
    #[arg(long)]
    sla_trace: Option<PathBuf>,
    /// Slow mode: gates with a long form run it (the hostile gate fuzzes for a fixed budget).
    #[arg(long)]
    slow: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gates on the embedded default corpus; write report.json, report.dsse.json,
    /// junit.xml, summary.md and summary.html; print a table.
    Run(RunArgs),
    /// List the gates in run order with what each proves.
    List,
    /// Write an Ed25519 key pair: F (private, mode 0600) and F.pub.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a signed report: exit 0 only for a report signed by a trusted key, whose verdict is
    /// pass, that covers every gate of the plan and is not dev-signed; each refusal has its own
    /// code word and exit code (docs/release-gates.md). With the expectations, also refuse a
    /// validly signed older report presented as the current one (replay).
    Verify {
        /// The signed report (`report.dsse.json`).
        envelope: PathBuf,
        /// A trusted public key: PEM (SubjectPublicKeyInfo) or a key file from `keygen`
        /// (repeatable; every key is tried, the envelope's keyid is only a hint).
        #[arg(long = "public-key", required = true)]
        public_keys: Vec<PathBuf>,
        /// Accept a report that does not cover every gate (a run with --gate); says so.
        #[arg(long)]
        allow_partial: bool,
        /// Accept a report signed with a throwaway key (a run without a key); says so.
        #[arg(long)]
        allow_dev_signed: bool,
        /// The git commit the report must be about.
        #[arg(long)]
        expect_commit: Option<String>,
        /// The run id the report must carry (`predicate.run_id`).
        #[arg(long)]
        expect_run_id: Option<String>,
        /// The run must have finished at or after this ISO-8601 UTC time.
        #[arg(long)]
        not_before: Option<String>,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Release signoff: run every gate, record the Hypervisor checkpoint from its sister
    /// document, and fail unless it matches our contract and every gate passes.
    Signoff {
        /// The sister document (default contracts/sister/hypervisor.lock.json).
        #[arg(long)]
        sister: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        signing_key: Option<PathBuf>,
    },
    /// Contract tooling: lock, generated doc, checks.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// Fixture corpus tooling.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// Measurements.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run an SQL script from stdin against a database with the bundled SQLite (the ingest
    /// benchmark's floor where the sqlite3 CLI is not installed).
    #[command(hide = true)]
    Sql {
        #[arg(long)]
        db: PathBuf,
    },
    /// Run one program as this process's only child and print its peak RSS and CPU time as
    /// JSON (used by the budget gate).
    #[command(hide = true)]
    Measure {
        /// RLIMIT_AS of the child, in MiB.
        #[arg(long)]
        as_mib: Option<u64>,
        /// RLIMIT_FSIZE of the child, in bytes.
        #[arg(long)]
        fsize_bytes: Option<u64>,
        /// Kill the child after this many milliseconds.
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// A folder the child sees read-only (a private read-only bind mount).
        #[arg(long)]
        read_only: Vec<PathBuf>,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<std::ffi::OsString>,
    },
    /// The retention SLA estimator.
    #[command(subcommand)]
    Sla(SlaCommand),
    /// Accelerated multi-day replay: handoffs land on a schedule, the real drain, Stage 2 (under
    /// a scripted activity schedule) and queries run, and the observed burn-down is compared
    /// with the estimator's projection.
    Soak {
        /// Simulated days.
        #[arg(long, default_value_t = 1)]
        days: u32,
        /// Simulated seconds per wall second.
        #[arg(long, default_value_t = 2880.0)]
        speedup: f64,
        /// Stop after this many wall minutes (the comparison covers the span reached).
        #[arg(long)]
        minutes: Option<f64>,
        /// Frames captured per simulated workday.
        #[arg(long, default_value_t = 240)]
        frames_per_day: u64,
        /// Where the spool, DataRoot, projection and chart go.
        #[arg(long, default_value = "out/soak")]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The property and fuzz runs of the hostile suite: seeded generated inputs through every
    /// parser target, the committed fuzz seeds and regressions replayed, and with --slow a
    /// `cargo fuzz` run of --seconds per target. Exit 0 all clean, 1 a case failed.
    Fuzz {
        /// Also run `cargo fuzz` on each target (and ten times the property inputs).
        #[arg(long)]
        slow: bool,
        /// Seconds of `cargo fuzz` per target in slow mode.
        #[arg(long, default_value_t = autocapture_gates::hostile::fuzz::SLOW_SECONDS_PER_TARGET)]
        seconds: u64,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Work folder (fixtures, kept failing inputs, libFuzzer logs and corpora).
        #[arg(long, default_value = "target/hostile-fuzz")]
        out: PathBuf,
        /// One JSON document (the cases) on stdout.
        #[arg(long)]
        json: bool,
    },
    /// The strict golden Q40 on a generated corpus: each case asked 3 times on the target,
    /// evaluated strictly; writes golden-report.json into --out and prints a table.
    Golden(GoldenArgs),
}

#[derive(Debug, Subcommand)]
enum SlaCommand {
    /// Judge an inputs document (schema contracts/sla-input.schema.json); exit 0 pass, 1 fail or
    /// bad input.
    Estimate {
        #[arg(long)]
        input: PathBuf,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
        /// The instant to project from when the document has no now_utc (default: the clock).
        #[arg(long)]
        now: Option<String>,
        /// Also write the burn-down chart here.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct GoldenArgs {
    /// The case file (templates instantiated from the corpus's truth.json); default the built-in
    /// fixtures/golden/q40.toml.
    #[arg(long)]
    cases: Option<PathBuf>,
    /// `embedded` (a DataRoot built here) or a popup URL on loopback serving the same corpus.
    #[arg(long, default_value = "embedded")]
    target: String,
    /// Seed of the generated corpus.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Frames in the generated corpus.
    #[arg(long, default_value_t = 2400)]
    frames: u64,
    /// Runs of each case (strict mode requires 3).
    #[arg(long, default_value_t = autocapture_gates::golden::run::REPRO_RUNS)]
    repro: usize,
    /// Where the corpus, the DataRoot and golden-report.json go (must not hold a corpus yet).
    #[arg(long, default_value = "out/golden")]
    out: PathBuf,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Stage-1 ingest against the raw floor (sqlite3 ATTACH + INSERT, cp -al, sha256sum) on one
    /// generated handoff, alternating runs; medians, the ratio, a re-ingest and our peak RSS.
    Ingest {
        #[arg(long, default_value_t = 100_000)]
        frames: u64,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Where the handoff (kept between runs) and the outputs go; default
        /// target/bench-cache/ingest-f<N>-s<seed>.
        #[arg(long)]
        work: Option<PathBuf>,
        /// Print JSON only.
        #[arg(long)]
        json: bool,
    },
    /// Query latency p50/p95/p99 per intent, on an indexed DataRoot or on a generated one of N
    /// frames (built through the real ingest and Stage 2 once, then cached).
    Query {
        /// An existing DataRoot (indexed).
        #[arg(long, conflicts_with = "frames", required_unless_present = "frames")]
        data_dir: Option<PathBuf>,
        /// Frames of the generated DataRoot.
        #[arg(long)]
        frames: Option<u64>,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Where generated DataRoots are cached.
        #[arg(long, default_value = "target/bench-cache")]
        cache: PathBuf,
        #[arg(long, default_value_t = 20)]
        repeat: usize,
    },
}

#[derive(Debug, Subcommand)]
enum ContractCommand {
    /// Rewrite contracts/contract.lock.json from the files (or, with --check, fail when stale).
    Lock {
        #[arg(long)]
        check: bool,
    },
    /// Regenerate the field tables of docs/handoff-stage1-contract.md (or, with --check, fail
    /// when stale).
    Doc {
        #[arg(long)]
        check: bool,
    },
    /// Schemas valid, annotations complete, lock and doc fresh; the Hypervisor's sister document
    /// (JSON, or Markdown with the pair in front matter or a table) names our contract_version
    /// and schema_hash.
    Check {
        /// The sister document (default contracts/sister/hypervisor.lock.json).
        #[arg(long)]
        sister: Option<PathBuf>,
    },
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

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match dispatch(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("autocapture-gates: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::List => {
            let built: Vec<&str> = registry().iter().map(|g| g.name()).collect();
            for (name, proves) in PLAN {
                let state = if built.contains(name) {
                    ""
                } else {
                    " (not built)"
                };
                println!("{name:<15} {proves}{state}");
            }
            Ok(0)
        }
        Command::Run(args) => run(&args, None),
        Command::Signoff {
            sister,
            out,
            signing_key,
        } => {
            let args = RunArgs {
                gates: Vec::new(),
                out,
                signing_key,
                target: "embedded".into(),
                jobs: None,
                repeat: 1,
                seed: 7,
                frames: 2400,
                sla_input: None,
                sla_trace: None,
                slow: false,
            };
            run(
                &args,
                Some(checkpoint(&sister.map_or_else(default_sister_path, Ok)?)?),
            )
        }
        Command::Keygen { out } => {
            let (public, key) = keys::keygen(&out)?;
            println!(
                "wrote {} and {} (keyid {})",
                out.display(),
                public.display(),
                keys::keyid(&key)
            );
            Ok(0)
        }
        Command::Verify {
            envelope,
            public_keys,
            allow_partial,
            allow_dev_signed,
            expect_commit,
            expect_run_id,
            not_before,
            json,
        } => {
            let policy = not_before
                .as_deref()
                .map(autocapture_core::contract::parse_ts_utc)
                .transpose()
                .map(|not_before| Policy {
                    allow_partial,
                    allow_dev_signed,
                    expect: freshness::Expectations {
                        commit: expect_commit,
                        run_id: expect_run_id,
                        not_before,
                    },
                })
                .map_err(|e| Refusal::Usage(format!("--not-before: {e}")));
            Ok(verify(&envelope, &public_keys, policy, json))
        }
        Command::Sql { db } => {
            let mut script = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut script)?;
            rusqlite::Connection::open(&db)?.execute_batch(&script)?;
            Ok(0)
        }
        Command::Measure {
            as_mib,
            fsize_bytes,
            timeout_ms,
            read_only,
            command,
        } => {
            let limits = autocapture_gates::measure::Limits {
                address_space_mib: as_mib,
                file_size_bytes: fsize_bytes,
                timeout_ms,
                read_only,
            };
            let measured =
                autocapture_gates::measure::run_limited(&command[0], &command[1..], &limits)?;
            println!("{}", serde_json::to_string(&measured)?);
            Ok(0)
        }
        Command::Bench(BenchCommand::Ingest {
            frames,
            runs,
            seed,
            work,
            json,
        }) => {
            let harness = std::env::current_exe()?;
            let options = autocapture_gates::bench::ingest::IngestBenchOptions {
                frames,
                runs,
                seed,
                work: work.unwrap_or_else(|| {
                    PathBuf::from(format!("target/bench-cache/ingest-f{frames}-s{seed}"))
                }),
                autocapture: autocapture_gates::harness::bins::autocapture_beside(&harness)?,
                harness,
            };
            let b = autocapture_gates::bench::ingest::bench_ingest(&options)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&b)?);
            } else {
                let list = |v: &[f64]| {
                    v.iter()
                        .map(|x| format!("{x:.3}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                println!(
                    "handoff: {} frames, {} rows, {} media files; floor SQL by {}",
                    b.frames, b.rows, b.media_files, b.floor_sql_engine
                );
                println!("floor runs (s): {}", list(&b.floor_runs_s));
                println!("ours runs (s):  {}", list(&b.ours_runs_s));
                println!(
                    "median floor {:.3} s, median ours {:.3} s, ratio ours/floor {:.2} (target <= 1.50)",
                    b.floor_median_s, b.ours_median_s, b.ratio
                );
                println!(
                    "ours: {:.0} rows/s, {:.0} media files/s, peak RSS {:.1} MiB",
                    b.rows_per_s, b.media_files_per_s, b.peak_rss_mib
                );
                println!(
                    "re-ingest {:.3} s = {:.1}% of the ingest (target <= 5%), from the ledger: {}",
                    b.reingest_s,
                    100.0 * b.reingest_ratio,
                    b.reingest_unchanged
                );
            }
            Ok(0)
        }
        Command::Bench(BenchCommand::Query {
            data_dir,
            frames,
            seed,
            cache,
            repeat,
        }) => {
            let data_dir = match (data_dir, frames) {
                (Some(dir), _) => dir,
                (None, Some(frames)) => {
                    autocapture_gates::bench::cached_data_root(&cache, seed, frames)?.root
                }
                (None, None) => anyhow::bail!("give --data-dir or --frames"),
            };
            let report = autocapture_gates::bench::bench_queries(&data_dir, repeat)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(0)
        }
        Command::Sla(SlaCommand::Estimate {
            input,
            json,
            now,
            svg,
        }) => sla_estimate(&input, json, now.as_deref(), svg.as_deref()),
        Command::Soak {
            days,
            speedup,
            minutes,
            frames_per_day,
            out,
            json,
        } => {
            let report =
                autocapture_gates::sla::soak::soak(&autocapture_gates::sla::soak::SoakOptions {
                    days,
                    speedup,
                    wall_minutes: minutes,
                    frames_per_day,
                    out,
                    seed: 7,
                    plant_always_active: false,
                })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.describe());
            }
            Ok(if report.passed() { 0 } else { 1 })
        }
        Command::Golden(args) => golden(&args),
        Command::Fuzz {
            slow,
            seconds,
            seed,
            out,
            json,
        } => fuzz_runs(slow, seconds, seed, &out, json),
        Command::Contract(ContractCommand::Lock { check }) => contract_lock(check),
        Command::Contract(ContractCommand::Doc { check }) => contract_doc(check),
        Command::Contract(ContractCommand::Check { sister }) => {
            let mut problems = contract_problems()?;
            let path = sister.map_or_else(default_sister_path, Ok)?;
            let sister = checkpoint(&path)?;
            if !sister.matches {
                problems.push(sister_mismatch(&sister)?);
            }
            for problem in &problems {
                eprintln!("{problem}");
            }
            if problems.is_empty() {
                println!("contract ok");
            }
            Ok(if problems.is_empty() { 0 } else { 1 })
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
            Ok(0)
        }
    }
}

/// `sla estimate`: the verdict (exit 0 pass, 1 fail), or a bad input's code (exit 1).
fn sla_estimate(
    input: &Path,
    json: bool,
    now: Option<&str>,
    svg: Option<&Path>,
) -> anyhow::Result<u8> {
    use autocapture_gates::sla::{chart, estimate, inputs};
    let inputs = match inputs::load_inputs(input) {
        Ok(inputs) => inputs,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": {"code": e.code(), "message": e.to_string()}})
                );
            } else {
                eprintln!("autocapture-gates: sla estimate failed [{}]: {e}", e.code());
            }
            return Ok(1);
        }
    };
    let now = match now {
        Some(text) => autocapture_core::contract::parse_ts_utc(text)
            .map_err(|e| anyhow::anyhow!("--now {text:?}: {e}"))?,
        None => time::OffsetDateTime::now_utc(),
    };
    let estimate = estimate::estimate(&inputs, now, svg.is_some());
    if let Some(path) = svg {
        let title = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let drawing = chart::burn_down_svg(&title, &estimate).context("no series to chart")?;
        std::fs::write(path, drawing).with_context(|| format!("write {}", path.display()))?;
    }
    let estimate = estimate::Estimate {
        series: None,
        ..estimate
    };
    if json {
        let mut value = serde_json::to_value(&estimate)?;
        value["ok"] = serde_json::Value::Bool(true);
        println!("{value}");
    } else {
        print!("{}", autocapture_gates::sla::estimate::describe(&estimate));
    }
    Ok(match estimate.verdict {
        estimate::SlaVerdict::Pass => 0,
        estimate::SlaVerdict::Fail => 1,
    })
}

fn golden(args: &GoldenArgs) -> anyhow::Result<u8> {
    use autocapture_gates::fixtures::build;
    use autocapture_gates::golden::run::run_golden;
    let target = Target::parse(&args.target).map_err(anyhow::Error::msg)?;
    let case_text = match &args.cases {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("read the case file {}", path.display()))?,
        None => autocapture_gates::golden::run::DEFAULT_CASES.to_owned(),
    };
    std::fs::create_dir_all(&args.out)?;
    let (data, truth) = match target {
        Target::Embedded => {
            let (data, truth) = build::indexed(&args.out, args.seed, args.frames, 3)?;
            (Some(data), truth)
        }
        Target::Url(_) => {
            let (spool, _) = build::spool(&args.out, args.seed, args.frames, 3)?;
            (None, build::truth(&spool)?)
        }
    };
    let (report, errors) = run_golden(&case_text, &truth, &target, data.as_ref(), args.repro)?;
    for error in &errors {
        eprintln!("autocapture-gates: golden: {error}");
    }
    let path = args.out.join("golden-report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")?;
    print!("{}", report.table());
    println!("report: {}", path.display());
    Ok(if report.passed { 0 } else { 1 })
}

fn sister_mismatch(sister: &SisterCheckpoint) -> anyhow::Result<String> {
    let ours = ContractIdentity::embedded()?;
    Ok(format!(
        "the Hypervisor's sister document has contract_version {} and schema_hash {}; ours are {} and {}",
        sister.contract_version, sister.schema_hash, ours.contract_version, ours.schema_hash
    ))
}

fn run(args: &RunArgs, sister: Option<SisterCheckpoint>) -> anyhow::Result<u8> {
    let target = Target::parse(&args.target).map_err(anyhow::Error::msg)?;
    // Usage problems first, before any building or generating.
    autocapture_gates::harness::runner::select(&registry(), &args.gates)?;
    let harness_bin = std::env::current_exe()?;
    let bin = autocapture_gates::harness::bins::autocapture_beside(&harness_bin)?;
    let (key, dev_signed) = keys::resolve(args.signing_key.as_deref())?;
    let options = RunOptions {
        out: args.out.clone(),
        select: args.gates.clone(),
        target: target.clone(),
        jobs: args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1)
        }),
        repeat: args.repeat,
        seed: args.seed,
        frames: args.frames,
        handoffs: 3,
        autocapture_bin: Some(bin.clone()),
        harness_bin: Some(harness_bin.clone()),
        sla_input: args.sla_input.clone(),
        sla_trace: args.sla_trace.clone(),
        slow: args.slow,
    };
    let results = run_gates(&registry(), &options, &SystemClock)?;
    let contracts_dir = contract::default_contracts_dir()?;
    let statement = statement(&ReportInputs {
        results: &results,
        target: &target,
        dev_signed,
        autocapture_bin: Some(&bin),
        contracts_dir: &contracts_dir,
        workspace_root: &contract::workspace_root()?,
        sister: sister.as_ref(),
    })?;
    // The harness checks its own report against the predicate schema before signing it.
    let violations = predicate_violations(&statement["predicate"])?;
    anyhow::ensure!(
        violations.is_empty(),
        "the report does not validate against its schema: {violations:?}"
    );
    let out = &args.out;
    let body = serde_json::to_vec_pretty(&statement)?;
    write_signed(out, "report", &body, &key)?;
    let test_result = serde_json::to_vec_pretty(&test_result(&statement, &body, &results))?;
    write_signed(out, "test-result", &test_result, &key)?;
    let public = out.join("signing-key.pub.json");
    keys::write_public(&public, &key.verifying_key())?;
    keys::write_public_pem(&out.join("signing-key.pub.pem"), &key.verifying_key())?;
    std::fs::write(out.join("junit.xml"), junit::render(&results)?)?;
    std::fs::write(
        out.join("summary.md"),
        summary::markdown(&results, dev_signed),
    )?;
    std::fs::write(
        out.join("summary.html"),
        summary::html(&results, dev_signed),
    )?;
    print_table(&results, out, dev_signed);
    let mut code = exit_code(results.verdict());
    if let Some(sister) = &sister {
        if sister.matches {
            println!(
                "Hypervisor checkpoint: contract_version {} and schema_hash {} match",
                sister.contract_version, sister.schema_hash
            );
        } else {
            eprintln!("signoff refused: {}", sister_mismatch(sister)?);
            code = code.max(1);
        }
        let ran: Vec<&str> = results
            .gates
            .iter()
            .filter(|g| g.verdict != Verdict::Skipped)
            .map(|g| g.name.as_str())
            .collect();
        let uncovered: Vec<&str> = PLAN
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| !ran.contains(name))
            .collect();
        if !uncovered.is_empty() {
            eprintln!(
                "signoff refused: release gates that did not run: {}",
                uncovered.join(", ")
            );
            code = code.max(1);
        }
        if dev_signed {
            eprintln!(
                "signoff refused: no release key (--signing-key or ${}); a dev-signed report signs off nothing",
                keys::KEY_ENV
            );
            code = code.max(1);
        }
    }
    Ok(code)
}

/// Writes `NAME.json` (the Statement) and `NAME.dsse.json` (its DSSE envelope) into `out`.
fn write_signed(
    out: &Path,
    name: &str,
    body: &[u8],
    key: &ed25519_dalek::SigningKey,
) -> anyhow::Result<()> {
    let path = out.join(format!("{name}.json"));
    std::fs::write(&path, [body, b"\n"].concat())
        .with_context(|| format!("write {}", path.display()))?;
    let path = out.join(format!("{name}.dsse.json"));
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&dsse::sign(body, key))? + "\n",
    )
    .with_context(|| format!("write {}", path.display()))
}

fn print_table(results: &RunResults, out: &Path, dev_signed: bool) {
    println!(
        "{:<15} {:<8} {:>7} {:>8}  figures",
        "gate", "verdict", "checks", "ms"
    );
    for g in &results.gates {
        let passed = g.checks.iter().filter(|c| c.passed).count();
        let figures: Vec<String> = g
            .measurements
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "{:<15} {:<8} {:>3}/{:<3} {:>8}  {}",
            g.name,
            g.verdict.as_str(),
            passed,
            g.checks.len(),
            g.duration_ms,
            figures.join(" ")
        );
        if matches!(g.verdict, Verdict::Fail | Verdict::Error) {
            for e in &g.evidence {
                println!("    {}: {}", e.check, e.describe());
            }
        }
    }
    println!(
        "\nverdict {}; {} gates: {} pass, {} fail, {} error, {} skipped; outputs in {}{}",
        results.verdict().as_str(),
        results.gates.len(),
        results.count(Verdict::Pass),
        results.count(Verdict::Fail),
        results.count(Verdict::Error),
        results.count(Verdict::Skipped),
        out.display(),
        if dev_signed {
            " (dev-signed with a throwaway key)"
        } else {
            ""
        }
    );
    if results.verdict() == RunVerdict::Partial {
        println!(
            "partial: only the selected gates ran; the report is not a release pass (verify refuses it without --allow-partial)"
        );
    }
}

/// `verify`: the decision of [`acceptance::check`], printed for people or as JSON.
fn verify(
    envelope: &Path,
    public_keys: &[PathBuf],
    policy: Result<Policy, Refusal>,
    json: bool,
) -> u8 {
    let decision = policy.and_then(|policy| {
        let keys = public_keys
            .iter()
            .map(|path| keys::load_public(path))
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(|e| Refusal::Usage(format!("{e:#}")))?;
        let bytes = std::fs::read(envelope)
            .map_err(|e| Refusal::Usage(format!("read {}: {e}", envelope.display())))?;
        let plan: Vec<&str> = PLAN.iter().map(|(name, _)| *name).collect();
        acceptance::check(&bytes, &keys, &policy, &plan)
    });
    match decision {
        Ok(accepted) if json => {
            println!("{}", accepted.to_json());
            acceptance::exit::VERIFIED
        }
        Ok(accepted) => {
            println!("{}", accepted.describe());
            acceptance::exit::VERIFIED
        }
        Err(refusal) => {
            if json {
                println!("{}", acceptance::refusal_json(&refusal));
            } else {
                eprintln!(
                    "autocapture-gates: verify refused [{}]: {refusal}",
                    refusal.code()
                );
            }
            refusal.exit_code()
        }
    }
}

fn contract_lock(check: bool) -> anyhow::Result<u8> {
    let dir = contract::default_contracts_dir()?;
    if check {
        let problems = lock::check(&dir)?;
        for problem in &problems {
            eprintln!("{problem}");
        }
        return Ok(if problems.is_empty() { 0 } else { 1 });
    }
    let computed = lock::compute(&dir)?;
    std::fs::write(dir.join(lock::LOCK_FILE), lock::render(&computed)?)?;
    println!(
        "contract_version {}\nschema_hash {}",
        computed.contract_version, computed.schema_hash
    );
    Ok(0)
}

fn contract_doc(check: bool) -> anyhow::Result<u8> {
    let dir = contract::default_contracts_dir()?;
    let set = ContractSet::load(&dir)?;
    let path = contract::workspace_root()?.join(doc::DOC_PATH);
    let committed =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let rendered =
        doc::regenerate(&set, &lock::compute(&dir)?, &committed).map_err(anyhow::Error::msg)?;
    if check {
        if let Some(problem) = doc::staleness(&committed, &rendered) {
            eprintln!("{problem}");
            return Ok(1);
        }
        return Ok(0);
    }
    std::fs::write(&path, rendered).with_context(|| format!("write {}", path.display()))?;
    println!("wrote {}", doc::DOC_PATH);
    Ok(0)
}

/// Schemas, annotations, lock and doc problems of the workspace's contracts.
fn contract_problems() -> anyhow::Result<Vec<String>> {
    let dir = contract::default_contracts_dir()?;
    let set = ContractSet::load(&dir)?;
    let mut problems = Vec::new();
    for doc in set.docs.values() {
        for p in annotations::check(&doc.file_name, &doc.value) {
            problems.push(format!("{}{}: {}", p.file, p.pointer, p.problem));
        }
    }
    problems.extend(lock::check(&dir)?);
    let committed = std::fs::read_to_string(contract::workspace_root()?.join(doc::DOC_PATH))
        .unwrap_or_default();
    match doc::regenerate(&set, &lock::compute(&dir)?, &committed) {
        Ok(rendered) => problems.extend(doc::staleness(&committed, &rendered)),
        Err(problem) => problems.push(problem),
    }
    Ok(problems)
}

/// `autocapture-gates fuzz`: the property and fuzz cases of the hostile suite.
fn fuzz_runs(slow: bool, seconds: u64, seed: u64, out: &Path, json: bool) -> anyhow::Result<u8> {
    use autocapture_gates::hostile::{fuzz, property};
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("clear {}", out.display()))?;
    }
    let ctx = GateContext {
        corpus: out.join("no-corpus"),
        work: out.to_path_buf(),
        target: Target::Embedded,
        seed,
        jobs: 1,
        autocapture_bin: None,
        harness_bin: None,
        sla_input: None,
        sla_trace: None,
        slow,
    };
    let mut cases = property::cases(&ctx)?;
    cases.extend(fuzz::cases_with_budget(&ctx, seconds)?);
    if json {
        println!("{}", serde_json::to_string_pretty(&cases)?);
    } else {
        for case in &cases {
            let verdict = if case.passed() { "pass" } else { "FAIL" };
            println!(
                "{verdict} {:<28} {:>9} inputs  {}",
                case.name, case.inputs, case.detail
            );
        }
    }
    Ok(if cases.iter().all(|c| c.passed()) {
        0
    } else {
        1
    })
}
