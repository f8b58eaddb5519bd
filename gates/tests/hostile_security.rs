//! The security cases of the hostile suite on a generated corpus with the real binaries (every
//! case passes), each pure judgement failing a planted violation (a CORS header, a write route
//! that answers, a plain token compare, too many sockets, a replayed report), and the regression
//! tests of the server fixes (slow and idle clients, foreign `Host` and `Origin`) on an
//! in-process server with short limits.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use autocapture_core::server::{Limits, POPUP_TIMEOUT};
use autocapture_core::store::DataRoot;
use autocapture_gates::corpus::generate::{GenerateOptions, generate};
use autocapture_gates::corpus::story::Story;
use autocapture_gates::harness::gate::GateContext;
use autocapture_gates::harness::{dsse, keys};
use autocapture_gates::hostile::Family;
use autocapture_gates::hostile::security::{
    cases, compare_is_constant_time, cors_headers, exchange, release_statement, sockets_bounded,
    write_refused,
};
use autocapture_gates::probe::server::LoopbackServer;

const HARNESS: &str = env!("CARGO_BIN_EXE_autocapture-gates");

fn context(dir: &Path) -> GateContext {
    let corpus = dir.join("corpus");
    generate(
        &Story::default_story().expect("story"),
        &GenerateOptions {
            out: corpus.clone(),
            seed: 7,
            frames: 300,
            handoffs: 2,
        },
    )
    .expect("corpus");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).expect("work");
    GateContext {
        jobs: 2,
        autocapture_bin: Some(
            autocapture_gates::harness::bins::autocapture_beside(Path::new(HARNESS))
                .expect("autocapture binary"),
        ),
        harness_bin: Some(PathBuf::from(HARNESS)),
        ..GateContext::new(corpus, work)
    }
}

#[test]
fn security_cases_pass_on_real_processes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = context(dir.path());
    let cases = cases(&ctx).expect("cases ran");
    for case in &cases {
        eprintln!(
            "{:<52} expected {:<32} observed {:<32} {}",
            case.name, case.expected, case.observed, case.detail
        );
    }
    assert!(cases.iter().all(|c| c.family == Family::Security));
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    let failed: Vec<_> = cases.iter().filter(|c| !c.passed()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    // The token stays with its user, and the server planted to hand it to anyone is caught.
    for name in [
        "the token route refuses another user's process",
        "planted: a server that gives the token to any peer is caught",
    ] {
        assert!(names.contains(&name), "{name} is missing: {names:?}");
    }
}

#[test]
fn a_cors_header_is_flagged() {
    let clean = "http/1.1 200 ok\r\ncontent-type: application/json\r\ncontent-length: 2";
    assert!(cors_headers(clean).is_empty());
    let planted = "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\ncontent-length: 2";
    assert_eq!(
        cors_headers(planted),
        vec!["access-control-allow-origin: *".to_owned()]
    );
}

#[test]
fn a_write_route_that_answers_is_flagged() {
    assert!(write_refused(404) && write_refused(405));
    for planted in [200, 201, 204, 202, 500, 401, 0] {
        assert!(!write_refused(planted), "{planted}");
    }
}

#[test]
fn a_plain_token_compare_is_flagged() {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src/server.rs"),
    )
    .expect("server source");
    assert_eq!(compare_is_constant_time(&source), Ok(()));
    let planted = source.replace(".ct_eq(expected).into()", ".eq(expected)");
    assert!(compare_is_constant_time(&planted).is_err(), "no ct_eq");
    let planted = source.replace(
        "token_matches(given.trim().as_bytes(), token.value.as_bytes())",
        "given.trim() == token.value",
    );
    assert!(compare_is_constant_time(&planted).is_err(), "plain ==");
}

#[test]
fn too_many_sockets_are_flagged() {
    assert!(sockets_bounded(67, 3, 64));
    assert!(!sockets_bounded(68, 3, 64));
    assert!(!sockets_bounded(131, 3, 64));
}

