//! The popup query server (contract §7): loopback only, token required, read-only.
//!
//! `POST /api/query/popup` answers through the read-only query engine with a 6 s server-side
//! timeout (then `degraded` / `popup_timeout`); `GET /api/auth/token`, `GET /api/auth/status`,
//! `GET /health`. No route writes or deletes user data, other methods get 405, bodies over the
//! limit get 413, no CORS headers are sent, and requests beyond the concurrency limit wait.
//! [`check_bind`] refuses any address that is not loopback before anything listens; a request
//! whose `Host` is not a loopback name (DNS rebinding) or whose `Origin` is a foreign page is
//! refused before it reaches a route. [`Limits`] bound slow and idle clients: a request head
//! must arrive within [`HEADER_READ_TIMEOUT`] (also between keep-alive requests), a popup body
//! within [`BODY_READ_TIMEOUT`], and at most [`MAX_CONNECTIONS`] connections are open at once.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::audit::{AuditEvent, AuditLog};
use crate::base::clock::Clock;
use crate::contract::{ContractIdentity, format_ts_utc};
use crate::query::{self, QueryHandle, QueryOptions};
use crate::store::DataRoot;

pub const DEFAULT_BIND: &str = "127.0.0.1:8787";
/// Name of the token file in the DataRoot (mode 0600).
pub const TOKEN_FILE: &str = ".autocapture.server.token";
/// Request bodies above this size get 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Requests served at once; more wait their turn.
pub const MAX_CONCURRENT: usize = 8;
pub const POPUP_TIMEOUT: Duration = Duration::from_secs(6);
/// A request head (request line and headers) must arrive within this, counted from the moment
/// the connection is ready for one (so an idle keep-alive connection is closed after it too).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(4);
/// A popup request body must arrive within this once its head has been read; then 408.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(4);
/// Connections open at once; further clients wait in the listen backlog until one closes.
pub const MAX_CONNECTIONS: usize = 64;

/// How long a client may take, how many may be connected, and whether the token route answers
/// (`server.token_route`; when off the popup reads the 0600 token file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_connections: usize,
    pub token_route: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            token_route: true,
        }
    }
}

#[derive(Debug, Error)]
pub enum ServerError {
    #[error(
        "bind {bind}: not a loopback address ({reason}); the server only listens on 127.0.0.0/8 or ::1"
    )]
    BindRefused { bind: String, reason: String },
    #[error("bind {bind}: {source}")]
    Bind {
        bind: String,
        source: std::io::Error,
    },
    #[error("read or create the token {path}: {source}")]
    Token {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("serve: {0}")]
    Serve(std::io::Error),
}

impl ServerError {
    pub fn code(&self) -> &'static str {
        match self {
            ServerError::BindRefused { .. } => "bind_refused",
            ServerError::Bind { .. } => "bind_failed",
            ServerError::Token { .. } => "token_unavailable",
            ServerError::Audit(inner) => inner.code(),
            ServerError::Serve(_) => "serve_failed",
        }
    }
}

/// Resolves `bind` and accepts it only when every address it names is loopback.
pub fn check_bind(bind: &str) -> Result<SocketAddr, ServerError> {
    let refused = |reason: String| ServerError::BindRefused {
        bind: bind.to_owned(),
        reason,
    };
    let addrs: Vec<SocketAddr> = bind
        .to_socket_addrs()
        .map_err(|e| refused(format!("does not resolve: {e}")))?
        .collect();
    let first = *addrs
        .first()
        .ok_or_else(|| refused("resolves to nothing".into()))?;
    if let Some(bad) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        return Err(refused(format!("{} is not loopback", bad.ip())));
    }
    Ok(first)
}

/// The bearer token and when it was created.
#[derive(Debug, Clone)]
pub struct Token {
    pub value: String,
    pub created_ts: String,
}

/// Why an existing token file was not used and a new token was written in its place.
fn token_file_problem(path: &Path) -> Result<Option<&'static str>, std::io::Error> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some("missing")),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_file() {
        return Ok(Some("token_file_not_regular"));
    }
    // A token others could read may have leaked: it is replaced, never trusted.
    if meta.permissions().mode() & 0o077 != 0 {
        return Ok(Some("token_file_mode"));
    }
    Ok(None)
}

