//! Every method family through an in-process gateway, one module per family
//! (`crate::methods::<family>` in the gateway): the happy path with its exact JSON (key order
//! included), and refusals (scope, params text). A method whose table row went missing would
//! answer `unknown method` (or `unauthorized role`) here and fail its module's test.

mod common;

use common::*;
use openclaw_protocol::device_auth::DeviceIdentity;
use serde_json::{json, Value};

/// Keys whose values change from run to run.
const VOLATILE: &[&str] = &[
    "ts",
    "tsMs",
    "uptimeMs",
    "connectedAtMs",
    "lastConnectedAtMs",
    "lastSeenAtMs",
    "approvedAtMs",
    "createdAtMs",
    "expiresAtMs",
    "requestId",
    "pendingRequestId",
    "publicKey",
    "id",
];

fn missing_scope(scope: &str) -> Value {
    json!({"code": "FORBIDDEN", "message": format!("missing scope: {scope}"),
           "details": {"code": "MISSING_SCOPE", "missingScope": scope, "requiredScopes": [scope]}})
}

fn invalid(message: &str) -> Value {
    json!({"code": "INVALID_REQUEST", "message": message})
}

/// The method table as peers see it: `hello-ok.features.methods`, in order, and the gates.
mod table {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hello_advertises_every_method_in_order() {
        let gw = start(|_| {}).await;
        let op = operator(gw.addr, &["operator.admin"]).await;
        assert_json(
            &op.hello["features"]["methods"],
            json!([
                "health",
                "status",
                "node.list",
                "node.describe",
                "node.rename",
                "node.invoke",
                "node.pair.list",
                "node.pair.approve",
                "node.pair.reject",
                "node.pair.remove",
                "device.pair.list",
                "device.pair.approve",
                "device.pair.reject",
                "device.pair.remove",
                "device.pair.rename",
                "device.token.rotate",
                "device.token.revoke",
                "exec.approvals.node.get",
                "exec.approvals.node.set",
                "exec.approval.request",
                "exec.approval.get",
                "exec.approval.list",
                "exec.approval.waitDecision",
                "exec.approval.resolve",
                "plugin.approval.list",
                "plugin.approval.request",
                "plugin.approval.waitDecision",
                "plugin.approval.resolve",
                "audit.list",
                "node.invoke.result",
                "node.invoke.progress",
                "node.event",
                "node.pending.pull",
                "node.pending.ack",
                "node.pending.drain",
                "node.pluginTools.update",
                "node.skills.update",
                "node.runnerInventory.update",
                "node.pluginSurface.refresh",
                "skills.bins",
            ]),
        );
        gw.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_methods_need_admin_and_node_methods_need_a_node() {
        let gw = start(|_| {}).await;
        let mut admin = operator(gw.addr, &["operator.admin"]).await;
        assert_json(&admin.err("bogus.method", json!({})).await, invalid("unknown method: bogus.method"));
        assert_json(&admin.err("node.event", json!({})).await, invalid("unauthorized role: operator"));
        // Only an admin learns that a method does not exist.
        let mut reader = operator(gw.addr, &["operator.read"]).await;
        assert_json(&reader.err("bogus.method", json!({})).await, missing_scope("operator.admin"));
        // operator.write implies read.
        let mut writer = operator(gw.addr, &["operator.write"]).await;
        assert_eq!(writer.ok("node.list", json!({})).await["nodes"], json!([]));
        let mut node = node(gw.addr, &DeviceIdentity::generate()).await;
        assert_json(&node.err("health", json!({})).await, invalid("unauthorized role: node"));
        assert_json(&node.err("bogus.method", json!({})).await, invalid("unauthorized role: node"));
        gw.shutdown().await;
    }
}

/// `methods::node`: what a node calls.
mod node {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn node_side_methods() {
        let gw = start(|_| {}).await;
        let id = DeviceIdentity::generate();
        let node_id = id.device_id();
        let mut node = node(gw.addr, &id).await;
        let mut admin = operator(gw.addr, &["operator.admin"]).await;
        let empty_queue = json!({"nodeId": node_id, "revision": 0, "items": [], "hasMore": false});
        assert_json(&node.ok("node.pending.pull", json!({})).await, empty_queue.clone());
        assert_json(&node.ok("node.pending.drain", json!({})).await, empty_queue);
        assert_json(&node.ok("node.pending.ack", json!({})).await, json!({"ok": true}));
        assert_json(&node.ok("node.invoke.progress", json!({})).await, json!({"ok": true, "ignored": true}));
        assert_json(&node.ok("skills.bins", json!({})).await, json!({"bins": []}));
        assert_json(
            &node.ok("node.skills.update", json!({"skills": ["a"]})).await,
            json!({"nodeId": node_id, "skills": ["a"]}),
        );
        assert_json(&node.ok("node.pluginTools.update", json!({})).await, json!({"nodeId": node_id, "tools": []}));
        // Advertised, deliberately unanswered.
        for m in ["node.runnerInventory.update", "node.pluginSurface.refresh"] {
            assert_json(&node.err(m, json!({})).await, invalid(&format!("unknown method: {m}")));
        }
        assert_json(
            &node.err("node.event", json!({})).await,
            invalid("invalid node.event params: must have required property 'event'"),
        );
        assert_json(
            &node.ok("node.event", json!({"event": "x"})).await,
            json!({"ok": true, "event": "x", "handled": false, "reason": "unsupported_event"}),
        );
        assert_json(
            &node.ok("node.event", json!({"event": "node.host.stats", "payloadJSON": "{"})).await,
            json!({"ok": true, "event": "node.host.stats", "handled": false, "reason": "invalid_payload"}),
        );
        assert_json(
            &node.ok("node.event", json!({"event": "node.host.stats", "payload": {"cpu": 1}})).await,
            json!({"ok": true, "event": "node.host.stats", "handled": true, "reason": "updated"}),
        );
        let described = admin.ok("node.describe", json!({"nodeId": node_id})).await;
        assert_eq!(described["hostStats"]["cpu"], 1, "{described}");
        assert!(described["hostStats"]["updatedAtMs"].is_i64(), "{described}");
        assert_json(
            &node.err("node.invoke.result", json!({"id": "i", "nodeId": "other", "ok": true})).await,
            invalid("nodeId mismatch"),
        );
        assert_json(
            &node.err("node.invoke.result", json!({"id": "i", "ok": true})).await,
            invalid("invalid node.invoke.result params: must have required property 'nodeId'"),
        );
        // A result nobody waits for (nulls stripped before validation).
        assert_json(
            &node
                .ok("node.invoke.result", json!({"id": "i", "nodeId": node_id, "ok": true, "payloadJSON": null}))
                .await,
            json!({"ok": true, "ignored": true}),
        );
        gw.shutdown().await;
    }
}

/// `methods::health`.
mod health {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn health_and_status() {
        let gw = start(|_| {}).await;
        let _node = node(gw.addr, &DeviceIdentity::generate()).await;
        let mut reader = operator(gw.addr, &["operator.read"]).await;
        for m in ["health", "status"] {
            assert_json(
                &scrub(reader.ok(m, json!({})).await, VOLATILE),
                json!({"ok": true, "ts": "<scrubbed>", "uptimeMs": "<scrubbed>", "connections": 2, "nodes": 1}),
            );
        }
        let mut nobody = operator(gw.addr, &[]).await;
        assert_json(&nobody.err("health", json!({})).await, missing_scope("operator.read"));
        assert_json(&nobody.err("status", json!({})).await, missing_scope("operator.read"));
        gw.shutdown().await;
    }
}

/// `methods::nodes`: list, describe, rename.
mod nodes {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn list_describe_rename() {
        let gw = start(|_| {}).await;
        let id = DeviceIdentity::generate();
        let node_id = id.device_id();
        let _node = node(gw.addr, &id).await;
        let mut reader = operator(gw.addr, &["operator.read"]).await;
        let entry = json!({
            "nodeId": node_id, "platform": "linux", "version": "2026.9.6", "clientId": "node-host",
            "clientMode": "node", "deviceFamily": "Linux", "caps": ["system"], "commands": [],
            "sessionHost": false, "nodePluginTools": [], "approvalState": "pending-approval",
            "pendingRequestId": "<scrubbed>", "pendingDeclaredCaps": ["system"],
            "pendingDeclaredCommands": ["system.which"], "connectedAtMs": "<scrubbed>",
            "lastConnectedAtMs": "<scrubbed>", "paired": true, "connected": true,
        });
        assert_json(
            &scrub(reader.ok("node.list", json!({})).await, VOLATILE),
            json!({"ts": "<scrubbed>", "nodes": [entry.clone()]}),
        );
        let mut described = entry;
        described["ts"] = json!("<scrubbed>");
        assert_json(&scrub(reader.ok("node.describe", json!({"nodeId": node_id})).await, VOLATILE), described);
        assert_json(
            &reader.err("node.describe", json!({})).await,
            invalid("invalid node.describe params: must have required property 'nodeId'"),
        );
        assert_json(&reader.err("node.describe", json!({"nodeId": "nope"})).await, invalid("unknown nodeId"));
        assert_json(
            &reader.err("node.rename", json!({"nodeId": node_id, "displayName": "box"})).await,
            missing_scope("operator.pairing"),
        );

