//! What the popup scenarios put between the Hypervisor's popup and the real server: a relay on
//! 127.0.0.1 that records each request (method, path, headers, body) and passes it on to the
//! `autocapture serve` process through the harness's HTTP client, and sentinels on the same port
//! at every other address of this machine, which record a connection and close it (a popup that
//! reaches one has left 127.0.0.1). Nothing is relayed from a sentinel, and only connections from
//! this machine are looked at.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::conform::addresses::{local_addresses, off_loopback_addresses};
use crate::probe::http::Client;

/// The largest request head or body the relay reads.
const MAX_BYTES: usize = 1 << 20;

/// A request as the relay read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// `(name lower-cased, value)`, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One connection that reached the relay or a sentinel.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The address the client connected to.
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// Whether it came to the relay on 127.0.0.1 (else a sentinel).
    pub relayed: bool,
    /// The request, when one could be read (the relay only).
    pub request: Option<Request>,
    /// The status the server answered it with.
    pub status: Option<u16>,
}

/// A running relay with its sentinels; stopped when dropped.
#[derive(Debug)]
pub struct Relay {
    pub addr: SocketAddr,
    /// Where the sentinels listen.
    pub sentinels: Vec<SocketAddr>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    /// Listens on 127.0.0.1 (a free port) and the sentinels on the same port elsewhere; relays
    /// to `upstream`.
    pub fn start(upstream: SocketAddr) -> anyhow::Result<Relay> {
        let relay = TcpListener::bind("127.0.0.1:0")?;
        let addr = relay.local_addr()?;
        let mut listeners = vec![(relay, true)];
        let mut sentinels = Vec::new();
        for ip in off_loopback_addresses() {
            if let Ok(listener) = TcpListener::bind(SocketAddr::new(ip, addr.port())) {
                sentinels.push(listener.local_addr()?);
                listeners.push((listener, false));
            }
        }
        for (listener, _) in &listeners {
            listener.set_nonblocking(true)?;
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen_in, stop_in) = (seen.clone(), stop.clone());
        // Only this machine's own processes count: a stranger on the network reaching a
        // sentinel says nothing about the popup.
        let mut locals = local_addresses();
        locals.extend(off_loopback_addresses());
        let thread = std::thread::spawn(move || {
            while !stop_in.load(Ordering::Relaxed) {
                let mut idle = true;
                for (listener, relays) in &listeners {
                    if let Ok((stream, peer)) = listener.accept() {
                        idle = false;
                        if !peer.ip().is_loopback() && !locals.contains(&peer.ip()) {
                            continue;
                        }
                        let entry = serve(stream, peer, *relays, upstream);
                        if let (Some(entry), Ok(mut seen)) = (entry, seen_in.lock()) {
                            seen.push(entry);
                        }
                    }
                }
                if idle {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        });
        Ok(Relay {
            addr,
            sentinels,
            seen,
            stop,
            thread: Some(thread),
        })
    }

    /// The URL the popup is given.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every connection so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Handles one accepted connection.
fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    relays: bool,
    upstream: SocketAddr,
) -> Option<Seen> {
    let local = stream.local_addr().ok()?;
    let mut seen = Seen {
        local,
        peer,
        relayed: relays,
        request: None,
        status: None,
    };
    if !relays {
        // A sentinel: the connection is the finding; nothing is read or relayed.
        return Some(seen);
    }
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(request) = read_request(&mut stream) else {
        return Some(seen);
    };
    let mut client = Client::to(upstream).timeout(Duration::from_secs(20));
    for name in ["authorization", "content-type"] {
        if let Some(value) = request.header(name) {
            client = client.header(name, value);
        }
    }
    let (status, body) = match client.send(&request.method, &request.path, &request.body) {
        Ok(reply) => (reply.status, reply.body),
        Err(e) => (
            502,
            serde_json::json!({"error": format!("relay: {e:#}")}).to_string(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        if status == 200 { "OK" } else { "Status" },
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    seen.status = Some(status);
    seen.request = Some(request);
    Some(seen)
}

/// Reads one HTTP/1.1 request (a sized or chunked body).
fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = find(&bytes, b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || bytes.len() > MAX_BYTES {
            return None;
        }
        bytes.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = bytes[head_end + 4..].to_vec();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let chunked = header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        while find(&body, b"0\r\n\r\n").is_none() && body.len() < MAX_BYTES {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        body = dechunk(&body)?;
    } else {
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while body.len() < length.min(MAX_BYTES) {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        body.truncate(length);
    }
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A chunked body decoded.
fn dechunk(mut bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = find(bytes, b"\r\n")?;
        let size_text = String::from_utf8_lossy(&bytes[..end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        bytes = &bytes[end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(bytes.get(..size)?);
        bytes = bytes.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_body_is_decoded() {
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n").as_deref(),
            Some(&b"Wikipedia"[..])
        );
        assert_eq!(dechunk(b"zz\r\n"), None);
    }
}
