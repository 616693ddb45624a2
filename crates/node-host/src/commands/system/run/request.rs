//! The params of `system.run` and `system.run.prepare`, decoded and checked in upstream's
//! order, before any policy is consulted.
//!
//! The order decides which error a caller sees, so it is kept exactly: the command and
//! `rawCommand`, then the forwarded plan and approval fields, then the env overrides. Every
//! refusal here is a bare `INVALID_REQUEST` with no `exec.denied` event (upstream returns
//! these as structured results, not thrown errors, so they carry no `Error: ` prefix).

use std::collections::BTreeMap;
use std::time::Duration;

use openclaw_exec::command::{self, is_shell_wrapper, CommandRequest};
use openclaw_exec::env;
use openclaw_exec::policy::{Ask, Security};
use openclaw_protocol::node::InvokeError;

use crate::params::{js_string, FromParams, Params};
use openclaw_exec::binding::{plan_matches, valid_plan};
use openclaw_exec::decide::{Approval, RunRequest};
use openclaw_exec::prepare::PrepareRequest;

/// The most argv a request may carry, counted as the kernel counts it (each string, its NUL
/// and its pointer): Linux's usual `ARG_MAX` of 2 MiB, so nothing larger could be executed.
pub const MAX_ARGV_BYTES: usize = 2 * 1024 * 1024;

/// `command` + `rawCommand` → the command request.
fn parse_command(params: &Params) -> Result<CommandRequest, InvokeError> {
    let raw = params.str("rawCommand");
    let argv: Vec<String> = match params.array("command") {
        Some(a) if !a.is_empty() => a.iter().map(js_string).collect(),
        _ if raw.is_some_and(|r| !r.trim().is_empty()) => {
            return Err(InvokeError::invalid_request("rawCommand requires params.command"))
        }
        _ => return Err(InvokeError::invalid_request("command required")),
    };
    // What execve would refuse anyway (E2BIG) is refused before any analysis.
    let size: usize = argv.iter().map(|a| a.len() + 1 + std::mem::size_of::<usize>()).sum();
    if size > MAX_ARGV_BYTES {
        return Err(InvokeError::invalid_request(format!(
            "command too large ({} arguments, {size} bytes; at most {MAX_ARGV_BYTES} bytes)",
            argv.len()
        )));
    }
    command::resolve_command(argv, raw).map_err(|e| InvokeError::invalid_request(e.to_string()))
}

/// Refuses blocked `env NAME=…` assignments inside the command's dispatch wrappers
/// (`system.run` only: upstream's prepare does not look at them).
fn check_env_assignments(argv: &[String]) -> Result<(), InvokeError> {
    env::check_command_env_assignments(argv).map_err(|e| InvokeError::invalid_request(e.to_string()))
}

/// `env` as sent. Upstream walks it with JavaScript's `Object.entries`, so an array is read as
/// an object keyed "0", "1", …: those keys are not portable variable names and the request is
/// refused (exec-diff found ours silently dropping it). Non-string values are skipped either way.
fn read_env(params: &Params) -> BTreeMap<String, String> {
    match params.get("env") {
        Some(serde_json::Value::Object(m)) => {
            m.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect()
        }
        Some(serde_json::Value::Array(items)) => {
            items.iter().enumerate().filter_map(|(i, v)| v.as_str().map(|v| (i.to_string(), v.to_string()))).collect()
        }
        _ => BTreeMap::new(),
    }
}

/// Validates the env overrides; blocked `env NAME=…` assignments inside the argv are refused too.
fn parse_env(params: &Params, argv: &[String]) -> Result<BTreeMap<String, String>, InvokeError> {
    check_env_assignments(argv)?;
    let accepted =
        env::validate_overrides(&read_env(params)).map_err(|e| InvokeError::invalid_request(e.to_string()))?;
    Ok(if is_shell_wrapper(argv) { env::filter_for_shell_wrapper(accepted) } else { accepted })
}

/// A `system.run` request that passed the shape and approval-field checks: the decision's
/// input, and what the events and the result need besides.
pub struct RunParams {
    /// What the policy decides on.
    pub request: RunRequest,
    /// `sessionKey`, trimmed.
    pub session_key: Option<String>,
    /// `runId`, trimmed.
    pub run_id: Option<String>,
    /// `suppressNotifyOnExit`.
    pub suppress_notify_on_exit: bool,
}