/// A validly signed older report is refused by `autocapture-gates verify` with each expectation,
/// and accepted without them (the signature alone cannot tell).
#[test]
fn a_replayed_report_is_refused_by_verify() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = keys::generate().expect("key");
    let public = dir.path().join("k.pub");
    keys::write_public(&public, &key.verifying_key()).expect("public key");
    let commit = "c".repeat(40);
    let statement = release_statement(
        &commit,
        "20260101T000000000000Z",
        "2026-01-01T00:05:00.000000Z",
        |_| {},
    );
    let envelope = dir.path().join("old.dsse.json");
    std::fs::write(
        &envelope,
        serde_json::to_vec(&dsse::sign(
            &serde_json::to_vec(&statement).expect("json"),
            &key,
        ))
        .expect("json"),
    )
    .expect("write");
    let verify = |extra: &[&str]| {
        let output = Command::new(HARNESS)
            .arg("verify")
            .arg(&envelope)
            .arg("--public-key")
            .arg(&public)
            .args(extra)
            .output()
            .expect("run verify");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(verify(&[]).0, Some(0));
    assert_eq!(
        verify(&[
            "--expect-commit",
            &commit,
            "--expect-run-id",
            "20260101T000000000000Z",
            "--not-before",
            "2026-01-01T00:00:00Z",
        ])
        .0,
        Some(0)
    );
    for (flags, code) in [
        (
            ["--expect-commit", &"d".repeat(40)],
            "report_commit_mismatch",
        ),
        (
            ["--expect-run-id", "20260301T000000000000Z"],
            "report_run_id_mismatch",
        ),
        (["--not-before", "2026-03-01T00:00:00Z"], "report_stale"),
    ] {
        let (exit, stderr) = verify(&flags);
        assert_eq!(exit, Some(6), "{stderr}");
        assert!(stderr.contains(&format!("[{code}]")), "{stderr}");
    }
    assert_eq!(verify(&["--not-before", "yesterday"]).0, Some(2));
}

/// An in-process server over an empty DataRoot with short limits.
struct Running {
    server: LoopbackServer,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

const SHORT: Limits = Limits {
    header_read_timeout: Duration::from_millis(800),
    body_read_timeout: Duration::from_millis(800),
    max_connections: 4,
    token_route: true,
};

impl Running {
    fn start() -> Running {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = LoopbackServer::start_with(&DataRoot::new(dir.path()), POPUP_TIMEOUT, SHORT)
            .expect("the server starts");
        Running {
            addr: server.addr,
            server,
            _dir: dir,
        }
    }

    fn stop(self) {
        self.server.stop().expect("the server stops cleanly");
    }
}

/// Reads until the server closes or `limit` passes; the time it took, or `None`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).expect("read timeout");
    let mut sink = Vec::new();
    match stream.read_to_end(&mut sink) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        _ => Some(started.elapsed()),
    }
}

/// Guards the head deadline: a client that never finishes its request head is cut off.
#[test]
fn regression_slow_header_is_timed_out() {
    let running = Running::start();
    let mut stream = TcpStream::connect(running.addr).expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        .expect("write");
    assert!(
        closed_within(&mut stream, Duration::from_secs(10)).is_some(),
        "a head that never ends keeps the connection"
    );
    running.stop();
}

/// Guards the body deadline: an authorised popup request whose body trickles gets 408.
#[test]
fn regression_slow_body_is_timed_out() {
    let running = Running::start();
    let token = std::fs::read_to_string(
        running
            ._dir
            .path()
            .join(autocapture_core::server::TOKEN_FILE),
    )
    .expect("token")
    .split_whitespace()
    .next()
    .unwrap_or_default()
    .to_owned();
    let mut stream = TcpStream::connect(running.addr).expect("connect");
    write!(
        stream,
        "POST /api/query/popup HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Length: 100\r\n\r\n{{"
    )
    .expect("write");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("request_timeout"), "{response}");
    running.stop();
}

