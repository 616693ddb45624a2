//! The relay against a real node host (ours, in-process): the handshake is accepted, invokes
//! round-trip with params verbatim, and `exec.*` events are collected by `runId`. The
//! TypeScript side of the relay is exercised by `scripts/exec-diff` itself.

use std::time::Duration;

use openclaw_exec_diff::relay::Relay;
use openclaw_node_host::endpoint::EndpointFlags;
use openclaw_node_host::{prepare, NodeRunOptions};
use openclaw_state::StatePaths;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_node_host_serves_invokes_through_the_relay() {
    let mut relay = Relay::start(vec!["printf".into()]).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let paths = StatePaths { state_dir: state.path().join("oc"), config_path: state.path().join("oc/openclaw.json") };
    let opts = NodeRunOptions {
        endpoint: EndpointFlags { port: Some(relay.port().to_string()), ..Default::default() },
        display_name: Some("relay-test".into()),
        ..Default::default()
    };
    let env = |k: &str| (k == "OPENCLAW_GATEWAY_TOKEN").then(|| "relay-token".to_string());
    let host = prepare(&paths, &opts, &env).unwrap();
    let (shutdown, rx) = tokio::sync::watch::channel(None);
    let node = tokio::spawn(host.run(rx));
    relay.wait_connected(Duration::from_secs(30)).await.expect("our node completes the relay's handshake");

    let t = Duration::from_secs(20);
    let params = json!({"command": ["echo", "via relay"], "runId": "r-1", "sessionKey": "s"});
    let done = relay.invoke("system.run", &params, t).await.unwrap();
    assert_eq!(done.result["ok"], true, "{:?}", done.result);
    assert_eq!(done.result["payload"]["stdout"], "via relay\n");
    assert_eq!(done.events.len(), 1, "exec.finished collected: {:?}", done.events);
    assert_eq!(done.events[0]["event"], "exec.finished");
    assert_eq!(done.events[0]["payload"]["runId"], "r-1");

    // A field the real Gateway would never forward reaches the node as sent.
    let bad = json!({"command": ["echo", "x"], "approvalSource": "me", "runId": "r-2"});
    let refused = relay.invoke("system.run", &bad, t).await.unwrap();
    assert_eq!(refused.result["ok"], false);
    assert_eq!(refused.result["error"]["code"], "INVALID_REQUEST");
    assert!(refused.events.is_empty(), "no event for a parse refusal");

    // `null` params stay `null` (paramsJSON: null).
    let got = relay.invoke("system.execApprovals.get", &serde_json::Value::Null, t).await.unwrap();
    assert_eq!(got.result["ok"], true, "{:?}", got.result);
    assert!(got.result["payload"]["hash"].is_string());

    shutdown.send(Some(0)).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), node).await;
}
