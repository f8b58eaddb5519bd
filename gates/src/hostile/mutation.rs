//! The mutation explorer: the concurrent cousin of the crash gate. At each named Stage-1 point
//! (the crash points of `autocapture_core::base::crash`), the real `autocapture handoff ingest` (the
//! `autocapture-crashpoints`) stops itself with `SIGSTOP`; the explorer changes the handoff one way,
//! sends `SIGCONT`, and once the process has exited checks the marker's promise:
//!
//! > a marker exists only if every row (all columns) and media file the handoff holds at marker
//! > time is in the DataRoot with the same bytes.
//!
//! Both the handoff's path and, after a folder swap, the folder that was moved away are checked.
//! Each planted bug of `crash::PLANTS` is run at the points where it matters and must be found.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use autocapture_core::base::crash::{self, CrashPoint, POINTS, Stage};
use autocapture_core::stage1::marker::{self, MarkerState};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use rusqlite::Connection;

use super::{CaseReport, Family};
use crate::corpus::copies::copy_tree;

/// Where one run's handoff lives, and where a swap moves it.
struct Site {
    handoff: PathBuf,
    moved: PathBuf,
    outside: PathBuf,
}

/// One way to change a handoff while it is ingested.
pub struct Mutation {
    pub name: &'static str,
    pub what: &'static str,
    apply: fn(&Site) -> anyhow::Result<()>,
}

fn sql(handoff: &Path, sql: &str) -> anyhow::Result<()> {
    let conn = Connection::open(handoff.join("metadata.db"))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(sql)
        .with_context(|| format!("run on {}: {sql}", handoff.display()))
}

const APPEND: &str = "INSERT INTO metadata (id, record_type, ts_utc, payload, run_id)
    VALUES ('mutation/appended/1', 'mutation.appended', '2026-02-20T09:00:00.000000Z', '{\"appended\":true}', 'mutation')";

fn first_media(handoff: &Path) -> anyhow::Result<PathBuf> {
    super::promise::media_files(handoff)?
        .into_iter()
        .next()
        .context("the handoff has no media file")
}

/// Every way the explorer changes a handoff.
pub const MUTATIONS: &[Mutation] = &[
    Mutation {
        name: "append_row",
        what: "a row is added to the handoff's database",
        apply: |site| sql(&site.handoff, APPEND),
    },
    Mutation {
        name: "change_payload",
        what: "the payload of the first row is changed",
        apply: |site| {
            sql(
                &site.handoff,
                "UPDATE metadata SET payload = json_set(payload, '$.mutated', 1) WHERE id = (SELECT min(id) FROM metadata)",
            )
        },
    },
    Mutation {
        name: "change_ciphertext",
        what: "the first row gains a ciphertext",
        apply: |site| {
            sql(
                &site.handoff,
                "ALTER TABLE metadata ADD COLUMN ciphertext_b64 TEXT;
                 UPDATE metadata SET ciphertext_b64 = 'bXV0YXRlZA==' WHERE id = (SELECT min(id) FROM metadata)",
            )
        },
    },
    Mutation {
        name: "rewrite_media_in_place",
        what: "a media file is rewritten in place, same size, modification time set back",
        apply: |site| {
            Ok(super::files::rewrite_keeping_mtime(&first_media(
                &site.handoff,
            )?)?)
        },
    },
    Mutation {
        name: "replace_media_by_rename",
        what: "a media file is replaced by another renamed over it",
        apply: |site| {
            let path = first_media(&site.handoff)?;
            let other = path.with_extension("replacement");
            std::fs::write(
                &other,
                b"a replacement written beside it and renamed over it",
            )?;
            std::fs::rename(&other, &path)?;
            Ok(())
        },
    },
    Mutation {
        name: "add_hard_link",
        what: "a media file gets a second name outside the handoff",
        apply: |site| {
            std::fs::hard_link(first_media(&site.handoff)?, &site.outside)?;
            Ok(())
        },
    },
    Mutation {
        name: "swap_directory",
        what: "the handoff folder is renamed away and a copy holding one more row takes its name",
        apply: |site| {
            std::fs::rename(&site.handoff, &site.moved)?;
            copy_tree(&site.moved, &site.handoff)?;
            let _ = std::fs::remove_file(site.handoff.join(marker::MARKER_FILE));
            sql(&site.handoff, APPEND)
        },
    },
    Mutation {
        name: "truncate_database",
        what: "the handoff's database is cut to half its size",
        apply: |site| {
            let db = site.handoff.join("metadata.db");
            let len = std::fs::metadata(&db)?.len();
            std::fs::File::options()
                .write(true)
                .open(&db)?
                .set_len(len / 2)?;
            Ok(())
        },
    },
];

