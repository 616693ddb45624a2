//! One connected session, from `hello-ok` to close: read frames, dispatch invokes, send
//! results, pings, stats and `skills.bins` refreshes, and watch the tick deadline.
//!
//! Split from the supervisor in [`super`] so the lifecycle (dial, handshake, retry) and the
//! serving loop read separately; the session only reports how it ended, as an [`Attempt`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use openclaw_client::connection::{close, close_code_for, Ws};
use openclaw_protocol::connect::HelloOk;
use openclaw_protocol::node::{self as wire, InvokeCancel, InvokeRequest, PairResolved};
use openclaw_protocol::{EventFrame, Frame, ResponseFrame};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tracing::{debug, info, warn};

use super::outbox::Unacked;
use super::{Attempt, NodeHost, SKILL_BINS_INTERVAL, STATS_INTERVAL};
use crate::invoke::{dispatch, InvokeContext, Outbound};
use crate::services::lock_recovering;

/// Messages longer than this go out in fragments of this size. tungstenite copies a frame
/// whole into its write buffer and keeps the buffer's capacity for the connection's life, so a
/// 20 MB result sent as one frame would cost another 20 MB, for good; a fragment costs 1 MiB.
/// Both the real Gateway and ours reassemble fragmented messages, as RFC 6455 requires.
const FRAGMENT_BYTES: usize = 1 << 20;

/// Running invokes of one session: id → cancel switch.
type Running = Arc<Mutex<HashMap<String, watch::Sender<bool>>>>;

/// One connected session, from hello-ok to close.
pub(super) struct Session<'a> {
    host: &'a NodeHost,
    ws: Ws,
    tick_interval: Duration,
    running: Running,
    /// Invoke tasks of this session (finished ones are pruned as new ones start).
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The id of the `skills.bins` request in flight.
    skills_request: Option<String>,
    /// Command requests (results, exec events) sent but not yet acknowledged.
    unacked: Unacked,
    /// The last sign that the gateway is there: a frame from it, or a fragment of a long
    /// message it took from us (while a 20 MB result goes out, its ticks wait unread, and the
    /// watchdog must not take that for silence).
    last_alive: Instant,
}

impl<'a> Session<'a> {
    pub(super) fn new(host: &'a NodeHost, ws: Ws, hello: &HelloOk) -> Self {
        let tick_interval = Duration::from_millis(hello.policy.tick_interval_ms.max(1000));
        // A new session starts without the previous gateway's skill list.
        host.skill_bins.set(Vec::new());
        Session {
            host,
            ws,
            tick_interval,
            running: Arc::default(),
            tasks: Vec::new(),
            skills_request: None,
            unacked: Unacked::default(),
            last_alive: Instant::now(),
        }
    }

    /// How long a write may take before the link counts as dead: the tick watchdog's window.
    /// A gateway that stopped reading (or a half-open link) fills the socket buffers and a
    /// write then waits forever; without this bound the watchdog could never fire.
    fn write_window(&self) -> Duration {
        self.tick_interval * 2
    }

    /// Sends one text message, in fragments of at most [`FRAGMENT_BYTES`], each within
    /// [`Self::write_window`] (so a slow link that keeps moving is not taken for a dead one);
    /// the error says why the link is dead.
    async fn write(&mut self, text: &Bytes) -> Result<(), String> {
        let window = self.write_window();
        let mut rest = text.clone();
        let mut opcode = OpCode::Data(Data::Text);
        loop {
            let fragment = rest.split_to(rest.len().min(FRAGMENT_BYTES));
            let last = rest.is_empty();
            let frame = Message::Frame(WsFrame::message(fragment, opcode, last));
            match tokio::time::timeout(window, self.ws.send(frame)).await {
                Ok(Ok(())) if last => return Ok(()),
                Ok(Ok(())) => {
                    // A full fragment went through: the link moves. (A dead one takes the first
                    // few into socket buffers, then stalls past the window above.)
                    self.last_alive = Instant::now();
                    opcode = OpCode::Data(Data::Continue);
                }
                Ok(Err(e)) => return Err(format!("send failed: {e}")),
                Err(_) => return Err(format!("send stalled for {} s: the link is dead", window.as_secs_f32())),
            }
        }
    }

    /// Sends a command's request (a result or an event) and keeps it until the gateway
    /// acknowledges it, so a dead link does not lose it (see [`super::outbox`]).
    async fn send_outbound(&mut self, out: Outbound) -> Result<(), String> {
        let frame = out.frame.clone();
        self.unacked.push(out);
        self.write(&frame).await
    }

