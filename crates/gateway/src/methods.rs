//! Requests after `hello-ok`: role and scope gates, then one handler per method.
//!
//! Nodes may call only the node methods (`node.invoke.result`, `node.event`, …); everything
//! else, known or not, is `unauthorized role: node`. Operators need the scope each method
//! names (`operator.admin` covers all). Params are validated strictly ([`crate::schema`]) and
//! refused with upstream's `invalid <method> params: …` text.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use openclaw_protocol::{ErrorCode, ErrorShape, RequestFrame, ResponseFrame, Role};
use serde_json::{json, Map, Value};

use crate::exec_approval::{ApprovalError, ApprovalRecord, Caller};
use crate::pairing::{
    has_scope, NodeRecord, PairingError, PairingNotice, PendingNode, SCOPE_ADMIN, SCOPE_PAIRING, SCOPE_WRITE,
};
use crate::registry::{InvokeOutcome, NodeSession, Outbox, Registry};
use crate::schema::{non_empty, opt, req, string, Shape};
use crate::Shared;

/// Reading scope.
pub const SCOPE_READ: &str = "operator.read";
/// Exec approval scope.
pub const SCOPE_APPROVALS: &str = "operator.approvals";

/// Default deadline of `node.invoke` when the caller gives none.
pub const DEFAULT_INVOKE_TIMEOUT_MS: u64 = 30_000;

/// What the handlers know about the calling connection.
#[derive(Debug, Clone)]
pub struct ConnCtx {
    pub conn_id: String,
    pub role: Role,
    pub device_id: Option<String>,
    pub scopes: Vec<String>,
    /// Display name or client id (shown as `resolvedBy`).
    pub name: String,
    pub remote_ip: Option<String>,
}

impl ConnCtx {
    fn caller(&self) -> Caller {
        Caller {
            conn_id: self.conn_id.clone(),
            device_id: self.device_id.clone(),
            admin: has_scope(&self.scopes, SCOPE_ADMIN),
            name: self.name.clone(),
        }
    }
}

/// Methods reserved for `role: "node"`.
const NODE_METHODS: &[&str] = &[
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
];

/// Operator methods and the scope each needs.
const OPERATOR_METHODS: &[(&str, &str)] = &[
    ("health", SCOPE_READ),
    ("status", SCOPE_READ),
    ("node.list", SCOPE_READ),
    ("node.describe", SCOPE_READ),
    ("node.rename", SCOPE_PAIRING),
    ("node.invoke", SCOPE_WRITE),
    ("node.pair.list", SCOPE_PAIRING),
    ("node.pair.approve", SCOPE_PAIRING),
    ("node.pair.reject", SCOPE_PAIRING),
    ("node.pair.remove", SCOPE_PAIRING),
    ("device.pair.list", SCOPE_PAIRING),
    ("device.pair.approve", SCOPE_PAIRING),
    ("device.pair.reject", SCOPE_PAIRING),
    ("device.pair.remove", SCOPE_PAIRING),
    ("exec.approvals.node.get", SCOPE_ADMIN),
    ("exec.approvals.node.set", SCOPE_ADMIN),
    ("exec.approval.request", SCOPE_APPROVALS),
    ("exec.approval.get", SCOPE_APPROVALS),
    ("exec.approval.list", SCOPE_APPROVALS),
    ("exec.approval.waitDecision", SCOPE_APPROVALS),
    ("exec.approval.resolve", SCOPE_APPROVALS),
    ("audit.list", SCOPE_ADMIN),
];

/// `hello-ok.features.methods`: every method this gateway serves.
pub static METHODS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| OPERATOR_METHODS.iter().map(|(m, _)| *m).chain(NODE_METHODS.iter().copied()).collect());

/// `hello-ok.features.events`: every event this gateway sends.
pub const EVENTS: &[&str] = &[
    "connect.challenge",
    "tick",
    "shutdown",
    "presence",
    "node.pair.requested",
    "node.pair.resolved",
    "node.invoke.request",
    "node.invoke.cancel",
    "device.pair.requested",
    "device.pair.resolved",
    "voicewake.changed",
    "exec.approval.requested",
    "exec.approval.resolved",
    "exec.event",
];

/// Commands `node.invoke` refuses outright, with the method to use instead.
const RELAYED_ONLY: &[&str] = &["system.execApprovals.get", "system.execApprovals.set"];
/// Commands that need `operator.admin` through `node.invoke`.
const ADMIN_INVOKE_COMMANDS: &[&str] = &["browser.proxy", "browser.proxy.upload.v1", "fs.listDir", "terminal.upload"];

fn invalid(message: impl Into<String>) -> ErrorShape {
    ErrorShape::new(ErrorCode::InvalidRequest, message)
}

fn invalid_with(message: impl Into<String>, details: Value) -> ErrorShape {
    let mut e = invalid(message);
    e.details = Some(details);
    e
}

fn has_read(scopes: &[String]) -> bool {
    scopes.iter().any(|s| s == SCOPE_READ || s == SCOPE_WRITE || s == SCOPE_ADMIN)
}

