//! The popup server's security cases, on the real server over a loopback socket: tokens, the
//! token file, write routes, CORS, foreign `Host` and `Origin`, oversized, slow and idle
//! connections.

use super::*;

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
pub(super) fn server_cases(bin: &Path, data: &Path) -> anyhow::Result<Vec<CaseReport>> {
    let mut cases = Vec::new();
    let served = ProcessServer::start(bin, data)?;
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
    let restarted = ProcessServer::start(bin, data)?;
    let mode = std::fs::metadata(&token_path)?.permissions().mode() & 0o777;
    let replaced = restarted.token != token;
    let old_refused = ask_with(restarted.addr, &token)?;
    let restarted_clean = restarted.stop()?;
    report.panics = u64::from(!restarted_clean) + u64::from(!clean);
    report.observed = format!(
        "{} {mode:04o}",
        if replaced && old_refused == 401 {
            "replaced"
        } else {
            "kept"
        }
    );
    report.detail = format!(
        "the old token now gets {old_refused}; SIGINT stopped the first server {} and the restarted one {}",
        if clean {
            "cleanly"
        } else {
            "not cleanly (a signal, or still running 15 s after SIGINT)"
        },
        if restarted_clean {
            "cleanly"
        } else {
            "only by a signal"
        },
    );
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
