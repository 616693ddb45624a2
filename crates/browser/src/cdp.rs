//! A small Chrome DevTools Protocol client: one WebSocket to the browser target, flat sessions,
//! untyped JSON (spec/browser.md §5).
//!
//! Why our own: the typed crates are megabytes of generated code and fail to decode whenever
//! Chromium adds an enum value; CDP itself is a tiny protocol. Requests carry a numeric `id`
//! and an optional `sessionId` (from `Target.attachToTarget {flatten:true}`), responses are
//! matched by id, and everything else is an event fanned out to subscribers. The HTTP side
//! (`/json/version`, `/json/list`, …) is plain HTTP/1.1 over a `TcpStream`.
//!
//! Bounds: messages are capped at [`MAX_MESSAGE_BYTES`] (a full-page screenshot is the largest
//! thing Chromium sends), HTTP discovery bodies at [`MAX_HTTP_BYTES`], and every request has a
//! timeout, so a wedged browser cannot hold a route forever or grow our memory without limit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{SplitSink, StreamExt};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, oneshot};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The largest WebSocket message accepted from Chromium (64 MiB: a tall full-page PNG in base64).
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;
/// The largest HTTP discovery body accepted (`/json/list` with many tabs is a few KiB).
pub const MAX_HTTP_BYTES: usize = 4 << 20;
/// How many events a slow subscriber may fall behind before it misses some.
const EVENT_BUFFER: usize = 2048;
/// The default per-request timeout (upstream's browser action timeout).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What can go wrong talking to Chromium.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CdpError {
    /// The TCP connection or the WebSocket upgrade failed.
    #[error("CDP connect to {url} failed: {reason}")]
    Connect {
        /// The endpoint.
        url: String,
        /// The underlying error.
        reason: String,
    },
    /// An HTTP discovery request failed or answered badly.
    #[error("CDP HTTP {path} failed: {reason}")]
    Http {
        /// The path requested.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// No answer within the timeout.
    #[error("CDP {method} timed out after {ms}ms")]
    Timeout {
        /// The CDP method.
        method: String,
        /// The timeout that expired.
        ms: u128,
    },
    /// Chromium answered with a protocol error.
    #[error("CDP {method} failed: {message}")]
    Protocol {
        /// The CDP method.
        method: String,
        /// Chromium's error code.
        code: i64,
        /// Chromium's error message.
        message: String,
    },
    /// The WebSocket is closed (the browser exited or was stopped).
    #[error("CDP connection closed")]
    Closed,
}

/// One CDP event (a message without `id`).
#[derive(Debug, Clone)]
pub struct CdpEvent {
    /// e.g. `Runtime.consoleAPICalled`.
    pub method: String,
    /// The flat session the event belongs to (None for browser-level events).
    pub session_id: Option<String>,
    /// The event's parameters.
    pub params: Value,
}

type Pending = Mutex<HashMap<u64, oneshot::Sender<Result<Value, CdpError>>>>;
type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

struct Inner {
    sink: tokio::sync::Mutex<Sink>,
    pending: Pending,
    next_id: AtomicU64,
    events: broadcast::Sender<Arc<CdpEvent>>,
    closed: AtomicBool,
    reader: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A connection to one CDP WebSocket (normally the browser target). Cheap to clone.
#[derive(Clone)]
pub struct CdpClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CdpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CdpClient").field("closed", &self.is_closed()).finish()
    }
}

/// Splits `ws://host:port/path` into (`host:port`, `/path`).
fn split_ws_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("ws://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Some((authority.to_string(), path.to_string()))
}

impl CdpClient {
    /// Opens the WebSocket at `ws_url` (only `ws://` on loopback is used: the managed browser)
    /// and starts the reader task on the current runtime.
    pub async fn connect(ws_url: &str, timeout: Duration) -> Result<Self, CdpError> {
        let fail = |reason: String| CdpError::Connect { url: ws_url.to_string(), reason };
        let (authority, _) = split_ws_url(ws_url).ok_or_else(|| fail("not a ws:// URL".into()))?;
        let connect = async {
            let tcp = TcpStream::connect(&authority).await.map_err(|e| fail(e.to_string()))?;
            tcp.set_nodelay(true).ok();
            let config = WebSocketConfig::default()
                .max_message_size(Some(MAX_MESSAGE_BYTES))
                .max_frame_size(Some(MAX_MESSAGE_BYTES));
            tokio_tungstenite::client_async_with_config(ws_url, tcp, Some(config))
                .await
                .map_err(|e| fail(e.to_string()))
        };
        let (ws, _) = tokio::time::timeout(timeout, connect).await.map_err(|_| fail("timed out".into()))??;
        let (sink, stream) = ws.split();
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let inner = Arc::new(Inner {
            sink: tokio::sync::Mutex::new(sink),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            events,
            closed: AtomicBool::new(false),
            reader: Mutex::new(None),
        });
        let weak = Arc::downgrade(&inner);
        let handle = tokio::spawn(async move {
            let mut stream = stream;
            while let Some(msg) = stream.next().await {
                let Some(inner) = weak.upgrade() else { return };
                let text = match msg {
                    Ok(Message::Text(t)) => t,
                    Ok(Message::Close(_)) | Err(_) => break,
                    Ok(_) => continue,
                };
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                inner.dispatch(v);
            }
            if let Some(inner) = weak.upgrade() {
                inner.close_all();
            }
        });
        *inner.reader.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        Ok(Self { inner })
    }