fn parse_token(text: &str) -> Option<Token> {
    let mut parts = text.split_whitespace();
    let (value, created) = (parts.next()?, parts.next()?);
    let well_formed = value.len() == 64
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    well_formed.then(|| Token {
        value: value.to_owned(),
        created_ts: created.to_owned(),
    })
}

/// Reads the DataRoot's token, creating it (owner-only, audited) when missing. A token file that
/// is not a regular file, that group or others may access, or that does not hold a well-formed
/// token is replaced by a new token (its mode is never widened and it is never reused); the
/// audit line names the reason.
pub fn load_or_create_token(data_root: &DataRoot, clock: &dyn Clock) -> Result<Token, ServerError> {
    let path = data_root.root.join(TOKEN_FILE);
    let err = |source| ServerError::Token {
        path: path.clone(),
        source,
    };
    let mut reason = token_file_problem(&path).map_err(err)?;
    if reason.is_none() {
        let text = std::fs::read_to_string(&path).map_err(err)?;
        match parse_token(&text) {
            Some(token) => return Ok(token),
            None => reason = Some("token_file_invalid"),
        }
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| err(std::io::Error::other(e.to_string())))?;
    let token = Token {
        value: hex::encode(bytes),
        created_ts: format_ts_utc(clock.now()),
    };
    write_owner_only(&path, &format!("{} {}\n", token.value, token.created_ts)).map_err(err)?;
    let mut details = json!({"token_file": path});
    if let Some(reason) = reason.filter(|r| *r != "missing") {
        details["replaced"] = json!(reason);
    }
    AuditLog::in_data_root(&data_root.root).append(
        &AuditEvent {
            action: "server.token_create".into(),
            actor: "autocapture serve".into(),
            outcome: "ok".into(),
            details,
        },
        clock.now(),
    )?;
    Ok(token)
}

/// Writes `text` to `path` through a fresh temp file created owner-only (`create_new`, so no
/// existing file, link or mode is ever reused), synced, renamed over `path`, folder synced.
fn write_owner_only(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("the token file has no folder"))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other("the token file has no name"))?;
    let temp = crate::base::durable::temp_path_for(dir, name);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        crate::base::fsops::fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

struct AppState {
    data_root: DataRoot,
    token: Token,
    timeout: Duration,
    limits: Limits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PopupRequest {
    query: String,
    #[serde(default)]
    max_citations: Option<i64>,
    #[serde(default)]
    #[allow(dead_code)]
    schedule_extract: Option<bool>,
}

fn authorized(headers: &HeaderMap, token: &Token) -> bool {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| token_matches(given.trim().as_bytes(), token.value.as_bytes()))
}

/// True when `given` equals `expected`, compared in constant time (`subtle`): the time taken
/// depends on the lengths only, never on where the first differing byte is. The expected token
/// always has 64 characters, so its length is no secret.
pub fn token_matches(given: &[u8], expected: &[u8]) -> bool {
    given.ct_eq(expected).into()
}

/// `host[:port]` or `[v6]:port` naming loopback: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback_authority(authority: &str) -> bool {
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some(split) => split,
            None => return false,
        },
        None => match authority.find(':') {
            Some(at) => (&authority[..at], &authority[at..]),
            None => (authority, ""),
        },
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
        });
    port_ok
        && (host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
}

/// An `Origin` of a page served from loopback (`http(s)://` + a loopback authority, no path).
pub fn is_loopback_origin(origin: &str) -> bool {
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(is_loopback_authority)
}

/// Refuses a request whose `Host` is not loopback (a DNS-rebinding page reaching the server
/// under a foreign name) with 421, and one sent by a foreign page (`Origin` present and not
/// loopback, which covers CORS preflights) with 403, before any route runs.
async fn loopback_only(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok());
    if !host.is_some_and(is_loopback_authority) {
        return error_response(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_loopback",
            "the Host header must name loopback (127.0.0.1, [::1] or localhost)",
        );
    }
    if let Some(origin) = headers.get(axum::http::header::ORIGIN)
        && !origin.to_str().is_ok_and(is_loopback_origin)
    {
        return error_response(
            StatusCode::FORBIDDEN,
            "origin_refused",
            "requests from other origins are refused",
        );
    }
    next.run(request).await
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"ok": false, "error": {"code": code, "message": message}})),
    )
        .into_response()
}