        // A rename needs an approved surface, and wins over the name the node reports.
        let mut admin = operator(gw.addr, &["operator.admin"]).await;
        assert_json(
            &admin.err("node.rename", json!({"nodeId": node_id, "displayName": "box"})).await,
            invalid("unknown nodeId"),
        );
        let id2 = DeviceIdentity::generate();
        let _approved = approved_node(gw.addr, &mut admin, &id2, &["system.which"]).await;
        let mut pairer = operator(gw.addr, &["operator.pairing"]).await;
        assert_json(
            &pairer.ok("node.rename", json!({"nodeId": id2.device_id(), "displayName": " box "})).await,
            json!({"nodeId": id2.device_id(), "displayName": "box"}),
        );
        assert_json(
            &pairer.err("node.rename", json!({"nodeId": id2.device_id(), "displayName": " "})).await,
            invalid("displayName required"),
        );
        assert_json(
            &pairer.err("node.rename", json!({"nodeId": id2.device_id()})).await,
            invalid("invalid node.rename params: must have required property 'displayName'"),
        );
        let described = reader.ok("node.describe", json!({"nodeId": id2.device_id()})).await;
        assert_eq!(described["displayName"], "box", "{described}");
        assert_eq!(described["approvalState"], "approved", "{described}");
        assert_eq!(described["commands"], json!(["system.which"]), "{described}");
        // Connected first, then by name (both are connected; the unnamed one sorts as "").
        let list = reader.ok("node.list", json!({})).await;
        let order: Vec<&str> =
            list["nodes"].as_array().unwrap().iter().map(|n| n["nodeId"].as_str().unwrap()).collect();
        assert_eq!(order, [node_id.as_str(), id2.device_id().as_str()]);
        gw.shutdown().await;
    }
}

/// `methods::invoke`: `node.invoke` and the node's side of it.
mod invoke {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invoke_round_trip_and_refusals() {
        let gw = start(|_| {}).await;
        let mut admin = operator(gw.addr, &["operator.admin"]).await;
        let id = DeviceIdentity::generate();
        let node_id = id.device_id();
        let mut node = approved_node(gw.addr, &mut admin, &id, &["system.which"]).await;
        let call = admin
            .start(
                "node.invoke",
                json!({"nodeId": node_id, "command": "system.which", "params": {"bins": ["sh"]}, "idempotencyKey": "k1"}),
            )
            .await;
        let request = node.event("node.invoke.request").await;
        assert_json(
            &scrub(request.clone(), VOLATILE),
            json!({"id": "<scrubbed>", "nodeId": node_id, "command": "system.which",
                   "paramsJSON": "{\"bins\":[\"sh\"]}", "timeoutMs": 30000, "idempotencyKey": "k1"}),
        );
        let result = json!({"id": request["id"], "nodeId": node_id, "ok": true, "payloadJSON": "{\"bins\":{}}"});
        assert_json(&node.ok("node.invoke.result", result).await, json!({"ok": true}));
        let res = admin.response(&call).await;
        assert_json(
            &res["payload"],
            json!({"ok": true, "nodeId": node_id, "command": "system.which", "payload": {"bins": {}},
                   "payloadJSON": "{\"bins\":{}}"}),
        );

