//! The command line of `autocapture-gates`: run the gates and sign the result; contract and
//! fixture tooling. Exit codes ([`exit`]): 0 every gate passed, 1 a gate (or a check) failed or
//! the input is bad, 2 a gate errored or the harness itself could not run (usage, environment).
//! Every error is printed one way ([`error`]).
//!
//! - [`release`]: `run` and `verify`. [`contracts`]: `contract …`. [`tools`]: `sla estimate`,
//!   `golden`, `fuzz`. The commands, their arguments and the dispatch are here.

mod conform;
mod contracts;
pub mod error;
mod release;
mod tools;

/// The exit codes of the command line.
pub mod exit {
    /// Every gate or check passed.
    pub const PASS: u8 = 0;
    /// A gate or a check failed.
    pub const FAIL: u8 = 1;
    /// A gate errored, or the harness could not run (usage, environment).
    pub const ERROR: u8 = 2;

    /// [`PASS`] when `passed`, else [`FAIL`].
    pub fn of(passed: bool) -> u8 {
        if passed { PASS } else { FAIL }
    }
}

use contracts::{contract_check, contract_doc, contract_lock, sister_mismatch};
use error::CliError;
use release::{run, verify};
use tools::{fuzz_runs, golden, load_story, sla_estimate};

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use crate::contract::{self, annotations, doc, lock, schemas::ContractSet};
use crate::corpus::generate::{GenerateOptions, generate};
use crate::corpus::story::Story;
use crate::gates::{PLAN, registry};
use crate::harness::acceptance::{self, Policy, Refusal};
use crate::harness::gate::{GateContext, Target, Verdict};
use crate::harness::report::{ReportInputs, predicate_violations, statement, test_result};
use crate::harness::runner::{RunOptions, RunResults, RunVerdict, exit_code, run_gates};
use crate::harness::sister::{SisterCheckpoint, checkpoint, default_sister_path};
use crate::harness::{dsse, freshness, junit, keys, summary};
use anyhow::Context;
use autocapture_core::base::clock::SystemClock;
use autocapture_core::contract::ContractIdentity;
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "autocapture-gates",
    version,
    about = "Proves the release hard gates of autocapture and signs the result",
    after_help = autocapture_core::cli::EXIT_CODES
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
    /// Where the report, its envelope, JUnit and the summaries go (the corpus and work copies:
    /// see --scratch).
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
    /// Make the corpus and the gates' work copies in a private folder inside DIR. Default: in
    /// /dev/shm when it is a RAM file system with 4 GiB free (new files cost far less there),
    /// else in --out. The report names the file system.
    #[arg(long, value_name = "DIR")]
    scratch: Option<PathBuf>,
    /// Keep the corpus and the gates' work copies after a passing run too (a failing run always
    /// keeps them, and says where).
    #[arg(long)]
    keep_work: bool,
    /// One JSON document on stdout instead of the table: the verdict, the counts, each gate's
    /// verdict, checks, time and figures, and where the outputs are.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gates on the embedded default corpus; write report.json, report.dsse.json,
    /// junit.xml, summary.md and summary.html; print a table.
    Run(RunArgs),
    /// List the gates in run order with what each proves.
    List {
        /// One JSON document: each gate's name, what it proves and whether it is built.
        #[arg(long)]
        json: bool,
    },
    /// Write an Ed25519 key pair: F (private, mode 0600) and F.pub.
    Keygen {
        /// The private key file to write (mode 0600); the public key goes to F.pub.
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
        /// Where the report, its envelope, JUnit and the summaries go (the corpus and work copies
        /// go to a private folder in /dev/shm when it is tmpfs with room, else here).
        #[arg(long)]
        out: PathBuf,
        /// Ed25519 key file (see `keygen`); else $AUTOCAPTURE_GATES_SIGNING_KEY; a signoff without
        /// a key is dev-signed and not a release pass.
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
        /// The SQLite database file the script runs against.
        #[arg(long)]
        db: PathBuf,
    },
    /// One GET on a loopback address, its status and body printed as JSON (the hostile gate
    /// runs it as another user to ask for the popup token).
    #[command(hide = true)]
    Fetch {
        /// The loopback address and port to ask (for example 127.0.0.1:8787).
        addr: std::net::SocketAddr,
        /// The path to GET (for example /api/auth/token).
        path: String,
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
        /// The program to run and its arguments.
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
        /// One JSON document (the comparison) on stdout.
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
        #[arg(long, default_value_t = crate::hostile::fuzz::SLOW_SECONDS_PER_TARGET)]
        seconds: u64,
        /// Seed of the generated property inputs.
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
    /// Producer conformance: a spool of handoffs checked against the contract, never ingested.
    #[command(subcommand)]
    Conform(conform::ConformCommand),
}

