//! The harness's HTTP client: well-formed HTTP/1.1 requests to a popup server through `ureq`,
//! one connection per request, every status returned as an answer (a 401 is a result, not an
//! error), chunked and sized bodies read alike.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

/// How long one request may take, connect to last byte, unless [`Client::timeout`] says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// The response headers, one `name: value` line each, lower-cased.
    pub head: String,
    /// The body (decoded from chunks when chunked), as text.
    pub body: String,
}

impl Reply {
    /// The body as JSON, or `None` when it is not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// Requests to one server: its base URL, the headers every request carries, a timeout.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    headers: Vec<(String, String)>,
    timeout: Duration,
}

impl Client {
    /// A client of the server at `addr` (plain HTTP).
    pub fn to(addr: SocketAddr) -> Client {
        Client::url(&format!("http://{addr}"))
    }

    /// A client of the server at `base` (`http://host:port[/prefix]`); paths are appended to it.
    pub fn url(base: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sends `Authorization: Bearer <token>` when a token is given.
    pub fn token(self, token: Option<&str>) -> Client {
        match token {
            Some(token) => self.header("Authorization", &format!("Bearer {token}")),
            None => self,
        }
    }

    /// Sends `name: value` with every request.
    pub fn header(mut self, name: &str, value: &str) -> Client {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.send("GET", path, b"")
    }

    /// `POST path` with `body` as JSON.
    pub fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Reply> {
        self.send("POST", path, body.to_string().as_bytes())
    }

    /// `method path` with `body` (sent as `application/json` when not empty, whatever the
    /// method, so a route's refusal of the method is what is tested, not the client's).
    pub fn send(&self, method: &str, path: &str, body: &[u8]) -> anyhow::Result<Reply> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_idle_connections(0)
            .timeout_global(Some(self.timeout))
            .build()
            .into();
        let url = format!("{}{path}", self.base);
        let builder = match method {
            "GET" => agent.get(&url).force_send_body(),
            "HEAD" => agent.head(&url).force_send_body(),
            "OPTIONS" => agent.options(&url).force_send_body(),
            "DELETE" => agent.delete(&url).force_send_body(),
            "TRACE" => agent.trace(&url).force_send_body(),
            "POST" => agent.post(&url),
            "PUT" => agent.put(&url),
            "PATCH" => agent.patch(&url),
            other => anyhow::bail!("the HTTP client sends no {other} requests"),
        };
        let mut builder = self
            .headers
            .iter()
            .fold(builder, |b, (name, value)| b.header(name, value));
        let sent = if body.is_empty() {
            builder.send_empty()
        } else {
            if !self
                .headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            {
                builder = builder.header("Content-Type", "application/json");
            }
            builder.send(body)
        };
        let mut response = sent.with_context(|| format!("{method} {url}"))?;
        let head = response
            .headers()
            .iter()
            .map(|(name, value)| {
                format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes()))
                    .to_ascii_lowercase()
            })
            .collect();
        let status = response.status().as_u16();
        let body = if method == "HEAD" {
            String::new()
        } else {
            let bytes = response
                .body_mut()
                .read_to_vec()
                .with_context(|| format!("read the answer of {method} {url}"))?;
            String::from_utf8_lossy(&bytes).into_owned()
        };
        Ok(Reply { status, head, body })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    /// A one-request server on loopback: returns its address and a handle yielding the bytes it
    /// received; it answers with `response`.
    fn one_shot(response: &'static [u8]) -> (SocketAddr, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let mut received = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then as many body bytes as Content-Length says.
            loop {
                let n = stream.read(&mut buf).expect("read");
                received.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&received).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(str::to_owned)
                        })
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            stream.write_all(response).expect("write");
            String::from_utf8_lossy(&received).into_owned()
        });
        (addr, handle)
    }

    #[test]
    fn a_request_carries_its_method_path_token_and_body_and_a_chunked_error_is_an_answer() {
        let (addr, server) = one_shot(
            b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nX-Probe: Yes\r\n\r\n6\r\n{\"a\": \r\n2\r\n1}\r\n0\r\n\r\n",
        );
        let reply = Client::to(addr)
            .token(Some("t0k"))
            .post_json("/api/query/popup", &serde_json::json!({"query": "q"}))
            .expect("an answer");
        let request = server.join().expect("server");
        assert!(
            request.starts_with("POST /api/query/popup HTTP/1.1\r\n"),
            "{request}"
        );
        let lower = request.to_ascii_lowercase();
        assert!(lower.contains("authorization: bearer t0k\r\n"), "{request}");
        assert!(
            lower.contains("content-type: application/json\r\n"),
            "{request}"
        );
        assert!(lower.contains(&format!("host: {addr}\r\n")), "{request}");
        assert!(request.ends_with("\r\n\r\n{\"query\":\"q\"}"), "{request}");
        assert_eq!(reply.status, 401);
        assert!(reply.head.contains("x-probe: yes\n"), "{}", reply.head);
        assert_eq!(reply.json(), Some(serde_json::json!({"a": 1})));
    }

    #[test]
    fn a_forged_host_and_a_body_on_a_get_are_sent_as_asked() {
        let (addr, server) =
            one_shot(b"HTTP/1.1 421 Misdirected Request\r\nContent-Length: 0\r\n\r\n");
        let reply = Client::to(addr)
            .header("Host", "evil.example")
            .send("GET", "/api/auth/token", b"{}")
            .expect("an answer");
        let request = server.join().expect("server").to_ascii_lowercase();
        assert!(
            request.starts_with("get /api/auth/token http/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("host: evil.example\r\n"), "{request}");
        assert!(request.ends_with("\r\n\r\n{}"), "{request}");
        assert_eq!((reply.status, reply.body.as_str()), (421, ""));
    }

    #[test]
    fn no_server_is_an_error_not_a_status() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr");
        // The listener is dropped: nothing accepts on `addr` any more.
        assert!(Client::to(addr).get("/health").is_err());
        assert!(Client::to(addr).send("BREW", "/", b"").is_err());
    }
}