/// The role and scope gate, run before a handler is started.
pub fn authorize(ctx: &ConnCtx, method: &str) -> Result<(), ErrorShape> {
    if ctx.role == Role::Node {
        return if NODE_METHODS.contains(&method) { Ok(()) } else { Err(invalid("unauthorized role: node")) };
    }
    if NODE_METHODS.contains(&method) {
        return Err(invalid(format!("unauthorized role: {}", ctx.role)));
    }
    // Unknown methods need admin, so only an admin learns that a method does not exist.
    let scope = OPERATOR_METHODS.iter().find(|(m, _)| *m == method).map(|(_, s)| *s).unwrap_or(SCOPE_ADMIN);
    let ok = if scope == SCOPE_READ { has_read(&ctx.scopes) } else { has_scope(&ctx.scopes, scope) };
    if !ok {
        return Err(missing_scope(scope));
    }
    if !OPERATOR_METHODS.iter().any(|(m, _)| *m == method) {
        return Err(invalid(format!("unknown method: {method}")));
    }
    Ok(())
}

/// `FORBIDDEN "missing scope: <scope>"`.
fn missing_scope(scope: &str) -> ErrorShape {
    let mut e = ErrorShape::new(ErrorCode::Forbidden, format!("missing scope: {scope}"));
    e.details = Some(json!({"code": "MISSING_SCOPE", "missingScope": scope, "requiredScopes": [scope]}));
    e
}

fn check(method: &str, shape: &Shape, params: &Value) -> Result<(), ErrorShape> {
    shape.check(params).map_err(|m| invalid(format!("invalid {method} params: {m}")))
}

fn obj(fields: Vec<crate::schema::Field>) -> Shape {
    Shape::Object(fields)
}

/// Runs one request and produces its response (a two-phase `exec.approval.request` also sends
/// its interim answer through `outbox`).
pub async fn handle(shared: &Arc<Shared>, ctx: &ConnCtx, outbox: &Outbox, req: RequestFrame) -> ResponseFrame {
    let params = req.params.clone().unwrap_or_else(|| json!({}));
    let result = dispatch(shared, ctx, outbox, &req, &params).await;
    match result {
        Ok(payload) => ResponseFrame::ok(&req.id, payload),
        Err(error) => ResponseFrame::err(&req.id, error),
    }
}

async fn dispatch(
    shared: &Arc<Shared>,
    ctx: &ConnCtx,
    outbox: &Outbox,
    req: &RequestFrame,
    p: &Value,
) -> Result<Value, ErrorShape> {
    let m = req.method.as_str();
    match m {
        // Node side.
        "node.invoke.result" => invoke_result(shared, ctx, p),
        "node.invoke.progress" => Ok(json!({"ok": true, "ignored": true})),
        "node.event" => node_event(shared, ctx, p),
        "node.skills.update" => {
            Ok(json!({"nodeId": ctx.device_id, "skills": p.get("skills").cloned().unwrap_or(json!([]))}))
        }
        "node.pluginTools.update" => {
            Ok(json!({"nodeId": ctx.device_id, "tools": p.get("tools").cloned().unwrap_or(json!([]))}))
        }
        "node.pending.pull" | "node.pending.drain" => {
            Ok(json!({"nodeId": ctx.device_id, "revision": 0, "items": [], "hasMore": false}))
        }
        "node.pending.ack" => Ok(json!({"ok": true})),
        "skills.bins" => Ok(json!({"bins": []})),
        "node.runnerInventory.update" | "node.pluginSurface.refresh" => Err(invalid(format!("unknown method: {m}"))),
        // Operator side.
        "health" => Ok(health(shared)),
        "status" => Ok(health(shared)),
        "node.list" => Ok(node_list(shared)),
        "node.describe" => node_describe(shared, p),
        "node.rename" => node_rename(shared, p),
        "node.invoke" => node_invoke(shared, ctx, p).await,
        "node.pair.list" => Ok(node_pair_list(shared)),
        "node.pair.approve" => node_pair_approve(shared, ctx, p),
        "node.pair.reject" => node_pair_reject(shared, p),
        "node.pair.remove" => node_pair_remove(shared, p),
        "device.pair.list" => Ok(device_pair_list(shared)),
        "device.pair.approve" => device_pair_approve(shared, ctx, p),
        "device.pair.reject" => device_pair_reject(shared, p),
        "device.pair.remove" => device_pair_remove(shared, p),
        "exec.approvals.node.get" => approvals_node_get(shared, ctx, p).await,
        "exec.approvals.node.set" => approvals_node_set(shared, ctx, p).await,
        "exec.approval.request" => approval_request(shared, ctx, outbox, req, p).await,
        "exec.approval.get" => approval_get(shared, ctx, p),
        "exec.approval.list" => Ok(approval_list(shared, ctx)),
        "exec.approval.waitDecision" => approval_wait(shared, ctx, p).await,
        "exec.approval.resolve" => approval_resolve(shared, ctx, p),
        "audit.list" => audit_list(shared, p),
        other => Err(invalid(format!("unknown method: {other}"))),
    }
}

fn health(shared: &Shared) -> Value {
    let registry = shared.registry();
    json!({
        "ok": true,
        "ts": openclaw_state::now_ms(),
        "uptimeMs": shared.started.elapsed().as_millis() as u64,
        "connections": registry.len(),
        "nodes": registry.nodes().count(),
    })
}

