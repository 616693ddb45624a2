//! Requests after `hello-ok`: role and scope gates, then one handler per method.
//!
//! Every method is declared once, in its family's table (`METHODS` in each submodule): its
//! name, who may call it (`Access`) and its handler, side by side. [`authorize`], [`handle`]
//! and `hello-ok.features.methods` ([`METHODS`]) all read the one table concatenated here, so a
//! handler cannot exist without a row (it would answer `unknown method`), and the
//! `invalid <method> params: …` text takes the method's name from its row.
//!
//! Nodes may call only the node methods (`node.invoke.result`, `node.event`, …); everything
//! else, known or not, is `unauthorized role: node`. Operators need the scope each method
//! names (`operator.admin` covers all). Params are validated strictly ([`crate::schema`]) and
//! refused with upstream's `invalid <method> params: …` text.
//!
//! Families: `node` (node-side), `health`, `nodes` (the node list), `invoke`,
//! `node_pair`, `device_pair`, `device_token` (rotate, revoke), `bootstrap` (setup codes), `exec_approvals` (the node's policy file, relayed),
//! `exec_approval` (approval records) and `audit`.

mod audit;
mod bootstrap;
mod device_pair;
mod device_token;
mod exec_approval;
mod exec_approvals;
mod health;
mod invoke;
mod node;
mod node_pair;
mod nodes;
mod plugin_approval;
mod qr_png;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};

use openclaw_protocol::{ErrorCode, ErrorShape, Frame, RequestFrame, ResponseFrame, Role};
use serde::Serialize;
use serde_json::{json, Value};

use crate::exec_approval::{ApprovalError, Caller};
use crate::pairing::{has_scope, PairingError, SCOPE_ADMIN, SCOPE_WRITE};
use crate::registry::Outbox;
use crate::schema::{non_empty, req, Shape};
use crate::Shared;

pub use invoke::{invoke_node, send_invoke, InvokeCall, SendFailure, DEFAULT_INVOKE_TIMEOUT_MS};
pub use plugin_approval::{ask as ask_plugin_approval, Asker, DEFAULT_PLUGIN_TIMEOUT_MS};

pub use crate::pairing::{SCOPE_APPROVALS, SCOPE_READ};

/// What the handlers know about the calling connection.
#[derive(Debug, Clone)]
pub struct ConnCtx {
    /// This connection's id (`hello-ok.server.connId`).
    pub conn_id: String,
    /// The role it was admitted with.
    pub role: Role,
    /// The paired device, if it connected with one (a node's id).
    pub device_id: Option<String>,
    /// Whether it authenticated with that device's own token: then, without
    /// `operator.admin`, it manages only its own device.
    pub device_token_auth: bool,
    /// Granted operator scopes (empty for nodes).
    pub scopes: Vec<String>,
    /// Display name or client id (shown as `resolvedBy`).
    pub name: String,
    /// The address operators are shown, `None` for loopback.
    pub remote_ip: Option<String>,
}

impl ConnCtx {
    /// The device a device-token caller is bound to (upstream's `callerDeviceId`); `None` for
    /// callers that authenticated with a shared secret, who may manage any device.
    fn token_device(&self) -> Option<&str> {
        self.device_token_auth.then_some(self.device_id.as_deref()).flatten()
    }

    /// Whether this caller may not manage `target`: a device-token caller without
    /// `operator.admin` reaching for another device (upstream's `deniesCrossDeviceManagement`).
    fn denied_cross_device(&self, target: &str) -> bool {
        self.token_device().is_some_and(|own| own != target.trim()) && !has_scope(&self.scopes, SCOPE_ADMIN)
    }

    fn caller(&self) -> Caller {
        Caller {
            conn_id: self.conn_id.clone(),
            device_id: self.device_id.clone(),
            admin: has_scope(&self.scopes, SCOPE_ADMIN),
            name: self.name.clone(),
        }
    }
}

/// Who may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Only connections with `role: "node"`.
    Node,
    /// Operators holding this scope (`operator.admin` covers all; `operator.read` is also
    /// covered by `operator.write`).
    Operator(&'static str),
}

/// The future an async handler returns (boxed so the handlers fit in one table).
pub(crate) type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, ErrorShape>> + Send + 'a>>;

