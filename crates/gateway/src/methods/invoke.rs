//! `node.invoke`: an operator runs a command on a node, and [`invoke_node`], the one path by
//! which the gateway sends `node.invoke.request` and waits for the result (also used by the
//! `exec.approvals.node.*` relay).
//!
//! The command must be on the node's approved surface; `system.run` additionally needs an
//! approved plan ([`crate::exec_approval`]), and a few commands need `operator.admin`.

use std::sync::LazyLock;
use std::time::Duration;

use openclaw_protocol::methods::NodeInvokeResult;
use openclaw_protocol::{ErrorCode, ErrorShape};
use serde_json::{json, Value};

use super::{
    approval_error, invalid, invalid_with, missing_scope, obj, reply, Access, Call, Handler, HandlerFuture, Method,
};
use crate::pairing::{has_scope, SCOPE_ADMIN, SCOPE_WRITE};
use crate::registry::InvokeOutcome;
use crate::schema::{non_empty, opt, req, string, Shape};
use crate::Shared;

/// Default deadline of `node.invoke` when the caller gives none.
pub const DEFAULT_INVOKE_TIMEOUT_MS: u64 = 30_000;

/// `node.invoke`.
pub(super) const METHODS: &[Method] =
    &[Method { name: "node.invoke", access: Access::Operator(SCOPE_WRITE), handler: Handler::Async(node_invoke) }];

/// Commands `node.invoke` refuses outright, with the method to use instead.
const RELAYED_ONLY: &[&str] = &["system.execApprovals.get", "system.execApprovals.set"];
/// Commands that need `operator.admin` through `node.invoke`.
const ADMIN_INVOKE_COMMANDS: &[&str] = &["browser.proxy", "browser.proxy.upload.v1", "fs.listDir", "terminal.upload"];

/// One `node.invoke.request` to send.
#[derive(Clone, Copy)]
pub struct InvokeCall<'a> {
    /// The operator connection that asked (its disconnect cancels the invoke).
    pub caller_conn: Option<&'a str>,
    /// The target node.
    pub node_id: &'a str,
    /// The command, e.g. `system.which`.
    pub command: &'a str,
    /// The command's params (sent as `paramsJSON`).
    pub params: Option<&'a Value>,
    /// The gateway's deadline.
    pub timeout_ms: u64,
    /// The caller's idempotency key, passed through.
    pub idempotency_key: Option<&'a str>,
    /// The caller's session key, passed through.
    pub session_key: Option<&'a str>,
}

/// Sends a command to a node and waits for its result (or the deadline, after which the node
/// is told to cancel). The command must be on the node's allowlist; file-transfer commands go
/// through their path policy ([`crate::file_transfer`]), which sends its own bound requests.
pub async fn invoke_node(shared: &Shared, call: InvokeCall<'_>) -> Result<(Value, Option<String>), ErrorShape> {
    let display_name = {
        let registry = shared.registry();
        let Some(node) = registry.node(call.node_id) else {
            drop(registry);
            let known = shared.pairing().node(call.node_id).is_some();
            return Err(if known { not_connected() } else { invalid("unknown nodeId") });
        };
        let session = node.node.as_ref().expect("node connections carry a session");
        if let Err((message, reason)) = command_allowed(&shared.config.node_commands, session, call.command) {
            return Err(invalid_with(message, json!({"command": call.command, "reason": reason})));
        }
        session.display_name.clone()
    };
    if crate::file_transfer::COMMANDS.contains(&call.command.trim()) {
        return crate::file_transfer::handle(shared, &call, display_name.as_deref()).await;
    }
    send_invoke(shared, &call).await.map_err(|failure| match failure {
        SendFailure::NotConnected => not_connected(),
        SendFailure::UnknownNode => invalid("unknown nodeId"),
        other => {
            let (code, message) = other.code_and_message(call.command);
            let mut e = node_failure(&code, &message, true);
            if matches!(other, SendFailure::Timeout) {
                e.retryable = Some(true);
            }
            e
        }
    })
}

/// Why [`send_invoke`] got no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// The node is paired but not connected (nothing was sent).
    NotConnected,
    /// No such node (nothing was sent).
    UnknownNode,
    /// The node answered `ok: false`.
    Node {
        /// Its code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The node went away before answering (the command may have run).
    Disconnected,
    /// The deadline passed; the node was told to cancel.
    Timeout,
}

impl SendFailure {
    /// `(code, message)` as upstream's node registry reports the failure.
    pub fn code_and_message(&self, command: &str) -> (String, String) {
        match self {
            SendFailure::NotConnected => ("NOT_CONNECTED".into(), "node not connected".into()),
            SendFailure::UnknownNode => ("NOT_CONNECTED".into(), "node not connected".into()),
            SendFailure::Node { code, message } => (code.clone(), message.clone()),
            SendFailure::Disconnected => ("DISCONNECTED".into(), format!("node disconnected ({command})")),
            SendFailure::Timeout => ("TIMEOUT".into(), "node invoke timed out".into()),
        }
    }
}

