//! The in-process gateway harness shared by the integration tests: start a gateway on a
//! loopback port, open sockets, speak `connect` as a node or an operator, and make calls.
//!
//! Tests talk to the gateway over a real WebSocket (not by calling handlers) so that they see
//! exactly the bytes a peer sees: the role and scope gates, the method table and the JSON shapes.

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use openclaw_gateway::{AuthMode, Gateway, GatewayConfig};
use openclaw_protocol::device_auth::{DeviceAuthPayload, DeviceIdentity};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The client side of one test connection.
pub type Ws = WebSocketStream<TcpStream>;

/// The shared secret every test gateway is started with.
pub const TOKEN: &str = "hostile-test-token";

/// A gateway running in this process on a loopback port, with its state in a temp dir.
pub struct Running {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// Starts a gateway (token auth, loopback, ephemeral port); `tune` adjusts the config first.
pub async fn start(tune: impl FnOnce(&mut GatewayConfig)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stop, task) = start_in(dir.path(), tune).await;
    Running { addr, stop, task, _dir: dir }
}

/// Starts a gateway on an existing state directory (the same one again: a restart); the
/// caller keeps the directory and stops the gateway with the returned sender.
pub async fn start_in(
    state_dir: &std::path::Path,
    tune: impl FnOnce(&mut GatewayConfig),
) -> (std::net::SocketAddr, tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let mut config = GatewayConfig::new(state_dir.to_path_buf(), AuthMode::Token(TOKEN.into()));
    config.listen = "127.0.0.1:0".parse().unwrap();
    tune(&mut config);
    let gateway = Gateway::bind(config).await.unwrap();
    let addr = gateway.local_addr();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(gateway.run(rx));
    (addr, stop, task)
}

/// A signed `connect` for `identity` as `role` (a node host or the CLI) with `scopes` and
/// exactly the `auth` object given (shared token, device token, or both).
pub fn device_connect(identity: &DeviceIdentity, challenge: &Value, role: &str, scopes: &[&str], auth: Value) -> Value {
    let (nonce, ts) = (challenge["nonce"].as_str().unwrap(), challenge["ts"].as_u64().unwrap());
    let (client_id, mode) = if role == "node" { ("node-host", "node") } else { ("cli", "cli") };
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    let signing_token = auth["token"].as_str().or(auth["deviceToken"].as_str()).unwrap_or("");
    let device_id = identity.device_id();
    let payload = DeviceAuthPayload {
        device_id: &device_id,
        client_id,
        client_mode: mode,
        role,
        scopes: &scopes,
        signed_at_ms: ts,
        token: signing_token,
        nonce,
        platform: Some("linux"),
        device_family: Some("Linux"),
    };
    json!({"type": "req", "id": "c1", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": client_id, "version": "2026.9.6", "platform": "linux", "deviceFamily": "Linux", "mode": mode},
        "role": role, "scopes": scopes, "commands": if role == "node" { json!(["system.which"]) } else { json!([]) },
        "caps": [], "auth": auth,
        "device": {"id": device_id, "publicKey": identity.public_key_b64url(),
                   "signature": identity.sign(&payload.to_v3_string()), "signedAt": ts, "nonce": nonce},
    }})
}

/// Connects with [`device_connect`]: the admitted peer, or the refusal's `error`.
pub async fn try_device(
    addr: std::net::SocketAddr,
    identity: &DeviceIdentity,
    role: &str,
    scopes: &[&str],
    auth: Value,
) -> Result<Peer, Value> {
    let (mut ws, challenge) = open(addr).await;
    send(&mut ws, device_connect(identity, &challenge, role, scopes, auth)).await;
    let hello = next_json(&mut ws).await.unwrap();
    if hello["ok"] != true {
        return Err(hello["error"].clone());
    }
    Ok(Peer { ws, hello: hello["payload"].clone(), next_id: 0, events: VecDeque::new() })
}

impl Running {
    /// Stops the gateway and waits (bounded) for it to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// Opens a WebSocket and reads the `connect.challenge`; returns the socket and its payload.
pub async fn open(addr: std::net::SocketAddr) -> (Ws, Value) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}"), tcp).await.unwrap();
    let challenge = next_json(&mut ws).await.expect("challenge");
    assert_eq!(challenge["event"], "connect.challenge");
    (ws, challenge["payload"].clone())
}