/// `snapshot.presence`: one entry per connection.
pub fn presence(registry: &Registry) -> Vec<Value> {
    registry
        .clients()
        .map(|c| {
            let mut e = json!({"mode": c.role, "roles": [c.role], "ts": openclaw_state::now_ms()});
            if let Some(d) = &c.device_id {
                e["deviceId"] = json!(d);
            }
            if let Some(n) = &c.node {
                e["host"] = json!(n.display_name);
                e["platform"] = json!(n.platform);
                e["version"] = json!(n.version);
            }
            if let Some(ip) = &c.remote_ip {
                e["ip"] = json!(ip);
            }
            e
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Node-side methods

fn invoke_result(shared: &Shared, ctx: &ConnCtx, p: &Value) -> Result<Value, ErrorShape> {
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
    let mut p = p.clone();
    if let Some(m) = p.as_object_mut() {
        m.retain(|k, v| !(v.is_null() && (k == "payloadJSON" || k == "error")));
    }
    check("node.invoke.result", &SHAPE, &p)?;
    let node_id = p["nodeId"].as_str().unwrap_or_default();
    if Some(node_id) != ctx.device_id.as_deref() {
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
    let delivered = shared.registry().finish_invoke(id, node_id, outcome);
    Ok(if delivered { json!({"ok": true}) } else { json!({"ok": true, "ignored": true}) })
}

fn node_event(shared: &Shared, ctx: &ConnCtx, p: &Value) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| {
        obj(vec![req("event", non_empty()), opt("payload", Shape::Any), opt("payloadJSON", string())])
    });
    check("node.event", &SHAPE, p)?;
    let event = p["event"].as_str().unwrap_or_default().to_string();
    let payload = match p.get("payloadJSON").and_then(Value::as_str) {
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(v) => v,
            Err(_) => return Ok(json!({"ok": true, "event": event, "handled": false, "reason": "invalid_payload"})),
        },
        None => p.get("payload").cloned().unwrap_or(Value::Null),
    };
    let node_id = ctx.device_id.clone().unwrap_or_default();
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

/// Records when a node was last seen and why (`node.list`'s `lastSeenAtMs`/`lastSeenReason`).
pub fn touch_node_seen(shared: &Shared, node_id: &str, reason: &str) {
    let now = openclaw_state::now_ms();
    if let Err(e) = shared.pairing().touch_node(node_id, reason, now) {
        tracing::warn!("could not record last-seen of node {node_id}: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Node registry methods

fn approval_state(record: bool, pending: bool) -> &'static str {
    match (record, pending) {
        (true, false) => "approved",
        (true, true) => "pending-reapproval",
        (false, true) => "pending-approval",
        (false, false) => "unapproved",
    }
}

/// One `NodeEntry` (`protocol.md` §7), or `None` when the gateway has never seen the node.
fn node_entry(shared: &Shared, registry: &Registry, node_id: &str) -> Option<Value> {
    let pairing = shared.pairing();
    let record = pairing.node(node_id);
    let pending = pairing.node_request_for(node_id);
    let device = pairing.device(node_id);
    let live = registry.node(node_id);
    if record.is_none() && pending.is_none() && live.is_none() && !device.is_some_and(|d| d.has_role(Role::Node)) {
        return None;
    }
    let session = live.and_then(|c| c.node.as_ref());
    let mut e = Map::new();
    e.insert("nodeId".into(), json!(node_id));
    // A rename (on the record) wins over what the node says about itself.
    let display = record
        .and_then(|r| r.display_name.as_ref())
        .or(session.and_then(|s| s.display_name.as_ref()))
        .or(pending.and_then(|p| p.display_name.as_ref()))
        .or(device.and_then(|d| d.display_name.as_ref()));
    if let Some(name) = display {
        e.insert("displayName".into(), json!(name));
    }
    // Everything else: what the live session says, else the approved record, else the request.
    type Get<T> = fn(&T) -> Option<&String>;
    type Sources = (Get<NodeSession>, Get<NodeRecord>, Get<PendingNode>);
    let fields: [(&str, Sources); 6] = [
        ("platform", (|s| Some(&s.platform), |r| r.platform.as_ref(), |p| p.platform.as_ref())),
        ("version", (|s| Some(&s.version), |r| r.version.as_ref(), |p| p.version.as_ref())),
        ("clientId", (|s| Some(&s.client_id), |r| r.client_id.as_ref(), |p| p.client_id.as_ref())),
        ("clientMode", (|s| Some(&s.client_mode), |r| r.client_mode.as_ref(), |p| p.client_mode.as_ref())),
        ("deviceFamily", (|s| s.device_family.as_ref(), |r| r.device_family.as_ref(), |p| p.device_family.as_ref())),
        ("modelIdentifier", (|s| s.model_identifier.as_ref(), |_| None, |_| None)),
    ];
    for (key, (from_session, from_record, from_pending)) in fields {
        let value = session.and_then(from_session).or(record.and_then(from_record)).or(pending.and_then(from_pending));
        if let Some(v) = value {
            e.insert(key.into(), json!(v));
        }
    }
    if let Some(ip) = live.and_then(|c| c.remote_ip.as_ref()).or(record.and_then(|r| r.remote_ip.as_ref())) {
        e.insert("remoteIp".into(), json!(ip));
    }
    let caps = session.map(|s| s.caps.clone()).or(record.map(|r| r.caps.clone())).unwrap_or_default();
    let commands = session.map(|s| s.commands.clone()).or(record.map(|r| r.commands.clone())).unwrap_or_default();
    e.insert("caps".into(), json!(caps));
    e.insert("commands".into(), json!(commands));
    e.insert("sessionHost".into(), json!(false));
    if let Some(stats) = session.and_then(|s| s.host_stats.clone()) {
        e.insert("hostStats".into(), stats);
    }
    e.insert("nodePluginTools".into(), json!([]));
    if let Some(path) = session.and_then(|s| s.path_env.clone()) {
        e.insert("pathEnv".into(), json!(path));
    }
    e.insert("approvalState".into(), json!(approval_state(record.is_some(), pending.is_some())));
    if let Some(p) = pending {
        e.insert("pendingRequestId".into(), json!(p.request_id));
        e.insert("pendingDeclaredCaps".into(), json!(p.caps));
        e.insert("pendingDeclaredCommands".into(), json!(p.commands));
    }
    if let Some(s) = session {
        e.insert("connectedAtMs".into(), json!(s.connected_at_ms));
        e.insert("lastConnectedAtMs".into(), json!(s.connected_at_ms));
    }
    if let Some(r) = record {
        if let Some(t) = r.last_seen_at_ms {
            e.insert("lastSeenAtMs".into(), json!(t));
        }
        if let Some(reason) = &r.last_seen_reason {
            e.insert("lastSeenReason".into(), json!(reason));
        }
        e.insert("approvedAtMs".into(), json!(r.approved_at_ms));
    }
    e.insert("paired".into(), json!(device.is_some_and(|d| d.has_role(Role::Node))));
    e.insert("connected".into(), json!(live.is_some()));
    Some(Value::Object(e))
}

fn all_node_ids(shared: &Shared, registry: &Registry) -> Vec<String> {
    let pairing = shared.pairing();
    let mut ids: Vec<String> = registry.nodes().filter_map(|c| c.device_id.clone()).collect();
    ids.extend(pairing.nodes().map(|n| n.node_id.clone()));
    ids.extend(pairing.node_requests().into_iter().map(|r| r.node_id));
    ids.extend(pairing.devices().filter(|d| d.has_role(Role::Node)).map(|d| d.device_id.clone()));
    ids.sort();
    ids.dedup();
    ids
}

fn node_list(shared: &Shared) -> Value {
    let registry = shared.registry();
    let ids = all_node_ids(shared, &registry);
    let mut nodes: Vec<Value> = ids.iter().filter_map(|id| node_entry(shared, &registry, id)).collect();
    // Connected first, then by name.
    nodes.sort_by_key(|n| (n["connected"] != json!(true), n["displayName"].as_str().unwrap_or("").to_lowercase()));
    json!({"ts": openclaw_state::now_ms(), "nodes": nodes})
}

fn node_id_param(method: &str, p: &Value) -> Result<String, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| obj(vec![req("nodeId", non_empty())]));
    check(method, &SHAPE, p)?;
    Ok(p["nodeId"].as_str().unwrap_or_default().trim().to_string())
}

fn node_describe(shared: &Shared, p: &Value) -> Result<Value, ErrorShape> {
    let node_id = node_id_param("node.describe", p)?;
    let registry = shared.registry();
    let mut entry = node_entry(shared, &registry, &node_id).ok_or_else(|| invalid("unknown nodeId"))?;
    entry["ts"] = json!(openclaw_state::now_ms());
    Ok(entry)
}

fn node_rename(shared: &Shared, p: &Value) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> =
        LazyLock::new(|| obj(vec![req("nodeId", non_empty()), req("displayName", non_empty())]));
    check("node.rename", &SHAPE, p)?;
    let node_id = p["nodeId"].as_str().unwrap_or_default().trim();
    let name = p["displayName"].as_str().unwrap_or_default().trim();
    if name.is_empty() {
        return Err(invalid("displayName required"));
    }
    shared.pairing().rename_node(node_id, name).map_err(pairing_error)?;
    if let Some(n) = shared.registry().node_mut(node_id).and_then(|c| c.node.as_mut()) {
        n.display_name = Some(name.to_string());
    }
    Ok(json!({"nodeId": node_id, "displayName": name}))
}

fn pairing_error(e: PairingError) -> ErrorShape {
    match e {
        PairingError::Store(e) => {
            tracing::error!("pairing store: {e}");
            ErrorShape::new(ErrorCode::Unavailable, "gateway state unavailable; retry shortly")
        }
        other => invalid(other.to_string()),
    }
}

/// One `node.invoke.request` to send.
pub struct InvokeCall<'a> {
    /// The operator connection that asked (its disconnect cancels the invoke).
    pub caller_conn: Option<&'a str>,
    pub node_id: &'a str,
    pub command: &'a str,
    pub params: Option<&'a Value>,
    /// The gateway's deadline.
    pub timeout_ms: u64,
    pub idempotency_key: Option<&'a str>,
    pub session_key: Option<&'a str>,
}

