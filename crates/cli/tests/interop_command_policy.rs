//! Differential test of the gateway's node command policy: our node host connects to the real
//! Gateway and to ours, each with the same `gateway.nodes.commands` config; the command surface
//! each gateway puts up for approval, and what `node.invoke` of each command answers before and
//! after approval (the refusal's code, message and details; for an admitted command, whether
//! the node got it), must match.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

/// What a gateway answered to `node.invoke`: the refusal, or `"dispatched"` when the node got
/// the command (its own answer is not the policy's business).
fn invoke_outcome(res: &Value) -> Value {
    let error = &res["error"];
    if res["ok"] != false || error["details"]["nodeCommandDispatched"] == true {
        return json!("dispatched");
    }
    json!({"code": error["code"], "message": error["message"], "details": error["details"]})
}

/// A gateway method call (`method`, `params`) → its answer.
type GatewayCall<'a> = &'a dyn Fn(&str, Value) -> Value;

/// The pending node surface request's commands for `node_id`, sorted.
fn pending_commands(call: GatewayCall<'_>, node_id: &str) -> Option<Vec<String>> {
    let list = call("node.pair.list", json!({}));
    let pending = list["pending"].as_array()?.iter().find(|r| r["nodeId"] == node_id)?.clone();
    let mut commands: Vec<String> =
        pending["commands"].as_array()?.iter().filter_map(|c| c.as_str().map(String::from)).collect();
    commands.sort();
    Some(commands)
}

fn approve_all(call: GatewayCall<'_>, node_id: &str) {
    let list = call("node.pair.list", json!({}));
    for r in list["pending"].as_array().into_iter().flatten().filter(|r| r["nodeId"] == node_id) {
        let approved = call("node.pair.approve", json!({"requestId": r["requestId"]}));
        assert!(approved["node"].is_object() || approved["requestId"].is_string(), "approve: {approved}");
    }
}

/// A `notify-send` stand-in so the node declares `system.notify`.
fn notify_send_dir(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("notify-send"), "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(bin.join("notify-send"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

const COMMANDS: &[&str] = &[
    "system.which",
    "system.run",
    "system.notify",
    "fs.listDir",
    "terminal.upload",
    "file.stat",
    "file.fetch",
    "dir.list",
    "dir.fetch",
    "file.write",
    "camera.snap",
    "camera.list",
    "ollama.models",
    "sms.status",
    "talk.ptt.start",
    "worker.launch.v1",
    " system.which ",
];

#[test]
fn the_command_policy_matches_the_real_gateway() {
    if !peer_available() {
        return;
    }
    let configs = [
        json!({}),
        json!({"allow": ["file.stat", "file.fetch", "dir.list", "dir.fetch", "file.write", "camera.snap"]}),
        json!({"deny": ["system.notify", "system.which", "camera.snap"], "allow": ["camera.snap", "sms.status"]}),
    ];
    let mut compared = 0;
    let mut failures = Vec::new();
    for (i, commands) in configs.iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let path = notify_send_dir(tmp.path());
        let config = json!({"gateway": {"nodes": {"commands": commands}}});
        // The real Gateway reads PEER_EXTRA_CONFIG when it starts; ours its openclaw.json.
        std::env::set_var("PEER_EXTRA_CONFIG", config.to_string());
        let theirs = PeerGateway::start(&format!("policy{i}"), &["--no-local-auto-approve"]);
        std::env::remove_var("PEER_EXTRA_CONFIG");
        let ours_dir = tmp.path().join("gw");
        std::fs::create_dir_all(&ours_dir).unwrap();
        std::fs::write(ours_dir.join("openclaw.json"), config.to_string()).unwrap();
        let ours = OurGateway::start(&ours_dir, &["--no-local-auto-approve"]);

        // The same node host (one state dir each, so each gateway pairs its own device).
        let mut nodes = Vec::new();
        for (name, port, token) in
            [("theirs", theirs.port, theirs.token.clone()), ("ours", ours.port, ours.token.clone())]
        {
            let state = tmp.path().join(format!("node-{name}"));
            let port = port.to_string();
            let mut node = OurNode::spawn(
                &state,
                &["--port", &port, "--display-name", &format!("policy-{name}")],
                &[("OPENCLAW_GATEWAY_TOKEN", &token), ("PATH", &path)],
            );
            node.wait_for_log("openclaw devices approve", 1, Duration::from_secs(30));
            nodes.push((node, our_identity(&state)["deviceId"].as_str().unwrap().to_string()));
        }
        let their_call = |m: &str, p: Value| theirs.call(m, p);
        let our_call = |m: &str, p: Value| operator_call(&ours.url(), None, &ours.token, m, p);
        let calls: [(GatewayCall<'_>, &str); 2] = [(&their_call, &nodes[0].1), (&our_call, &nodes[1].1)];
        // Device pairing first (no local auto-approval), then the surface request appears.
        for (call, node_id) in calls {
            let device = wait_for_value(Duration::from_secs(30), "device pairing request", || {
                let list = call("device.pair.list", json!({}));
                list["pending"].as_array()?.iter().find(|r| r["deviceId"] == *node_id).cloned()
            });
            call("device.pair.approve", json!({"requestId": device["requestId"]}));
        }
        let surfaces: Vec<Vec<String>> = calls
            .iter()
            .map(|(call, node_id)| {
                wait_for_value(Duration::from_secs(40), "node surface request", || pending_commands(*call, node_id))
            })
            .collect();
        compared += 1;
        if surfaces[0] != surfaces[1] {
            failures
                .push(format!("config {commands}: surface\n  theirs: {:?}\n  ours:   {:?}", surfaces[0], surfaces[1]));
        }
        // Only after approval: right after the surface request appears the real Gateway answers
        // `UNAVAILABLE PAIRING_CHANGED` while its node session settles, a transient state.
        for (call, node_id) in calls {
            approve_all(call, node_id);
        }
        std::thread::sleep(Duration::from_millis(500));
        for phase in ["after approval"] {
            // File commands also with a path (the file-transfer policy's own answers).
            let with_path = COMMANDS
                .iter()
                .filter(|c| c.starts_with("file.") || c.starts_with("dir."))
                .map(|c| (*c, json!({"path": "/tmp/x/../y"})))
                .chain(COMMANDS.iter().filter(|c| c.starts_with("file.")).map(|c| (*c, json!({"path": "/tmp"}))));
            for (command, params) in COMMANDS.iter().map(|c| (*c, json!({}))).chain(with_path) {
                let answers: Vec<Value> = calls
                    .iter()
                    .map(|(call, node_id)| {
                        invoke_outcome(&call(
                            "node.invoke",
                            json!({"nodeId": node_id, "command": command, "params": params,
                                   "idempotencyKey": uuid::Uuid::new_v4().to_string(), "timeoutMs": 5000}),
                        ))
                    })
                    .collect();
                compared += 1;
                if answers[0] != answers[1] {
                    failures.push(format!(
                        "config {commands}, {phase}, {command:?} {params}:\n  theirs: {}\n  ours:   {}",
                        answers[0], answers[1]
                    ));
                }
            }
        }
        drop(nodes);
    }
    assert!(failures.is_empty(), "{} of {compared} differ:\n{}", failures.len(), failures.join("\n"));
    eprintln!("command policy: {compared} cases compared, all equal");
}
