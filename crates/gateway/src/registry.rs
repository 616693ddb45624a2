//! Connected clients: their outboxes, the node registry, broadcasts, and invoke routing.
//!
//! Each connection owns a writer task fed by an [`Outbox`]. Everything else (handlers of other
//! connections, the tick timer, invoke timeouts) talks to a client only through its outbox, so
//! no lock is held across an await. Broadcast events carry a per-connection `seq` starting at 1;
//! events addressed to one client carry none (`protocol.md` §2.3).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openclaw_protocol::{EventFrame, Frame, Role};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::pairing::has_scope;

/// Past this many queued outbound bytes a client is closed 1008 "slow consumer".
pub const MAX_BUFFERED_BYTES: usize = 50 * 1024 * 1024;

/// What the writer task of a connection sends.
#[derive(Debug)]
pub enum Outgoing {
    /// A text frame.
    Text(String),
    /// A WebSocket ping.
    Ping,
    /// A close frame; the writer stops after it.
    Close(u16, String),
    /// Stop writing and drop the socket without a close frame (an unresponsive peer).
    Terminate,
}

/// The sending half of a connection's writer queue.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Outgoing>,
    queued: Arc<AtomicUsize>,
    seq: Arc<AtomicU64>,
    closed: Arc<AtomicBool>,
}

impl Outbox {
    /// A new outbox and the receiver its writer task drains (with the shared byte counter).
    pub fn new() -> (Outbox, mpsc::UnboundedReceiver<Outgoing>, Arc<AtomicUsize>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let outbox = Outbox {
            tx,
            queued: queued.clone(),
            seq: Arc::new(AtomicU64::new(0)),
            closed: Arc::new(AtomicBool::new(false)),
        };
        (outbox, rx, queued)
    }

    /// Queues a frame; a client that stopped reading is closed instead of growing the queue.
    pub fn send_frame(&self, frame: &Frame) {
        self.send_text(frame.to_text());
    }

    fn send_text(&self, text: String) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        let n = text.len();
        if self.queued.fetch_add(n, Ordering::Relaxed) + n > MAX_BUFFERED_BYTES {
            self.close(1008, "slow consumer");
            return;
        }
        let _ = self.tx.send(Outgoing::Text(text));
    }

    /// An event addressed to this client alone (no `seq`).
    pub fn send_event(&self, event: &str, payload: Value) {
        self.send_frame(&Frame::Event(EventFrame::new(event, payload)));
    }

    /// A broadcast event (numbered with this connection's `seq`).
    pub fn send_broadcast(&self, event: &str, payload: Value) {
        let mut e = EventFrame::new(event, payload);
        e.seq = Some(self.seq.fetch_add(1, Ordering::Relaxed) + 1);
        self.send_frame(&Frame::Event(e));
    }

    /// Asks the writer for a ping.
    pub fn ping(&self) {
        let _ = self.tx.send(Outgoing::Ping);
    }

    /// Closes the connection with `code` and `reason` (once).
    pub fn close(&self, code: u16, reason: &str) {
        if !self.closed.swap(true, Ordering::Relaxed) {
            let _ = self.tx.send(Outgoing::Close(code, reason.to_string()));
        }
    }

    /// Drops the connection without a close handshake (once).
    pub fn terminate(&self) {
        if !self.closed.swap(true, Ordering::Relaxed) {
            let _ = self.tx.send(Outgoing::Terminate);
        }
    }

    /// Whether a close was requested.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed) || self.tx.is_closed()
    }
}

/// What the gateway knows about a connected node beyond its pairing records.
#[derive(Debug, Clone)]
pub struct NodeSession {
    /// The name the node reports (a rename on its record wins in `node.list`).
    pub display_name: Option<String>,
    /// `linux`, …
    pub platform: String,
    /// The node host's version.
    pub version: String,
    /// `Linux`, …
    pub device_family: Option<String>,
    /// Hardware model, when reported.
    pub model_identifier: Option<String>,
    /// `node-host`, …
    pub client_id: String,
    /// `node`, …
    pub client_mode: String,
    /// Declared capabilities.
    pub caps: Vec<String>,
    /// Every command the node declared, allowlisted or not.
    pub declared_commands: Vec<String>,
    /// Declared, allowlisted and approved: what the gateway routes.
    pub commands: Vec<String>,
    /// The node's `PATH`, when reported.
    pub path_env: Option<String>,
    /// When this session connected.
    pub connected_at_ms: i64,
    /// The last `node.host.stats` event.
    pub host_stats: Option<Value>,
}

