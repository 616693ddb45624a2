//! A WebSocket operator client for any protocol-v4 gateway (ours or the real one).
//!
//! It connects as `client {id:"cli", mode:"cli"}`, `role:"operator"`, signed with this
//! machine's device identity (the same one the node host uses, as upstream's CLI does), so a
//! loopback gateway pairs it silently and a remote one issues a device token after approval.
//! Requests are correlated by id and may complete out of order; a two-phase request (an
//! interim `{status:"accepted"}` answer, then the final one on the same id) is supported.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use openclaw_node_host::connection::{dial, Ws};
use openclaw_node_host::endpoint::Endpoint;
use openclaw_protocol::connect::{ClientInfo, ConnectAuth, ConnectParams, DeviceProof, HelloOk};
use openclaw_protocol::device_auth::{DeviceAuthPayload, DeviceIdentity};
use openclaw_protocol::node::ConnectChallenge;
use openclaw_protocol::{ErrorShape, EventFrame, Frame, RequestFrame, ResponseFrame, COMPAT_VERSION, PROTOCOL_VERSION};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// The scopes the CLI asks for: everything an operator command may need.
pub const OPERATOR_SCOPES: &[&str] =
    &["operator.admin", "operator.read", "operator.write", "operator.approvals", "operator.pairing"];

/// Why a connection or request failed. Messages say what to check.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// TCP, TLS or the WebSocket upgrade failed.
    #[error("Gateway not reachable at {url} ({reason}).\nStart it with `openclaw gateway run`, or pass --url.")]
    Unreachable { url: String, reason: String },
    /// The gateway refused `connect`.
    #[error("gateway refused the connection: {}", describe(.0))]
    Refused(Box<ErrorShape>),
    /// The gateway answered a request with an error.
    #[error("{}", describe(.0))]
    Gateway(Box<ErrorShape>),
    /// No answer in time.
    #[error("gateway timeout after {ms} ms ({what})")]
    Timeout { what: String, ms: u64 },
    /// The connection ended.
    #[error("gateway connection closed: {0}")]
    Closed(String),
    /// The handshake went wrong in a way the protocol does not describe.
    #[error("gateway handshake failed: {0}")]
    Handshake(String),
}

impl ClientError {
    /// The gateway's error, when there is one.
    pub fn shape(&self) -> Option<&ErrorShape> {
        match self {
            ClientError::Refused(e) | ClientError::Gateway(e) => Some(e),
            _ => None,
        }
    }
}

fn describe(e: &ErrorShape) -> String {
    let mut s = format!("{} ({})", e.message, e.code);
    if let Some(code) = e.detail_code() {
        if code != e.code {
            s.push_str(&format!(" [{code}]"));
        }
    }
    s
}

/// Where and how to connect.
#[derive(Clone)]
pub struct ConnectOptions {
    pub endpoint: Endpoint,
    pub token: Option<String>,
    pub password: Option<String>,
    /// A device token stored from an earlier hello, sent when no shared secret is given.
    pub device_token: Option<String>,
    /// The device to sign with; `None` connects as a shared-secret operator without one
    /// (what upstream's CLI does on loopback, where the gateway keeps its scopes).
    pub identity: Option<DeviceIdentity>,
    pub scopes: Vec<String>,
    /// Deadline for the handshake and for each request.
    pub timeout: Duration,
}

type Responder = mpsc::UnboundedSender<ResponseFrame>;

/// A connected operator session.
pub struct OperatorClient {
    out: mpsc::UnboundedSender<Message>,
    pending: Arc<Mutex<HashMap<String, Responder>>>,
    closed: Arc<Mutex<Option<String>>>,
    next_id: AtomicU64,
    events: Mutex<Option<mpsc::UnboundedReceiver<EventFrame>>>,
    hello: HelloOk,
    timeout: Duration,
    reader: tokio::task::JoinHandle<()>,
    _writer_done: oneshot::Receiver<()>,
}

impl Drop for OperatorClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn next_frame(ws: &mut Ws, deadline: Instant) -> Result<Frame, ClientError> {
    loop {
        let msg = tokio::time::timeout_at(deadline.into(), ws.next())
            .await
            .map_err(|_| ClientError::Handshake("no answer from the gateway".into()))?;
        match msg {
            None => return Err(ClientError::Closed("connection lost".into())),
            Some(Err(e)) => return Err(ClientError::Closed(e.to_string())),
            Some(Ok(Message::Text(t))) => {
                if let Ok(f) = Frame::parse(t.as_str()) {
                    return Ok(f);
                }
            }
            Some(Ok(Message::Close(c))) => {
                let reason = c.map(|c| format!("{} {}", u16::from(c.code), c.reason)).unwrap_or_default();
                return Err(ClientError::Closed(reason));
            }
            Some(Ok(_)) => {}
        }
    }
}

