mod common;
use common::*;
use openclaw_protocol::device_auth::DeviceIdentity;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explore() {
    let gw = start(|_| {}).await;
    let id = DeviceIdentity::generate();
    let mut n = node(gw.addr, &id).await;
    let mut op = operator(gw.addr, &["operator.admin"]).await;
    let mut ro = operator(gw.addr, &["operator.read"]).await;
    println!("HELLO {}", op.hello["features"]);
    for (m, p) in [
        ("health", json!({})),
        ("node.list", json!({})),
        ("node.describe", json!({"nodeId": id.device_id()})),
        ("node.describe", json!({})),
        ("node.rename", json!({"nodeId": id.device_id(), "displayName": "box"})),
        ("node.pair.list", json!({})),
        ("device.pair.list", json!({})),
        ("exec.approval.list", json!({})),
        ("audit.list", json!({})),
        ("node.pair.approve", json!({"requestId": "x"})),
        ("node.pair.reject", json!({})),
        ("device.pair.remove", json!({})),
        ("device.pair.approve", json!({"requestId": "nope"})),
        ("exec.approval.get", json!({})),
        ("exec.approval.get", json!({"id": "x"})),
        ("exec.approval.waitDecision", json!({"id": "x"})),
        ("exec.approval.resolve", json!({"id": "x", "decision": "deny"})),
        ("exec.approvals.node.get", json!({"nodeId": "zz"})),
        ("exec.approvals.node.set", json!({"nodeId": id.device_id()})),
        ("node.invoke", json!({"nodeId": id.device_id(), "command": "system.which", "idempotencyKey": "k"})),
        (
            "node.invoke",
            json!({"nodeId": id.device_id(), "command": "system.execApprovals.get", "idempotencyKey": "k"}),
        ),
        ("bogus.method", json!({})),
    ] {
        println!("OP {m} {p} => {}", op.call(m, p.clone()).await);
    }
    for (m, p) in [
        ("node.list", json!({})),
        ("node.rename", json!({})),
        ("audit.list", json!({})),
        ("exec.approval.list", json!({})),
        ("node.invoke", json!({})),
        ("bogus", json!({})),
    ] {
        println!("RO {m} {p} => {}", ro.call(m, p.clone()).await);
    }
    for (m, p) in [
        ("node.pending.pull", json!({})),
        ("node.pending.drain", json!({})),
        ("node.pending.ack", json!({})),
        ("node.invoke.progress", json!({})),
        ("skills.bins", json!({})),
        ("node.skills.update", json!({"skills": [1]})),
        ("node.pluginTools.update", json!({})),
        ("node.runnerInventory.update", json!({})),
        ("node.pluginSurface.refresh", json!({})),
        ("node.event", json!({})),
        ("node.event", json!({"event": "x"})),
        ("node.event", json!({"event": "exec.finished", "payload": {"runId": "r1", "command": "ls"}})),
        ("node.invoke.result", json!({"id": "i", "nodeId": "other", "ok": true})),
        ("node.invoke.result", json!({"id": "i", "nodeId": id.device_id(), "ok": true, "payloadJSON": null})),
        ("node.list", json!({})),
    ] {
        println!("NODE {m} {p} => {}", n.call(m, p.clone()).await);
    }
    println!("OP audit => {}", op.call("audit.list", json!({})).await);
    println!("OP exec.event => {}", op.event("exec.event").await);
    gw.shutdown().await;
}