/// The next text frame as JSON, `None` once the socket closes.
pub async fn next_json(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("frame in time")? {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Reads until the close frame; returns its code and reason.
pub async fn close_of(ws: &mut Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("close in time") {
            Some(Ok(Message::Close(Some(c)))) => return (u16::from(c.code), c.reason.to_string()),
            Some(Ok(Message::Close(None))) => return (1005, String::new()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error before close: {e}"),
            None => return (1006, String::new()),
        }
    }
}

/// Sends one JSON text frame.
pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// A signed node `connect` for `identity` (linux, declares `system.which`, cap `system`).
pub fn node_connect(identity: &DeviceIdentity, challenge: &Value, token: &str) -> Value {
    let (nonce, ts) = (challenge["nonce"].as_str().unwrap(), challenge["ts"].as_u64().unwrap());
    let device_id = identity.device_id();
    let payload = DeviceAuthPayload {
        device_id: &device_id,
        client_id: "node-host",
        client_mode: "node",
        role: "node",
        scopes: &[],
        signed_at_ms: ts,
        token,
        nonce,
        platform: Some("linux"),
        device_family: Some("Linux"),
    };
    json!({"type": "req", "id": "c1", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "node-host", "version": "2026.9.6", "platform": "linux", "deviceFamily": "Linux", "mode": "node"},
        "role": "node", "scopes": [], "commands": ["system.which"], "caps": ["system"],
        "auth": {"token": token},
        "device": {"id": device_id, "publicKey": identity.public_key_b64url(),
                   "signature": identity.sign(&payload.to_v3_string()), "signedAt": ts, "nonce": nonce},
    }})
}

/// An operator `connect` asking for `operator.admin`, with the shared secret and no device.
pub fn operator_connect(client_id: &str, mode: &str, token: &str) -> Value {
    json!({"type": "req", "id": "c1", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": client_id, "version": "1", "platform": "linux", "mode": mode},
        "role": "operator", "scopes": ["operator.admin"], "auth": {"token": token},
    }})
}

/// A working operator session proves the gateway still serves.
pub async fn assert_serving(addr: std::net::SocketAddr) {
    let (mut ws, _) = open(addr).await;
    send(&mut ws, operator_connect("cli", "cli", TOKEN)).await;
    let hello = next_json(&mut ws).await.unwrap();
    assert_eq!(hello["ok"], true, "{hello}");
    send(&mut ws, json!({"type": "req", "id": "h", "method": "health"})).await;
    let health = next_json(&mut ws).await.unwrap();
    assert_eq!(health["payload"]["ok"], true, "{health}");
}

/// An operator `connect` as the local CLI (`cli`/`cli` over loopback with the shared secret,
/// so it keeps exactly the scopes it asks for).
pub fn operator_connect_with(scopes: &[&str]) -> Value {
    let mut c = operator_connect("cli", "cli", TOKEN);
    c["params"]["scopes"] = json!(scopes);
    c
}

/// One admitted connection with a request counter and the events seen while waiting.
pub struct Peer {
    /// The socket.
    pub ws: Ws,
    /// `hello-ok`'s payload.
    pub hello: Value,
    next_id: u64,
    events: VecDeque<Value>,
}

impl Peer {
    /// Sends `method` with `params` and returns the whole response frame; events that arrive
    /// first are kept for [`Peer::event`].
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.start(method, params).await;
        self.response(&id).await
    }

    /// Sends a request without waiting; returns its id for [`Peer::response`].
    pub async fn start(&mut self, method: &str, params: Value) -> String {
        self.next_id += 1;
        let id = format!("t{}", self.next_id);
        send(&mut self.ws, json!({"type": "req", "id": id, "method": method, "params": params})).await;
        id
    }

    /// Waits for the response frame with this id (keeping events).
    pub async fn response(&mut self, id: &str) -> Value {
        loop {
            let f = next_json(&mut self.ws).await.expect("response before close");
            if f["type"] == "res" && f["id"] == id {
                return f;
            }
            if f["type"] == "event" {
                self.events.push_back(f);
            }
        }
    }

    /// The responses to `ids`, in whatever order they arrive: concurrent invokes finish in
    /// any order, and [`Peer::response`] drops responses to other calls. Events are kept.
    pub async fn responses(&mut self, ids: &[String]) -> Vec<Value> {
        let mut got = Vec::new();
        while got.len() < ids.len() {
            let f = next_json(&mut self.ws).await.expect("response before close");
            if f["type"] == "res" && ids.iter().any(|id| f["id"] == id.as_str()) {
                got.push(f);
            } else if f["type"] == "event" {
                self.events.push_back(f);
            }
        }
        got
    }

    /// The payload of the next event named `name` (earlier ones of other names are dropped).
    pub async fn event(&mut self, name: &str) -> Value {
        while let Some(f) = self.events.pop_front() {
            if f["event"] == name {
                return f["payload"].clone();
            }
        }
        loop {
            let f = next_json(&mut self.ws).await.expect("event before close");
            if f["type"] == "event" && f["event"] == name {
                return f["payload"].clone();
            }
        }
    }

    /// Calls and returns the payload, failing the test on an error response.
    pub async fn ok(&mut self, method: &str, params: Value) -> Value {
        let res = self.call(method, params).await;
        assert_eq!(res["ok"], true, "{method}: {res}");
        res["payload"].clone()
    }

    /// Calls and returns the error, failing the test on success.
    pub async fn err(&mut self, method: &str, params: Value) -> Value {
        let res = self.call(method, params).await;
        assert_eq!(res["ok"], false, "{method}: {res}");
        res["error"].clone()
    }
}