#[derive(Debug, Subcommand)]
enum SlaCommand {
    /// Judge an inputs document (schema contracts/sla-input.schema.json); exit 0 pass, 1 fail or
    /// bad input.
    Estimate {
        /// The inputs document (contracts/sla-input.schema.json).
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
    /// The case file (templates instantiated from the corpus's truth.json); default the story's
    /// own: fixtures/golden/q40.toml for the workday, or for `--story DIR/story/NAME.toml` the
    /// file DIR/golden/NAME.toml.
    #[arg(long)]
    cases: Option<PathBuf>,
    /// A phrasing file (schema autocapture.golden.phrasings.v1) adding phrasings to the cases
    /// by id; each is asked and must pass like the case's own question.
    #[arg(long)]
    phrasings: Option<PathBuf>,
    /// Generate the corpus from this story file instead of the built-in
    /// fixtures/story/workday.toml; or the name of a built-in golden story (`workday`,
    /// `support-night`), with its case file.
    #[arg(long, conflicts_with = "corpus")]
    story: Option<PathBuf>,
    /// Certify an existing spool with its truth.json (as `fixtures generate` writes it) instead
    /// of generating one; it is copied into --out first and never changed.
    #[arg(long, conflicts_with_all = ["seed", "frames"])]
    corpus: Option<PathBuf>,
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
    #[arg(long, default_value_t = crate::golden::run::REPRO_RUNS)]
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
        /// Frames of the generated handoff.
        #[arg(long, default_value_t = 100_000)]
        frames: u64,
        /// Alternating runs of each side; the medians are compared.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Seed of the generated handoff.
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
        /// Seed of the generated DataRoot.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Where generated DataRoots are cached.
        #[arg(long, default_value = "target/bench-cache")]
        cache: PathBuf,
        /// Times each question of the mix is asked.
        #[arg(long, default_value_t = 20)]
        repeat: usize,
    },
}

#[derive(Debug, Subcommand)]
enum ContractCommand {
    /// Rewrite contracts/contract.lock.json from the files (or, with --check, fail when stale).
    Lock {
        /// Only check that the lock is current; write nothing (exit 1 when stale).
        #[arg(long)]
        check: bool,
    },
    /// Regenerate the field tables of docs/handoff-stage1-contract.md (or, with --check, fail
    /// when stale).
    Doc {
        /// Only check that the generated doc is current; write nothing (exit 1 when stale).
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
        /// One JSON document on stdout: ok, our pair, the sister's, and every problem with its
        /// code and path.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum FixturesCommand {
    /// Write a spool of handoff directories played back from the story, plus truth.json.
    Generate {
        /// The folder to write the spool and truth.json into (must not exist yet).
        #[arg(long)]
        out: PathBuf,
        /// Seed of the generated corpus (the same seed gives the same bytes).
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Frames in the whole corpus.
        #[arg(long, default_value_t = 2400)]
        frames: u64,
        /// Handoff directories the frames are split into.
        #[arg(long, default_value_t = 3)]
        handoffs: u32,
        /// A story file instead of the embedded fixtures/story/workday.toml.
        #[arg(long)]
        story: Option<PathBuf>,
    },
}

/// Parses the command line, runs the command and gives its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Not parsed, so `--json` is looked for among the words themselves.
            let json = std::env::args_os().skip(1).any(|a| a == "--json");
            return ExitCode::from(error::report_usage(&e, json));
        }
    };
    let json = cli.command.json();
    match dispatch(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => ExitCode::from(error::report(&CliError::from(e), json)),
    }
}

