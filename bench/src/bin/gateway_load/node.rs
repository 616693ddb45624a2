//! One simulated node: its own identity, a signed v3 `connect`, then serving `system.which`
//! until told to stop. The counters all node tasks share live here too, because only the node
//! tasks write them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use openclaw_protocol::connect::{
    ClientInfo, ConnectAuth, ConnectParams, DeviceProof, CLIENT_ID_NODE_HOST, MODE_NODE, ROLE_NODE,
};
use openclaw_protocol::device_auth::{DeviceAuthPayload, DeviceIdentity};
use openclaw_protocol::node::{
    ConnectChallenge, InvokeRequest, InvokeResult, EVENT_CONNECT_CHALLENGE, EVENT_INVOKE_REQUEST, EVENT_PAIR_RESOLVED,
    METHOD_INVOKE_RESULT,
};
use openclaw_protocol::{Frame, RequestFrame, COMPAT_VERSION, PROTOCOL_VERSION};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::gate::{ws_config, Gate, Phase, Ws};

/// Commands our node host advertises; a simulated node only ever answers `system.which`.
pub(crate) const COMMANDS: &[&str] =
    &["system.execApprovals.get", "system.execApprovals.set", "system.run", "system.run.prepare", "system.which"];
/// Per-attempt budget for TCP + upgrade + challenge + hello.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Counters shared by all node tasks.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) connected: AtomicUsize,
    pub(crate) connect_retries: AtomicUsize,
    pub(crate) resolved: AtomicUsize,
    pub(crate) served: AtomicUsize,
    pub(crate) result_errors: AtomicUsize,
    pub(crate) dropped: AtomicUsize,
    /// Text bytes nodes received (handshake included), and the largest single message.
    pub(crate) rx_bytes: AtomicUsize,
    pub(crate) rx_max: AtomicUsize,
    pub(crate) drop_reasons: Mutex<Vec<String>>,
}

impl Stats {
    fn count_rx(&self, len: usize) {
        self.rx_bytes.fetch_add(len, Ordering::Relaxed);
        self.rx_max.fetch_max(len, Ordering::Relaxed);
    }
}

/// What every node task needs to dial.
pub(crate) struct NodeCfg {
    pub(crate) addr: String,
    pub(crate) url: String,
    pub(crate) token: String,
    pub(crate) attempts: u32,
}

/// Just enough of a frame to route it without building the (possibly large) payload.
#[derive(Deserialize)]
pub(crate) struct Envelope {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) ok: Option<bool>,
    #[serde(default)]
    pub(crate) error: Option<Value>,
}

pub(crate) fn connect_params(
    identity: &DeviceIdentity,
    device_id: &str,
    index: usize,
    token: &str,
    ch: &ConnectChallenge,
) -> ConnectParams {
    let auth = ConnectAuth { token: Some(token.to_string()), ..Default::default() };
    let client = ClientInfo {
        id: CLIENT_ID_NODE_HOST.into(),
        display_name: Some(format!("load-{index}")),
        version: COMPAT_VERSION.into(),
        build_id: None,
        platform: "linux".into(),
        device_family: Some("Linux".into()),
        model_identifier: None,
        time_zone: None,
        mode: MODE_NODE.into(),
        instance_id: Some(device_id.to_string()),
    };
    let payload = DeviceAuthPayload {
        device_id,
        client_id: &client.id,
        client_mode: &client.mode,
        role: ROLE_NODE,
        scopes: &[],
        signed_at_ms: ch.ts,
        token: auth.signature_token(),
        nonce: &ch.nonce,
        platform: Some(&client.platform),
        device_family: client.device_family.as_deref(),
    };
    let signature = identity.sign(&payload.to_v3_string());
    ConnectParams {
        min_protocol: PROTOCOL_VERSION,
        max_protocol: PROTOCOL_VERSION,
        client,
        caps: Some(vec!["system".into()]),
        commands: Some(COMMANDS.iter().map(|c| c.to_string()).collect()),
        computer_use: None,
        worker_runs: None,
        permissions: None,
        path_env: None,
        role: Some(ROLE_NODE.into()),
        scopes: Some(Vec::new()),
        model_catalog: None,
        device: Some(DeviceProof {
            id: device_id.to_string(),
            public_key: identity.public_key_b64url(),
            signature,
            signed_at: ch.ts,
            nonce: ch.nonce.clone(),
        }),
        auth: Some(auth),
        locale: None,
        user_agent: None,
    }
}

