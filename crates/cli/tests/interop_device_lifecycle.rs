//! The device lifecycle (`devices rotate|revoke|rename|remove`) against both gateways, with our
//! node host connected to each: what the node says and does, what the CLI prints (ours beside
//! the real one where both run), and, on our gateway, what a restart on the same state keeps.
//!
//! Both gateways run with local auto-approval off, so every re-pairing waits for an operator.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use support::*;

const WAIT: Duration = Duration::from_secs(40);
const CLOSED: &str = "gateway closed (4001): device removed; an operator rotated or revoked";
const PAUSED: &str = "reconnect paused after close (1008): unauthorized: device token mismatch (rotate/reissue device token) detail=AUTH_DEVICE_TOKEN_MISMATCH; waiting for operator action";

fn text(out: &Output) -> String {
    format!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

/// The request id of the newest `pairing required` line in a node log.
fn last_request_id(log: &str) -> String {
    log.rsplit("requestId=").next().and_then(|rest| rest.split(';').next()).expect("requestId in the log").to_string()
}

/// A node's key set and its values except timestamps: what ours and the real CLI must agree on.
fn fields(v: &Value) -> Value {
    let mut v = v.clone();
    for k in ["rotatedAtMs", "revokedAtMs"] {
        if let Some(ts) = v.get_mut(k) {
            assert!(ts.is_i64(), "{k} is a number: {v}");
            *ts = Value::from("<ts>");
        }
    }
    v
}

/// Our CLI against `url`.
struct Cli<'a> {
    url: String,
    token: &'a str,
    state: &'a Path,
}

impl Cli<'_> {
    fn run(&self, args: &[&str]) -> Output {
        our_cli(&self.url, self.token, self.state, args)
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(out.status.success(), "openclaw {args:?}: {}", text(&out));
        out
    }
}

