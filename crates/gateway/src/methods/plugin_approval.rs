//! `plugin.approval.*`: operator prompts raised on behalf of a plugin (here: the file-transfer
//! path policy, [`crate::file_transfer`]), as upstream's plugin approval manager serves them.
//!
//! The records live in the same [`crate::exec_approval::ApprovalBook`] as exec approvals, with
//! the same visibility (admins, and approvers of the device or connection that asked) and the
//! same expiry, but as [`ApprovalKind::Plugin`] records: `exec.approval.*` never sees them and
//! they can never authorise a `system.run`. [`ask`] is the one path every prompt takes: announce
//! `plugin.approval.requested` to the operators who may answer, decide `null` at once when
//! there is none (upstream's "no approval route"), else wait for a decision or the expiry.

use std::sync::LazyLock;

use openclaw_protocol::methods::{Ack, ApprovalAccepted, ApprovalDecision};
use openclaw_protocol::{ErrorShape, ResponseFrame};
use serde_json::{json, Value};

use super::exec_approval::{list_reply, wait_decided};
use super::{approval_error, invalid, obj, reply, Access, Call, Handler, HandlerFuture, Method, SCOPE_APPROVALS};
use crate::exec_approval::{visible_operators, ApprovalKind, ApprovalRecord};
use crate::schema::{non_empty, opt, req, string, Shape};
use crate::Shared;

/// Default lifetime of a pending plugin approval (upstream's `DEFAULT_PLUGIN_APPROVAL_TIMEOUT_MS`).
pub const DEFAULT_PLUGIN_TIMEOUT_MS: i64 = 120_000;
/// Longest lifetime a caller may ask for (`MAX_PLUGIN_APPROVAL_TIMEOUT_MS`).
pub const MAX_PLUGIN_TIMEOUT_MS: i64 = 600_000;

/// The plugin approval methods.
pub(super) const METHODS: &[Method] = &[
    approvals("plugin.approval.list", Handler::Sync(plugin_list)),
    approvals("plugin.approval.request", Handler::Async(plugin_request)),
    approvals("plugin.approval.waitDecision", Handler::Async(plugin_wait)),
    approvals("plugin.approval.resolve", Handler::Sync(plugin_resolve)),
];

const fn approvals(name: &'static str, handler: Handler) -> Method {
    Method { name, access: Access::Operator(SCOPE_APPROVALS), handler }
}

/// Who asked for a prompt: its visibility follows the asker's device (else connection).
#[derive(Debug, Clone)]
pub struct Asker {
    /// The asker's paired device, if any.
    pub device_id: Option<String>,
    /// The asker's connection.
    pub conn_id: String,
}

/// Raises one plugin approval prompt and waits for its outcome: the decision
/// (`allow-once` / `allow-always` / `deny`), or `None` when nobody could answer or nobody did
/// before the expiry. `request` is the object operators see.
pub async fn ask(shared: &Shared, request: Value, asker: &Asker, timeout_ms: i64) -> (ApprovalRecord, Option<String>) {
    let (record, mut decided, _) = open(shared, request, asker, timeout_ms);
    wait_decided(shared, &mut decided, &record).await;
    let decision = shared.approvals().decision_of(&record.id);
    (record, decision)
}

/// Registers the prompt and announces it: the record, its decision watch, and how many
/// clients it went to (none: already decided `null`, as upstream's "no approval route").
fn open(
    shared: &Shared,
    request: Value,
    asker: &Asker,
    timeout_ms: i64,
) -> (ApprovalRecord, tokio::sync::watch::Receiver<bool>, usize) {
    let timeout_ms = timeout_ms.clamp(1, MAX_PLUGIN_TIMEOUT_MS);
    let now = openclaw_state::now_ms();
    let record = shared.approvals().request_plugin(request, asker.device_id.clone(), &asker.conn_id, timeout_ms, now);
    let decided = record.decided.subscribe();
    let routes = {
        let registry = shared.registry();
        let routes = visible_operators(&registry, &record, None);
        let event = json!({
            "approvalKind": "plugin",
            "id": record.id,
            "request": record.request,
            "createdAtMs": record.created_at_ms,
            "expiresAtMs": record.expires_at_ms,
        });
        for o in &routes {
            o.send_broadcast("plugin.approval.requested", event.clone());
        }
        routes.len()
    };
    if routes == 0 {
        // Nobody could ever answer: decide it now (null), as upstream does.
        shared.approvals().expire(&record.id, openclaw_state::now_ms());
    }
    (record, decided, routes)
}