/// Sends one `node.invoke.request` as is (no policy) and awaits its result: the one place a
/// request to a node is started, for [`invoke_node`] and for the file-transfer flow's
/// preflight and bound calls.
pub async fn send_invoke(shared: &Shared, call: &InvokeCall<'_>) -> Result<(Value, Option<String>), SendFailure> {
    let InvokeCall { caller_conn, node_id, command, params, timeout_ms, idempotency_key, session_key } = *call;
    let invoke_id = uuid::Uuid::new_v4().to_string();
    let rx = {
        let mut registry = shared.registry();
        if registry.node(node_id).is_none() {
            drop(registry);
            let known = shared.pairing().node(node_id).is_some();
            return Err(if known { SendFailure::NotConnected } else { SendFailure::UnknownNode });
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
        return Err(SendFailure::NotConnected);
    };
    match tokio::time::timeout(Duration::from_millis(timeout_ms), rx).await {
        Ok(Ok(InvokeOutcome::Ok { payload, payload_json })) => Ok((payload, payload_json)),
        Ok(Ok(InvokeOutcome::NodeError { code, message })) => Err(SendFailure::Node { code, message }),
        // Upstream's code and message; `nodeCommandDispatched: true` tells the caller that the
        // command was sent and may have run, so the outcome is unknown (not a failure to retry
        // blindly).
        Ok(Ok(InvokeOutcome::Disconnected)) | Ok(Err(_)) => Err(SendFailure::Disconnected),
        Err(_) => {
            shared.registry().abandon_invoke(&invoke_id);
            Err(SendFailure::Timeout)
        }
    }
}

/// Upstream's `isNodeCommandAllowed` against the runtime allowlist (the session's effective
/// commands counting as approved), with the rejection text its `buildNodeCommandRejectionHint`
/// gives: `(message, reason)`.
fn command_allowed(
    config: &crate::pairing::NodeCommandsConfig,
    session: &crate::registry::NodeSession,
    command: &str,
) -> Result<(), (String, &'static str)> {
    use crate::pairing::{allowlist, AllowlistKind, NodeFacts};
    let facts = NodeFacts {
        platform: &session.platform,
        device_family: session.device_family.as_deref(),
        caps: &session.caps,
        commands: &session.commands,
        approved: Some(&session.commands),
    };
    let command = command.trim();
    let reason = if command.is_empty() {
        "command required"
    } else if !allowlist(config, &facts, AllowlistKind::Runtime).contains(command) {
        "command not allowlisted"
    } else if session.commands.is_empty() {
        "node did not declare commands"
    } else if !session.commands.iter().any(|c| c == command) {
        "command not declared by node"
    } else {
        return Ok(());
    };
    let platform = &session.platform;
    let detail = match reason {
        "command not declared by node" => format!("the node (platform: {platform}) does not support {command:?}"),
        "command not allowlisted" if command.starts_with("talk.") => {
            format!("{command:?} requires a trusted Talk-capable node")
        }
        "command not allowlisted" if config.deny.iter().any(|d| d.trim() == command) => {
            format!("{command:?} is blocked by gateway.nodes.commands.deny")
        }
        "command not allowlisted" if crate::pairing::is_dangerous_builtin(command) => {
            format!("{command:?} requires explicit gateway.nodes.commands.allow opt-in")
        }
        "command not allowlisted" => format!("{command:?} is not in the allowlist for platform {platform:?}"),
        "node did not declare commands" if session.declared_commands.iter().any(|c| c == command) => {
            "the node's declared command surface is pending approval; run `openclaw nodes pending`, then `openclaw \
             nodes approve <requestId>`"
                .to_string()
        }
        "node did not declare commands" => "the node did not declare any supported commands".to_string(),
        other => other.to_string(),
    };
    Err((format!("node command not allowed: {detail}"), reason))
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

fn node_invoke<'a>(call: &'a Call<'a>) -> HandlerFuture<'a> {
    Box::pin(async move {
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
        call.check(&SHAPE)?;
        let (shared, ctx, p) = (call.shared, call.conn, call.params);
        let node_id = p["nodeId"].as_str().unwrap_or_default().trim().to_string();
        // Upstream trims the command before every check and names it trimmed in refusals.
        let command = p["command"].as_str().unwrap_or_default().trim().to_string();
        if crate::pairing::is_worker_private(&command) {
            return Err(invalid_with("node.invoke does not allow private node controls", json!({"command": command})));
        }
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
        let invoke = InvokeCall {
            caller_conn: Some(&ctx.conn_id),
            node_id: &node_id,
            command: &command,
            params: params.as_ref(),
            timeout_ms: timeout,
            idempotency_key: p.get("idempotencyKey").and_then(Value::as_str),
            session_key: p.get("sessionKey").and_then(Value::as_str),
        };
        let (payload, payload_json) = invoke_node(shared, invoke).await?;
        reply(NodeInvokeResult { ok: true, node_id, command, payload, payload_json })
    })
}