/// One stop, one mutation, and what the checks found.
#[derive(Debug, Clone)]
pub struct Tried {
    pub point: &'static str,
    pub mutation: &'static str,
    /// `ok` or the error code the ingest reported.
    pub observed: String,
    pub marker: bool,
    pub violations: Vec<String>,
    /// The planted bug armed in the run, if any.
    pub plant: Option<&'static str>,
}

/// The ingest arguments of a run at `point`.
fn args(handoff: &Path, data: &Path, point: &CrashPoint) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "handoff".into(),
        "ingest".into(),
        "--handoff-root".into(),
        handoff.into(),
        "--data-dir".into(),
        data.into(),
        "--json".into(),
    ];
    if point.needs_copy {
        args.extend(["--mode".into(), "copy".into()]);
    }
    args
}

/// Runs the ingest of a fresh copy of `base` stopped at `point`, applies `mutation`, lets it go
/// on and checks the marker's promise. `None` when the run never reached the point.
pub fn run_one(
    bin: &Path,
    base: &Path,
    work: &Path,
    point: &CrashPoint,
    mutation: &Mutation,
    plant: Option<&'static str>,
) -> anyhow::Result<Option<Tried>> {
    let root = work.join(format!(
        "{}-{}-{}",
        point.name,
        mutation.name,
        plant.unwrap_or("real")
    ));
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    let site = Site {
        handoff: root.join("spool").join("handoff"),
        moved: root.join("spool").join("handoff.moved"),
        outside: root.join("outside-link"),
    };
    copy_tree(base, &site.handoff)?;
    // As the capture side writes it: WAL, so a writer goes on while the ingest reads.
    Connection::open(site.handoff.join("metadata.db"))?.query_row(
        "PRAGMA journal_mode = WAL",
        [],
        |r| r.get::<_, String>(0),
    )?;
    let data = root.join("data");
    let mut command = Command::new(bin);
    command
        .args(args(&site.handoff, &data, point))
        .env(crash::ENV_AT, format!("{}@1", point.name))
        .env(crash::ENV_MODE, "stop")
        .env_remove(crash::ENV_PLANT)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(plant) = plant {
        command.env(crash::ENV_PLANT, plant);
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let pid = Pid::from_raw(child.id() as i32);
    let expected = format!("{}{}", crash::REACHED, point.name);
    let mut stderr = BufReader::new(child.stderr.take().context("child stderr")?);
    let mut reached = false;
    let mut line = String::new();
    while stderr.read_line(&mut line)? > 0 {
        if line.trim_end() == expected {
            reached = true;
            break;
        }
        line.clear();
    }
    if reached {
        match waitpid(pid, Some(WaitPidFlag::WUNTRACED))? {
            WaitStatus::Stopped(_, Signal::SIGSTOP) => {}
            other => bail!(
                "{} at {}: not stopped but {other:?}",
                bin.display(),
                point.name
            ),
        }
        let applied = (mutation.apply)(&site);
        kill(pid, Signal::SIGCONT)?;
        applied.with_context(|| format!("mutation {} at {}", mutation.name, point.name))?;
    }
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .context("child stdout")?
        .read_to_string(&mut stdout)?;
    let status = child.wait()?;
    if !reached {
        return Ok(None);
    }
    let observed = match serde_json::from_str::<serde_json::Value>(&stdout) {
        Ok(_) if status.success() => "ok".to_owned(),
        Ok(report) => report["error"]["code"]
            .as_str()
            .unwrap_or("no error code")
            .to_owned(),
        Err(_) => format!(
            "{status}; stderr: {}",
            rest.chars().take(300).collect::<String>()
        ),
    };
    let mut violations = Vec::new();
    let mut any_marker = false;
    for dir in [&site.handoff, &site.moved] {
        if !dir.is_dir() {
            continue;
        }
        match marker::read(dir) {
            MarkerState::Missing => {}
            MarkerState::Invalid(why) => violations.push(format!("an invalid marker: {why}")),
            MarkerState::Valid(_) => {
                any_marker = true;
                violations.extend(super::promise::broken(dir, &data)?);
            }
        }
    }
    if violations.is_empty() {
        std::fs::remove_dir_all(&root)?;
    }
    Ok(Some(Tried {
        point: point.name,
        mutation: mutation.name,
        observed,
        marker: any_marker,
        violations,
        plant,
    }))
}

/// One run of the explorer: a point, a mutation, and the planted bug armed (if any).
type Job = (&'static CrashPoint, &'static Mutation, Option<&'static str>);

/// Runs `jobs` on `workers` threads (each run its own folder and child process); the runs that
/// reached their point, in job order.
fn run_all(
    bin: &Path,
    base: &Path,
    work: &Path,
    jobs: &[Job],
    workers: usize,
) -> anyhow::Result<Vec<Tried>> {
    let runs = crate::harness::pool::parallel(jobs, workers, |(point, mutation, plant)| {
        run_one(bin, base, work, point, mutation, *plant)
    })?;
    let mut tried = Vec::new();
    for run in runs {
        tried.extend(run?);
    }
    Ok(tried)
}

/// The points where each planted bug is looked for.
fn plant_points(plant: &str) -> &'static [&'static str] {
    match plant {
        "marker_by_path" => &["ingest.after_unlock", "marker.before_temp"],
        _ => &[
            "ingest.after_commit",
            "ingest.after_unlock",
            "marker.after_fsync",
        ],
    }
}

/// The explorer's cases for the `hostile` gate: one per mutation (no violation at any point), one
/// per planted bug (found).
pub fn cases_with(
    bin: &Path,
    base: &Path,
    work: &Path,
    workers: usize,
) -> anyhow::Result<Vec<CaseReport>> {
    // Every Stage-1 point × every mutation, then each planted bug at its points: all in one
    // pool, `workers` runs at a time.
    let mut jobs: Vec<Job> = POINTS
        .iter()
        .filter(|p| p.stage == Stage::Ingest)
        .flat_map(|point| {
            MUTATIONS
                .iter()
                .map(move |mutation| (point, mutation, None))
        })
        .collect();
    for plant in crash::PLANTS {
        for name in plant_points(plant) {
            let point = POINTS
                .iter()
                .find(|p| p.name == *name)
                .with_context(|| format!("no crash point {name}"))?;
            jobs.extend(
                MUTATIONS
                    .iter()
                    .map(|mutation| (point, mutation, Some(*plant))),
            );
        }
    }
    let (planted, tried): (Vec<Tried>, Vec<Tried>) = run_all(bin, base, work, &jobs, workers)?
        .into_iter()
        .partition(|t| t.plant.is_some());
    let mut reports = Vec::new();
    for mutation in MUTATIONS {
        let runs: Vec<&Tried> = tried
            .iter()
            .filter(|t| t.mutation == mutation.name)
            .collect();
        let violations: Vec<String> = runs
            .iter()
            .flat_map(|t| {
                t.violations
                    .iter()
                    .map(move |v| format!("at {}: {v}", t.point))
            })
            .collect();
        let mut outcomes: BTreeMap<&str, u64> = BTreeMap::new();
        for run in &runs {
            *outcomes.entry(run.observed.as_str()).or_default() += 1;
        }
        let markers = runs.iter().filter(|t| t.marker).count();
        reports.push(CaseReport {
            family: Family::Mutation,
            name: mutation.name.to_owned(),
            expected: "no violation".to_owned(),
            observed: if violations.is_empty() {
                "no violation".to_owned()
            } else {
                format!("{} violations", violations.len())
            },
            inputs: runs.len() as u64,
            data_lost: violations.len() as u64,
            panics: 0,
            detail: format!(
                "{}; {} points, {markers} with a marker; outcomes {outcomes:?}{}",
                mutation.what,
                runs.len(),
                violations
                    .first()
                    .map(|v| format!("; first violation {v}"))
                    .unwrap_or_default()
            ),
        });
    }
    // The planted runs' folders are not needed for a look once the bug is found.
    for entry in std::fs::read_dir(work)? {
        let path = entry?.path();
        if crash::PLANTS
            .iter()
            .any(|plant| path.to_string_lossy().ends_with(plant))
        {
            std::fs::remove_dir_all(&path)?;
        }
    }
    for plant in crash::PLANTS {
        let runs: Vec<&Tried> = planted.iter().filter(|t| t.plant == Some(*plant)).collect();
        let found: Vec<String> = runs
            .iter()
            .flat_map(|run| {
                run.violations
                    .iter()
                    .map(move |v| format!("{} at {}: {v}", run.mutation, run.point))
            })
            .collect();
        let runs = runs.len() as u64;
        reports.push(CaseReport {
            family: Family::Mutation,
            name: format!("planted {plant}"),
            expected: "found".to_owned(),
            observed: if found.is_empty() { "missed" } else { "found" }.to_owned(),
            inputs: runs,
            data_lost: 0,
            panics: 0,
            detail: format!(
                "{} violations over {runs} runs{}",
                found.len(),
                found
                    .first()
                    .map(|v| format!("; e.g. {v}"))
                    .unwrap_or_default()
            ),
        });
    }
    Ok(reports)
}

/// The `hostile` gate's mutation part: the armed `autocapture-crashpoints` binary and a base
/// handoff.
pub fn cases(ctx: &crate::harness::gate::GateContext) -> anyhow::Result<Vec<CaseReport>> {
    let bin = crate::gates::crash_gate::crash_binary(
        ctx.autocapture_bin
            .as_deref()
            .context("the mutation cases run the real autocapture binaries; none was given")?,
    )?;
    let work = ctx.work.join("mutation");
    let base = super::corpus::Base::build(&work.join("base"), ctx.seed)?;
    cases_with(
        &bin,
        &base.handoff,
        &work.join("runs"),
        super::runs_at_once(ctx.jobs),
    )
}