/// A method's implementation: most answer at once, a few wait on a node or a decision.
#[derive(Clone, Copy)]
pub(crate) enum Handler {
    /// Answers without waiting.
    Sync(fn(&Call<'_>) -> Result<Value, ErrorShape>),
    /// Waits (on a node's reply, an approval decision).
    Async(for<'a> fn(&'a Call<'a>) -> HandlerFuture<'a>),
}

/// One row of the method table.
pub(crate) struct Method {
    /// The wire name.
    pub name: &'static str,
    /// Who may call it.
    pub access: Access,
    /// What answers it.
    pub handler: Handler,
}

/// One request being answered: everything a handler may need, in one borrow.
pub(crate) struct Call<'a> {
    /// The gateway's state.
    pub shared: &'a Arc<Shared>,
    /// The calling connection.
    pub conn: &'a ConnCtx,
    /// The calling connection's outbox (for interim answers).
    pub outbox: &'a Outbox,
    /// The request itself.
    pub req: &'a RequestFrame,
    /// Its params (`{}` when absent).
    pub params: &'a Value,
    /// The method's name as its table row spells it.
    pub method: &'static str,
    /// Sockets to close once the answer is queued ([`Call::disconnect_after_reply`]).
    disconnect: std::sync::Mutex<Option<Disconnect>>,
}

/// Connections of one device to close 4001 `device removed` after the caller's answer.
#[derive(Debug, Clone)]
struct Disconnect {
    device_id: String,
    /// Only this role's connections; `None`: all of them.
    role: Option<Role>,
}

impl Call<'_> {
    /// Closes the connections of `device_id` (of `role`, or all) with 4001 `device removed`
    /// once this request's answer is queued. Upstream holds the response the same way: when
    /// the caller's own socket is among those closed (a device managing its own token), it
    /// still receives its answer, because the close frame is queued behind it.
    fn disconnect_after_reply(&self, device_id: &str, role: Option<Role>) {
        let mut slot = self.disconnect.lock().unwrap_or_else(|p| p.into_inner());
        *slot = Some(Disconnect { device_id: device_id.to_string(), role });
    }

    /// Validates the params, refusing with `invalid <method> params: …`.
    fn check(&self, shape: &Shape) -> Result<(), ErrorShape> {
        self.check_value(shape, self.params)
    }

    /// Validates `value` (the params after a handler's normalisation) with the same refusal.
    fn check_value(&self, shape: &Shape, value: &Value) -> Result<(), ErrorShape> {
        shape.check(value).map_err(|m| invalid(format!("invalid {} params: {m}", self.method)))
    }

    /// The `nodeId` param (required, non-empty), trimmed.
    fn node_id_param(&self) -> Result<String, ErrorShape> {
        static SHAPE: LazyLock<Shape> = LazyLock::new(|| obj(vec![req("nodeId", non_empty())]));
        self.check(&SHAPE)?;
        Ok(self.params["nodeId"].as_str().unwrap_or_default().trim().to_string())
    }

    /// The `requestId` param (required, non-empty), trimmed.
    fn request_id_param(&self) -> Result<String, ErrorShape> {
        static SHAPE: LazyLock<Shape> = LazyLock::new(|| obj(vec![req("requestId", non_empty())]));
        self.check(&SHAPE)?;
        Ok(self.params["requestId"].as_str().unwrap_or_default().trim().to_string())
    }
}

/// Every method, family by family. The order is `hello-ok.features.methods`' order: operator
/// methods first, then the node methods.
static TABLE: LazyLock<Vec<&'static Method>> = LazyLock::new(|| {
    [
        health::METHODS,
        nodes::METHODS,
        invoke::METHODS,
        node_pair::METHODS,
        device_pair::METHODS,
        bootstrap::METHODS,
        device_token::METHODS,
        exec_approvals::METHODS,
        exec_approval::METHODS,
        plugin_approval::METHODS,
        audit::METHODS,
        node::METHODS,
    ]
    .into_iter()
    .flatten()
    .collect()
});

fn find(name: &str) -> Option<&'static Method> {
    TABLE.iter().copied().find(|m| m.name == name)
}

