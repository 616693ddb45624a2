//! The `system.run` decision (`exec.md` §5.4 B and the binding checks of C): one function from
//! the request, the approvals document, the node's config and the node's environment to
//! either what to run (with the approvals-document edits the run implies) or the denial.
//!
//! The node host parses the request (its order of `INVALID_REQUEST` checks is upstream's),
//! calls [`decide`] off its runtime thread, applies [`Effects`] with a compare-and-swap write,
//! runs, and reports. Keeping every policy step here, in upstream's order, is what lets the
//! differential harness and the unit tests drive the whole decision without a process, and
//! gives the order of denials one home: which refusal a caller sees depends on it.
//!
//! "Pure" here means no writes and no network: the decision reads the filesystem (resolving
//! executables, canonicalising the cwd, hashing a bound script), because what it decides
//! about is what is on disk now.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::allow_always::{persistence, AllowAlways, Site};
use crate::approvals::{self, ResolvedApprovals};
use crate::binding::mutable_operand::{operand_snapshot, operand_unchanged, OperandSnapshot};
use crate::binding::{canonical_cwd, pinned_argv};
use crate::command::CommandRequest;
use crate::env;
use crate::evaluate::{evaluate_allowlist, explain_bound, skill_trust, AllowlistEval, RuleUse};
use crate::identity;
use crate::inline_eval;
use crate::policy::{self, Ask, Denial, DenialReason, PolicyInput, Security};
use crate::runner::RunSpec;
use crate::safebins::SafeBins;
use crate::snapshot::{policy_snapshot, snapshot_covers};

/// How the request arrives with respect to approval: one closed set in place of three flags,
/// because the combinations upstream refuses (`approvalSource` with `approved`) cannot then be
/// represented past parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// No approval fields: the node's policy alone decides.
    None,
    /// `approved: true` or an `approvalDecision`: a person approved this exact plan.
    Explicit {
        /// `approvalDecision: "allow-always"`: persist what the plan covers.
        always: bool,
    },
    /// `approvalSource: "ask-fallback"`: nobody answered; the agent's `askFallback` caps the
    /// security, and the policy may never widen because of it.
    AskFallback,
    /// `approvalSource: "auto-review"`: the gateway's reviewer approved it once.
    AutoReview,
}

impl Approval {
    /// A person approved it (not a fallback, not a reviewer).
    pub fn is_explicit(self) -> bool {
        matches!(self, Approval::Explicit { .. })
    }
}

/// A `system.run` request that passed the node's `INVALID_REQUEST` checks.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The command (argv, command text, shell payload).
    pub command: CommandRequest,
    /// `systemRunPlan`, shape already checked: the plan an approval was given for.
    pub plan: Option<Value>,
    /// How it was approved.
    pub approval: Approval,
    /// The accepted env overrides.
    pub overrides: BTreeMap<String, String>,
    /// `agentId`, trimmed.
    pub agent_id: Option<String>,
    /// `cwd`, trimmed.
    pub cwd: Option<String>,
    /// `needsScreenRecording`.
    pub needs_screen_recording: bool,
    /// `timeoutMs`, when positive.
    pub timeout: Option<Duration>,
}

/// What the node knows besides the request.
#[derive(Debug, Clone, Copy)]
pub struct PolicyContext<'a> {
    /// The node's own `openclaw.json` (its `tools.exec` layer and agent entries).
    pub config: &'a Value,
    /// The approvals document; `None` when it could not be read, which fails closed to deny.
    pub approvals: Option<&'a Value>,
    /// The gateway's skill binary names (`skills.bins`), for `autoAllowSkills`.
    pub skill_bins: &'a [String],
    /// The node's environment as commands inherit it (credentials already removed).
    pub inherited_env: &'a BTreeMap<String, String>,
    /// PATH when the child environment has none.
    pub default_path: &'a str,
}

impl PolicyContext<'_> {
    /// The node's PATH, as commands inherit it.
    pub fn path(&self) -> &str {
        self.inherited_env.get("PATH").map(String::as_str).unwrap_or(self.default_path)
    }
}