/// Sends a command to a node and waits for its result (or the deadline, after which the node
/// is told to cancel).
pub async fn invoke_node(shared: &Shared, call: InvokeCall<'_>) -> Result<(Value, Option<String>), ErrorShape> {
    let InvokeCall { caller_conn, node_id, command, params, timeout_ms, idempotency_key, session_key } = call;
    let invoke_id = uuid::Uuid::new_v4().to_string();
    let rx = {
        let mut registry = shared.registry();
        let Some(node) = registry.node(node_id) else {
            drop(registry);
            let known = shared.pairing().node(node_id).is_some();
            return Err(if known { not_connected() } else { invalid("unknown nodeId") });
        };
        let session = node.node.as_ref().expect("node connections carry a session");
        if !session.commands.iter().any(|c| c == command) {
            let allowlisted = crate::pairing::allowlisted_commands(
                &session.platform,
                session.device_family.as_deref(),
                &[command.to_string()],
            );
            let (message, reason) = if allowlisted.is_empty() {
                (
                    format!("{command:?} is not in the allowlist for platform {:?}", session.platform),
                    "command not allowlisted",
                )
            } else if !session.declared_commands.iter().any(|c| c == command) {
                (
                    format!("the node (platform: {}) does not support {command:?}", session.platform),
                    "command not declared by node",
                )
            } else {
                (
                    "declared command surface is pending approval; run `openclaw nodes pending`".to_string(),
                    "command not approved",
                )
            };
            return Err(invalid_with(
                format!("node command not allowed: {message}"),
                json!({"command": command, "reason": reason}),
            ));
        }
        let mut request = json!({
            "id": invoke_id,
            "nodeId": node_id,
            "command": command,
            "paramsJSON": params.map(|p| p.to_string()),
            "timeoutMs": timeout_ms,
        });
        if let Some(k) = idempotency_key {
            request["idempotencyKey"] = json!(k);
        }
        if let Some(s) = session_key {
            request["sessionKey"] = json!(s);
        }
        registry.start_invoke(&invoke_id, node_id, caller_conn, request)
    };
    let Some(rx) = rx else {
        return Err(not_connected());
    };
    match tokio::time::timeout(Duration::from_millis(timeout_ms), rx).await {
        Ok(Ok(InvokeOutcome::Ok { payload, payload_json })) => Ok((payload, payload_json)),
        Ok(Ok(InvokeOutcome::NodeError { code, message })) => Err(node_failure(&code, &message, true)),
        Ok(Ok(InvokeOutcome::Disconnected)) | Ok(Err(_)) => {
            Err(node_failure("DISCONNECTED", "node disconnected before replying", true))
        }
        Err(_) => {
            shared.registry().abandon_invoke(&invoke_id);
            let mut e = node_failure("TIMEOUT", "node invoke timed out", true);
            e.retryable = Some(true);
            Err(e)
        }
    }
}