/// One authenticated connection.
#[derive(Debug, Clone)]
pub struct Client {
    /// The connection id.
    pub conn_id: String,
    /// The admitted role.
    pub role: Role,
    /// The paired device (a node's id).
    pub device_id: Option<String>,
    /// Granted operator scopes.
    pub scopes: Vec<String>,
    /// The client's address, `None` for loopback (as upstream reports it).
    pub remote_ip: Option<String>,
    /// Where frames to this client go.
    pub outbox: Outbox,
    /// For nodes: what the node declared.
    pub node: Option<NodeSession>,
    /// Whether this client presents plugin approval prompts (upstream's `canDeliverApprovals`
    /// for `plugin`: the Control UI or TUI client id, or the `approvals` / `plugin-approvals`
    /// cap). Only such clients count as someone who can answer a plugin prompt.
    pub plugin_approver: bool,
}

/// Client ids that present every approval kind, or plugin approvals (upstream's
/// `ALL_APPROVAL_CLIENT_IDS` and `PLUGIN_APPROVAL_CLIENT_IDS`).
const PLUGIN_APPROVER_IDS: &[&str] = &["openclaw-control-ui", "openclaw-tui"];

/// Whether a client with this `client.id` and `caps` presents plugin approval prompts.
pub fn presents_plugin_approvals(client_id: &str, caps: &[String]) -> bool {
    PLUGIN_APPROVER_IDS.contains(&client_id) || caps.iter().any(|c| c == "approvals" || c == "plugin-approvals")
}

/// How an invoke ended, as the node reported it (or as the gateway decided).
#[derive(Debug)]
pub enum InvokeOutcome {
    /// `ok:true` with the payload (`payloadJSON` parsed, or `payload`).
    Ok {
        /// The result (`payloadJSON` parsed, or `payload`).
        payload: Value,
        /// The node's text, verbatim.
        payload_json: Option<String>,
    },
    /// `ok:false` with the node's error.
    NodeError {
        /// The node's error code (`UNAVAILABLE` when it gave none).
        code: String,
        /// The node's message.
        message: String,
    },
    /// The node disconnected before answering.
    Disconnected,
}

struct PendingInvoke {
    node_id: String,
    /// The node connection the request went out on; `None` once that connection dropped and
    /// the invoke waits (for [`ORPHAN_GRACE`] at most) for the node to come back and re-send.
    node_conn: Option<String>,
    /// When the node connection dropped, for [`Registry::expire_orphans`].
    orphaned_at: Option<Instant>,
    caller_conn: Option<String>,
    reply: oneshot::Sender<InvokeOutcome>,
}

/// How long an invoke waits for its node to reconnect and send its result again when the
/// gateway dropped the node for silence (a dead or half-open link). Our node host keeps results
/// the gateway has not acknowledged and re-sends them after a reconnect, so a link that died
/// while results were queued loses nothing; the window covers the node noticing the dead link
/// (two tick intervals) and coming back. Upstream fails such invokes at once, and a node that
/// never re-sends (the TypeScript host) costs its callers at most [`RECONNECT_SETTLE`] once it
/// is back.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(60);

/// The same wait when the connection ended some other way without a goodbye (the socket closed
/// or failed, a tick-timeout close): the node is reachable and, if alive, reconnects at once;
/// if it crashed, its callers should not wait a minute to hear it.
pub const ORPHAN_GRACE_SHORT: Duration = Duration::from_secs(10);

/// After a node reconnects, how long the results it re-sends have to arrive before its
/// remaining orphaned invokes end as [`InvokeOutcome::Disconnected`]. Re-sent results are the
/// first thing a reconnected node sends, so this is generous.
pub const RECONNECT_SETTLE: Duration = Duration::from_secs(5);

/// Every connection and in-flight invoke.
#[derive(Default)]
pub struct Registry {
    clients: HashMap<String, Client>,
    /// deviceId → connId of its live node connection.
    nodes: HashMap<String, String>,
    /// connIds of operators (broadcast targets; a handful among thousands of nodes).
    operators: std::collections::HashSet<String>,
    invokes: HashMap<String, PendingInvoke>,
    /// Bumped whenever the set of connected clients changes.
    pub presence_version: u64,
}

