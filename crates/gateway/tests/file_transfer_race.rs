//! A binding race through our gateway: the requested file is swapped for a symlink between the
//! file-transfer preflight and the bound call. The node here is scripted by the test (a node
//! that does not honour the binding and resolves the path again), so the gateway's own last
//! line of defence is what is checked: the result names a different canonical path, and the
//! gateway refuses it (`CANONICAL_PATH_CHANGED`) instead of passing the symlink target's
//! content on. The bound request must carry the preflight's canonical path and identity.

mod common;

use std::os::unix::fs::MetadataExt;

use common::*;
use openclaw_protocol::device_auth::DeviceIdentity;
use serde_json::{json, Value};

fn binding_of(path: &std::path::Path) -> Value {
    let m = std::fs::metadata(path).unwrap();
    json!({"kind": "existing", "device": m.dev().to_string(), "inode": m.ino().to_string()})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_swapped_for_a_symlink_after_preflight_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let allowed = root.join("allowed");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(root.join("outside")).unwrap();
    let target = allowed.join("report.txt");
    let secret = root.join("outside/secret.txt");
    std::fs::write(&target, "public\n").unwrap();
    std::fs::write(&secret, "secret\n").unwrap();
    let allowed_glob = format!("{}/**", allowed.display());
    let gw = start(move |c| {
        c.node_commands.allow = vec!["file.fetch".into()];
        c.file_transfer = Some(json!({"policyVersion": 2, "nodes": {"*": {
            "allowReadPaths": [allowed_glob], "followSymlinks": true
        }}}));
    })
    .await;
    let mut admin = operator(gw.addr, &["operator.admin"]).await;
    let id = DeviceIdentity::generate();
    let node_id = id.device_id();
    let mut node = approved_node(gw.addr, &mut admin, &id, &["file.fetch"]).await;
    let path = target.to_str().unwrap().to_string();
    let call = admin
        .start(
            "node.invoke",
            json!({"nodeId": node_id, "command": "file.fetch", "params": {"path": path}, "idempotencyKey": "k"}),
        )
        .await;

    // Preflight: the node resolves the real file and reports its identity.
    let preflight = node.event("node.invoke.request").await;
    let params: Value = serde_json::from_str(preflight["paramsJSON"].as_str().unwrap()).unwrap();
    assert_eq!(params["preflightOnly"], true, "{params}");
    let original = binding_of(&target);
    let answer = json!({"ok": true, "path": path, "size": 7, "mimeType": "", "base64": "", "sha256": "",
                        "binding": original, "preflightOnly": true});
    node.ok(
        "node.invoke.result",
        json!({"id": preflight["id"], "nodeId": node_id, "ok": true, "payloadJSON": answer.to_string()}),
    )
    .await;

    // The race: the file becomes a symlink out of the allowed tree.
    std::fs::remove_file(&target).unwrap();
    std::os::unix::fs::symlink(&secret, &target).unwrap();

    // The bound call carries the preflight's canonical path and identity…
    let bound = node.event("node.invoke.request").await;
    let params: Value = serde_json::from_str(bound["paramsJSON"].as_str().unwrap()).unwrap();
    assert_eq!(params["expectedCanonicalPath"], path.as_str());
    assert_eq!(params["expectedBinding"], original);
    assert!(params.get("preflightOnly").is_none(), "{params}");
    // …and a node that ignores them resolves the path again: the symlink's target.
    let resolved = std::fs::canonicalize(&target).unwrap();
    assert_eq!(resolved, secret);
    let answer = json!({"ok": true, "path": resolved, "size": 7, "mimeType": "text/plain",
                        "base64": "c2VjcmV0Cg==", "sha256": "x", "binding": binding_of(&resolved)});
    node.ok(
        "node.invoke.result",
        json!({"id": bound["id"], "nodeId": node_id, "ok": true, "payloadJSON": answer.to_string()}),
    )
    .await;

    let res = admin.response(&call).await;
    assert_eq!(res["ok"], false, "{res}");
    let error = &res["error"];
    assert_eq!(error["code"], "INVALID_REQUEST");
    assert_eq!(
        error["message"],
        "file.fetch CANONICAL_PATH_CHANGED: the canonical path changed after preflight; refusing the result"
    );
    assert_eq!(
        error["details"],
        json!({"path": secret.to_str().unwrap(), "nodeCommandDispatched": true, "code": "CANONICAL_PATH_CHANGED"})
    );
    assert!(!res.to_string().contains("c2VjcmV0Cg=="), "the secret's content must not come back: {res}");
    gw.shutdown().await;
}
