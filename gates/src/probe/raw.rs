//! Bytes on a loopback socket, for the requests a well-behaved client will not send: malformed
//! request lines, forged `Host` and `Origin`, empty or overlong tokens, oversized headers and
//! bodies. The server may answer and close before reading everything, so a failed write is not
//! an error; only a failed connect is, and a read that failed before any byte came back.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Why no response could be read.
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("read: {0}")]
    Read(std::io::Error),
}

/// Writes `request` as it is, half-closes the write side when `half_close`, and reads until the
/// server closes or `timeout` passes. hyper drops a connection whose peer half-closed before the
/// answer was ready, so only requests that may be incomplete should be half-closed (then hyper
/// stops waiting for bytes that will never come).
pub fn send_bytes(
    addr: SocketAddr,
    request: &[u8],
    half_close: bool,
    timeout: Duration,
) -> Result<Vec<u8>, RawError> {
    let mut stream = TcpStream::connect(addr).map_err(RawError::Connect)?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(RawError::Connect)?;
    let _ = stream.write_all(request);
    if half_close {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => Ok(response),
        Err(_) if !response.is_empty() => Ok(response),
        Err(e) => Err(RawError::Read(e)),
    }
}

/// One request of `method path` with exactly `headers` (a `Host` is added only when none is
/// given), a `Content-Length` and `body`: the status (0 when the server closed without one),
/// the lower-cased head and the body.
pub fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<(u16, String, String)> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (key, value) in headers {
        head.push_str(&format!("{key}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    let response = match send_bytes(addr, &request, false, Duration::from_secs(30)) {
        Ok(response) => response,
        Err(RawError::Read(_)) => Vec::new(),
        Err(connect) => return Err(connect.into()),
    };
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, head.to_ascii_lowercase(), body.to_owned()))
}
