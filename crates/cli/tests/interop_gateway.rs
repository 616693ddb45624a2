//! Our node host against the real Gateway (npm openclaw 2026.9.6) on loopback, with silent
//! local pairing (the default): connect, serve `system.which`, refuse a wrong token, and
//! reconnect by itself after the gateway restarts.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

#[test]
fn serves_real_gateway_and_survives_its_restart() {
    if !peer_available() {
        return;
    }
    let gw = PeerGateway::start("default", &[]);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("node-state");
    let port = gw.port.to_string();
    let mut node = OurNode::spawn(
        &state,
        &["--host", "127.0.0.1", "--port", &port, "--display-name", "rs-interop"],
        &[("OPENCLAW_GATEWAY_TOKEN", &gw.token)],
    );
    node.wait_for_log("node host gateway connected:", 1, Duration::from_secs(30));
    let device_id = our_identity(&state)["deviceId"].as_str().unwrap().to_string();

    // The command surface must be approved once (node.pair.approve), live, without reconnecting.
    gw.approve_node_surface(&device_id);
    node.wait_for_log("command surface approved", 1, Duration::from_secs(30));

    let res = gw.invoke(&device_id, "system.which", json!({"bins": ["sh", "definitely-not-here-xyz"]}));
    assert_eq!(res["ok"], true, "{res}");
    assert!(res["payload"]["bins"]["sh"].as_str().unwrap().ends_with("/sh"), "{res}");
    assert!(res["payload"]["bins"].get("definitely-not-here-xyz").is_none(), "{res}");

    // A described node reports what we advertised.
    let described = gw.cli_json(&["nodes", "describe", "--node", &device_id, "--json"]);
    let text = described.to_string();
    assert!(text.contains("system.which") && text.contains("rs-interop"), "{text}");

    // The gateway goes away and comes back on the same port: we reconnect without help.
    gw.restart_in_place();
    node.wait_for_log("node host gateway connected:", 2, Duration::from_secs(90));
    let log = node.log_text();
    assert!(log.contains("node host gateway closed (1012)"), "expected the service-restart close:\n{log}");
    assert!(log.contains("reconnect in"), "{log}");
    // Right after a reconnect the real Gateway may still answer "node pairing state unavailable
    // before dispatch" (not dispatched; its own race, protocol.md §6.2): retry briefly.
    let res = wait_for_value(Duration::from_secs(20), "system.which after the restart", || {
        let res = gw.invoke(&device_id, "system.which", json!({"bins": ["sh"]}));
        let transient = res["error"]["details"]["nodeCommandDispatched"] == false;
        (!transient).then_some(res)
    });
    assert_eq!(res["ok"], true, "serves again after the restart: {res}");

    assert_eq!(node.stop(), Some(143), "SIGTERM exits 143");
    assert!(!node.log_text().contains(&gw.token), "the shared token must never be logged");

    // A wrong shared token on a fresh identity is terminal: exit 1 with the detail code.
    let fresh = tmp.path().join("fresh-state");
    let mut wrong = OurNode::spawn(&fresh, &["--port", &port], &[("OPENCLAW_GATEWAY_TOKEN", "not-the-token")]);
    assert_eq!(wrong.wait_exit(Duration::from_secs(30)), Some(1));
    let log = wrong.log_text();
    assert!(log.contains("detail=AUTH_TOKEN_MISMATCH") && log.contains("exiting for supervisor restart"), "{log}");
    assert!(!log.contains("not-the-token"), "the token must not be logged:\n{log}");
}