#[test]
fn lifecycle_on_our_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = OurGateway::start(&dir.path().join("gw"), &["--no-local-auto-approve"]);
    let cli = Cli { url: gw.url(), token: &gw.token.clone(), state: &dir.path().join("op") };
    let port = gw.port.to_string();
    let node_state = dir.path().join("node");
    let node_args = ["--host", "127.0.0.1", "--port", port.as_str(), "--display-name", "life-node"];
    let shared = [("OPENCLAW_GATEWAY_TOKEN", cli.token)];
    let mut node = OurNode::spawn(&node_state, &node_args, &shared);
    node.wait_for_log("pairing required: requestId=", 1, WAIT);
    cli.ok(&["devices", "approve", &last_request_id(&node.log_text())]);
    node.wait_for_log("node host gateway connected:", 1, WAIT);
    let device = our_identity(&node_state)["deviceId"].as_str().unwrap().to_string();

    // Rotate: answered in JSON without --json, the token withheld; the node is closed, says
    // why, and comes back on the shared token with the new device token.
    let out = cli.ok(&["devices", "rotate", "--device", &device, "--role", "node"]);
    let rotated = stdout_json(&out);
    assert_eq!(
        fields(&rotated),
        serde_json::json!({"deviceId": device, "role": "node", "scopes": [], "rotatedAtMs": "<ts>",
                           "tokenDelivery": "withheld-cross-device"})
    );
    node.wait_for_log(CLOSED, 1, WAIT);
    node.wait_for_log("node host gateway connected:", 2, WAIT);

    // Revoke: closed again, and this time the role needs an operator.
    let revoked = stdout_json(&cli.ok(&["devices", "revoke", "--device", &device, "--role", "node"]));
    assert_eq!(fields(&revoked), serde_json::json!({"deviceId": device, "role": "node", "revokedAtMs": "<ts>"}));
    node.wait_for_log(CLOSED, 2, WAIT);
    node.wait_for_log("pairing required: requestId=", 2, WAIT);
    assert!(node.is_running());
    let human = String::from_utf8_lossy(&cli.ok(&["devices", "list"]).stdout).to_string();
    assert!(human.contains("node (revoked)"), "{human}");
    cli.ok(&["devices", "approve", &last_request_id(&node.log_text())]);
    node.wait_for_log("node host gateway connected:", 3, WAIT);

    // Rename: human and JSON.
    let out = cli.ok(&["devices", "rename", "--device", &device, "--name", "Lab box"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("Renamed {device} \u{2192} Lab box\n"));
    let out = cli.ok(&["devices", "rename", "--device", &device, "--name", "Lab box", "--json"]);
    assert_eq!(stdout_json(&out), serde_json::json!({"deviceId": device, "label": "Lab box"}));
    assert_eq!(node.stop(), Some(143));

    // On its stored device token alone: a rotation makes the token stale, the node forgets it
    // and waits, as upstream's does.
    let mut alone = OurNode::spawn(&node_state, &node_args, &[]);
    alone.wait_for_log("node host gateway connected:", 1, WAIT);
    cli.ok(&["devices", "rotate", "--device", &device, "--role", "node"]);
    alone.wait_for_log(PAUSED, 1, WAIT);
    std::thread::sleep(Duration::from_secs(3));
    assert!(alone.is_running(), "waits for the operator: {}", alone.log_text());
    assert_eq!(alone.log_text().matches("gateway connected:").count(), 1, "{}", alone.log_text());
    assert_eq!(alone.stop(), Some(143));
    // Its token is gone: without shared credentials it can no longer authenticate at all.
    let mut bare = OurNode::spawn(&node_state, &node_args, &[]);
    assert_eq!(bare.wait_exit(WAIT), Some(1), "{}", bare.log_text());
    assert!(bare.log_text().contains("AUTH_TOKEN_MISSING"), "{}", bare.log_text());

    // Under a service manager a stale token ends the process (exit 1) for the supervisor.
    let mut refresh = OurNode::spawn(&node_state, &node_args, &shared);
    refresh.wait_for_log("node host gateway connected:", 1, WAIT);
    assert_eq!(refresh.stop(), Some(143));
    cli.ok(&["devices", "rotate", "--device", &device, "--role", "node"]);
    let supervised = [("OPENCLAW_SERVICE_MARKER", "openclaw"), ("OPENCLAW_SERVICE_KIND", "node")];
    let mut managed = OurNode::spawn(&node_state, &node_args, &supervised);
    assert_eq!(managed.wait_exit(WAIT), Some(1), "{}", managed.log_text());
    assert!(
        managed.log_text().contains("detail=AUTH_DEVICE_TOKEN_MISMATCH; exiting for supervisor restart"),
        "{}",
        managed.log_text()
    );

    // Remove: the node is closed and must pair anew.
    let mut node = OurNode::spawn(&node_state, &node_args, &shared);
    node.wait_for_log("node host gateway connected:", 1, WAIT);
    let out = cli.ok(&["devices", "remove", &device]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("Removed {device}\n"));
    node.wait_for_log(CLOSED, 1, WAIT);
    node.wait_for_log("pairing required: requestId=", 1, WAIT);
    let out = cli.run(&["devices", "remove", &device, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout_json(&out),
        serde_json::json!({"ok": false, "error": {"type": "cli_error", "message": "unknown deviceId"}})
    );

    // Pair again, label and revoke it, then restart the gateway on the same state.
    cli.ok(&["devices", "approve", &last_request_id(&node.log_text())]);
    node.wait_for_log("node host gateway connected:", 2, WAIT);
    cli.ok(&["devices", "rename", "--device", &device, "--name", "Kept label"]);
    cli.ok(&["devices", "revoke", "--device", &device, "--role", "node"]);
    node.wait_for_log(CLOSED, 2, WAIT);
    let pending_before = node.log_text().matches("pairing required: requestId=").count();
    gw.restart();
    let list = our_cli_json(&cli.url, cli.token, cli.state, &["devices", "list"]);
    let paired = list["paired"].as_array().unwrap();
    assert_eq!(paired.len(), 1, "{list}");
    assert_eq!(paired[0]["operatorLabel"], "Kept label", "{list}");
    assert!(paired[0]["tokens"][0]["revokedAtMs"].is_i64(), "still revoked after a restart: {list}");
    // And the node, still retrying, is still refused until an operator approves.
    node.wait_for_log("pairing required: requestId=", pending_before.max(1), WAIT);
    let connected = node.log_text().matches("node host gateway connected:").count();
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(node.log_text().matches("node host gateway connected:").count(), connected, "{}", node.log_text());
    assert_eq!(node.stop(), Some(143));
    gw.stop();
}

/// Our CLI next to the real one, and our node host, against the real Gateway.
#[test]
fn lifecycle_on_the_real_gateway() {
    if !peer_available() {
        return;
    }
    let gw = PeerGateway::start("life", &["--no-local-auto-approve"]);
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli { url: format!("ws://127.0.0.1:{}", gw.port), token: &gw.token, state: &dir.path().join("op") };
    let real = |args: &[&str]| -> Output {
        gw.peer().script("cli.sh").arg(&gw.name).args(args).output().expect("run the real CLI")
    };
    let port = gw.port.to_string();
    let node_state = dir.path().join("node");
    let node_args = ["--host", "127.0.0.1", "--port", port.as_str(), "--display-name", "life-real"];
    let shared = [("OPENCLAW_GATEWAY_TOKEN", gw.token.as_str())];
    let mut node = OurNode::spawn(&node_state, &node_args, &shared);
    node.wait_for_log("pairing required: requestId=", 1, WAIT);
    cli.ok(&["devices", "approve", &last_request_id(&node.log_text())]);
    node.wait_for_log("node host gateway connected:", 1, WAIT);
    let device = our_identity(&node_state)["deviceId"].as_str().unwrap().to_string();

    // Rotate with ours, then with theirs: the same answer (bar the time), and the node is
    // closed with 4001 and back each time.
    let ours = stdout_json(&cli.ok(&["devices", "rotate", "--device", &device, "--role", "node"]));
    node.wait_for_log(CLOSED, 1, WAIT);
    node.wait_for_log("node host gateway connected:", 2, WAIT);
    let out = real(&["devices", "rotate", "--device", &device, "--role", "node"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(fields(&ours), fields(&stdout_json(&out)));
    node.wait_for_log(CLOSED, 2, WAIT);
    node.wait_for_log("node host gateway connected:", 3, WAIT);

    // Denials read the same: a role the device does not have.
    let ours = cli.run(&["devices", "revoke", "--device", &device, "--role", "operator"]);
    let theirs = real(&["devices", "revoke", "--device", &device, "--role", "operator", "--json"]);
    assert_eq!((ours.status.code(), theirs.status.code()), (Some(1), Some(1)));
    assert_eq!(stdout_json(&ours), stdout_json(&theirs), "{}", text(&theirs));

    // Revoke: the real Gateway asks for the role to be approved again (role-upgrade); the node
    // waits, and comes back once approved.
    let ours = stdout_json(&cli.ok(&["devices", "revoke", "--device", &device, "--role", "node"]));
    node.wait_for_log(CLOSED, 3, WAIT);
    node.wait_for_log("pairing required: requestId=", 2, WAIT);
    let out = real(&["devices", "revoke", "--device", &device, "--role", "node"]);
    assert_eq!(fields(&ours), fields(&stdout_json(&out)), "{}", text(&out));
    let listed = stdout_json(&cli.ok(&["devices", "list", "--json"]));
    let pending = listed["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{listed}");
    assert_eq!(pending[0]["deviceId"], device.as_str());
    cli.ok(&["devices", "approve", pending[0]["requestId"].as_str().unwrap()]);
    node.wait_for_log("node host gateway connected:", 4, WAIT);

    // Rename: the same human line and JSON from both CLIs.
    let ours = cli.ok(&["devices", "rename", "--device", &device, "--name", "Lab box"]);
    let theirs = real(&["devices", "rename", "--device", &device, "--name", "Lab box"]);
    assert!(theirs.status.success(), "{}", text(&theirs));
    assert_eq!(String::from_utf8_lossy(&ours.stdout), strip_ansi(&String::from_utf8_lossy(&theirs.stdout)));
    let ours = stdout_json(&cli.ok(&["devices", "rename", "--device", &device, "--name", "Lab box", "--json"]));
    assert_eq!(ours, stdout_json(&real(&["devices", "rename", "--device", &device, "--name", "Lab box", "--json"])));
    let listed = stdout_json(&cli.ok(&["devices", "list", "--json"]));
    assert_eq!(listed["paired"][0]["operatorLabel"], "Lab box", "{listed}");
    assert_eq!(node.stop(), Some(143));

    // On its device token alone, a rotation leaves our node paused like upstream's.
    let mut alone = OurNode::spawn(&node_state, &node_args, &[]);
    alone.wait_for_log("node host gateway connected:", 1, WAIT);
    let out = real(&["devices", "rotate", "--device", &device, "--role", "node"]);
    assert!(out.status.success(), "{}", text(&out));
    alone.wait_for_log(PAUSED, 1, WAIT);
    assert!(alone.is_running(), "{}", alone.log_text());
    assert_eq!(alone.stop(), Some(143));

    // Remove: human output of both CLIs, and the node must pair anew.
    let mut node = OurNode::spawn(&node_state, &node_args, &shared);
    node.wait_for_log("node host gateway connected:", 1, WAIT);
    let out = cli.ok(&["devices", "remove", &device]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("Removed {device}\n"));
    node.wait_for_log(CLOSED, 1, WAIT);
    node.wait_for_log("pairing required: requestId=", 1, WAIT);
    let ours = cli.run(&["devices", "remove", &device, "--json"]);
    let theirs = real(&["devices", "remove", &device, "--json"]);
    assert_eq!((ours.status.code(), theirs.status.code()), (Some(1), Some(1)));
    assert_eq!(stdout_json(&ours), stdout_json(&theirs));
    assert_eq!(node.stop(), Some(143));
}
