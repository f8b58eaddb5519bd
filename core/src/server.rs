//! The popup query server (contract §7): loopback only, token required, read-only.
//!
//! `POST /api/query/popup` answers through the read-only query engine with a 6 s server-side
//! timeout (then `degraded` / `popup_timeout`); `GET /api/auth/token`, `GET /api/auth/status`,
//! `GET /health`. No route writes or deletes user data, other methods get 405, bodies over the
//! limit get 413, no CORS headers are sent, and requests beyond the concurrency limit wait.
//! [`check_bind`] refuses any address that is not loopback before anything listens.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use thiserror::Error;

use crate::audit::{AuditEvent, AuditLog};
use crate::clock::Clock;
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

/// Reads the DataRoot's token, creating it (owner-only, audited) when missing.
pub fn load_or_create_token(data_root: &DataRoot, clock: &dyn Clock) -> Result<Token, ServerError> {
    let path = data_root.root.join(TOKEN_FILE);
    let err = |source| ServerError::Token {
        path: path.clone(),
        source,
    };
    if let Ok(text) = std::fs::read_to_string(&path) {
        let mut parts = text.split_whitespace();
        if let (Some(value), Some(created)) = (parts.next(), parts.next())
            && value.len() == 64
        {
            return Ok(Token {
                value: value.to_owned(),
                created_ts: created.to_owned(),
            });
        }
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| err(std::io::Error::other(e.to_string())))?;
    let token = Token {
        value: hex::encode(bytes),
        created_ts: format_ts_utc(clock.now()),
    };
    write_owner_only(&path, &format!("{} {}\n", token.value, token.created_ts)).map_err(err)?;
    AuditLog::in_data_root(&data_root.root).append(
        &AuditEvent {
            action: "server.token_create".into(),
            actor: "autocapture serve".into(),
            outcome: "ok".into(),
            details: json!({"token_file": path}),
        },
        clock.now(),
    )?;
    Ok(token)
}

fn write_owner_only(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temp, path)
}

struct AppState {
    data_root: DataRoot,
    token: Token,
    timeout: Duration,
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
        .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), token.value.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"ok": false, "error": {"code": code, "message": message}})),
    )
        .into_response()
}

async fn popup(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let started = Instant::now();
    if !authorized(&headers, &state.token) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "token_required",
            "send Authorization: Bearer <token> (GET /api/auth/token)",
        );
    }
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
        let answer = query::answer(&handle, &query_text, &QueryOptions { max_citations })
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

async fn token_route(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(json!({"token": state.token.value, "created_ts": state.token.created_ts}))
        .into_response()
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

/// The application: every route, the body limit and the concurrency limit.
pub fn router(data_root: DataRoot, token: Token, timeout: Duration) -> Router {
    let state = Arc::new(AppState {
        data_root,
        token,
        timeout,
    });
    Router::new()
        .route("/api/query/popup", post(popup))
        .route("/api/auth/token", get(token_route))
        .route("/api/auth/status", get(status))
        .route("/health", get(health))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower::limit::ConcurrencyLimitLayer::new(MAX_CONCURRENT))
        .with_state(state)
}

/// A server bound to a checked loopback address, ready to run.
pub struct BoundServer {
    pub addr: SocketAddr,
    listener: tokio::net::TcpListener,
    app: Router,
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
            app: router(data_root.clone(), token, timeout),
        })
    }

    /// Serves until `shutdown` completes.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        axum::serve(self.listener, self.app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServerError::Serve)
    }
}