        // A node error comes back as UNAVAILABLE with details.nodeError.
        let call = admin
            .start("node.invoke", json!({"nodeId": node_id, "command": "system.which", "idempotencyKey": "k2"}))
            .await;
        let request = node.event("node.invoke.request").await;
        let failed = json!({"id": request["id"], "nodeId": node_id, "ok": false,
                            "error": {"code": "BAD", "message": "no"}});
        node.ok("node.invoke.result", failed).await;
        assert_json(
            &admin.response(&call).await["error"],
            json!({"code": "UNAVAILABLE", "message": "BAD: no",
                   "details": {"nodeError": {"code": "BAD", "message": "no"}, "nodeCommandDispatched": true}}),
        );

        assert_json(
            &admin.err("node.invoke", json!({"nodeId": node_id, "command": "system.which"})).await,
            invalid("invalid node.invoke params: must have required property 'idempotencyKey'"),
        );
        assert_json(
            &admin
                .err(
                    "node.invoke",
                    json!({"nodeId": node_id, "command": "system.execApprovals.get", "idempotencyKey": "k"}),
                )
                .await,
            json!({"code": "INVALID_REQUEST",
                   "message": "node.invoke does not allow system.execApprovals.*; use exec.approvals.node.*",
                   "details": {"command": "system.execApprovals.get"}}),
        );
        assert_json(
            &admin
                .err("node.invoke", json!({"nodeId": node_id, "command": "camera.snap", "idempotencyKey": "k"}))
                .await,
            json!({"code": "INVALID_REQUEST", "message": "node command not allowed: \"camera.snap\" requires explicit gateway.nodes.commands.allow opt-in",
                   "details": {"command": "camera.snap", "reason": "command not allowlisted"}}),
        );
        assert_json(
            &admin.err("node.invoke", json!({"nodeId": node_id, "command": "sms.status", "idempotencyKey": "k"})).await,
            json!({"code": "INVALID_REQUEST", "message": "node command not allowed: \"sms.status\" is not in the allowlist for platform \"linux\"",
                   "details": {"command": "sms.status", "reason": "command not allowlisted"}}),
        );
        // A desktop-host command the node never declared is not even on its runtime allowlist
        // (only approval puts it there); a default one it did not declare is "not supported".
        assert_json(
            &admin.err("node.invoke", json!({"nodeId": node_id, "command": "system.run", "idempotencyKey": "k"})).await,
            json!({"code": "INVALID_REQUEST", "message": "node command not allowed: \"system.run\" is not in the allowlist for platform \"linux\"",
                   "details": {"command": "system.run", "reason": "command not allowlisted"}}),
        );
        assert_json(
            &admin
                .err("node.invoke", json!({"nodeId": node_id, "command": "system.notify", "idempotencyKey": "k"}))
                .await,
            json!({"code": "INVALID_REQUEST", "message": "node command not allowed: the node (platform: linux) does not support \"system.notify\"",
                   "details": {"command": "system.notify", "reason": "command not declared by node"}}),
        );
        assert_json(
            &admin
                .err("node.invoke", json!({"nodeId": "nope", "command": "system.which", "idempotencyKey": "k"}))
                .await,
            invalid("unknown nodeId"),
        );
        let mut writer = operator(gw.addr, &["operator.write"]).await;
        assert_json(
            &writer
                .err("node.invoke", json!({"nodeId": node_id, "command": "fs.listDir", "idempotencyKey": "k"}))
                .await,
            missing_scope("operator.admin"),
        );
        let mut reader = operator(gw.addr, &["operator.read"]).await;
        assert_json(&reader.err("node.invoke", json!({})).await, missing_scope("operator.write"));
        gw.shutdown().await;
    }
}

/// `methods::node_pair`.
mod node_pair {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn list_approve_reject_remove() {
        let gw = start(|_| {}).await;
        let id = DeviceIdentity::generate();
        let node_id = id.device_id();
        let mut node = node(gw.addr, &id).await;
        let mut pairer = operator(gw.addr, &["operator.pairing"]).await;
        let pending = json!({
            "requestId": "<scrubbed>", "nodeId": node_id, "clientId": "node-host", "clientMode": "node",
            "platform": "linux", "version": "2026.9.6", "deviceFamily": "Linux", "caps": ["system"],
            "commands": ["system.which"], "requiredApproveScopes": ["operator.pairing", "operator.admin"],
            "ts": "<scrubbed>",
        });
        let list = pairer.ok("node.pair.list", json!({})).await;
        assert_json(&scrub(list.clone(), VOLATILE), json!({"pending": [pending], "paired": []}));
        let request_id = list["pending"][0]["requestId"].clone();

