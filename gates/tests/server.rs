//! The popup server on an ephemeral loopback port, spoken to over a real TCP socket: every
//! non-loopback bind is refused, a missing or wrong token gets 401, other methods 405, an
//! oversized body 413, no CORS headers, and popup responses (including the timeout) validate
//! against their schema. Starting the server and creating its token are audited.

use std::net::SocketAddr;
use std::time::Duration;

use autocapture_core::audit::AuditLog;
use autocapture_core::server::{POPUP_TIMEOUT, TOKEN_FILE, check_bind};
use autocapture_core::store::DataRoot;
use autocapture_gates::contract::{default_contracts_dir, schemas::ContractSet};
use autocapture_gates::probe::http::Client;
use autocapture_gates::probe::server::LoopbackServer;
use serde_json::Value;

/// A server of `data` on an ephemeral loopback port, with its token.
fn start(data: &DataRoot, timeout: Duration) -> LoopbackServer {
    LoopbackServer::start(data, timeout).expect("the server starts")
}

fn data_root(dir: &std::path::Path) -> DataRoot {
    autocapture_gates::corpus::build::indexed(dir, 2, 300, 1)
        .expect("indexed DataRoot")
        .0
}

/// Sends one HTTP/1.1 request and returns (status, headers, body).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, String, String) {
    let reply = Client::to(addr)
        .token(token)
        .timeout(Duration::from_secs(20))
        .send(method, path, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"));
    (reply.status, reply.head, reply.body)
}

#[test]
fn non_loopback_binds_are_refused() {
    for bind in [
        "0.0.0.0:8787",
        "[::]:8787",
        "192.168.1.20:8787",
        "10.0.0.7:8787",
        "172.16.0.1:80",
        "8.8.8.8:53",
        "no-such-host.invalid:8787",
        "127.0.0.1",
    ] {
        let err = check_bind(bind).expect_err(bind);
        assert_eq!(err.code(), "bind_refused", "{bind}");
    }
    for bind in [
        "127.0.0.1:8787",
        "127.0.0.2:0",
        "[::1]:8787",
        "localhost:8787",
    ] {
        assert!(check_bind(bind).is_ok(), "{bind}");
    }
}

#[test]
fn the_api_on_a_real_socket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = data_root(dir.path());
    let audit_before = AuditLog::in_data_root(&data.root)
        .verify()
        .expect("audit")
        .lines;
    let running = start(&data, POPUP_TIMEOUT);
    let addr = running.addr;

    let token_file = data.root.join(TOKEN_FILE);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&token_file)
            .expect("token file")
            .permissions(),
    );
    assert_eq!(
        mode & 0o777,
        0o600,
        "the token is readable by its owner only"
    );
    let token = running.token.clone();

    let popup = br#"{"query": "which window had focus at 10:20:10?", "max_citations": 99, "schedule_extract": true}"#;
    assert_eq!(
        http(addr, "POST", "/api/query/popup", None, popup).0,
        401,
        "no token"
    );
    assert_eq!(
        http(
            addr,
            "POST",
            "/api/query/popup",
            Some("0".repeat(64).as_str()),
            popup
        )
        .0,
        401,
        "wrong token"
    );
    let (status, headers, body) = http(addr, "POST", "/api/query/popup", Some(&token), popup);
    assert_eq!(status, 200, "{body}");
    assert!(
        !headers.contains("access-control-"),
        "no CORS headers: {headers}"
    );
    let value: Value = serde_json::from_str(&body).expect("json");
    let set = ContractSet::load(&default_contracts_dir().expect("a checkout")).expect("contracts");
    assert_eq!(
        set.validate("popup-response", &value).expect("validate"),
        Vec::<String>::new()
    );
    assert_eq!(value["state"], "ok");
    assert_eq!(value["fields"]["window_title"], "Save As");
    assert!(
        value["citations"]
            .as_array()
            .is_some_and(|c| !c.is_empty() && c.len() <= 32)
    );
    assert_eq!(
        value["counters"]["query_schedule_extract_requests_total"], 0,
        "schedule_extract is ignored"
    );

    for method in ["DELETE", "PUT", "PATCH"] {
        assert_eq!(
            http(addr, method, "/api/query/popup", Some(&token), b"").0,
            405,
            "{method}"
        );
    }
    assert_eq!(
        http(addr, "DELETE", "/api/auth/token", Some(&token), b"").0,
        405
    );
    let oversized = format!(r#"{{"query": "{}"}}"#, "x".repeat(20 * 1024));
    assert_eq!(
        http(
            addr,
            "POST",
            "/api/query/popup",
            Some(&token),
            oversized.as_bytes()
        )
        .0,
        413
    );
    assert_eq!(
        http(
            addr,
            "POST",
            "/api/query/popup",
            Some(&token),
            br#"{"query": "x", "extra": 1}"#
        )
        .0,
        400,
        "unknown fields refused"
    );
    assert_eq!(
        http(
            addr,
            "POST",
            "/api/query/popup",
            Some(&token),
            br#"{"query": "bogus:op"}"#
        )
        .0,
        422
    );
    assert_eq!(http(addr, "GET", "/nope", None, b"").0, 404);
    let (status, _, body) = http(addr, "GET", "/api/auth/token", None, b"");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["token"],
        token.as_str()
    );
    let (_, _, body) = http(addr, "GET", "/api/auth/status", Some(&token), b"");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["authenticated"],
        true
    );
    let (status, _, body) = http(addr, "GET", "/health", None, b"");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["ok"],
        true
    );

    running.stop().expect("the server stops cleanly");
    let log = AuditLog::in_data_root(&data.root);
    assert_eq!(
        log.verify().expect("audit").lines,
        audit_before + 2,
        "token creation and server start are audited"
    );
    let text = std::fs::read_to_string(log.path()).expect("audit");
    assert!(
        text.contains("\"action\":\"server.token_create\"")
            && text.contains("\"action\":\"server.start\"")
    );
}

#[test]
fn a_slow_answer_degrades_with_popup_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = data_root(dir.path());
    let running = start(&data, Duration::ZERO);
    let (addr, token) = (running.addr, running.token.clone());
    let (status, _, body) = http(
        addr,
        "POST",
        "/api/query/popup",
        Some(&token),
        br#"{"query": "Globex"}"#,
    );
    assert_eq!(status, 200);
    let value: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(value["state"], "degraded");
    assert_eq!(value["processing_blocked_reason"], "popup_timeout");
    let set = ContractSet::load(&default_contracts_dir().expect("a checkout")).expect("contracts");
    assert_eq!(
        set.validate("popup-response", &value).expect("validate"),
        Vec::<String>::new()
    );
    running.stop().expect("the server stops cleanly");
}
