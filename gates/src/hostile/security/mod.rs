//! Security cases of the hostile suite: the real `autocapture` binary refusing every
//! non-loopback bind (flag and config), the real popup server on loopback (tokens, the
//! constant-time compare, the token file's mode, no write route, no CORS, foreign `Host` and
//! `Origin`, oversized and slow requests, idle connections, the token route asked by another
//! user's process), the audit log through
//! `autocapture audit verify`, and signed reports (edit, truncation, wrong key, replay).
//!
//! The judgements a planted violation must be able to fail are pure functions here
//! ([`cors_headers`], [`write_refused`], [`compare_is_constant_time`], [`sockets_bounded`]).
//! The popup server's cases are in [`server`] and, for the token's owner, [`peer`]; the audit
//! log's and the signed reports' in [`records`].

mod peer;
mod records;
mod server;

pub use records::release_statement;

pub use crate::probe::raw::exchange;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use autocapture_core::audit::AuditLog;
use autocapture_core::server::{
    BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT, MAX_BODY_BYTES, MAX_CONNECTIONS, TOKEN_FILE,
    token_matches,
};
use serde_json::{Value, json};

use super::{CaseReport, Family};
use crate::corpus::copies::private_spool;
use crate::corpus::digest::digest;
use crate::harness::gate::GateContext;
use crate::harness::{acceptance, dsse, freshness, keys, report};
use crate::probe::server::ProcessServer;

/// Binds the CLI must refuse: wildcards, LAN and public addresses, IPv4-mapped and link-local
/// IPv6, and names that do not resolve to loopback.
pub const HOSTILE_BINDS: &[&str] = &[
    "0.0.0.0:8787",
    "[::]:8787",
    "192.168.1.20:8787",
    "10.0.0.7:8787",
    "172.16.0.1:8787",
    "8.8.8.8:53",
    "[::ffff:127.0.0.1]:8787",
    "[::ffff:0.0.0.0]:8787",
    "[fe80::1]:8787",
    "no-such-host.invalid:8787",
    "0:8787",
];

/// The server's source as this harness was built with it, for the structural compare check.
const SERVER_SOURCE: &str = include_str!("../../../../core/src/server.rs");

/// Paths probed with every method that is not documented for them.
pub const PROBED_PATHS: &[&str] = &[
    "/api/query/popup",
    "/api/auth/token",
    "/api/auth/status",
    "/health",
    "/",
    "/api",
    "/api/query",
    "/api/records",
    "/api/records/1",
    "/api/query/popup/x",
    "/admin",
    "/metadata.db",
];

/// Methods that could write or delete.
pub const WRITE_METHODS: &[&str] = &["PUT", "DELETE", "PATCH", "POST", "TRACE"];

/// The cases of this family.
pub fn cases(ctx: &GateContext) -> anyhow::Result<Vec<CaseReport>> {
    let bin = ctx
        .autocapture_bin
        .as_deref()
        .context("the security cases run the real autocapture binary; none was given")?;
    let work = ctx.work.join("security");
    std::fs::create_dir_all(&work)?;
    let (_, handoffs) = private_spool(&ctx.corpus, &work)?;
    let first = handoffs.first().context("the corpus has no handoff")?;
    let data = work.join("data");
    let ingested = Command::new(bin)
        .args(["handoff", "ingest", "--handoff-root"])
        .arg(first)
        .arg("--data-dir")
        .arg(&data)
        .env("TZ", "UTC")
        .output()?;
    anyhow::ensure!(
        ingested.status.success(),
        "ingest for the security cases: {}",
        String::from_utf8_lossy(&ingested.stderr)
    );
    let mut cases = bind_cases(bin, &work)?;
    cases.extend(server::server_cases(bin, &data)?);
    let harness = ctx
        .harness_bin
        .as_deref()
        .context("the foreign-user token case runs the autocapture-gates binary; none was given")?;
    let planted = crate::gates::crash_gate::crash_binary(bin)?;
    cases.extend(peer::foreign_uid_cases(
        bin, &planted, harness, &data, &work,
    )?);
    let marker = first.join(autocapture_core::stage1::marker::MARKER_FILE);
    cases.extend(records::audit_cases(bin, &planted, &work, &data, &marker)?);
    cases.extend(records::report_cases(&work, ctx.harness_bin.as_deref())?);
    Ok(cases)
}

fn case(name: impl Into<String>, expected: impl Into<String>) -> CaseReport {
    CaseReport {
        family: Family::Security,
        name: name.into(),
        expected: expected.into(),
        observed: String::new(),
        inputs: 1,
        data_lost: 0,
        panics: 0,
        detail: String::new(),
    }
}

