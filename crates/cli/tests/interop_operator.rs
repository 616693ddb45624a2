//! The operator side against real peers: the real TypeScript node host paired with and serving
//! commands through our gateway and our CLI, and our CLI driving the real Gateway
//! (device approval, node surface approval, invoke, run with the exec approval flow, approvals).

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

fn out_text(out: &std::process::Output) -> String {
    format!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn ts_node_host_through_our_gateway_and_cli() {
    if !peer_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let op = dir.path().join("operator");
    let gw = OurGateway::start(&dir.path().join("gw"), &[]);
    let name = format!("rsop{}", std::process::id());
    let ts = ts_node_against(gw.port, &gw.token, &name, "ts-on-ours").expect("TS node host connects to our gateway");

    let nodes = gw.cli_json(&op, &["nodes", "status"])["nodes"].as_array().cloned().unwrap();
    let node = nodes.iter().find(|n| n["displayName"] == "ts-on-ours").unwrap_or_else(|| panic!("{nodes:?}"));
    assert_eq!(node["connected"], true);
    assert_eq!(node["clientId"], "node-host");
    let pending = gw.cli_json(&op, &["nodes", "pending"]);
    let request_id = pending[0]["requestId"].as_str().unwrap().to_string();
    let declared: Vec<String> =
        pending[0]["commands"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    assert!(declared.contains(&"system.run".to_string()), "allowlisted TS commands: {declared:?}");
    // Upstream's policy admits the ollama plugin's commands on Linux by default.
    assert!(declared.contains(&"ollama.chat".to_string()), "plugin defaults admitted: {declared:?}");
    gw.cli_json(&op, &["nodes", "approve", &request_id]);

    let which = gw.cli_json(
        &op,
        &["nodes", "invoke", "--node", "ts-on-ours", "--command", "system.which", "--params", r#"{"bins":["sh"]}"#],
    );
    assert!(which["payload"]["bins"]["sh"].as_str().unwrap().ends_with("/sh"), "{which}");
    let out = gw.cli(&op, &["nodes", "run", "--node", "ts-on-ours", "--", "sh", "-c", "echo from-ts; exit 5"]);
    assert_eq!(out.status.code(), Some(5), "{}", out_text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-ts\n");

    // The approvals relay reaches the TS host's own document, and its policy is honoured.
    let got = gw.cli_json(&op, &["approvals", "get", "--node", "ts-on-ours"]);
    assert!(got["path"].as_str().unwrap().contains("exec_approvals_config"), "{got}");
    let file = dir.path().join("policy.json5");
    std::fs::write(&file, r#"{defaults: {security: "allowlist", ask: "on-miss"}}"#).unwrap();
    gw.cli_json(&op, &["approvals", "set", "--node", "ts-on-ours", "--file", file.to_str().unwrap()]);
    let got = gw.cli_json(&op, &["approvals", "get", "--node", "ts-on-ours"]);
    assert_eq!(got["file"]["defaults"]["ask"], "on-miss", "{got}");
    let out = gw.cli(&op, &["nodes", "run", "--node", "ts-on-ours", "--", "/usr/bin/uname", "-s"]);
    assert_eq!(out.status.code(), Some(126), "needs approval, no terminal: {}", out_text(&out));

    // The exec approval flow through our gateway to the TS node host: allow once on a terminal.
    let out = our_nodes_run_on_tty(&gw.url(), &gw.token, &op, "ts-on-ours", "o\n", "/usr/bin/uname -s");
    assert_eq!(out.status.code(), Some(0), "{}", out_text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Linux"), "{}", out_text(&out));
    assert!(gw.log_text().contains("event=exec.finished"), "TS exec events reach our audit log");
    ts.stop();
}

#[test]
fn our_cli_drives_the_real_gateway() {
    if !peer_available() {
        return;
    }
    let gw = PeerGateway::start("ops", &["--no-local-auto-approve"]);
    let url = format!("ws://127.0.0.1:{}", gw.port);
    let dir = tempfile::tempdir().unwrap();
    let op = dir.path().join("operator");
    let port = gw.port.to_string();
    let mut node = OurNode::spawn(
        &dir.path().join("node"),
        &["--host", "127.0.0.1", "--port", &port, "--display-name", "rs-on-real"],
        &[("OPENCLAW_GATEWAY_TOKEN", gw.token.as_str())],
    );
    node.wait_for_log("openclaw devices approve", 1, Duration::from_secs(30));

    // Device pairing approved with our CLI.
    let listed = our_cli_json(&url, &gw.token, &op, &["devices", "list"]);
    let request_id = listed["pending"][0]["requestId"].as_str().unwrap_or_else(|| panic!("{listed}")).to_string();
    let out = our_cli(&url, &gw.token, &op, &["devices", "approve", &request_id]);
    assert!(out.status.success(), "{}", out_text(&out));
    node.wait_for_log("node host gateway connected:", 1, Duration::from_secs(30));

    // Node surface approved with our CLI, then invoke and run.
    let pending = wait_for_value(Duration::from_secs(20), "node surface request", || {
        let p = our_cli_json(&url, &gw.token, &op, &["nodes", "pending"]);
        p.as_array().filter(|a| !a.is_empty()).map(|a| a[0]["requestId"].as_str().unwrap().to_string())
    });
    our_cli_json(&url, &gw.token, &op, &["nodes", "approve", &pending]);
    node.wait_for_log("command surface approved", 1, Duration::from_secs(30));
    let status = our_cli_json(&url, &gw.token, &op, &["nodes", "status", "--connected"]);
    assert!(status.to_string().contains("rs-on-real"), "{status}");
    // The text views read the real Gateway's answers through the shared shapes.
    let views: [(&[&str], &str); 4] = [
        (&["nodes", "status"], "rs-on-real"),
        (&["nodes", "list"], "rs-on-real"),
        (&["nodes", "describe", "--node", "rs-on-real"], "- system.which"),
        (&["devices", "list"], "Paired (1)"),
    ];
    for (args, expected) in views {
        let out = our_cli(&url, &gw.token, &op, args);
        let text = String::from_utf8_lossy(&out.stdout);
        println!("openclaw {args:?}:\n{text}");
        assert!(out.status.success() && text.contains(expected), "{args:?}: {}", out_text(&out));
    }
    let which = wait_for_value(Duration::from_secs(20), "system.which through the real gateway", || {
        let out = our_cli(
            &url,
            &gw.token,
            &op,
            &["nodes", "invoke", "--node", "rs-on-real", "--command", "system.which", "--params", r#"{"bins":["sh"]}"#],
        );
        out.status.success().then(|| serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap())
    });
    assert_eq!(which["ok"], true, "{which}");
    let out =
        our_cli(&url, &gw.token, &op, &["nodes", "run", "--node", "rs-on-real", "--", "sh", "-c", "echo real; exit 4"]);
    assert_eq!(out.status.code(), Some(4), "{}", out_text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "real\n");

    // Approvals through the real gateway's relay, then the real exec.approval.* flow.
    let out = our_cli(&url, &gw.token, &op, &["approvals", "allowlist", "add", "/usr/bin/id", "--node", "rs-on-real"]);
    assert!(out.status.success(), "{}", out_text(&out));
    let file = dir.path().join("policy.json");
    let current = our_cli_json(&url, &gw.token, &op, &["approvals", "get", "--node", "rs-on-real"]);
    let mut doc = current["file"].clone();
    doc["defaults"] = json!({"security": "allowlist", "ask": "on-miss"});
    std::fs::write(&file, doc.to_string()).unwrap();
    our_cli_json(&url, &gw.token, &op, &["approvals", "set", "--node", "rs-on-real", "--file", file.to_str().unwrap()]);
    let out = our_cli(&url, &gw.token, &op, &["nodes", "run", "--node", "rs-on-real", "--", "/usr/bin/id", "-u"]);
    assert_eq!(out.status.code(), Some(0), "allowlisted: {}", out_text(&out));
    let marker = dir.path().join("approved-via-real-gateway");
    let out = our_nodes_run_on_tty(
        &url,
        &gw.token,
        &op,
        "rs-on-real",
        "o\n",
        &format!("/usr/bin/touch {}", marker.display()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", out_text(&out));
    assert!(marker.exists(), "approved through the real gateway's exec.approval flow");
    let out = our_nodes_run_on_tty(&url, &gw.token, &op, "rs-on-real", "d\n", "/usr/bin/touch /tmp/never-created-rs");
    assert_eq!(out.status.code(), Some(126), "{}", out_text(&out));

    // Errors: unknown node, and a wrong token.
    let out = our_cli(&url, &gw.token, &op, &["nodes", "describe", "--node", "nope-no-such-node"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown node"), "{}", out_text(&out));
    let out = our_cli(&url, "wrong-token", &op, &["nodes", "status", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let envelope: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(envelope["ok"], false);
    assert!(envelope["error"]["message"].as_str().unwrap().contains("token mismatch"), "{envelope}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("wrong-token"));
}
