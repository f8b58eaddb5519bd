//! Resource use of a child process, seen from outside it: peak RSS and CPU time from
//! `getrusage(RUSAGE_CHILDREN)`, which covers only waited-for children. So that the reading
//! belongs to exactly one program, [`measure_child`] runs it under `autocapture-gates measure`,
//! a process whose only child it is ([`run_measured`]).

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use nix::sys::resource::{UsageWho, getrusage};
use serde::{Deserialize, Serialize};

/// What one run of a program used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// The exit code; `None` when a signal ended it.
    pub exit_code: Option<i32>,
    pub max_rss_kib: u64,
    pub user_ms: u64,
    pub sys_ms: u64,
    pub wall_ms: u64,
    pub stdout: String,
    /// The last 4 KiB of stderr.
    pub stderr_tail: String,
}

impl Measured {
    /// CPU time (user + system) over wall time: the share of one core used.
    pub fn cpu_share(&self) -> f64 {
        (self.user_ms + self.sys_ms) as f64 / (self.wall_ms.max(1)) as f64
    }

    pub fn max_rss_mib(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }
}

fn millis(t: nix::sys::time::TimeVal) -> u64 {
    (t.tv_sec().max(0) as u64) * 1000 + (t.tv_usec().max(0) as u64) / 1000
}

/// Runs `program` with `args` and waits for it. Call this only in a process that has started no
/// other child: the reading covers every child this process has waited for.
pub fn run_measured(program: &OsString, args: &[OsString]) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("start {}", Path::new(program).display()))?;
    let wall_ms = started.elapsed().as_millis() as u64;
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).context("getrusage")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail_start = stderr.len().saturating_sub(4096);
    let tail_start = (tail_start..stderr.len())
        .find(|i| stderr.is_char_boundary(*i))
        .unwrap_or(stderr.len());
    Ok(Measured {
        exit_code: output.status.code(),
        // Linux reports ru_maxrss in KiB.
        max_rss_kib: usage.max_rss().max(0) as u64,
        user_ms: millis(usage.user_time()),
        sys_ms: millis(usage.system_time()),
        wall_ms,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr_tail: stderr[tail_start..].to_owned(),
    })
}

/// Runs `program args` under `harness measure --` and returns its reading.
pub fn measure_child(harness: &Path, program: &Path, args: &[&str]) -> anyhow::Result<Measured> {
    let output = Command::new(harness)
        .arg("measure")
        .arg("--")
        .arg(program)
        .args(args)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("start {}", harness.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} measure failed: {}",
        harness.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).context("read the measurement")
}
