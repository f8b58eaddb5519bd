//! Concurrency cases of the hostile suite, with real `autocapture` processes on private copies of
//! the corpus: two ingests into one DataRoot at once, queries while an ingest commits, Stage 2
//! racing an ingest, and a load test of the popup server on loopback.
//!
//! - [`run`] gives the cases and the load test's figures (latencies keyed `*_ms`, so they stay
//!   out of the determinism signature); [`cases`] gives the cases alone.
//! - Every case compares with a serial run of the same handoffs ([`Serial`]).
//! - [`judge_load`] is the pure verdict of the load test, so a planted slow or failing run can
//!   be judged like a real one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use autocapture_core::query::{self, QueryHandle, QueryOptions};
use autocapture_core::store::DataRoot;
use serde_json::{Value, json};

use super::{CaseReport, Family};
use crate::bench::QUERY_MIX;
use crate::corpus::build::write_fresh_idle_signal;
use crate::corpus::copies::{copy_tree, private_spool};
use crate::corpus::digest::integrity_problems;
use crate::corpus::digest::{DataRootDigest, digest_without_ingest_time};
use crate::harness::gate::GateContext;
use crate::probe::http::Client;
use crate::probe::server::ProcessServer;

/// Client threads of the load test.
pub const LOAD_CLIENTS: usize = 8;
/// Requests each client sends (a fixed count, so the figures' counts are deterministic).
pub const LOAD_REQUESTS_PER_CLIENT: usize = 40;
/// Requests of the unloaded baseline, one at a time.
pub const BASELINE_REQUESTS: usize = 40;
/// The load test gives up after this long (its requests count as errors).
pub const LOAD_DEADLINE: Duration = Duration::from_secs(120);
/// Loaded p99 may be this many times the unloaded p99 ...
pub const LOAD_P99_FACTOR: f64 = 10.0;
/// ... or at most this (the popup latency budget of the golden gate's contract, §9).
pub const LOAD_P99_BUDGET_MS: f64 = 1500.0;
/// Attempts at catching the first ingest holding the lock before the second starts.
const LOCK_ATTEMPTS: usize = 5;

/// The cases of this family.
pub fn cases(ctx: &GateContext) -> anyhow::Result<Vec<CaseReport>> {
    Ok(run(ctx)?.0)
}

/// The cases and the load test's figures.
pub fn run(ctx: &GateContext) -> anyhow::Result<(Vec<CaseReport>, BTreeMap<String, Value>)> {
    let bin = ctx
        .autocapture_bin
        .as_deref()
        .context("the concurrency cases run the real autocapture binary; none was given")?;
    let work = ctx.work.join("concurrency");
    std::fs::create_dir_all(&work)?;
    let (_, handoffs) = private_spool(&ctx.corpus, &work)?;
    anyhow::ensure!(
        handoffs.len() >= 2,
        "the concurrency cases need at least two handoffs, the corpus has {}",
        handoffs.len()
    );
    let cli = Cli::new(bin, &work)?;
    let serial = Serial::build(&cli, &work.join("serial"), &handoffs)?;
    let mut cases = vec![
        two_ingests_at_once(&cli, &work, &handoffs, &serial)?,
        queries_during_an_ingest(&cli, &work, &handoffs)?,
        stage2_races_an_ingest(&cli, &work, &handoffs, &serial)?,
    ];
    let (load_case, figures) = popup_load(&cli, &serial.indexed)?;
    cases.push(load_case);
    Ok((cases, figures))
}

/// The `autocapture` binary with a configuration that keeps a written idle signal fresh for the
/// length of a run (Stage 2 re-reads it before every frame).
struct Cli {
    bin: PathBuf,
    config: PathBuf,
}

/// How a child ended: its `--json` code (`ok` or the error code), exit status, stderr.
struct Ended {
    code: String,
    exit: Option<i32>,
    signal: Option<i32>,
    stderr: String,
}

impl Ended {
    fn panicked(&self) -> bool {
        self.signal.is_some() || self.stderr.contains("panicked")
    }
}