async fn popup(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    if !authorized(request.headers(), &state.token) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "token_required",
            "send Authorization: Bearer <token> (GET /api/auth/token)",
        );
    }
    // The body limit (413) is the extractor's; the deadline bounds a client that trickles it.
    let body = match tokio::time::timeout(
        state.limits.body_read_timeout,
        axum::body::Bytes::from_request(request, &()),
    )
    .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(rejection)) => return rejection.into_response(),
        Err(_) => {
            return error_response(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time",
            );
        }
    };
    let request: PopupRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return error_response(StatusCode::BAD_REQUEST, "request_invalid", &e.to_string());
        }
    };
    if request.query.is_empty() || request.query.chars().count() > 4096 {
        return error_response(
            StatusCode::BAD_REQUEST,
            "request_invalid",
            "query must have 1 to 4096 characters",
        );
    }
    let max_citations = request.max_citations.unwrap_or(8).clamp(1, 32) as usize;
    let query_text = request.query.clone();
    let data_root = state.data_root.clone();
    // `schedule_extract` is accepted and ignored: the query path never schedules work.
    let work = tokio::task::spawn_blocking(move || -> Result<Value, String> {
        let handle = QueryHandle::open(&data_root).map_err(|e| e.to_string())?;
        let answer = query::answer(
            &handle,
            &query_text,
            &QueryOptions {
                max_citations,
                explain: false,
            },
        )
        .map_err(|e| e.to_string())?;
        Ok(answer.to_popup(started.elapsed().as_millis() as u64))
    });
    // The deadline is checked first: once it has passed, the answer is `degraded` whatever the
    // query task does next.
    let outcome = tokio::select! {
        biased;
        () = tokio::time::sleep(state.timeout) => Err(()),
        joined = work => Ok(joined),
    };
    // A timer may fire a tick late; an answer that arrives after the deadline is still late.
    let outcome = match outcome {
        Ok(_) if started.elapsed() >= state.timeout => Err(()),
        other => other,
    };
    match outcome {
        Ok(Ok(Ok(mut body))) => {
            body["latency_ms_total"] = json!(started.elapsed().as_millis() as u64);
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Ok(Ok(Err(message))) => {
            error_response(StatusCode::UNPROCESSABLE_ENTITY, "query_failed", &message)
        }
        Ok(Err(_)) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "query_panicked",
            "the query task failed",
        ),
        Err(_) => {
            let body = json!({
                "ok": false, "query": request.query, "query_run_id": "timeout", "state": "degraded",
                "summary": "the answer took longer than the popup allows", "bullets": [], "topic": null,
                "confidence_pct": 0, "needs_processing": false, "processing_blocked_reason": "popup_timeout",
                "latency_ms_total": started.elapsed().as_millis() as u64, "citations": [],
            });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
    }
}

/// The two ends of the connection a request came on (set per connection by [`BoundServer`]).
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub remote: SocketAddr,
    pub local: SocketAddr,
}

/// The token, only to a peer whose socket belongs to this server's uid
/// ([`crate::base::peer`]); any other peer, or one whose owner is unknown, gets 403
/// `token_peer_foreign` and the refusal is audited.
async fn token_route(
    State(state): State<Arc<AppState>>,
    peer: Option<axum::Extension<Peer>>,
) -> Response {
    use crate::base::peer::{current_uid, socket_owner};
    if !state.limits.token_route {
        return error_response(
            StatusCode::NOT_FOUND,
            "token_route_off",
            "the token route is switched off (server.token_route); read the token file instead",
        );
    }
    let ours = current_uid();
    let owner = peer.and_then(|p| socket_owner(p.remote, p.local).ok().flatten());
    if owner == Some(ours) || crate::base::crash::planted("token_any_peer") {
        return axum::Json(
            json!({"token": state.token.value, "created_ts": state.token.created_ts}),
        )
        .into_response();
    }
    let details =
        json!({"peer": peer.map(|p| p.remote.to_string()), "peer_uid": owner, "server_uid": ours});
    let event = AuditEvent {
        action: "server.token_refused".into(),
        actor: "autocapture serve".into(),
        outcome: "refused".into(),
        details,
    };
    // The refusal stands even when its audit line cannot be written (a full disk, a broken log).
    let _ = AuditLog::in_data_root(&state.data_root.root)
        .append(&event, crate::base::clock::SystemClock.now());
    error_response(
        StatusCode::FORBIDDEN,
        "token_peer_foreign",
        "the token goes only to a process of the server's own user; read the token file instead",
    )
}

