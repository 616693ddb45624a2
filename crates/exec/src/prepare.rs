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

use crate::allow_always::allow_always_entries;
use crate::allowlist;
use crate::binding::argv_scan::{is_shell_wrapper_executable, normalize_executable_token};
use crate::binding::canonical_cwd;
use crate::binding::mutable_operand::{operand_snapshot, BindingRefused, UNSUPPORTED_SHAPE_GUIDANCE};
use crate::command::{format_command, is_shell_wrapper, shell_payload_candidate, CommandRequest};
use crate::decide::{effective_policy, strict_inline_eval, PolicyContext};
use crate::env;
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
    /// `strictInlineEval: true` from the caller.
    pub strict_inline_eval: bool,
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

/// The refusal for a command whose shape cannot be bound, with upstream's guidance.
fn unsupported_shape() -> PrepareRefused {
    PrepareRefused(format!("{}\n{UNSUPPORTED_SHAPE_GUIDANCE}", BindingRefused::UnsupportedShape))
}

/// `isBlockedShellWrapperCommand` for a command with no trusted payload: a shell that runs
/// its inline command only after login/interactive startup, or one whose startup files are
/// opaque (`csh`, `osh`, `tcsh`). `sh script.sh` is not blocked: its script is bound below.
fn is_blocked_shell_wrapper(argv: &[String]) -> bool {
    if !is_shell_wrapper(argv) {
        return false;
    }
    let shell = argv.iter().map(|a| normalize_executable_token(a)).find(|a| is_shell_wrapper_executable(a));
    shell.is_some_and(|s| ["csh", "osh", "tcsh"].contains(&s.as_str())) || shell_payload_candidate(argv).is_some()
}

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
        if req.shell_payload.is_none() && is_blocked_shell_wrapper(&argv) {
            return Err(unsupported_shape());
        }
        let cwd = canonical_cwd(cwd_param.as_deref())?;
        // hardenApprovedExecutionPaths: argv[0] is pinned to its real path only for a command
        // with no shell payload and no dispatch wrapper in front.
        if req.shell_payload.is_none() {
            let res = allowlist::resolve(&argv, Some(&cwd), ctx.path(), None);
            if res.wrapper_chain.is_empty() {
                match res.resolved_real_path.or(res.resolved_path) {
                    Some(pinned) => argv[0] = pinned.to_string_lossy().into_owned(),
                    None => return Err("SYSTEM_RUN_DENIED: approval requires a stable executable path".into()),
                }
            }
        }
        // The one file the approval pins (a script, or a writable executable run by path),
        // or why this command cannot be bound at all.
        operand = operand_snapshot(&argv, &cwd, req.shell_payload.as_deref(), ctx.inherited_env)
            .map_err(|refused| match refused {
                BindingRefused::UnsupportedShape => unsupported_shape(),
                other => PrepareRefused(other.to_string()),
            })?
            .map(|snapshot| snapshot.to_json());
        cwd
    } else {
        let cwd = cwd_param.map(PathBuf::from).or_else(|| std::env::current_dir().ok()).unwrap_or_default();
        std::fs::canonicalize(&cwd).map_err(|_| {
            PrepareRefused::from("SYSTEM_RUN_DENIED: working directory does not exist or is inaccessible")
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
    // Overrides are checked once the plan stands (upstream's order), and only for refusal.
    env::validate_overrides(&overrides).map_err(|e| PrepareRefused(e.to_string()))?;
    plan["policySnapshot"] = policy_snapshot(ctx.approvals.unwrap_or(&Value::Null), agent_id.as_deref());
    // What an "allow always" of this plan would persist (the same entries `system.run` writes).
    let path = ctx.path();
    let entries = bind.then(|| allow_always_entries(&req, &argv, &cwd.to_string_lossy(), path)).flatten();
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
