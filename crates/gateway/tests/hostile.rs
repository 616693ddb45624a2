//! Hostile and careless clients against an in-process gateway: nothing before `connect`,
//! oversized pre-auth frames, wrong secrets, role and scope gates, slow handshakes, and ten
//! thousand garbage connections in a row, after which the gateway still serves, and a flood of
//! pairing requests from one address, of which only the newest few are kept.

mod common;

use std::time::Duration;

use common::{assert_serving, close_of, next_json, node_connect, open, operator_connect, send, start, TOKEN};
use futures_util::SinkExt;
use openclaw_protocol::device_auth::DeviceIdentity;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_but_connect_before_hello() {
    let gw = start(|_| {}).await;
    let (mut ws, _) = open(gw.addr).await;
    send(&mut ws, json!({"type": "req", "id": "1", "method": "node.list", "params": {}})).await;
    let res = next_json(&mut ws).await.unwrap();
    assert_eq!(res["ok"], false);
    assert_eq!(res["error"]["message"], "invalid handshake: first request must be connect");
    assert_eq!(close_of(&mut ws).await.0, 1008);

    // A frame that is JSON but not a request: closed without an answer.
    let (mut ws, _) = open(gw.addr).await;
    send(&mut ws, json!({"type": "event", "event": "x"})).await;
    assert_eq!(close_of(&mut ws).await, (1008, "invalid request frame".into()));

    // Oversized before auth: 1009.
    let (mut ws, _) = open(gw.addr).await;
    ws.send(Message::text("x".repeat(70 * 1024))).await.unwrap();
    assert_eq!(close_of(&mut ws).await, (1009, "preauth payload too large".into()));

    // Schema violations name the field, as upstream.
    let (mut ws, _) = open(gw.addr).await;
    let mut bad = operator_connect("cli", "cli", TOKEN);
    bad["params"]["client"]["bogus"] = json!(1);
    send(&mut ws, bad).await;
    let res = next_json(&mut ws).await.unwrap();
    assert_eq!(res["error"]["message"], "invalid connect params: at /client: unexpected property 'bogus'");

    // Wrong token, then a node without a device identity.
    let (mut ws, challenge) = open(gw.addr).await;
    send(&mut ws, node_connect(&DeviceIdentity::generate(), &challenge, "wrong")).await;
    let res = next_json(&mut ws).await.unwrap();
    assert_eq!(res["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH", "{res}");
    assert_eq!(res["error"]["details"]["recommendedNextStep"], "retry_with_device_token");
    assert!(!res.to_string().contains("wrong"), "the secret is never echoed");
    let (mut ws, _) = open(gw.addr).await;
    let mut no_device = node_connect(&DeviceIdentity::generate(), &json!({"nonce": "n", "ts": 1}), TOKEN);
    no_device["params"].as_object_mut().unwrap().remove("device");
    send(&mut ws, no_device).await;
    let res = next_json(&mut ws).await.unwrap();
    assert_eq!(res["error"]["details"]["code"], "DEVICE_IDENTITY_REQUIRED", "{res}");

    // A forged signature (signed for another nonce).
    let (mut ws, challenge) = open(gw.addr).await;
    let mut forged =
        node_connect(&DeviceIdentity::generate(), &json!({"nonce": "other", "ts": challenge["ts"]}), TOKEN);
    forged["params"]["device"]["nonce"] = challenge["nonce"].clone();
    send(&mut ws, forged).await;
    let res = next_json(&mut ws).await.unwrap();
    assert_eq!(res["error"]["details"]["code"], "DEVICE_AUTH_SIGNATURE_INVALID", "{res}");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_and_scope_gates() {
    let gw = start(|_| {}).await;
    // A node may not call operator methods; eleven refusals in a row close it.
    let (mut node, challenge) = open(gw.addr).await;
    send(&mut node, node_connect(&DeviceIdentity::generate(), &challenge, TOKEN)).await;
    assert_eq!(next_json(&mut node).await.unwrap()["ok"], true);
    for i in 0..11 {
        send(&mut node, json!({"type": "req", "id": format!("r{i}"), "method": "node.list", "params": {}})).await;
        let res = loop {
            let f = next_json(&mut node).await.unwrap();
            if f["type"] == "res" {
                break f;
            }
        };
        assert_eq!(res["error"]["message"], "unauthorized role: node");
    }
    assert_eq!(close_of(&mut node).await, (1008, "repeated unauthorized calls".into()));

    // A shared-secret operator without a device that is not the local CLI keeps no scopes.
    let (mut op, _) = open(gw.addr).await;
    send(&mut op, operator_connect("test", "test", TOKEN)).await;
    let hello = next_json(&mut op).await.unwrap();
    assert_eq!(hello["payload"]["auth"]["scopes"], json!([]), "{hello}");
    send(&mut op, json!({"type": "req", "id": "1", "method": "node.list", "params": {}})).await;
    let res = next_json(&mut op).await.unwrap();
    assert_eq!(res["error"]["code"], "FORBIDDEN");
    assert_eq!(res["error"]["message"], "missing scope: operator.read");
    send(&mut op, json!({"type": "req", "id": "2", "method": "node.invoke.result", "params": {}})).await;
    assert_eq!(next_json(&mut op).await.unwrap()["error"]["message"], "unauthorized role: operator");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_handshakes_and_guessing_are_cut_off() {
    let gw = start(|c| {
        c.handshake_timeout = Duration::from_millis(500);
        c.rate_limit_exempt_loopback = false;
    })
    .await;
    let (mut ws, _) = open(gw.addr).await;
    assert_eq!(close_of(&mut ws).await, (1000, String::new()));
    let mut last = Value::Null;
    for _ in 0..11 {
        let (mut ws, challenge) = open(gw.addr).await;
        send(&mut ws, node_connect(&DeviceIdentity::generate(), &challenge, "guess")).await;
        last = next_json(&mut ws).await.unwrap();
    }
    assert_eq!(last["error"]["details"]["code"], "AUTH_RATE_LIMITED", "{last}");
    // Even the right token is refused during the lockout.
    let (mut ws, challenge) = open(gw.addr).await;
    send(&mut ws, node_connect(&DeviceIdentity::generate(), &challenge, TOKEN)).await;
    let res = next_json(&mut ws).await.unwrap();
    assert_eq!(res["error"]["details"]["code"], "AUTH_RATE_LIMITED", "{res}");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_garbage_connections_leave_it_serving() {
    let gw = start(|_| {}).await;
    for i in 0..10_000u32 {
        let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
        match i % 4 {
            // Not HTTP at all.
            0 => {
                let _ = tcp.write_all(b"\x16\x03\x01garbage\r\n\r\n").await;
            }
            // An HTTP request that is not an upgrade.
            1 => {
                let _ = tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
            }
            // A half-sent upgrade.
            2 => {
                let _ = tcp.write_all(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n").await;
            }
            // Connect and leave at once.
            _ => {}
        }
        drop(tcp);
        if i % 1000 == 999 {
            // A real WebSocket sending junk, now and then.
            let (mut ws, _) = open(gw.addr).await;
            ws.send(Message::text("{not json")).await.unwrap();
            let _ = close_of(&mut ws).await;
        }
    }
    assert_serving(gw.addr).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_pairing_requests_from_one_address_is_capped() {
    let gw = start(|c| c.auto_approve_local = false).await;
    for _ in 0..100 {
        let (mut ws, challenge) = open(gw.addr).await;
        send(&mut ws, node_connect(&DeviceIdentity::generate(), &challenge, TOKEN)).await;
        let res = next_json(&mut ws).await.unwrap();
        assert_eq!(res["error"]["details"]["code"], "PAIRING_REQUIRED", "{res}");
    }
    let mut admin = common::operator(gw.addr, &["operator.admin"]).await;
    let list = admin.ok("device.pair.list", json!({})).await;
    let pending = list["pending"].as_array().unwrap().len();
    assert_eq!(pending, openclaw_gateway::pairing::MAX_PENDING_DEVICE_REQUESTS_PER_ADDRESS, "{pending} pending");
    gw.shutdown().await;
}