fn plugin_request<'a>(call: &'a Call<'a>) -> HandlerFuture<'a> {
    Box::pin(async move {
        static SHAPE: LazyLock<Shape> = LazyLock::new(|| {
            let nullable = || Shape::Any;
            obj(vec![
                opt("pluginId", nullable()),
                req("title", non_empty()),
                req("description", non_empty()),
                opt("detail", nullable()),
                opt("severity", nullable()),
                opt("scope", nullable()),
                opt("mcpTool", nullable()),
                opt("approvalReviewerDeviceIds", nullable()),
                opt("toolName", nullable()),
                opt("toolCallId", nullable()),
                opt("agentId", nullable()),
                opt("sessionKey", nullable()),
                opt("turnSourceChannel", nullable()),
                opt("turnSourceTo", nullable()),
                opt("turnSourceAccountId", nullable()),
                opt("turnSourceThreadId", nullable()),
                opt("allowedDecisions", crate::schema::array(string())),
                opt("timeoutMs", Shape::Int { min: 1 }),
                opt("twoPhase", Shape::Bool),
            ])
        });
        call.check(&SHAPE)?;
        let p = call.params;
        let text = |k: &str| p.get(k).and_then(Value::as_str).map_or(Value::Null, |s| json!(s));
        let title: String = p["title"].as_str().unwrap_or_default().chars().take(80).collect();
        let description: String = p["description"].as_str().unwrap_or_default().chars().take(512).collect();
        let severity = p
            .get("severity")
            .and_then(Value::as_str)
            .filter(|s| matches!(*s, "info" | "warning" | "critical"))
            .unwrap_or("warning");
        let mut request = json!({
            "pluginId": text("pluginId"),
            "title": title,
            "description": description,
            "severity": severity,
            "toolName": text("toolName"),
            "toolCallId": text("toolCallId"),
            "agentId": text("agentId"),
            "sessionKey": text("sessionKey"),
            "turnSourceChannel": text("turnSourceChannel"),
            "turnSourceTo": text("turnSourceTo"),
            "turnSourceAccountId": text("turnSourceAccountId"),
            "turnSourceThreadId": text("turnSourceThreadId"),
        });
        if let Some(allowed) = p.get("allowedDecisions").and_then(Value::as_array) {
            let known: Vec<&Value> =
                allowed.iter().filter(|d| crate::exec_approval::DECISIONS.iter().any(|k| *d == k)).collect();
            if known.is_empty() {
                return Err(invalid("allowedDecisions must name at least one known decision"));
            }
            request["allowedDecisions"] = json!(known);
        }
        let timeout = p.get("timeoutMs").and_then(Value::as_i64).unwrap_or(DEFAULT_PLUGIN_TIMEOUT_MS);
        let asker = Asker { device_id: call.conn.device_id.clone(), conn_id: call.conn.conn_id.clone() };
        let (record, mut decided, routes) = open(call.shared, request, &asker, timeout);
        if p.get("twoPhase") == Some(&Value::Bool(true)) {
            let accepted = serde_json::to_value(ApprovalAccepted {
                status: "accepted".into(),
                id: record.id.clone(),
                delivery_route: if routes > 0 { "approval-client" } else { "none" }.into(),
                created_at_ms: record.created_at_ms,
                expires_at_ms: record.expires_at_ms,
            })
            .expect("serialises");
            call.outbox.send_frame(&openclaw_protocol::Frame::Res(ResponseFrame::ok(&call.req.id, accepted)));
        }
        wait_decided(call.shared, &mut decided, &record).await;
        let decision = call.shared.approvals().decision_of(&record.id);
        reply(ApprovalDecision {
            id: record.id,
            decision,
            created_at_ms: record.created_at_ms,
            expires_at_ms: record.expires_at_ms,
        })
    })
}

fn plugin_list(call: &Call<'_>) -> Result<Value, ErrorShape> {
    let records =
        call.shared.approvals().pending_of(ApprovalKind::Plugin, &call.conn.caller(), openclaw_state::now_ms());
    list_reply(records, "plugin")
}

fn plugin_wait<'a>(call: &'a Call<'a>) -> HandlerFuture<'a> {
    Box::pin(async move {
        let (shared, p) = (call.shared, call.params);
        let id = p.get("id").and_then(Value::as_str).unwrap_or("").trim().to_string();
        if id.is_empty() {
            return Err(invalid("id is required"));
        }
        let caller = call.conn.caller();
        let record = shared
            .approvals()
            .find_of(ApprovalKind::Plugin, &id, &caller, openclaw_state::now_ms())
            .map_err(|_| invalid("approval expired or not found"))?;
        let mut decided = record.decided.subscribe();
        wait_decided(shared, &mut decided, &record).await;
        let r = shared
            .approvals()
            .find_of(ApprovalKind::Plugin, &record.id, &caller, openclaw_state::now_ms())
            .map_err(approval_error)?;
        reply(r.wait_payload())
    })
}

fn plugin_resolve(call: &Call<'_>) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> =
        LazyLock::new(|| obj(vec![req("id", non_empty()), req("decision", non_empty()), opt("reviewer", Shape::Any)]));
    call.check(&SHAPE)?;
    let (shared, ctx, p) = (call.shared, call.conn, call.params);
    let id = p["id"].as_str().unwrap_or_default();
    let decision = p["decision"].as_str().unwrap_or_default();
    let now = openclaw_state::now_ms();
    let record = shared
        .approvals()
        .resolve_of(ApprovalKind::Plugin, id, decision, &ctx.caller(), now)
        .map_err(approval_error)?;
    let event =
        json!({"id": record.id, "decision": decision, "resolvedBy": ctx.name, "ts": now, "request": record.request});
    let registry = shared.registry();
    for o in visible_operators(&registry, &record, None) {
        o.send_broadcast("plugin.approval.resolved", event.clone());
    }
    tracing::info!("plugin approval resolved id={} decision={decision} by={}", record.id, ctx.name);
    reply(Ack { ok: true })
}
