//! Device pairing through the real Gateway with local auto-approval off, and state
//! compatibility with the real TypeScript node host.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

#[test]
fn pairs_without_restart_and_shares_state_with_the_ts_node_host() {
    if !peer_available() {
        return;
    }
    let gw = PeerGateway::start("pairing", &["--no-local-auto-approve"]);
    let ts_name = format!("rs-compat-{}", std::process::id());
    // Our node writes its state where the TS node host will look for it later.
    let ts_home = TsNode::home_for(&gw, &ts_name);
    let _ = std::fs::remove_dir_all(ts_home.parent().unwrap());
    let state = ts_home.join(".openclaw");
    let port = gw.port.to_string();
    let token = [("OPENCLAW_GATEWAY_TOKEN", gw.token.as_str())];
    let mut node = OurNode::spawn(&state, &["--port", &port, "--display-name", "rs-paired"], &token);

    node.wait_for_log("pairing required: requestId=", 1, Duration::from_secs(30));
    let log = node.log_text();
    let request_id = log
        .split("requestId=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .expect("requestId in the log")
        .to_string();
    assert!(log.contains(&format!("openclaw devices approve {request_id}")), "{log}");
    // It keeps the same pending request while it waits (no new request per retry).
    std::thread::sleep(Duration::from_secs(11));
    assert!(node.is_running(), "waits for approval instead of exiting:\n{}", node.log_text());
    assert_eq!(node.log_text().matches("pairing required: requestId=").count(), 1, "{}", node.log_text());
    let pending = gw.cli_json(&["devices", "list", "--json"]);
    let ids: Vec<&str> =
        pending["pending"].as_array().unwrap().iter().filter_map(|p| p["requestId"].as_str()).collect();
    assert_eq!(ids, vec![request_id.as_str()], "{pending}");

    gw.cli(&["devices", "approve", &request_id]);
    node.wait_for_log("node host gateway connected:", 1, Duration::from_secs(40));

    let device_id = our_identity(&state)["deviceId"].as_str().unwrap().to_string();
    gw.approve_node_surface(&device_id);
    let res = gw.invoke(&device_id, "system.which", json!({"bins": ["sh"]}));
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(node.stop(), Some(143));

    // The real TS node host on the same state: same identity, connects without pairing.
    let ts = TsNode::start(&gw, &ts_name, "ts-same-state")
        .unwrap_or_else(|e| panic!("TS node did not connect on our state: {e}"));
    assert_eq!(ts.identity()["deviceId"], device_id.as_str(), "the TS host reads our identity row");
    let devices = gw.cli_json(&["devices", "list", "--json"]);
    assert!(devices["pending"].as_array().unwrap().is_empty(), "no new pairing request: {devices}");
    let paired: Vec<&str> =
        devices["paired"].as_array().unwrap().iter().filter_map(|d| d["deviceId"].as_str()).collect();
    assert_eq!(paired, vec![device_id.as_str()], "{devices}");
    ts.stop();

    // And back: ours reads the database the TS host migrated to its full schema.
    let mut again = OurNode::spawn(&state, &["--port", &port], &token);
    again.wait_for_log("node host gateway connected:", 1, Duration::from_secs(30));
    assert!(!again.log_text().contains("pairing required"), "{}", again.log_text());
    assert_eq!(again.stop(), Some(143));
    let _ = std::fs::remove_dir_all(ts_home.parent().unwrap());
}
