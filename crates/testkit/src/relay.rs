//! A scripted gateway on 127.0.0.1 that one node host dials (used by the exec harness and the
//! file-command differential tests): `connect.challenge` → `connect`
//! → `hello-ok` shaped like the real Gateway's (spec/wire-capture.jsonl), then it forwards
//! `node.invoke.request` with the harness's params verbatim and collects the node's
//! `node.invoke.result` and `node.event` frames.
//!
//! Why not the real Gateway: it strips and injects fields (`runId`, approval fields it has not
//! issued itself), so a request it would never forward could not be tested. The relay accepts
//! any signed or unsigned `connect` and issues a device token, which is all a node host needs
//! to serve invokes; it answers the node's own calls (`skills.bins`, `node.event`, the
//! optional publications) with the shapes the real Gateway uses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;

/// Why a relay call failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The loopback listener could not be bound.
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(std::io::Error),
    /// No node is connected (it never dialled, or it dropped and has not come back).
    #[error("no node connected to the relay on port {0}")]
    NotConnected(u16),
    /// The node did not answer an invoke in time.
    #[error("{command} got no node.invoke.result within {secs} s")]
    Timeout {
        /// The command sent.
        command: String,
        /// The bound waited.
        secs: u64,
    },
}

/// What one invoke produced.
#[derive(Clone, Debug)]
pub struct Invoked {
    /// The `node.invoke.result` params (`ok`, `payload` parsed from `payloadJSON`, `error`).
    pub result: Value,
    /// `node.event` frames (`{event, payload}`) whose `runId` matches, in arrival order,
    /// received before the result.
    pub events: Vec<Value>,
}

#[derive(Default)]
struct Shared {
    out: Option<mpsc::UnboundedSender<Message>>,
    node_id: Option<String>,
    pending: HashMap<String, oneshot::Sender<Value>>,
    events: Vec<Value>,
}

/// One relay, for one node.
pub struct Relay {
    port: u16,
    shared: Arc<Mutex<Shared>>,
    connected: watch::Receiver<u64>,
}

impl Relay {
    /// Binds a loopback port and serves whichever node dials it (a reconnecting node replaces
    /// the previous connection). `skill_bins` is the `skills.bins` answer.
    pub async fn start(skill_bins: Vec<String>) -> Result<Relay, RelayError> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(RelayError::Bind)?;
        let port = listener.local_addr().map_err(RelayError::Bind)?.port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (tx, connected) = watch::channel(0u64);
        let tx = Arc::new(tx);
        let s = shared.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (s, tx, bins) = (s.clone(), tx.clone(), skill_bins.clone());
                tokio::spawn(async move {
                    if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                        serve(ws, s, tx, bins).await;
                    }
                });
            }
        });
        Ok(Relay { port, shared, connected })
    }

    /// The port to point the node at.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits until a node has completed the handshake.
    pub async fn wait_connected(&mut self, timeout: Duration) -> Result<(), RelayError> {
        let ok = tokio::time::timeout(timeout, self.connected.wait_for(|n| *n > 0)).await;
        match ok {
            Ok(Ok(_)) => Ok(()),
            _ => Err(RelayError::NotConnected(self.port)),
        }
    }

    /// Sends one `node.invoke.request` with `params` as `paramsJSON` (`null` stays `null`) and
    /// waits for its result.
    pub async fn invoke(&self, command: &str, params: &Value, timeout: Duration) -> Result<Invoked, RelayError> {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        {
            let mut s = self.shared.lock().expect("relay lock");
            let out = s.out.clone().ok_or(RelayError::NotConnected(self.port))?;
            let node_id = s.node_id.clone().unwrap_or_default();
            s.pending.insert(id.clone(), tx);
            let params_json = if params.is_null() { Value::Null } else { json!(params.to_string()) };
            let frame = json!({"type":"event","event":"node.invoke.request","payload":{
                "id": id, "nodeId": node_id, "command": command, "paramsJSON": params_json,
                "timeoutMs": timeout.as_millis() as u64, "idempotencyKey": id}});
            let _ = out.send(Message::text(frame.to_string()));
        }
        let result = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(v)) => v,
            _ => {
                self.shared.lock().expect("relay lock").pending.remove(&id);
                return Err(RelayError::Timeout { command: command.into(), secs: timeout.as_secs() });
            }
        };
        let run_id = params.get("runId").and_then(Value::as_str);
        let mut s = self.shared.lock().expect("relay lock");
        let (mine, rest): (Vec<Value>, Vec<Value>) = std::mem::take(&mut s.events)
            .into_iter()
            .partition(|e| run_id.is_some() && e["payload"]["runId"].as_str() == run_id);
        s.events = rest;
        Ok(Invoked { result, events: mine })
    }
}