/// Guards the connection limit and the idle deadline: with the limit held by idle clients, a
/// new client is answered only after the server has closed one of them; every idle client is
/// closed in the end.
#[test]
fn regression_idle_connections_are_bounded() {
    let running = Running::start();
    let mut idle: Vec<TcpStream> = (0..SHORT.max_connections)
        .map(|_| TcpStream::connect(running.addr).expect("connect"))
        .collect();
    assert_eq!(
        exchange(running.addr, "GET", "/health", &[], b"")
            .expect("health")
            .0,
        200
    );
    let closed_first = idle
        .iter_mut()
        .filter(|stream| {
            stream.set_nonblocking(true).expect("nonblocking");
            let mut byte = [0u8; 1];
            let mut shared: &TcpStream = stream;
            let closed = matches!(shared.read(&mut byte), Ok(0));
            stream.set_nonblocking(false).expect("blocking");
            closed
        })
        .count();
    assert!(
        closed_first >= 1,
        "the new client was served while every permit was held by an idle connection"
    );
    for stream in &mut idle {
        assert!(
            closed_within(stream, Duration::from_secs(15)).is_some(),
            "an idle connection stays open"
        );
    }
    running.stop();
}

/// Guards against DNS rebinding: a page reaching the server under a foreign name gets 421, even
/// for the token route.
#[test]
fn regression_dns_rebinding_host_is_refused() {
    let running = Running::start();
    for host in [
        "evil.example",
        "evil.example:8787",
        "127.0.0.1.evil.example",
    ] {
        let (status, _, body) = exchange(
            running.addr,
            "GET",
            "/api/auth/token",
            &[("Host", host)],
            b"",
        )
        .expect("exchange");
        assert_eq!(status, 421, "{host}");
        assert!(body.contains("host_not_loopback") && !body.contains("\"token\""));
    }
    assert_eq!(
        exchange(
            running.addr,
            "GET",
            "/api/auth/token",
            &[("Host", "localhost:1")],
            b""
        )
        .expect("exchange")
        .0,
        200
    );
    running.stop();
}

/// Guards against cross-origin use: a request carrying a foreign `Origin` (a page in a
/// browser, including its preflight) is refused without CORS headers.
#[test]
fn regression_foreign_origin_is_refused() {
    let running = Running::start();
    for (method, origin) in [
        ("GET", "https://evil.example"),
        ("OPTIONS", "https://evil.example"),
        ("POST", "null"),
    ] {
        let (status, head, _) = exchange(
            running.addr,
            method,
            "/api/auth/token",
            &[("Origin", origin)],
            b"",
        )
        .expect("exchange");
        assert_eq!(status, 403, "{method} {origin}");
        assert!(cors_headers(&head).is_empty(), "{head}");
    }
    let origin = format!("http://{}", running.addr);
    let (status, head, _) = exchange(
        running.addr,
        "GET",
        "/health",
        &[("Origin", origin.as_str())],
        b"",
    )
    .expect("exchange");
    assert_eq!(status, 200);
    assert!(cors_headers(&head).is_empty(), "{head}");
    running.stop();
}

/// `server.token_route: false` switches the token route off for everyone, its own user too; the
/// popup route still answers with the token from the file.
#[test]
fn the_token_route_can_be_switched_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataRoot::new(dir.path());
    let off = Limits {
        token_route: false,
        ..SHORT
    };
    let server = LoopbackServer::start_with(&data, POPUP_TIMEOUT, off).expect("the server starts");
    let (status, _, body) = exchange(
        server.addr,
        "GET",
        "/api/auth/token",
        &[("Host", "127.0.0.1")],
        b"",
    )
    .expect("exchange");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("token_route_off") && !body.contains("\"token\""));
    let token = std::fs::read_to_string(dir.path().join(autocapture_core::server::TOKEN_FILE))
        .expect("the token file");
    let token = token.split_whitespace().next().expect("a token");
    let (status, _, body) = exchange(
        server.addr,
        "GET",
        "/api/auth/status",
        &[
            ("Host", "127.0.0.1"),
            ("Authorization", &format!("Bearer {token}")),
        ],
        b"",
    )
    .expect("exchange");
    assert_eq!(status, 200);
    assert!(body.contains("\"authenticated\":true"), "{body}");
    server.stop().expect("the server stops cleanly");
}
