//! `system.run.prepare` (`exec.md` §6): the plan an approval will be bound to.
//!
//! Before a gateway asks anyone to approve a command, it asks the node to pin what would run:
//! executables by real path, the canonical cwd, a mutable script operand by hash, and the
//! approvals policy at this moment. It also reports what an "allow always" of that plan would
//! persist. When the caller's policy needs no approval (full/off, not strict), nothing is
//! bound and the plan only echoes the request.

use std::path::PathBuf;
use std::sync::Arc;

use openclaw_exec::allowlist;
use openclaw_exec::command::{format_command, is_shell_wrapper};
use openclaw_exec::policy::{Ask, Security};
use openclaw_protocol::node::InvokeError;
use serde_json::{json, Value};

use super::allow_always::allow_always_entries;
use super::plan::{canonical_cwd, file_operand, file_sha256, script_operand};
use super::policy::{effective_policy, policy_snapshot, strict_inline_eval};
use super::request::PrepareParams;
use crate::invoke::{Command, InvokeContext};
use crate::offload::{off_thread, Lane};
use crate::services::NodeServices;

/// `system.run.prepare`.
#[derive(Clone)]
pub struct SystemRunPrepare(pub Arc<NodeServices>);

impl Command for SystemRunPrepare {
    const NAME: &'static str = "system.run.prepare";
    const CAP: &'static str = "system";
    type Params = PrepareParams;

    async fn run(&self, _ctx: InvokeContext, params: PrepareParams) -> Result<Value, InvokeError> {
        // Path resolution, hashing, the approvals document: all off the runtime thread.
        let services = self.0.clone();
        off_thread(Lane::Policy, "policy analysis", move || prepare(&services, params)).await.map_err(|overrun| {
            InvokeError::invalid_request(format!("SYSTEM_RUN_DENIED: {overrun}; no plan was made"))
        })?
    }
}

fn prepare(services: &NodeServices, params: PrepareParams) -> Result<Value, InvokeError> {
    let PrepareParams {
        req,
        agent_id,
        session_key,
        cwd: cwd_param,
        security: asked_security,
        ask: asked_ask,
        strict_inline_eval: asked_strict,
    } = params;
    let (security, ask, _resolved, doc) = effective_policy(services, agent_id.as_deref());
    let strict = asked_strict || strict_inline_eval(services.config.root(), agent_id.as_deref());
    let bind = match (asked_security, asked_ask) {
        (Some(s), Some(a)) => security.min(s) != Security::Full || ask.max(a) != Ask::Off || strict,
        _ => true,
    };
    let mut argv = req.argv.clone();
    let mut operand = None;
    let cwd = if bind {
        if is_shell_wrapper(&argv) && req.shell_payload.is_none() && argv.len() > 1 {
            return Err(InvokeError::invalid_request("SYSTEM_RUN_DENIED: approval cannot safely bind this interpreter/runtime command\nNo approval request was created for this attempt; this is not a user denial. Retry a supported single executable with an absolute path through the normal approval flow. This node approval path cannot bind script/interpreter payloads nested in its shell wrapper."));
        }
        let cwd = canonical_cwd(cwd_param.as_deref()).map_err(InvokeError::invalid_request)?;
        if !is_shell_wrapper(&argv) {
            let res = allowlist::resolve(&argv, Some(&cwd), &std::env::var("PATH").unwrap_or_default(), None);
            if res.wrapper_chain.is_empty() {
                match res.resolved_real_path {
                    Some(real) => {
                        argv[0] = real.to_string_lossy().into_owned();
                        // One mutable operand per plan: the interpreter's script, else the
                        // executable itself when it is writable.
                        operand = match script_operand(&argv, &cwd).map_err(InvokeError::invalid_request)? {
                            Some((index, script)) => file_sha256(&script).map(
                                |sha| json!({"argvIndex": index, "path": script.to_string_lossy(), "sha256": sha}),
                            ),
                            None => file_operand(0, &real),
                        };
                    }
                    None => {
                        return Err(InvokeError::invalid_request(
                            "SYSTEM_RUN_DENIED: approval requires a stable executable path",
                        ))
                    }
                }
            }
        }
        cwd
    } else {
        let cwd = cwd_param.map(PathBuf::from).or_else(|| std::env::current_dir().ok()).unwrap_or_default();
        std::fs::canonicalize(&cwd).map_err(|_| {
            InvokeError::invalid_request("SYSTEM_RUN_DENIED: working directory does not exist or is inaccessible")
        })?
    };
    let command_text = format_command(&argv);
    let preview = req.shell_payload.as_deref().map(str::trim).filter(|p| *p != command_text).map(String::from);
    let mut plan = json!({
        "argv": argv,
        "cwd": cwd.to_string_lossy(),
        "commandText": command_text,
        "commandPreview": preview,
        "agentId": agent_id,
        "sessionKey": session_key,
    });
    if let Some(operand) = operand {
        plan["mutableFileOperand"] = operand;
    }
    plan["policySnapshot"] = policy_snapshot(&doc, agent_id.as_deref());
    // What an "allow always" of this plan would persist (the same entries `system.run` writes).
    let path = std::env::var("PATH").unwrap_or_default();
    let entries = bind.then(|| allow_always_entries(&req, &argv, &cwd.to_string_lossy(), &path)).flatten();
    let coverage = match entries {
        Some(entries) => json!({"complete": true, "patterns": entries
            .iter()
            .map(|(pattern, arg_pattern)| json!({"pattern": pattern, "argPattern": arg_pattern}))
            .collect::<Vec<_>>()}),
        None => json!({"complete": false, "patterns": []}),
    };
    Ok(json!({
        "plan": plan,
        "execPolicy": {"security": security, "ask": ask},
        "allowAlwaysCoverage": coverage,
    }))
}
