//! Keepalive, stalls and closes: a silent node is dropped one pong timeout after the ping it
//! did not answer; a gateway that was itself stopped does not blame its nodes for it and
//! delivers the results they sent meanwhile; results in flight when the server closes a node
//! still reach the operator; an oversized frame after login is closed 1009.
//!
//! The keepalive runs on short configured intervals (the logic is the same at 25 s). The stall
//! is real: the gateway runs on a runtime of its own thread, and a task blocks that thread, as
//! SIGSTOP would stop the process.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{approved_node, close_of, operator, start, Peer};
use futures_util::{SinkExt, StreamExt};
use openclaw_gateway::{AuthMode, Gateway, GatewayConfig};
use openclaw_protocol::device_auth::DeviceIdentity;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// A gateway on its own single-threaded runtime, which [`Isolated::stall`] can freeze.
struct Isolated {
    addr: SocketAddr,
    handle: tokio::runtime::Handle,
    _dir: tempfile::TempDir,
}

impl Isolated {
    fn start(tune: impl FnOnce(&mut GatewayConfig) + Send + 'static) -> Isolated {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let mut config = GatewayConfig::new(state, AuthMode::Token(common::TOKEN.into()));
                config.listen = "127.0.0.1:0".parse().unwrap();
                tune(&mut config);
                let gateway = Gateway::bind(config).await.unwrap();
                let (_stop, stop_rx) = tokio::sync::watch::channel(false);
                tx.send((gateway.local_addr(), tokio::runtime::Handle::current())).unwrap();
                gateway.run(stop_rx).await;
            });
        });
        let (addr, handle) = rx.recv().unwrap();
        Isolated { addr, handle, _dir: dir }
    }

    /// Freezes the gateway's runtime for `d`; returns once the freeze has begun.
    fn stall(&self, d: Duration) {
        let (tx, rx) = std::sync::mpsc::channel();
        self.handle.spawn(async move {
            tx.send(()).unwrap();
            std::thread::sleep(d);
        });
        rx.recv().unwrap();
    }
}

