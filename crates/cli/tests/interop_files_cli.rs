//! `openclaw nodes files ls|stat|pull|push|pull-dir` to our node host through a gateway whose
//! file-transfer policy (`plugins.entries.file-transfer.config`) governs every call: the real
//! Gateway, and ours with the same config, each running the very same flows and expectations:
//! what each verb prints and writes, the exit codes a script reads (2 refused by the policy, 3 a
//! file error, 1 a local refusal), and the refusals printed with what to add to the config.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const NODE_NAME: &str = "rs-files-cli";

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tree to read: files at the top and below, a denied secret, a large file.
fn fixture(root: &Path) {
    let share = root.join("share");
    std::fs::create_dir_all(share.join("sub/deeper")).unwrap();
    std::fs::write(share.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(share.join("sub/b.bin"), [0u8, 1, 2, 255]).unwrap();
    std::fs::write(share.join("sub/deeper/c.txt"), "gamma").unwrap();
    std::fs::write(share.join("secret.key"), "do not read").unwrap();
    // 5 MiB of varied bytes: large enough to take the transfer path a big file takes.
    let big: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::fs::create_dir_all(root.join("up")).unwrap();
    std::fs::create_dir_all(root.join("tree")).unwrap();
    std::fs::write(root.join("tree/one.txt"), "1").unwrap();
    std::fs::create_dir_all(root.join("tree/nested")).unwrap();
    std::fs::write(root.join("tree/nested/two.txt"), "22").unwrap();
}

/// The policy both gateways get, for the fixture under `root`.
fn gateway_config(root: &Path) -> Value {
    let r = root.to_string_lossy();
    let policy = json!({
        "policyVersion": 2,
        "nodes": {NODE_NAME: {
            "allowReadPaths": [format!("{r}/share"), format!("{r}/share/**"), format!("{r}/big.bin"), format!("{r}/tree"), format!("{r}/tree/**")],
            "allowWritePaths": [format!("{r}/up/**")],
            "denyPaths": [format!("{r}/share/secret*")],
        }}
    });
    json!({
        "gateway": {"nodes": {"commands": {"allow": ["file.stat", "file.fetch", "dir.list", "dir.fetch", "file.write"]}}},
        "plugins": {"entries": {"file-transfer": {"config": policy}}},
    })
}

/// A fresh fixture under a temporary directory: (its guard, the node-side root).
fn fresh_root() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap().join("node-fs");
    std::fs::create_dir_all(&root).unwrap();
    fixture(&root);
    (tmp, root)
}

/// Our node host on the gateway at `port`, its command surface approved: its process guard.
fn connect_node(tmp: &Path, url: &str, port: u16, token: &str) -> OurNode {
    let state = tmp.join("node");
    let port = port.to_string();
    let mut node =
        OurNode::spawn(&state, &["--port", &port, "--display-name", NODE_NAME], &[("OPENCLAW_GATEWAY_TOKEN", token)]);
    node.wait_for_log("node host gateway connected:", 1, Duration::from_secs(60));
    let node_id = our_identity(&state)["deviceId"].as_str().unwrap().to_string();
    let request = wait_for_value(Duration::from_secs(60), "node surface request", || {
        let list = operator_call(url, None, token, "node.pair.list", json!({}));
        list["pending"].as_array()?.iter().find(|p| p["nodeId"] == node_id.as_str()).cloned()
    });
    operator_call(url, None, token, "node.pair.approve", json!({"requestId": request["requestId"]}));
    node
}

#[test]
fn files_verbs_through_the_real_gateway_policy() {
    if !peer_available() {
        return;
    }
    let (tmp, root) = fresh_root();
    std::env::set_var("PEER_EXTRA_CONFIG", gateway_config(&root).to_string());
    let gw = PeerGateway::start("files-cli", &[]);
    std::env::remove_var("PEER_EXTRA_CONFIG");
    let _node = connect_node(tmp.path(), &gw.url(), gw.port, &gw.token);
    files_flows(tmp.path(), &root, &gw.url(), &gw.token);
}

