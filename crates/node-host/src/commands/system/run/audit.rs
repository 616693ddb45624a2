//! The node's local audit trail of `system.run`: one record per request, allowed, denied or
//! rejected, with what was asked (argv, cwd, requester) and how it ended; never env values or
//! output.
//!
//! It reads the raw params, not the decoded request, because a request rejected while
//! decoding is recorded too.

use std::time::Duration;

use openclaw_protocol::node::InvokeError;
use openclaw_protocol::ErrorCode;
use serde_json::{json, Value};

use crate::invoke::InvokeContext;
use crate::params::Params;
use crate::services::NodeServices;

/// Records the decision in the local audit trail (never env values or output).
pub(super) fn audit(
    services: &NodeServices,
    ctx: &InvokeContext,
    params: &Params,
    result: &Result<Value, InvokeError>,
    took: Duration,
) {
    let (decision, reason, exit_code, timed_out) = match result {
        Ok(payload) => (
            "allowed",
            payload.get("error").and_then(Value::as_str).map(String::from),
            payload.get("exitCode").and_then(Value::as_i64).map(|c| c as i32),
            payload.get("timedOut").and_then(Value::as_bool),
        ),
        Err(e) => match e.code {
            ErrorCode::SystemRunDenied => ("denied", Some(e.message.clone()), None, None),
            ErrorCode::InvalidRequest => ("rejected", Some(e.message.clone()), None, None),
            _ => ("allowed", Some(e.message.clone()), None, None),
        },
    };
    let record = openclaw_state::audit::AuditRecord {
        at_ms: openclaw_state::now_ms(),
        invoke_id: Some(ctx.invoke_id.clone()),
        decision: decision.into(),
        reason,
        argv: params.js_strings("command").unwrap_or_default(),
        cwd: params.trimmed("cwd"),
        exit_code,
        timed_out,
        duration_ms: Some(took.as_millis() as i64),
        requester: json!({"sessionKey": params.trimmed("sessionKey"), "agentId": params.trimmed("agentId"), "runId": params.trimmed("runId")}),
    };
    if let Err(e) = services.db().append_audit(&record) {
        tracing::warn!("node host could not record the exec audit entry: {e}");
    }
}