/// The error code of an `autocapture` run (from its `--json` document, else from the
/// `error[code]` on stderr), its exit code and whether it died by a signal or a panic.
fn coded(output: &std::process::Output) -> (String, Option<i32>, bool) {
    use std::os::unix::process::ExitStatusExt;
    let document: Value = serde_json::from_slice(output.stdout.trim_ascii()).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let from_stderr = stderr
        .split_once("error[")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(code, _)| code.to_owned());
    let code = if document["ok"] == true || (output.status.success() && from_stderr.is_none()) {
        "ok".to_owned()
    } else {
        document["error"]["code"]
            .as_str()
            .map(str::to_owned)
            .or(from_stderr)
            .unwrap_or_else(|| "no_code".to_owned())
    };
    let panicked = output.status.signal().is_some() || stderr.contains("panicked");
    (code, output.status.code(), panicked)
}

/// Every hostile bind, through `serve --bind` (refused with `bind_refused`, exit 1, before the
/// DataRoot is touched) and through `server.bind` in a config file (`config_bind_not_loopback`,
/// exit 2).
fn bind_cases(bin: &Path, work: &Path) -> anyhow::Result<Vec<CaseReport>> {
    let mut cases = Vec::new();
    for (idx, bind) in HOSTILE_BINDS.iter().enumerate() {
        let data = work.join(format!("bind-{idx}"));
        std::fs::create_dir_all(&data)?;
        let mut report = case(format!("serve --bind {bind}"), "bind_refused exit 1");
        let output = Command::new(bin)
            .args(["serve", "--data-dir"])
            .arg(&data)
            .args(["--bind", bind])
            .stdin(Stdio::null())
            .output()?;
        let (code, exit, panicked) = coded(&output);
        let touched: Vec<String> = std::fs::read_dir(&data)?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        report.panics = u64::from(panicked);
        report.observed = format!("{code} exit {}", exit.unwrap_or(-1));
        if !touched.is_empty() {
            report.observed.push_str(" (DataRoot touched)");
        }
        report.detail = format!("files written: {touched:?}");
        cases.push(report);

        let mut report = case(
            format!("config server.bind {bind}"),
            "config_bind_not_loopback exit 2",
        );
        let config = work.join(format!("bind-{idx}.json"));
        std::fs::write(&config, json!({"server": {"bind": bind}}).to_string())?;
        let output = Command::new(bin)
            .arg("--config")
            .arg(&config)
            .args(["serve", "--data-dir"])
            .arg(&data)
            .stdin(Stdio::null())
            .output()?;
        let (code, exit, panicked) = coded(&output);
        report.panics = u64::from(panicked);
        report.observed = format!("{code} exit {}", exit.unwrap_or(-1));
        cases.push(report);
    }
    Ok(cases)
}

/// The CORS headers in a response head (`access-control-*`); any is a violation.
pub fn cors_headers(head: &str) -> Vec<String> {
    head.lines()
        .map(|l| l.trim().to_ascii_lowercase())
        .filter(|l| l.starts_with("access-control-"))
        .collect()
}

/// A write or delete attempt is refused when it gets 404 (no such route) or 405 (no such
/// method); anything else, 2xx above all, is a violation.
pub fn write_refused(status: u16) -> bool {
    status == 404 || status == 405
}

/// The token check in the server's source compares in constant time: `authorized` goes through
/// `token_matches`, which uses `subtle`'s `ct_eq`, and nothing compares the token with `==`.
pub fn compare_is_constant_time(source: &str) -> Result<(), String> {
    let body_of = |name: &str| -> Option<String> {
        let start = source.find(&format!("fn {name}("))?;
        let rest = &source[start..];
        let end = rest.find("\n}\n").unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    };
    let authorized = body_of("authorized").ok_or("no fn authorized")?;
    if !authorized.contains("token_matches(") {
        return Err("authorized does not call token_matches".into());
    }
    let matches = body_of("token_matches").ok_or("no fn token_matches")?;
    if !matches.contains(".ct_eq(") {
        return Err("token_matches does not use subtle's ct_eq".into());
    }
    let plain = source.lines().find(|l| {
        let code = l.split("//").next().unwrap_or_default();
        (code.contains("token.value") || code.contains("given"))
            && (code.contains(" == ") || code.contains(" != "))
    });
    match plain {
        Some(line) => Err(format!("a plain comparison of the token: {}", line.trim())),
        None => Ok(()),
    }
}

/// The sockets process `pid` has open (from `/proc/<pid>/fd`).
pub fn open_sockets(pid: u32) -> anyhow::Result<usize> {
    let mut count = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        if let Ok(target) = std::fs::read_link(entry?.path())
            && target.to_string_lossy().starts_with("socket:")
        {
            count += 1;
        }
    }
    Ok(count)
}

/// Open sockets are bounded: those open before any client came (the listener, the runtime's
/// own) plus at most `max_connections`.
pub fn sockets_bounded(sockets: usize, baseline: usize, max_connections: usize) -> bool {
    sockets <= baseline + max_connections
}