impl Registry {
    /// Adds a client. A node replaces an older connection of the same device, which is closed.
    pub fn add(&mut self, client: Client) {
        if let (Some(device), Some(_)) = (&client.device_id, &client.node) {
            if let Some(old) = self.nodes.insert(device.clone(), client.conn_id.clone()) {
                if let Some(c) = self.clients.get(&old) {
                    c.outbox.close(1000, "replaced by a newer connection");
                }
            }
        }
        if client.role == Role::Operator {
            self.operators.insert(client.conn_id.clone());
        }
        self.clients.insert(client.conn_id.clone(), client);
        self.presence_version += 1;
    }

    /// Removes a client. In-flight invokes to it become orphans that wait for the node to come
    /// back and re-send its results (see [`ORPHAN_GRACE`]; the caller schedules
    /// [`Registry::expire_orphans`]); invokes it started are cancelled on their nodes. Returns
    /// the removed client.
    pub fn remove(&mut self, conn_id: &str) -> Option<Client> {
        let client = self.clients.remove(conn_id)?;
        self.operators.remove(conn_id);
        if let Some(device) = &client.device_id {
            if self.nodes.get(device).map(String::as_str) == Some(conn_id) {
                self.nodes.remove(device);
            }
        }
        let now = Instant::now();
        for p in self.invokes.values_mut().filter(|p| p.node_conn.as_deref() == Some(conn_id)) {
            p.node_conn = None;
            p.orphaned_at = Some(now);
        }
        let started_here: Vec<String> = self
            .invokes
            .iter()
            .filter(|(_, p)| p.caller_conn.as_deref() == Some(conn_id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in started_here {
            let p = self.invokes.remove(&id).expect("listed above");
            self.send_cancel(&id, &p.node_id, p.node_conn.as_deref());
        }
        self.presence_version += 1;
        Some(client)
    }

    /// Ends the orphaned invokes of `node_id` that were orphaned at or before `cutoff` and
    /// are still unanswered, as [`InvokeOutcome::Disconnected`]. Returns how many.
    pub fn expire_orphans(&mut self, node_id: &str, cutoff: Instant) -> usize {
        let ids: Vec<String> = self
            .invokes
            .iter()
            .filter(|(_, p)| p.node_id == node_id && p.orphaned_at.is_some_and(|at| at <= cutoff))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            let p = self.invokes.remove(id).expect("listed above");
            let _ = p.reply.send(InvokeOutcome::Disconnected);
        }
        ids.len()
    }

    /// Whether `node_id` has invokes waiting for it to come back.
    pub fn has_orphans(&self, node_id: &str) -> bool {
        self.invokes.values().any(|p| p.node_id == node_id && p.orphaned_at.is_some())
    }

    fn send_cancel(&self, invoke_id: &str, node_id: &str, node_conn: Option<&str>) {
        if let Some(node) = node_conn.and_then(|c| self.clients.get(c)) {
            node.outbox.send_event("node.invoke.cancel", json!({"invokeId": invoke_id, "nodeId": node_id}));
        }
    }

    /// A client by connection id.
    pub fn client(&self, conn_id: &str) -> Option<&Client> {
        self.clients.get(conn_id)
    }

    /// The live connection of a node.
    pub fn node(&self, node_id: &str) -> Option<&Client> {
        self.nodes.get(node_id).and_then(|c| self.clients.get(c))
    }

    /// The live connection of a node, mutably (surface updates after approval).
    pub fn node_mut(&mut self, node_id: &str) -> Option<&mut Client> {
        let conn = self.nodes.get(node_id)?;
        self.clients.get_mut(conn)
    }

    /// Every connected node.
    pub fn nodes(&self) -> impl Iterator<Item = &Client> {
        self.nodes.values().filter_map(|c| self.clients.get(c))
    }

    /// Every connection (nodes and operators).
    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.clients.values()
    }

    /// Every operator connection.
    pub fn operators(&self) -> impl Iterator<Item = &Client> {
        self.operators.iter().filter_map(|id| self.clients.get(id))
    }