fn not_connected() -> ErrorShape {
    let mut e = ErrorShape::new(ErrorCode::Unavailable, "node not connected");
    e.details = Some(json!({
        "code": "NOT_CONNECTED",
        "nodeError": {"code": "NOT_CONNECTED", "message": "node not connected"},
        "nodeCommandDispatched": false,
    }));
    e
}

/// `UNAVAILABLE "<CODE>: <message>"` with `details.nodeError`, as upstream reports node failures.
fn node_failure(code: &str, message: &str, dispatched: bool) -> ErrorShape {
    let mut e = ErrorShape::new(ErrorCode::Unavailable, format!("{code}: {message}"));
    e.details = Some(json!({"nodeError": {"code": code, "message": message}, "nodeCommandDispatched": dispatched}));
    e
}

async fn node_invoke(shared: &Arc<Shared>, ctx: &ConnCtx, p: &Value) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| {
        obj(vec![
            req("nodeId", non_empty()),
            req("command", non_empty()),
            opt("params", Shape::Any),
            opt("timeoutMs", Shape::Int { min: 0 }),
            req("idempotencyKey", non_empty()),
            opt("sessionKey", string()),
            opt("turnSourceChannel", Shape::Any),
            opt("turnSourceTo", Shape::Any),
            opt("turnSourceAccountId", Shape::Any),
            opt("turnSourceThreadId", Shape::Any),
        ])
    });
    check("node.invoke", &SHAPE, p)?;
    let node_id = p["nodeId"].as_str().unwrap_or_default().trim().to_string();
    let command = p["command"].as_str().unwrap_or_default().to_string();
    if RELAYED_ONLY.contains(&command.as_str()) {
        return Err(invalid_with(
            "node.invoke does not allow system.execApprovals.*; use exec.approvals.node.*",
            json!({"command": command}),
        ));
    }
    if ADMIN_INVOKE_COMMANDS.contains(&command.as_str()) && !has_scope(&ctx.scopes, SCOPE_ADMIN) {
        return Err(missing_scope(SCOPE_ADMIN));
    }
    let mut params = p.get("params").cloned();
    if command == "system.run" {
        let map = params.as_ref().and_then(Value::as_object).cloned().unwrap_or_default();
        let now = openclaw_state::now_ms();
        let authorized =
            shared.approvals().authorize_system_run(&map, &node_id, &ctx.caller(), now).map_err(approval_error)?;
        params = Some(Value::Object(authorized));
    }
    let timeout = p.get("timeoutMs").and_then(Value::as_u64).unwrap_or(DEFAULT_INVOKE_TIMEOUT_MS);
    let call = InvokeCall {
        caller_conn: Some(&ctx.conn_id),
        node_id: &node_id,
        command: &command,
        params: params.as_ref(),
        timeout_ms: timeout,
        idempotency_key: p.get("idempotencyKey").and_then(Value::as_str),
        session_key: p.get("sessionKey").and_then(Value::as_str),
    };
    let (payload, payload_json) = invoke_node(shared, call).await?;
    Ok(json!({"ok": true, "nodeId": node_id, "command": command, "payload": payload, "payloadJSON": payload_json}))
}

fn approval_error(e: ApprovalError) -> ErrorShape {
    let mut shape = invalid(e.message);
    shape.details = e.details;
    shape
}

fn request_id_param(method: &str, p: &Value) -> Result<String, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| obj(vec![req("requestId", non_empty())]));
    check(method, &SHAPE, p)?;
    Ok(p["requestId"].as_str().unwrap_or_default().trim().to_string())
}