/// Connects an operator as the local CLI holding `scopes`.
pub async fn operator(addr: std::net::SocketAddr, scopes: &[&str]) -> Peer {
    let (mut ws, _) = open(addr).await;
    send(&mut ws, operator_connect_with(scopes)).await;
    let hello = next_json(&mut ws).await.unwrap();
    assert_eq!(hello["ok"], true, "{hello}");
    Peer { ws, hello: hello["payload"].clone(), next_id: 0, events: VecDeque::new() }
}

/// Connects an operator that presents plugin approval prompts (`caps: ["plugin-approvals"]`).
pub async fn plugin_approver(addr: std::net::SocketAddr, scopes: &[&str]) -> Peer {
    let (mut ws, _) = open(addr).await;
    let mut connect = operator_connect_with(scopes);
    connect["params"]["caps"] = json!(["plugin-approvals"]);
    send(&mut ws, connect).await;
    let hello = next_json(&mut ws).await.unwrap();
    assert_eq!(hello["ok"], true, "{hello}");
    Peer { ws, hello: hello["payload"].clone(), next_id: 0, events: VecDeque::new() }
}

/// Connects a node (silently paired over loopback); its declared surface is pending until an
/// operator approves it.
pub async fn node(addr: std::net::SocketAddr, identity: &DeviceIdentity) -> Peer {
    node_with(addr, identity, &["system.which"]).await
}

/// Connects a node declaring `commands`.
pub async fn node_with(addr: std::net::SocketAddr, identity: &DeviceIdentity, commands: &[&str]) -> Peer {
    let (mut ws, challenge) = open(addr).await;
    let mut connect = node_connect(identity, &challenge, TOKEN);
    connect["params"]["commands"] = json!(commands);
    send(&mut ws, connect).await;
    let hello = next_json(&mut ws).await.unwrap();
    assert_eq!(hello["ok"], true, "{hello}");
    Peer { ws, hello: hello["payload"].clone(), next_id: 0, events: VecDeque::new() }
}

/// Connects a node declaring `commands` and approves its surface with `admin` (which must
/// hold `operator.admin`), so the commands are routable.
pub async fn approved_node(
    addr: std::net::SocketAddr,
    admin: &mut Peer,
    identity: &DeviceIdentity,
    commands: &[&str],
) -> Peer {
    let node = node_with(addr, identity, commands).await;
    let list = admin.ok("node.pair.list", json!({})).await;
    let pending = list["pending"].as_array().unwrap();
    let request = pending.iter().find(|r| r["nodeId"] == identity.device_id().as_str()).expect("pending surface");
    admin.ok("node.pair.approve", json!({"requestId": request["requestId"]})).await;
    node
}

/// Replaces the values of volatile keys (timestamps, generated ids) anywhere in `v` with a
/// placeholder, so whole results can be compared, key order included.
pub fn scrub(mut v: Value, keys: &[&str]) -> Value {
    fn walk(v: &mut Value, keys: &[&str]) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if keys.contains(&k.as_str()) && !x.is_null() {
                        *x = json!("<scrubbed>");
                    } else {
                        walk(x, keys);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, keys)),
            _ => {}
        }
    }
    walk(&mut v, keys);
    v
}

/// Asserts that `actual` serialises to exactly the text of `expected`: same keys, same order,
/// same values (`Value`'s `==` would ignore key order).
#[track_caller]
pub fn assert_json(actual: &Value, expected: Value) {
    assert_eq!(actual.to_string(), expected.to_string());
}