/// The hello-ok payload: the real Gateway's shape with an empty method list (a node host only
/// reads `protocol`, `policy` and `auth`).
fn hello_ok(id: &str) -> Value {
    json!({"type":"res","id":id,"ok":true,"payload":{
        "type":"hello-ok","protocol":4,
        "server":{"version":"2026.9.6","connId":uuid::Uuid::new_v4().to_string()},
        "features":{"methods":[],"events":[],"capabilities":[]},
        "snapshot":{"presence":[],"health":{},"stateVersion":{"presence":0,"health":0},"uptimeMs":0},
        "auth":{"method":"token","role":"node","scopes":[],
                "deviceToken":format!("relay-{}", uuid::Uuid::new_v4().simple()),"issuedAtMs":1_795_000_000_000u64},
        "policy":{"maxPayload":26214400,"maxBufferedBytes":52428800,"tickIntervalMs":30000}}})
}

fn text(msg: Message) -> Option<Value> {
    match msg {
        Message::Text(t) => serde_json::from_str(&t).ok(),
        _ => None,
    }
}

async fn serve(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    shared: Arc<Mutex<Shared>>,
    connected: Arc<watch::Sender<u64>>,
    skill_bins: Vec<String>,
) {
    let (mut sink, mut stream) = ws.split();
    let nonce = uuid::Uuid::new_v4().to_string();
    let challenge =
        json!({"type":"event","event":"connect.challenge","payload":{"nonce":nonce,"ts":1_795_000_000_000u64}});
    if sink.send(Message::text(challenge.to_string())).await.is_err() {
        return;
    }
    let connect = loop {
        match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
            Ok(Some(Ok(msg))) => {
                if let Some(v) = text(msg) {
                    break v;
                }
            }
            _ => return,
        }
    };
    if connect["method"] != "connect" {
        return;
    }
    let id = connect["id"].as_str().unwrap_or_default().to_string();
    let node_id = connect["params"]["device"]["id"].as_str().unwrap_or("relay-node").to_string();
    if sink.send(Message::text(hello_ok(&id).to_string())).await.is_err() {
        return;
    }
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Message>();
    {
        let mut s = shared.lock().expect("relay lock");
        s.out = Some(out_tx.clone());
        s.node_id = Some(node_id);
    }
    connected.send_modify(|n| *n += 1);
    // Writer: frames from invokes and replies, plus a tick every 10 s so the node's watchdog
    // (2 × tickIntervalMs) never fires during a long setup.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                m = out_rx.recv() => match m {
                    Some(m) => if sink.send(m).await.is_err() { break },
                    None => break,
                },
                _ = tick.tick() => {
                    let t = json!({"type":"event","event":"tick","payload":{"ts":1}});
                    if sink.send(Message::text(t.to_string())).await.is_err() { break }
                }
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        let Some(frame) = text(msg) else { continue };
        if frame["type"] != "req" {
            continue;
        }
        let method = frame["method"].as_str().unwrap_or_default();
        let params = &frame["params"];
        let reply = match method {
            "node.invoke.result" => {
                let mut result = params.clone();
                if let Some(pj) = params["payloadJSON"].as_str() {
                    result["payload"] = serde_json::from_str(pj).unwrap_or(Value::String(pj.into()));
                }
                if let Some(obj) = result.as_object_mut() {
                    obj.remove("payloadJSON");
                    obj.remove("id");
                    obj.remove("nodeId");
                }
                let id = params["id"].as_str().unwrap_or_default();
                if let Some(tx) = shared.lock().expect("relay lock").pending.remove(id) {
                    let _ = tx.send(result);
                }
                json!({"ok": true})
            }
            "node.event" => {
                let payload = match params["payloadJSON"].as_str() {
                    Some(pj) => serde_json::from_str(pj).unwrap_or(Value::String(pj.into())),
                    None => params["payload"].clone(),
                };
                let event = params["event"].clone();
                if event.as_str().is_some_and(|e| e.starts_with("exec.")) {
                    shared.lock().expect("relay lock").events.push(json!({"event": event, "payload": payload}));
                }
                json!({"ok": true, "event": event, "handled": true})
            }
            "skills.bins" => json!({"bins": skill_bins}),
            _ => json!({"ok": true}),
        };
        let res = json!({"type":"res","id":frame["id"],"ok":true,"payload":reply});
        let _ = out_tx.send(Message::text(res.to_string()));
    }
    let mut s = shared.lock().expect("relay lock");
    if s.out.as_ref().is_some_and(|o| o.same_channel(&out_tx)) {
        s.out = None;
    }
}