fn node_pair_list(shared: &Shared) -> Value {
    let pairing = shared.pairing();
    let mut paired: Vec<Value> = pairing.nodes().map(|n| serde_json::to_value(n).unwrap()).collect();
    paired.sort_by_key(|n| n["approvedAtMs"].as_i64());
    json!({"pending": pairing.node_requests(), "paired": paired})
}

fn node_pair_approve(shared: &Shared, ctx: &ConnCtx, p: &Value) -> Result<Value, ErrorShape> {
    let request_id = request_id_param("node.pair.approve", p)?;
    let now = openclaw_state::now_ms();
    let mut pairing = shared.pairing();
    let req = pairing.node_request(&request_id).cloned().ok_or_else(|| invalid("unknown requestId"))?;
    if let Some(missing) = req.required_approve_scopes.iter().find(|s| !has_scope(&ctx.scopes, s)) {
        let mut e = missing_scope(missing);
        e.details.as_mut().unwrap()["requiredScopes"] = json!(req.required_approve_scopes);
        return Err(e);
    }
    let record = pairing.approve_node(&request_id, now).map_err(pairing_error)?;
    drop(pairing);
    let mut registry = shared.registry();
    let notice = PairingNotice::node_resolved(&request_id, &record.node_id, "approved", now);
    if let Some(client) = registry.node_mut(&record.node_id) {
        if let Some(session) = client.node.as_mut() {
            let allowed = crate::pairing::allowlisted_commands(
                &session.platform,
                session.device_family.as_deref(),
                &session.declared_commands,
            );
            session.commands = allowed.into_iter().filter(|c| record.commands.contains(c)).collect();
        }
        // The node itself is told directly (no seq), as upstream.
        client.outbox.send_event(notice.event, notice.payload.clone());
    }
    registry.notify_pairing(&notice);
    Ok(json!({"requestId": request_id, "node": record}))
}

fn node_pair_reject(shared: &Shared, p: &Value) -> Result<Value, ErrorShape> {
    let request_id = request_id_param("node.pair.reject", p)?;
    let req = shared.pairing().reject_node(&request_id).map_err(pairing_error)?;
    let notice = PairingNotice::node_resolved(&request_id, &req.node_id, "rejected", openclaw_state::now_ms());
    shared.registry().notify_pairing(&notice);
    Ok(json!({"requestId": request_id, "nodeId": req.node_id}))
}

fn node_pair_remove(shared: &Shared, p: &Value) -> Result<Value, ErrorShape> {
    let node_id = node_id_param("node.pair.remove", p)?;
    shared.pairing().remove_node(&node_id).map_err(pairing_error)?;
    let now = openclaw_state::now_ms();
    let registry = shared.registry();
    if let Some(c) = registry.node(&node_id) {
        c.outbox.close(4001, "device removed");
    }
    registry.notify_pairing(&PairingNotice::node_resolved("", &node_id, "removed", now));
    Ok(json!({"nodeId": node_id}))
}

fn device_pair_list(shared: &Shared) -> Value {
    let now = openclaw_state::now_ms();
    let mut pairing = shared.pairing();
    let pending = pairing.device_requests(now);
    let mut paired: Vec<Value> = pairing.devices().map(|d| d.redacted()).collect();
    paired.sort_by_key(|d| d["approvedAtMs"].as_i64());
    json!({"pending": pending, "paired": paired})
}

fn device_pair_approve(shared: &Shared, ctx: &ConnCtx, p: &Value) -> Result<Value, ErrorShape> {
    let request_id = request_id_param("device.pair.approve", p)?;
    let now = openclaw_state::now_ms();
    let mut pairing = shared.pairing();
    let req = pairing.device_request(&request_id, now).ok_or_else(|| invalid("unknown requestId"))?;
    let non_operator = req.roles.iter().any(|r| r != Role::Operator.as_str());
    let escalates = req.scopes.iter().any(|s| !has_scope(&ctx.scopes, s));
    if (non_operator || escalates) && !has_scope(&ctx.scopes, SCOPE_ADMIN) {
        return Err(invalid("device pairing approval denied"));
    }
    let device = pairing.approve_device(&request_id, "owner", now).map_err(pairing_error)?;
    drop(pairing);
    let notice = PairingNotice::device_resolved(&request_id, &device.device_id, "approved", now);
    shared.registry().notify_pairing(&notice);
    tracing::info!("device pairing approved device={} roles={:?}", device.device_id, device.roles);
    Ok(json!({"requestId": request_id, "device": device.redacted()}))
}

fn device_pair_reject(shared: &Shared, p: &Value) -> Result<Value, ErrorShape> {
    let request_id = request_id_param("device.pair.reject", p)?;
    let req = shared.pairing().reject_device(&request_id).map_err(pairing_error)?;
    let notice = PairingNotice::device_resolved(&request_id, &req.device_id, "rejected", openclaw_state::now_ms());
    shared.registry().notify_pairing(&notice);
    Ok(json!({"requestId": request_id, "deviceId": req.device_id}))
}

fn device_pair_remove(shared: &Shared, p: &Value) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| obj(vec![req("deviceId", non_empty())]));
    check("device.pair.remove", &SHAPE, p)?;
    let device_id = p["deviceId"].as_str().unwrap_or_default().trim().to_string();
    shared.pairing().remove_device(&device_id).map_err(pairing_error)?;
    shared.registry().close_device(&device_id, 4001, "device removed");
    Ok(json!({"deviceId": device_id}))
}

// ---------------------------------------------------------------------------------------------
// Exec approvals: the node's policy document, relayed, and approval records

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