impl OperatorClient {
    /// Dials, answers the challenge, and returns the session once `hello-ok` arrives. A
    /// refusal the gateway marks retryable (it is still starting, 1013) is retried after its
    /// `retryAfterMs` until the timeout.
    pub async fn connect(opts: &ConnectOptions) -> Result<OperatorClient, ClientError> {
        let deadline = Instant::now() + opts.timeout;
        loop {
            match Self::connect_once(opts).await {
                Err(ClientError::Refused(e)) if e.retryable == Some(true) && Instant::now() < deadline => {
                    let wait = Duration::from_millis(e.retry_after_ms.unwrap_or(500).clamp(100, 2000));
                    tokio::time::sleep(wait.min(deadline.saturating_duration_since(Instant::now()))).await;
                }
                other => return other,
            }
        }
    }

    async fn connect_once(opts: &ConnectOptions) -> Result<OperatorClient, ClientError> {
        let url = opts.endpoint.url();
        let mut ws = tokio::time::timeout(opts.timeout, dial(&opts.endpoint))
            .await
            .map_err(|_| ClientError::Unreachable { url: url.clone(), reason: "timed out".into() })?
            .map_err(|reason| ClientError::Unreachable { url: url.clone(), reason })?;
        let deadline = Instant::now() + opts.timeout;
        let challenge = loop {
            if let Frame::Event(e) = next_frame(&mut ws, deadline).await? {
                if e.event == "connect.challenge" {
                    let c: ConnectChallenge = serde_json::from_value(e.payload.unwrap_or(Value::Null))
                        .map_err(|e| ClientError::Handshake(format!("invalid connect.challenge: {e}")))?;
                    break c;
                }
            }
        };
        let params = connect_params(opts, &challenge);
        let id = "1:connect".to_string();
        let req = Frame::Req(RequestFrame::new(&id, "connect", serde_json::to_value(&params).expect("serialises")));
        ws.send(Message::text(req.to_text())).await.map_err(|e| ClientError::Closed(e.to_string()))?;
        let hello = loop {
            if let Frame::Res(res) = next_frame(&mut ws, deadline).await? {
                if res.id != id {
                    continue;
                }
                if !res.ok {
                    return Err(ClientError::Refused(Box::new(res.error.unwrap_or_else(|| {
                        ErrorShape::new(openclaw_protocol::ErrorCode::Unavailable, "connect refused")
                    }))));
                }
                break serde_json::from_value::<HelloOk>(res.payload.unwrap_or(Value::Null))
                    .map_err(|e| ClientError::Handshake(format!("invalid hello-ok: {e}")))?;
            }
        };
        let (mut sink, mut stream) = ws.split();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let (done_tx, done_rx) = oneshot::channel();
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                let closing = matches!(m, Message::Close(_));
                if sink.send(m).await.is_err() || closing {
                    break;
                }
            }
            let _ = sink.close().await;
            let _ = done_tx.send(());
        });
        let pending: Arc<Mutex<HashMap<String, Responder>>> = Arc::default();
        let closed: Arc<Mutex<Option<String>>> = Arc::default();
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let reader = {
            let (pending, closed) = (pending.clone(), closed.clone());
            tokio::spawn(async move {
                let reason = loop {
                    match stream.next().await {
                        None => break "connection lost".to_string(),
                        Some(Err(e)) => break e.to_string(),
                        Some(Ok(Message::Text(t))) => match Frame::parse(t.as_str()) {
                            Ok(Frame::Res(res)) => {
                                let tx = pending.lock().expect("pending lock").get(&res.id).cloned();
                                if let Some(tx) = tx {
                                    let _ = tx.send(res);
                                }
                            }
                            Ok(Frame::Event(e)) => {
                                let _ = event_tx.send(e);
                            }
                            _ => {}
                        },
                        Some(Ok(Message::Close(c))) => {
                            break c
                                .map(|c| format!("{} {}", u16::from(c.code), c.reason))
                                .unwrap_or_else(|| "closed".into())
                        }
                        Some(Ok(_)) => {}
                    }
                };
                *closed.lock().expect("closed lock") = Some(reason);
                // Dropping the responders wakes every waiting request.
                pending.lock().expect("pending lock").clear();
            })
        };
        Ok(OperatorClient {
            out: out_tx,
            pending,
            closed,
            next_id: AtomicU64::new(2),
            events: Mutex::new(Some(event_rx)),
            hello,
            timeout: opts.timeout,
            reader,
            _writer_done: done_rx,
        })
    }

    /// The gateway's `hello-ok`.
    pub fn hello(&self) -> &HelloOk {
        &self.hello
    }

    /// Takes the stream of events (once).
    pub fn take_events(&self) -> Option<mpsc::UnboundedReceiver<EventFrame>> {
        self.events.lock().expect("events lock").take()
    }

    fn send_request(
        &self,
        method: &str,
        params: Value,
    ) -> Result<(String, mpsc::UnboundedReceiver<ResponseFrame>), ClientError> {
        if let Some(reason) = self.closed.lock().expect("closed lock").clone() {
            return Err(ClientError::Closed(reason));
        }
        let id = format!("{}:{}", self.next_id.fetch_add(1, Ordering::Relaxed), uuid::Uuid::new_v4());
        let (tx, rx) = mpsc::unbounded_channel();
        self.pending.lock().expect("pending lock").insert(id.clone(), tx);
        let frame = Frame::Req(RequestFrame::new(&id, method, params));
        self.out.send(Message::text(frame.to_text())).map_err(|_| ClientError::Closed("writer stopped".into()))?;
        Ok((id, rx))
    }

    async fn receive(
        &self,
        method: &str,
        rx: &mut mpsc::UnboundedReceiver<ResponseFrame>,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        match tokio::time::timeout(timeout, rx.recv()).await {
            Err(_) => Err(ClientError::Timeout { what: method.to_string(), ms: timeout.as_millis() as u64 }),
            Ok(None) => Err(ClientError::Closed(
                self.closed.lock().expect("closed lock").clone().unwrap_or_else(|| "closed".into()),
            )),
            Ok(Some(res)) if res.ok => Ok(res.payload.unwrap_or(Value::Null)),
            Ok(Some(res)) => Err(ClientError::Gateway(Box::new(
                res.error
                    .unwrap_or_else(|| ErrorShape::new(openclaw_protocol::ErrorCode::Unavailable, "request failed")),
            ))),
        }
    }

    /// Calls `method` and waits (up to the client timeout) for its answer.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.request_with_timeout(method, params, self.timeout).await
    }

    /// Calls `method` with an explicit deadline (for calls the gateway itself bounds, such as
    /// `node.invoke` with a command timeout).
    pub async fn request_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        let (id, mut rx) = self.send_request(method, params)?;
        let out = self.receive(method, &mut rx, timeout).await;
        self.pending.lock().expect("pending lock").remove(&id);
        out
    }

    /// Starts a two-phase request: returns the interim `accepted` payload and a handle that
    /// yields the final answer.
    pub async fn request_two_phase(&self, method: &str, params: Value) -> Result<(Value, TwoPhase), ClientError> {
        let (id, mut rx) = self.send_request(method, params)?;
        let first = self.receive(method, &mut rx, self.timeout).await;
        match first {
            Ok(v) if v.get("status").and_then(Value::as_str) == Some("accepted") => {
                Ok((v, TwoPhase { id, rx, pending: self.pending.clone(), method: method.to_string() }))
            }
            Ok(v) => {
                self.pending.lock().expect("pending lock").remove(&id);
                let (tx, rx) = mpsc::unbounded_channel();
                let _ = tx.send(ResponseFrame::ok("final", v.clone()));
                Ok((v, TwoPhase { id, rx, pending: self.pending.clone(), method: method.to_string() }))
            }
            Err(e) => {
                self.pending.lock().expect("pending lock").remove(&id);
                Err(e)
            }
        }
    }

    /// Closes the session politely.
    pub async fn close(self) {
        let _ = self.out.send(Message::Close(None));
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            let mut s = self;
            let _ = (&mut s._writer_done).await;
        })
        .await;
    }
}