impl Command {
    /// Whether the command was asked for one JSON document on stdout.
    fn json(&self) -> bool {
        match self {
            Command::Run(args) => args.json,
            Command::List { json }
            | Command::Verify { json, .. }
            | Command::Soak { json, .. }
            | Command::Fuzz { json, .. }
            | Command::Sla(SlaCommand::Estimate { json, .. })
            | Command::Contract(ContractCommand::Check { json, .. })
            | Command::Bench(BenchCommand::Ingest { json, .. })
            | Command::Conform(conform::ConformCommand::Spool { json, .. }) => *json,
            _ => false,
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::List { json } => {
            let built: Vec<&str> = registry().iter().map(|g| g.name()).collect();
            if json {
                let gates: Vec<serde_json::Value> = PLAN
                    .iter()
                    .map(|(name, proves)| {
                        serde_json::json!({"name": name, "proves": proves,
                                           "built": built.contains(name)})
                    })
                    .collect();
                println!("{}", serde_json::json!({"ok": true, "gates": gates}));
                return Ok(exit::PASS);
            }
            for (name, proves) in PLAN {
                let state = if built.contains(name) {
                    ""
                } else {
                    " (not built)"
                };
                println!("{name:<15} {proves}{state}");
            }
            Ok(exit::PASS)
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
                scratch: None,
                keep_work: false,
                json: false,
            };
            let path = sister.map_or_else(
                || default_sister_path().map_err(error::checkout_missing),
                Ok,
            )?;
            let checkpoint = checkpoint(&path)?;
            run(&args, Some((path, checkpoint)))
        }
        Command::Keygen { out } => {
            let public = keys::public_path(&out);
            for path in [out.clone(), keys::pem_path(&public), public] {
                if path.exists() {
                    return Err(CliError::usage(
                        "key_exists",
                        format!("{} exists; refusing to overwrite a key", path.display()),
                    )
                    .at(path)
                    .into());
                }
            }
            let (public, key) = keys::keygen(&out).map_err(|e| match error::root_io(&e) {
                Some(io) => CliError::out_unwritable(&out, io),
                None => CliError::from(e),
            })?;
            println!(
                "wrote {} and {} (keyid {})",
                out.display(),
                public.display(),
                keys::keyid(&key)
            );
            Ok(exit::PASS)
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
            rusqlite::Connection::open(&db)
                .and_then(|conn| conn.execute_batch(&script))
                .map_err(|e| CliError::new("sql_failed", e.to_string(), exit::FAIL).at(&db))?;
            Ok(exit::PASS)
        }
        Command::Fetch { addr, path } => {
            let (status, _, body) = crate::probe::raw::exchange(addr, "GET", &path, &[], b"")?;
            println!("{}", serde_json::json!({"status": status, "body": body}));
            Ok(exit::PASS)
        }
        Command::Measure {
            as_mib,
            fsize_bytes,
            timeout_ms,
            read_only,
            command,
        } => {
            let limits = crate::probe::measure::Limits {
                address_space_mib: as_mib,
                file_size_bytes: fsize_bytes,
                timeout_ms,
                read_only,
            };
            let measured = crate::probe::measure::run_limited(&command[0], &command[1..], &limits)?;
            println!("{}", serde_json::to_string(&measured)?);
            Ok(exit::PASS)
        }
        Command::Bench(BenchCommand::Ingest {
            frames,
            runs,
            seed,
            work,
            json,
        }) => {
            let harness = std::env::current_exe()?;
            let options = crate::bench::ingest::IngestBenchOptions {
                frames,
                runs,
                seed,
                work: work.unwrap_or_else(|| {
                    PathBuf::from(format!("target/bench-cache/ingest-f{frames}-s{seed}"))
                }),
                autocapture: crate::harness::bins::autocapture_beside(&harness)?,
                harness,
            };
            let b = crate::bench::ingest::bench_ingest(&options)?;
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
            Ok(exit::PASS)
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
                (None, Some(frames)) => crate::bench::cached_data_root(&cache, seed, frames)?.root,
                (None, None) => {
                    return Err(CliError::usage("usage", "give --data-dir or --frames").into());
                }
            };
            if !data_dir.join("metadata.db").is_file() {
                return Err(CliError::new(
                    "data_dir_missing",
                    format!("{} holds no DataRoot (no metadata.db)", data_dir.display()),
                    exit::ERROR,
                )
                .at(&data_dir)
                .into());
            }
            let report = crate::bench::bench_queries(&data_dir, repeat)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(exit::PASS)
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
            error::writable_dir(&out)?;
            let report = crate::sla::soak::soak(&crate::sla::soak::SoakOptions {
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
            Ok(exit::of(report.passed()))
        }
        Command::Golden(args) => golden(&args),
        Command::Conform(command) => conform::conform(command),
        Command::Fuzz {
            slow,
            seconds,
            seed,
            out,
            json,
        } => fuzz_runs(slow, seconds, seed, &out, json),
        Command::Contract(ContractCommand::Lock { check }) => contract_lock(check),
        Command::Contract(ContractCommand::Doc { check }) => contract_doc(check),
        Command::Contract(ContractCommand::Check { sister, json }) => contract_check(sister, json),
        Command::Fixtures(FixturesCommand::Generate {
            out,
            seed,
            frames,
            handoffs,
            story,
        }) => {
            let story = match story {
                Some(path) => load_story(&path)?,
                None => Story::default_story()?,
            };
            if std::fs::read_dir(&out).is_ok_and(|mut entries| entries.next().is_some()) {
                return Err(CliError::usage(
                    "out_in_use",
                    format!("{} is not empty; refusing to mix corpora", out.display()),
                )
                .at(&out)
                .into());
            }
            error::writable_dir(&out)?;
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
            Ok(exit::PASS)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every option and argument of `autocapture-gates` says what it is for in `--help`; the
    /// finder itself is proved on a planted command in the core's tests.
    #[test]
    fn every_option_and_argument_has_help() {
        let missing = autocapture_core::cli::undocumented_args(&super::Cli::command());
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }
}