        // system.which needs admin to approve.
        let mut e = missing_scope("operator.admin");
        e["details"]["requiredScopes"] = json!(["operator.pairing", "operator.admin"]);
        assert_json(&pairer.err("node.pair.approve", json!({"requestId": request_id})).await, e);
        assert_json(
            &pairer.err("node.pair.approve", json!({})).await,
            invalid("invalid node.pair.approve params: must have required property 'requestId'"),
        );
        assert_json(&pairer.err("node.pair.approve", json!({"requestId": "nope"})).await, invalid("unknown requestId"));

        let mut admin = operator(gw.addr, &["operator.admin"]).await;
        let approved = admin.ok("node.pair.approve", json!({"requestId": request_id})).await;
        assert_eq!(approved["requestId"], request_id);
        assert_json(
            &scrub(approved.clone(), VOLATILE),
            json!({"requestId": "<scrubbed>", "node": {
                "nodeId": node_id, "clientId": "node-host", "clientMode": "node", "platform": "linux",
                "version": "2026.9.6", "deviceFamily": "Linux", "caps": ["system"], "commands": ["system.which"],
                "createdAtMs": "<scrubbed>", "approvedAtMs": "<scrubbed>", "lastSeenAtMs": "<scrubbed>",
                "lastSeenReason": "approved"}}),
        );
        let told = node.event("node.pair.resolved").await;
        assert_eq!(told["decision"], "approved", "{told}");
        let list = pairer.ok("node.pair.list", json!({})).await;
        assert_eq!(list["pending"], json!([]));
        assert_eq!(scrub(list["paired"][0].clone(), VOLATILE), scrub(approved["node"].clone(), VOLATILE));

        assert_json(&pairer.err("node.pair.reject", json!({"requestId": "nope"})).await, invalid("unknown requestId"));
        assert_json(&pairer.ok("node.pair.remove", json!({"nodeId": node_id})).await, json!({"nodeId": node_id}));
        assert_eq!(close_of(&mut node.ws).await, (4001, "device removed".into()));
        let mut reader = operator(gw.addr, &["operator.read"]).await;
        assert_json(&reader.err("node.pair.list", json!({})).await, missing_scope("operator.pairing"));
        gw.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reject() {
        let gw = start(|_| {}).await;
        let id = DeviceIdentity::generate();
        let _node = node(gw.addr, &id).await;
        let mut pairer = operator(gw.addr, &["operator.pairing"]).await;
        let list = pairer.ok("node.pair.list", json!({})).await;
        let request_id = list["pending"][0]["requestId"].clone();
        assert_json(
            &pairer.ok("node.pair.reject", json!({"requestId": request_id})).await,
            json!({"requestId": request_id, "nodeId": id.device_id()}),
        );
        assert_eq!(pairer.ok("node.pair.list", json!({})).await["pending"], json!([]));
        gw.shutdown().await;
    }
}

/// `methods::device_pair`.
mod device_pair {
    use super::*;

    /// A node device asking to pair while silent local pairing is off: refused, with a request.
    async fn pending_device(addr: std::net::SocketAddr) -> (DeviceIdentity, Value) {
        let id = DeviceIdentity::generate();
        let (mut ws, challenge) = open(addr).await;
        send(&mut ws, node_connect(&id, &challenge, TOKEN)).await;
        let res = next_json(&mut ws).await.unwrap();
        assert_eq!(res["error"]["details"]["code"], "PAIRING_REQUIRED", "{res}");
        (id, res["error"]["details"]["requestId"].clone())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn list_approve_reject_remove() {
        let gw = start(|c| c.auto_approve_local = false).await;
        let (id, request_id) = pending_device(gw.addr).await;
        let mut pairer = operator(gw.addr, &["operator.pairing"]).await;
        let list = pairer.ok("device.pair.list", json!({})).await;
        assert_eq!(list["paired"], json!([]));
        assert_eq!(list["pending"][0]["requestId"], request_id, "{list}");
        assert_eq!(list["pending"][0]["deviceId"], id.device_id().as_str(), "{list}");
        assert_eq!(list["pending"][0]["roles"], json!(["node"]), "{list}");

        // A node role is beyond an operator.pairing approver.
        assert_json(
            &pairer.err("device.pair.approve", json!({"requestId": request_id})).await,
            invalid("device pairing approval denied"),
        );
        assert_json(
            &pairer.err("device.pair.approve", json!({})).await,
            invalid("invalid device.pair.approve params: must have required property 'requestId'"),
        );
        let mut admin = operator(gw.addr, &["operator.admin"]).await;
        let approved = admin.ok("device.pair.approve", json!({"requestId": request_id})).await;
        assert_eq!(approved.as_object().unwrap().keys().collect::<Vec<_>>(), ["requestId", "device"], "{approved}");
        assert_json(
            &scrub(approved["device"].clone(), VOLATILE),
            json!({"deviceId": id.device_id(), "publicKey": "<scrubbed>", "platform": "linux",
                   "deviceFamily": "Linux", "clientId": "node-host", "clientMode": "node", "role": "node",
                   "roles": ["node"], "scopes": [], "createdAtMs": "<scrubbed>", "approvedAtMs": "<scrubbed>",
                   "approvedVia": "owner", "tokens": []}),
        );
        let list = pairer.ok("device.pair.list", json!({})).await;
        assert_eq!(list["pending"], json!([]));
        assert_eq!(list["paired"][0]["deviceId"], id.device_id().as_str());

        let (other, other_request) = pending_device(gw.addr).await;
        assert_json(
            &pairer.ok("device.pair.reject", json!({"requestId": other_request})).await,
            json!({"requestId": other_request, "deviceId": other.device_id()}),
        );
        assert_json(
            &pairer.err("device.pair.reject", json!({"requestId": "nope"})).await,
            invalid("unknown requestId"),
        );
        assert_json(
            &pairer.ok("device.pair.remove", json!({"deviceId": id.device_id()})).await,
            json!({"deviceId": id.device_id()}),
        );
        assert_json(
            &pairer.err("device.pair.remove", json!({})).await,
            invalid("invalid device.pair.remove params: must have required property 'deviceId'"),
        );
        let mut reader = operator(gw.addr, &["operator.read"]).await;
        assert_json(&reader.err("device.pair.list", json!({})).await, missing_scope("operator.pairing"));
        gw.shutdown().await;
    }
}

/// `methods::exec_approvals`: the node's policy file, relayed.
mod exec_approvals {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn get_and_set_are_relayed() {
        let gw = start(|_| {}).await;
        let mut admin = operator(gw.addr, &["operator.admin"]).await;
        let id = DeviceIdentity::generate();
        let node_id = id.device_id();
        let commands = ["system.execApprovals.get", "system.execApprovals.set"];
        let mut node = approved_node(gw.addr, &mut admin, &id, &commands).await;