#[test]
fn files_verbs_through_our_gateway_policy() {
    let (tmp, root) = fresh_root();
    let gw_dir = tmp.path().join("gw");
    std::fs::create_dir_all(&gw_dir).unwrap();
    std::fs::write(gw_dir.join("openclaw.json"), gateway_config(&root).to_string()).unwrap();
    let gw = OurGateway::start(&gw_dir, &[]);
    let _node = connect_node(tmp.path(), &gw.url(), gw.port, &gw.token);
    files_flows(tmp.path(), &root, &gw.url(), &gw.token);
}

/// Every verb, its refusals and its exit codes, through the gateway at `url`.
fn files_flows(tmp: &Path, root: &Path, url: &str, token: &str) {
    let r = root.to_string_lossy().into_owned();
    let cli_state = tmp.join("cli");
    let cli = |args: &[&str]| {
        let mut full = vec!["nodes", "files"];
        full.extend_from_slice(args);
        our_cli(url, token, &cli_state, &full)
    };
    let local = tmp.join("local");
    std::fs::create_dir_all(&local).unwrap();

    // stat and ls.
    let out = cli(&["stat", "--node", NODE_NAME, &format!("{r}/share/a.txt"), "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stat: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!((stat["type"].as_str(), stat["size"].as_u64()), (Some("file"), Some(6)), "{stat}");
    let out = cli(&["ls", "--node", NODE_NAME, &format!("{r}/share")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    for name in ["a.txt", "sub", "secret.key"] {
        assert!(text.contains(name), "listing names {name} (dir.list does not filter denyPaths):\n{text}");
    }
    assert!(text.trim_end().ends_with("3 entries"), "{text}");
    let out = cli(&["ls", "--node", NODE_NAME, &format!("{r}/share"), "--max-entries", "1", "--all", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let all: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(all["entries"].as_array().map(Vec::len), Some(3), "every page: {all}");

    // pull: bytes equal, no clobbering without --force, into a directory.
    let out = cli(&["pull", "--node", NODE_NAME, &format!("{r}/big.bin"), local.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read(local.join("big.bin")).unwrap(), std::fs::read(root.join("big.bin")).unwrap());
    assert!(stdout(&out).starts_with(&format!("pulled {r}/big.bin -> ")), "{}", stdout(&out));
    let out = cli(&["pull", "--node", NODE_NAME, &format!("{r}/big.bin"), local.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "an existing file is kept: {}", stderr(&out));
    assert!(stderr(&out).contains("exists; pass --force to replace it"), "{}", stderr(&out));
    let out = cli(&[
        "pull",
        "--node",
        NODE_NAME,
        &format!("{r}/share/a.txt"),
        local.join("big.bin").to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(local.join("big.bin")).unwrap(), "alpha\n");

    // Refusals by the policy: exit 2, with what to add when configuration can lift it.
    let out = cli(&["pull", "--node", NODE_NAME, &format!("{r}/share/secret.key"), local.join("s").to_str().unwrap()]);
    assert_eq!(code(&out), 2, "denyPaths: {}", stderr(&out));
    assert!(!local.join("s").exists());
    let out = cli(&["stat", "--node", NODE_NAME, &format!("{r}/elsewhere.txt")]);
    assert_eq!(code(&out), 2, "outside the allow list: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("POLICY_DENIED"), "{err}");
    assert!(
        err.contains(&format!(
            "to allow it, add \"{r}/elsewhere.txt\" (or a glob such as \"{r}/**\") to plugins.entries.file-transfer.config.nodes.\"{NODE_NAME}\".allowReadPaths"
        )),
        "{err}"
    );
    let out =
        cli(&["push", "--node", NODE_NAME, local.join("big.bin").to_str().unwrap(), &format!("{r}/share/new.txt")]);
    assert_eq!(code(&out), 2, "no write rule for share/: {}", stderr(&out));
    assert!(stderr(&out).contains("allowWritePaths"), "{}", stderr(&out));
    assert!(!root.join("share/new.txt").exists());

    // File errors reported by the node: exit 3.
    let out = cli(&["stat", "--node", NODE_NAME, &format!("{r}/share/missing.txt")]);
    assert_eq!(code(&out), 3, "not found: {}", stderr(&out));
    assert!(stderr(&out).contains("NOT_FOUND"), "{}", stderr(&out));

    // push: created, then refused without --overwrite (exit 3), then replaced.
    std::fs::write(local.join("up.txt"), "uploaded").unwrap();
    let dest = format!("{r}/up/deep/up.txt");
    let out = cli(&["push", "--node", NODE_NAME, local.join("up.txt").to_str().unwrap(), &dest, "--create-parents"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "uploaded");
    std::fs::write(local.join("up.txt"), "second").unwrap();
    let out = cli(&["push", "--node", NODE_NAME, local.join("up.txt").to_str().unwrap(), &dest]);
    assert_eq!(code(&out), 3, "exists: {}", stderr(&out));
    assert!(stderr(&out).contains("EXISTS_NO_OVERWRITE"), "{}", stderr(&out));
    let out =
        cli(&["push", "--node", NODE_NAME, local.join("up.txt").to_str().unwrap(), &dest, "--overwrite", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let written: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(written["overwritten"], true, "{written}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "second");

    // pull-dir: the tree, verified and unpacked; a denied entry inside refuses the whole tree.
    let into = local.join("tree-copy");
    let out = cli(&["pull-dir", "--node", NODE_NAME, &format!("{r}/tree"), into.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(into.join("one.txt")).unwrap(), "1");
    assert_eq!(std::fs::read_to_string(into.join("nested/two.txt")).unwrap(), "22");
    let out = cli(&["pull-dir", "--node", NODE_NAME, &format!("{r}/tree"), into.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "not into a non-empty directory: {}", stderr(&out));
    let out = cli(&["pull-dir", "--node", NODE_NAME, &format!("{r}/share"), local.join("share").to_str().unwrap()]);
    assert_eq!(code(&out), 2, "secret.key inside is denied: {}", stderr(&out));
    assert!(!local.join("share").join("a.txt").exists(), "nothing unpacked");

    // Local refusals before connecting: a relative remote path.
    let out = cli(&["stat", "--node", NODE_NAME, "relative.txt"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("must be absolute"), "{}", stderr(&out));
}

/// The policy for prompts: reads under `share/` are allowed; anything else is asked about
/// (`ask: "on-miss"`).
fn prompt_config(root: &Path) -> Value {
    let r = root.to_string_lossy();
    let policy = json!({
        "policyVersion": 2,
        "nodes": {NODE_NAME: {"ask": "on-miss", "allowReadPaths": [format!("{r}/share/**")]}}
    });
    json!({
        "gateway": {"nodes": {"commands": {"allow": ["file.stat", "file.fetch", "dir.list", "dir.fetch", "file.write"]}}},
        "plugins": {"entries": {"file-transfer": {"config": policy}}},
    })
}

#[test]
fn file_prompts_through_our_gateway() {
    let (tmp, root) = fresh_root();
    let gw_dir = tmp.path().join("gw");
    std::fs::create_dir_all(&gw_dir).unwrap();
    std::fs::write(gw_dir.join("openclaw.json"), prompt_config(&root).to_string()).unwrap();
    let gw = OurGateway::start(&gw_dir, &[]);
    let _node = connect_node(tmp.path(), &gw.url(), gw.port, &gw.token);
    prompt_flows(tmp.path(), &root, &gw.url(), &gw.token, None);
}

#[test]
fn file_prompts_through_the_real_gateway() {
    if !peer_available() {
        return;
    }
    let (tmp, root) = fresh_root();
    std::env::set_var("PEER_EXTRA_CONFIG", prompt_config(&root).to_string());
    let gw = PeerGateway::start("files-prompts", &[]);
    std::env::remove_var("PEER_EXTRA_CONFIG");
    let _node = connect_node(tmp.path(), &gw.url(), gw.port, &gw.token);
    let config = gw.home.join(".openclaw").join("openclaw.json");
    prompt_flows(tmp.path(), &root, &gw.url(), &gw.token, Some(&config));
}

/// An operator that presents plugin approval prompts (`caps: ["plugin-approvals"]`), as a
/// second connection next to the CLI.
async fn approver(url: &str, token: &str) -> (openclaw_operator::OperatorClient, EventStream) {
    let opts = openclaw_operator::ConnectOptions {
        endpoint: openclaw_operator::client::endpoint_from_url(url, None).unwrap(),
        token: Some(token.to_string()),
        password: None,
        device_token: None,
        identity: None,
        scopes: openclaw_operator::OPERATOR_SCOPES.iter().map(|s| s.to_string()).collect(),
        timeout: Duration::from_secs(20),
        caps: vec!["plugin-approvals".into()],
    };
    let client = openclaw_operator::OperatorClient::connect(&opts).await.expect("approver connects");
    let events = client.take_events().expect("events");
    (client, events)
}

type EventStream = tokio::sync::mpsc::UnboundedReceiver<openclaw_protocol::EventFrame>;

/// The next `name` event's payload.
async fn next_event(events: &mut EventStream, name: &str) -> Value {
    let wait = async {
        loop {
            let e = events.recv().await.expect("the approver stays connected");
            if e.event == name {
                return e.payload.unwrap_or(Value::Null);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait).await.unwrap_or_else(|_| panic!("no {name} event"))
}

/// A prompt answered allow-once, deny and allow-always by a second operator (the prompt's
/// fields checked), the allow-always grant, and no approver at all.
///
/// `peer_config` is the real Gateway's `openclaw.json`: it saves the grant there, but its
/// running policy still prompted for the very next identical call (it broadcast
/// `config.changed`; seen with this peer version), so there the saved grant is checked in the
/// file. Ours saves it in its database and the next identical call runs without a prompt.
fn prompt_flows(tmp: &Path, root: &Path, url: &str, token: &str, peer_config: Option<&Path>) {
    let r = root.to_string_lossy().into_owned();
    for name in ["once.txt", "denied.txt", "always.txt", "nobody.txt"] {
        std::fs::write(root.join(name), name).unwrap();
    }
    let cli_state = tmp.join("cli");
    let cli = {
        let (url, token, cli_state) = (url.to_string(), token.to_string(), cli_state.clone());
        move |path: String| {
            let (url, token, cli_state) = (url.clone(), token.clone(), cli_state.clone());
            move || our_cli(&url, &token, &cli_state, &["nodes", "files", "stat", "--node", NODE_NAME, &path, "--json"])
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (client, mut events) = approver(url, token).await;
        let node_id = client.request("node.list", json!({})).await.unwrap()["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["displayName"] == NODE_NAME))
            .map(|n| n["nodeId"].as_str().unwrap().to_string())
            .expect("the node is listed");
        for (name, decision) in [("once.txt", "allow-once"), ("denied.txt", "deny"), ("always.txt", "allow-always")] {
            let path = format!("{r}/{name}");
            let run = tokio::task::spawn_blocking(cli(path.clone()));
            let asked = next_event(&mut events, "plugin.approval.requested").await;
            let request = &asked["request"];
            assert_eq!(asked["approvalKind"], "plugin", "{asked}");
            assert!(asked["id"].as_str().unwrap().starts_with("plugin:"), "{asked}");
            assert_eq!(request["title"], format!("Read file metadata: {path}"), "{asked}");
            assert_eq!(
                request["description"],
                format!(
                    "Allow read file metadata on {NODE_NAME}\nPath: {path}\nNode ID: {node_id}\n\n\"allow-always\" saves this exact command and path for this node."
                ),
                "{asked}"
            );
            assert_eq!((request["severity"].as_str(), request["toolName"].as_str()), (Some("info"), Some("file.stat")));
            assert_eq!(request["pluginId"], "file-transfer", "{asked}");
            let listed = client.request("plugin.approval.list", json!({})).await.unwrap();
            assert!(listed.as_array().unwrap().iter().any(|e| e["id"] == asked["id"]), "{listed}");
            let resolved =
                client.request("plugin.approval.resolve", json!({"id": asked["id"], "decision": decision})).await;
            assert_eq!(resolved.unwrap(), json!({"ok": true}));
            let done = next_event(&mut events, "plugin.approval.resolved").await;
            assert_eq!((&done["id"], done["decision"].as_str()), (&asked["id"], Some(decision)), "{done}");
            let out = run.await.unwrap();
            if decision == "deny" {
                assert_eq!(code(&out), 2, "{}", stderr(&out));
                let text = format!("{}{}", stderr(&out), stdout(&out));
                assert!(text.contains("file.stat APPROVAL_DENIED: operator denied the prompt"), "{text}");
            } else {
                assert_eq!(code(&out), 0, "{decision}: {}", stderr(&out));
                let stat: Value = serde_json::from_str(&stdout(&out)).unwrap();
                assert_eq!(stat["size"].as_u64(), Some(name.len() as u64), "{stat}");
            }
        }
        if let Some(config) = peer_config {
            let saved: Value = serde_json::from_str(&std::fs::read_to_string(config).unwrap()).unwrap();
            let grants = &saved["plugins"]["entries"]["file-transfer"]["config"]["literalGrants"];
            assert_eq!(
                grants,
                &json!([{"nodeId": node_id, "command": "file.stat", "requestedPath": format!("{r}/always.txt"), "canonicalPath": format!("{r}/always.txt")}]),
                "{saved}"
            );
        } else {
            // allow-always saved a grant: the same call again runs without a prompt.
            let out = tokio::task::spawn_blocking(cli(format!("{r}/always.txt"))).await.unwrap();
            let mut seen = Vec::new();
            while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(500), events.recv()).await {
                seen.push(e.event);
            }
            assert!(!seen.iter().any(|e| e == "plugin.approval.requested"), "no prompt for a saved grant: {seen:?}");
            assert_eq!(code(&out), 0, "the saved grant allows it: {}{}", stderr(&out), stdout(&out));
        }
        // On a terminal, the CLI answers the prompt its own call raised.
        for (name, answer, exit, text) in [
            ("tty-once.txt", "o\n", 0, "\"size\""),
            ("tty-deny.txt", "d\n", 2, "file.stat APPROVAL_DENIED: operator denied the prompt"),
        ] {
            std::fs::write(root.join(name), name).unwrap();
            let path = format!("{r}/{name}");
            let (url, token, state) = (url.to_string(), token.to_string(), cli_state.clone());
            let out = tokio::task::spawn_blocking(move || {
                our_cli_on_tty(&url, &token, &state, &["nodes", "files", "stat", "--node", NODE_NAME, &path, "--json"], answer)
            })
            .await
            .unwrap();
            let shown = format!("{}{}", stdout(&out), stderr(&out));
            assert_eq!(code(&out), exit, "{shown}");
            assert!(shown.contains(&format!("Approval required: Read file metadata: {r}/{name}")), "{shown}");
            assert!(shown.contains(text), "{shown}");
        }
        // No client presents plugin prompts (the CLI's own connection does not): refused at once.
        client.close().await;
        let started = std::time::Instant::now();
        let out = tokio::task::spawn_blocking(cli(format!("{r}/nobody.txt"))).await.unwrap();
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        let text = format!("{}{}", stderr(&out), stdout(&out));
        assert!(
            text.contains("file.stat APPROVAL_UNAVAILABLE: no operator client connected to approve the request"),
            "{text}"
        );
        assert!(started.elapsed() < Duration::from_secs(30), "refused without waiting for a timeout");
    });
}