async fn approvals_node_get(shared: &Arc<Shared>, ctx: &ConnCtx, p: &Value) -> Result<Value, ErrorShape> {
    let node_id = node_id_param("exec.approvals.node.get", p)?;
    if node_id.is_empty() {
        return Err(invalid("nodeId required"));
    }
    let params = json!({});
    let (payload, _) = invoke_node(shared, relay_call(ctx, &node_id, "system.execApprovals.get", &params)).await?;
    let valid = payload.get("hash").is_some_and(Value::is_string) && payload.get("file").is_some_and(Value::is_object);
    if !valid {
        return Err(invalid("node returned invalid exec approvals payload"));
    }
    Ok(payload)
}

async fn approvals_node_set(shared: &Arc<Shared>, ctx: &ConnCtx, p: &Value) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| {
        obj(vec![
            req("nodeId", non_empty()),
            opt("file", Shape::Any),
            opt("native", Shape::Any),
            opt("baseHash", string()),
        ])
    });
    check("exec.approvals.node.set", &SHAPE, p)?;
    let node_id = p["nodeId"].as_str().unwrap_or_default().trim().to_string();
    let Some(file) = p.get("file").filter(|f| f.is_object()) else {
        return Err(invalid("exec.approvals.node.set requires file"));
    };
    let mut params = json!({"file": file});
    if let Some(h) = p.get("baseHash") {
        params["baseHash"] = h.clone();
    }
    let (payload, _) = invoke_node(shared, relay_call(ctx, &node_id, "system.execApprovals.set", &params)).await?;
    Ok(payload)
}

fn approval_visible_operators(registry: &Registry, record: &ApprovalRecord, exclude_conn: Option<&str>) -> Vec<Outbox> {
    registry
        .operators()
        .filter(|c| Some(c.conn_id.as_str()) != exclude_conn)
        .filter(|c| {
            has_scope(&c.scopes, SCOPE_ADMIN)
                || (has_scope(&c.scopes, SCOPE_APPROVALS)
                    && match &record.requested_by_device {
                        Some(d) => c.device_id.as_deref() == Some(d.as_str()),
                        None => c.conn_id == record.requested_by_conn,
                    })
        })
        .map(|c| c.outbox.clone())
        .collect()
}

/// Tells operators about approvals that expired undecided (`decision: "deny"`, no resolver).
pub fn publish_expired_approvals(shared: &Shared, expired: &[ApprovalRecord]) {
    if expired.is_empty() {
        return;
    }
    let registry = shared.registry();
    for r in expired {
        let event = json!({"id": r.id, "decision": "deny", "resolvedBy": null, "ts": openclaw_state::now_ms(), "request": r.request});
        for o in approval_visible_operators(&registry, r, None) {
            o.send_broadcast("exec.approval.resolved", event.clone());
        }
    }
}

async fn approval_request(
    shared: &Arc<Shared>,
    ctx: &ConnCtx,
    outbox: &Outbox,
    req: &RequestFrame,
    p: &Value,
) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| {
        let nullable = || Shape::Any;
        obj(vec![
            opt("id", non_empty()),
            opt("command", non_empty()),
            opt("commandArgv", crate::schema::array(string())),
            opt("systemRunPlan", Shape::Any),
            opt("env", Shape::Record(Box::new(string()))),
            opt("cwd", nullable()),
            opt("host", nullable()),
            opt("security", nullable()),
            opt("ask", nullable()),
            opt("warningText", nullable()),
            opt("agentId", nullable()),
            opt("resolvedPath", nullable()),
            opt("sessionKey", nullable()),
            opt("sessionId", nullable()),
            opt("runId", nullable()),
            opt("toolCallId", nullable()),
            opt("turnSourceChannel", nullable()),
            opt("turnSourceTo", nullable()),
            opt("turnSourceAccountId", nullable()),
            opt("turnSourceThreadId", nullable()),
            opt("nodeId", nullable()),
            opt("scope", nullable()),
            opt("unavailableDecisions", Shape::Any),
            opt("commandSpans", Shape::Any),
            opt("approvalReviewerDeviceIds", Shape::Any),
            opt("requireDeliveryRoute", Shape::Bool),
            opt("suppressDelivery", Shape::Bool),
            opt("deliverToApprovalClientsOnly", Shape::Bool),
            opt("twoPhase", Shape::Bool),
            opt("timeoutMs", Shape::Int { min: 1 }),
        ])
    });
    check("exec.approval.request", &SHAPE, p)?;
    let map = p.as_object().cloned().unwrap_or_default();
    let now = openclaw_state::now_ms();
    let record = shared.approvals().request(&map, &ctx.caller(), now).map_err(approval_error)?;
    let mut decided = record.decided.subscribe();
    let routes = {
        let registry = shared.registry();
        let routes = approval_visible_operators(&registry, &record, Some(&ctx.conn_id));
        if !map.get("suppressDelivery").is_some_and(|v| v == &json!(true)) {
            let event = json!({
                "approvalKind": "exec",
                "id": record.id,
                "request": record.request,
                "createdAtMs": record.created_at_ms,
                "expiresAtMs": record.expires_at_ms,
            });
            for o in &routes {
                o.send_broadcast("exec.approval.requested", event.clone());
            }
        }
        routes.len()
    };
    let require_route = !map.get("requireDeliveryRoute").is_some_and(|v| v == &json!(false));
    if routes == 0 && require_route {
        // Nobody could ever answer: decide it now (null), as upstream does.
        shared.approvals().expire(&record.id, openclaw_state::now_ms());
    }
    if map.get("twoPhase").is_some_and(|v| v == &json!(true)) {
        let route = if routes > 0 { "approval-client" } else { "none" };
        let accepted = json!({
            "status": "accepted",
            "id": record.id,
            "deliveryRoute": route,
            "createdAtMs": record.created_at_ms,
            "expiresAtMs": record.expires_at_ms,
        });
        outbox.send_frame(&openclaw_protocol::Frame::Res(ResponseFrame::ok(&req.id, accepted)));
    }
    wait_decided(shared, &mut decided, &record).await;
    let caller = ctx.caller();
    let current = shared.approvals().find(&record.id, &caller, openclaw_state::now_ms());
    Ok(current.map(|r| r.decision_payload()).unwrap_or_else(|_| {
        json!({"id": record.id, "decision": null, "createdAtMs": record.created_at_ms, "expiresAtMs": record.expires_at_ms})
    }))
}