/// Whether `node.list` shows the node connected.
async fn connected(admin: &mut Peer, node_id: &str) -> bool {
    let list = admin.ok("node.list", json!({})).await;
    list["nodes"].as_array().unwrap().iter().any(|n| n["nodeId"] == node_id && n["connected"] == true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_node_is_dropped_one_pong_timeout_after_the_ping() {
    let interval = Duration::from_millis(1500);
    let gw = start(|c| {
        c.ping_interval = interval;
        c.pong_timeout = interval;
    })
    .await;
    let mut admin = operator(gw.addr, &["operator.admin"]).await;
    let id = DeviceIdentity::generate();
    let node_id = id.device_id();
    // The node never reads again, so it never answers a ping: as good as dead.
    let node = approved_node(gw.addr, &mut admin, &id, &["system.which"]).await;
    let since = Instant::now();
    while connected(&mut admin, &node_id).await {
        assert!(since.elapsed() < Duration::from_secs(20), "the silent node was never dropped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = since.elapsed();
    eprintln!("silent node dropped after {took:?} (ping every {interval:?}, pong due {interval:?} after it)");
    // Ping at 1.5 s, pong due at 3 s; the old check waited for the next ping tick (4.5 s).
    assert!(took >= interval, "dropped before its ping was due: {took:?}");
    assert!(took < interval * 2 + Duration::from_millis(1000), "dropped late: {took:?}");
    drop(node);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_talking_node_is_not_dropped_for_a_late_pong() {
    let interval = Duration::from_millis(400);
    let gw = start(|c| {
        c.ping_interval = interval;
        c.pong_timeout = interval;
    })
    .await;
    let mut admin = operator(gw.addr, &["operator.admin"]).await;
    let id = DeviceIdentity::generate();
    let node_id = id.device_id();
    let mut node = approved_node(gw.addr, &mut admin, &id, &["system.which"]).await;
    // The node sends frames but never reads (so never pongs) for 5 intervals.
    for i in 0..20 {
        let frame = json!({"type": "req", "id": format!("e{i}"), "method": "node.event",
                           "params": {"event": "heartbeat", "payloadJSON": "{}"}});
        node.ws.send(Message::text(frame.to_string())).await.unwrap();
        tokio::time::sleep(interval / 4).await;
    }
    // (The first operator read nothing meanwhile and was rightly dropped; ask with a new one.)
    drop(admin);
    let mut admin = operator(gw.addr, &["operator.read"]).await;
    assert!(connected(&mut admin, &node_id).await, "a node that keeps talking was dropped");
    gw.shutdown().await;
}

/// An approved node on `gw` with five `system.which` invokes sent to it; returns the operator,
/// the node, the node's id, the operator's call ids and the node's requests.
async fn five_invokes(addr: SocketAddr) -> (Peer, Peer, String, Vec<String>, Vec<Value>) {
    let id = DeviceIdentity::generate();
    let (admin, node, calls, requests) = invokes_to_a_node(addr, &id, 5).await;
    (admin, node, id.device_id(), calls, requests)
}

fn result_frame(request: &Value, node_id: &str) -> Message {
    let result = json!({"type": "req", "id": format!("r-{}", request["id"].as_str().unwrap()),
                        "method": "node.invoke.result",
                        "params": {"id": request["id"], "nodeId": node_id, "ok": true, "payloadJSON": "{\"bins\":{}}"}});
    Message::text(result.to_string())
}

/// As in the probe: the gateway is stopped long enough for the node's tick watchdog to give
/// up, so the node's results are followed by its close, all waiting in the gateway's socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_sent_while_the_gateway_was_stopped_are_delivered() {
    let interval = Duration::from_millis(300);
    let gw = Isolated::start(move |c| {
        c.ping_interval = interval;
        c.pong_timeout = interval;
    });
    let (mut admin, mut node, node_id, calls, requests) = five_invokes(gw.addr).await;
    gw.stall(interval * 10);
    for r in &requests {
        node.ws.send(result_frame(r, &node_id)).await.unwrap();
    }
    node.ws.close(None).await.unwrap();
    for res in admin.responses(&calls).await {
        assert_eq!(res["ok"], true, "a result the node sent during the stall was lost: {res}");
        assert_eq!(res["payload"]["payload"], json!({"bins": {}}));
    }
}

/// The gateway is stopped right after a ping: every keepalive timer fires late, and the node
/// (whose pong could not be read during the stall) is pinged afresh, not dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_gateway_does_not_blame_its_nodes() {
    let interval = Duration::from_millis(300);
    let gw = Isolated::start(move |c| {
        c.ping_interval = interval;
        c.pong_timeout = interval;
    });
    let (mut admin, mut node, node_id, calls, requests) = five_invokes(gw.addr).await;
    // Wait for a ping to the node (the operator keeps reading meanwhile, so it stays alive;
    // nothing but pings and ticks can reach it before the results).
    let wait = async {
        loop {
            tokio::select! {
                m = node.ws.next() => match m {
                    Some(Ok(Message::Ping(_))) => break,
                    Some(Ok(_)) => {}
                    other => panic!("node closed before a ping: {other:?}"),
                },
                m = admin.ws.next() => assert!(matches!(m, Some(Ok(_))), "operator closed: {m:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait).await.expect("a ping in time");
    // The pong is queued in the node's socket but goes out only with its next write, after
    // the stall.
    gw.stall(interval * 10);
    for r in &requests {
        node.ws.send(result_frame(r, &node_id)).await.unwrap();
    }
    // The node keeps answering pings from here on, in the background.
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = node.ws.next().await {} });
    for res in admin.responses(&calls).await {
        assert_eq!(res["ok"], true, "a result was lost after the stall: {res}");
    }
    assert!(connected(&mut admin, &node_id).await, "the node was dropped for the gateway's own stall");
    reader.abort();
}

/// The invoke's own deadline passes while the gateway is stopped; the result the node sent
/// meanwhile still wins over a `TIMEOUT` (which would invite a retry that runs it twice):
/// after a stall the runtime hands out socket readiness before expired timers, and the result
/// is handled on the reader, so it is delivered before the deadline is looked at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoke_deadline_that_passed_during_a_stall_yields_to_the_result() {
    let gw = Isolated::start(|_| {});
    let mut admin = operator(gw.addr, &["operator.admin"]).await;
    let id = DeviceIdentity::generate();
    let node_id = id.device_id();
    let mut node = approved_node(gw.addr, &mut admin, &id, &["system.which"]).await;
    let params = json!({"nodeId": node_id, "command": "system.which", "idempotencyKey": "k", "timeoutMs": 1_000});
    let call = admin.start("node.invoke", params).await;
    let request = node.event("node.invoke.request").await;
    gw.stall(Duration::from_secs(4));
    node.ws.send(result_frame(&request, &node_id)).await.unwrap();
    let res = admin.response(&call).await;
    assert_eq!(res["ok"], true, "the result sent during the stall lost to the late deadline: {res}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_in_flight_when_the_server_closes_a_node_are_delivered() {
    let gw = start(|_| {}).await;
    let mut admin = operator(gw.addr, &["operator.admin"]).await;
    let id = DeviceIdentity::generate();
    let node_id = id.device_id();
    let mut node = approved_node(gw.addr, &mut admin, &id, &["system.which"]).await;
    let call =
        admin.start("node.invoke", json!({"nodeId": node_id, "command": "system.which", "idempotencyKey": "k"})).await;
    let request = node.event("node.invoke.request").await;
    // Eleven refused calls make the server close the node; the result follows right behind.
    for i in 0..11 {
        let refused = json!({"type": "req", "id": format!("x{i}"), "method": "node.list", "params": {}});
        node.ws.send(Message::text(refused.to_string())).await.unwrap();
    }
    let result = json!({"type": "req", "id": "r", "method": "node.invoke.result",
                        "params": {"id": request["id"], "nodeId": node_id, "ok": true, "payloadJSON": "{\"bins\":{}}"}});
    node.ws.send(Message::text(result.to_string())).await.unwrap();
    assert_eq!(close_of(&mut node.ws).await, (1008, "repeated unauthorized calls".into()));
    let res = admin.response(&call).await;
    assert_eq!(res["ok"], true, "the result sent before the node saw the close was lost: {res}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_gone_mid_invoke_reports_an_unknown_outcome_as_upstream() {
    let gw = start(|_| {}).await;
    let mut admin = operator(gw.addr, &["operator.admin"]).await;
    let id = DeviceIdentity::generate();
    let node_id = id.device_id();
    let mut node = approved_node(gw.addr, &mut admin, &id, &["system.which"]).await;
    let call =
        admin.start("node.invoke", json!({"nodeId": node_id, "command": "system.which", "idempotencyKey": "k"})).await;
    node.event("node.invoke.request").await;
    node.ws.close(None).await.unwrap();
    let res = admin.response(&call).await;
    let expected: Value = json!({"code": "UNAVAILABLE", "message": "DISCONNECTED: node disconnected (system.which)",
        "details": {"nodeError": {"code": "DISCONNECTED", "message": "node disconnected (system.which)"},
                    "nodeCommandDispatched": true}});
    common::assert_json(&res["error"], expected);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_after_login_is_closed_1009() {
    let gw = start(|_| {}).await;
    let admin = operator(gw.addr, &["operator.admin"]).await;
    let big = "x".repeat(openclaw_gateway::server::MAX_PAYLOAD + 1);
    // Send from a task of its own: the gateway stops reading at the frame header.
    let (mut sink, mut stream) = admin.ws.split();
    let writer = tokio::spawn(async move {
        let _ = sink.send(Message::text(big)).await;
    });
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.next()).await.expect("close in time") {
            Some(Ok(Message::Close(Some(c)))) => break (u16::from(c.code), c.reason.to_string()),
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    // As upstream (the `ws` library closes 1009 with no reason).
    assert_eq!(close, (1009, String::new()));
    writer.abort();
    gw.shutdown().await;
}

/// Waits (10 s at most) until `node.list` no longer shows the node connected.
async fn until_disconnected(admin: &mut Peer, node_id: &str) {
    let since = Instant::now();
    while connected(admin, node_id).await {
        assert!(since.elapsed() < Duration::from_secs(10), "the gateway never noticed the node was gone");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A node with identity `id` and `system.which` approved, with `n` invokes sent to it; returns
/// the operator, the node, the operator's call ids and the node's requests.
async fn invokes_to_a_node(addr: SocketAddr, id: &DeviceIdentity, n: usize) -> (Peer, Peer, Vec<String>, Vec<Value>) {
    let mut admin = operator(addr, &["operator.admin"]).await;
    let mut node = approved_node(addr, &mut admin, id, &["system.which"]).await;
    let mut calls = Vec::new();
    for i in 0..n {
        let params = json!({"nodeId": id.device_id(), "command": "system.which", "params": {"bins": ["sh"]},
                            "idempotencyKey": format!("k{i}"), "timeoutMs": 60_000});
        calls.push(admin.start("node.invoke", params).await);
    }
    let mut requests = Vec::new();
    for _ in 0..n {
        requests.push(node.event("node.invoke.request").await);
    }
    (admin, node, calls, requests)
}

/// Our node host keeps results the gateway has not acknowledged and sends them again after a
/// reconnect. When its link dies without a close (here: the socket just ends), the invokes wait
/// for it, and what it sends on its new connection reaches the callers. Upstream fails them at
/// once, so a caller who retries runs the command twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_re_sent_after_a_reconnect_reach_their_callers() {
    let gw = start(|_| {}).await;
    let id = DeviceIdentity::generate();
    let node_id = id.device_id();
    let (mut admin, node, calls, requests) = invokes_to_a_node(gw.addr, &id, 3).await;
    drop(node);
    until_disconnected(&mut admin, &node_id).await;
    let mut again = common::node_with(gw.addr, &id, &["system.which"]).await;
    for request in &requests {
        again.ws.send(result_frame(request, &node_id)).await.unwrap();
    }
    for res in admin.responses(&calls).await {
        assert_eq!(res["ok"], true, "a re-sent result was lost: {res}");
    }
    gw.shutdown().await;
}

/// A node that comes back without re-sending (the TypeScript host, or one that was restarted
/// and lost its results) keeps its callers waiting only briefly after it is back, and they
/// hear upstream's "outcome unknown" error; a node that says goodbye with a close frame gets
/// that error at once (a_node_gone_mid_invoke_reports_an_unknown_outcome_as_upstream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_back_without_its_results_releases_its_callers_soon() {
    let gw = start(|_| {}).await;
    let id = DeviceIdentity::generate();
    let node_id = id.device_id();
    let (mut admin, node, calls, _requests) = invokes_to_a_node(gw.addr, &id, 2).await;
    drop(node);
    until_disconnected(&mut admin, &node_id).await;
    let _again = common::node_with(gw.addr, &id, &["system.which"]).await;
    let back = Instant::now();
    for res in admin.responses(&calls).await {
        assert_eq!(res["error"]["message"], "DISCONNECTED: node disconnected (system.which)", "{res}");
    }
    let waited = back.elapsed();
    assert!(
        waited >= openclaw_gateway::registry::RECONNECT_SETTLE - Duration::from_millis(500)
            && waited < openclaw_gateway::registry::RECONNECT_SETTLE + Duration::from_secs(5),
        "callers were released {waited:?} after the node came back"
    );
    gw.shutdown().await;
}
