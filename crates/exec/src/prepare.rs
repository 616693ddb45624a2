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
use crate::binding::mutable_operand::{operand_snapshot, BindingRefused, UNSUPPORTED_SHAPE_GUIDANCE};
use crate::binding::{canonical_cwd, pinned_argv};
use crate::command::{format_command, CommandRequest};
use crate::decide::{effective_policy, PolicyContext};
use crate::env;
use crate::policy::strict_inline_eval;
use crate::policy::{Ask, Security};
use crate::snapshot::policy_snapshot;
use crate::wrappers::is_blocked_shell_wrapper_command;

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

/// The refusal for a command whose shape cannot be bound, with upstream's guidance.
fn unsupported_shape() -> PrepareRefused {
    PrepareRefused(format!("{}\n{UNSUPPORTED_SHAPE_GUIDANCE}", BindingRefused::UnsupportedShape))
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
    // upstream's `shellPayload`: what the binding reads, and what keeps argv[0] unpinned.
    let shell_payload = req.shell_payload.clone();
    let cwd = if bind {
        // isBlockedShellWrapperCommand: a shell whose startup runs code the plan cannot show.
        if shell_payload.is_none() && is_blocked_shell_wrapper_command(&argv, None) {
            return Err(unsupported_shape());
        }
        let cwd = canonical_cwd(cwd_param.as_deref())?;
        // hardenApprovedExecutionPaths: argv[0] is pinned to its real path only for a command
        // with no shell payload and no dispatch wrapper in front.
        if shell_payload.is_none() && !argv.is_empty() {
            argv = pinned_argv(&argv, &cwd, ctx.path()).map_err(|e| PrepareRefused(e.to_string()))?;
        }
        // The one file the approval pins (a script, or a writable executable run by path),
        // or why this command cannot be bound at all.
        operand = operand_snapshot(&argv, &cwd, shell_payload.as_deref(), ctx.inherited_env)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::StableExecutableRequired;
    use crate::command::resolve_command;

    fn prepare_in(cwd: &std::path::Path, argv: &[&str]) -> Result<Value, PrepareRefused> {
        let config = json!({});
        let approvals = json!({"version": 1});
        let env = BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]);
        let ctx = PolicyContext {
            config: &config,
            approvals: Some(&approvals),
            skill_bins: &[],
            inherited_env: &env,
            default_path: "/usr/bin:/bin",
        };
        let request = PrepareRequest {
            command: resolve_command(argv.iter().map(|a| a.to_string()).collect(), None).unwrap(),
            agent_id: None,
            session_key: None,
            cwd: Some(cwd.to_string_lossy().into_owned()),
            security: None,
            ask: None,
            strict_inline_eval: false,
            env: BTreeMap::new(),
            raw_command: None,
        };
        prepare(request, &ctx)
    }

    fn refusal(result: Result<Value, PrepareRefused>) -> String {
        result.expect_err("refused").0
    }

    /// Rule (issue 11, `system.run.prepare`): upstream pins the shell and the script it runs
    /// (`sh script.sh`), by real path and hash.
    #[test]
    fn prepare_binds_a_shell_script_operand() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(cwd.join("script.sh"), "echo hi\n").unwrap();
        let out = prepare_in(&cwd, &["sh", "script.sh"]).unwrap();
        let plan = &out["plan"];
        let sh = std::fs::canonicalize("/usr/bin/sh").unwrap();
        assert_eq!(plan["argv"], json!([sh.to_string_lossy(), "script.sh"]), "argv[0] pinned");
        assert_eq!(plan["mutableFileOperand"]["argvIndex"], 1);
        assert_eq!(plan["mutableFileOperand"]["path"], cwd.join("script.sh").to_string_lossy().as_ref());
    }

    /// Rule (issue 11, `system.run.prepare`): shapes one file hash cannot pin (a payload with
    /// `| ; & < >`, interpreter inline eval) are refused with upstream's guidance, so an
    /// approval can never be swapped out by a file the command reads.
    #[test]
    fn prepare_refuses_unbindable_shapes_with_guidance() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = std::fs::canonicalize(dir.path()).unwrap();
        let shape = format!("{}\n{UNSUPPORTED_SHAPE_GUIDANCE}", BindingRefused::UnsupportedShape);
        for argv in [
            &["/bin/sh", "-c", "ls | wc -l"][..],
            &["/bin/sh", "-c", "echo a > out"],
            &["perl", "-E", "say 1"],
            &["python3", "-c", "print(1)"],
            &["dash", "-o", "pipefail", "-c", "ls; id"],
            &["bash", "-lc", "ls"],
            &["csh", "x.csh"],
        ] {
            assert_eq!(refusal(prepare_in(&cwd, argv)), shape, "{argv:?}");
        }
        assert_eq!(
            refusal(prepare_in(&cwd, &["env", "-C", "/tmp", "ls"])),
            "SYSTEM_RUN_DENIED: approval cannot safely bind dispatch cwd options",
            "other refusals carry no guidance"
        );
        assert!(prepare_in(&cwd, &["/bin/sh", "-c", "ls -la"]).is_ok(), "one plain command binds");
    }

    /// hardenApprovedExecutionPaths: argv[0] is pinned unless a wrapper was looked through; a
    /// chain too deep to look through pins its first executable; a padded name is trimmed.
    #[test]
    fn prepare_pins_argv0_as_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = std::fs::canonicalize(dir.path()).unwrap();
        let argv0 = |argv: &[&str]| prepare_in(&cwd, argv).unwrap()["plan"]["argv"][0].clone();
        let real = |p: &str| json!(std::fs::canonicalize(p).unwrap().to_string_lossy());
        assert_eq!(argv0(&[" echo", "x"]), real("/usr/bin/echo"));
        assert_eq!(argv0(&["env", "--", "echo", "x"]), json!("env"));
        assert_eq!(argv0(&["nice", "nice", "nice", "nice", "nice", "echo"]), real("/usr/bin/nice"));
        assert_eq!(argv0(&["/bin/sh", "-c", "echo x"]), json!("/bin/sh"), "a shell payload is not pinned");
        assert_eq!(refusal(prepare_in(&cwd, &["no-such-binary-here"])), StableExecutableRequired.to_string());
    }
}
