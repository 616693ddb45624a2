//! The connection supervisor: dial, handshake, serve, and decide what happens next.
//!
//! One [`NodeHost::run`] call owns the node's lifetime. Each iteration dials the gateway and
//! runs the signed handshake (both from `openclaw-client`, shared with the operator), and on
//! `hello-ok` serves the session until it closes; then [`crate::reconnect`] decides between retrying (with backoff),
//! waiting for pairing approval, or exiting. The session loop never blocks: every invoke
//! runs in its own task and results flow back through a channel, while reading, pings,
//! ticks and stats continue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use openclaw_client::connection::{close, dial, next_frame, DialError, FrameError, Ws};
use openclaw_client::credentials::GatewayCredentials;
use openclaw_client::endpoint::Endpoint;
use openclaw_client::handshake::{handshake, ConnectRequest, HandshakeError, Timeouts};
use openclaw_protocol::connect::{ConnectAuth, HelloOk, ROLE_NODE};
use openclaw_protocol::device_auth::DeviceIdentity;
use openclaw_protocol::node::{self as wire, InvokeCancel, InvokeRequest, InvokeResult, NodeEvent, PairResolved};
use openclaw_protocol::{ErrorShape, EventFrame, Frame, RequestFrame, ResponseFrame};
use openclaw_state::StateDb;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, info, warn};

use crate::invoke::{dispatch, CommandRegistry, InvokeContext, NodeEnv, Outbound};
use crate::reconnect::{classify, Backoff, Rejection, PAIRING_RETRY};
use crate::status::StatusReporter;
use openclaw_state::node_status::ConnectionState;

/// How long to wait for `connect.challenge`, and then for the `connect` answer.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// TCP + TLS + upgrade budget.
const DIAL_TIMEOUT: Duration = Duration::from_secs(15);
/// Cadence of `node.host.stats`.
const STATS_INTERVAL: Duration = Duration::from_secs(60);
/// How long a `skills.bins` answer is trusted.
const SKILL_BINS_INTERVAL: Duration = Duration::from_secs(90);

/// Why the node host stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeExit {
    /// Stopped by a signal; the process exits 128 + signal (130 for SIGINT, 143 for SIGTERM).
    Signal(i32),
    /// The gateway refused our credentials; exit 1 so a supervisor stops restarting us.
    Terminal,
}

impl NodeExit {
    /// The process exit status.
    pub fn code(self) -> i32 {
        match self {
            NodeExit::Signal(code) => code,
            NodeExit::Terminal => 1,
        }
    }
}

/// Everything the supervisor needs, resolved before the first dial.
pub struct NodeHost {
    pub endpoint: Endpoint,
    pub credentials: GatewayCredentials,
    pub identity: DeviceIdentity,
    /// Shared with invoke tasks later (approvals); locked only for short synchronous reads/writes.
    pub db: Arc<Mutex<StateDb>>,
    /// `client.instanceId`.
    pub node_id: String,
    pub display_name: String,
    pub registry: Arc<CommandRegistry>,
    /// Sent as `pathEnv` unless a command allowlist is active.
    pub advertise_path: bool,
    pub env: Arc<NodeEnv>,
    /// Where the connection state is published for `node status`.
    pub status: StatusReporter,
    /// The gateway's skill binaries, refreshed by each session.
    pub skill_bins: Arc<crate::invoke::SkillBins>,
}

/// How one connection attempt ended.
enum Attempt {
    /// No WebSocket (refused, TLS failure, pin mismatch, upgrade refused).
    DialFailed(String),
    /// Connected, but the handshake did not finish (challenge or hello timeout, early close).
    HandshakeFailed(String),
    /// `connect` was refused.
    Rejected { error: ErrorShape, close: Option<(u16, String)> },
    /// A session ran after hello-ok and then closed.
    Closed { code: Option<u16>, reason: String },
    /// A signal asked us to stop.
    Shutdown(i32),
}

