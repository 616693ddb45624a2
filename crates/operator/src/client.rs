//! A WebSocket operator client for any protocol-v4 gateway (ours or the real one).
//!
//! Dialing and the signed handshake are `openclaw-client`'s, shared with the node host.
//! It connects as `client {id:"cli", mode:"cli"}`, `role:"operator"`, signed with this
//! machine's device identity (the same one the node host uses, as upstream's CLI does), so a
//! loopback gateway pairs it silently and a remote one issues a device token after approval.
//! Requests are correlated by id and may complete out of order; a two-phase request (an
//! interim `{status:"accepted"}` answer, then the final one on the same id) is supported.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use openclaw_client::connection::{dial, DialError, FrameError};
use openclaw_client::endpoint::Endpoint;
use openclaw_client::handshake::{handshake, ConnectRequest, HandshakeError, Timeouts};
use openclaw_protocol::connect::{ConnectAuth, HelloOk};
use openclaw_protocol::device_auth::DeviceIdentity;
use openclaw_protocol::{ErrorShape, EventFrame, Frame, RequestFrame, ResponseFrame};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// Locks shared client state, recovering it if a panicking thread poisoned the lock: the
/// maps behind these locks stay consistent after any single operation, and the workspace's
/// policy is that one panic must not turn every later call into another panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The scopes the CLI asks for: everything an operator command may need.
pub const OPERATOR_SCOPES: &[&str] =
    &["operator.admin", "operator.read", "operator.write", "operator.approvals", "operator.pairing"];

/// Why a connection or request failed. Messages say what to check.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// TCP, TLS or the WebSocket upgrade failed.
    #[error("Gateway not reachable at {url} ({source}).\nStart it with `openclaw gateway run`, or pass --url.")]
    Unreachable {
        /// The gateway's URL.
        url: String,
        /// What failed, a pin mismatch included.
        #[source]
        source: DialError,
    },
    /// Dialing did not finish within the timeout.
    #[error("Gateway not reachable at {url} (timed out).\nStart it with `openclaw gateway run`, or pass --url.")]
    DialTimeout {
        /// The gateway's URL.
        url: String,
    },
    /// The gateway refused `connect`.
    #[error("gateway refused the connection: {}", describe(.0))]
    Refused(Box<ErrorShape>),
    /// The gateway answered a request with an error.
    #[error("{}", describe(.0))]
    Gateway(Box<ErrorShape>),
    /// No answer in time.
    #[error("gateway timeout after {ms} ms ({what})")]
    Timeout {
        /// The method that was waited for.
        what: String,
        /// How long.
        ms: u64,
    },
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
    /// The gateway.
    pub endpoint: Endpoint,
    /// The shared token (`connect.auth.token`).
    pub token: Option<String>,
    /// The shared password (`connect.auth.password`).
    pub password: Option<String>,
    /// A device token stored from an earlier hello, sent when no shared secret is given.
    pub device_token: Option<String>,
    /// The device to sign with; `None` connects as a shared-secret operator without one
    /// (what upstream's CLI does on loopback, where the gateway keeps its scopes).
    pub identity: Option<DeviceIdentity>,
    /// The scopes to ask for, covered by the device signature.
    pub scopes: Vec<String>,
    /// Deadline for the handshake and for each request.
    pub timeout: Duration,
    /// `connect.caps`: what this client presents, e.g. `plugin-approvals` to be offered the
    /// gateway's plugin approval prompts. Empty sends none.
    pub caps: Vec<String>,
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
            .map_err(|_| ClientError::DialTimeout { url: url.clone() })?
            .map_err(|source| ClientError::Unreachable { url: url.clone(), source })?;
        let hello = handshake(&mut ws, &connect_request(opts), "1:connect", Timeouts::Total(opts.timeout))
            .await
            .map_err(ClientError::from)?;
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
                                let tx = lock(&pending).get(&res.id).cloned();
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
                *lock(&closed) = Some(reason);
                // Dropping the responders wakes every waiting request.
                lock(&pending).clear();
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
        lock(&self.events).take()
    }

    fn send_request(
        &self,
        method: &str,
        params: Value,
    ) -> Result<(String, mpsc::UnboundedReceiver<ResponseFrame>), ClientError> {
        if let Some(reason) = lock(&self.closed).clone() {
            return Err(ClientError::Closed(reason));
        }
        let id = format!("{}:{}", self.next_id.fetch_add(1, Ordering::Relaxed), uuid::Uuid::new_v4());
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.pending).insert(id.clone(), tx);
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
            Ok(None) => Err(ClientError::Closed(lock(&self.closed).clone().unwrap_or_else(|| "closed".into()))),
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
        lock(&self.pending).remove(&id);
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
                lock(&self.pending).remove(&id);
                let (tx, rx) = mpsc::unbounded_channel();
                let _ = tx.send(ResponseFrame::ok("final", v.clone()));
                Ok((v, TwoPhase { id, rx, pending: self.pending.clone(), method: method.to_string() }))
            }
            Err(e) => {
                lock(&self.pending).remove(&id);
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
        lock(&self.pending).remove(&self.id);
        out
    }
}

/// What the CLI says about itself in `connect`: the shared-secret or device-token auth, and
/// the device that signs when there is one.
fn connect_request(opts: &ConnectOptions) -> ConnectRequest<'_> {
    let mut auth = ConnectAuth { token: opts.token.clone(), password: opts.password.clone(), ..Default::default() };
    if auth.token.is_none() && auth.password.is_none() {
        auth.device_token = opts.device_token.clone();
    }
    let mut request = ConnectRequest::operator(opts.identity.as_ref(), opts.scopes.clone(), auth);
    if !opts.caps.is_empty() {
        request.caps = Some(opts.caps.clone());
    }
    request
}

impl From<HandshakeError> for ClientError {
    /// The operator's wording of a failed handshake (the node host logs its own).
    fn from(e: HandshakeError) -> Self {
        match e {
            HandshakeError::ChallengeWait(wait) | HandshakeError::HelloWait(wait) => match wait {
                FrameError::Timeout => ClientError::Handshake("no answer from the gateway".into()),
                FrameError::Lost => ClientError::Closed("connection lost".into()),
                FrameError::Closed(None) => ClientError::Closed(String::new()),
                FrameError::Closed(Some((code, reason))) => ClientError::Closed(format!("{code} {reason}")),
                FrameError::Transport(e) => ClientError::Closed(e),
            },
            HandshakeError::InvalidChallenge { detail } => {
                ClientError::Handshake(format!("invalid connect.challenge: {detail}"))
            }
            HandshakeError::Send(e) => ClientError::Closed(e),
            HandshakeError::Refused(shape) => ClientError::Refused(shape),
            HandshakeError::InvalidHello(e) => ClientError::Handshake(format!("invalid hello-ok: {e}")),
        }
    }
}

/// Kept here for callers that name an operator's gateway by URL; the parser is shared with
/// every client.
pub use openclaw_client::endpoint::endpoint_from_url;