        let call = admin.start("exec.approvals.node.get", json!({"nodeId": node_id})).await;
        let request = node.event("node.invoke.request").await;
        assert_eq!(request["command"], "system.execApprovals.get");
        assert_eq!(request["paramsJSON"], "{}");
        assert_eq!(request["timeoutMs"], 15000);
        let snapshot = json!({"path": "/x", "exists": true, "hash": "h1", "file": {"version": 1}});
        node.ok("node.invoke.result", json!({"id": request["id"], "nodeId": node_id, "ok": true, "payload": snapshot}))
            .await;
        assert_json(&admin.response(&call).await["payload"], snapshot);

        let call = admin
            .start("exec.approvals.node.set", json!({"nodeId": node_id, "file": {"version": 1}, "baseHash": "h1"}))
            .await;
        let request = node.event("node.invoke.request").await;
        assert_eq!(request["command"], "system.execApprovals.set");
        assert_eq!(request["paramsJSON"], "{\"file\":{\"version\":1},\"baseHash\":\"h1\"}");
        node.ok(
            "node.invoke.result",
            json!({"id": request["id"], "nodeId": node_id, "ok": true, "payload": {"hash": "h2"}}),
        )
        .await;
        assert_json(&admin.response(&call).await["payload"], json!({"hash": "h2"}));

        // A node answering garbage is not passed on.
        let call = admin.start("exec.approvals.node.get", json!({"nodeId": node_id})).await;
        let request = node.event("node.invoke.request").await;
        node.ok("node.invoke.result", json!({"id": request["id"], "nodeId": node_id, "ok": true, "payload": {}})).await;
        assert_json(&admin.response(&call).await["error"], invalid("node returned invalid exec approvals payload"));

        assert_json(
            &admin.err("exec.approvals.node.set", json!({"nodeId": node_id})).await,
            invalid("exec.approvals.node.set requires file"),
        );
        assert_json(
            &admin.err("exec.approvals.node.get", json!({})).await,
            invalid("invalid exec.approvals.node.get params: must have required property 'nodeId'"),
        );
        assert_json(
            &admin.err("exec.approvals.node.set", json!({"nodeId": node_id, "bogus": 1})).await,
            invalid("invalid exec.approvals.node.set params: at root: unexpected property 'bogus'"),
        );
        let mut pairer = operator(gw.addr, &["operator.pairing", "operator.write"]).await;
        assert_json(
            &pairer.err("exec.approvals.node.get", json!({"nodeId": node_id})).await,
            missing_scope("operator.admin"),
        );
        gw.shutdown().await;
    }
}

/// `methods::plugin_approval`: plugin prompts, routed only to clients that present them.
mod plugin_approval {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn request_routes_resolves_and_stays_apart_from_exec() {
        let gw = start(|_| {}).await;
        let mut requester = operator(gw.addr, &["operator.approvals"]).await;
        // An admin without the cap is no route: decided null at once.
        let mut plain_admin = operator(gw.addr, &["operator.admin"]).await;
        let params = json!({"pluginId": "p", "title": "Read file: /x", "description": "why", "severity": "info",
                            "toolName": "file.fetch", "timeoutMs": 60000});
        let undecided = requester.ok("plugin.approval.request", params.clone()).await;
        assert_eq!(undecided["decision"], Value::Null, "{undecided}");
        assert!(undecided["id"].as_str().unwrap().starts_with("plugin:"), "{undecided}");
        assert_json(
            &requester.err("plugin.approval.request", json!({"title": "t"})).await,
            invalid("invalid plugin.approval.request params: must have required property 'description'"),
        );
        let mut approver = plugin_approver(gw.addr, &["operator.admin"]).await;
        let mut two_phase = params.clone();
        two_phase["twoPhase"] = json!(true);
        let call = requester.start("plugin.approval.request", two_phase).await;
        let accepted = requester.response(&call).await;
        assert_eq!(
            (&accepted["payload"]["status"], &accepted["payload"]["deliveryRoute"]),
            (&json!("accepted"), &json!("approval-client")),
            "{accepted}"
        );
        let announced = approver.event("plugin.approval.requested").await;
        assert_eq!(announced["approvalKind"], "plugin", "{announced}");
        assert_eq!(announced["request"]["title"], "Read file: /x", "{announced}");
        assert_eq!(announced["request"]["allowedDecisions"], json!(["allow-once", "allow-always", "deny"]));
        let id = announced["id"].clone();
        let listed = approver.ok("plugin.approval.list", json!({})).await;
        assert_eq!(listed[0]["id"], id, "{listed}");
        assert_eq!(approver.ok("exec.approval.list", json!({})).await, json!([]));
        let exec_resolve = approver.err("exec.approval.resolve", json!({"id": id, "decision": "allow-once"})).await;
        assert_eq!(exec_resolve["message"], "unknown or expired approval id", "{exec_resolve}");
        let waiter = plain_admin.start("plugin.approval.waitDecision", json!({"id": id})).await;
        assert_json(
            &approver.ok("plugin.approval.resolve", json!({"id": id, "decision": "deny"})).await,
            json!({"ok": true}),
        );
        let resolved = approver.event("plugin.approval.resolved").await;
        assert_eq!((&resolved["id"], &resolved["decision"]), (&id, &json!("deny")), "{resolved}");
        let decided = requester.response(&call).await;
        assert_eq!(decided["payload"]["decision"], "deny", "{decided}");
        let waited = plain_admin.response(&waiter).await;
        assert_eq!(waited["payload"]["decision"], "deny", "{waited}");
        gw.shutdown().await;
    }
}

/// `methods::exec_approval`: approval records.
mod exec_approval {
    use super::*;

