//! `system.run.prepare` (`exec.md` §6.1): the plan an approval will be bound to.
//!
//! Before a gateway asks anyone to approve a command, it asks the node to pin what would run:
//! executables by real path, the canonical cwd, a mutable script operand by hash, and the
//! approvals policy at this moment. It also reports what an "allow always" of that plan would
//! persist. When the caller's policy needs no approval (full/off, not strict), nothing is
//! bound and the plan only echoes the request.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::allow_always::{prepare_coverage, Coverage, Site};
use crate::allowlist;
use crate::binding::{canonical_cwd, file_operand, file_sha256, script_operand};
use crate::command::{format_command, is_shell_wrapper, CommandRequest};
use crate::decide::{effective_policy, PolicyContext};
use crate::env;
use crate::policy::strict_inline_eval;
use crate::policy::{Ask, Security};
use crate::snapshot::policy_snapshot;

/// A `system.run.prepare` request: the command checked as `system.run` checks it, plus what
/// the caller says it will run under.
#[derive(Debug, Clone)]
pub struct PrepareRequest {
    /// The command (argv, command text, shell payload).
    pub command: CommandRequest,
    /// `agentId`, trimmed.
    pub agent_id: Option<String>,
    /// `sessionKey`, trimmed.
    pub session_key: Option<String>,
    /// `cwd`, trimmed.
    pub cwd: Option<String>,
    /// `security` the caller will run with, when it is a valid mode.
    pub security: Option<Security>,
    /// `ask` the caller will run with, when it is a valid mode.
    pub ask: Option<Ask>,
    /// `strictInlineEval: true` from the caller (the coverage's interpreter rule reads this
    /// flag alone, as upstream's does).
    pub strict_inline_eval: bool,
    /// `rawCommand`, trimmed, when not empty: it decides whether a login shell's payload is
    /// the command's meaning.
    pub raw_command: Option<String>,
    /// `env` as sent: upstream checks it only once the plan is built, so a bad cwd is reported
    /// before a bad override.
    pub env: BTreeMap<String, String>,
}

/// Why no plan was made: the message the caller sees (as `INVALID_REQUEST`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PrepareRefused(pub String);

impl From<&str> for PrepareRefused {
    fn from(message: &str) -> Self {
        PrepareRefused(message.to_string())
    }
}

/// The refusal for a shell wrapper whose payload cannot be bound, with upstream's guidance.
const UNSAFE_SHAPE: &str = "SYSTEM_RUN_DENIED: approval cannot safely bind this interpreter/runtime command\nNo approval request was created for this attempt; this is not a user denial. Retry a supported single executable with an absolute path through the normal approval flow. This node approval path cannot bind script/interpreter payloads nested in its shell wrapper.";

/// Builds the plan, the execution policy and the allow-always coverage `system.run.prepare`
/// answers with.
pub fn prepare(params: PrepareRequest, ctx: &PolicyContext<'_>) -> Result<Value, PrepareRefused> {
    let PrepareRequest {
        command: req,
        agent_id,
        session_key,
        cwd: cwd_param,
        security: asked_security,
        ask: asked_ask,
        strict_inline_eval: asked_strict,
        env: overrides,
        raw_command,
    } = params;
    let (security, ask, _resolved) = effective_policy(ctx, agent_id.as_deref());
    let strict = asked_strict || strict_inline_eval(ctx.config, agent_id.as_deref());
    let bind = match (asked_security, asked_ask) {
        (Some(s), Some(a)) => security.min(s) != Security::Full || ask.max(a) != Ask::Off || strict,
        _ => true,
    };
    let mut argv = req.argv.clone();
    let mut operand = None;
    let cwd = if bind {
        if is_shell_wrapper(&argv) && req.shell_payload.is_none() && argv.len() > 1 {
            return Err(UNSAFE_SHAPE.into());
        }
        let cwd = canonical_cwd(cwd_param.as_deref())?;
        if !is_shell_wrapper(&argv) {
            let res = allowlist::resolve(&argv, Some(&cwd), ctx.path(), None);
            if res.wrapper_chain.is_empty() {
                match res.resolved_real_path {
                    Some(real) => {
                        argv[0] = real.to_string_lossy().into_owned();
                        // One mutable operand per plan: the interpreter's script, else the
                        // executable itself when it is writable.
                        operand = match script_operand(&argv, &cwd)? {
                            Some((index, script)) => file_sha256(&script).map(
                                |sha| json!({"argvIndex": index, "path": script.to_string_lossy(), "sha256": sha}),
                            ),
                            None => file_operand(0, &real),
                        };
                    }
                    None => return Err("SYSTEM_RUN_DENIED: approval requires a stable executable path".into()),
                }
            }
        }
        cwd
    } else {
        let cwd = cwd_param.map(PathBuf::from).or_else(|| std::env::current_dir().ok()).unwrap_or_default();
        std::fs::canonicalize(&cwd).map_err(|_| {
            PrepareRefused::from("SYSTEM_RUN_DENIED: working directory does not exist or is inaccessible")
        })?
    };
    let command_text = format_command(&argv);
    let preview = req.preview.as_deref().filter(|p| *p != command_text).map(String::from);
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
    // Overrides are checked once the plan stands (upstream's order), and only for refusal.
    env::validate_overrides(&overrides).map_err(|e| PrepareRefused(e.to_string()))?;
    plan["policySnapshot"] = policy_snapshot(ctx.approvals.unwrap_or(&Value::Null), agent_id.as_deref());
    // What an "allow always" of this plan would persist (the same entries `system.run` writes).
    let cwd_text = cwd.to_string_lossy();
    let home = ctx.inherited_env.get("HOME").map(PathBuf::from);
    let site = Site { cwd: &cwd_text, path: ctx.path(), home: home.as_deref() };
    let coverage =
        if bind { prepare_coverage(&argv, raw_command.as_deref(), &site, asked_strict) } else { Coverage::default() };
    let coverage = json!({"complete": coverage.complete, "patterns": coverage
        .patterns
        .iter()
        .map(|(pattern, arg_pattern)| json!({"pattern": pattern, "argPattern": arg_pattern}))
        .collect::<Vec<_>>()});
    Ok(json!({
        "plan": plan,
        "execPolicy": {"security": security, "ask": ask},
        "allowAlwaysCoverage": coverage,
    }))
}
