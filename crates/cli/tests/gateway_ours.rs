//! Our node host against our gateway, driven by our operator CLI: pairing with and without
//! local auto-approval, invoke, gateway deadline and cancel, the approvals relay, the exec
//! approval flow end to end (on a pseudo-terminal), node restart and gateway restart.
//! No Node.js involved.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use openclaw_operator::{ConnectOptions, OperatorClient, OPERATOR_SCOPES};
use serde_json::{json, Value};
use support::{openclaw_bin, wait_until, OurGateway, OurNode};

fn text(out: &Output) -> String {
    format!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn node_status(gw: &OurGateway, op: &Path) -> Vec<Value> {
    gw.cli_json(op, &["nodes", "status"])["nodes"].as_array().cloned().unwrap_or_default()
}

fn nodes_run_on_tty(gw: &OurGateway, op: &Path, node: &str, answer: &str, argv: &str) -> Output {
    support::our_nodes_run_on_tty(&gw.url(), &gw.token, op, node, answer, argv)
}

async fn operator(gw: &OurGateway) -> OperatorClient {
    let opts = ConnectOptions {
        endpoint: openclaw_operator::client::endpoint_from_url(&gw.url(), None).unwrap(),
        token: Some(gw.token.clone()),
        password: None,
        device_token: None,
        identity: None,
        scopes: OPERATOR_SCOPES.iter().map(|s| s.to_string()).collect(),
        timeout: Duration::from_secs(10),
        caps: Vec::new(),
    };
    OperatorClient::connect(&opts).await.expect("operator connects")
}

fn sleeper_running(marker: &str) -> bool {
    let out = Command::new("pgrep").args(["-f", marker]).output().unwrap();
    out.status.success()
}

#[test]
fn our_node_through_our_gateway_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let op = dir.path().join("operator");
    let mut gw = OurGateway::start(&dir.path().join("gw"), &[]);
    let port = gw.port.to_string();
    let token = gw.token.clone();
    let node_args = ["--host", "127.0.0.1", "--port", port.as_str(), "--display-name", "ours-box"];
    let mut node = OurNode::spawn(&dir.path().join("node"), &node_args, &[("OPENCLAW_GATEWAY_TOKEN", token.as_str())]);
    node.wait_for_log("gateway connected", 1, Duration::from_secs(15));

    // Silent local device pairing; the command surface waits for an operator.
    let nodes = node_status(&gw, &op);
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    let node_id = nodes[0]["nodeId"].as_str().unwrap().to_string();
    assert_eq!(nodes[0]["connected"], true);
    assert_eq!(nodes[0]["approvalState"], "pending-approval");
    assert_eq!(nodes[0]["commands"], json!([]));
    let out = gw.cli(
        &op,
        &["nodes", "invoke", "--node", "ours-box", "--command", "system.which", "--params", r#"{"bins":["sh"]}"#],
    );
    assert!(!out.status.success(), "{}", text(&out));
    // As upstream's node.invoke: a desktop-host command is on the runtime allowlist only once
    // approved on the node's surface (interop_command_policy.rs compares the policy whole).
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\"system.which\" is not in the allowlist for platform"),
        "{}",
        text(&out)
    );

    let pending = gw.cli_json(&op, &["nodes", "pending"]);
    let request_id = pending[0]["requestId"].as_str().unwrap().to_string();
    assert_eq!(pending[0]["requiredApproveScopes"], json!(["operator.pairing", "operator.admin"]));
    let approved = gw.cli_json(&op, &["nodes", "approve", &request_id]);
    assert_eq!(approved["node"]["nodeId"], node_id.as_str());
    let described = gw.cli_json(&op, &["nodes", "describe", "--node", &node_id[..8]]);
    assert_eq!(described["approvalState"], "approved");
    assert!(described["commands"].as_array().unwrap().contains(&json!("system.run")), "{described}");

    // Invoke by display name.
    let which = gw.cli_json(
        &op,
        &[
            "nodes",
            "invoke",
            "--node",
            "OURS-BOX",
            "--command",
            "system.which",
            "--params",
            r#"{"bins":["sh","no-such-bin-x"]}"#,
        ],
    );
    assert_eq!(which["ok"], true);
    assert!(which["payload"]["bins"]["sh"].as_str().unwrap().ends_with("/sh"), "{which}");

    // nodes run: output and exit code of the command (full security by default on the node).
    let out = gw.cli(&op, &["nodes", "run", "--node", "ours-box", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("err"));
    let out = gw.cli(&op, &["nodes", "run", "--node", "ours-box", "--command-timeout", "300", "--", "sleep", "5"]);
    assert_eq!(out.status.code(), Some(124), "{}", text(&out));

    // Approvals relay: set allowlist + on-miss, then get shows it.
    let out = Command::new(openclaw_bin())
        .args(["approvals", "set", "--node", "ours-box", "--stdin", "--json", "--url", &gw.url(), "--token", &gw.token])
        .env("OPENCLAW_STATE_DIR", &op)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(br#"{defaults: {security: "allowlist", ask: "on-miss"}}"#)?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let got = gw.cli_json(&op, &["approvals", "get", "--node", "ours-box"]);
    assert_eq!(got["file"]["defaults"]["security"], "allowlist");
    assert!(got["file"]["socket"].get("token").is_none(), "socket token must be redacted: {got}");

    // Without a terminal, a command that needs approval fails clearly and does not run.
    let out = gw.cli(
        &op,
        &["nodes", "run", "--node", "ours-box", "--", "/usr/bin/touch", dir.path().join("never").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(126), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no terminal to ask on"), "{}", text(&out));
    assert!(!dir.path().join("never").exists());

    // On a terminal: deny, then allow once.
    let marker = dir.path().join("approved");
    let out = nodes_run_on_tty(&gw, &op, "ours-box", "d\n", &format!("/usr/bin/touch {}", marker.display()));
    assert_eq!(out.status.code(), Some(126), "{}", text(&out));
    assert!(!marker.exists());
    let out = nodes_run_on_tty(&gw, &op, "ours-box", "o\n", &format!("/usr/bin/touch {}", marker.display()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(marker.exists(), "the approved command ran");
    // Allowlisted: runs without asking.
    let added = gw.cli(&op, &["approvals", "allowlist", "add", "/usr/bin/id", "--node", "ours-box"]);
    assert!(added.status.success(), "{}", text(&added));
    let out = gw.cli(&op, &["nodes", "run", "--node", "ours-box", "--", "/usr/bin/id", "-u"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The matched entry carries its usage metadata.
    let got = gw.cli_json(&op, &["approvals", "get", "--node", "ours-box"]);
    let entry = &got["file"]["agents"]["*"]["allowlist"][0];
    assert_eq!(entry["lastUsedCommand"], "/usr/bin/id -u", "{got}");
    assert!(
        entry["lastUsedAt"].as_i64().is_some() && entry["lastResolvedPath"].as_str().unwrap().ends_with("/id"),
        "{got}"
    );

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = operator(&gw).await;
        // #8682: approval fields from a caller are never trusted.
        let err = client
            .request(
                "node.invoke",
                json!({"nodeId": node_id, "command": "system.run", "idempotencyKey": "k1",
                "params": {"command": ["/usr/bin/touch", "/tmp/x-8682"], "approved": true}}),
            )
            .await
            .unwrap_err();
        assert_eq!(err.shape().unwrap().details.as_ref().unwrap()["code"], "MISSING_RUN_ID", "{err}");
        let err = client
            .request(
                "node.invoke",
                json!({"nodeId": node_id, "command": "system.run", "idempotencyKey": "k2",
                "params": {"command": ["/usr/bin/true"], "approvalDecision": "allow-once", "runId": "made-up"}}),
            )
            .await
            .unwrap_err();
        assert_eq!(err.shape().unwrap().details.as_ref().unwrap()["code"], "UNKNOWN_APPROVAL_ID", "{err}");
    });
    let added = gw.cli(&op, &["approvals", "allowlist", "add", "/usr/bin/sleep", "--node", "ours-box"]);
    assert!(added.status.success(), "{}", text(&added));
    rt.block_on(async {
        // Gateway deadline: the caller gets TIMEOUT and the node kills the process group.
        let client = operator(&gw).await;
        let started = Instant::now();
        let err = client
            .request_with_timeout(
                "node.invoke",
                json!({"nodeId": node_id, "command": "system.run", "idempotencyKey": "k4",
                    "timeoutMs": 1000, "params": {"command": ["/usr/bin/sleep", "31.5"]}}),
                Duration::from_secs(10),
            )
            .await
            .unwrap_err();
        let shape = err.shape().unwrap();
        assert_eq!(shape.message, "TIMEOUT: node invoke timed out", "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        wait_until(Duration::from_secs(5), "sleep killed after the gateway deadline", || {
            !sleeper_running("sleep 31.5")
        });

        // The caller going away cancels its invoke on the node.
        let slow = operator(&gw).await;
        let request = json!({"nodeId": node_id, "command": "system.run", "idempotencyKey": "k5",
            "timeoutMs": 60_000, "params": {"command": ["/usr/bin/sleep", "32.5"]}});
        let pending = tokio::spawn(async move {
            let _ = slow.request_with_timeout("node.invoke", request, Duration::from_millis(1500)).await;
            drop(slow);
        });
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(sleeper_running("sleep 32.5"), "the command started");
        pending.await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while sleeper_running("sleep 32.5") && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!sleeper_running("sleep 32.5"), "cancelled when the caller disconnected");
    });

    // Exec events reached the gateway's audit log.
    assert!(gw.log_text().contains("event=exec.finished"), "{}", gw.log_text());

    // Node restart: same device, surface still approved, no new request.
    assert_eq!(node.stop(), Some(143));
    wait_until(Duration::from_secs(5), "node shown disconnected", || node_status(&gw, &op)[0]["connected"] == false);
    let mut node = OurNode::spawn(&dir.path().join("node"), &node_args, &[("OPENCLAW_GATEWAY_TOKEN", token.as_str())]);
    node.wait_for_log("gateway connected", 1, Duration::from_secs(15));
    let nodes = node_status(&gw, &op);
    assert_eq!(nodes[0]["approvalState"], "approved");
    assert!(gw.cli_json(&op, &["nodes", "pending"]).as_array().unwrap().is_empty());

    // Gateway restart on the same port: the node reconnects by itself, state survives.
    gw.restart();
    node.wait_for_log("gateway connected", 2, Duration::from_secs(20));
    let which = gw.cli_json(
        &op,
        &["nodes", "invoke", "--node", "ours-box", "--command", "system.which", "--params", r#"{"bins":["sh"]}"#],
    );
    assert_eq!(which["ok"], true, "{which}");

    // Rename sticks (the record wins over what the node says); allowlist entries can be removed.
    let renamed = gw.cli_json(&op, &["nodes", "rename", "--node", "ours-box", "--name", "renamed-box"]);
    assert_eq!(renamed, json!({"nodeId": node_id, "displayName": "renamed-box"}));
    assert_eq!(node_status(&gw, &op)[0]["displayName"], "renamed-box");
    let out = gw.cli(&op, &["approvals", "allowlist", "remove", "/usr/bin/id", "--node", "renamed-box"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Removed /usr/bin/id"), "{}", text(&out));
    let out = gw.cli(&op, &["approvals", "allowlist", "remove", "/usr/bin/id", "--node", "renamed-box"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Pattern not found."), "{}", text(&out));
    assert_eq!(gw.stop(), Some(0));
}

#[test]
fn pairing_waits_for_an_operator_without_local_auto_approve() {
    let dir = tempfile::tempdir().unwrap();
    let op = dir.path().join("operator");
    let gw = OurGateway::start(&dir.path().join("gw"), &["--no-local-auto-approve"]);
    let port = gw.port.to_string();
    let mut node = OurNode::spawn(
        &dir.path().join("node"),
        &["--host", "127.0.0.1", "--port", &port],
        &[("OPENCLAW_GATEWAY_TOKEN", gw.token.as_str())],
    );
    node.wait_for_log("openclaw devices approve", 1, Duration::from_secs(15));
    let listed = gw.cli_json(&op, &["devices", "list"]);
    let pending = listed["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{listed}");
    assert_eq!(pending[0]["role"], "node");
    let request_id = pending[0]["requestId"].as_str().unwrap().to_string();
    assert!(node.log_text().contains(&request_id), "the node printed the request to approve");

    let out = gw.cli(&op, &["devices", "approve", "not-a-request"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No pending device request matches"), "{}", text(&out));
    let out = gw.cli(&op, &["devices", "approve", &request_id]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Approved "), "{}", text(&out));
    // The node retries every 10 s and connects without a restart.
    node.wait_for_log("gateway connected", 1, Duration::from_secs(20));
    let listed = gw.cli_json(&op, &["devices", "list"]);
    assert_eq!(listed["paired"][0]["approvedVia"], "owner");
    assert!(!listed.to_string().contains("\"token\":"), "device tokens never leave the gateway: {listed}");

    // A second device is rejected: its request is gone and it stays unpaired.
    let mut other = OurNode::spawn(
        &dir.path().join("other"),
        &["--host", "127.0.0.1", "--port", &port],
        &[("OPENCLAW_GATEWAY_TOKEN", gw.token.as_str())],
    );
    other.wait_for_log("openclaw devices approve", 1, Duration::from_secs(15));
    let pending = gw.cli_json(&op, &["devices", "list"])["pending"].clone();
    let request_id = pending[0]["requestId"].as_str().unwrap().to_string();
    let rejected = gw.cli_json(&op, &["devices", "reject", &request_id]);
    assert_eq!(rejected["requestId"], request_id.as_str());
    let listed = gw.cli_json(&op, &["devices", "list"]);
    assert_eq!(
        listed["pending"].as_array().unwrap().iter().filter(|p| p["requestId"] == request_id.as_str()).count(),
        0
    );
    assert_eq!(listed["paired"].as_array().unwrap().len(), 1, "{listed}");
}

#[test]
fn tls_gateway_prints_a_pin_that_nodes_use() {
    let dir = tempfile::tempdir().unwrap();
    let gw = OurGateway::start(&dir.path().join("gw"), &["--tls"]);
    let printed = std::fs::read_to_string(&gw.stdout).unwrap();
    assert!(printed.contains("gateway listening on wss://127.0.0.1:"), "{printed}");
    let fingerprint = printed
        .lines()
        .find_map(|l| l.strip_prefix("tls fingerprint (sha256): "))
        .unwrap_or_else(|| panic!("no fingerprint printed: {printed}"))
        .to_string();
    assert_eq!(fingerprint.len(), 64);
    let key = dir.path().join("gw/gateway/tls/gateway-key.pem");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let port = gw.port.to_string();

    // The right pin connects; the CLI can pin it too.
    let mut node = OurNode::spawn(
        &dir.path().join("node"),
        &[
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--tls",
            "--tls-fingerprint",
            &fingerprint,
            "--display-name",
            "tls-box",
        ],
        &[("OPENCLAW_GATEWAY_TOKEN", gw.token.as_str())],
    );
    node.wait_for_log("gateway connected", 1, Duration::from_secs(15));
    let url = format!("wss://127.0.0.1:{port}");
    let op = dir.path().join("op");
    let status = support::our_cli_json(&url, &gw.token, &op, &["nodes", "status", "--tls-fingerprint", &fingerprint]);
    assert_eq!(status["nodes"][0]["displayName"], "tls-box", "{status}");
    // A wrong pin never connects.
    let wrong = "00".repeat(32);
    let out = support::our_cli(&url, &gw.token, &op, &["nodes", "status", "--tls-fingerprint", &wrong]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fingerprint mismatch"), "{}", text(&out));

    // The certificate is generated once: a restart serves the same pin.
    let mut gw = gw;
    gw.restart();
    let again = std::fs::read_to_string(&gw.stdout).unwrap();
    assert!(again.contains(&fingerprint), "{again}");
}