async fn status(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    axum::Json(json!({"ok": true, "authenticated": authorized(&headers, &state.token), "created_ts": state.token.created_ts})).into_response()
}

async fn health() -> Response {
    let identity = ContractIdentity::embedded().ok();
    axum::Json(json!({
        "ok": true,
        "contract_version": identity.map(|i| i.contract_version.clone()),
        "schema_hash": identity.map(|i| i.schema_hash.clone()),
    }))
    .into_response()
}

/// The application: every route, the loopback `Host`/`Origin` guard, the body limit and the
/// concurrency limit, with the default [`Limits`].
pub fn router(data_root: DataRoot, token: Token, timeout: Duration) -> Router {
    router_with(data_root, token, timeout, Limits::default())
}

/// [`router`] with the given limits.
pub fn router_with(data_root: DataRoot, token: Token, timeout: Duration, limits: Limits) -> Router {
    let state = Arc::new(AppState {
        data_root,
        token,
        timeout,
        limits,
    });
    Router::new()
        .route("/api/query/popup", post(popup))
        .route("/api/auth/token", get(token_route))
        .route("/api/auth/status", get(status))
        .route("/health", get(health))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower::limit::ConcurrencyLimitLayer::new(MAX_CONCURRENT))
        .layer(axum::middleware::from_fn(loopback_only))
        .with_state(state)
}

/// A server bound to a checked loopback address, ready to run.
pub struct BoundServer {
    pub addr: SocketAddr,
    listener: tokio::net::TcpListener,
    data_root: DataRoot,
    token: Token,
    timeout: Duration,
    limits: Limits,
}

impl BoundServer {
    /// Checks `bind`, binds it, prepares the token, and audits the start.
    pub async fn bind(
        data_root: &DataRoot,
        bind: &str,
        timeout: Duration,
        clock: &dyn Clock,
    ) -> Result<BoundServer, ServerError> {
        let requested = check_bind(bind)?;
        let token = load_or_create_token(data_root, clock)?;
        let listener = tokio::net::TcpListener::bind(requested)
            .await
            .map_err(|source| ServerError::Bind {
                bind: bind.to_owned(),
                source,
            })?;
        let addr = listener.local_addr().map_err(ServerError::Serve)?;
        AuditLog::in_data_root(&data_root.root).append(
            &AuditEvent {
                action: "server.start".into(),
                actor: "autocapture serve".into(),
                outcome: "ok".into(),
                details: json!({"bind": addr.to_string()}),
            },
            clock.now(),
        )?;
        Ok(BoundServer {
            addr,
            listener,
            data_root: data_root.clone(),
            token,
            timeout,
            limits: Limits::default(),
        })
    }

    /// The same server with other limits (shorter deadlines for tests of slow clients).
    pub fn with_limits(mut self, limits: Limits) -> BoundServer {
        self.limits = limits;
        self
    }