/// The pending final answer of a two-phase request.
pub struct TwoPhase {
    id: String,
    rx: mpsc::UnboundedReceiver<ResponseFrame>,
    pending: Arc<Mutex<HashMap<String, Responder>>>,
    method: String,
}

impl TwoPhase {
    /// Waits for the final answer.
    pub async fn wait(mut self, timeout: Duration) -> Result<Value, ClientError> {
        let out = match tokio::time::timeout(timeout, self.rx.recv()).await {
            Err(_) => Err(ClientError::Timeout { what: self.method.clone(), ms: timeout.as_millis() as u64 }),
            Ok(None) => Err(ClientError::Closed("connection lost".into())),
            Ok(Some(res)) if res.ok => Ok(res.payload.unwrap_or(Value::Null)),
            Ok(Some(res)) => Err(ClientError::Gateway(Box::new(
                res.error
                    .unwrap_or_else(|| ErrorShape::new(openclaw_protocol::ErrorCode::Unavailable, "request failed")),
            ))),
        };
        self.pending.lock().expect("pending lock").remove(&self.id);
        out
    }
}

fn connect_params(opts: &ConnectOptions, challenge: &ConnectChallenge) -> ConnectParams {
    let client = ClientInfo {
        id: "cli".into(),
        display_name: None,
        version: COMPAT_VERSION.into(),
        build_id: None,
        platform: openclaw_node_host::platform::PLATFORM.into(),
        device_family: openclaw_node_host::platform::DEVICE_FAMILY.map(String::from),
        model_identifier: None,
        time_zone: None,
        mode: "cli".into(),
        instance_id: None,
    };
    let mut auth = ConnectAuth { token: opts.token.clone(), password: opts.password.clone(), ..Default::default() };
    if auth.token.is_none() && auth.password.is_none() {
        auth.device_token = opts.device_token.clone();
    }
    let device = opts.identity.as_ref().map(|identity| {
        let device_id = identity.device_id();
        let payload = DeviceAuthPayload {
            device_id: &device_id,
            client_id: &client.id,
            client_mode: &client.mode,
            role: "operator",
            scopes: &opts.scopes,
            signed_at_ms: challenge.ts,
            token: auth.signature_token(),
            nonce: &challenge.nonce,
            platform: Some(&client.platform),
            device_family: client.device_family.as_deref(),
        };
        DeviceProof {
            id: device_id.clone(),
            public_key: identity.public_key_b64url(),
            signature: identity.sign(&payload.to_v3_string()),
            signed_at: challenge.ts,
            nonce: challenge.nonce.clone(),
        }
    });
    ConnectParams {
        min_protocol: PROTOCOL_VERSION,
        max_protocol: PROTOCOL_VERSION,
        client,
        caps: None,
        commands: None,
        computer_use: None,
        worker_runs: None,
        permissions: None,
        path_env: None,
        role: Some("operator".into()),
        scopes: Some(opts.scopes.clone()),
        model_catalog: None,
        device,
        auth: (!auth.is_empty()).then_some(auth),
        locale: None,
        user_agent: None,
    }
}

