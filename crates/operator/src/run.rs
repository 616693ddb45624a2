//! `openclaw nodes run`: run one command on a node under its exec approvals.
//!
//! 1. `system.run.prepare` on the node returns the canonical plan (argv, cwd, command text)
//!    and the node's effective policy.
//! 2. Unless the policy always asks, the plan runs as is; a node that needs approval answers
//!    `SYSTEM_RUN_DENIED: approval required` without running anything.
//! 3. Then an approval record is registered on the gateway (`exec.approval.request`, two-phase),
//!    the operator decides (allow once / allow always / deny) through an [`Approver`], the
//!    decision is resolved on the gateway, and the plan runs with `runId` = the approval id.
//!    The gateway, not this client, attaches the approval to the forwarded `system.run`.

use std::time::Duration;

use openclaw_protocol::methods::{
    ApprovalDecision, ApprovalIdParams, ApprovalResolveParams, ApprovalSummary, NodeInvokeParams, NodeInvokeResult,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::client::{ClientError, OperatorClient};

/// An operator's answer to an approval prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run this plan once.
    AllowOnce,
    /// Run it and add it to the node's allowlist, so it is not asked again.
    AllowAlways,
    /// Do not run it.
    Deny,
}

impl Decision {
    /// The decision string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::AllowOnce => "allow-once",
            Decision::AllowAlways => "allow-always",
            Decision::Deny => "deny",
        }
    }
}

/// Asks a human. `None` means nobody can be asked (no terminal), which fails the run.
pub trait Approver {
    /// `allowed` lists the decisions the gateway accepts for this plan.
    fn decide(&mut self, node: &str, plan: &Value, allowed: &[String]) -> Option<Decision>;
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The node to run on.
    pub node_id: String,
    /// Its display name, for prompts and messages.
    pub node_name: String,
    /// The command and its arguments.
    pub argv: Vec<String>,
    /// Working directory on the node.
    pub cwd: Option<String>,
    /// Environment overrides.
    pub env: Map<String, Value>,
    /// The command's own timeout on the node (`--command-timeout`).
    pub command_timeout_ms: Option<u64>,
}

/// How a run ended short of producing a result.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The node's policy refused the command (no approval could help).
    #[error("denied by the node's exec policy: {0}")]
    Denied(String),
    /// Approval was required and nobody could be asked.
    #[error("approval required on node {node} for `{command}`, and there is no terminal to ask on.\nRun `openclaw nodes run` interactively, or allowlist the command: openclaw approvals allowlist add --node {node} <pattern>")]
    NoApprover {
        /// The node's name.
        node: String,
        /// The command text that needed approval.
        command: String,
    },
    /// The operator said no.
    #[error("denied by operator: `{0}` was not run")]
    DeniedByOperator(String),
    /// The approval expired before a decision.
    #[error("approval expired before a decision; `{0}` was not run")]
    Expired(String),
    /// A gateway or transport failure.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The node answered something this client does not understand.
    #[error("unexpected answer from the node: {0}")]
    Protocol(String),
}

/// A finished run: the node's `system.run` payload, and the decision that let it run when one
/// was needed.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// The node's `system.run` payload.
    pub output: openclaw_exec::runner::RunResult,
    /// The operator's decision, when approval was asked for.
    pub approval: Option<Decision>,
}

impl RunResult {
    fn from_payload(v: &Value, approval: Option<Decision>) -> Result<Self, RunError> {
        let output = serde_json::from_value(v.clone()).map_err(|_| RunError::Protocol(v.to_string()))?;
        Ok(RunResult { output, approval })
    }
}

fn node_error_message(e: &ClientError) -> Option<String> {
    let shape = e.shape()?;
    let node_error = shape.details.as_ref()?.get("nodeError")?;
    (node_error.get("code")?.as_str()? == "SYSTEM_RUN_DENIED")
        .then(|| node_error.get("message")?.as_str().map(String::from))?
}