impl FromParams for RunParams {
    fn from_params(params: Params) -> Result<Self, InvokeError> {
        let req = parse_command(&params)?;
        let plan = params.non_null("systemRunPlan");
        if plan.is_some_and(|p| !valid_plan(p)) {
            return Err(InvokeError::invalid_request("systemRunPlan invalid"));
        }
        let approval_source = match params.get("approvalSource") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) if s == "ask-fallback" || s == "auto-review" => Some(s.as_str()),
            Some(_) => return Err(InvokeError::invalid_request("approvalSource invalid")),
        };
        let decision = params.str("approvalDecision").filter(|d| *d == "allow-once" || *d == "allow-always");
        let explicit = params.is_true("approved") || decision.is_some();
        if approval_source.is_some() && explicit {
            return Err(InvokeError::invalid_request("approvalSource cannot be combined with explicit approval"));
        }
        // #8682: approval fields are honoured only with the exact plan they were given for.
        if (explicit || approval_source.is_some()) && !plan.is_some_and(|p| plan_matches(p, params.value(), &req)) {
            return Err(InvokeError::invalid_request(if explicit {
                "explicit approval requires matching systemRunPlan"
            } else {
                "approvalSource requires matching systemRunPlan"
            }));
        }
        let auto_review = approval_source == Some("auto-review");
        if (explicit || auto_review) && plan.and_then(|p| p.get("policySnapshot")).is_none() {
            return Err(InvokeError::invalid_request("delayed approval requires a prepared policy snapshot"));
        }
        let overrides = parse_env(&params, &req.argv)?;
        let approval = match (explicit, approval_source) {
            (true, _) => Approval::Explicit { always: decision == Some("allow-always") },
            (false, Some("ask-fallback")) => Approval::AskFallback,
            (false, Some(_)) => Approval::AutoReview,
            (false, None) => Approval::None,
        };
        Ok(RunParams {
            request: RunRequest {
                plan: plan.cloned(),
                approval,
                overrides,
                agent_id: params.trimmed("agentId"),
                cwd: params.trimmed("cwd"),
                needs_screen_recording: params.is_true("needsScreenRecording"),
                timeout: params.f64("timeoutMs").filter(|t| *t > 0.0).map(|t| Duration::from_millis(t as u64)),
                command: req,
            },
            session_key: params.trimmed("sessionKey"),
            run_id: params.trimmed("runId"),
            suppress_notify_on_exit: params.is_true("suppressNotifyOnExit"),
        })
    }
}

/// A `system.run.prepare` request, decoded.
pub struct PrepareParams(pub PrepareRequest);

impl FromParams for PrepareParams {
    fn from_params(params: Params) -> Result<Self, InvokeError> {
        let req = parse_command(&params)?;
        Ok(PrepareParams(PrepareRequest {
            env: read_env(&params),
            raw_command: params.str("rawCommand").map(str::trim).filter(|r| !r.is_empty()).map(String::from),
            agent_id: params.trimmed("agentId"),
            session_key: params.trimmed("sessionKey"),
            cwd: params.trimmed("cwd"),
            security: params.str("security").and_then(Security::parse),
            ask: params.str("ask").and_then(Ask::parse),
            strict_inline_eval: params.is_true("strictInlineEval"),
            command: req,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reject(params: serde_json::Value) -> String {
        match RunParams::from_params(Params::new(params)) {
            Ok(_) => panic!("accepted"),
            Err(e) => {
                assert_eq!(e.code, openclaw_protocol::ErrorCode::InvalidRequest);
                e.message
            }
        }
    }

    /// Rule (exec.md §5.3, issue 11): params are checked in upstream's order; `env` given as
    /// an array is rejected (its indexes are non-portable keys), never dropped silently.
    #[test]
    fn run_params_are_checked_in_upstream_order() {
        assert_eq!(reject(json!({})), "command required");
        assert_eq!(reject(json!({"rawCommand": "ls"})), "rawCommand requires params.command");
        let many = vec!["a"; 250_000];
        assert_eq!(
            reject(json!({"command": many})),
            "command too large (250000 arguments, 2500000 bytes; at most 2097152 bytes)"
        );
        assert_eq!(reject(json!({"command": ["ls"], "systemRunPlan": {"argv": []}})), "systemRunPlan invalid");
        assert_eq!(reject(json!({"command": ["ls"], "approvalSource": "me"})), "approvalSource invalid");
        assert_eq!(
            reject(json!({"command": ["ls"], "approvalSource": "auto-review", "approved": true})),
            "approvalSource cannot be combined with explicit approval"
        );
        assert_eq!(
            reject(json!({"command": ["ls"], "approvalDecision": "allow-once"})),
            "explicit approval requires matching systemRunPlan"
        );
        assert_eq!(
            reject(json!({"command": ["ls"], "approvalSource": "ask-fallback"})),
            "approvalSource requires matching systemRunPlan"
        );
        assert_eq!(
            reject(
                json!({"command": ["ls"], "approved": true, "systemRunPlan": {"argv": ["ls"], "commandText": "ls"}})
            ),
            "delayed approval requires a prepared policy snapshot"
        );
        let p = RunParams::from_params(Params::new(json!({
            "command": ["ls"], "approvalSource": "ask-fallback", "timeoutMs": 1500.7, "cwd": " /tmp ",
            "systemRunPlan": {"argv": ["ls"], "commandText": "ls", "cwd": "/tmp"}
        })))
        .unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(p.request.approval, Approval::AskFallback);
        // Rule (exec.md §5.3, observed by exec-diff): `env` is read with JavaScript's
        // Object.entries, so an array's index keys are refused as non-portable names.
        assert_eq!(
            reject(json!({"command": ["ls"], "env": ["FOO=1"]})),
            "SYSTEM_RUN_DENIED: environment override rejected (invalid non-portable override keys: 0)"
        );
        assert_eq!(p.request.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(p.request.cwd.as_deref(), Some("/tmp"));
    }
}