    /// `snapshot.presence`: one entry per connection.
    pub fn presence(&self) -> Vec<Value> {
        self.clients()
            .map(|c| {
                let mut e = json!({"mode": c.role, "roles": [c.role], "ts": openclaw_state::now_ms()});
                if let Some(d) = &c.device_id {
                    e["deviceId"] = json!(d);
                }
                if let Some(n) = &c.node {
                    e["host"] = json!(n.display_name);
                    e["platform"] = json!(n.platform);
                    e["version"] = json!(n.version);
                }
                if let Some(ip) = &c.remote_ip {
                    e["ip"] = json!(ip);
                }
                e
            })
            .collect()
    }

    /// Number of connections.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether nothing is connected.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Closes the connections of a device with `code`/`reason`: those of `role` only, or all
    /// of them (`None`, the device was removed). Its token was rotated or revoked, or its
    /// pairing removed, so what those sockets authenticated with no longer holds.
    pub fn close_device(&self, device_id: &str, role: Option<Role>, code: u16, reason: &str) {
        let matches = |c: &&Client| c.device_id.as_deref() == Some(device_id) && role.is_none_or(|r| c.role == r);
        for c in self.clients.values().filter(matches) {
            c.outbox.close(code, reason);
        }
    }

    /// Sends a broadcast event to operators holding `scope` (every operator when `None`).
    pub fn broadcast_operators(&self, event: &str, payload: &Value, scope: Option<&str>) {
        for c in self.operators.iter().filter_map(|id| self.clients.get(id)) {
            if scope.is_none_or(|s| has_scope(&c.scopes, s)) {
                c.outbox.send_broadcast(event, payload.clone());
            }
        }
    }

    /// Tells the operators who handle pairing (`operator.pairing`).
    pub fn notify_pairing(&self, notice: &crate::pairing::PairingNotice) {
        self.broadcast_operators(notice.event, &notice.payload, Some(crate::pairing::SCOPE_PAIRING));
    }

    /// Sends a broadcast event to every connection.
    pub fn broadcast_all(&self, event: &str, payload: &Value) {
        for c in self.clients.values() {
            c.outbox.send_broadcast(event, payload.clone());
        }
    }

    /// Registers an invoke and sends `node.invoke.request` to the node.
    pub fn start_invoke(
        &mut self,
        invoke_id: &str,
        node_id: &str,
        caller_conn: Option<&str>,
        request: Value,
    ) -> Option<oneshot::Receiver<InvokeOutcome>> {
        let node_conn = self.nodes.get(node_id)?.clone();
        let (tx, rx) = oneshot::channel();
        self.invokes.insert(
            invoke_id.to_string(),
            PendingInvoke {
                node_id: node_id.to_string(),
                node_conn: Some(node_conn.clone()),
                orphaned_at: None,
                caller_conn: caller_conn.map(String::from),
                reply: tx,
            },
        );
        self.clients.get(&node_conn)?.outbox.send_event("node.invoke.request", request);
        Some(rx)
    }

    /// Gives up on an invoke (deadline passed) and tells the node to cancel it.
    pub fn abandon_invoke(&mut self, invoke_id: &str) {
        if let Some(p) = self.invokes.remove(invoke_id) {
            self.send_cancel(invoke_id, &p.node_id, p.node_conn.as_deref());
        }
    }

    /// Delivers a node's `node.invoke.result`, from whichever connection of that node it
    /// comes (a result re-sent after a reconnect completes its orphaned invoke). `false` when
    /// the invoke is unknown or belongs to another node (the result is then ignored).
    pub fn finish_invoke(&mut self, invoke_id: &str, from_node: &str, outcome: InvokeOutcome) -> bool {
        match self.invokes.get(invoke_id) {
            Some(p) if p.node_id == from_node => {
                let p = self.invokes.remove(invoke_id).expect("present");
                let _ = p.reply.send(outcome);
                true
            }
            _ => false,
        }
    }
}

/// Records when a node was last seen and why (`node.list`'s `lastSeenAtMs`/`lastSeenReason`).
pub fn touch_node_seen(shared: &crate::Shared, node_id: &str, reason: &str) {
    let now = openclaw_state::now_ms();
    if let Err(e) = shared.pairing().touch_node(node_id, reason, now) {
        tracing::warn!("could not record last-seen of node {node_id}: {e}");
    }
}