fn invoke_params(req: &RunRequest, command: &str, params: Value, timeout_ms: u64) -> Value {
    to_params(NodeInvokeParams {
        node_id: req.node_id.clone(),
        command: command.into(),
        params: Some(params),
        timeout_ms: Some(timeout_ms),
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        session_key: None,
    })
}

/// Method params (a [`openclaw_protocol::methods`] shape) as the request's JSON.
fn to_params(params: impl Serialize) -> Value {
    serde_json::to_value(params).expect("method params serialise")
}

/// Reads a method result through its shared shape; `None` when the answer does not fit (the
/// callers then report what they could not find, as before the shapes were typed).
fn read<T: DeserializeOwned>(v: Value) -> Option<T> {
    serde_json::from_value(v).ok()
}

/// The node's payload inside a `node.invoke` result (`null` when there is none).
fn invoke_payload(v: Value) -> Value {
    read::<NodeInvokeResult>(v).map(|r| r.payload).unwrap_or(Value::Null)
}

/// The node's answer to `system.run.prepare`.
struct Prepared {
    plan: Value,
    policy: Value,
}

/// Asks the node for the plan. The outer error ends the run; the inner one is the node's own
/// refusal to prepare, kept (as the gateway's error) because a plain run may still be allowed,
/// and quoted only if approval turns out to be needed.
async fn prepare(client: &OperatorClient, req: &RunRequest) -> Result<Result<Prepared, ClientError>, RunError> {
    let mut params = json!({"command": req.argv});
    if let Some(cwd) = &req.cwd {
        params["cwd"] = json!(cwd);
    }
    if !req.env.is_empty() {
        params["env"] = Value::Object(req.env.clone());
    }
    let answer = client
        .request_with_timeout(
            "node.invoke",
            invoke_params(req, "system.run.prepare", params, 15_000),
            Duration::from_secs(20),
        )
        .await;
    let prepared = match answer {
        Ok(v) => v,
        // The node refused to prepare (e.g. a payload it cannot bind to an approval): a plain
        // run may still be allowed by its policy.
        Err(e) if e.shape().is_some_and(|s| s.details.as_ref().is_some_and(|d| d.get("nodeError").is_some())) => {
            return Ok(Err(e))
        }
        Err(e) => return Err(e.into()),
    };
    let text = prepared.to_string();
    let payload = invoke_payload(prepared);
    let plan = payload.get("plan").filter(|p| p.is_object()).ok_or(RunError::Protocol(text))?;
    Ok(Ok(Prepared { plan: plan.clone(), policy: payload.get("execPolicy").cloned().unwrap_or(Value::Null) }))
}

