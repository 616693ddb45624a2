//! One-step onboarding of our node by the real Gateway (`onboarding.md`), with local
//! auto-approval off so nothing is approved silently: a join URL from `openclaw devices
//! join-code` onboards our node with `openclaw connect`, and the same payload as a setup code
//! onboards it with `node run --pair`; either way it serves `system.which` without any
//! `devices approve` or `nodes approve`. Reused, expired and malformed codes are refused with
//! upstream's texts, and the bootstrap token never reaches our log.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use support::*;

/// A real Gateway on `port` whose join URLs point at itself (`publicUrl`), auto-approval off.
fn gateway_with_join_urls(name: &str, tls: bool) -> PeerGateway {
    let port = free_port();
    let scheme = if tls { "wss" } else { "ws" };
    let public_url = format!("{scheme}://127.0.0.1:{port}");
    let config = json!({"plugins": {"entries": {"device-pair": {"config": {"publicUrl": public_url}}}}});
    // gateway.sh reads PEER_EXTRA_CONFIG when it writes the gateway's config (nextest runs each
    // test in its own process, so the variable is this test's alone).
    std::env::set_var("PEER_EXTRA_CONFIG", config.to_string());
    let port = port.to_string();
    let flags: &[&str] =
        if tls { &["--no-local-auto-approve", "--tls", &port] } else { &["--no-local-auto-approve", &port] };
    let gw = PeerGateway::start(name, flags);
    std::env::remove_var("PEER_EXTRA_CONFIG");
    gw
}

/// `openclaw devices join-code --json` of the real CLI: the single-use join URL.
fn join_url(gw: &PeerGateway) -> String {
    let out = gw.cli_json(&["devices", "join-code", "--json"]);
    out["joinUrl"].as_str().unwrap_or_else(|| panic!("no joinUrl: {out}")).to_string()
}

/// A plain `GET` of a loopback http URL: status and body.
fn http_get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(authority).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    // A chunked body is one chunk here: drop the size lines.
    let body = if body.starts_with('{') { body } else { body.lines().nth(1).unwrap_or_default().to_string() };
    (status, body)
}

/// Our node's device id once it has one.
fn device_id(state: &Path) -> String {
    our_identity(state)["deviceId"].as_str().expect("deviceId").to_string()
}

/// `system.which` through the gateway, with no approval of anything.
fn serves_without_approval(gw: &PeerGateway, node_id: &str) {
    let res = wait_for_value(Duration::from_secs(20), "system.which answered", || {
        let res = gw.invoke(node_id, "system.which", json!({"bins": ["sh"]}));
        (res["ok"] == true).then_some(res)
    });
    assert_eq!(res["ok"], true, "{res}");
    let devices = gw.cli_json(&["devices", "list", "--json"]);
    assert!(devices["pending"].as_array().unwrap().is_empty(), "nothing waits for an operator: {devices}");
    let nodes = gw.cli_json(&["nodes", "pending", "--json"]);
    assert!(nodes.as_array().is_none_or(|p| p.is_empty()), "no surface request either: {nodes}");
}

#[test]
fn a_join_url_from_the_real_gateway_onboards_our_node_in_one_step() {
    if !peer_available() {
        return;
    }
    let gw = gateway_with_join_urls("onboard-join", false);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("node");
    let url = join_url(&gw);

    let mut node = OurNode::connect(&state, &[&url, "--display-name", "rs-onboarded"]);
    node.wait_for_log("node host gateway connected:", 1, Duration::from_secs(40));
    let id = device_id(&state);
    serves_without_approval(&gw, &id);
    let listed = gw.call("node.list", json!({}));
    let ours = listed["nodes"].as_array().unwrap().iter().find(|n| n["nodeId"] == id.as_str()).cloned();
    assert_eq!(ours.as_ref().map(|n| n["displayName"].clone()), Some(json!("rs-onboarded")), "{listed}");
    assert_eq!(node.stop(), Some(143));

    // The device token replaced the setup code: a plain `node run` on the same state connects.
    let mut again = OurNode::spawn(&state, &[], &[]);
    again.wait_for_log("node host gateway connected:", 1, Duration::from_secs(30));
    serves_without_approval(&gw, &id);
    assert_eq!(again.stop(), Some(143));

    // Single use: the spent URL answers 404 and `connect` says what upstream says.
    assert_eq!(http_get(&url).0, 404);
    let mut reused = OurNode::connect(&dir.path().join("other"), &[&url]);
    assert_eq!(reused.wait_exit(Duration::from_secs(30)), Some(1));
    assert!(reused.log_text().contains("Gateway join code was not found or has expired."), "{}", reused.log_text());
}