    /// Serves until `shutdown` completes, then lets open requests finish. Each connection holds
    /// one of `max_connections` permits; the next is accepted only when one is free.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let limits = self.limits;
        let app = router_with(self.data_root, self.token, self.timeout, limits);
        let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
        let (closing, closing_seen) = tokio::sync::watch::channel(false);
        let mut connections = tokio::task::JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                () = &mut shutdown => break,
                permit = permits.clone().acquire_owned() => permit
                    .map_err(|e| ServerError::Serve(std::io::Error::other(e)))?,
            };
            let (stream, remote) = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    // Out of descriptors or a connection reset before accept: wait, retry.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            while connections.try_join_next().is_some() {}
            let local = stream.local_addr().unwrap_or(self.addr);
            let peer = Peer { remote, local };
            let service = hyper_util::service::TowerToHyperService::new(
                app.clone().layer(axum::Extension(peer)),
            );
            let mut closing_seen = closing_seen.clone();
            connections.spawn(async move {
                let _permit = permit;
                let mut builder = hyper::server::conn::http1::Builder::new();
                // A client that shuts its write half after the request still gets its answer.
                builder
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout)
                    .half_close(true);
                let connection =
                    builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let mut connection = std::pin::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => {}
                    _ = closing_seen.changed() => {
                        connection.as_mut().graceful_shutdown();
                        let _ = connection.await;
                    }
                }
            });
        }
        let _ = closing.send(true);
        while connections.join_next().await.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the token check: equal tokens match, any difference or length does not, and the
    /// compare is `subtle`'s constant-time one.
    #[test]
    fn regression_token_compare_is_constant_time() {
        let token = "ab".repeat(32);
        assert!(token_matches(token.as_bytes(), token.as_bytes()));
        let mut first = token.clone().into_bytes();
        first[0] = b'c';
        let mut last = token.clone().into_bytes();
        last[63] = b'c';
        for wrong in [
            first,
            last,
            token.as_bytes()[..63].to_vec(),
            format!("{token}a").into_bytes(),
            Vec::new(),
        ] {
            assert!(!token_matches(&wrong, token.as_bytes()));
        }
        let source = include_str!("server.rs");
        let body = source
            .split("pub fn token_matches")
            .nth(1)
            .and_then(|rest| rest.split("\n}\n").next())
            .unwrap_or_default();
        assert!(
            body.contains(".ct_eq("),
            "token_matches uses subtle: {body}"
        );
    }

    #[test]
    fn loopback_authorities_and_origins() {
        for good in [
            "127.0.0.1:8787",
            "127.0.0.1",
            "127.9.9.9:1",
            "localhost:8787",
            "LOCALHOST",
            "[::1]:8787",
            "[::1]",
        ] {
            assert!(is_loopback_authority(good), "{good}");
        }
        for bad in [
            "evil.example:8787",
            "127.0.0.1.evil.example",
            "localhost.evil.example:80",
            "0.0.0.0:8787",
            "192.168.1.2",
            "[::ffff:127.0.0.1]:1",
            "[::]:8787",
            "::1",
            "127.0.0.1:",
            "127.0.0.1:8787/x",
            "127.0.0.1:123456",
            "",
        ] {
            assert!(!is_loopback_authority(bad), "{bad}");
        }
        assert!(is_loopback_origin("http://127.0.0.1:8787"));
        assert!(is_loopback_origin("http://localhost"));
        for bad in [
            "null",
            "https://evil.example",
            "http://127.0.0.1.evil.example",
            "file://",
            "127.0.0.1",
        ] {
            assert!(!is_loopback_origin(bad), "{bad}");
        }
    }

    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    /// Guards the token file: one that group or others can read is replaced (new value, 0600),
    /// and the replacement is audited with its reason.
    #[test]
    fn regression_wide_token_file_is_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let data = DataRoot::new(dir.path());
        let clock = crate::base::clock::SystemClock;
        let first = load_or_create_token(&data, &clock).expect("token");
        let path = dir.path().join(TOKEN_FILE);
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(
            load_or_create_token(&data, &clock).expect("again").value,
            first.value,
            "an owner-only token is kept"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let second = load_or_create_token(&data, &clock).expect("replaced");
        assert_ne!(second.value, first.value, "a readable token is not trusted");
        assert_eq!(mode_of(&path), 0o600);
        let audit = std::fs::read_to_string(dir.path().join("audit.ndjson")).expect("audit");
        assert!(
            audit.contains("\"replaced\":\"token_file_mode\""),
            "{audit}"
        );
        std::fs::write(&path, "short 2026-01-01T00:00:00Z\n").expect("garble");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let third = load_or_create_token(&data, &clock).expect("replaced");
        assert_eq!(third.value.len(), 64);
        assert!(
            std::fs::read_to_string(dir.path().join("audit.ndjson"))
                .expect("audit")
                .contains("token_file_invalid")
        );
    }

    /// Guards the token write: a world-readable file left at the old fixed temp name (or any
    /// other) is never reused, so the token never lands in a file others can read.
    #[test]
    fn regression_token_temp_file_is_never_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let planted = dir.path().join(".autocapture.server.tmp");
        std::fs::write(&planted, "planted").expect("plant");
        std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let data = DataRoot::new(dir.path());
        let token = load_or_create_token(&data, &crate::base::clock::SystemClock).expect("token");
        let path = dir.path().join(TOKEN_FILE);
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(
            std::fs::read_to_string(&planted).expect("planted"),
            "planted"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp") && n != ".autocapture.server.tmp")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert!(
            std::fs::read_to_string(&path)
                .expect("token")
                .starts_with(&token.value)
        );
    }
}