/// Runs `req` through `client`, asking `approver` when the node requires approval.
pub async fn run(
    client: &OperatorClient,
    req: &RunRequest,
    approver: &mut dyn Approver,
) -> Result<RunResult, RunError> {
    let prepared = prepare(client, req).await?;
    let policy = prepared.as_ref().map(|p| p.policy.clone()).unwrap_or(Value::Null);
    if policy.get("security").and_then(Value::as_str) == Some("deny") {
        return Err(RunError::Denied("security=deny".into()));
    }
    // The node's deadline plus slack for the round trip.
    let invoke_timeout = req.command_timeout_ms.map(|t| t.saturating_add(10_000)).unwrap_or(30 * 60 * 1000);
    let call_timeout = Duration::from_millis(invoke_timeout.saturating_add(5_000));
    let mut common = Map::new();
    if !req.env.is_empty() {
        common.insert("env".into(), Value::Object(req.env.clone()));
    }
    if let Some(t) = req.command_timeout_ms {
        common.insert("timeoutMs".into(), json!(t));
    }
    if policy.get("ask").and_then(Value::as_str) != Some("always") {
        // A plain run, as any caller would send it: no plan (a plan without approval only
        // tightens the node's checks, and some hosts refuse plans they cannot bind).
        let mut direct = common.clone();
        direct.insert("command".into(), json!(req.argv));
        if let Some(cwd) = &req.cwd {
            direct.insert("cwd".into(), json!(cwd));
        }
        let answer = client
            .request_with_timeout(
                "node.invoke",
                invoke_params(req, "system.run", Value::Object(direct), invoke_timeout),
                call_timeout,
            )
            .await;
        match answer {
            Ok(v) => return RunResult::from_payload(&invoke_payload(v), None),
            Err(e) => match node_error_message(&e) {
                Some(m) if m.contains("approval required") => {}
                Some(m) => return Err(RunError::Denied(m)),
                None => return Err(e.into()),
            },
        }
    }
    let Prepared { plan, policy } =
        prepared.map_err(|why| RunError::Denied(format!("approval required, but {why}")))?;
    let command_text = plan.get("commandText").and_then(Value::as_str).unwrap_or_default().to_string();
    let approval_id = uuid::Uuid::new_v4().to_string();
    let mut request = json!({
        "id": approval_id,
        "host": "node",
        "nodeId": req.node_id,
        "systemRunPlan": plan,
        "security": policy.get("security").cloned().unwrap_or(Value::Null),
        "ask": policy.get("ask").cloned().unwrap_or(Value::Null),
        "timeoutMs": 300_000,
        "twoPhase": true,
        "requireDeliveryRoute": false,
    });
    if let Some(cwd) = plan.get("cwd").and_then(Value::as_str) {
        request["cwd"] = json!(cwd);
    }
    if !req.env.is_empty() {
        request["env"] = Value::Object(req.env.clone());
    }
    let (_accepted, final_answer) = client.request_two_phase("exec.approval.request", request).await?;
    let allowed: Vec<String> = client
        .request("exec.approval.get", to_params(ApprovalIdParams { id: approval_id.clone() }))
        .await
        .ok()
        .and_then(read::<ApprovalSummary>)
        .and_then(|s| s.allowed_decisions.as_array().cloned())
        .map(|a| a.iter().filter_map(|d| d.as_str().map(String::from)).collect())
        .unwrap_or_else(|| vec!["allow-once".into(), "deny".into()]);
    let decision = match approver.decide(&req.node_name, &plan, &allowed) {
        Some(d) => d,
        None => {
            let deny = ApprovalResolveParams { id: approval_id.clone(), decision: Decision::Deny.as_str().into() };
            let _ = client.request("exec.approval.resolve", to_params(deny)).await;
            return Err(RunError::NoApprover { node: req.node_name.clone(), command: command_text });
        }
    };
    let resolve = ApprovalResolveParams { id: approval_id.clone(), decision: decision.as_str().into() };
    client.request("exec.approval.resolve", to_params(resolve)).await?;
    let decided = read::<ApprovalDecision>(final_answer.wait(Duration::from_secs(30)).await?);
    match decided.and_then(|d| d.decision).as_deref() {
        Some("allow-once") | Some("allow-always") => {}
        Some(_) => return Err(RunError::DeniedByOperator(command_text)),
        None => return Err(RunError::Expired(command_text)),
    }
    // The gateway swaps in the approved plan and attaches the decision; these fields only
    // name the approval.
    let mut params = common;
    params.insert("command".into(), plan["argv"].clone());
    params.insert("rawCommand".into(), plan["commandText"].clone());
    params.insert("systemRunPlan".into(), plan.clone());
    if let Some(cwd) = plan.get("cwd").and_then(Value::as_str) {
        params.insert("cwd".into(), json!(cwd));
    }
    params.insert("runId".into(), json!(approval_id));
    params.insert("approved".into(), json!(true));
    params.insert("approvalDecision".into(), json!(decision.as_str()));
    let v = client
        .request_with_timeout(
            "node.invoke",
            invoke_params(req, "system.run", Value::Object(params), invoke_timeout),
            call_timeout,
        )
        .await
        .map_err(|e| match node_error_message(&e) {
            Some(m) => RunError::Denied(m),
            None => e.into(),
        })?;
    RunResult::from_payload(&invoke_payload(v), Some(decision))
}
