//! The commands that answer questions: `query` once, and `serve` for the popup.

use std::path::PathBuf;

use serde_json::json;

use super::{CodedError, QueryArgs, Reply, config, exit, require_data_dir};
use crate::base::clock::SystemClock;
use crate::base::terminal::safe_text;
use crate::query::{self, QueryHandle, QueryOptions};
use crate::store::DataRoot;

pub(super) fn query(args: &QueryArgs, config: &config::Config) -> Result<Reply, CodedError> {
    let started = std::time::Instant::now();
    let handle = QueryHandle::open(&DataRoot::new(&args.data_dir)).map_err(|e| {
        let mut error =
            CodedError::new(e.code(), format!("failed to open: {e}"), exit::ENVIRONMENT);
        if let crate::query::handle::HandleError::Missing { path }
        | crate::query::handle::HandleError::Open { path, .. } = &e
        {
            error.extra = serde_json::json!({"path": path.to_string_lossy()});
        }
        error
    })?;
    let text = args.query.join(" ");
    let answer = query::answer(
        &handle,
        &text,
        &QueryOptions {
            max_citations: args.max_citations.unwrap_or(config.max_citations_default),
            explain: args.explain,
        },
    )
    .map_err(|e| {
        let mut error = CodedError::new(e.code(), format!("failed to answer: {e}"), exit::FAILED);
        if let query::engine::QueryError::Syntax(syntax) = &e {
            error.extra = json!({"position": syntax.position});
        }
        error
    })?;
    let document = answer.to_popup(started.elapsed().as_millis() as u64);
    // Summary and bullets hold captured text: one inert line each (a newline in a window title
    // must not forge a line of output); the printer makes the rest inert too.
    let mut human = format!(
        "[{}] {}\n",
        serde_json::to_value(answer.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        safe_text(&answer.summary)
    );
    for bullet in &answer.bullets {
        human.push_str(&format!("  - {}\n", safe_text(bullet)));
    }
    for c in &answer.citations {
        human.push_str(&format!(
            "  [{}.{}] {} {}{}\n",
            c.claim_index,
            c.citation_index,
            c.record_type,
            c.record_id,
            c.bbox.map(|b| format!(" bbox {b:?}")).unwrap_or_default()
        ));
    }
    if let Some(missing) = &answer.not_available {
        human.push_str(&format!(
            "  missing: {}; newest processed: {}; run: {}\n",
            missing.missing,
            missing.newest_processed_ts_utc.as_deref().unwrap_or("none"),
            missing.how_to_produce
        ));
    }
    if let Some(explain) = &answer.explain {
        human.push_str(&explain_lines(explain));
    }
    Ok(Reply {
        ok: true,
        json: document,
        human,
    })
}

/// The explanation as indented lines for a terminal.
fn explain_lines(explain: &serde_json::Value) -> String {
    let list = |key: &str| {
        explain[key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|joined| !joined.is_empty())
            .unwrap_or_else(|| "none".to_owned())
    };
    let mut out = format!(
        "explain:\n  rule: {} (runners-up: {})\n  times: {}\n  cues: {}\n  names: {}\n",
        explain["rule"].as_str().unwrap_or_default(),
        list("runners_up"),
        list("times"),
        list("cues"),
        list("names"),
    );
    if let Some(linked) = explain.get("linked") {
        let links: Vec<String> = linked["links"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                format!(
                    "\"{}\" → {} ({})",
                    l["word"].as_str().unwrap_or_default(),
                    l["processes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    l["how"].as_str().unwrap_or_default()
                )
            })
            .collect();
        out.push_str(&format!(
            "  linked: \"{}\": {}; title words: {}\n",
            linked["name"].as_str().unwrap_or_default(),
            if links.is_empty() {
                "no app".to_owned()
            } else {
                links.join(", ")
            },
            linked["title_words"]
                .as_array()
                .map(|w| w
                    .iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(" "))
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "none".to_owned())
        ));
    }
    if let Some(search) = explain.get("search") {
        out.push_str(&format!(
            "  fell to search: {}; matched {}\n",
            search["terms"].as_str().unwrap_or_default(),
            search["matched"].as_str().unwrap_or("nothing")
        ));
    }
    out
}

pub(super) fn serve(
    data_dir: PathBuf,
    bind: Option<&str>,
    config: &config::Config,
) -> Result<Reply, CodedError> {
    use crate::server::{BoundServer, ServerError};
    let bind = bind.unwrap_or(&config.bind);
    // Refuse a non-loopback bind before touching anything (fail-closed, exit 1).
    crate::server::check_bind(bind)
        .map_err(|e| CodedError::new(e.code(), format!("failed to start: {e}"), exit::FAILED))?;
    require_data_dir(&data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            CodedError::new(
                "runtime_failed",
                format!("failed to start: {e}"),
                exit::ENVIRONMENT,
            )
        })?;
    let data_root = DataRoot::new(&data_dir);
    let result: Result<(), ServerError> = runtime.block_on(async {
        let server = BoundServer::bind(&data_root, bind, config.popup_timeout, &SystemClock)
            .await?
            .with_limits(crate::server::Limits {
                token_route: config.token_route,
                ..crate::server::Limits::default()
            });
        eprintln!(
            "autocapture: serving http://{} (token in {})",
            server.addr,
            data_dir.join(crate::server::TOKEN_FILE).display()
        );
        server
            .run(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    });
    result.map_err(|e| {
        let status = if matches!(e, ServerError::BindRefused { .. }) {
            exit::FAILED
        } else {
            exit::ENVIRONMENT
        };
        CodedError::new(e.code(), format!("failed to serve: {e}"), status)
    })?;
    Ok(Reply {
        ok: true,
        json: json!({"ok": true}),
        human: String::new(),
    })
}
