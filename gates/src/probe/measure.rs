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
    /// The run outlived its wall-clock limit and was killed.
    #[serde(default)]
    pub timed_out: bool,
}

/// Limits the child runs under (set on the measuring process, inherited by the child).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// `RLIMIT_AS`: the address space, in MiB.
    pub address_space_mib: Option<u64>,
    /// `RLIMIT_FSIZE`: the largest file the child may write, in bytes (a full disk in miniature).
    pub file_size_bytes: Option<u64>,
    /// Wall-clock limit: the child is killed (`SIGKILL`) when it runs longer.
    pub timeout_ms: Option<u64>,
    /// Folders the child sees read-only: bind-mounted onto themselves read-only in a private
    /// mount namespace of the measuring process (needs `CAP_SYS_ADMIN`, which root has).
    pub read_only: Vec<std::path::PathBuf>,
}

impl Limits {
    /// The `measure` options that set these limits.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if let Some(mib) = self.address_space_mib {
            args.extend(["--as-mib".into(), mib.to_string().into()]);
        }
        if let Some(bytes) = self.file_size_bytes {
            args.extend(["--fsize-bytes".into(), bytes.to_string().into()]);
        }
        if let Some(ms) = self.timeout_ms {
            args.extend(["--timeout-ms".into(), ms.to_string().into()]);
        }
        for dir in &self.read_only {
            args.extend(["--read-only".into(), dir.clone().into_os_string()]);
        }
        args
    }

    /// Applies the limits to this process (so that its next child inherits them).
    fn apply(&self) -> anyhow::Result<()> {
        use nix::sys::resource::{Resource, setrlimit};
        if let Some(mib) = self.address_space_mib {
            let bytes = mib.saturating_mul(1024 * 1024);
            setrlimit(Resource::RLIMIT_AS, bytes, bytes).context("setrlimit RLIMIT_AS")?;
        }
        if let Some(bytes) = self.file_size_bytes {
            setrlimit(Resource::RLIMIT_FSIZE, bytes, bytes).context("setrlimit RLIMIT_FSIZE")?;
        }
        if !self.read_only.is_empty() {
            read_only_mounts(&self.read_only)?;
        }
        Ok(())
    }
}

/// Makes `dirs` read-only for this process and its children only: a private mount namespace,
/// no propagation back to the parent's, and a read-only bind mount of each folder onto itself.
fn read_only_mounts(dirs: &[std::path::PathBuf]) -> anyhow::Result<()> {
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, unshare};
    unshare(CloneFlags::CLONE_NEWNS).context("unshare a mount namespace (needs CAP_SYS_ADMIN)")?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("make the mounts private")?;
    for dir in dirs {
        mount(
            Some(dir.as_path()),
            dir.as_path(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .with_context(|| format!("bind-mount {}", dir.display()))?;
        mount(
            None::<&str>,
            dir.as_path(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .with_context(|| format!("remount {} read-only", dir.display()))?;
    }
    Ok(())
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
    run_limited(program, args, &Limits::default())
}

/// [`run_measured`] under `limits`.
pub fn run_limited(
    program: &OsString,
    args: &[OsString],
    limits: &Limits,
) -> anyhow::Result<Measured> {
    limits.apply()?;
    let started = Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("start {}", Path::new(program).display()))?;
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let watchdog = limits.timeout_ms.map(|ms| {
        std::thread::spawn(move || {
            // Waits for the child's end or the deadline, whichever comes first.
            let expired = finished
                .recv_timeout(std::time::Duration::from_millis(ms))
                .is_err();
            if expired {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
            expired
        })
    });
    let output = child.wait_with_output().context("wait for the child")?;
    let _ = done.send(());
    let timed_out = watchdog.map(|w| w.join().unwrap_or(false)).unwrap_or(false);
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
        timed_out,
    })
}

/// Runs `program args` under `harness measure --` and returns its reading.
pub fn measure_child(harness: &Path, program: &Path, args: &[&str]) -> anyhow::Result<Measured> {
    measure_child_limited(harness, program, args, &Limits::default())
}

/// [`measure_child`] under `limits`.
pub fn measure_child_limited(
    harness: &Path,
    program: &Path,
    args: &[&str],
    limits: &Limits,
) -> anyhow::Result<Measured> {
    let output = Command::new(harness)
        .arg("measure")
        .args(limits.to_args())
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
