//! The join URL: `GET …/j/<code>` over plain HTTP(S) on the gateway's own port serves a setup
//! payload once (`onboarding.md`, `docs/upstream-facts/gateway-onboarding.md` §2).
//!
//! Every connection's request head is read here first (bounded in size and by the handshake
//! deadline). A path with a `/j/` segment is answered here and the connection closed; anything
//! else is handed on, bytes and all, to the WebSocket upgrade through [`Rewind`].
//!
//! As upstream: only `GET` without a query is a redemption; everything else that reaches the
//! route (wrong method, a query, a malformed, unknown, used or expired code) is the same 404 and
//! counts as a failure for the client's address; ten failures in a minute lock the address out
//! for five minutes (429), loopback included. The code is never logged.

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tracing::debug;

use super::Io;
use crate::pairing::is_join_code;
use crate::Shared;

/// Largest request head read before deciding where a connection goes.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// What the first bytes of a connection were.
pub(super) enum FirstRequest {
    /// A join request, answered; the connection is done.
    Answered,
    /// Something else (a WebSocket upgrade, or garbage for the upgrade to refuse): these bytes
    /// were read and must be replayed.
    Other(Vec<u8>),
    /// The peer went away or sent an oversized head.
    Gone,
}

/// Reads the request head and answers it when it is a join request.
pub(super) async fn route(shared: &Shared, io: &mut Box<dyn Io>, ip: IpAddr) -> FirstRequest {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let end = loop {
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() >= MAX_HEAD_BYTES {
            return FirstRequest::Gone;
        }
        match io.read(&mut chunk).await {
            Ok(0) | Err(_) => return FirstRequest::Gone,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    let (method, target) = match request.parse(&head[..end]) {
        Ok(httparse::Status::Complete(_)) => (request.method.unwrap_or(""), request.path.unwrap_or("")),
        _ => return FirstRequest::Other(head),
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q.split('#').next().unwrap_or(""))),
        None => (target.split('#').next().unwrap_or(""), None),
    };
    let Some(code) = join_code_in_path(path) else {
        return FirstRequest::Other(head);
    };
    let has_query = query.is_some_and(|q| !q.is_empty());
    let (status, body, retry_after) = answer(shared, ip, method, code, has_query);
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n\
         Permissions-Policy: camera=(), microphone=(self), geolocation=()\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(secs) = retry_after {
        response.push_str(&format!("Retry-After: {secs}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&body);
    let _ = io.write_all(response.as_bytes()).await;
    let _ = io.shutdown().await;
    FirstRequest::Answered
}

/// The status line, body and `Retry-After` seconds for one join request.
fn answer(
    shared: &Shared,
    ip: IpAddr,
    method: &str,
    code: &str,
    has_query: bool,
) -> (&'static str, String, Option<u64>) {
    let now = Instant::now();
    if let Some(retry) = shared.join_limiter().locked(ip, now) {
        debug!("join request from {ip}: rate limited");
        let secs = retry.as_millis().div_ceil(1000) as u64;
        return ("429 Too Many Requests", r#"{"error":"rate_limited"}"#.into(), (secs > 0).then_some(secs));
    }
    let redeemable = method == "GET" && !has_query && is_join_code(code);
    let payload = if redeemable { shared.pairing().redeem_join_code(code, openclaw_state::now_ms()) } else { None };
    match payload {
        Some(payload) => {
            shared.join_limiter().succeed(ip);
            debug!("join request from {ip}: setup payload served");
            ("200 OK", serde_json::to_string(&payload).expect("a setup payload serialises"), None)
        }
        None => {
            shared.join_limiter().fail(ip, now);
            debug!("join request from {ip}: not found");
            ("404 Not Found", r#"{"error":"not_found"}"#.into(), None)
        }
    }
}

/// The code of a join path: what follows the last `/j/`, or empty for a path ending in `/j`
/// (so a gateway behind a base path works too). `None` for every other path.
fn join_code_in_path(path: &str) -> Option<&str> {
    if path.ends_with("/j") {
        return Some("");
    }
    path.rfind("/j/").map(|i| &path[i + 3..])
}

/// A stream that first replays bytes already read from it.
pub(super) struct Rewind {
    prefix: Vec<u8>,
    read: usize,
    inner: Box<dyn Io>,
}

impl Rewind {
    /// `inner`, with `prefix` read again first.
    pub(super) fn new(prefix: Vec<u8>, inner: Box<dyn Io>) -> Self {
        Rewind { prefix, read: 0, inner }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.read < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.read);
            let start = self.read;
            buf.put_slice(&self.prefix[start..start + n]);
            self.read += n;
            if self.read == self.prefix.len() {
                self.prefix = Vec::new();
                self.read = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_paths() {
        assert_eq!(join_code_in_path("/j/abc"), Some("abc"));
        assert_eq!(join_code_in_path("/gw/j/abc"), Some("abc"));
        assert_eq!(join_code_in_path("/j/a/j/b"), Some("b"));
        assert_eq!(join_code_in_path("/j"), Some(""));
        assert_eq!(join_code_in_path("/j/"), Some(""));
        assert_eq!(join_code_in_path("/"), None);
        assert_eq!(join_code_in_path("/jx/abc"), None);
    }
}
