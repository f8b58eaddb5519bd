//! Security cases of the hostile suite: the real `autocapture` binary refusing every
//! non-loopback bind (flag and config), the real popup server on loopback (tokens, the
//! constant-time compare, the token file's mode, no write route, no CORS, foreign `Host` and
//! `Origin`, oversized and slow requests, idle connections), the audit log through
//! `autocapture audit verify`, and signed reports (edit, truncation, wrong key, replay).
//!
//! The judgements a planted violation must be able to fail are pure functions here
//! ([`cors_headers`], [`write_refused`], [`compare_is_constant_time`], [`sockets_bounded`]).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use autocapture_core::audit::{AuditError, AuditLog, verify as verify_audit};
use autocapture_core::server::{
    BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT, MAX_BODY_BYTES, MAX_CONNECTIONS, TOKEN_FILE,
    token_matches,
};
use serde_json::{Value, json};

use super::concurrency::Served;
use super::{CaseReport, Family};
use crate::dataroot::digest;
use crate::gates::support::private_spool;
use crate::harness::gate::GateContext;
use crate::harness::{acceptance, dsse, freshness, keys, report};

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
const SERVER_SOURCE: &str = include_str!("../../../core/src/server.rs");

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
    cases.extend(server_cases(bin, &data)?);
    cases.extend(audit_cases(bin, &work, &data)?);
    cases.extend(report_cases(&work, ctx.harness_bin.as_deref())?);
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