#[test]
fn a_setup_code_pairs_with_node_run_pair_and_bad_codes_are_refused() {
    if !peer_available() {
        return;
    }
    let gw = gateway_with_join_urls("onboard-pair", false);
    let dir = tempfile::tempdir().unwrap();
    // The join URL's body is a setup payload; as base64url it is a setup code.
    let (status, body) = http_get(&join_url(&gw));
    assert_eq!(status, 200, "{body}");
    let payload: Value = serde_json::from_str(&body).unwrap();
    let token = payload["bootstrapToken"].as_str().unwrap().to_string();
    let code = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());

    let state = dir.path().join("paired");
    let mut node = OurNode::spawn(&state, &["--pair", &format!("oc-pair://{code}")], &[]);
    node.wait_for_log("node host gateway connected:", 1, Duration::from_secs(40));
    serves_without_approval(&gw, &device_id(&state));
    assert_eq!(node.stop(), Some(143));
    assert!(!node.log_text().contains(&token), "the bootstrap token is never logged");

    // Reused: the gateway refuses it as upstream words it, and the node exits 1.
    let mut reused = OurNode::spawn(&dir.path().join("reused"), &["--pair", &code], &[]);
    assert_eq!(reused.wait_exit(Duration::from_secs(40)), Some(1));
    let log = reused.log_text();
    assert!(log.contains("setup code invalid, expired, revoked, or already used"), "{log}");
    assert!(log.contains("detail=AUTH_BOOTSTRAP_TOKEN_INVALID"), "{log}");
    assert!(!log.contains(&token), "the bootstrap token is never logged:\n{log}");

    // A code whose first URL is dead: the node moves on to the next one before any `connect`
    // was sent, and keeps the one that answered as its gateway.
    let (_, body) = http_get(&join_url(&gw));
    let mut second: Value = serde_json::from_str(&body).unwrap();
    let dead = free_port();
    let live = second["url"].clone();
    second["url"] = json!(format!("ws://127.0.0.1:{dead}"));
    second["urls"] = json!([second["url"], live]);
    let code2 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(second.to_string());
    let moved = dir.path().join("moved");
    let mut node = OurNode::spawn(&moved, &["--pair", &code2], &[]);
    node.wait_for_log("node host gateway connected:", 1, Duration::from_secs(40));
    assert!(node.log_text().contains("trying the setup code's next URL"), "{}", node.log_text());
    assert_eq!(node.stop(), Some(143));
    let mut plain = OurNode::spawn(&moved, &[], &[]);
    plain.wait_for_log(&format!("node host gateway connected: {}", live.as_str().unwrap()), 1, Duration::from_secs(30));
    assert_eq!(plain.stop(), Some(143));

    // Refused before dialling: expired and malformed codes.
    let mut expired = payload.clone();
    expired["expiresAtMs"] = json!(1000);
    let expired = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(expired.to_string());
    for (code, message) in [
        (expired.as_str(), "Pairing setup code has expired."),
        ("not a code", "Invalid pairing setup code or URL."),
        ("e30", "Invalid pairing setup payload."),
    ] {
        let mut refused = OurNode::spawn(&dir.path().join("refused"), &["--pair", code], &[]);
        assert_eq!(refused.wait_exit(Duration::from_secs(20)), Some(1), "{code}");
        assert!(refused.log_text().contains(message), "{code}: {}", refused.log_text());
    }
}

#[test]
fn a_setup_code_with_a_wrong_pin_never_reaches_the_gateway() {
    if !peer_available() {
        return;
    }
    let gw = gateway_with_join_urls("onboard-pin", true);
    // The setup code `devices join-code` is made from (`device.pair.setupCode`), for wss://.
    let setup =
        gw.call("device.pair.setupCode", json!({"bootstrapProfile": "node", "includeQr": false, "joinUrl": true}));
    let code = setup["setupCode"].as_str().unwrap_or_else(|| panic!("no setupCode: {setup}"));
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: Value = serde_json::from_slice(&b64.decode(code).unwrap()).unwrap();
    let token = payload["bootstrapToken"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();

    // Pinned to another certificate: the TLS handshake fails before any byte of `connect`.
    payload["tlsFingerprint"] = json!("00".repeat(32));
    let wrong = b64.encode(payload.to_string());
    let mut node = OurNode::spawn(&dir.path().join("pinned"), &["--pair", &wrong], &[]);
    node.wait_for_log("gateway tls fingerprint mismatch", 1, Duration::from_secs(30));
    assert_eq!(node.stop(), Some(143));
    let devices = gw.cli_json(&["devices", "list", "--json"]);
    assert!(devices["paired"].as_array().unwrap().is_empty(), "nothing paired: {devices}");
    assert!(devices["pending"].as_array().unwrap().is_empty(), "no pairing request: {devices}");

    // The same token with the gateway's real pin: unspent, it pairs the node in one step.
    payload["tlsFingerprint"] = json!(gw.tls_fingerprint());
    let right = b64.encode(payload.to_string());
    let state = dir.path().join("right");
    let mut node = OurNode::spawn(&state, &["--pair", &right], &[]);
    node.wait_for_log("node host gateway connected: wss://", 1, Duration::from_secs(40));
    serves_without_approval(&gw, &device_id(&state));
    assert_eq!(node.stop(), Some(143));
    assert!(!node.log_text().contains(&token), "the bootstrap token is never logged");
}
