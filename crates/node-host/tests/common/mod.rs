//! A scripted gateway on 127.0.0.1 for the node host's integration tests: accepts the node's
//! connection, checks its signed `connect`, and lets a test send and read frames.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use openclaw_node_host::endpoint::EndpointFlags;
use openclaw_node_host::invoke::{CommandFuture, InvokeContext, NodeCommand};
use openclaw_node_host::{prepare, NodeExit, NodeRunOptions};
use openclaw_protocol::device_auth::{decode_public_key, verify_signature, DeviceAuthPayload};
use openclaw_protocol::ConnectParams;
use openclaw_state::StatePaths;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// A command that runs until cancelled (or 30 s), to test concurrency and cancellation.
pub struct Sleeper;

impl NodeCommand for Sleeper {
    fn name(&self) -> &'static str {
        "test.sleep"
    }
    fn cap(&self) -> &'static str {
        "test"
    }
    fn run(&self, mut ctx: InvokeContext, _params: Value) -> CommandFuture {
        Box::pin(async move {
            tokio::select! {
                _ = ctx.cancel.wait_for(|c| *c) => Err(openclaw_protocol::node::InvokeError::unavailable("cancelled")),
                _ = tokio::time::sleep(Duration::from_secs(30)) => Ok(json!({"slept": true})),
            }
        })
    }
}

pub struct Harness {
    pub listener: TcpListener,
    pub shutdown: watch::Sender<Option<i32>>,
    pub node: tokio::task::JoinHandle<NodeExit>,
    pub _state: tempfile::TempDir,
}

pub async fn start_node() -> Harness {
    start_node_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), &[]).await
}

/// [`start_node`] dialling `listener`, with extra environment entries (`OPENCLAW_NODE_…`).
pub async fn start_node_on(listener: TcpListener, extra_env: &'static [(&'static str, &'static str)]) -> Harness {
    let port = listener.local_addr().unwrap().port();
    let state = tempfile::tempdir().unwrap();
    let paths = StatePaths { state_dir: state.path().join("oc"), config_path: state.path().join("oc/openclaw.json") };
    let opts = NodeRunOptions {
        endpoint: EndpointFlags { port: Some(port.to_string()), ..Default::default() },
        display_name: Some("scripted".into()),
        ..Default::default()
    };
    let env = |k: &str| {
        if k == "OPENCLAW_GATEWAY_TOKEN" {
            return Some("shared-secret".to_string());
        }
        extra_env.iter().find(|(key, _)| *key == k).map(|(_, v)| v.to_string())
    };
    let mut host = prepare(&paths, &opts, &env).unwrap();
    let mut registry = (*host.registry).clone();
    registry.register(Arc::new(Sleeper));
    host.registry = Arc::new(registry);
    let (shutdown, rx) = watch::channel(None);
    let node = tokio::spawn(host.run(rx));
    Harness { listener, shutdown, node, _state: state }
}

pub async fn accept(listener: &TcpListener) -> Ws {
    let (tcp, _) = tokio::time::timeout(Duration::from_secs(40), listener.accept()).await.expect("node dials").unwrap();
    tokio_tungstenite::accept_async(tcp).await.unwrap()
}

pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// Next text frame as JSON (skipping pings), or None on close/timeout.
pub async fn recv(ws: &mut Ws, timeout: Duration) -> Option<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let msg = tokio::time::timeout_at(deadline.into(), ws.next()).await.ok()??.ok()?;
        match msg {
            Message::Text(t) => return Some(serde_json::from_str(&t).unwrap()),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// Challenge, check the signed connect, answer; returns the connect params.
pub async fn handshake(ws: &mut Ws, reply: impl FnOnce(&str) -> Value) -> ConnectParams {
    let nonce = uuid::Uuid::new_v4().to_string();
    let ts = 1_795_000_000_000u64;
    send(ws, json!({"type":"event","event":"connect.challenge","payload":{"nonce":nonce,"ts":ts}})).await;
    let req = recv(ws, Duration::from_secs(10)).await.expect("connect");
    assert_eq!(req["method"], "connect");
    let params: ConnectParams = serde_json::from_value(req["params"].clone()).expect("strict connect schema");
    params.client.validate().expect("client enums");
    let device = params.device.clone().expect("device proof");
    assert_eq!((device.nonce.as_str(), device.signed_at), (nonce.as_str(), ts));
    let key = decode_public_key(&device.public_key).unwrap();
    let auth = params.auth.clone().unwrap_or_default();
    let payload = DeviceAuthPayload {
        device_id: &device.id,
        client_id: &params.client.id,
        client_mode: &params.client.mode,
        role: params.role.as_deref().unwrap(),
        scopes: params.scopes.as_deref().unwrap(),
        signed_at_ms: device.signed_at,
        token: auth.signature_token(),
        nonce: &device.nonce,
        platform: Some(&params.client.platform),
        device_family: params.client.device_family.as_deref(),
    };
    assert!(verify_signature(&key, &payload.to_v3_string(), &device.signature), "v3 signature verifies");
    send(ws, reply(req["id"].as_str().unwrap())).await;
    params
}

pub fn hello(id: &str, tick_ms: u64) -> Value {
    json!({"type":"res","id":id,"ok":true,"payload":{
        "type":"hello-ok","protocol":4,"server":{"version":"test","connId":"c"},
        "features":{"methods":[],"events":[]},"snapshot":{},
        "auth":{"method":"token","role":"node","scopes":[],"deviceToken":"dev-token-1","issuedAtMs":1},
        "policy":{"maxPayload":26214400,"maxBufferedBytes":52428800,"tickIntervalMs":tick_ms}}})
}

pub fn invoke(id: &str, command: &str, params_json: Value) -> Value {
    json!({"type":"event","event":"node.invoke.request","payload":{"id":id,"nodeId":"n","command":command,"paramsJSON":params_json,"timeoutMs":30000}})
}

/// Collects `node.invoke.result` params by invoke id until `n` arrived.
pub async fn results(ws: &mut Ws, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let frame =
            recv(ws, Duration::from_secs(10)).await.unwrap_or_else(|| panic!("only {} of {n} results", out.len()));
        if frame["method"] == "node.invoke.result" {
            out.push(frame["params"].clone());
        }
    }
    out
}
