//! Differential test of the gateway side of file transfer (`node-commands.md` §A3–A8
//! "Gateway policy"): our node host connects to the real Gateway and to ours, each with the same
//! `plugins.entries.file-transfer.config`, and every file command over a matrix of paths and
//! params must get the same `node.invoke` answer from both (ok, error code, message, details,
//! payload). The node is ours in both cases, so any difference is the gateway's.
//!
//! The configs cover deny by default, allow globs for reading and writing, `denyPaths`,
//! `followSymlinks` false and true with symlinks that leave the allowed tree, `maxBytes`
//! clamping, `..` segments, legacy rules, and the node entry by display name, by `"*"` and
//! missing. `dir.fetch` runs on a tree with a denied entry inside (refused per entry) and on a
//! clean tree (the archive is verified and passed on). `ask` modes are not compared: upstream
//! prompts an operator, which this gateway does not offer (it refuses instead, unit-tested).
//!
//! Each config is its own test (each starts a real Gateway, which takes a while). Deny by
//! default without any config, and legacy rules, are compared in `interop_command_policy.rs`.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const DISPLAY: &str = "ftpolicy-node";
const FILE_COMMANDS: &[&str] = &["file.stat", "file.fetch", "dir.list", "dir.fetch", "file.write", "file.create"];

/// The comparable part of a `node.invoke` answer: everything but the node id (each gateway
/// paired its own device).
fn comparable(res: &Value) -> Value {
    if res["ok"] == false {
        let e = &res["error"];
        return json!({"ok": false, "code": e["code"], "message": e["message"], "details": e["details"], "retryable": e["retryable"]});
    }
    json!({"ok": res["ok"], "command": res["command"], "payload": res["payload"], "payloadJSON": res["payloadJSON"]})
}

/// The fixture: an allowed tree with a secret inside, an outside tree, and symlinks that lead
/// out of the allowed tree.
fn fixture(root: &Path) {
    let mk = |p: &str, content: &str| {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    };
    mk("allowed/a.txt", "hello file transfer\n");
    mk("allowed/sub/b.txt", "bee\n");
    mk("allowed/secret/k.txt", "key\n");
    mk("allowed/w/t.txt", "old\n");
    mk("clean/one.txt", "1\n");
    mk("clean/nested/two.txt", "22\n");
    mk("outside/o.txt", "outside\n");
    std::os::unix::fs::symlink(root.join("outside/o.txt"), root.join("allowed/link")).unwrap();
    std::os::unix::fs::symlink(root.join("outside"), root.join("allowed/dirlink")).unwrap();
    std::os::unix::fs::symlink(root.join("allowed/a.txt"), root.join("allowed/inner-link")).unwrap();
}

fn configs(root: &str) -> Vec<(&'static str, Value)> {
    let allowed = format!("{root}/allowed");
    vec![
        (
            "display name, no symlinks",
            json!({"policyVersion": 2, "nodes": {DISPLAY: {
                "allowReadPaths": [allowed, format!("{allowed}/**"), format!("{root}/clean"), format!("{root}/clean/**")],
                "allowWritePaths": [format!("{allowed}/w/**")],
                "denyPaths": [format!("{allowed}/secret/**")],
                "maxBytes": 6,
            }}}),
        ),
        (
            "star, follow symlinks, allowed tree only",
            json!({"policyVersion": 2, "nodes": {"*": {
                "allowReadPaths": [format!("{allowed}/**"), format!("{root}/clean/**")],
                "followSymlinks": true,
            }}}),
        ),
        (
            "star, follow symlinks, everything but the secret",
            json!({"policyVersion": 2, "nodes": {"*": {
                "allowReadPaths": [format!("{root}/**")],
                "denyPaths": ["**/secret/**"],
                "followSymlinks": true,
                "maxBytes": 100000,
            }}}),
        ),
        ("entry for another node", json!({"policyVersion": 2, "nodes": {"someone-else": {"allowReadPaths": ["/**"]}}})),
    ]
}

fn cases(root: &str) -> Vec<(&'static str, Value)> {
    let p = |rel: &str| format!("{root}/{rel}");
    let mut out = Vec::new();
    for path in [
        p("allowed/a.txt"),
        p("allowed/secret/k.txt"),
        p("allowed/link"),
        p("allowed/inner-link"),
        p("allowed/dirlink/o.txt"),
        p("outside/o.txt"),
        p("allowed/../outside/o.txt"),
        p("allowed/missing"),
        "relative.txt".to_string(),
    ] {
        out.push(("file.stat", json!({"path": path})));
        out.push(("file.fetch", json!({"path": path})));
    }
    out.push(("file.fetch", json!({"path": p("allowed/a.txt"), "maxBytes": 3})));
    out.push(("file.fetch", json!({"path": p("allowed/a.txt"), "maxBytes": "1e9"})));
    out.push(("file.fetch", json!({"path": p("allowed/a.txt"), "maxBytes": 0})));
    out.push(("file.fetch", json!({"path": p("allowed/a.txt"), "followSymlinks": false})));
    out.push(("file.fetch", json!({"path": p("allowed/link"), "followSymlinks": false})));
    out.push((
        "file.fetch",
        json!({"path": p("allowed/a.txt"), "preflightOnly": true, "expectedCanonicalPath": p("outside/o.txt")}),
    ));
    out.push(("file.fetch", json!({"path": ""})));
    for dir in [p("allowed"), p("allowed/sub"), p("allowed/dirlink"), p("clean"), p("outside"), p("allowed/secret")] {
        out.push(("dir.list", json!({"path": dir})));
        out.push(("dir.fetch", json!({"path": dir})));
    }
    out.push(("dir.fetch", json!({"path": p("clean"), "maxBytes": 1})));
    let content = "bmV3Cg=="; // "new\n"
    out.push(("file.write", json!({"path": p("allowed/w/t.txt"), "contentBase64": content, "overwrite": true})));
    out.push(("file.write", json!({"path": p("allowed/a.txt"), "contentBase64": content, "overwrite": true})));
    out.push(("file.write", json!({"path": p("allowed/w/../a.txt"), "contentBase64": content})));
    out.push(("file.create", json!({"path": p("allowed/w/c.txt")})));
    out
}

