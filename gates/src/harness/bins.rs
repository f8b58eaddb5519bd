//! The programs the gates run as real processes: `autocapture`, `autocapture-prime` and
//! `autocapture-crashpoints`, found (or built) beside the harness binary.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The `autocapture` binary beside `exe` (the harness binary); built, with the legacy
/// `autocapture-prime` the config matrix compares it with and the armed
/// `autocapture-crashpoints` of the crash and hostile gates, when any is missing and cargo is at
/// hand (one cargo invocation builds all three from the same library).
pub fn autocapture_beside(exe: &Path) -> anyhow::Result<PathBuf> {
    let dir = exe.parent().context("the harness binary has no folder")?;
    let bin = dir.join("autocapture");
    if bin.is_file()
        && dir.join("autocapture-prime").is_file()
        && dir.join("autocapture-crashpoints").is_file()
    {
        return Ok(bin);
    }
    let cargo = std::env::var_os("CARGO").context("the autocapture binary is not built beside autocapture-gates; run `cargo build --release -p autocapture-core`")?;
    let profile = if dir.ends_with("release") {
        "release"
    } else {
        "dev"
    };
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--profile",
            profile,
            "-p",
            "autocapture-core",
            "--bins",
        ])
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .status()
        .context("run cargo to build autocapture")?;
    anyhow::ensure!(
        status.success() && bin.is_file(),
        "could not build the autocapture binary"
    );
    Ok(bin)
}
