//! `exec.approval.*`: approval records for `system.run` plans, as operators see them.
//!
//! A request is announced to the operators allowed to see it and waits for a decision (or its
//! expiry); `twoPhase` callers get an `accepted` answer first. Who may see, decide and be told
//! about a record is [`crate::exec_approval`]'s business; this module only speaks the wire.

use std::sync::LazyLock;
use std::time::Duration;

use openclaw_protocol::methods::{Ack, ApprovalAccepted, ApprovalDecision, ApprovalListEntry, ApprovalSummary};
use openclaw_protocol::{ErrorShape, ResponseFrame};
use serde_json::{json, Value};

use super::{approval_error, invalid, obj, reply, Access, Call, Handler, HandlerFuture, Method, SCOPE_APPROVALS};
use crate::exec_approval::{publish_expired_approvals, visible_operators, ApprovalError, ApprovalRecord};
use crate::schema::{non_empty, opt, req, string, Shape};
use crate::Shared;

/// The approval record methods.
pub(super) const METHODS: &[Method] = &[
    approvals("exec.approval.request", Handler::Async(approval_request)),
    approvals("exec.approval.get", Handler::Sync(approval_get)),
    approvals("exec.approval.list", Handler::Sync(approval_list)),
    approvals("exec.approval.waitDecision", Handler::Async(approval_wait)),
    approvals("exec.approval.resolve", Handler::Sync(approval_resolve)),
];

const fn approvals(name: &'static str, handler: Handler) -> Method {
    Method { name, access: Access::Operator(SCOPE_APPROVALS), handler }
}

fn approval_request<'a>(call: &'a Call<'a>) -> HandlerFuture<'a> {
    Box::pin(async move {
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
        call.check(&SHAPE)?;
        let (shared, ctx, outbox, p) = (call.shared, call.conn, call.outbox, call.params);
        let map = p.as_object().cloned().unwrap_or_default();
        let now = openclaw_state::now_ms();
        let record = shared.approvals().request(&map, &ctx.caller(), now).map_err(approval_error)?;
        let mut decided = record.decided.subscribe();
        let routes = {
            let registry = shared.registry();
            let routes = visible_operators(&registry, &record, Some(&ctx.conn_id));
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
            let accepted = serde_json::to_value(ApprovalAccepted {
                status: "accepted".into(),
                id: record.id.clone(),
                delivery_route: route.into(),
                created_at_ms: record.created_at_ms,
                expires_at_ms: record.expires_at_ms,
            })
            .expect("serialises");
            outbox.send_frame(&openclaw_protocol::Frame::Res(ResponseFrame::ok(&call.req.id, accepted)));
        }
        wait_decided(shared, &mut decided, &record).await;
        let caller = ctx.caller();
        let current = shared.approvals().find(&record.id, &caller, openclaw_state::now_ms());
        reply(current.map(|r| r.decision_payload()).unwrap_or_else(|_| ApprovalDecision {
            id: record.id.clone(),
            decision: None,
            created_at_ms: record.created_at_ms,
            expires_at_ms: record.expires_at_ms,
        }))
    })
}

/// Waits until the record is decided or expires (the sweep marks expiry).
pub(super) async fn wait_decided(
    shared: &Shared,
    decided: &mut tokio::sync::watch::Receiver<bool>,
    record: &ApprovalRecord,
) {
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

fn approval_id_param(call: &Call<'_>) -> Result<String, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| obj(vec![req("id", non_empty())]));
    call.check(&SHAPE)?;
    Ok(call.params["id"].as_str().unwrap_or_default().to_string())
}

fn approval_get(call: &Call<'_>) -> Result<Value, ErrorShape> {
    let id = approval_id_param(call)?;
    let (shared, ctx) = (call.shared, call.conn);
    let r = shared.approvals().find(&id, &ctx.caller(), openclaw_state::now_ms()).map_err(approval_error)?;
    if r.decision.is_some() || r.terminal_reason.is_some() {
        return Err(approval_error(ApprovalError::NoLongerPending));
    }
    reply(ApprovalSummary {
        id: r.id.clone(),
        command_text: r.request["command"].clone(),
        command_preview: None,
        allowed_decisions: r.request["allowedDecisions"].clone(),
        host: "node".into(),
        node_id: r.node_id.clone(),
        agent_id: r.request["agentId"].clone(),
        expires_at_ms: r.expires_at_ms,
    })
}

fn approval_list(call: &Call<'_>) -> Result<Value, ErrorShape> {
    let (shared, ctx) = (call.shared, call.conn);
    list_reply(shared.approvals().pending(&ctx.caller(), openclaw_state::now_ms()), "exec")
}

/// The answer of `exec.approval.list` and `plugin.approval.list`: the pending records as list
/// entries of `kind`.
pub(super) fn list_reply(records: Vec<ApprovalRecord>, kind: &str) -> Result<Value, ErrorShape> {
    let entries: Vec<ApprovalListEntry> = records
        .into_iter()
        .map(|r| ApprovalListEntry {
            id: r.id,
            request: r.request,
            created_at_ms: r.created_at_ms,
            expires_at_ms: r.expires_at_ms,
            approval_kind: kind.into(),
        })
        .collect();
    reply(entries)
}

fn approval_wait<'a>(call: &'a Call<'a>) -> HandlerFuture<'a> {
    Box::pin(async move {
        let (shared, ctx, p) = (call.shared, call.conn, call.params);
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
        reply(r.wait_payload())
    })
}

fn approval_resolve(call: &Call<'_>) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| {
        obj(vec![
            req("id", non_empty()),
            req("decision", non_empty()),
            opt("reviewer", Shape::Any),
            opt("grantExpiresInDays", Shape::Int { min: 1 }),
        ])
    });
    call.check(&SHAPE)?;
    let (shared, ctx, p) = (call.shared, call.conn, call.params);
    let id = p["id"].as_str().unwrap_or_default();
    let decision = p["decision"].as_str().unwrap_or_default();
    let now = openclaw_state::now_ms();
    let record = shared.approvals().resolve(id, decision, &ctx.caller(), now).map_err(approval_error)?;
    let event =
        json!({"id": record.id, "decision": decision, "resolvedBy": ctx.name, "ts": now, "request": record.request});
    let registry = shared.registry();
    for o in visible_operators(&registry, &record, None) {
        o.send_broadcast("exec.approval.resolved", event.clone());
    }
    tracing::info!("exec approval resolved id={} decision={decision} by={}", record.id, ctx.name);
    reply(Ack { ok: true })
}