/// Pairs `node_id`'s device and approves its command surface on one gateway.
fn pair(call: &dyn Fn(&str, Value) -> Value, node_id: &str) {
    let device = wait_for_value(Duration::from_secs(30), "device pairing request", || {
        let list = call("device.pair.list", json!({}));
        list["pending"].as_array()?.iter().find(|r| r["deviceId"] == node_id).cloned()
    });
    call("device.pair.approve", json!({"requestId": device["requestId"]}));
    let requests = wait_for_value(Duration::from_secs(40), "node surface request", || {
        let list = call("node.pair.list", json!({}));
        let ids: Vec<Value> = list["pending"]
            .as_array()?
            .iter()
            .filter(|r| r["nodeId"] == node_id)
            .map(|r| r["requestId"].clone())
            .collect();
        (!ids.is_empty()).then_some(ids)
    });
    for id in requests {
        call("node.pair.approve", json!({"requestId": id}));
    }
}

/// Runs the matrix under config `index` of [`configs`] on both gateways.
fn compare_config(index: usize) {
    if !peer_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fx");
    fixture(&root);
    let root_s = root.to_str().unwrap().to_string();
    let mut compared = 0;
    let mut failures = Vec::new();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for (i, (label, policy)) in configs(&root_s).into_iter().enumerate().filter(|(i, _)| *i == index) {
        eprintln!("config {i}: {label}");
        let mut config = json!({"gateway": {"nodes": {"commands": {"allow": FILE_COMMANDS}}}});
        if !policy.is_null() {
            config["plugins"] = json!({"entries": {"file-transfer": {"config": policy}}});
        }
        std::env::set_var("PEER_EXTRA_CONFIG", config.to_string());
        let theirs = PeerGateway::start(&format!("ftpolicy{i}"), &["--no-local-auto-approve"]);
        std::env::remove_var("PEER_EXTRA_CONFIG");
        let ours_dir = tmp.path().join(format!("gw{i}"));
        std::fs::create_dir_all(&ours_dir).unwrap();
        std::fs::write(ours_dir.join("openclaw.json"), config.to_string()).unwrap();
        let ours = OurGateway::start(&ours_dir, &["--no-local-auto-approve"]);
        let mut nodes = Vec::new();
        for (name, port, token) in
            [("theirs", theirs.port, theirs.token.clone()), ("ours", ours.port, ours.token.clone())]
        {
            let state = tmp.path().join(format!("node-{i}-{name}"));
            let port = port.to_string();
            let mut node = OurNode::spawn(
                &state,
                &["--port", &port, "--display-name", DISPLAY],
                &[("OPENCLAW_GATEWAY_TOKEN", &token)],
            );
            node.wait_for_log("openclaw devices approve", 1, Duration::from_secs(30));
            nodes.push((node, our_identity(&state)["deviceId"].as_str().unwrap().to_string()));
        }
        let their_call = |m: &str, p: Value| theirs.call(m, p);
        let our_call = |m: &str, p: Value| operator_call(&ours.url(), None, &ours.token, m, p);
        pair(&their_call, &nodes[0].1);
        pair(&our_call, &nodes[1].1);
        std::thread::sleep(Duration::from_millis(500));
        for (command, params) in cases(&root_s) {
            let invoke = |call: &dyn Fn(&str, Value) -> Value, node_id: &str| {
                comparable(&call(
                    "node.invoke",
                    json!({"nodeId": node_id, "command": command, "params": params,
                           "idempotencyKey": uuid::Uuid::new_v4().to_string(), "timeoutMs": 20000}),
                ))
            };
            let a = invoke(&their_call, &nodes[0].1);
            let b = invoke(&our_call, &nodes[1].1);
            compared += 1;
            let kind = match (&a["ok"], &a["details"]["code"], &a["payload"]["code"]) {
                (Value::Bool(false), Value::String(c), _) => c.clone(),
                (Value::Bool(true), _, Value::String(c)) => format!("node {c}"),
                (Value::Bool(true), _, _) => "ok".into(),
                _ => format!("{}", a["code"]),
            };
            *kinds.entry(kind).or_default() += 1;
            if a != b {
                failures.push(format!("[{label}] {command} {params}:\n  theirs: {a}\n  ours:   {b}"));
            }
        }
        drop(nodes);
    }
    eprintln!("outcomes through the real Gateway: {kinds:?}");
    assert!(failures.is_empty(), "{} of {compared} differ:\n{}", failures.len(), failures.join("\n"));
    let served = kinds.iter().filter(|(k, _)| *k == "ok" || k.starts_with("node ")).map(|(_, n)| n).sum::<usize>();
    assert!(index == 3 || served > 3, "too few calls reached the node to mean anything: {kinds:?}");
    eprintln!("file policy: {compared} cases compared, all equal");
}

#[test]
fn policy_by_display_name_without_symlinks() {
    compare_config(0);
}

#[test]
fn policy_star_following_symlinks_inside_the_tree() {
    compare_config(1);
}

#[test]
fn policy_star_following_symlinks_everywhere_but_the_secret() {
    compare_config(2);
}

#[test]
fn policy_with_no_entry_for_the_node() {
    compare_config(3);
}