pub(crate) async fn next_text(ws: &mut Ws, stats: &Stats) -> Result<Utf8Bytes, String> {
    loop {
        match ws.next().await {
            None => return Err("connection closed".into()),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(Message::Text(t))) => {
                stats.count_rx(t.len());
                return Ok(t);
            }
            Some(Ok(Message::Close(c))) => {
                return Err(c.map(|c| format!("closed {} {}", u16::from(c.code), c.reason)).unwrap_or("closed".into()))
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Dial, answer the challenge with a signed `connect`, and wait for hello-ok.
pub(crate) async fn handshake(
    cfg: &NodeCfg,
    stats: &Stats,
    identity: &DeviceIdentity,
    device_id: &str,
    index: usize,
) -> Result<Ws, String> {
    let tcp = TcpStream::connect(&cfg.addr).await.map_err(|e| format!("tcp connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let gate = Gate { tcp: Some(tcp), pending: Vec::new(), pos: 0, phase: Phase::Http(0) };
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(cfg.url.as_str(), gate, Some(ws_config()))
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    let challenge = loop {
        let text = next_text(&mut ws, stats).await?;
        if let Ok(Frame::Event(e)) = Frame::parse(text.as_str()) {
            if e.event == EVENT_CONNECT_CHALLENGE {
                break serde_json::from_value::<ConnectChallenge>(e.payload.unwrap_or(Value::Null))
                    .map_err(|e| format!("bad connect.challenge: {e}"))?;
            }
        }
    };
    let params = connect_params(identity, device_id, index, &cfg.token, &challenge);
    let req = Frame::Req(RequestFrame::new("c1", "connect", serde_json::to_value(&params).expect("serialises")));
    ws.send(Message::text(req.to_text())).await.map_err(|e| format!("send connect: {e}"))?;
    loop {
        let text = next_text(&mut ws, stats).await?;
        let Ok(env) = serde_json::from_str::<Envelope>(text.as_str()) else { continue };
        if env.kind != "res" || env.id.as_deref() != Some("c1") {
            continue;
        }
        if env.ok != Some(true) {
            return Err(format!("connect refused: {}", env.error.unwrap_or(Value::Null)));
        }
        drop(text);
        // hello-ok was the last byte tungstenite saw: move the stream to a fresh, small WebSocket.
        let g = ws.get_mut();
        let gate = Gate { tcp: g.tcp.take(), pending: std::mem::take(&mut g.pending), pos: g.pos, phase: Phase::Open };
        drop(ws);
        return Ok(WebSocketStream::from_raw_socket(gate, Role::Client, Some(ws_config())).await);
    }
}

/// One simulated node: connect (bounded by `sem`), report, then serve until told to stop.
pub(crate) async fn node_task(
    index: usize,
    cfg: Arc<NodeCfg>,
    sem: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<Result<String, String>>,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
) {
    let identity = DeviceIdentity::generate();
    let device_id = identity.device_id();
    let permit = sem.acquire_owned().await.expect("semaphore open");
    let mut attempt = 0;
    let ws = loop {
        attempt += 1;
        let err = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&cfg, &stats, &identity, &device_id, index))
            .await
        {
            Ok(Ok(ws)) => break ws,
            Ok(Err(e)) => e,
            Err(_) => format!("handshake timed out after {} s", HANDSHAKE_TIMEOUT.as_secs()),
        };
        // A refusal that is not marked retryable (bad token, bad signature) will not change.
        let final_refusal = err.starts_with("connect refused") && !err.contains("\"retryable\":true");
        if attempt >= cfg.attempts || final_refusal {
            let _ = ready.send(Err(format!("node {index}: {err} (after {attempt} attempts)")));
            return;
        }
        stats.connect_retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(250 * attempt as u64)).await;
    };
    drop(permit);
    stats.connected.fetch_add(1, Ordering::Relaxed);
    let _ = ready.send(Ok(device_id));
    drop(ready);
    serve(ws, &stats, stop).await;
}

pub(crate) async fn serve(mut ws: Ws, stats: &Stats, mut stop: watch::Receiver<bool>) {
    let mut next_id: u64 = 0;
    loop {
        tokio::select! {
            msg = ws.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(c))) => {
                        let reason = c.map(|c| format!("close {} {}", u16::from(c.code), c.reason)).unwrap_or("close".into());
                        return dropped(stats, &stop, reason);
                    }
                    None => return dropped(stats, &stop, "eof".into()),
                    Some(Err(e)) => return dropped(stats, &stop, e.to_string()),
                    Some(Ok(_)) => continue,
                };
                stats.count_rx(text.len());
                let s = text.as_str();
                if !(s.contains(EVENT_INVOKE_REQUEST) || s.contains(EVENT_PAIR_RESOLVED) || s.contains("\"res\"")) {
                    continue; // tick, health, …
                }
                match Frame::parse(s) {
                    Ok(Frame::Event(e)) if e.event == EVENT_INVOKE_REQUEST => {
                        let Ok(req) = serde_json::from_value::<InvokeRequest>(e.payload.unwrap_or(Value::Null)) else {
                            continue;
                        };
                        let result = InvokeResult::success(&req.id, &req.node_id, &json!({"bins": {}}));
                        next_id += 1;
                        let frame = Frame::Req(RequestFrame::new(
                            format!("r{next_id}"),
                            METHOD_INVOKE_RESULT,
                            serde_json::to_value(&result).expect("serialises"),
                        ));
                        if let Err(e) = ws.send(Message::text(frame.to_text())).await {
                            return dropped(stats, &stop, format!("send: {e}"));
                        }
                        stats.served.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Frame::Event(e)) if e.event == EVENT_PAIR_RESOLVED => {
                        stats.resolved.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Frame::Res(r)) if !r.ok => {
                        stats.result_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
            _ = stop.changed() => {
                let _ = ws.close(None).await;
                // Let the gateway's close reply arrive so both sides shut down cleanly.
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
                return;
            }
        }
    }
}

pub(crate) fn dropped(stats: &Stats, stop: &watch::Receiver<bool>, reason: String) {
    if *stop.borrow() {
        return;
    }
    stats.dropped.fetch_add(1, Ordering::Relaxed);
    let mut reasons = stats.drop_reasons.lock().expect("reasons lock");
    if reasons.len() < 5 {
        reasons.push(reason);
    }
}
