//! Where the golden questions go: the embedded core (a read-only handle on a DataRoot) or a
//! popup endpoint on loopback, spoken to over HTTP/1.1 with the token from `/api/auth/token`.
//! Both give the popup-shaped answer and the latency measured here.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use autocapture_core::query::{self, QueryHandle, QueryOptions};
use autocapture_core::store::DataRoot;
use serde_json::{Value, json};

use crate::harness::gate::Target;

/// Citations asked per answer: the contract's maximum, so evidence checks see them all.
pub const MAX_CITATIONS: usize = 32;

pub enum Asker {
    Embedded(QueryHandle),
    Url {
        authority: String,
        prefix: String,
        token: String,
    },
}

/// Splits `http://host:port/prefix` into the authority and the path prefix.
fn split_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("target {url:?}: only plain http on loopback is supported"))?;
    let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_end_matches('/');
    Ok((
        authority.to_owned(),
        if prefix.is_empty() {
            String::new()
        } else {
            format!("/{prefix}")
        },
    ))
}

/// Decodes a chunked HTTP body.
fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("chunked body: missing chunk size line")?;
        let size_text = std::str::from_utf8(&body[..line_end])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("chunked body: bad chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        anyhow::ensure!(body.len() >= size + 2, "chunked body: truncated chunk");
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// One HTTP/1.1 request with `Connection: close`; returns the status and the JSON body.
fn http_json(
    authority: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut stream =
        TcpStream::connect(authority).with_context(|| format!("connect to {authority}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n",
        payload.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(payload.as_bytes())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .with_context(|| format!("read the answer of {method} {path}"))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .with_context(|| format!("{method} {path}: no HTTP header end"))?;
    let headers = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status: u16 = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{method} {path}: no HTTP status"))?;
    let raw = &response[split + 4..];
    let body = if headers.contains("transfer-encoding: chunked") {
        dechunk(raw)?
    } else {
        raw.to_vec()
    };
    let value = serde_json::from_slice(&body)
        .with_context(|| format!("{method} {path}: the body is not JSON (status {status})"))?;
    Ok((status, value))
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
                let (authority, prefix) = split_url(url)?;
                let (status, body) = http_json(
                    &authority,
                    "GET",
                    &format!("{prefix}/api/auth/token"),
                    None,
                    None,
                )?;
                let token = body["token"].as_str().unwrap_or_default().to_owned();
                if status != 200 || token.is_empty() {
                    bail!("target {url}: /api/auth/token gave status {status} and no token");
                }
                Ok(Asker::Url {
                    authority,
                    prefix,
                    token,
                })
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
                    },
                )?;
                let ms = started.elapsed();
                answer.to_popup(ms.as_millis() as u64)
            }
            Asker::Url {
                authority,
                prefix,
                token,
            } => {
                let (status, body) = http_json(
                    authority,
                    "POST",
                    &format!("{prefix}/api/query/popup"),
                    Some(token),
                    Some(&json!({"query": question, "max_citations": MAX_CITATIONS})),
                )?;
                if status != 200 {
                    bail!("POST /api/query/popup gave status {status}: {body}");
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
    fn urls_and_chunks() {
        assert_eq!(
            split_url("http://127.0.0.1:8787").expect("url"),
            ("127.0.0.1:8787".into(), String::new())
        );
        assert_eq!(
            split_url("http://localhost:1/base/").expect("url"),
            ("localhost:1".into(), "/base".into())
        );
        assert!(split_url("https://127.0.0.1").is_err());
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").expect("chunks"),
            b"abcde"
        );
        assert!(dechunk(b"5\r\nab").is_err());
    }
}