    /// Sends `method` with `params` (to `session` when given) and waits for its result.
    pub async fn send(&self, method: &str, params: Value, session: Option<&str>) -> Result<Value, CdpError> {
        self.send_timeout(method, params, session, DEFAULT_TIMEOUT).await
    }

    /// [`CdpClient::send`] with an explicit timeout.
    pub async fn send_timeout(
        &self,
        method: &str,
        params: Value,
        session: Option<&str>,
        timeout: Duration,
    ) -> Result<Value, CdpError> {
        if self.is_closed() {
            return Err(CdpError::Closed);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = Value::String(s.to_string());
        }
        let (tx, rx) = oneshot::channel();
        self.inner.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(id, tx);
        let sent = {
            let mut sink = self.inner.sink.lock().await;
            sink.send(Message::Text(msg.to_string().into())).await
        };
        if sent.is_err() {
            self.inner.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            return Err(CdpError::Closed);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result.map_err(|e| match e {
                CdpError::Protocol { code, message, .. } => {
                    CdpError::Protocol { method: method.to_string(), code, message }
                }
                other => other,
            }),
            Ok(Err(_)) => Err(CdpError::Closed),
            Err(_) => {
                self.inner.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                Err(CdpError::Timeout { method: method.to_string(), ms: timeout.as_millis() })
            }
        }
    }

    /// A receiver of every event from now on (subscribe before sending the command whose
    /// events you wait for).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CdpEvent>> {
        self.inner.events.subscribe()
    }

    /// True once the WebSocket has closed; every later request fails with [`CdpError::Closed`].
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Closes the WebSocket and fails outstanding requests.
    pub async fn close(&self) {
        let _ = self.inner.sink.lock().await.close().await;
        self.inner.close_all();
        if let Some(h) = self.inner.reader.lock().unwrap_or_else(|p| p.into_inner()).take() {
            h.abort();
        }
    }
}

impl Inner {
    fn dispatch(&self, v: Value) {
        if let Some(id) = v.get("id").and_then(Value::as_u64) {
            let waiter = self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            if let Some(tx) = waiter {
                let result = match v.get("error") {
                    Some(err) => Err(CdpError::Protocol {
                        method: String::new(),
                        code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                        message: err.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_string(),
                    }),
                    None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
                };
                let _ = tx.send(result);
            }
            return;
        }
        if let Some(method) = v.get("method").and_then(Value::as_str) {
            let event = CdpEvent {
                method: method.to_string(),
                session_id: v.get("sessionId").and_then(Value::as_str).map(str::to_string),
                params: v.get("params").cloned().unwrap_or(Value::Null),
            };
            let _ = self.events.send(Arc::new(event));
        }
    }

    fn close_all(&self) {
        self.closed.store(true, Ordering::Release);
        let waiters: Vec<_> = self.pending.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        for (_, tx) in waiters {
            let _ = tx.send(Err(CdpError::Closed));
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(h) = self.reader.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
            h.abort();
        }
    }
}

/// One plain HTTP/1.1 request to the CDP HTTP endpoint at `authority` (`127.0.0.1:18800`),
/// returning the parsed JSON body (or `Value::Null` for an empty or non-JSON body).
pub async fn http_json(authority: &str, method: &str, path: &str, timeout: Duration) -> Result<Value, CdpError> {
    let fail = |reason: String| CdpError::Http { path: path.to_string(), reason };
    let run = async {
        let mut tcp = TcpStream::connect(authority).await.map_err(|e| fail(e.to_string()))?;
        let req = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        tcp.write_all(req.as_bytes()).await.map_err(|e| fail(e.to_string()))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = tcp.read(&mut chunk).await.map_err(|e| fail(e.to_string()))?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_HTTP_BYTES {
                return Err(fail(format!("response larger than {MAX_HTTP_BYTES} bytes")));
            }
            if let Some(done) = complete_body(&buf) {
                buf.truncate(done);
                break;
            }
        }
        parse_http(&buf).map_err(fail)
    };
    tokio::time::timeout(timeout, run).await.map_err(|_| fail(format!("timed out after {}ms", timeout.as_millis())))?
}

fn header_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn content_length(head: &str) -> Option<usize> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok()).flatten()
    })
}

/// When the response carries a Content-Length and all of it has arrived, its total length.
fn complete_body(buf: &[u8]) -> Option<usize> {
    let end = header_end(buf)?;
    let len = content_length(&String::from_utf8_lossy(&buf[..end]))?;
    (buf.len() >= end + len).then_some(end + len)
}

fn parse_http(buf: &[u8]) -> Result<Value, String> {
    let end = header_end(buf).ok_or("truncated HTTP response")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let status: u16 = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("malformed HTTP status line")?;
    let body = &buf[end..];
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(200)]).trim()));
    }
    Ok(serde_json::from_slice(body).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_parsing() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\n{\"a\":[1,2]}";
        assert_eq!(complete_body(raw), Some(raw.len()));
        assert_eq!(parse_http(raw).unwrap(), json!({"a": [1, 2]}));
        let err = parse_http(b"HTTP/1.1 404 Not Found\r\n\r\nNo such target id: x").unwrap_err();
        assert_eq!(err, "HTTP 404: No such target id: x");
        assert_eq!(complete_body(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"), None);
    }

    #[test]
    fn ws_urls_split() {
        assert_eq!(
            split_ws_url("ws://127.0.0.1:18800/devtools/browser/abc"),
            Some(("127.0.0.1:18800".into(), "/devtools/browser/abc".into()))
        );
        assert_eq!(split_ws_url("wss://x/"), None);
    }
}