impl Cli {
    fn new(bin: &Path, work: &Path) -> anyhow::Result<Cli> {
        let config = work.join("config.json");
        std::fs::write(&config, r#"{"activity": {"fresh_seconds": 3600}}"#)?;
        Ok(Cli {
            bin: bin.to_owned(),
            config,
        })
    }

    fn command(&self, args: &[&str], paths: &[&Path]) -> Command {
        let mut command = Command::new(&self.bin);
        command.arg("--config").arg(&self.config);
        let mut paths = paths.iter();
        for arg in args {
            if *arg == "{}" {
                if let Some(path) = paths.next() {
                    command.arg(path);
                }
            } else {
                command.arg(arg);
            }
        }
        command
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    fn spawn(&self, args: &[&str], paths: &[&Path]) -> anyhow::Result<Child> {
        self.command(args, paths)
            .spawn()
            .with_context(|| format!("start {}", self.bin.display()))
    }

    fn ingest(&self, handoff: &Path, data: &Path) -> anyhow::Result<Child> {
        self.spawn(
            &[
                "handoff",
                "ingest",
                "--handoff-root",
                "{}",
                "--data-dir",
                "{}",
                "--json",
            ],
            &[handoff, data],
        )
    }

    fn stage2(&self, data: &Path) -> anyhow::Result<Child> {
        write_fresh_idle_signal(data)?;
        self.spawn(&["stage2", "run", "--data-dir", "{}", "--json"], &[data])
    }

    /// Runs `child` to its end and insists it succeeded.
    fn must(&self, child: Child, what: &str) -> anyhow::Result<()> {
        let ended = wait(child)?;
        anyhow::ensure!(
            ended.code == "ok",
            "{what}: {} (exit {:?}): {}",
            ended.code,
            ended.exit,
            ended.stderr
        );
        Ok(())
    }
}

fn wait(child: Child) -> anyhow::Result<Ended> {
    let output = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let document: Value = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    let code = if output.status.success() && document["ok"] == true {
        "ok".to_owned()
    } else {
        document["error"]["code"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("no_json_exit_{:?}", output.status.code()))
    };
    Ok(Ended {
        code,
        exit: output.status.code(),
        signal: output.status.signal(),
        stderr: String::from_utf8_lossy(&output.stderr)
            .chars()
            .take(600)
            .collect(),
    })
}

/// The serial reference: the first two handoffs ingested one after the other, and a copy of
/// that indexed by Stage 2.
struct Serial {
    ingested: DataRootDigest,
    indexed: PathBuf,
    index: Vec<(String, String)>,
}

impl Serial {
    fn build(cli: &Cli, dir: &Path, handoffs: &[PathBuf]) -> anyhow::Result<Serial> {
        let data = dir.join("ingested");
        for handoff in &handoffs[..2] {
            cli.must(cli.ingest(handoff, &data)?, "serial ingest")?;
        }
        let ingested = digest_without_ingest_time(&data)?;
        let indexed = dir.join("indexed");
        copy_tree(&data, &indexed)?;
        cli.must(cli.stage2(&indexed)?, "serial stage 2")?;
        let index = index_digest(&indexed)?;
        Ok(Serial {
            ingested,
            indexed,
            index,
        })
    }
}

/// Stage 2's logical index: frames and docs without row ids or processing times, and the
/// Stage-2 markers by source; one `(table, "rows sha256")` per table.
fn index_digest(data: &Path) -> anyhow::Result<Vec<(String, String)>> {
    use sha2::{Digest, Sha256};
    let db = DataRoot::new(data).stage2_db();
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("open {}", db.display()))?;
    let mut out = Vec::new();
    for (table, key, exprs) in [
        (
            "search_frames",
            "frame_id",
            "frame_id, ts_utc, uia_record_id, window_title, process_name, hwnd",
        ),
        (
            "search_docs",
            "doc_id",
            "doc_id, kind, source_record_id, window_title, process_name, text, bboxes",
        ),
        ("derived", "id", "id, record_type, ts_utc, source_record_id"),
    ] {
        let quoted: Vec<String> = exprs.split(", ").map(|c| format!("quote({c})")).collect();
        let sql = format!(
            "SELECT {} FROM {table} ORDER BY {key}",
            quoted.join(" || ',' || ")
        );
        let mut stmt = conn
            .prepare(&sql)
            .with_context(|| format!("query {table} in {}", db.display()))?;
        let mut cursor = stmt.query([])?;
        let (mut hasher, mut rows) = (Sha256::new(), 0u64);
        while let Some(row) = cursor.next()? {
            hasher.update(row.get::<_, String>(0)?.as_bytes());
            hasher.update(b"\n");
            rows += 1;
        }
        out.push((
            table.to_owned(),
            format!("{rows} rows {}", hex::encode(hasher.finalize())),
        ));
    }
    Ok(out)
}

/// Whether process `pid` holds an flock on the file at `path` (from `/proc/locks`).
fn holds_flock(pid: u32, path: &Path) -> bool {
    let Ok(inode) = std::fs::metadata(path).map(|m| m.ino()) else {
        return false;
    };
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
        return false;
    };
    locks.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(1) == Some(&"FLOCK")
            && fields.get(4) == Some(&pid.to_string().as_str())
            && fields
                .get(5)
                .and_then(|f| f.rsplit(':').next())
                .is_some_and(|ino| ino == inode.to_string())
    })
}