    /// Answers to our own requests: only `skills.bins` carries data we keep.
    fn on_response(&mut self, res: ResponseFrame) {
        if self.unacked.ack(&res.id) {
            return;
        }
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

    pub(super) async fn serve(mut self, shutdown: &mut watch::Receiver<Option<i32>>) -> Attempt {
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Outbound>();
        let mut watchdog = tokio::time::interval(self.tick_interval);
        watchdog.tick().await;
        let mut stats = tokio::time::interval(STATS_INTERVAL);
        let mut skills = tokio::time::interval(SKILL_BINS_INTERVAL);
        // What the previous session could not get acknowledged goes first, in order.
        let carried = self.host.outbox.take();
        if !carried.is_empty() {
            info!("node host re-sending {} unacknowledged result(s) and event(s)", carried.len());
        }
        let mut first_error = None;
        for out in carried {
            if first_error.is_some() {
                // Keep the rest for the next session, in order.
                self.unacked.push(out);
            } else if let Err(reason) = self.send_outbound(out).await {
                first_error = Some(reason);
            }
        }
        let outcome = loop {
            if let Some(reason) = first_error.take() {
                break Attempt::Closed { code: None, reason };
            }
            tokio::select! {
                msg = self.ws.next() => {
                    self.last_alive = Instant::now();
                    match msg {
                        None => break Attempt::Closed { code: Some(1006), reason: "connection lost".into() },
                        Some(Err(e)) => {
                            // A gateway that broke the protocol is told why before we hang up.
                            if let Some((code, reason)) = close_code_for(&e) {
                                warn!("node host closing the gateway connection ({code}): {e}");
                                close(&mut self.ws, code, reason).await;
                                break Attempt::Closed { code: Some(code), reason: reason.into() };
                            }
                            break Attempt::Closed { code: None, reason: e.to_string() };
                        }
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
                    if let Err(reason) = self.send_outbound(out).await {
                        break Attempt::Closed { code: None, reason };
                    }
                }
                _ = stats.tick() => {
                    let event = Outbound::node_event("node.host.stats", &crate::host_stats::collect());
                    if let Err(reason) = self.write(&event.frame).await {
                        break Attempt::Closed { code: None, reason };
                    }
                }
                _ = skills.tick() => {
                    let request = Outbound::request("skills.bins", serde_json::json!({}));
                    self.skills_request = Some(request.id);
                    if let Err(reason) = self.write(&request.frame).await {
                        break Attempt::Closed { code: None, reason };
                    }
                }
                _ = watchdog.tick() => {
                    if self.last_alive.elapsed() > self.tick_interval * 2 {
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
        for (_, cancel) in lock_recovering(&self.running).drain() {
            let _ = cancel.send(true);
        }
        let tasks = std::mem::take(&mut self.tasks);
        let _ = tokio::time::timeout(Duration::from_secs(2), futures_util::future::join_all(tasks)).await;
        // Results not acknowledged (or never written) wait for the next session.
        let mut unsent = Vec::new();
        while let Ok(out) = out_rx.try_recv() {
            unsent.push(out);
        }
        let unacked = std::mem::take(&mut self.unacked);
        if unacked.len() + unsent.len() > 0 {
            info!(
                "node host keeps {} unacknowledged and {} unsent request(s) for the next connection",
                unacked.len(),
                unsent.len()
            );
        }
        self.host.outbox.keep(unacked, unsent);
        outcome
    }

    fn on_event(&mut self, event: EventFrame, out_tx: &mpsc::UnboundedSender<Outbound>) {
        match event.event.as_str() {
            wire::EVENT_INVOKE_REQUEST => {
                let payload = event.payload.unwrap_or(serde_json::Value::Null);
                // The id is read first, so the (possibly 25 MB) payload is decoded without a copy.
                let id = payload.get("id").and_then(|v| v.as_str()).map(String::from);
                match serde_json::from_value::<InvokeRequest>(payload) {
                    Ok(req) if !req.id.trim().is_empty() && !req.command.trim().is_empty() => {
                        self.start_invoke(req, out_tx.clone())
                    }
                    other => {
                        // Still answer when the id is readable, so the caller is not left
                        // waiting for its deadline.
                        let detail =
                            other.err().map(|e| e.to_string()).unwrap_or_else(|| "id and command required".into());
                        warn!("node host got a malformed node.invoke.request: {detail}");
                        if let Some(id) = id.filter(|id| !id.trim().is_empty()) {
                            let _ = out_tx.send(Outbound::invoke_result(
                                &id,
                                &self.host.identity.device_id(),
                                Err(crate::params::thrown_invalid_request("malformed node.invoke.request")),
                            ));
                        }
                    }
                }
            }
            wire::EVENT_INVOKE_CANCEL => {
                if let Some(Ok(cancel)) = event.payload.map(serde_json::from_value::<InvokeCancel>) {
                    if let Some(switch) = lock_recovering(&self.running).get(&cancel.invoke_id) {
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
            let mut running = lock_recovering(&self.running);
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
            let id = req.id.clone();
            // The payload is dropped as soon as its frame is written.
            let result = Outbound::invoke_result(&id, &node_id, dispatch(&registry, req, ctx).await);
            lock_recovering(&running).remove(&id);
            let _ = out_tx.send(result);
        }));
    }
}