/// One raw HTTP/1.1 exchange: the status, the lower-cased head and the body.
pub fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (key, value) in headers {
        head.push_str(&format!("{key}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes())?;
    // The server may answer (413, 401) and close before reading all of a large body.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, head.to_ascii_lowercase(), body.to_owned()))
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

fn status_case(
    name: &str,
    expected: u16,
    (status, head, body): (u16, String, String),
) -> CaseReport {
    let mut report = case(name, expected.to_string());
    report.observed = status.to_string();
    let cors = cors_headers(&head);
    if !cors.is_empty() {
        report.observed = format!("{status} with {cors:?}");
    }
    report.detail = body.chars().take(200).collect();
    report
}

/// The cases against a running real server.
fn server_cases(bin: &Path, data: &Path) -> anyhow::Result<Vec<CaseReport>> {
    let mut cases = Vec::new();
    let served = Served::start(bin, data)?;
    let (addr, token) = (served.addr, served.token.clone());
    let popup = br#"{"query": "which window had focus at 10:20:10?"}"#;
    let bearer = |t: &str| format!("Bearer {t}");
    let ask = |auth: Option<String>| {
        let mut headers = vec![("Content-Type", "application/json".to_owned())];
        if let Some(auth) = auth {
            headers.push(("Authorization", auth));
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        exchange(addr, "POST", "/api/query/popup", &headers, popup)
    };
    let wrong_case = {
        let upper = token.to_ascii_uppercase();
        if upper == token {
            "0".repeat(64)
        } else {
            upper
        }
    };
    for (name, auth, expected) in [
        ("popup without a token", None, 401),
        ("popup with an empty token", Some("Bearer ".to_owned()), 401),
        (
            "popup with a wrong token",
            Some(bearer(&"f".repeat(64))),
            401,
        ),
        (
            "popup with a short token",
            Some(bearer(token.get(..63).unwrap_or_default())),
            401,
        ),
        (
            "popup with a long token",
            Some(bearer(&format!("{token}0"))),
            401,
        ),
        (
            "popup with a 1 KiB token",
            Some(bearer(&token.repeat(16))),
            401,
        ),
        (
            "popup with the token in upper case",
            Some(bearer(&wrong_case)),
            401,
        ),
        (
            "popup with a Basic credential",
            Some(format!("Basic {token}")),
            401,
        ),
        ("popup with the right token", Some(bearer(&token)), 200),
    ] {
        cases.push(status_case(name, expected, ask(auth)?));
    }

    let mut report = case("token compare is constant-time", "ct_eq");
    let structural = compare_is_constant_time(SERVER_SOURCE);
    let functional = token_matches(token.as_bytes(), token.as_bytes())
        && !token_matches(
            &token.as_bytes()[..token.len().saturating_sub(1)],
            token.as_bytes(),
        )
        && !token_matches(b"", token.as_bytes());
    report.observed = match (&structural, functional) {
        (Ok(()), true) => "ct_eq".into(),
        (Err(e), _) => format!("not constant-time: {e}"),
        (Ok(()), false) => "token_matches is wrong".into(),
    };
    report.detail = "core/src/server.rs as built".into();
    cases.push(report);

    let token_path = data.join(TOKEN_FILE);
    let mut report = case("the token file is owner-only", "0600");
    report.observed = format!(
        "{:04o}",
        std::fs::metadata(&token_path)?.permissions().mode() & 0o777
    );
    cases.push(report);

    let before = digest(data)?;
    let mut report = case("no route writes or deletes", "404_or_405");
    let mut allowed = Vec::new();
    let auth = bearer(&token);
    for path in PROBED_PATHS {
        for method in WRITE_METHODS {
            if *method == "POST" && *path == "/api/query/popup" {
                continue;
            }
            let (status, _, _) = exchange(
                addr,
                method,
                path,
                &[("Authorization", auth.as_str())],
                b"{}",
            )?;
            report.inputs += 1;
            if !write_refused(status) {
                allowed.push(format!("{method} {path}: {status}"));
            }
        }
    }
    report.inputs -= 1;
    let after = digest(data)?;
    report.data_lost = u64::from(before != after);
    report.observed = if allowed.is_empty() {
        "404_or_405".into()
    } else {
        "allowed".into()
    };
    report.detail = format!("{} requests; allowed: {allowed:?}", report.inputs);
    cases.push(report);

    let loopback_origin = format!("http://{addr}");
    let with = |method: &str, path: &str, extra: &[(&str, &str)]| {
        let mut headers = vec![("Authorization", auth.as_str())];
        headers.extend_from_slice(extra);
        exchange(
            addr,
            method,
            path,
            &headers,
            if method == "POST" { popup } else { b"" },
        )
    };
    cases.push(status_case(
        "no CORS headers with a loopback Origin",
        200,
        with(
            "POST",
            "/api/query/popup",
            &[
                ("Origin", loopback_origin.as_str()),
                ("Content-Type", "application/json"),
            ],
        )?,
    ));
    cases.push(status_case(
        "a foreign Origin is refused",
        403,
        with(
            "POST",
            "/api/query/popup",
            &[
                ("Origin", "https://evil.example"),
                ("Content-Type", "application/json"),
            ],
        )?,
    ));
    cases.push(status_case(
        "a CORS preflight from a foreign page is refused",
        403,
        with(
            "OPTIONS",
            "/api/query/popup",
            &[
                ("Origin", "https://evil.example"),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "authorization"),
            ],
        )?,
    ));
    cases.push(status_case(
        "a CORS preflight from loopback gets no CORS answer",
        405,
        with(
            "OPTIONS",
            "/api/query/popup",
            &[
                ("Origin", loopback_origin.as_str()),
                ("Access-Control-Request-Method", "POST"),
            ],
        )?,
    ));
    cases.push(status_case(
        "a foreign Host (DNS rebinding) is refused",
        421,
        with("GET", "/api/auth/token", &[("Host", "evil.example:8787")])?,
    ));

    let oversized = format!(r#"{{"query": "{}"}}"#, "x".repeat(MAX_BODY_BYTES + 1024));
    cases.push(status_case(
        "an oversized body",
        413,
        exchange(
            addr,
            "POST",
            "/api/query/popup",
            &[("Authorization", auth.as_str())],
            oversized.as_bytes(),
        )?,
    ));
    let huge_header = "a".repeat(1024 * 1024);
    let mut report = status_case(
        "an oversized header",
        431,
        exchange(
            addr,
            "GET",
            "/health",
            &[("X-Fill", huge_header.as_str())],
            b"",
        )?,
    );
    report.detail = "a 1 MiB header line".into();
    cases.push(report);

    // The slow clients first, the idle ones after: idle clients holding every permit would
    // keep a slow client in the backlog, and its deadline would start only when it is accepted.
    let (slow_header, slow_body) = std::thread::scope(|scope| {
        let slow_header = scope.spawn(|| slow_header_case(addr));
        let slow_body = scope.spawn(|| slow_body_case(addr, &token));
        (
            slow_header
                .join()
                .map_err(|_| anyhow::anyhow!("slow header client panicked")),
            slow_body
                .join()
                .map_err(|_| anyhow::anyhow!("slow body client panicked")),
        )
    });
    cases.push(slow_header??);
    cases.push(slow_body??);
    let baseline = open_sockets(served.pid())?;
    cases.push(idle_connections_case(addr, served.pid(), baseline)?);
    let clean = served.stop()?;

    let mut report = case("a token file others can read is replaced", "replaced 0600");
    std::fs::set_permissions(&token_path, std::fs::Permissions::from_mode(0o644))?;
    let restarted = Served::start(bin, data)?;
    let mode = std::fs::metadata(&token_path)?.permissions().mode() & 0o777;
    let replaced = restarted.token != token;
    let old_refused = ask_with(restarted.addr, &token)?;
    report.panics = u64::from(!restarted.stop()?) + u64::from(!clean);
    report.observed = format!(
        "{} {mode:04o}",
        if replaced && old_refused == 401 {
            "replaced"
        } else {
            "kept"
        }
    );
    report.detail = format!("the old token now gets {old_refused}");
    cases.push(report);
    Ok(cases)
}

fn ask_with(addr: SocketAddr, token: &str) -> anyhow::Result<u16> {
    let auth = format!("Bearer {token}");
    Ok(exchange(
        addr,
        "POST",
        "/api/query/popup",
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ],
        br#"{"query": "Globex"}"#,
    )?
    .0)
}

/// Writes `head`, then one byte of `drip` per second, until the server answers or closes;
/// returns how long that took and the status it sent (0 for a bare close), or `None` when it
/// still listened at `give_up`.
fn drip(
    addr: SocketAddr,
    head: &str,
    drip: u8,
    give_up: Duration,
) -> anyhow::Result<Option<(Duration, u16)>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    let started = Instant::now();
    stream.write_all(head.as_bytes())?;
    let mut buf = [0u8; 512];
    while started.elapsed() < give_up {
        if stream.write_all(&[drip]).is_err() {
            return Ok(Some((started.elapsed(), 0)));
        }
        match stream.read(&mut buf) {
            Ok(0) => return Ok(Some((started.elapsed(), 0))),
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                let status = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                return Ok(Some((started.elapsed(), status)));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Ok(Some((started.elapsed(), 0))),
        }
    }
    Ok(None)
}

/// The margin allowed past a deadline before a slow client counts as unbounded.
const SLOW_MARGIN: Duration = Duration::from_secs(3);

fn slow_header_case(addr: SocketAddr) -> anyhow::Result<CaseReport> {
    let mut report = case("a slowloris head (a byte a second)", "closed");
    let bound = HEADER_READ_TIMEOUT + SLOW_MARGIN;
    let head = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ");
    let ended = drip(addr, &head, b'a', bound + SLOW_MARGIN)?;
    report.observed = match ended {
        Some((took, _)) if took <= bound => "closed".into(),
        Some(_) => "closed_late".into(),
        None => "still_open".into(),
    };
    report.detail = format!("ended after {ended:?}; bound {bound:?}");
    Ok(report)
}

fn slow_body_case(addr: SocketAddr, token: &str) -> anyhow::Result<CaseReport> {
    let mut report = case("a slow popup body (a byte a second)", "408");
    let bound = BODY_READ_TIMEOUT + SLOW_MARGIN;
    let head = format!(
        "POST /api/query/popup HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    let ended = drip(addr, &head, b' ', bound + SLOW_MARGIN)?;
    report.observed = match ended {
        Some((took, status)) if took <= bound => status.to_string(),
        Some(_) => "late".into(),
        None => "still_open".into(),
    };
    report.detail = format!("ended after {ended:?}; bound {bound:?}");
    Ok(report)
}

/// Twice [`MAX_CONNECTIONS`] idle connections: the server never holds more than the limit,
/// closes every idle one within two head timeouts, and then answers a new client.
fn idle_connections_case(
    addr: SocketAddr,
    pid: u32,
    baseline: usize,
) -> anyhow::Result<CaseReport> {
    let mut report = case("many idle connections", "bounded");
    let count = 2 * MAX_CONNECTIONS;
    let streams: Vec<TcpStream> = (0..count)
        .map(|_| TcpStream::connect(addr))
        .collect::<Result<_, _>>()?;
    report.inputs = count as u64;
    std::thread::sleep(Duration::from_millis(500));
    let sockets = open_sockets(pid)?;
    let deadline = Instant::now() + 2 * HEADER_READ_TIMEOUT + 2 * SLOW_MARGIN;
    let mut still_open = 0;
    for mut stream in streams {
        let left = deadline.saturating_duration_since(Instant::now());
        stream.set_read_timeout(Some(left.max(Duration::from_millis(10))))?;
        let mut sink = Vec::new();
        if let Err(e) = stream.read_to_end(&mut sink)
            && matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )
        {
            still_open += 1;
        }
    }
    let after = exchange(addr, "GET", "/health", &[], b"")?.0;
    report.observed = if !sockets_bounded(sockets, baseline, MAX_CONNECTIONS) {
        "unbounded".into()
    } else if still_open > 0 {
        "kept_open".into()
    } else if after != 200 {
        format!("then_{after}")
    } else {
        "bounded".into()
    };
    report.detail = format!(
        "{count} idle clients: the server held {sockets} sockets ({baseline} before any client, limit {MAX_CONNECTIONS} connections); {still_open} still open at the deadline; a new client then got {after}"
    );
    Ok(report)
}

/// Each kind of tampering with a copy of the DataRoot's audit log, caught by the real
/// `autocapture audit verify` (and a cut tail by a recorded head).
fn audit_cases(bin: &Path, work: &Path, data: &Path) -> anyhow::Result<Vec<CaseReport>> {
    let log = AuditLog::in_data_root(data);
    let head = log.verify()?;
    let lines: Vec<String> = std::fs::read_to_string(log.path())?
        .lines()
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(
        lines.len() >= 3,
        "the audit cases need 3 lines, the log has {}",
        lines.len()
    );
    type Tamper = fn(&mut Vec<String>) -> String;
    let tampers: [(&str, &str, Tamper); 5] = [
        ("untampered", "ok", |l| l.join("\n") + "\n"),
        ("edited line", "audit_hash_mismatch", |l| {
            l[1] = l[1].replacen("\"outcome\":\"ok\"", "\"outcome\":\"OK\"", 1);
            l.join("\n") + "\n"
        }),
        ("deleted line", "audit_chain_mismatch", |l| {
            l.remove(1);
            l.join("\n") + "\n"
        }),
        ("reordered lines", "audit_chain_mismatch", |l| {
            l.swap(0, 1);
            l.join("\n") + "\n"
        }),
        ("truncated line", "audit_line_truncated", |l| {
            let last = l.len() - 1;
            let cut = l[last].len() / 2;
            l[last].truncate(cut);
            l.join("\n")
        }),
    ];
    let mut cases = Vec::new();
    for (name, expected, tamper) in tampers {
        let copy = work.join(format!("audit-{}", name.replace(' ', "-")));
        std::fs::create_dir_all(&copy)?;
        let mut edited = lines.clone();
        std::fs::write(copy.join("audit.ndjson"), tamper(&mut edited))?;
        let output = Command::new(bin)
            .args(["audit", "verify", "--json", "--data-dir"])
            .arg(&copy)
            .stdin(Stdio::null())
            .output()?;
        let (code, exit, panicked) = coded(&output);
        let mut report = case(format!("audit log: {name}"), expected);
        report.observed = code;
        report.panics = u64::from(panicked);
        report.detail = format!("exit {exit:?}");
        cases.push(report);
    }
    let mut report = case("audit log: lines cut from the end", "audit_tail_missing");
    let copy = work.join("audit-cut-tail.ndjson");
    std::fs::write(&copy, lines[..lines.len() - 1].join("\n") + "\n")?;
    report.observed = match verify_audit(&copy, Some(&head)) {
        Ok(_) => "verified".into(),
        Err(AuditError::Broken { kind, .. }) => kind.code().into(),
        Err(other) => other.code().into(),
    };
    report.detail = format!("against the recorded head of {} lines", head.lines);
    cases.push(report);
    Ok(cases)
}

/// A complete, passing, release-signed report's Statement (every gate of the plan passed), for
/// signing old and current reports; `change` edits its predicate.
pub fn release_statement(
    commit: &str,
    run_id: &str,
    finished: &str,
    change: fn(&mut Value),
) -> Value {
    let gates: Vec<Value> = crate::gates::PLAN
        .iter()
        .map(|(name, proves)| {
            json!({"name": name, "proves": proves, "verdict": "pass", "duration_ms": 1,
                   "measurements": {}, "evidence": [], "checks": [{"name": "held", "passed": true}]})
        })
        .collect();
    let mut predicate = json!({
        "predicate_version": report::PREDICATE_VERSION, "run_id": run_id,
        "started_at_utc": finished, "finished_at_utc": finished, "dev_signed": false,
        "contract_version": "1.0.0", "schema_hash": "0".repeat(64), "target": "embedded",
        "verdict": "pass", "gates": gates,
        "environment": {"os": "linux", "arch": "x86_64", "cpus": 2, "git_commit": commit,
                        "harness_version": "0.1.0"},
    });
    change(&mut predicate);
    json!({
        "_type": report::STATEMENT_TYPE,
        "subject": [{"name": "git-commit", "digest": {"gitCommit": commit}}],
        "predicateType": report::PREDICATE_TYPE,
        "predicate": predicate,
    })
}

/// How a verifier answers an envelope: `ok` or the error code, through
/// `autocapture-gates verify` when the harness binary is at hand, else in process.
fn verify_envelope(
    harness: Option<&Path>,
    envelope: &Path,
    public: &Path,
    expect: &freshness::Expectations,
) -> anyhow::Result<String> {
    if let Some(harness) = harness {
        let mut command = Command::new(harness);
        command
            .arg("verify")
            .arg(envelope)
            .arg("--public-key")
            .arg(public);
        if let Some(commit) = &expect.commit {
            command.args(["--expect-commit", commit]);
        }
        if let Some(run_id) = &expect.run_id {
            command.args(["--expect-run-id", run_id]);
        }
        if let Some(not_before) = expect.not_before {
            command.args([
                "--not-before",
                &autocapture_core::contract::format_ts_utc(not_before),
            ]);
        }
        let output = command.stdin(Stdio::null()).output()?;
        if output.status.success() {
            return Ok("ok".into());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Ok(stderr
            .split_once('[')
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(code, _)| code.to_owned())
            .unwrap_or_else(|| format!("exit {:?}", output.status.code())));
    }
    let key = keys::load_public(public)?;
    let bytes = std::fs::read(envelope)?;
    let policy = acceptance::Policy {
        expect: expect.clone(),
        ..Default::default()
    };
    let plan: Vec<&str> = crate::gates::PLAN.iter().map(|(name, _)| *name).collect();
    Ok(match acceptance::check(&bytes, &[key], &policy, &plan) {
        Ok(_) => "ok".into(),
        Err(refusal) => refusal.code().into(),
    })
}

/// Signed reports: an edited or truncated envelope, a foreign key, and an older validly signed
/// report presented as the current one (another commit, another run, finished too early).
fn report_cases(work: &Path, harness: Option<&Path>) -> anyhow::Result<Vec<CaseReport>> {
    let dir = work.join("reports");
    std::fs::create_dir_all(&dir)?;
    let key = keys::generate()?;
    let public = dir.join("report.pub");
    keys::write_public(&public, &key.verifying_key())?;
    let other = keys::generate()?;
    let other_public = dir.join("other.pub");
    keys::write_public(&other_public, &other.verifying_key())?;
    let (old_commit, new_commit) = ("a".repeat(40), "b".repeat(40));
    let write = |name: &str, bytes: &[u8]| -> anyhow::Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, bytes)?;
        Ok(path)
    };
    let sign = |value: &Value| -> anyhow::Result<Vec<u8>> {
        Ok(serde_json::to_vec(&dsse::sign(
            &serde_json::to_vec(value)?,
            &key,
        ))?)
    };
    let current_with = |change: fn(&mut Value)| {
        sign(&release_statement(
            &new_commit,
            "20260301T100000000000Z",
            "2026-03-01T10:05:00.000000Z",
            change,
        ))
    };
    let current = current_with(|_| {})?;
    let old = sign(&release_statement(
        &old_commit,
        "20260201T100000000000Z",
        "2026-02-01T10:05:00.000000Z",
        |_| {},
    ))?;
    let failing = current_with(|p| {
        p["verdict"] = json!("fail");
        p["gates"][3]["verdict"] = json!("fail");
    })?;
    let lying = current_with(|p| p["gates"][3]["verdict"] = json!("error"))?;
    let partial = current_with(|p| {
        p["verdict"] = json!("partial");
        p["gates"][3]["verdict"] = json!("skipped");
    })?;
    let short = current_with(|p| {
        if let Some(gates) = p["gates"].as_array_mut() {
            gates.truncate(3);
        }
    })?;
    let dev_signed = current_with(|p| p["dev_signed"] = json!(true))?;
    let mut edited: Value = serde_json::from_slice(&current)?;
    let payload = edited["payload"].as_str().unwrap_or_default().to_owned();
    let body = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &payload)?;
    let changed = String::from_utf8_lossy(&body).replacen("\"pass\"", "\"fail\"", 1);
    edited["payload"] = json!(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        changed.as_bytes()
    ));
    let expect_current = freshness::Expectations {
        commit: Some(new_commit.clone()),
        run_id: Some("20260301T100000000000Z".into()),
        not_before: Some(time::macros::datetime!(2026-03-01 10:00 UTC)),
    };
    let only = |f: fn(&freshness::Expectations) -> freshness::Expectations| f(&expect_current);
    let cases_in: Vec<(&str, &str, PathBuf, &Path, freshness::Expectations)> = vec![
        (
            "the current report verifies",
            "ok",
            write("current.dsse.json", &current)?,
            &public,
            expect_current.clone(),
        ),
        (
            "an edited report",
            "envelope_signature_invalid",
            write("edited.dsse.json", &serde_json::to_vec(&edited)?)?,
            &public,
            freshness::Expectations::default(),
        ),
        (
            "a truncated report",
            "envelope_invalid",
            write("truncated.dsse.json", &current[..current.len() / 2])?,
            &public,
            freshness::Expectations::default(),
        ),
        (
            "a report checked with the wrong key",
            "envelope_wrong_key",
            write("current-again.dsse.json", &current)?,
            &other_public,
            freshness::Expectations::default(),
        ),
        (
            "a report whose verdict is fail",
            "report_not_pass",
            write("failing.dsse.json", &failing)?,
            &public,
            freshness::Expectations::default(),
        ),
        (
            "a report saying pass over an erroring gate",
            "report_not_pass",
            write("lying.dsse.json", &lying)?,
            &public,
            freshness::Expectations::default(),
        ),
        (
            "a partial report (a gate skipped)",
            "report_partial",
            write("partial.dsse.json", &partial)?,
            &public,
            freshness::Expectations::default(),
        ),
        (
            "a report saying pass over 3 gates of the plan",
            "report_partial",
            write("short.dsse.json", &short)?,
            &public,
            freshness::Expectations::default(),
        ),
        (
            "a dev-signed report",
            "report_dev_signed",
            write("dev-signed.dsse.json", &dev_signed)?,
            &public,
            freshness::Expectations::default(),
        ),
        (
            "an older report replayed (commit)",
            "report_commit_mismatch",
            write("old.dsse.json", &old)?,
            &public,
            only(|e| freshness::Expectations {
                commit: e.commit.clone(),
                ..Default::default()
            }),
        ),
        (
            "an older report replayed (run id)",
            "report_run_id_mismatch",
            dir.join("old.dsse.json"),
            &public,
            only(|e| freshness::Expectations {
                run_id: e.run_id.clone(),
                ..Default::default()
            }),
        ),
        (
            "an older report replayed (not before)",
            "report_stale",
            dir.join("old.dsse.json"),
            &public,
            only(|e| freshness::Expectations {
                not_before: e.not_before,
                ..Default::default()
            }),
        ),
    ];
    let mut cases = Vec::new();
    for (name, expected, envelope, key_file, expect) in cases_in {
        let mut report = case(format!("signed report: {name}"), expected);
        report.observed = verify_envelope(harness, &envelope, key_file, &expect)?;
        report.detail = if harness.is_some() {
            "autocapture-gates verify".into()
        } else {
            "in process".into()
        };
        cases.push(report);
    }
    Ok(cases)
}
