//! The node-side methods: what a connected node host calls (`role: "node"` only).
//!
//! The node reports invoke results and events here; the rest (pending queue, skills, plugin
//! tools) is answered with the empty shapes upstream sends when the feature holds nothing,
//! because our gateway keeps no such state yet but nodes call them on every connect.

use std::sync::LazyLock;

use openclaw_protocol::ErrorShape;
use serde_json::{json, Value};

use super::{invalid, obj, Access, Call, Handler, Method};
use crate::pairing::SCOPE_ADMIN;
use crate::registry::InvokeOutcome;
use crate::schema::{non_empty, opt, req, string, Shape};

/// The node-side methods, in `hello-ok.features.methods` order.
pub(super) const METHODS: &[Method] = &[
    node("node.invoke.result", Handler::Sync(invoke_result)),
    node("node.invoke.progress", Handler::Sync(|_| Ok(json!({"ok": true, "ignored": true})))),
    node("node.event", Handler::Sync(node_event)),
    node("node.pending.pull", Handler::Sync(pending_empty)),
    node("node.pending.ack", Handler::Sync(|_| Ok(json!({"ok": true})))),
    node("node.pending.drain", Handler::Sync(pending_empty)),
    node("node.pluginTools.update", Handler::Sync(plugin_tools_update)),
    node("node.skills.update", Handler::Sync(skills_update)),
    // Advertised in hello-ok (nodes probe for them) but deliberately answered
    // `unknown method`, as today: the gateway keeps no runner inventory yet.
    node("node.runnerInventory.update", Handler::Sync(advertised_only)),
    // Advertised but answered `unknown method`, deliberately: no plugin surface to refresh yet.
    node("node.pluginSurface.refresh", Handler::Sync(advertised_only)),
    node("skills.bins", Handler::Sync(|_| Ok(json!({"bins": []})))),
];

const fn node(name: &'static str, handler: Handler) -> Method {
    Method { name, access: Access::Node, handler }
}

fn advertised_only(call: &Call<'_>) -> Result<Value, ErrorShape> {
    Err(invalid(format!("unknown method: {}", call.method)))
}

fn pending_empty(call: &Call<'_>) -> Result<Value, ErrorShape> {
    Ok(json!({"nodeId": call.conn.device_id, "revision": 0, "items": [], "hasMore": false}))
}

fn skills_update(call: &Call<'_>) -> Result<Value, ErrorShape> {
    Ok(json!({"nodeId": call.conn.device_id, "skills": call.params.get("skills").cloned().unwrap_or(json!([]))}))
}

fn plugin_tools_update(call: &Call<'_>) -> Result<Value, ErrorShape> {
    Ok(json!({"nodeId": call.conn.device_id, "tools": call.params.get("tools").cloned().unwrap_or(json!([]))}))
}

fn invoke_result(call: &Call<'_>) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| {
        obj(vec![
            req("id", non_empty()),
            req("nodeId", non_empty()),
            req("ok", Shape::Bool),
            opt("payload", Shape::Any),
            opt("payloadJSON", string()),
            opt("error", obj(vec![opt("code", string()), opt("message", string())])),
        ])
    });
    // Upstream strips null payloadJSON/error before validation.
    let mut p = call.params.clone();
    if let Some(m) = p.as_object_mut() {
        m.retain(|k, v| !(v.is_null() && (k == "payloadJSON" || k == "error")));
    }
    call.check_value(&SHAPE, &p)?;
    let node_id = p["nodeId"].as_str().unwrap_or_default();
    if Some(node_id) != call.conn.device_id.as_deref() {
        return Err(invalid("nodeId mismatch"));
    }
    let outcome = if p["ok"] == json!(true) {
        let payload_json = p.get("payloadJSON").and_then(Value::as_str).map(String::from);
        let payload = match &payload_json {
            Some(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            None => p.get("payload").cloned().unwrap_or(Value::Null),
        };
        InvokeOutcome::Ok { payload, payload_json }
    } else {
        let e = p.get("error");
        let field = |k: &str| e.and_then(|e| e.get(k)).and_then(Value::as_str).unwrap_or("").to_string();
        let code = Some(field("code")).filter(|c| !c.is_empty()).unwrap_or_else(|| "UNAVAILABLE".into());
        let message = Some(field("message")).filter(|c| !c.is_empty()).unwrap_or_else(|| "node invoke failed".into());
        InvokeOutcome::NodeError { code, message }
    };
    let id = p["id"].as_str().unwrap_or_default();
    let delivered = call.shared.registry().finish_invoke(id, node_id, outcome);
    Ok(if delivered { json!({"ok": true}) } else { json!({"ok": true, "ignored": true}) })
}

fn node_event(call: &Call<'_>) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| {
        obj(vec![req("event", non_empty()), opt("payload", Shape::Any), opt("payloadJSON", string())])
    });
    call.check(&SHAPE)?;
    let (shared, p) = (call.shared, call.params);
    let event = p["event"].as_str().unwrap_or_default().to_string();
    let payload = match p.get("payloadJSON").and_then(Value::as_str) {
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(v) => v,
            Err(_) => return Ok(json!({"ok": true, "event": event, "handled": false, "reason": "invalid_payload"})),
        },
        None => p.get("payload").cloned().unwrap_or(Value::Null),
    };
    let node_id = call.conn.device_id.clone().unwrap_or_default();
    match event.as_str() {
        "node.host.stats" => {
            if !payload.is_object() {
                return Ok(json!({"ok": true, "event": event, "handled": false, "reason": "invalid_payload"}));
            }
            let mut stats = payload;
            stats["updatedAtMs"] = json!(openclaw_state::now_ms());
            let mut registry = shared.registry();
            match registry.node_mut(&node_id).and_then(|c| c.node.as_mut()) {
                Some(n) => {
                    n.host_stats = Some(stats);
                    Ok(json!({"ok": true, "event": event, "handled": true, "reason": "updated"}))
                }
                None => Ok(json!({"ok": true, "event": event, "handled": false, "reason": "stale_connection"})),
            }
        }
        "exec.started" | "exec.finished" | "exec.denied" => {
            if let Err(e) = shared.pairing().store().append_exec_event(&node_id, &event, &payload) {
                tracing::warn!("could not record {event} from node {node_id}: {e}");
            }
            tracing::info!(
                "exec event node={node_id} event={event} runId={} command={:?}",
                payload.get("runId").and_then(serde_json::Value::as_str).unwrap_or("-"),
                payload.get("command").and_then(serde_json::Value::as_str).unwrap_or("")
            );
            let audit = json!({"nodeId": node_id, "event": event, "payload": payload});
            shared.registry().broadcast_operators("exec.event", &audit, Some(SCOPE_ADMIN));
            Ok(json!({"ok": true, "event": event, "handled": true, "reason": "recorded"}))
        }
        _ => Ok(json!({"ok": true, "event": event, "handled": false, "reason": "unsupported_event"})),
    }
}