impl NodeHost {
    /// Runs until a signal (via `shutdown`, which carries the exit code) or a terminal error.
    pub async fn run(self, mut shutdown: watch::Receiver<Option<i32>>) -> NodeExit {
        let mut backoff = Backoff::default();
        let mut send_device_token_with_shared = false;
        let mut announced_pairing: Option<String> = None;
        let url = self.endpoint.url();
        loop {
            if let Some(code) = *shutdown.borrow() {
                self.status.set(ConnectionState::Stopped, None);
                return NodeExit::Signal(code);
            }
            if announced_pairing.is_none() {
                info!("node host gateway connecting: {url}");
                self.status.set(ConnectionState::Connecting, None);
            } else {
                debug!("node host gateway connecting: {url} (pairing pending)");
            }
            let attempt = self.attempt(&mut shutdown, send_device_token_with_shared).await;
            let retry_with_device_token = send_device_token_with_shared;
            send_device_token_with_shared = false;
            let delay = match attempt {
                Attempt::Shutdown(code) => {
                    self.status.set(ConnectionState::Stopped, None);
                    return NodeExit::Signal(code);
                }
                Attempt::DialFailed(msg) | Attempt::HandshakeFailed(msg) => {
                    info!("node host gateway connect failed: {msg}");
                    self.status.set(ConnectionState::Disconnected, Some(msg));
                    backoff.next_delay()
                }
                Attempt::Closed { code, reason } => {
                    let reason = or_no_close_reason(reason);
                    let line = format!(
                        "node host gateway closed ({}): {reason}",
                        code.map(|c| c.to_string()).unwrap_or_else(|| "-".into())
                    );
                    info!("{line}");
                    self.status.set(ConnectionState::Disconnected, Some(line));
                    backoff.reset();
                    announced_pairing = None;
                    backoff.next_delay()
                }
                Attempt::Rejected { error, close } => {
                    let (close_code, close_reason) = close.unwrap_or((1008, String::new()));
                    let close_reason = or_no_close_reason(close_reason);
                    let detail = error.detail_code().map(|c| format!(" detail={c}")).unwrap_or_default();
                    let terminal = format!(
                        "node host gateway reconnect paused after close ({close_code}): {close_reason}{detail}; exiting for supervisor restart"
                    );
                    match classify(&error) {
                        Rejection::PairingRequired { request_id } => {
                            let id = request_id.unwrap_or_else(|| "<see openclaw devices list>".into());
                            if announced_pairing.as_deref() != Some(id.as_str()) {
                                info!(
                                    "node host pairing required: requestId={id}; approve it on the gateway with: openclaw devices approve {id} (retrying every {} s until approved)",
                                    PAIRING_RETRY.as_secs()
                                );
                                self.status.pairing(&id);
                                announced_pairing = Some(id);
                            } else {
                                debug!("pairing still pending");
                            }
                            PAIRING_RETRY
                        }
                        Rejection::Terminal { .. } => {
                            info!("node host gateway connect failed: {}", error.message);
                            info!("{terminal}");
                            self.status.set(ConnectionState::Failed, Some(format!("{}{detail}", error.message)));
                            return NodeExit::Terminal;
                        }
                        Rejection::TokenMismatch => {
                            if !retry_with_device_token && self.may_retry_with_device_token() {
                                info!(
                                    "node host gateway connect failed: {}; retrying once with the stored device token",
                                    error.message
                                );
                                send_device_token_with_shared = true;
                                Duration::from_millis(250)
                            } else {
                                info!("node host gateway connect failed: {}", error.message);
                                info!("{terminal}");
                                self.status.set(ConnectionState::Failed, Some(format!("{}{detail}", error.message)));
                                return NodeExit::Terminal;
                            }
                        }
                        Rejection::DeviceTokenMismatch => {
                            info!(
                                "node host gateway connect failed: {}; forgetting the stored device token",
                                error.message
                            );
                            if let Err(e) = self.state().clear_device_token(&self.identity.device_id(), ROLE_NODE) {
                                warn!("node host could not clear the device token: {e}");
                            }
                            backoff.next_delay()
                        }
                        Rejection::StartupRetry(delay) => {
                            info!("node host gateway connect failed: {}{detail}", error.message);
                            self.status.set(ConnectionState::Disconnected, Some(format!("{}{detail}", error.message)));
                            delay
                        }
                        Rejection::RetryAfter(min) => {
                            info!("node host gateway connect failed: {}{detail}", error.message);
                            self.status.set(ConnectionState::Disconnected, Some(format!("{}{detail}", error.message)));
                            backoff.next_delay().max(min)
                        }
                        Rejection::Retry => {
                            info!("node host gateway connect failed: {}{detail}", error.message);
                            self.status.set(ConnectionState::Disconnected, Some(format!("{}{detail}", error.message)));
                            backoff.next_delay()
                        }
                    }
                }
            };
            if delay >= Duration::from_secs(1) && announced_pairing.is_none() {
                info!("node host gateway reconnect in {} s", delay.as_secs_f32());
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, StateDb> {
        // A panic while holding the lock cannot leave the database inconsistent (every write is
        // one transaction), so a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The device-token retry is only safe towards an endpoint we trust not to be an impostor
    /// collecting tokens: loopback, or TLS with a pinned certificate.
    fn may_retry_with_device_token(&self) -> bool {
        let trusted = openclaw_client::endpoint::is_loopback(&self.endpoint.host)
            || (self.endpoint.tls && self.endpoint.tls_fingerprint.is_some());
        let stored = matches!(self.state().device_token(&self.identity.device_id(), ROLE_NODE), Ok(Some(_)));
        trusted && stored && self.credentials.token.is_some()
    }

    /// The `auth` object for this attempt (`protocol.md` §4.5).
    fn connect_auth(&self, with_device_token: bool) -> ConnectAuth {
        let stored = match self.state().device_token(&self.identity.device_id(), ROLE_NODE) {
            Ok(t) => t.map(|t| t.token),
            Err(e) => {
                warn!("node host could not read the stored device token: {e}");
                None
            }
        };
        let mut auth = ConnectAuth {
            token: self.credentials.token.clone(),
            password: self.credentials.password.clone(),
            ..Default::default()
        };
        if (auth.token.is_none() && auth.password.is_none()) || with_device_token {
            auth.device_token = stored;
        }
        auth
    }

    /// What this node says about itself in `connect`; the handshake signs it.
    fn connect_request(&self, auth: ConnectAuth) -> ConnectRequest<'_> {
        ConnectRequest {
            display_name: Some(self.display_name.clone()),
            instance_id: Some(self.node_id.clone()),
            model_identifier: crate::platform::model_identifier(),
            caps: Some(self.registry.caps()),
            commands: Some(self.registry.command_names()),
            path_env: self.advertise_path.then(|| self.env.path.clone()),
            ..ConnectRequest::node(&self.identity, auth)
        }
    }

    async fn attempt(&self, shutdown: &mut watch::Receiver<Option<i32>>, with_device_token: bool) -> Attempt {
        let dial = tokio::time::timeout(DIAL_TIMEOUT, dial(&self.endpoint));
        let mut ws = tokio::select! {
            r = dial => match r {
                Ok(Ok(ws)) => ws,
                Ok(Err(e)) => return Attempt::DialFailed(dial_failure(&e)),
                Err(_) => return Attempt::DialFailed(format!("timed out after {} s", DIAL_TIMEOUT.as_secs())),
            },
            _ = shutdown.changed() => return Attempt::Shutdown(shutdown.borrow().unwrap_or(143)),
        };
        let handshake = self.handshake(&mut ws, with_device_token);
        let hello = tokio::select! {
            r = handshake => r,
            _ = shutdown.changed() => {
                close(&mut ws, 1000, "node host stopping").await;
                return Attempt::Shutdown(shutdown.borrow().unwrap_or(143));
            }
        };
        let hello = match hello {
            Ok(hello) => hello,
            Err(attempt) => return attempt,
        };
        if let Some(auth) = &hello.auth {
            if let Some(token) = &auth.device_token {
                self.persist_device_token(token, &auth.scopes);
            }
        }
        info!("node host gateway connected: {}", self.endpoint.url());
        self.status.set(ConnectionState::Connected, None);
        Session::new(self, ws, &hello).serve(shutdown).await
    }

    fn persist_device_token(&self, token: &str, scopes: &[String]) {
        let device_id = self.identity.device_id();
        let current = self.state().device_token(&device_id, ROLE_NODE).ok().flatten();
        if current.as_ref().map(|t| t.token.as_str()) == Some(token) {
            return;
        }
        match self.state().save_device_token(&device_id, ROLE_NODE, token, scopes) {
            Ok(()) => debug!("stored a new device token"),
            Err(e) => warn!("node host could not store the device token: {e}"),
        }
    }

    /// challenge → connect → hello-ok (or the rejection and the close that follows it).
    async fn handshake(&self, ws: &mut Ws, with_device_token: bool) -> Result<HelloOk, Attempt> {
        let request = self.connect_request(self.connect_auth(with_device_token));
        let id = format!("1:{}", uuid::Uuid::new_v4());
        match handshake(ws, &request, &id, Timeouts::PerStep(HANDSHAKE_TIMEOUT)).await {
            Ok(hello) => Ok(hello),
            Err(HandshakeError::Refused(error)) => {
                // The gateway closes right after a refusal; its close reason goes into the log.
                let close = match next_frame(ws, Instant::now() + Duration::from_secs(2)).await {
                    Err(e @ (FrameError::Lost | FrameError::Closed(_))) => e.close_code_and_reason(),
                    _ => None,
                };
                Err(Attempt::Rejected { error: *error, close })
            }
            Err(e) => {
                match &e {
                    HandshakeError::ChallengeWait(FrameError::Timeout) => {
                        close(ws, 1008, "connect challenge timeout").await
                    }
                    HandshakeError::InvalidChallenge { .. } => close(ws, 1008, "connect challenge missing nonce").await,
                    HandshakeError::HelloWait(FrameError::Timeout) => close(ws, 4000, "connect timeout").await,
                    _ => {}
                }
                Err(Attempt::HandshakeFailed(e.to_string()))
            }
        }
    }
}

/// The log line of a failed dial. A pin mismatch is said as such: retrying cannot fix it,
/// and the operator must re-pin or find out who answers instead.
fn dial_failure(e: &DialError) -> String {
    if let DialError::FingerprintMismatch { actual, .. } = e {
        debug!("the gateway presented a certificate with sha256 {actual}");
    }
    e.to_string()
}

/// Upstream prints an empty close reason as "no close reason".
fn or_no_close_reason(reason: String) -> String {
    if reason.is_empty() {
        "no close reason".to_string()
    } else {
        reason
    }
}

/// Running invokes of one session: id → cancel switch.
type Running = Arc<Mutex<HashMap<String, watch::Sender<bool>>>>;

/// One connected session, from hello-ok to close.
struct Session<'a> {
    host: &'a NodeHost,
    ws: Ws,
    tick_interval: Duration,
    next_request: u64,
    running: Running,
    /// Invoke tasks of this session (finished ones are pruned as new ones start).
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The id of the `skills.bins` request in flight.
    skills_request: Option<String>,
}

impl<'a> Session<'a> {
    fn new(host: &'a NodeHost, ws: Ws, hello: &HelloOk) -> Self {
        let tick_interval = Duration::from_millis(hello.policy.tick_interval_ms.max(1000));
        // A new session starts without the previous gateway's skill list.
        host.skill_bins.set(Vec::new());
        Session {
            host,
            ws,
            tick_interval,
            next_request: 1,
            running: Arc::default(),
            tasks: Vec::new(),
            skills_request: None,
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Message {
        self.request_with_id(method, params).1
    }

    fn request_with_id(&mut self, method: &str, params: Value) -> (String, Message) {
        self.next_request += 1;
        let id = format!("{}:{}", self.next_request, uuid::Uuid::new_v4());
        let msg = Message::text(Frame::Req(RequestFrame::new(&id, method, params)).to_text());
        (id, msg)
    }

    /// Answers to our own requests: only `skills.bins` carries data we keep.
    fn on_response(&mut self, res: ResponseFrame) {
        if self.skills_request.as_deref() == Some(res.id.as_str()) {
            self.skills_request = None;
            match (res.ok, res.payload.as_ref().and_then(|p| p.get("bins")).and_then(Value::as_array)) {
                (true, Some(bins)) => {
                    self.host.skill_bins.set(bins.iter().filter_map(|b| b.as_str().map(String::from)).collect())
                }
                // A failed refresh keeps the previous list.
                _ => debug!("skills.bins refresh failed: {:?}", res.error.map(|e| e.message)),
            }
            return;
        }
        if let Some(err) = res.error {
            // e.g. a transient PAIRING_CHANGED right after hello; the next cycle retries.
            debug!("gateway answered {} with {}: {}", res.id, err.code, err.message);
        }
    }

    async fn serve(mut self, shutdown: &mut watch::Receiver<Option<i32>>) -> Attempt {
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Outbound>();
        let mut last_rx = Instant::now();
        let mut watchdog = tokio::time::interval(self.tick_interval);
        watchdog.tick().await;
        let mut stats = tokio::time::interval(STATS_INTERVAL);
        let mut skills = tokio::time::interval(SKILL_BINS_INTERVAL);
        let outcome = loop {
            tokio::select! {
                msg = self.ws.next() => {
                    last_rx = Instant::now();
                    match msg {
                        None => break Attempt::Closed { code: Some(1006), reason: "connection lost".into() },
                        Some(Err(e)) => break Attempt::Closed { code: None, reason: e.to_string() },
                        Some(Ok(Message::Close(c))) => {
                            let (code, reason) = c.map(|c| (u16::from(c.code), c.reason.to_string())).unwrap_or((1005, String::new()));
                            break Attempt::Closed { code: Some(code), reason };
                        }
                        Some(Ok(Message::Text(text))) => match Frame::parse(&text) {
                            Ok(Frame::Event(event)) => self.on_event(event, &out_tx),
                            Ok(Frame::Res(res)) => self.on_response(res),
                            Ok(Frame::Req(req)) => debug!("ignoring request frame {} from the gateway", req.method),
                            Err(e) => warn!("node host ignored a malformed frame: {e}"),
                        },
                        Some(Ok(_)) => {} // pings are answered by tungstenite on the next write/flush
                    }
                }
                Some(out) = out_rx.recv() => {
                    let msg = self.request(out.method, out.params);
                    if let Err(e) = self.ws.send(msg).await {
                        break Attempt::Closed { code: None, reason: format!("send failed: {e}") };
                    }
                }
                _ = stats.tick() => {
                    let event = NodeEvent::new("node.host.stats", &crate::stats::collect());
                    let msg = self.request(wire::METHOD_NODE_EVENT, serde_json::to_value(event).expect("serialises"));
                    if let Err(e) = self.ws.send(msg).await {
                        break Attempt::Closed { code: None, reason: format!("send failed: {e}") };
                    }
                }
                _ = skills.tick() => {
                    let (id, msg) = self.request_with_id("skills.bins", serde_json::json!({}));
                    self.skills_request = Some(id);
                    if let Err(e) = self.ws.send(msg).await {
                        break Attempt::Closed { code: None, reason: format!("send failed: {e}") };
                    }
                }
                _ = watchdog.tick() => {
                    if last_rx.elapsed() > self.tick_interval * 2 {
                        close(&mut self.ws, 4000, "tick timeout").await;
                        break Attempt::Closed { code: Some(4000), reason: "tick timeout".into() };
                    }
                }
                _ = shutdown.changed() => {
                    close(&mut self.ws, 1000, "node host stopping").await;
                    break Attempt::Shutdown(shutdown.borrow().unwrap_or(143));
                }
            }
        };
        // Results can no longer be delivered: stop whatever is still running, and give the
        // commands a moment to kill their process groups before the runtime goes away.
        for (_, cancel) in self.running.lock().expect("running map").drain() {
            let _ = cancel.send(true);
        }
        let tasks = std::mem::take(&mut self.tasks);
        let _ = tokio::time::timeout(Duration::from_secs(2), futures_util::future::join_all(tasks)).await;
        outcome
    }

    fn on_event(&mut self, event: EventFrame, out_tx: &mpsc::UnboundedSender<Outbound>) {
        match event.event.as_str() {
            wire::EVENT_INVOKE_REQUEST => {
                let payload = event.payload.unwrap_or(serde_json::Value::Null);
                match serde_json::from_value::<InvokeRequest>(payload.clone()) {
                    Ok(req) if !req.id.trim().is_empty() && !req.command.trim().is_empty() => {
                        self.start_invoke(req, out_tx.clone())
                    }
                    other => {
                        // Still answer when the id is readable, so the caller is not left
                        // waiting for its deadline.
                        let detail =
                            other.err().map(|e| e.to_string()).unwrap_or_else(|| "id and command required".into());
                        warn!("node host got a malformed node.invoke.request: {detail}");
                        if let Some(id) = payload.get("id").and_then(|v| v.as_str()).filter(|id| !id.trim().is_empty())
                        {
                            let result = InvokeResult::failure(
                                id,
                                &self.host.identity.device_id(),
                                openclaw_protocol::node::InvokeError::new(
                                    "INVALID_REQUEST",
                                    "Error: INVALID_REQUEST: malformed node.invoke.request",
                                ),
                            );
                            let _ = out_tx.send(Outbound {
                                method: wire::METHOD_INVOKE_RESULT,
                                params: serde_json::to_value(result).expect("serialises"),
                            });
                        }
                    }
                }
            }
            wire::EVENT_INVOKE_CANCEL => {
                if let Some(Ok(cancel)) = event.payload.map(serde_json::from_value::<InvokeCancel>) {
                    if let Some(switch) = self.running.lock().expect("running map").get(&cancel.invoke_id) {
                        info!("node host invoke {} cancelled by the gateway", cancel.invoke_id);
                        let _ = switch.send(true);
                    }
                }
            }
            wire::EVENT_PAIR_RESOLVED => {
                if let Some(Ok(r)) = event.payload.map(serde_json::from_value::<PairResolved>) {
                    info!("node host command surface {} (requestId {})", r.decision, r.request_id);
                }
            }
            wire::EVENT_SHUTDOWN => {
                info!("node host gateway is shutting down: {}", event.payload.unwrap_or(serde_json::Value::Null))
            }
            _ => {} // ticks, health, voicewake, …: activity only
        }
    }

    fn start_invoke(&mut self, req: InvokeRequest, out_tx: mpsc::UnboundedSender<Outbound>) {
        let (cancel_tx, cancel_rx) = watch::channel(false);
        {
            let mut running = self.running.lock().expect("running map");
            if running.contains_key(&req.id) {
                debug!("duplicate invoke {} ignored", req.id);
                return;
            }
            running.insert(req.id.clone(), cancel_tx);
        }
        let ctx = InvokeContext {
            invoke_id: req.id.clone(),
            timeout_ms: req.timeout_ms,
            session_key: req.session_key.clone(),
            cancel: cancel_rx,
            env: self.host.env.clone(),
            outbound: out_tx.clone(),
        };
        let registry = self.host.registry.clone();
        let node_id = self.host.identity.device_id();
        let running = self.running.clone();
        debug!("invoke {} {}", req.id, req.command);
        self.tasks.retain(|t| !t.is_finished());
        self.tasks.push(tokio::spawn(async move {
            let result = match dispatch(&registry, &req, ctx).await {
                Ok(payload) => InvokeResult::success(&req.id, &node_id, &payload),
                Err(error) => InvokeResult::failure(&req.id, &node_id, error),
            };
            running.lock().expect("running map").remove(&req.id);
            let _ = out_tx.send(Outbound {
                method: wire::METHOD_INVOKE_RESULT,
                params: serde_json::to_value(result).expect("serialises"),
            });
        }));
    }
}