/// `hello-ok.features.methods`: every method this gateway serves.
pub static METHODS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| TABLE.iter().map(|m| m.name).filter(|n| !bootstrap::UNADVERTISED.contains(n)).collect());

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
    "device.pair.setup.completed",
    "device.pair.changed",
    "voicewake.changed",
    "exec.approval.requested",
    "exec.approval.resolved",
    "plugin.approval.requested",
    "plugin.approval.resolved",
    "exec.event",
];

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
    let row = find(method);
    let node_only = row.is_some_and(|m| m.access == Access::Node);
    if ctx.role == Role::Node {
        return if node_only { Ok(()) } else { Err(invalid("unauthorized role: node")) };
    }
    if node_only {
        return Err(invalid(format!("unauthorized role: {}", ctx.role)));
    }
    // Unknown methods need admin, so only an admin learns that a method does not exist.
    let scope = match row.map(|m| m.access) {
        Some(Access::Operator(scope)) => scope,
        _ => SCOPE_ADMIN,
    };
    let ok = if scope == SCOPE_READ { has_read(&ctx.scopes) } else { has_scope(&ctx.scopes, scope) };
    if !ok {
        return Err(missing_scope(scope));
    }
    if row.is_none() {
        return Err(invalid(format!("unknown method: {method}")));
    }
    Ok(())
}

/// Whether `method` is a quick node report handled in arrival order on the reader (no task of
/// its own): a synchronous node-only method such as `node.invoke.result`.
pub fn runs_inline(method: &str) -> bool {
    find(method).is_some_and(|m| m.access == Access::Node && matches!(m.handler, Handler::Sync(_)))
}

/// `FORBIDDEN "missing scope: <scope>"`.
fn missing_scope(scope: &str) -> ErrorShape {
    let mut e = ErrorShape::new(ErrorCode::Forbidden, format!("missing scope: {scope}"));
    e.details = Some(json!({"code": "MISSING_SCOPE", "missingScope": scope, "requiredScopes": [scope]}));
    e
}

/// A typed result (a [`openclaw_protocol::methods`] shape) as the response payload.
fn reply(result: impl Serialize) -> Result<Value, ErrorShape> {
    Ok(serde_json::to_value(result).expect("method results serialise"))
}

fn obj(fields: Vec<crate::schema::Field>) -> Shape {
    Shape::Object(fields)
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

fn approval_error(e: ApprovalError) -> ErrorShape {
    let mut shape = invalid(e.to_string());
    shape.details = e.details();
    shape
}

/// Runs one request and queues its response on `outbox` (a two-phase `exec.approval.request`
/// also sends its interim answer there). Connections a handler asked to close (a rotated,
/// revoked or removed device) are closed only after that, so the caller's answer is never
/// lost to its own socket closing.
pub async fn answer(shared: &Arc<Shared>, ctx: &ConnCtx, outbox: &Outbox, req: RequestFrame) {
    let params = req.params.clone().unwrap_or_else(|| json!({}));
    let (result, disconnect) = match find(&req.method) {
        Some(method) => {
            let call = Call {
                shared,
                conn: ctx,
                outbox,
                req: &req,
                params: &params,
                method: method.name,
                disconnect: std::sync::Mutex::new(None),
            };
            let result = match method.handler {
                Handler::Sync(run) => run(&call),
                Handler::Async(run) => run(&call).await,
            };
            (result, call.disconnect.into_inner().unwrap_or_else(|p| p.into_inner()))
        }
        None => (Err(invalid(format!("unknown method: {}", req.method))), None),
    };
    let res = match result {
        Ok(payload) => ResponseFrame::ok(&req.id, payload),
        Err(error) => ResponseFrame::err(&req.id, error),
    };
    outbox.send_frame(&Frame::Res(res));
    if let Some(d) = disconnect {
        shared.registry().close_device(&d.device_id, d.role, 4001, "device removed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_declared_once() {
        let mut names: Vec<&str> = METHODS.clone();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a method name appears in two table rows");
    }

    #[test]
    fn operator_methods_are_advertised_before_node_methods() {
        let first_node = TABLE.iter().position(|m| m.access == Access::Node).unwrap();
        assert!(TABLE[first_node..].iter().all(|m| m.access == Access::Node));
    }
}