/// The approvals-document edits a decided run implies. The node host applies them before the
/// run (`exec.md` §5.4 C5): a failed allow-always write refuses the run, a failed usage stamp
/// does not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// Entries an allow-always approval persists.
    pub allow_always: Option<AllowAlways>,
    /// The agent whose entries (besides `*`'s) the edits touch (`*` when the request named none).
    pub agent: String,
    /// The allowlist entries the run matched, for their usage stamps.
    pub used: RuleUse,
}

/// What to run and what to record.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The process to start.
    pub spec: RunSpec,
    /// The document edits to apply first.
    pub effects: Effects,
    /// The executables bound at step B6 (approved, fallback and allowlist runs): the node host
    /// re-checks them with [`crate::identity::ExecutableBinding::revalidate`] right before the
    /// spawn (C6), with the request's cwd and the child's PATH.
    pub executables: Option<identity::ExecutableBinding>,
}

/// The effective policy: the node's config layer, then the approvals document (min security,
/// max ask). An unreadable document fails closed to deny.
pub fn effective_policy(ctx: &PolicyContext<'_>, agent_id: Option<&str>) -> (Security, Ask, ResolvedApprovals) {
    let (cfg_security, cfg_ask) = policy::config_policy(ctx.config, agent_id);
    match ctx.approvals {
        Some(doc) => {
            let resolved = approvals::resolve(doc, agent_id, cfg_security, cfg_ask);
            (cfg_security.min(resolved.security), cfg_ask.max(resolved.ask), resolved)
        }
        None => {
            let denied = ResolvedApprovals {
                security: Security::Deny,
                ask: Ask::Off,
                ask_fallback: Security::Deny,
                auto_allow_skills: false,
                allowlist: Vec::new(),
            };
            (Security::Deny, Ask::Off, denied)
        }
    }
}

/// The run-time refusal when a bound file changed (or no longer resolves from the argv).
const OPERAND_CHANGED: &str = "SYSTEM_RUN_DENIED: approval script operand changed before execution";

fn approval_required(message: impl Into<String>) -> Denial {
    Denial::new(DenialReason::ApprovalRequired, message)
}

/// Whether text mentions the security-audit suppressions (`security.audit.suppressions`, or the
/// three words near each other, quoted or not), case-insensitively.
fn mentions_audit_suppressions(text: &str) -> bool {
    static NEAR: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?s)["']?security["']?.{0,200}["']?audit["']?.{0,200}["']?suppressions["']?"#)
            .expect("valid pattern")
    });
    let lower = text.to_lowercase();
    lower.contains("security.audit.suppressions") || NEAR.is_match(&lower)
}

/// `openclaw [--dev|--no-color|--profile X|--container X|--log-level X]… config get|schema|validate`
/// (also through `pnpm openclaw`): reading the suppressions needs no approval.
fn is_read_only_audit_inspection(argv: &[String]) -> bool {
    let name = |a: Option<&String>| a.map(|a| a.rsplit(['/', '\\']).next().unwrap_or(a).to_lowercase());
    let mut i = usize::from(
        name(argv.first()).as_deref() == Some("pnpm") && argv.get(1).map(String::as_str) == Some("openclaw"),
    );
    if name(argv.get(i)).as_deref() != Some("openclaw") {
        return false;
    }
    i += 1;
    while let Some(arg) = argv.get(i) {
        match arg.as_str() {
            "--dev" | "--no-color" => i += 1,
            "--profile" | "--container" | "--log-level" => i += 2,
            a if ["--profile=", "--container=", "--log-level="].iter().any(|p| a.starts_with(p)) => i += 1,
            _ => break,
        }
    }
    argv.get(i).map(String::as_str) == Some("config")
        && matches!(argv.get(i + 1).map(String::as_str), Some("get" | "schema" | "validate"))
}

/// Rule (`exec.md` §5.4 B4): a command that mentions the security-audit suppressions needs a
/// person's approval, unless every segment that mentions them only reads the config and no
/// text outside the segments mentions them. `segments` are the analysed simple commands (none
/// when the analysis failed: then the whole text decides).
pub fn requires_audit_suppression_approval(command_text: &str, segments: &[Vec<String>]) -> bool {
    let mut seen = false;
    for argv in segments {
        let text = argv.join(" ");
        if !mentions_audit_suppressions(&format!("{text} {text}")) {
            continue;
        }
        seen = true;
        if !is_read_only_audit_inspection(argv) {
            return true;
        }
    }
    if !seen {
        return mentions_audit_suppressions(command_text);
    }
    let mut rest = command_text.to_string();
    for argv in segments {
        let raw = argv.join(" ");
        let raw = raw.trim();
        if !raw.is_empty() {
            rest = rest.replacen(raw, " ", 1);
        }
    }
    mentions_audit_suppressions(&rest)
}