    fn request_params(node_id: &str) -> Value {
        json!({"id": "appr-1", "nodeId": node_id, "twoPhase": true, "timeoutMs": 60000,
               "systemRunPlan": {"argv": ["ls"], "commandText": "ls", "cwd": "/tmp"}})
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn request_list_get_resolve() {
        let gw = start(|_| {}).await;
        let mut requester = operator(gw.addr, &["operator.approvals"]).await;
        let mut approver = operator(gw.addr, &["operator.admin"]).await;
        let call = requester.start("exec.approval.request", request_params("n1")).await;
        let accepted = requester.response(&call).await;
        assert_json(
            &scrub(accepted["payload"].clone(), VOLATILE),
            json!({"status": "accepted", "id": "<scrubbed>", "deliveryRoute": "approval-client",
                   "createdAtMs": "<scrubbed>", "expiresAtMs": "<scrubbed>"}),
        );
        assert_eq!(accepted["payload"]["id"], "appr-1");
        let request = json!({
            "command": "ls",
            "systemRunBinding": {"argv": ["ls"], "cwd": "/tmp", "agentId": null, "sessionKey": null, "envHash": null},
            "systemRunPlan": {"argv": ["ls"], "commandText": "ls", "cwd": "/tmp"},
            "cwd": "/tmp", "nodeId": "n1", "host": "node", "security": null, "ask": null,
            "allowedDecisions": ["allow-once", "allow-always", "deny"], "agentId": null, "sessionKey": null,
            "runId": null,
        });
        let announced = approver.event("exec.approval.requested").await;
        assert_json(
            &scrub(announced, VOLATILE),
            json!({"approvalKind": "exec", "id": "<scrubbed>", "request": request,
                   "createdAtMs": "<scrubbed>", "expiresAtMs": "<scrubbed>"}),
        );
        assert_json(
            &scrub(approver.ok("exec.approval.list", json!({})).await, VOLATILE),
            json!([{"id": "<scrubbed>", "request": request, "createdAtMs": "<scrubbed>",
                    "expiresAtMs": "<scrubbed>", "approvalKind": "exec"}]),
        );
        assert_json(
            &scrub(approver.ok("exec.approval.get", json!({"id": "appr-1"})).await, VOLATILE),
            json!({"id": "<scrubbed>", "commandText": "ls", "commandPreview": null,
                   "allowedDecisions": ["allow-once", "allow-always", "deny"], "host": "node", "nodeId": "n1",
                   "agentId": null, "expiresAtMs": "<scrubbed>"}),
        );
        assert_json(
            &approver.err("exec.approval.resolve", json!({"id": "appr-1"})).await,
            invalid("invalid exec.approval.resolve params: must have required property 'decision'"),
        );
        assert_json(
            &approver.ok("exec.approval.resolve", json!({"id": "appr-1", "decision": "allow-once"})).await,
            json!({"ok": true}),
        );
        let resolved = approver.event("exec.approval.resolved").await;
        assert_json(
            &scrub(resolved, VOLATILE),
            json!({"id": "<scrubbed>", "decision": "allow-once", "resolvedBy": "cli", "ts": "<scrubbed>",
                   "request": request}),
        );
        let decided = requester.response(&call).await;
        assert_eq!(decided["payload"]["id"], "appr-1", "{decided}");
        assert_json(
            &scrub(decided["payload"].clone(), VOLATILE),
            json!({"id": "<scrubbed>", "decision": "allow-once", "createdAtMs": "<scrubbed>", "expiresAtMs": "<scrubbed>"}),
        );
        let waited = requester.ok("exec.approval.waitDecision", json!({"id": "appr-1"})).await;
        assert_json(
            &scrub(waited, VOLATILE),
            json!({"id": "<scrubbed>", "decision": "allow-once", "createdAtMs": "<scrubbed>",
                   "expiresAtMs": "<scrubbed>", "terminalReason": "user"}),
        );
        // Decided records are no longer pending.
        assert_eq!(approver.ok("exec.approval.list", json!({})).await, json!([]));
        assert_eq!(
            approver.err("exec.approval.get", json!({"id": "appr-1"})).await["message"],
            "unknown or expired approval id"
        );
        assert_json(&approver.err("exec.approval.waitDecision", json!({})).await, invalid("id is required"));
        assert_json(
            &approver.err("exec.approval.get", json!({})).await,
            invalid("invalid exec.approval.get params: must have required property 'id'"),
        );
        assert_json(
            &requester.err("exec.approval.request", json!({"bogus": true})).await,
            invalid("invalid exec.approval.request params: at root: unexpected property 'bogus'"),
        );
        let mut reader = operator(gw.addr, &["operator.read"]).await;
        assert_json(&reader.err("exec.approval.list", json!({})).await, missing_scope("operator.approvals"));
        gw.shutdown().await;
    }
}

/// `methods::audit`.
mod audit {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn exec_events_are_recorded_and_listed() {
        let gw = start(|_| {}).await;
        let id = DeviceIdentity::generate();
        let mut node = node(gw.addr, &id).await;
        let mut admin = operator(gw.addr, &["operator.admin"]).await;
        assert_json(&admin.ok("audit.list", json!({})).await, json!({"items": []}));
        let payload = json!({"runId": "r1", "command": "ls"});
        assert_json(
            &node.ok("node.event", json!({"event": "exec.finished", "payload": payload})).await,
            json!({"ok": true, "event": "exec.finished", "handled": true, "reason": "recorded"}),
        );
        assert_json(
            &admin.event("exec.event").await,
            json!({"nodeId": id.device_id(), "event": "exec.finished", "payload": payload}),
        );
        assert_json(
            &scrub(admin.ok("audit.list", json!({"limit": 5})).await, VOLATILE),
            json!({"items": [{"tsMs": "<scrubbed>", "nodeId": id.device_id(), "event": "exec.finished", "payload": payload}]}),
        );
        let mut approver = operator(gw.addr, &["operator.approvals", "operator.write"]).await;
        assert_json(&approver.err("audit.list", json!({})).await, missing_scope("operator.admin"));
        gw.shutdown().await;
    }
}

/// `methods::device_token` and the lifecycle half of `methods::device_pair`: rotate, revoke,
/// rename and remove, who may, what the device's sockets see, and what survives a restart.
mod device_lifecycle {
    use super::*;