/// Parses `ws://host:port[/path]` or `wss://…` into an endpoint (port defaults to 18789).
pub fn endpoint_from_url(url: &str, tls_fingerprint: Option<&str>) -> Result<Endpoint, String> {
    let bad = || format!("invalid gateway URL {url:?}: expected ws://host:port or wss://host:port");
    let (tls, rest) = if let Some(r) = url.strip_prefix("wss://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("ws://") {
        (false, r)
    } else {
        return Err(bad());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').ok_or_else(bad)?;
        let host = format!("[{}]", &v6[..end]);
        let port = v6[end + 1..].strip_prefix(':');
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?,
        None => openclaw_node_host::endpoint::DEFAULT_PORT,
    };
    let tls_fingerprint = match tls_fingerprint {
        Some(f) => Some(
            openclaw_protocol::tls::normalize_fingerprint(f)
                .map_err(|_| "Invalid TLS fingerprint; expected a SHA-256 certificate fingerprint.".to_string())?,
        ),
        None => None,
    };
    if tls_fingerprint.is_some() && !tls {
        return Err("gateway tls fingerprint requires wss:// gateway url".into());
    }
    Ok(Endpoint { host, port, tls, tls_fingerprint, context_path: path.filter(|p| *p != "/").map(String::from) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = endpoint_from_url("ws://127.0.0.1:1234", None).unwrap();
        assert_eq!((e.host.as_str(), e.port, e.tls), ("127.0.0.1", 1234, false));
        let e = endpoint_from_url("wss://[::1]:9/gw", Some(&"AB".repeat(32))).unwrap();
        assert_eq!((e.host.as_str(), e.port, e.tls, e.context_path.as_deref()), ("[::1]", 9, true, Some("/gw")));
        assert_eq!(e.url(), "wss://[::1]:9/gw");
        assert_eq!(endpoint_from_url("ws://box", None).unwrap().port, 18789);
        assert!(endpoint_from_url("http://box", None).is_err());
        assert!(endpoint_from_url("ws://box:0", None).is_err());
        assert!(endpoint_from_url("ws://box:1", Some(&"ab".repeat(32))).is_err());
    }
}
