//! Where the golden questions go: the embedded core (a read-only handle on a DataRoot) or a
//! popup endpoint on loopback, spoken to over HTTP/1.1 (the harness's one client) with the token
//! from `/api/auth/token`.
//! Both give the popup-shaped answer and the latency measured here.

use std::time::Instant;

use anyhow::{Context, bail};
use autocapture_core::query::{self, QueryHandle, QueryOptions};
use autocapture_core::store::DataRoot;
use serde_json::{Value, json};

use crate::harness::gate::Target;
use crate::probe::http::{Client, Reply};

/// Citations asked per answer: the contract's maximum, so evidence checks see them all.
pub const MAX_CITATIONS: usize = 32;

pub enum Asker {
    Embedded(QueryHandle),
    /// A popup server, with the token it gave.
    Url(Client),
}

/// A client of `url`, which must be plain `http://host:port[/prefix]`.
fn client_of(url: &str) -> anyhow::Result<Client> {
    if !url.starts_with("http://") {
        bail!("target {url:?}: only plain http on loopback is supported");
    }
    Ok(Client::url(url))
}

/// The JSON body of `reply`, or an error naming the request.
fn json_of(reply: &Reply, request: &str) -> anyhow::Result<Value> {
    reply.json().with_context(|| {
        format!(
            "{request}: the body is not JSON (status {}): {:?}",
            reply.status, reply.body
        )
    })
}

impl Asker {
    /// Opens the target: a read-only handle on `data` for `embedded`, else the token of the URL.
    pub fn open(target: &Target, data: Option<&DataRoot>) -> anyhow::Result<Asker> {
        match target {
            Target::Embedded => {
                let data = data.context("the embedded target needs a DataRoot")?;
                Ok(Asker::Embedded(QueryHandle::open(data)?))
            }
            Target::Url(url) => {
                let client = client_of(url)?;
                let reply = client.get("/api/auth/token")?;
                let body = json_of(&reply, "GET /api/auth/token")?;
                let token = body["token"].as_str().unwrap_or_default();
                if reply.status != 200 || token.is_empty() {
                    bail!(
                        "target {url}: /api/auth/token gave status {} and no token",
                        reply.status
                    );
                }
                Ok(Asker::Url(client.token(Some(token))))
            }
        }
    }

    /// Asks one question; returns the popup-shaped answer and the latency in milliseconds.
    pub fn ask(&self, question: &str) -> anyhow::Result<(Value, f64)> {
        let started = Instant::now();
        let answer = match self {
            Asker::Embedded(handle) => {
                let answer = query::answer(
                    handle,
                    question,
                    &QueryOptions {
                        max_citations: MAX_CITATIONS,
                        explain: false,
                    },
                )?;
                let ms = started.elapsed();
                answer.to_popup(ms.as_millis() as u64)
            }
            Asker::Url(client) => {
                let reply = client.post_json(
                    "/api/query/popup",
                    &json!({"query": question, "max_citations": MAX_CITATIONS}),
                )?;
                let body = json_of(&reply, "POST /api/query/popup")?;
                if reply.status != 200 {
                    bail!("POST /api/query/popup gave status {}: {body}", reply.status);
                }
                body
            }
        };
        Ok((answer, started.elapsed().as_secs_f64() * 1000.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_targets_are_taken() {
        assert!(client_of("http://127.0.0.1:8787").is_ok());
        assert!(client_of("http://localhost:1/base/").is_ok());
        for refused in ["https://127.0.0.1", "127.0.0.1:8787", "ftp://127.0.0.1"] {
            assert!(client_of(refused).is_err(), "{refused}");
        }
    }
}
