//! TLS to the real Gateway's self-signed certificate: the right pin connects, a wrong pin
//! and an unpinned (CA-validated) connection refuse, loudly, before sending anything.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

#[test]
fn pinned_tls_connects_and_wrong_pin_refuses() {
    if !peer_available() {
        return;
    }
    let gw = PeerGateway::start("tls", &["--tls"]);
    let pin = gw.tls_fingerprint();
    assert_eq!(pin.len(), 64, "fingerprint file: {pin}");
    let tmp = tempfile::tempdir().unwrap();
    let port = gw.port.to_string();
    let token = [("OPENCLAW_GATEWAY_TOKEN", gw.token.as_str())];

    // Wrong pin: never connects, says why, keeps refusing.
    let wrong_pin = pin.chars().rev().collect::<String>();
    let mut wrong =
        OurNode::spawn(&tmp.path().join("wrong"), &["--port", &port, "--tls-fingerprint", &wrong_pin], &token);
    wrong.wait_for_log("gateway tls fingerprint mismatch", 2, Duration::from_secs(30));
    assert!(!wrong.log_text().contains("gateway connected"), "{}", wrong.log_text());
    drop(wrong);

    // No pin: the self-signed certificate fails normal validation.
    let mut unpinned = OurNode::spawn(&tmp.path().join("unpinned"), &["--port", &port, "--tls"], &token);
    unpinned.wait_for_log("TLS handshake with wss://127.0.0.1", 1, Duration::from_secs(30));
    assert!(!unpinned.log_text().contains("gateway connected"), "{}", unpinned.log_text());
    drop(unpinned);

    // The right pin, in the colon-separated upper-case form users copy from browsers.
    let colon_pin: String =
        pin.to_uppercase().as_bytes().chunks(2).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(":");
    let state = tmp.path().join("pinned");
    let mut node =
        OurNode::spawn(&state, &["--port", &port, "--tls-fingerprint", &format!("sha256:{colon_pin}")], &token);
    node.wait_for_log(&format!("node host gateway connected: wss://127.0.0.1:{port}"), 1, Duration::from_secs(30));
    let device_id = our_identity(&state)["deviceId"].as_str().unwrap().to_string();
    gw.approve_node_surface(&device_id);
    let res = gw.invoke(&device_id, "system.which", json!({"bins": ["sh"]}));
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(node.stop(), Some(143));

    // The pin is persisted normalised, so a plain restart keeps using it.
    let mut again = OurNode::spawn(&state, &[], &token);
    again.wait_for_log(&format!("node host gateway connected: wss://127.0.0.1:{port}"), 1, Duration::from_secs(30));
    assert_eq!(again.stop(), Some(143));
}