/// The simple commands the policy looks at: the shell payload's (for a payload the analysis
/// refuses, every command its syntax tree shows, as upstream's best-effort explanation), or
/// the argv itself.
fn policy_segments(command: &CommandRequest) -> Vec<Vec<String>> {
    match &command.shell_payload {
        Some(payload) => match crate::shell::analyze(payload) {
            crate::shell::Analysis::Segments(s) => s.into_iter().map(|s| s.argv).collect(),
            _ => crate::segments::explained_commands(payload),
        },
        None => vec![command.argv.iter().filter(|a| !a.is_empty()).cloned().collect()],
    }
}

/// Decides a `system.run` request: what to run, or why not, in upstream's order of checks.
///
/// Who counts as approved matters at two places, and differently: the policy treats a person's
/// approval and the gateway's auto-review as approved (`approvedByAsk`), but not an
/// ask-fallback, which only caps the security at the agent's `askFallback` and turns asking
/// off, so a timed-out prompt never widens the policy; path hardening binds the cwd and the
/// executable for all three.
pub fn decide(req: &RunRequest, ctx: &PolicyContext<'_>) -> Result<Decision, Denial> {
    let command = &req.command;
    let agent_id = req.agent_id.as_deref();
    let fallback = req.approval == Approval::AskFallback;
    let approved_by_ask = matches!(req.approval, Approval::Explicit { .. } | Approval::AutoReview);

    // B1. The effective policy; a delayed approval must still be covered by it.
    let (base_security, base_ask, resolved) = effective_policy(ctx, agent_id);
    if approved_by_ask {
        let approved_under = req.plan.as_ref().and_then(|p| p.get("policySnapshot")).cloned().unwrap_or(Value::Null);
        let current = policy_snapshot(ctx.approvals.unwrap_or(&Value::Null), agent_id);
        if !snapshot_covers(&current, &approved_under) {
            return Err(approval_required("SYSTEM_RUN_DENIED: exec approval policy changed; request approval again"));
        }
    }
    let (security, ask) =
        if fallback { (base_security.min(resolved.ask_fallback), Ask::Off) } else { (base_security, base_ask) };

    // B2. The allowlist, safe bins and skill bins; only allowlist mode is ever "satisfied".
    let child_env = env::child_env(ctx.inherited_env, &req.overrides);
    let child_path = child_env.get("PATH").cloned().unwrap_or_else(|| ctx.default_path.to_string());
    let safe_bins = SafeBins::from_config(ctx.config, agent_id);
    let skills = if resolved.auto_allow_skills { skill_trust(ctx.skill_bins, &child_path) } else { Vec::new() };
    let AllowlistEval { analysis_ok, satisfied, durable, planned, used, bound_hit } =
        evaluate_allowlist(command, &resolved.allowlist, &safe_bins, &skills, req.cwd.as_deref(), &child_path);
    let satisfied = satisfied && analysis_ok && security == Security::Allowlist;
    // strictInlineEval looks at every segment upstream's analysis has (exec.md §4.8).
    let inline_eval_hit = policy::strict_inline_eval(ctx.config, agent_id)
        .then(|| {
            let segments = crate::segments::policy_segments(&command.argv, command.shell_payload.as_deref());
            inline_eval::detect_in_segments(segments.iter().map(Vec::as_slice))
        })
        .flatten();

    // B3. The decision of the modes.
    let mut verdict = policy::evaluate(PolicyInput {
        security,
        ask,
        analysis_ok,
        allowlist_satisfied: satisfied,
        durable_approval_satisfied: durable,
        approved: approved_by_ask,
    })
    .map_err(|mut d| {
        d.message = explain_bound(&d.message, bound_hit);
        d
    });

    // B4. Commands that touch the security-audit suppressions need a person.
    let segments = policy_segments(command);
    let audit_approval = requires_audit_suppression_approval(&command.command_text, &segments)
        && !(base_security == Security::Full && base_ask == Ask::Off && !fallback);
    if audit_approval && req.approval == Approval::AutoReview {
        return Err(approval_required("SYSTEM_RUN_DENIED: explicit approval required"));
    }
    if audit_approval && !approved_by_ask {
        verdict = Err(approval_required("SYSTEM_RUN_DENIED: approval required"));
    }

    // B5. strictInlineEval: interpreter code needs a person's approval, whatever the allowlist
    // says; its message wins over every denial but `security=deny`.
    let disabled = matches!(&verdict, Err(d) if d.reason == DenialReason::SecurityDeny);
    if inline_eval::strict_refuses(inline_eval_hit.as_ref(), approved_by_ask, disabled) {
        let hit = inline_eval_hit.as_ref().expect("strict_refuses needs a hit");
        return Err(approval_required(inline_eval::denial_message(hit)));
    }
    // B6. Executable identity binding, for any run an approval, a fallback or the allowlist
    // would let through: every wrapper of every segment must resolve to an executable file.
    let home = child_env.get("HOME").map(PathBuf::from);
    let executables = if security != Security::Deny && (approved_by_ask || fallback || security == Security::Allowlist)
    {
        let bound = identity::bind_executables(
            &segments,
            command.shell_payload.is_some(),
            req.cwd.as_deref().map(Path::new),
            &child_path,
            home.as_deref(),
        )
        .map_err(|e| approval_required(e.to_string()))?;
        Some(bound)
    } else {
        None
    };
    // B7.
    verdict?;

    // B9. Path hardening for approved, fallback and allowlist runs: the cwd is pinned to its
    // real path; so is argv[0] when there is no shell payload and no dispatch wrapper
    // (upstream's trust plan, `binding::pinned_argv`).
    let bound = approved_by_ask || fallback;
    let mut cwd = req.cwd.clone().map(PathBuf::from);
    let mut argv = command.argv.clone();
    // upstream's `shellPayload` (as in `prepare`).
    let shell_payload = command.shell_payload.clone();
    if bound || security == Security::Allowlist {
        cwd = Some(canonical_cwd(req.cwd.as_deref()).map_err(approval_required)?);
    }
    if bound && shell_payload.is_none() && !argv.is_empty() {
        let run_cwd = cwd.clone().unwrap_or_default();
        argv = pinned_argv(&argv, &run_cwd, &child_path).map_err(|e| approval_required(e.to_string()))?;
    }
    // The argv the bindings are checked against (before an allowlist plan rewrites it).
    let hardened_argv = argv.clone();
    // B10. What an allowlist run executes: the planned argv, or nothing; only a run that an
    // allow-always marker alone lets through keeps its argv (`resolvePlannedAllowlistArgv`:
    // a satisfied allowlist plans even when a durable approval exists too, so `time -p ls`
    // runs `/usr/bin/ls`).
    if security == Security::Allowlist && !approved_by_ask && (satisfied || !durable) {
        match planned {
            Some(p) => argv = p,
            None => {
                return Err(Denial::new(DenialReason::ExecutionPlanMiss, "SYSTEM_RUN_DENIED: execution plan mismatch"))
            }
        }
    }

    // C1 (revalidateApprovedMutableFileOperand). The file the approval was bound to must
    // still be what the argv entry names, with the same contents.
    let check_cwd = cwd.clone().or_else(|| std::env::current_dir().ok()).unwrap_or_default();
    let bound_operand = req.plan.as_ref().and_then(|p| p.get("mutableFileOperand")).map(|m| OperandSnapshot {
        argv_index: m.get("argvIndex").and_then(Value::as_u64).unwrap_or(u64::MAX) as usize,
        path: PathBuf::from(m.get("path").and_then(Value::as_str).unwrap_or_default()),
        sha256: m.get("sha256").and_then(Value::as_str).unwrap_or_default().to_string(),
    });
    if bound_operand.as_ref().is_some_and(|b| !operand_unchanged(b, &hardened_argv, &check_cwd)) {
        return Err(approval_required(OPERAND_CHANGED));
    }
    // C1. The executables bound at B6 must still be the ones found.
    if let Some(bound) = &executables {
        bound
            .revalidate(req.cwd.as_deref().map(Path::new), &child_path, home.as_deref())
            .map_err(|e| approval_required(e.to_string()))?;
    }
    // C1 (executeSystemRunPhase). A command that needs a script binding must have one, and one
    // that cannot be bound is refused with the binding's reason.
    if req.plan.is_some() && (req.approval != Approval::None || security == Security::Allowlist) {
        match operand_snapshot(&hardened_argv, &check_cwd, shell_payload.as_deref(), ctx.inherited_env) {
            Err(refused) => return Err(approval_required(refused.to_string())),
            Ok(Some(_)) if bound_operand.is_none() => {
                return Err(approval_required("SYSTEM_RUN_DENIED: approval missing script operand binding"))
            }
            Ok(_) => {}
        }
    }
    // C4.
    if req.needs_screen_recording {
        return Err(Denial::new(DenialReason::PermissionScreenRecording, "PERMISSION_MISSING: screenRecording"));
    }
    // C5's inputs: allow-always remembers each executable with this cwd and these arguments
    // (and a marker for the whole command text when they cover all of it); what cannot be
    // bound so is allowed once.
    let allow_always = match req.approval {
        Approval::Explicit { always: true } => {
            let cwd_text = cwd.as_deref().map(|c| c.to_string_lossy().into_owned()).unwrap_or_default();
            let site = Site { cwd: &cwd_text, path: &child_path, home: home.as_deref() };
            persistence(command, &site, policy::strict_inline_eval(ctx.config, agent_id), inline_eval_hit.is_some())
                .map(|coverage| AllowAlways {
                    agent: agent_id.unwrap_or("*").to_string(),
                    entries: coverage.patterns,
                    command_text: coverage.complete.then(|| command.command_text.clone()),
                })
        }
        _ => None,
    };
    Ok(Decision {
        spec: RunSpec { argv, cwd, env: child_env, timeout: req.timeout },
        effects: Effects { agent: agent_id.unwrap_or("*").to_string(), allow_always, used },
        executables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::resolve_command;
    use crate::prepare::{prepare, PrepareRequest};
    use serde_json::json;

    struct Node {
        config: Value,
        approvals: Value,
        env: BTreeMap<String, String>,
    }

    impl Node {
        fn new() -> Self {
            Node {
                config: json!({}),
                approvals: json!({"version": 1, "defaults": {"security": "full", "ask": "always"}}),
                env: BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]),
            }
        }

        fn ctx(&self) -> PolicyContext<'_> {
            PolicyContext {
                config: &self.config,
                approvals: Some(&self.approvals),
                skill_bins: &[],
                inherited_env: &self.env,
                default_path: "/usr/bin:/bin",
            }
        }

        fn plan(&self, argv: &[String], cwd: &str) -> Value {
            let request = PrepareRequest {
                command: resolve_command(argv.to_vec(), None).unwrap(),
                agent_id: None,
                session_key: None,
                cwd: Some(cwd.to_string()),
                security: None,
                ask: None,
                strict_inline_eval: false,
                env: BTreeMap::new(),
                raw_command: None,
            };
            prepare(request, &self.ctx()).unwrap()["plan"].clone()
        }

        fn approved_run(&self, plan: &Value) -> Result<Decision, Denial> {
            let argv: Vec<String> = plan["argv"].as_array().unwrap().iter().map(crate::command::js_string).collect();
            let request = RunRequest {
                command: resolve_command(argv, None).unwrap(),
                plan: Some(plan.clone()),
                approval: Approval::Explicit { always: false },
                overrides: BTreeMap::new(),
                agent_id: None,
                cwd: plan["cwd"].as_str().map(String::from),
                needs_screen_recording: false,
                timeout: None,
            };
            decide(&request, &self.ctx())
        }
    }

    fn message(result: Result<Decision, Denial>) -> String {
        result.map(|_| ()).expect_err("denied").message
    }

    /// C1 (revalidateApprovedMutableFileOperand): the file the approval pinned must still be
    /// what the argv entry names, with the same contents.
    #[test]
    fn approved_run_rechecks_the_bound_script_operand() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(cwd.join("script.sh"), "echo one\n").unwrap();
        let node = Node::new();
        let argv = vec!["sh".to_string(), "script.sh".to_string()];
        let plan = node.plan(&argv, &cwd.to_string_lossy());
        assert!(node.approved_run(&plan).is_ok());
        std::fs::write(cwd.join("script.sh"), "echo two\n").unwrap();
        assert_eq!(message(node.approved_run(&plan)), OPERAND_CHANGED);
    }

    /// C1: a command that needs a script binding is refused when the approved plan has none.
    #[test]
    fn approved_run_refuses_a_plan_without_the_needed_binding() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(cwd.join("script.sh"), "echo one\n").unwrap();
        let node = Node::new();
        let mut plan = node.plan(&["sh".to_string(), "script.sh".to_string()], &cwd.to_string_lossy());
        plan.as_object_mut().unwrap().remove("mutableFileOperand");
        assert_eq!(message(node.approved_run(&plan)), "SYSTEM_RUN_DENIED: approval missing script operand binding");
        // And one that cannot be bound at all is refused with the binding's reason.
        let mut chained = node.plan(&["/bin/sh".to_string(), "-c".to_string(), "ls".to_string()], "/");
        chained["argv"] = json!(["/bin/sh", "-c", "ls | wc -l"]);
        chained["commandText"] = json!("/bin/sh -c \"ls | wc -l\"");
        assert_eq!(
            message(node.approved_run(&chained)),
            "SYSTEM_RUN_DENIED: approval cannot safely bind this interpreter/runtime command"
        );
    }

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    /// Runs the decision for `command` under `approvals` with `approval` (and a plan carrying
    /// the current policy snapshot, as a gateway would forward it).
    fn decide_with(approvals: &Value, command: &[&str], approval: Approval) -> Result<Decision, Denial> {
        decide_in(&json!({}), None, approvals, command, approval)
    }

    fn decide_in(
        config: &Value,
        agent_id: Option<&str>,
        approvals: &Value,
        command: &[&str],
        approval: Approval,
    ) -> Result<Decision, Denial> {
        let doc = approvals::normalize(approvals).expect("valid document");
        let mut plan = json!({"argv": command, "commandText": command.join(" ")});
        plan["policySnapshot"] = policy_snapshot(&doc, None);
        // The script (or writable executable) binding prepare would have put in the plan.
        let tmp = std::path::Path::new("/tmp");
        let pinned =
            crate::binding::pinned_argv(&argv(command), tmp, "/usr/bin:/bin").unwrap_or_else(|_| argv(command));
        let payload = resolve_command(argv(command), None).expect("command").shell_payload;
        if let Ok(Some(operand)) = operand_snapshot(&pinned, tmp, payload.as_deref(), &BTreeMap::new()) {
            plan["mutableFileOperand"] = operand.to_json();
        }
        let req = RunRequest {
            command: resolve_command(argv(command), None).expect("command"),
            plan: (approval != Approval::None).then_some(plan),
            approval,
            overrides: BTreeMap::new(),
            agent_id: agent_id.map(String::from),
            cwd: Some("/tmp".into()),
            needs_screen_recording: false,
            timeout: None,
        };
        let env = BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]);
        let ctx = PolicyContext {
            config,
            approvals: Some(&doc),
            skill_bins: &[],
            inherited_env: &env,
            default_path: "/usr/bin:/bin",
        };
        decide(&req, &ctx)
    }

    fn reason(r: Result<Decision, Denial>) -> Option<DenialReason> {
        r.err().map(|d| d.reason)
    }

    /// Rule (exec.md §4.8): strictInlineEval refuses inline eval in any segment of a shell
    /// payload, for an agent id that differs only in case, even under full/off; an approval by
    /// ask passes it, and `security=deny` keeps its own refusal.
    #[test]
    fn strict_inline_eval_checks_every_segment() {
        let config = json!({"agents": {"entries": {"Ops": {"tools": {"exec": {"strictInlineEval": true}}}}}});
        let full = json!({"defaults": {"security": "full", "ask": "off"}});
        let payload = &["/bin/sh", "-c", "ls | env FOO=1 python3 -c 'print(1)'"];
        let Err(denied) = decide_in(&config, Some("ops"), &full, payload, Approval::None) else { panic!("runs") };
        assert_eq!(
            denied.message,
            "SYSTEM_RUN_DENIED: approval required (python3 -c requires explicit approval in strictInlineEval mode)"
        );
        assert!(decide_in(&config, Some("ops"), &full, &["/bin/sh", "-c", "ls | wc -l"], Approval::None).is_ok());
        assert!(decide_in(&config, Some("other"), &full, payload, Approval::None).is_ok(), "not strict for others");
        let deny = json!({"defaults": {"security": "deny"}});
        assert_eq!(
            reason(decide_in(&config, Some("OPS"), &deny, payload, Approval::None)),
            Some(DenialReason::SecurityDeny)
        );
        // Approved by ask passes the strict check; the C1 binding then refuses this payload
        // (its `|` and inline code cannot be bound), as upstream's would.
        let Err(approved) = decide_in(&config, Some("ops"), &full, payload, Approval::AutoReview) else {
            panic!("an unbindable payload does not run")
        };
        assert_eq!(approved.message, "SYSTEM_RUN_DENIED: approval cannot safely bind this interpreter/runtime command");
    }

    /// Rule (`exec.md` §2.3, issue 11): an ask-fallback run is held to the lower of the agent's
    /// security and its `askFallback`, with asking off, and is never "approved": a timed-out
    /// prompt cannot widen the policy.
    #[test]
    fn ask_fallback_caps_security_and_never_approves() {
        let doc = |fallback: &str| json!({"version": 1, "defaults": {"security": "full", "ask": "on-miss", "askFallback": fallback}});
        let id = ["/usr/bin/id", "-u"];
        assert_eq!(
            reason(decide_with(&doc("allowlist"), &id, Approval::AskFallback)),
            Some(DenialReason::AllowlistMiss)
        );
        assert_eq!(reason(decide_with(&doc("deny"), &id, Approval::AskFallback)), Some(DenialReason::SecurityDeny));
        assert_eq!(reason(decide_with(&doc("full"), &id, Approval::AskFallback)), None);
        let allowlisted = json!({"version": 1, "defaults": {"security": "full", "askFallback": "allowlist"},
            "agents": {"*": {"allowlist": [{"pattern": "/usr/bin/id"}]}}});
        assert_eq!(reason(decide_with(&allowlisted, &id, Approval::AskFallback)), None);
        // The lower of the two: a wider askFallback never widens a narrower security.
        let narrow =
            json!({"version": 1, "defaults": {"security": "allowlist", "ask": "on-miss", "askFallback": "full"}});
        assert_eq!(reason(decide_with(&narrow, &id, Approval::AskFallback)), Some(DenialReason::AllowlistMiss));
        let denied = json!({"version": 1, "defaults": {"security": "deny", "askFallback": "full"}});
        assert_eq!(reason(decide_with(&denied, &id, Approval::AskFallback)), Some(DenialReason::SecurityDeny));
    }

    /// Rule (`exec.md` §2.3): an auto-review forwarded with a matching plan is an allow-once.
    #[test]
    fn auto_review_is_an_allow_once() {
        let doc = json!({"version": 1, "defaults": {"security": "allowlist", "ask": "on-miss"}});
        let id = ["/usr/bin/id", "-u"];
        assert_eq!(reason(decide_with(&doc, &id, Approval::None)), Some(DenialReason::ApprovalRequired));
        assert_eq!(reason(decide_with(&doc, &id, Approval::AutoReview)), None);
    }

    /// Rule (`exec.md` §5.4 B9): an approved run pins a plain executable to its real path, a
    /// shell run directly (`sh script.sh`, no payload) included.
    #[test]
    fn approved_runs_pin_the_executable() {
        let doc = json!({"version": 1, "defaults": {"security": "allowlist", "ask": "on-miss"}});
        let script = tempfile::NamedTempFile::new_in("/tmp").unwrap();
        let script_path = script.path().to_string_lossy().into_owned();
        let run = decide_with(&doc, &["sh", &script_path], Approval::Explicit { always: false }).expect("approved");
        let real = std::fs::canonicalize("/usr/bin/sh").or_else(|_| std::fs::canonicalize("/bin/sh")).unwrap();
        assert_eq!(run.spec.argv[0], real.to_string_lossy());
        assert_eq!(run.spec.cwd.as_deref(), Some(std::fs::canonicalize("/tmp").unwrap().as_path()));
    }

    /// Rule (`resolvePlannedAllowlistArgv`): an allowlisted run executes its plan (dispatch
    /// wrappers dropped, the executable by real path) even when the rules are all allow-always
    /// ones and a command marker exists too; a run only the marker lets through keeps its argv.
    #[test]
    fn satisfied_allowlist_runs_the_plan_even_when_durable() {
        let ls = std::fs::canonicalize("/usr/bin/ls").unwrap().to_string_lossy().into_owned();
        let command = ["time", "-p", "ls"];
        let hash = crate::allowlist::cwd_bound_arg_pattern("/tmp", &argv(&["ls"]));
        let marker = crate::allowlist::command_marker("time -p ls");
        let durable = json!({"version": 1, "defaults": {"security": "allowlist", "ask": "off"},
            "agents": {"*": {"allowlist": [
                {"pattern": ls, "argPattern": hash, "source": "allow-always"},
                {"pattern": marker, "source": "allow-always"}]}}});
        let run = decide_with(&durable, &command, Approval::None).expect("allowlisted");
        assert_eq!(run.spec.argv, vec![ls.clone()]);
        let marker_only = json!({"version": 1, "defaults": {"security": "allowlist", "ask": "off"},
            "agents": {"*": {"allowlist": [{"pattern": marker, "source": "allow-always"}]}}});
        let run = decide_with(&marker_only, &command, Approval::None).expect("durable");
        assert_eq!(run.spec.argv, argv(&command));
    }

    /// Rule (`exec.md` §5.4 B6): approved, fallback and allowlist runs bind every wrapper's
    /// executable; one that resolves nowhere (`caffeinate` off macOS) refuses the run with
    /// upstream's message, before the policy's own denial; `security=deny` skips the binding.
    #[test]
    fn wrappers_must_resolve_for_bound_runs() {
        let allowlist = json!({"version": 1, "defaults": {"security": "allowlist", "ask": "on-miss"}});
        let message = |r: Result<Decision, Denial>| r.err().map(|d| d.message);
        let unresolved = Some("SYSTEM_RUN_DENIED: approval requires a resolved executable".to_string());
        let caffeinate = ["caffeinate", "-i", "/usr/bin/id"];
        assert_eq!(message(decide_with(&allowlist, &caffeinate, Approval::Explicit { always: false })), unresolved);
        assert_eq!(message(decide_with(&allowlist, &caffeinate, Approval::None)), unresolved, "before the miss");
        assert_eq!(
            message(decide_with(&allowlist, &["/bin/sh", "-c", "nice caffeinate id"], Approval::None)),
            unresolved
        );
        let full = json!({"version": 1, "defaults": {"security": "full", "ask": "off"}});
        assert!(decide_with(&full, &caffeinate, Approval::None).is_ok(), "unbound runs are not checked");
        let deny = json!({"version": 1, "defaults": {"security": "deny"}});
        assert_eq!(reason(decide_with(&deny, &caffeinate, Approval::None)), Some(DenialReason::SecurityDeny));
    }

    /// Rule (`exec.md` §5.4 B4): mentions of the audit suppressions need a person, except for
    /// read-only `openclaw config get|schema|validate`, and text outside those segments counts.
    #[test]
    fn audit_suppression_mentions_need_approval() {
        let seg = |a: &[&str]| vec![argv(a)];
        assert!(requires_audit_suppression_approval(
            "openclaw config set security.audit.suppressions []",
            &seg(&["openclaw", "config", "set", "security.audit.suppressions", "[]"])
        ));
        assert!(!requires_audit_suppression_approval(
            "openclaw --profile x config get security.audit.suppressions",
            &seg(&["openclaw", "--profile", "x", "config", "get", "security.audit.suppressions"])
        ));
        assert!(requires_audit_suppression_approval("echo '\"security\" : { \"audit\": {\"suppressions\"'", &[]));
        assert!(!requires_audit_suppression_approval("echo security and then audit", &[]));
        assert!(requires_audit_suppression_approval("SECURITY.AUDIT.SUPPRESSIONS", &seg(&["true"])));
    }
}
