//! `exec.approvals.node.get|set`: an admin reads or replaces a node's exec approvals file,
//! relayed to the node's `system.execApprovals.*` through [`invoke_node`].
//!
//! `node.invoke` refuses those two commands outright, so this relay (admin only, with its
//! payload checked) is the one way to reach them.

use std::sync::LazyLock;

use serde_json::{json, Value};

use super::{invalid, invoke_node, obj, Access, Call, ConnCtx, Handler, HandlerFuture, InvokeCall, Method};
use crate::pairing::SCOPE_ADMIN;
use crate::schema::{non_empty, opt, req, string, Shape};

/// The relay methods.
pub(super) const METHODS: &[Method] = &[
    Method {
        name: "exec.approvals.node.get",
        access: Access::Operator(SCOPE_ADMIN),
        handler: Handler::Async(approvals_node_get),
    },
    Method {
        name: "exec.approvals.node.set",
        access: Access::Operator(SCOPE_ADMIN),
        handler: Handler::Async(approvals_node_set),
    },
];

/// An `exec.approvals.node.*` relay to the node's `system.execApprovals.*`.
fn relay_call<'a>(ctx: &'a ConnCtx, node_id: &'a str, command: &'a str, params: &'a Value) -> InvokeCall<'a> {
    InvokeCall {
        caller_conn: Some(&ctx.conn_id),
        node_id,
        command,
        params: Some(params),
        timeout_ms: 15_000,
        idempotency_key: None,
        session_key: None,
    }
}

fn approvals_node_get<'a>(call: &'a Call<'a>) -> HandlerFuture<'a> {
    Box::pin(async move {
        let node_id = call.node_id_param()?;
        if node_id.is_empty() {
            return Err(invalid("nodeId required"));
        }
        let params = json!({});
        let relay = relay_call(call.conn, &node_id, "system.execApprovals.get", &params);
        let (payload, _) = invoke_node(call.shared, relay).await?;
        let valid =
            payload.get("hash").is_some_and(Value::is_string) && payload.get("file").is_some_and(Value::is_object);
        if !valid {
            return Err(invalid("node returned invalid exec approvals payload"));
        }
        Ok(payload)
    })
}

fn approvals_node_set<'a>(call: &'a Call<'a>) -> HandlerFuture<'a> {
    Box::pin(async move {
        static SHAPE: LazyLock<Shape> = LazyLock::new(|| {
            obj(vec![
                req("nodeId", non_empty()),
                opt("file", Shape::Any),
                opt("native", Shape::Any),
                opt("baseHash", string()),
            ])
        });
        call.check(&SHAPE)?;
        let p = call.params;
        let node_id = p["nodeId"].as_str().unwrap_or_default().trim().to_string();
        let Some(file) = p.get("file").filter(|f| f.is_object()) else {
            return Err(invalid("exec.approvals.node.set requires file"));
        };
        let mut params = json!({"file": file});
        if let Some(h) = p.get("baseHash") {
            params["baseHash"] = h.clone();
        }
        let relay = relay_call(call.conn, &node_id, "system.execApprovals.set", &params);
        let (payload, _) = invoke_node(call.shared, relay).await?;
        Ok(payload)
    })
}