/// Waits until the record is decided or expires (the sweep marks expiry).
async fn wait_decided(shared: &Shared, decided: &mut tokio::sync::watch::Receiver<bool>, record: &ApprovalRecord) {
    loop {
        if *decided.borrow() {
            return;
        }
        let until_expiry = (record.expires_at_ms - openclaw_state::now_ms()).max(0) as u64;
        let woke = tokio::time::timeout(Duration::from_millis(until_expiry + 50), decided.changed()).await;
        if matches!(woke, Ok(Err(_))) {
            return;
        }
        if woke.is_err() {
            let expired = shared.approvals().sweep(openclaw_state::now_ms());
            publish_expired_approvals(shared, &expired);
        }
    }
}

fn approval_id_param(method: &str, p: &Value) -> Result<String, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| obj(vec![req("id", non_empty())]));
    check(method, &SHAPE, p)?;
    Ok(p["id"].as_str().unwrap_or_default().to_string())
}

fn approval_get(shared: &Shared, ctx: &ConnCtx, p: &Value) -> Result<Value, ErrorShape> {
    let id = approval_id_param("exec.approval.get", p)?;
    let r = shared.approvals().find(&id, &ctx.caller(), openclaw_state::now_ms()).map_err(approval_error)?;
    if r.decision.is_some() || r.terminal_reason.is_some() {
        return Err(approval_error(ApprovalError {
            message: "unknown or expired approval id".into(),
            details: Some(json!({"reason": "APPROVAL_NOT_FOUND"})),
        }));
    }
    Ok(json!({
        "id": r.id,
        "commandText": r.request["command"],
        "commandPreview": null,
        "allowedDecisions": r.request["allowedDecisions"],
        "host": "node",
        "nodeId": r.node_id,
        "agentId": r.request["agentId"],
        "expiresAtMs": r.expires_at_ms,
    }))
}

fn approval_list(shared: &Shared, ctx: &ConnCtx) -> Value {
    let records = shared.approvals().pending(&ctx.caller(), openclaw_state::now_ms());
    Value::Array(
        records
            .iter()
            .map(|r| json!({"id": r.id, "request": r.request, "createdAtMs": r.created_at_ms, "expiresAtMs": r.expires_at_ms, "approvalKind": "exec"}))
            .collect(),
    )
}

async fn approval_wait(shared: &Arc<Shared>, ctx: &ConnCtx, p: &Value) -> Result<Value, ErrorShape> {
    let id = p.get("id").and_then(Value::as_str).unwrap_or("").trim().to_string();
    if id.is_empty() {
        return Err(invalid("id is required"));
    }
    let caller = ctx.caller();
    let record = shared
        .approvals()
        .find(&id, &caller, openclaw_state::now_ms())
        .map_err(|_| invalid("approval expired or not found"))?;
    let mut decided = record.decided.subscribe();
    wait_decided(shared, &mut decided, &record).await;
    let r = shared.approvals().find(&record.id, &caller, openclaw_state::now_ms()).map_err(approval_error)?;
    Ok(r.wait_payload())
}

fn approval_resolve(shared: &Shared, ctx: &ConnCtx, p: &Value) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| {
        obj(vec![
            req("id", non_empty()),
            req("decision", non_empty()),
            opt("reviewer", Shape::Any),
            opt("grantExpiresInDays", Shape::Int { min: 1 }),
        ])
    });
    check("exec.approval.resolve", &SHAPE, p)?;
    let id = p["id"].as_str().unwrap_or_default();
    let decision = p["decision"].as_str().unwrap_or_default();
    let now = openclaw_state::now_ms();
    let record = shared.approvals().resolve(id, decision, &ctx.caller(), now).map_err(approval_error)?;
    let event =
        json!({"id": record.id, "decision": decision, "resolvedBy": ctx.name, "ts": now, "request": record.request});
    let registry = shared.registry();
    for o in approval_visible_operators(&registry, &record, None) {
        o.send_broadcast("exec.approval.resolved", event.clone());
    }
    tracing::info!("exec approval resolved id={} decision={decision} by={}", record.id, ctx.name);
    Ok(json!({"ok": true}))
}

fn audit_list(shared: &Shared, p: &Value) -> Result<Value, ErrorShape> {
    let limit = p.get("limit").and_then(Value::as_u64).unwrap_or(100).clamp(1, 10_000) as u32;
    let events = shared
        .pairing()
        .store()
        .exec_events(limit)
        .map_err(|e| ErrorShape::new(ErrorCode::Unavailable, e.to_string()))?;
    Ok(json!({"items": events}))
}