/// Waits until `child` holds the DataRoot's instance lock; false when it ended first.
fn wait_for_lock(child: &mut Child, data: &DataRoot) -> anyhow::Result<bool> {
    let lock = data.lock_path();
    loop {
        if holds_flock(child.id(), &lock) {
            return Ok(true);
        }
        if child.try_wait()?.is_some() {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn case(name: &str, expected: &str) -> CaseReport {
    CaseReport {
        family: Family::Concurrency,
        name: name.to_owned(),
        expected: expected.to_owned(),
        observed: String::new(),
        inputs: 1,
        data_lost: 0,
        panics: 0,
        detail: String::new(),
    }
}

/// Rows missing or changed against the serial reference (1 when only the content differs).
fn rows_lost(expected: &DataRootDigest, actual: &DataRootDigest) -> u64 {
    let mut lost = 0;
    for (want, got) in [
        (&expected.metadata, &actual.metadata),
        (&expected.derived, &actual.derived),
        (&expected.media, &actual.media),
    ] {
        if want != got {
            lost += want.rows.saturating_sub(got.rows).max(1);
        }
    }
    lost
}

/// Two ingests into one DataRoot at once: the second starts while the first holds the lock and
/// gets `instance_lock_held`; the first succeeds; rerunning the second converges to the serial
/// run; every database passes `integrity_check`.
fn two_ingests_at_once(
    cli: &Cli,
    work: &Path,
    handoffs: &[PathBuf],
    serial: &Serial,
) -> anyhow::Result<CaseReport> {
    let mut report = case(
        "two ingests into one DataRoot at once",
        "ok+instance_lock_held",
    );
    for attempt in 1..=LOCK_ATTEMPTS {
        let dir = work.join(format!("two-ingests-{attempt}"));
        let data = DataRoot::new(&dir);
        std::fs::create_dir_all(&dir)?;
        let mut first = cli.ingest(&handoffs[0], &dir)?;
        if !wait_for_lock(&mut first, &data)? {
            let _ = wait(first)?;
            continue;
        }
        let second = wait(cli.ingest(&handoffs[1], &dir)?)?;
        let first = wait(first)?;
        report.panics = u64::from(first.panicked()) + u64::from(second.panicked());
        if second.code == "ok" && first.code == "ok" {
            // The first let go between our look and the second's try: no overlap; try again.
            continue;
        }
        report.observed = format!("{}+{}", first.code, second.code);
        let rerun = wait(cli.ingest(&handoffs[1], &dir)?)?;
        report.panics += u64::from(rerun.panicked());
        let problems = integrity_problems(&data);
        let after = digest_without_ingest_time(&dir)?;
        report.data_lost = rows_lost(&serial.ingested, &after);
        if rerun.code != "ok" || !problems.is_empty() {
            report.observed = format!("{} (rerun {}; {problems:?})", report.observed, rerun.code);
        }
        report.detail = format!(
            "attempt {attempt}: first {} (exit {:?}), second {} (exit {:?}), rerun {}; integrity {}; {} rows as the serial run",
            first.code,
            first.exit,
            second.code,
            second.exit,
            rerun.code,
            if problems.is_empty() { "ok" } else { "broken" },
            if report.data_lost == 0 {
                "same"
            } else {
                "different"
            },
        );
        return Ok(report);
    }
    report.observed = "no_overlap".into();
    report.detail = format!(
        "in {LOCK_ATTEMPTS} attempts the second ingest never started while the first held the lock"
    );
    Ok(report)
}

/// What a query answered, without timings: the answer document or the error's text.
fn answer_state(data: &DataRoot, question: &str) -> Result<String, String> {
    let handle = QueryHandle::open(data).map_err(|e| e.to_string())?;
    let answer = query::answer(
        &handle,
        question,
        &QueryOptions {
            max_citations: 8,
            explain: false,
        },
    )
    .map_err(|e| e.to_string())?;
    serde_json::to_string(&answer).map_err(|e| e.to_string())
}

/// Queries polled from another thread while a real ingest of the second handoff commits: every
/// answer equals the answer before the ingest or the one after it (from a serial copy), never
/// an error and never a mix.
fn queries_during_an_ingest(
    cli: &Cli,
    work: &Path,
    handoffs: &[PathBuf],
) -> anyhow::Result<CaseReport> {
    let mut report = case(
        "queries during an ingest see a committed state",
        "before_or_after",
    );
    let dir = work.join("queries-during-ingest");
    cli.must(cli.ingest(&handoffs[0], &dir)?, "ingest the first handoff")?;
    cli.must(cli.stage2(&dir)?, "index the first handoff")?;
    let data = DataRoot::new(&dir);
    let questions: Vec<&str> = QUERY_MIX.iter().map(|(_, q)| *q).collect();
    let before: Vec<String> = questions
        .iter()
        .map(|q| answer_state(&data, q))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("query before the ingest: {e}"))?;
    let reference = work.join("queries-after-reference");
    copy_tree(&dir, &reference)?;
    cli.must(
        cli.ingest(&handoffs[1], &reference)?,
        "ingest the reference",
    )?;
    // A `not_available_yet` answer names its DataRoot's path in its hint: the copy's answers
    // are read as if asked of the original.
    let (copy_path, original_path) = (reference.display().to_string(), dir.display().to_string());
    let after: Vec<String> = questions
        .iter()
        .map(|q| {
            answer_state(&DataRoot::new(&reference), q)
                .map(|a| a.replace(&copy_path, &original_path))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("query after the ingest: {e}"))?;
    let changing = before.iter().zip(&after).filter(|(b, a)| b != a).count();

    let mut child = cli.ingest(&handoffs[1], &dir)?;
    let (mut samples, mut during, mut unexpected) = (0u64, 0u64, Vec::new());
    let (mut seen_before, mut seen_after) = (0u64, 0u64);
    let mut poll = |samples: &mut u64| {
        for (idx, question) in questions.iter().enumerate() {
            *samples += 1;
            match answer_state(&data, question) {
                Ok(text) if text == before[idx] && text == after[idx] => {}
                Ok(text) if text == before[idx] => seen_before += 1,
                Ok(text) if text == after[idx] => seen_after += 1,
                Ok(text) => unexpected.push(format!(
                    "{question}: neither state: {}",
                    text.chars().take(160).collect::<String>()
                )),
                Err(e) => unexpected.push(format!("{question}: error {e}")),
            }
        }
    };
    while child.try_wait()?.is_none() {
        let in_flight_before = samples;
        poll(&mut samples);
        if child.try_wait()?.is_none() {
            during += samples - in_flight_before;
        }
    }
    let ingest = wait(child)?;
    poll(&mut samples);
    report.inputs = samples;
    report.panics = u64::from(ingest.panicked());
    let finished_after = questions
        .iter()
        .enumerate()
        .all(|(idx, q)| answer_state(&data, q).as_ref() == Ok(&after[idx]));
    report.observed = if !unexpected.is_empty() {
        "inconsistent".into()
    } else if ingest.code != "ok" {
        format!("ingest_{}", ingest.code)
    } else if changing == 0 {
        "no_question_changes".into()
    } else if during == 0 {
        "no_query_during_ingest".into()
    } else if !finished_after {
        "not_after_state".into()
    } else {
        "before_or_after".into()
    };
    report.detail = format!(
        "{samples} answers ({during} while the ingest ran): {seen_before} before, {seen_after} after, {} neither; {changing} of {} questions change; {}",
        unexpected.len(),
        questions.len(),
        unexpected.first().cloned().unwrap_or_default()
    );
    Ok(report)
}

/// Stage 2 and an ingest started together on one DataRoot: each ends `ok` or
/// `instance_lock_held`; rerunning both converges to the serial run (rows, media and index); no
/// frame is indexed twice.
fn stage2_races_an_ingest(
    cli: &Cli,
    work: &Path,
    handoffs: &[PathBuf],
    serial: &Serial,
) -> anyhow::Result<CaseReport> {
    let mut report = case("Stage 2 racing an ingest", "converged");
    let dir = work.join("stage2-race");
    cli.must(cli.ingest(&handoffs[0], &dir)?, "ingest the first handoff")?;
    let stage2 = cli.stage2(&dir)?;
    let ingest = cli.ingest(&handoffs[1], &dir)?;
    let (stage2, ingest) = (wait(stage2)?, wait(ingest)?);
    let allowed = ["ok", "instance_lock_held"];
    let rerun_ingest = wait(cli.ingest(&handoffs[1], &dir)?)?;
    let rerun_stage2 = wait(cli.stage2(&dir)?)?;
    report.panics = [&stage2, &ingest, &rerun_ingest, &rerun_stage2]
        .iter()
        .map(|e| u64::from(e.panicked()))
        .sum();
    let data = DataRoot::new(&dir);
    let problems = integrity_problems(&data);
    report.data_lost = rows_lost(&serial.ingested, &digest_without_ingest_time(&dir)?);
    let index = index_digest(&dir)?;
    let duplicates: i64 = rusqlite::Connection::open_with_flags(
        data.stage2_db(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?
    .query_row(
        "SELECT COUNT(*) - COUNT(DISTINCT source_record_id) FROM derived WHERE record_type = 'derived.ingest.stage2.complete'",
        [],
        |r| r.get(0),
    )?;
    report.observed =
        if !allowed.contains(&stage2.code.as_str()) || !allowed.contains(&ingest.code.as_str()) {
            format!("race_{}+{}", stage2.code, ingest.code)
        } else if rerun_ingest.code != "ok" || rerun_stage2.code != "ok" {
            format!("rerun_{}+{}", rerun_ingest.code, rerun_stage2.code)
        } else if !problems.is_empty() {
            "integrity_broken".into()
        } else if duplicates != 0 {
            "duplicate_rows".into()
        } else if index != serial.index {
            "index_differs".into()
        } else {
            "converged".into()
        };
    report.detail = format!(
        "race: stage 2 {}, ingest {}; rerun: ingest {}, stage 2 {}; integrity {problems:?}; {duplicates} duplicate markers; index {:?}",
        stage2.code, ingest.code, rerun_ingest.code, rerun_stage2.code, index
    );
    Ok(report)
}

/// One popup request: the status and the answer's `state` (empty when there is none).
pub fn popup_request(
    addr: SocketAddr,
    token: &str,
    question: &str,
) -> anyhow::Result<(u16, String)> {
    let reply = Client::to(addr)
        .token(Some(token))
        .post_json("/api/query/popup", &json!({"query": question}))?;
    let state = reply
        .json()
        .and_then(|v| v["state"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok((reply.status, state))
}

/// Latency samples of a run, in milliseconds, and its errors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadRun {
    pub latencies_ms: Vec<f64>,
    pub errors: Vec<String>,
}

/// Nearest-rank percentile (`ceil(p·n) − 1`) of `samples`; 0 for none.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The load test's verdict: every request answered (the count sent), no errors, and the loaded
/// p99 within [`LOAD_P99_FACTOR`] × the unloaded p99 or within [`LOAD_P99_BUDGET_MS`].
pub fn judge_load(baseline: &LoadRun, loaded: &LoadRun, sent: usize) -> Result<(), String> {
    if !loaded.errors.is_empty() || !baseline.errors.is_empty() {
        let first = loaded.errors.first().or(baseline.errors.first());
        return Err(format!(
            "{} errors: {}",
            loaded.errors.len() + baseline.errors.len(),
            first.cloned().unwrap_or_default()
        ));
    }
    if loaded.latencies_ms.len() != sent {
        return Err(format!(
            "{} of {sent} requests answered",
            loaded.latencies_ms.len()
        ));
    }
    let (unloaded_p99, loaded_p99) = (
        percentile(&baseline.latencies_ms, 0.99),
        percentile(&loaded.latencies_ms, 0.99),
    );
    if loaded_p99 > (unloaded_p99 * LOAD_P99_FACTOR).max(LOAD_P99_BUDGET_MS) {
        return Err(format!(
            "p99 under load {loaded_p99:.1} ms exceeds {LOAD_P99_FACTOR}× the unloaded {unloaded_p99:.1} ms and {LOAD_P99_BUDGET_MS} ms"
        ));
    }
    Ok(())
}

/// Sends `count` popup questions one after another; stops at `deadline`.
fn client(
    addr: SocketAddr,
    token: &str,
    offset: usize,
    count: usize,
    deadline: Instant,
) -> LoadRun {
    let mut run = LoadRun::default();
    for idx in 0..count {
        if Instant::now() > deadline {
            run.errors.push("deadline passed".into());
            break;
        }
        let question = QUERY_MIX[(offset + idx) % QUERY_MIX.len()].1;
        let started = Instant::now();
        match popup_request(addr, token, question) {
            Ok((200, state)) if state != "error" && state != "degraded" && !state.is_empty() => {
                run.latencies_ms
                    .push(started.elapsed().as_secs_f64() * 1000.0);
            }
            Ok((status, state)) => run
                .errors
                .push(format!("{question}: status {status}, state {state:?}")),
            Err(e) => run.errors.push(format!("{question}: {e}")),
        }
    }
    run
}

/// A load test of the real popup server on loopback: an unloaded baseline, then
/// [`LOAD_CLIENTS`] threads each sending [`LOAD_REQUESTS_PER_CLIENT`] questions at once.
fn popup_load(cli: &Cli, indexed: &Path) -> anyhow::Result<(CaseReport, BTreeMap<String, Value>)> {
    let mut report = case("popup server under load on loopback", "held");
    let served = ProcessServer::start(&cli.bin, indexed)?;
    let (addr, token) = (served.addr, served.token.clone());
    let deadline = Instant::now() + LOAD_DEADLINE;
    let baseline = client(addr, &token, 0, BASELINE_REQUESTS, deadline);
    let started = Instant::now();
    let runs: Vec<LoadRun> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..LOAD_CLIENTS)
            .map(|idx| {
                let token = token.clone();
                scope.spawn(move || client(addr, &token, idx, LOAD_REQUESTS_PER_CLIENT, deadline))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| LoadRun {
                    latencies_ms: Vec::new(),
                    errors: vec!["a client thread panicked".into()],
                })
            })
            .collect()
    });
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let clean_exit = served.stop()?;
    let mut loaded = LoadRun::default();
    for run in runs {
        loaded.latencies_ms.extend(run.latencies_ms);
        loaded.errors.extend(run.errors);
    }
    let sent = LOAD_CLIENTS * LOAD_REQUESTS_PER_CLIENT;
    let verdict = judge_load(&baseline, &loaded, sent);
    report.inputs = (sent + BASELINE_REQUESTS) as u64;
    report.panics = u64::from(!clean_exit);
    report.observed = match &verdict {
        Ok(()) => "held".into(),
        Err(_) => "not_held".into(),
    };
    let p = |run: &LoadRun, q: f64| (percentile(&run.latencies_ms, q) * 100.0).round() / 100.0;
    report.detail = format!(
        "{sent} requests from {LOAD_CLIENTS} clients in {wall_ms:.0} ms, {} errors; p50 {} ms, p95 {} ms, p99 {} ms (unloaded p99 {} ms); {}",
        loaded.errors.len() + baseline.errors.len(),
        p(&loaded, 0.5),
        p(&loaded, 0.95),
        p(&loaded, 0.99),
        p(&baseline, 0.99),
        verdict.err().unwrap_or_else(|| "held".into())
    );
    let mut figures = BTreeMap::new();
    figures.insert("load_requests".into(), json!(sent));
    figures.insert("load_clients".into(), json!(LOAD_CLIENTS));
    figures.insert(
        "load_errors".into(),
        json!(loaded.errors.len() + baseline.errors.len()),
    );
    figures.insert("load_p50_ms".into(), json!(p(&loaded, 0.5)));
    figures.insert("load_p95_ms".into(), json!(p(&loaded, 0.95)));
    figures.insert("load_p99_ms".into(), json!(p(&loaded, 0.99)));
    figures.insert("load_unloaded_p50_ms".into(), json!(p(&baseline, 0.5)));
    figures.insert("load_unloaded_p99_ms".into(), json!(p(&baseline, 0.99)));
    figures.insert("load_wall_ms".into(), json!(wall_ms.round()));
    Ok((report, figures))
}