    fn shared_token() -> Value {
        json!({"token": TOKEN})
    }

    async fn expect_mismatch(
        addr: std::net::SocketAddr,
        id: &DeviceIdentity,
        role: &str,
        scopes: &[&str],
        token: &str,
    ) {
        let refused = try_device(addr, id, role, scopes, json!({"deviceToken": token})).await.err().expect("refused");
        assert_eq!(
            refused["message"], "unauthorized: device token mismatch (rotate/reissue device token)",
            "{refused}"
        );
        assert_eq!(refused["details"]["code"], "AUTH_DEVICE_TOKEN_MISMATCH", "{refused}");
        assert!(!refused.to_string().contains(token), "the token never appears in an error");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rotate_and_revoke_a_node_token() {
        let gw = start(|_| {}).await;
        let id = DeviceIdentity::generate();
        let device_id = id.device_id();
        let mut node = try_device(gw.addr, &id, "node", &[], shared_token()).await.unwrap();
        let first = node.hello["auth"]["deviceToken"].as_str().unwrap().to_string();
        assert_eq!(first.len(), 43);
        let mut pairer = operator(gw.addr, &["operator.pairing"]).await;
        let mut admin = operator(gw.addr, &["operator.admin"]).await;

        // A node token is beyond operator.pairing; the refusal is uniform.
        let target = json!({"deviceId": device_id, "role": "node"});
        assert_json(&pairer.err("device.token.rotate", target.clone()).await, invalid("device token rotation denied"));
        assert_json(
            &pairer.err("device.token.revoke", target.clone()).await,
            invalid("device token revocation denied"),
        );
        assert_json(
            &admin.err("device.token.rotate", json!({"deviceId": "nope", "role": "node"})).await,
            invalid("device token rotation denied"),
        );
        assert_json(
            &admin.err("device.token.rotate", json!({"deviceId": device_id, "role": "operator"})).await,
            invalid("device token rotation denied"),
        );
        assert_json(
            &admin.err("device.token.rotate", json!({"deviceId": device_id})).await,
            invalid("invalid device.token.rotate params: must have required property 'role'"),
        );

        // Rotate: the new token is withheld from another caller; the node is closed after.
        let rotated = admin.ok("device.token.rotate", target.clone()).await;
        assert_json(
            &scrub(rotated.clone(), &["rotatedAtMs"]),
            json!({"deviceId": device_id, "role": "node", "scopes": [], "rotatedAtMs": "<scrubbed>",
                   "tokenDelivery": "withheld-cross-device"}),
        );
        assert_eq!(close_of(&mut node.ws).await, (4001, "device removed".into()));
        expect_mismatch(gw.addr, &id, "node", &[], &first).await;
        let node = try_device(gw.addr, &id, "node", &[], shared_token()).await.unwrap();
        let second = node.hello["auth"]["deviceToken"].as_str().unwrap().to_string();
        assert_ne!(second, first);
        let mut node = try_device(gw.addr, &id, "node", &[], json!({"deviceToken": second})).await.unwrap();

        // Revoke: closed, the token is dead, and the role needs an operator again, even on
        // loopback with the shared token.
        let revoked = admin.ok("device.token.revoke", target.clone()).await;
        assert_json(
            &scrub(revoked, &["revokedAtMs"]),
            json!({"deviceId": device_id, "role": "node", "revokedAtMs": "<scrubbed>"}),
        );
        assert_eq!(close_of(&mut node.ws).await, (4001, "device removed".into()));
        expect_mismatch(gw.addr, &id, "node", &[], &second).await;
        let again = try_device(gw.addr, &id, "node", &[], shared_token()).await.err().expect("re-approval needed");
        assert_eq!(again["details"]["code"], "PAIRING_REQUIRED", "{again}");
        assert_eq!(again["details"]["reason"], "role-upgrade", "{again}");
        let tokens = &pairer.ok("device.pair.list", json!({})).await["paired"][0]["tokens"][0];
        assert!(tokens["revokedAtMs"].is_i64() && tokens["rotatedAtMs"].is_i64(), "{tokens}");
        assert!(tokens.get("token").is_none());
        admin.ok("device.pair.approve", json!({"requestId": again["details"]["requestId"]})).await;
        let back = try_device(gw.addr, &id, "node", &[], shared_token()).await.unwrap();
        let third = back.hello["auth"]["deviceToken"].as_str().unwrap();
        assert!(third != first && third != second);
        gw.shutdown().await;
    }

    /// A device-token operator manages only its own device: its own rotation comes back in
    /// band, on the socket that is closed right after.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_device_manages_only_itself() {
        let gw = start(|_| {}).await;
        let node_id = DeviceIdentity::generate();
        let _node = try_device(gw.addr, &node_id, "node", &[], shared_token()).await.unwrap();
        let me = DeviceIdentity::generate();
        let scopes = ["operator.pairing", "operator.read"];
        let first = try_device(gw.addr, &me, "operator", &scopes, shared_token()).await.unwrap();
        let token = first.hello["auth"]["deviceToken"].as_str().unwrap().to_string();
        let mut own = try_device(gw.addr, &me, "operator", &scopes, json!({"deviceToken": token})).await.unwrap();
        assert_eq!(own.hello["auth"]["method"], "device-token");

        let other = json!({"deviceId": node_id.device_id(), "role": "node"});
        assert_json(&own.err("device.token.rotate", other).await, invalid("device token rotation denied"));
        assert_json(
            &own.err("device.pair.remove", json!({"deviceId": node_id.device_id()})).await,
            invalid("device pairing removal denied"),
        );
        assert_json(
            &own.err("device.pair.rename", json!({"deviceId": node_id.device_id(), "label": "x"})).await,
            invalid("device pairing rename denied"),
        );
        assert_json(
            &own.err("node.rename", json!({"nodeId": node_id.device_id(), "displayName": "x"})).await,
            invalid("node rename denied"),
        );
        assert_json(
            &own.err("node.pair.remove", json!({"nodeId": node_id.device_id()})).await,
            invalid("node pairing removal denied"),
        );
        // Its own operator token, narrowed to what it holds.
        let res = own
            .call(
                "device.token.rotate",
                json!({"deviceId": me.device_id(), "role": "operator", "scopes": ["operator.read"]}),
            )
            .await;
        assert_eq!(res["ok"], true, "the answer arrives before the close: {res}");
        let p = &res["payload"];
        assert_eq!(p["tokenDelivery"], "in-band", "{p}");
        assert_eq!(p["scopes"], json!(["operator.read"]), "{p}");
        let new = p["token"].as_str().unwrap().to_string();
        assert_eq!(new.len(), 43);
        assert_ne!(new, token);
        assert_eq!(close_of(&mut own.ws).await, (4001, "device removed".into()));
        let mut own =
            try_device(gw.addr, &me, "operator", &["operator.read"], json!({"deviceToken": new})).await.unwrap();
        assert_json(&own.err("device.pair.list", json!({})).await, missing_scope("operator.pairing"));
        gw.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rename_remove_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (addr, stop, task) = start_in(dir.path(), |_| {}).await;
        let (kept, gone) = (DeviceIdentity::generate(), DeviceIdentity::generate());
        let mut kept_node = try_device(addr, &kept, "node", &[], shared_token()).await.unwrap();
        let kept_token = kept_node.hello["auth"]["deviceToken"].as_str().unwrap().to_string();
        let mut gone_node = try_device(addr, &gone, "node", &[], shared_token()).await.unwrap();
        let gone_token = gone_node.hello["auth"]["deviceToken"].as_str().unwrap().to_string();
        let mut pairer = operator(addr, &["operator.pairing"]).await;
        let mut admin = operator(addr, &["operator.admin"]).await;

        let rename = |label: &str| json!({"deviceId": kept.device_id(), "label": label});
        assert_json(
            &pairer.ok("device.pair.rename", rename("  Lab box ")).await,
            json!({"deviceId": kept.device_id(), "label": "Lab box"}),
        );
        assert_eq!(pairer.event("device.pair.changed").await, json!({}));
        assert_json(&pairer.err("device.pair.rename", rename("   ")).await, invalid("label required"));
        assert_json(
            &pairer.err("device.pair.rename", rename(&"x".repeat(65))).await,
            invalid("invalid device.pair.rename params: at /label: must NOT have more than 64 characters"),
        );
        assert_json(
            &pairer.err("device.pair.rename", json!({"deviceId": "nope", "label": "x"})).await,
            invalid("unknown deviceId"),
        );
        // Renaming closes nothing.
        kept_node.ok("node.pending.pull", json!({})).await;

        admin.ok("device.token.revoke", json!({"deviceId": kept.device_id(), "role": "node"})).await;
        assert_eq!(close_of(&mut kept_node.ws).await, (4001, "device removed".into()));
        assert_json(
            &pairer.ok("device.pair.remove", json!({"deviceId": gone.device_id()})).await,
            json!({"deviceId": gone.device_id()}),
        );
        assert_eq!(close_of(&mut gone_node.ws).await, (4001, "device removed".into()));
        assert_json(
            &pairer.err("device.pair.remove", json!({"deviceId": gone.device_id()})).await,
            invalid("unknown deviceId"),
        );

        // The same state directory, a new process: nothing came back.
        let _ = stop.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        let (addr, stop, task) = start_in(dir.path(), |_| {}).await;
        expect_mismatch(addr, &kept, "node", &[], &kept_token).await;
        expect_mismatch(addr, &gone, "node", &[], &gone_token).await;
        let mut pairer = operator(addr, &["operator.pairing"]).await;
        let list = pairer.ok("device.pair.list", json!({})).await;
        let paired = list["paired"].as_array().unwrap();
        assert_eq!(paired.len(), 1, "{list}");
        assert_eq!(paired[0]["deviceId"], kept.device_id().as_str());
        assert_eq!(paired[0]["operatorLabel"], "Lab box");
        assert!(paired[0]["tokens"][0]["revokedAtMs"].is_i64(), "{list}");
        let again = try_device(addr, &kept, "node", &[], shared_token()).await.err().expect("still revoked");
        assert_eq!(again["details"]["reason"], "role-upgrade", "{again}");
        let _ = stop.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    }
}
