//! `system.run` and `system.run.prepare` (`exec.md` §5, §6): parse, policy, execute.
//!
//! The order of checks is upstream's, because it decides which error a caller sees: request
//! shape and approval fields first (INVALID_REQUEST, no event), then policy (an `exec.denied`
//! event, then SYSTEM_RUN_DENIED), then execution (`exec.finished`, then the payload).
//!
//! Shell payloads are analysed with tree-sitter-bash (`openclaw_exec::shell`); what the analysis
//! does not understand is an allowlist miss. Skill bins and allow-always persistence are not
//! implemented yet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

use openclaw_exec::allowlist::{self, command_marker};
use openclaw_exec::approvals::{self, AllowRule, ResolvedApprovals};
use openclaw_exec::command::{self, format_command, is_shell_wrapper, CommandRequest};
use openclaw_exec::env;
use openclaw_exec::inline_eval;
use openclaw_exec::policy::{self, Ask, Denial, DenialReason, PolicyInput, Security};
use openclaw_exec::runner::{self, RunOutcome, RunSpec};
use openclaw_exec::safebins::SafeBins;
use openclaw_exec::shell;
use openclaw_protocol::node::{InvokeError, NodeEvent};
use openclaw_protocol::ErrorCode;
use serde_json::{json, Map, Value};

use crate::commands::approvals::read_snapshot;
use crate::commands::js_string;
use crate::invoke::{CommandFuture, InvokeContext, NodeCommand, NodeServices, Outbound};
use openclaw_state::config::CREDENTIAL_ENV_KEYS;

/// Longest `output` tail in `exec.finished`.
const EVENT_OUTPUT_LIMIT: usize = 20_000;

fn bad(message: impl Into<String>) -> InvokeError {
    InvokeError::new("INVALID_REQUEST", message)
}

fn trimmed(params: &Value, key: &str) -> Option<String> {
    params.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

/// `command` + `rawCommand` → the command request.
fn parse_command(params: &Value) -> Result<CommandRequest, InvokeError> {
    let raw = params.get("rawCommand").and_then(Value::as_str);
    let argv: Vec<String> = match params.get("command").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a.iter().map(js_string).collect(),
        _ if raw.is_some_and(|r| !r.trim().is_empty()) => return Err(bad("rawCommand requires params.command")),
        _ => return Err(bad("command required")),
    };
    command::resolve_command(argv, raw).map_err(|e| bad(e.to_string()))
}

/// Validates the env overrides; blocked `env NAME=…` assignments inside the argv are refused too.
fn parse_env(params: &Value, argv: &[String]) -> Result<BTreeMap<String, String>, InvokeError> {
    if argv.first().is_some_and(|a| a.rsplit('/').next() == Some("env")) {
        let blocked: Vec<String> = argv[1..]
            .iter()
            .take_while(|a| a.contains('=') || a.starts_with('-'))
            .filter_map(|a| a.split_once('=').map(|(k, _)| k.to_string()))
            .filter(|k| env::is_blocked_override(k))
            .map(|k| k.to_ascii_uppercase())
            .collect();
        if !blocked.is_empty() {
            return Err(bad(format!(
                "SYSTEM_RUN_DENIED: command env assignment rejected (blocked env assignment keys: {})",
                blocked.join(", ")
            )));
        }
    }
    let overrides: BTreeMap<String, String> = params
        .get("env")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect())
        .unwrap_or_default();
    let accepted = env::validate_overrides(&overrides).map_err(|e| bad(e.to_string()))?;
    Ok(if is_shell_wrapper(argv) { env::filter_for_shell_wrapper(accepted) } else { accepted })
}

/// The effective policy: the node's config layer, then the approvals document (min security,
/// max ask). A malformed or unreadable document fails closed to deny.
fn effective_policy(services: &NodeServices, agent_id: Option<&str>) -> (Security, Ask, ResolvedApprovals, Value) {
    let (cfg_security, cfg_ask) = policy::config_policy(services.config.root(), agent_id);
    match read_snapshot(services) {
        Ok(snap) => {
            let resolved = approvals::resolve(&snap.doc, agent_id, cfg_security, cfg_ask);
            (cfg_security.min(resolved.security), cfg_ask.max(resolved.ask), resolved, snap.doc)
        }
        Err(e) => {
            tracing::warn!("exec approvals unavailable, denying: {}", e.message);
            let denied = ResolvedApprovals {
                security: Security::Deny,
                ask: Ask::Off,
                ask_fallback: Security::Deny,
                auto_allow_skills: false,
                allowlist: Vec::new(),
            };
            (Security::Deny, Ask::Off, denied, Value::Null)
        }
    }
}

/// `policySnapshot`: the approvals policy alone (no config layer) and its rules, sorted.
fn policy_snapshot(doc: &Value, agent_id: Option<&str>) -> Value {
    let r = approvals::resolve(doc, agent_id, Security::Full, Ask::Off);
    let mut rules: Vec<(String, Option<String>, Option<String>)> =
        r.allowlist.iter().map(|a| (a.pattern.clone(), a.arg_pattern.clone(), a.source.clone())).collect();
    rules.sort();
    rules.dedup();
    let rules: Vec<Value> = rules
        .into_iter()
        .map(|(pattern, arg, source)| {
            let mut m = Map::new();
            m.insert("pattern".into(), Value::String(pattern));
            if let Some(a) = arg {
                m.insert("argPattern".into(), Value::String(a));
            }
            if let Some(s) = source {
                m.insert("source".into(), Value::String(s));
            }
            Value::Object(m)
        })
        .collect();
    json!({"security": r.security, "ask": r.ask, "askFallback": r.ask_fallback, "autoAllowSkills": r.auto_allow_skills, "allowlistRules": rules})
}

/// Whether the current snapshot still covers the one an approval was given under.
fn snapshot_covers(current: &Value, approved: &Value) -> bool {
    let scalars = ["security", "ask", "askFallback", "autoAllowSkills"];
    if scalars.iter().any(|k| current.get(*k) != approved.get(*k)) {
        return false;
    }
    let key = |r: &Value| (r.get("pattern").cloned(), r.get("argPattern").cloned());
    let now: Vec<&Value> = current["allowlistRules"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    approved["allowlistRules"].as_array().into_iter().flatten().all(|expected| {
        now.iter().any(|r| {
            *r == expected
                || (key(r) == key(expected) && r.get("source").and_then(Value::as_str) == Some("allow-always"))
        })
    })
}

/// `{argvIndex, path, sha256}` for a file the current user could modify between approval and
/// execution (for root, every file); `None` when it is not writable by us.
fn file_operand(index: usize, path: &Path) -> Option<Value> {
    nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).ok()?;
    Some(json!({"argvIndex": index, "path": path.to_string_lossy(), "sha256": file_sha256(path)?}))
}

/// Script interpreters whose first operand is a file the approval must be bound to.
const SCRIPT_INTERPRETERS: &[&str] =
    &["python", "node", "nodejs", "ruby", "perl", "php", "bun", "deno", "lua", "tsx", "ts-node", "rscript"];
/// Interpreter options that take the program from argv (inline eval) or run a module instead
/// of a file: then there is no script operand to bind.
const NO_SCRIPT_FLAGS: &[&str] = &["-c", "-e", "-E", "-m", "-p", "-r", "--eval", "--print", "--command"];

/// The script an interpreter invocation runs (`python3 tool.py …` → index 1 and its real path),
/// so the approval can be bound to the file's contents. `Ok(None)` for anything that is not an
/// interpreter running a script file; an error when the script does not exist.
fn script_operand(argv: &[String], cwd: &Path) -> Result<Option<(usize, PathBuf)>, &'static str> {
    let name = argv[0].rsplit('/').next().unwrap_or(&argv[0]).to_ascii_lowercase();
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    if !SCRIPT_INTERPRETERS.contains(&base) {
        return Ok(None);
    }
    let mut i = 1;
    if base == "deno" && argv.get(1).map(String::as_str) == Some("run") {
        i = 2;
    }
    while let Some(arg) = argv.get(i) {
        if arg == "--" {
            i += 1;
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        if NO_SCRIPT_FLAGS.iter().any(|f| arg == f || (f.len() == 2 && arg.starts_with(f) && !arg.starts_with("--"))) {
            return Ok(None);
        }
        i += 1;
    }
    let Some(operand) = argv.get(i).filter(|a| *a != "-") else { return Ok(None) };
    let real = std::fs::canonicalize(cwd.join(operand))
        .ok()
        .filter(|p| p.is_file())
        .ok_or("SYSTEM_RUN_DENIED: approval requires an existing script operand")?;
    Ok(Some((i, real)))
}

fn file_sha256(path: &Path) -> Option<String> {
    use sha2::Digest;
    let bytes = std::fs::read(path).ok()?;
    Some(sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// A canonical working directory: it exists, is a directory, and is replaced by its real path.
fn canonical_cwd(cwd: Option<&str>) -> Result<PathBuf, &'static str> {
    let cwd = match cwd {
        Some(c) => PathBuf::from(c),
        None => {
            std::env::current_dir().map_err(|_| "SYSTEM_RUN_DENIED: approval requires an existing canonical cwd")?
        }
    };
    let real =
        std::fs::canonicalize(&cwd).map_err(|_| "SYSTEM_RUN_DENIED: approval requires an existing canonical cwd")?;
    if !real.is_dir() {
        return Err("SYSTEM_RUN_DENIED: approval requires cwd to be a directory");
    }
    Ok(real)
}

/// Validates the shape of a forwarded plan.
fn valid_plan(plan: &Value) -> bool {
    let argv_ok = plan.get("argv").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    let text_ok = plan
        .get("commandText")
        .or_else(|| plan.get("rawCommand"))
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    let operand_ok = plan.get("mutableFileOperand").is_none_or(|m| {
        m.get("argvIndex").and_then(Value::as_u64).is_some()
            && m.get("path").and_then(Value::as_str).is_some_and(|p| !p.is_empty())
            && m.get("sha256").and_then(Value::as_str).is_some_and(|p| !p.is_empty())
    });
    let snapshot_ok = plan.get("policySnapshot").is_none_or(|s| {
        s.get("security").and_then(Value::as_str).and_then(Security::parse).is_some()
            && s.get("ask").and_then(Value::as_str).and_then(Ask::parse).is_some()
            && s.get("askFallback").and_then(Value::as_str).and_then(Security::parse).is_some()
            && s.get("autoAllowSkills").is_some_and(Value::is_boolean)
            && s.get("allowlistRules").and_then(Value::as_array).is_some_and(|rules| {
                rules.iter().all(|r| {
                    r.get("pattern").is_some_and(Value::is_string)
                        && r.get("argPattern").is_none_or(Value::is_string)
                        && r.get("source").is_none_or(|s| s == "allow-always")
                })
            })
    });
    argv_ok && text_ok && operand_ok && snapshot_ok
}

fn same_trimmed(a: Option<&Value>, b: Option<&Value>) -> bool {
    let norm = |v: Option<&Value>| v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    norm(a) == norm(b)
}

/// The plan the approval was given for must describe exactly this request.
fn plan_matches(plan: &Value, params: &Value, req: &CommandRequest) -> bool {
    let argv: Vec<String> = plan["argv"].as_array().map(|a| a.iter().map(js_string).collect()).unwrap_or_default();
    argv == req.argv
        && plan.get("commandText").or_else(|| plan.get("rawCommand")).and_then(Value::as_str)
            == Some(req.command_text.as_str())
        && same_trimmed(plan.get("cwd"), params.get("cwd"))
        && same_trimmed(plan.get("agentId"), params.get("agentId"))
        && same_trimmed(plan.get("sessionKey"), params.get("sessionKey"))
}

/// An allowlist entry that matched, for its usage metadata.
#[derive(Debug, Clone, PartialEq)]
struct RuleUse {
    id: String,
    resolved_path: Option<String>,
}

/// Allowlist evaluation of the request: whether the analysis understood it, whether the
/// allowlist (or safe bins) satisfy it, whether that rests on allow-always rules only, the argv
/// to run (paths pinned), and the entries that matched.
struct AllowlistEval {
    analysis_ok: bool,
    satisfied: bool,
    durable: bool,
    planned: Option<Vec<String>>,
    used: Vec<RuleUse>,
}

fn rule_use(rule: &AllowRule, res: &allowlist::Resolution) -> Option<RuleUse> {
    Some(RuleUse {
        id: rule.id.clone()?,
        resolved_path: res.resolved_real_path.as_ref().map(|p| p.to_string_lossy().into_owned()),
    })
}

/// A skill binary the gateway vouches for (`autoAllowSkills`), resolved on this node.
#[derive(Debug, Clone, PartialEq)]
struct SkillTrust {
    /// Lower-cased bare name.
    name: String,
    /// Where that name resolves on the node's PATH.
    real_path: PathBuf,
}

/// Resolves the gateway's skill bin names through `path` (names that resolve nowhere are dropped).
fn skill_trust(names: &[String], path: &str) -> Vec<SkillTrust> {
    names
        .iter()
        .filter(|n| !n.contains('/'))
        .filter_map(|n| {
            let res = allowlist::resolve(std::slice::from_ref(n), None, path, None);
            Some(SkillTrust { name: n.clone(), real_path: res.resolved_real_path? })
        })
        .collect()
}

/// A segment invoked by bare name whose name and real path match a skill binary.
fn skill_allowed(argv0: &str, res: &allowlist::Resolution, skills: &[SkillTrust]) -> bool {
    !argv0.contains('/')
        && skills
            .iter()
            .any(|s| s.name == argv0.to_ascii_lowercase() && res.resolved_real_path.as_ref() == Some(&s.real_path))
}

fn evaluate_allowlist(
    req: &CommandRequest,
    rules: &[AllowRule],
    safe_bins: &SafeBins,
    skills: &[SkillTrust],
    cwd: Option<&str>,
    path: &str,
) -> AllowlistEval {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let marker = command_marker(&req.command_text);
    let durable = rules.iter().any(|r| r.pattern == marker && r.source.as_deref() == Some("allow-always"));
    if let Some(payload) = &req.shell_payload {
        let segments = match shell::analyze(payload) {
            shell::Analysis::Segments(s) if !s.is_empty() => s,
            _ => {
                return AllowlistEval { analysis_ok: false, satisfied: false, durable, planned: None, used: Vec::new() }
            }
        };
        let mut satisfied = true;
        let mut all_allow_always = true;
        let mut plannable = true;
        let mut replacements = Vec::new();
        let mut used = Vec::new();
        for seg in &segments {
            if seg.has_assignments || seg.prompt_only() || seg.argv.is_empty() {
                satisfied = false;
                continue;
            }
            if seg.safe_builtin() {
                continue;
            }
            let res = allowlist::resolve(&seg.argv, cwd.map(Path::new), path, home.as_deref());
            if let Some(rule) = allowlist::match_rule(rules, &res, cwd, home.as_deref()) {
                all_allow_always &= rule.source.as_deref() == Some("allow-always");
                used.extend(rule_use(rule, &res));
                continue;
            }
            all_allow_always = false;
            if safe_bins.allows(&res) || skill_allowed(&seg.argv[0], &res, skills) {
                // The shell must run the binary that was vetted, not whatever PATH finds first.
                match (&seg.name_range, &res.resolved_real_path) {
                    (Some(range), Some(real)) if res.wrapper_chain.is_empty() => {
                        replacements.push((range.clone(), shell::shell_word(&real.to_string_lossy())))
                    }
                    _ => plannable = false,
                }
                continue;
            }
            satisfied = false;
        }
        let shell_name =
            req.argv.iter().map(|a| a.rsplit('/').next().unwrap_or(a)).find(|a| command::POSIX_SHELLS.contains(a));
        let opaque = !shell_name.is_some_and(|s| shell::PARSEABLE_SHELLS.contains(&s));
        let planned = (satisfied && plannable && !opaque).then(|| {
            let mut argv = req.argv.clone();
            if let Some(slot) = argv.iter_mut().rev().find(|a| *a == payload) {
                *slot = shell::rewrite(payload, &replacements);
            }
            argv
        });
        return AllowlistEval {
            analysis_ok: true,
            satisfied,
            durable: durable || (satisfied && all_allow_always),
            planned,
            used: if satisfied { used } else { Vec::new() },
        };
    }
    let res = allowlist::resolve(&req.argv, cwd.map(Path::new), path, home.as_deref());
    let mut hit = allowlist::match_rule(rules, &res, cwd, home.as_deref());
    // A shell run directly (`bash script.sh`) is not allowed by a path-only rule for the shell.
    if is_shell_wrapper(&req.argv) && hit.is_some_and(|r| r.arg_pattern.is_none() && r.pattern != "*") {
        hit = None;
    }
    let durable = durable || hit.is_some_and(|r| r.source.as_deref() == Some("allow-always"));
    // Then safe bins (stream filters from trusted dirs with harmless arguments) and skill bins.
    let satisfied = hit.is_some() || safe_bins.allows(&res) || skill_allowed(&req.argv[0], &res, skills);
    let planned = match &res.resolved_real_path {
        Some(real) if satisfied => {
            let mut argv = res.effective_argv.clone();
            argv[0] = real.to_string_lossy().into_owned();
            Some(argv)
        }
        _ => None,
    };
    let used = hit.and_then(|r| rule_use(r, &res)).into_iter().collect();
    AllowlistEval { analysis_ok: true, satisfied, durable, planned, used }
}

/// `tools.exec.strictInlineEval`, global or for the agent.
fn strict_inline_eval(config: &Value, agent: Option<&str>) -> bool {
    let agent_layer =
        agent.and_then(|a| config.get("agents")?.get("entries")?.get(a)?.pointer("/tools/exec/strictInlineEval"));
    [config.pointer("/tools/exec/strictInlineEval"), agent_layer].into_iter().flatten().any(|v| v == true)
}

/// Context shared by the events of one run.
struct EventMeta {
    session_key: String,
    run_id: String,
    command: String,
    suppress: bool,
}

fn send_event(ctx: &InvokeContext, event: &str, payload: Value) {
    let _ = ctx.outbound.send(Outbound {
        method: openclaw_protocol::node::METHOD_NODE_EVENT,
        params: serde_json::to_value(NodeEvent::new(event, &payload)).expect("serialises"),
    });
}

fn deny(ctx: &InvokeContext, meta: &EventMeta, denial: Denial) -> InvokeError {
    send_event(
        ctx,
        "exec.denied",
        json!({"sessionKey": meta.session_key, "runId": meta.run_id, "host": "node", "command": meta.command,
               "reason": denial.reason, "suppressNotifyOnExit": meta.suppress}),
    );
    InvokeError::new("SYSTEM_RUN_DENIED", denial.message)
}

/// `output` for `exec.finished`: stdout, stderr and error joined, trimmed, last 20,000 chars.
fn event_output(result: &runner::RunResult) -> Option<String> {
    let joined = [result.stdout.as_str(), result.stderr.as_str(), result.error.as_deref().unwrap_or("")]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    let trimmed = joined.trim();
    if trimmed.is_empty() {
        return None;
    }
    let count = trimmed.chars().count();
    Some(if count > EVENT_OUTPUT_LIMIT {
        let tail: String = trimmed.chars().skip(count - EVENT_OUTPUT_LIMIT).collect();
        format!("... (truncated) {tail}")
    } else {
        trimmed.to_string()
    })
}

/// `system.run`.
pub struct SystemRun(pub Arc<NodeServices>);

impl NodeCommand for SystemRun {
    fn name(&self) -> &'static str {
        "system.run"
    }

    fn cap(&self) -> &'static str {
        "system"
    }

    fn run(&self, ctx: InvokeContext, params: Value) -> CommandFuture {
        let services = self.0.clone();
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result = system_run(&services, ctx.clone(), params.clone()).await;
            audit(&services, &ctx, &params, &result, started.elapsed());
            result
        })
    }
}

/// Records the decision in the local audit trail (never env values or output).
fn audit(
    services: &NodeServices,
    ctx: &InvokeContext,
    params: &Value,
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
        Err(e) if e.code == ErrorCode::SystemRunDenied => ("denied", Some(e.message.clone()), None, None),
        Err(e) if e.code == ErrorCode::InvalidRequest => ("rejected", Some(e.message.clone()), None, None),
        Err(e) => ("allowed", Some(e.message.clone()), None, None),
    };
    let record = openclaw_state::audit::AuditRecord {
        at_ms: openclaw_state::now_ms(),
        invoke_id: Some(ctx.invoke_id.clone()),
        decision: decision.into(),
        reason,
        argv: params
            .get("command")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(js_string).collect())
            .unwrap_or_default(),
        cwd: trimmed(params, "cwd"),
        exit_code,
        timed_out,
        duration_ms: Some(took.as_millis() as i64),
        requester: json!({"sessionKey": trimmed(params, "sessionKey"), "agentId": trimmed(params, "agentId"), "runId": trimmed(params, "runId")}),
    };
    if let Err(e) = services.db().append_audit(&record) {
        tracing::warn!("node host could not record the exec audit entry: {e}");
    }
}

async fn system_run(services: &NodeServices, ctx: InvokeContext, params: Value) -> Result<Value, InvokeError> {
    // A. Parse: INVALID_REQUEST, no event.
    let req = parse_command(&params)?;
    let plan = params.get("systemRunPlan").filter(|p| !p.is_null());
    if plan.is_some_and(|p| !valid_plan(p)) {
        return Err(bad("systemRunPlan invalid"));
    }
    let approval_source = match params.get("approvalSource") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "ask-fallback" || s == "auto-review" => Some(s.clone()),
        Some(_) => return Err(bad("approvalSource invalid")),
    };
    let decision = params
        .get("approvalDecision")
        .and_then(Value::as_str)
        .filter(|d| *d == "allow-once" || *d == "allow-always")
        .map(String::from);
    let explicit = params.get("approved").and_then(Value::as_bool) == Some(true) || decision.is_some();
    if approval_source.is_some() && explicit {
        return Err(bad("approvalSource cannot be combined with explicit approval"));
    }
    // #8682: approval fields are honoured only with the exact plan they were given for.
    if (explicit || approval_source.is_some()) && !plan.is_some_and(|p| plan_matches(p, &params, &req)) {
        return Err(bad(if explicit {
            "explicit approval requires matching systemRunPlan"
        } else {
            "approvalSource requires matching systemRunPlan"
        }));
    }
    let auto_review = approval_source.as_deref() == Some("auto-review");
    let fallback = approval_source.as_deref() == Some("ask-fallback");
    if (explicit || auto_review) && plan.and_then(|p| p.get("policySnapshot")).is_none() {
        return Err(bad("delayed approval requires a prepared policy snapshot"));
    }
    let overrides = parse_env(&params, &req.argv)?;

    let agent_id = trimmed(&params, "agentId");
    let meta = EventMeta {
        session_key: trimmed(&params, "sessionKey").unwrap_or_else(|| "node".into()),
        run_id: trimmed(&params, "runId").unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        command: req.command_text.clone(),
        suppress: params.get("suppressNotifyOnExit").and_then(Value::as_bool).unwrap_or(false),
    };

    // B. Policy.
    let (mut security, mut ask, resolved, doc) = effective_policy(services, agent_id.as_deref());
    if fallback {
        security = security.min(resolved.ask_fallback);
        ask = Ask::Off;
    }
    if explicit || auto_review {
        let approved_under = plan.and_then(|p| p.get("policySnapshot")).cloned().unwrap_or(Value::Null);
        if !snapshot_covers(&policy_snapshot(&doc, agent_id.as_deref()), &approved_under) {
            return Err(deny(
                &ctx,
                &meta,
                Denial::new(
                    DenialReason::ApprovalRequired,
                    "SYSTEM_RUN_DENIED: exec approval policy changed; request approval again",
                ),
            ));
        }
    }
    let cwd_param = trimmed(&params, "cwd");
    // The node's own gateway credentials are not the commands' business.
    let inherited: BTreeMap<String, String> =
        std::env::vars().filter(|(k, _)| !CREDENTIAL_ENV_KEYS.contains(&k.as_str())).collect();
    let child_env = env::child_env(&inherited, &overrides);
    let child_path = child_env.get("PATH").cloned().unwrap_or_else(|| ctx.env.path.clone());
    let safe_bins = SafeBins::from_config(services.config.root(), agent_id.as_deref());
    let skills =
        if resolved.auto_allow_skills { skill_trust(&services.skill_bins.names(), &child_path) } else { Vec::new() };
    let AllowlistEval { analysis_ok, satisfied, durable, planned, used } =
        evaluate_allowlist(&req, &resolved.allowlist, &safe_bins, &skills, cwd_param.as_deref(), &child_path);
    // strictInlineEval: interpreter code in argv needs an explicit approval, whatever the
    // allowlist says; this message takes precedence over the generic denials.
    if strict_inline_eval(services.config.root(), agent_id.as_deref()) && !explicit && security != Security::Deny {
        if let Some(desc) = inline_eval::detect(&req.argv) {
            return Err(deny(
                &ctx,
                &meta,
                Denial::new(
                    DenialReason::ApprovalRequired,
                    format!("SYSTEM_RUN_DENIED: approval required ({desc} requires explicit approval in strictInlineEval mode)"),
                ),
            ));
        }
    }
    let approved = explicit || fallback;
    policy::evaluate(PolicyInput {
        security,
        ask,
        analysis_ok,
        allowlist_satisfied: satisfied,
        durable_approval_satisfied: durable,
        approved,
    })
    .map_err(|d| deny(&ctx, &meta, d))?;
    let mentions_audit = req.command_text.contains("security.audit.suppressions");
    let read_only_config = req.argv.first().is_some_and(|a| a.ends_with("openclaw"))
        && req.argv.get(1).map(String::as_str) == Some("config")
        && matches!(req.argv.get(2).map(String::as_str), Some("get" | "schema" | "validate"));
    let unrestricted = security == Security::Full && ask == Ask::Off && !fallback;
    if mentions_audit && !(read_only_config || unrestricted || explicit) {
        return Err(deny(
            &ctx,
            &meta,
            Denial::new(DenialReason::ApprovalRequired, "SYSTEM_RUN_DENIED: approval required"),
        ));
    }
    // Path hardening for approved and allowlisted runs: the cwd is pinned to its real path.
    let mut cwd = cwd_param.clone().map(PathBuf::from);
    let mut argv = req.argv.clone();
    if approved || security == Security::Allowlist {
        match canonical_cwd(cwd_param.as_deref()) {
            Ok(real) => cwd = Some(real),
            Err(message) => return Err(deny(&ctx, &meta, Denial::new(DenialReason::ApprovalRequired, message))),
        }
        if approved && !is_shell_wrapper(&argv) {
            let res = allowlist::resolve(&argv, cwd.as_deref(), &child_path, None);
            if res.wrapper_chain.is_empty() {
                match res.resolved_real_path {
                    Some(real) => argv[0] = real.to_string_lossy().into_owned(),
                    None => {
                        return Err(deny(
                            &ctx,
                            &meta,
                            Denial::new(
                                DenialReason::ApprovalRequired,
                                "SYSTEM_RUN_DENIED: approval requires a stable executable path",
                            ),
                        ))
                    }
                }
            }
        }
    }
    if security == Security::Allowlist && !approved && !durable {
        match planned {
            Some(p) => argv = p,
            None => {
                return Err(deny(
                    &ctx,
                    &meta,
                    Denial::new(DenialReason::ExecutionPlanMiss, "SYSTEM_RUN_DENIED: execution plan mismatch"),
                ))
            }
        }
    }

    // C. Execute: a file the approval was bound to must not have changed since.
    if let Some(operand) = plan.and_then(|p| p.get("mutableFileOperand")) {
        let path = operand.get("path").and_then(Value::as_str).map(Path::new);
        let expected = operand.get("sha256").and_then(Value::as_str);
        if path.and_then(file_sha256).as_deref() != expected {
            return Err(deny(
                &ctx,
                &meta,
                Denial::new(
                    DenialReason::ApprovalRequired,
                    "SYSTEM_RUN_DENIED: approval script operand changed before execution",
                ),
            ));
        }
    }
    if params.get("needsScreenRecording").and_then(Value::as_bool) == Some(true) {
        return Err(deny(
            &ctx,
            &meta,
            Denial::new(DenialReason::PermissionScreenRecording, "PERMISSION_MISSING: screenRecording"),
        ));
    }
    let timeout =
        params.get("timeoutMs").and_then(Value::as_f64).filter(|t| *t > 0.0).map(|t| Duration::from_millis(t as u64));
    // "Allow always": remember each executable of the command with this cwd and these
    // arguments (and a marker for the whole command text), so the same command runs again
    // without asking. What cannot be bound that way is allowed once and nothing is written.
    let always_entries = (decision.as_deref() == Some("allow-always") && explicit)
        .then(|| {
            let cwd_text = cwd.as_deref().map(|c| c.to_string_lossy().into_owned()).unwrap_or_default();
            allow_always_entries(&req, &argv, &cwd_text, &child_path).map(|e| (e, cwd_text))
        })
        .flatten();
    if let Some((entries, _cwd)) = always_entries {
        if let Err(e) = persist_allow_always(services, agent_id.as_deref(), &entries, &req.command_text) {
            return Err(deny(
                &ctx,
                &meta,
                Denial::new(
                    DenialReason::ApprovalStateWriteFailed,
                    format!("SYSTEM_RUN_DENIED: approval state could not be persisted ({e})"),
                ),
            ));
        }
    }
    if !used.is_empty() {
        // Usage metadata only: a failed write must not stop an allowed command.
        if let Err(e) = record_allowlist_use(services, &used, &req.command_text) {
            warn!("system.run could not record allowlist usage: {e}");
        }
    }
    let spec = RunSpec { argv, cwd, env: child_env, timeout };
    match runner::run(spec, ctx.cancel.clone()).await {
        RunOutcome::Cancelled => Err(InvokeError::new("UNAVAILABLE", "invocation cancelled")),
        RunOutcome::Finished(result) => {
            let mut event =
                json!({"sessionKey": meta.session_key, "runId": meta.run_id, "host": "node", "command": meta.command});
            if let Some(code) = result.exit_code {
                event["exitCode"] = json!(code);
            }
            event["timedOut"] = json!(result.timed_out);
            event["success"] = json!(result.success);
            if let Some(output) = event_output(&result) {
                event["output"] = json!(output);
            }
            event["suppressNotifyOnExit"] = json!(meta.suppress);
            send_event(&ctx, "exec.finished", event);
            Ok(serde_json::to_value(result).expect("serialises"))
        }
    }
}

/// The `(pattern, argPattern)` entries an allow-always decision persists: the real path of every
/// executable with a cwd-bound hash of its arguments. `None` (allow once only) when any part
/// cannot be bound: inline eval, a login or interactive shell, a payload the analysis does not
/// understand, a prompt-only segment, or an executable that does not resolve to a real path.
fn allow_always_entries(req: &CommandRequest, argv: &[String], cwd: &str, path: &str) -> Option<Vec<(String, String)>> {
    if inline_eval::detect(&req.argv).is_some() {
        return None;
    }
    let Some(payload) = &req.shell_payload else {
        if is_shell_wrapper(argv) || !Path::new(&argv[0]).is_absolute() {
            return None;
        }
        return Some(vec![(argv[0].clone(), allowlist::cwd_bound_arg_pattern(cwd, argv))]);
    };
    // Wrapper flags before the payload: -l/--login/-i make the shell read profiles first.
    let flags = argv.iter().skip(1).take_while(|a| *a != payload);
    if flags
        .into_iter()
        .any(|f| f == "--login" || (f.starts_with('-') && !f.starts_with("--") && (f.contains('l') || f.contains('i'))))
    {
        return None;
    }
    let shell::Analysis::Segments(segments) = shell::analyze(payload) else { return None };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut entries = Vec::new();
    for seg in &segments {
        if seg.has_assignments || seg.prompt_only() || seg.argv.is_empty() || inline_eval::detect(&seg.argv).is_some() {
            return None;
        }
        if seg.safe_builtin() {
            continue;
        }
        let res = allowlist::resolve(&seg.argv, Some(Path::new(cwd)), path, home.as_deref());
        let real = res.resolved_real_path?.to_string_lossy().into_owned();
        entries.push((real, allowlist::cwd_bound_arg_pattern(cwd, &res.effective_argv)));
    }
    (!entries.is_empty()).then_some(entries)
}

/// Applies `edit` to the current approvals document and writes it back (compare-and-swap,
/// retried once when another writer got there first). `edit` says whether it changed anything.
fn edit_approvals(services: &NodeServices, mut edit: impl FnMut(&mut Value) -> bool) -> Result<(), String> {
    for _ in 0..2 {
        let mut snap = read_snapshot(services).map_err(|e| e.message)?;
        if !edit(&mut snap.doc) {
            return Ok(());
        }
        approvals::ensure_socket(&mut snap.doc, &services.paths.join("exec-approvals.sock").to_string_lossy());
        let expected = openclaw_state::exec_approvals::hash_of(snap.raw.as_deref());
        match crate::commands::approvals::write(services, &snap.doc, &expected) {
            Ok(_) => return Ok(()),
            Err(openclaw_state::exec_approvals::CasError::Changed) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("the approvals document kept changing".into())
}

/// Writes allow-always entries and the command's `=node-command:` marker.
fn persist_allow_always(
    services: &NodeServices,
    agent: Option<&str>,
    entries: &[(String, String)],
    command_text: &str,
) -> Result<(), String> {
    let marker = allowlist::node_command_marker(command_text);
    let agent = agent.unwrap_or("*");
    edit_approvals(services, |doc| {
        let now = openclaw_state::now_ms();
        let mut changed = false;
        for (pattern, arg_pattern) in entries {
            changed |= approvals::add_allow_always(doc, agent, pattern, arg_pattern, now);
        }
        if !command_text.trim().is_empty() {
            changed |= approvals::add_allow_always_marker(doc, agent, &marker, now);
        }
        changed
    })
}

/// Stamps `lastUsedAt`, `lastUsedCommand` and `lastResolvedPath` on the allowlist entries a run
/// matched, as upstream's node does.
fn record_allowlist_use(services: &NodeServices, used: &[RuleUse], command_text: &str) -> Result<(), String> {
    edit_approvals(services, |doc| {
        let now = openclaw_state::now_ms();
        let mut changed = false;
        let agents = doc.get_mut("agents").and_then(Value::as_object_mut);
        for agent in agents.into_iter().flat_map(|a| a.values_mut()) {
            let Some(list) = agent.get_mut("allowlist").and_then(Value::as_array_mut) else { continue };
            for entry in list.iter_mut() {
                let id = entry.get("id").and_then(Value::as_str).map(String::from);
                let Some(u) = id.and_then(|id| used.iter().find(|u| u.id == id)) else { continue };
                entry["lastUsedAt"] = json!(now);
                entry["lastUsedCommand"] = json!(command_text);
                if let Some(p) = &u.resolved_path {
                    entry["lastResolvedPath"] = json!(p);
                }
                changed = true;
            }
        }
        changed
    })
}

/// `system.run.prepare`.
pub struct SystemRunPrepare(pub Arc<NodeServices>);

impl NodeCommand for SystemRunPrepare {
    fn name(&self) -> &'static str {
        "system.run.prepare"
    }

    fn cap(&self) -> &'static str {
        "system"
    }

    fn run(&self, _ctx: InvokeContext, params: Value) -> CommandFuture {
        let services = self.0.clone();
        Box::pin(async move { prepare(&services, params) })
    }
}

fn prepare(services: &NodeServices, params: Value) -> Result<Value, InvokeError> {
    let req = parse_command(&params)?;
    parse_env(&params, &req.argv)?;
    let agent_id = trimmed(&params, "agentId");
    let session_key = trimmed(&params, "sessionKey");
    let (security, ask, _resolved, doc) = effective_policy(services, agent_id.as_deref());
    let asked_security = params.get("security").and_then(Value::as_str).and_then(Security::parse);
    let asked_ask = params.get("ask").and_then(Value::as_str).and_then(Ask::parse);
    let strict = params.get("strictInlineEval").and_then(Value::as_bool) == Some(true)
        || strict_inline_eval(services.config.root(), agent_id.as_deref());
    let bind = match (asked_security, asked_ask) {
        (Some(s), Some(a)) => security.min(s) != Security::Full || ask.max(a) != Ask::Off || strict,
        _ => true,
    };
    let mut argv = req.argv.clone();
    let mut operand = None;
    let cwd = if bind {
        if is_shell_wrapper(&argv) && req.shell_payload.is_none() && argv.len() > 1 {
            return Err(bad("SYSTEM_RUN_DENIED: approval cannot safely bind this interpreter/runtime command\nNo approval request was created for this attempt; this is not a user denial. Retry a supported single executable with an absolute path through the normal approval flow. This node approval path cannot bind script/interpreter payloads nested in its shell wrapper."));
        }
        let cwd = canonical_cwd(trimmed(&params, "cwd").as_deref()).map_err(bad)?;
        if !is_shell_wrapper(&argv) {
            let res = allowlist::resolve(&argv, Some(&cwd), &std::env::var("PATH").unwrap_or_default(), None);
            if res.wrapper_chain.is_empty() {
                match res.resolved_real_path {
                    Some(real) => {
                        argv[0] = real.to_string_lossy().into_owned();
                        // One mutable operand per plan: the interpreter's script, else the
                        // executable itself when it is writable.
                        operand = match script_operand(&argv, &cwd).map_err(bad)? {
                            Some((index, script)) => file_sha256(&script).map(
                                |sha| json!({"argvIndex": index, "path": script.to_string_lossy(), "sha256": sha}),
                            ),
                            None => file_operand(0, &real),
                        };
                    }
                    None => return Err(bad("SYSTEM_RUN_DENIED: approval requires a stable executable path")),
                }
            }
        }
        cwd
    } else {
        let cwd =
            trimmed(&params, "cwd").map(PathBuf::from).or_else(|| std::env::current_dir().ok()).unwrap_or_default();
        std::fs::canonicalize(&cwd)
            .map_err(|_| bad("SYSTEM_RUN_DENIED: working directory does not exist or is inaccessible"))?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreter_scripts_are_bound_operands() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tool.py"), "print(1)\n").unwrap();
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let real = std::fs::canonicalize(dir.path().join("tool.py")).unwrap();
        assert_eq!(
            script_operand(&argv(&["/usr/bin/python3.12", "-u", "tool.py", "x"]), dir.path()),
            Ok(Some((2, real.clone())))
        );
        assert_eq!(script_operand(&argv(&["/usr/bin/node", "--", "tool.py"]), dir.path()), Ok(Some((2, real.clone()))));
        assert_eq!(script_operand(&argv(&["deno", "run", "tool.py"]), dir.path()), Ok(Some((2, real))));
        assert_eq!(script_operand(&argv(&["/usr/bin/python3", "-c", "print(1)"]), dir.path()), Ok(None));
        assert_eq!(script_operand(&argv(&["/usr/bin/python3", "-m", "http.server"]), dir.path()), Ok(None));
        assert_eq!(script_operand(&argv(&["/usr/bin/python3"]), dir.path()), Ok(None));
        assert_eq!(script_operand(&argv(&["/usr/bin/ls", "tool.py"]), dir.path()), Ok(None));
        assert!(script_operand(&argv(&["/usr/bin/perl", "missing.pl"]), dir.path()).is_err());
    }

    #[test]
    fn event_output_tail() {
        let r = runner::RunResult {
            exit_code: Some(0),
            timed_out: false,
            success: true,
            stdout: "a\n".into(),
            stderr: "".into(),
            error: None,
        };
        assert_eq!(event_output(&r).as_deref(), Some("a"));
        let big = runner::RunResult { stdout: "x".repeat(25_000), ..r.clone() };
        let out = event_output(&big).unwrap();
        assert!(out.starts_with("... (truncated) ") && out.len() == "... (truncated) ".len() + 20_000);
        let empty = runner::RunResult { stdout: " \n".into(), ..r };
        assert_eq!(event_output(&empty), None);
    }

    #[test]
    fn plan_shape_and_match() {
        let req = command::resolve_command(vec!["echo".into(), "hi".into()], None).unwrap();
        let plan = json!({"argv": ["echo", "hi"], "commandText": "echo hi", "cwd": " /tmp ", "agentId": null, "sessionKey": "s"});
        assert!(valid_plan(&plan));
        assert!(plan_matches(&plan, &json!({"cwd": "/tmp", "sessionKey": " s "}), &req));
        assert!(!plan_matches(&plan, &json!({"cwd": "/var", "sessionKey": "s"}), &req), "another cwd");
        assert!(!plan_matches(&plan, &json!({"cwd": "/tmp"}), &req), "another session");
        let tampered = json!({"argv": ["echo", "hi;rm"], "commandText": "echo hi", "cwd": "/tmp", "sessionKey": "s"});
        assert!(!plan_matches(&tampered, &json!({"cwd": "/tmp", "sessionKey": "s"}), &req));
        assert!(!valid_plan(&json!({"argv": [], "commandText": "x"})));
        assert!(!valid_plan(&json!({"argv": ["x"], "commandText": "x", "policySnapshot": {"security": "sometimes"}})));
    }

    /// autoAllowSkills: a skill bin runs by bare name when it resolves where the node expects,
    /// never by path, never as another binary of the same name.
    #[test]
    fn skill_bins_allow_bare_names_only() {
        let safe = SafeBins::from_config(&json!({}), None);
        let path = "/usr/bin:/bin";
        let skills = skill_trust(&["uname".into(), "no-such-skill-bin".into()], path);
        assert_eq!(skills.len(), 1, "{skills:?}");
        let eval = |argv: &[&str]| {
            let req = command::resolve_command(argv.iter().map(|a| a.to_string()).collect(), None).unwrap();
            evaluate_allowlist(&req, &[], &safe, &skills, Some("/tmp"), path)
        };
        assert!(eval(&["uname", "-a"]).satisfied);
        assert!(!eval(&["/usr/bin/uname", "-a"]).satisfied, "a path is not a skill invocation");
        assert!(!eval(&["id"]).satisfied);
        assert!(eval(&["/bin/sh", "-c", "uname -s"]).satisfied, "inside a shell payload too");
        assert!(
            !evaluate_allowlist(
                &command::resolve_command(vec!["uname".into()], None).unwrap(),
                &[],
                &safe,
                &[],
                Some("/tmp"),
                path
            )
            .satisfied
        );
    }

    /// Appendix B's shell rows with `/usr/bin/ls` (its real path) allowlisted.
    #[test]
    fn shell_payload_satisfaction_vectors() {
        let ls = std::fs::canonicalize("/usr/bin/ls").or_else(|_| std::fs::canonicalize("/bin/ls")).unwrap();
        let rules =
            vec![AllowRule { id: None, pattern: ls.to_string_lossy().into_owned(), arg_pattern: None, source: None }];
        let safe = SafeBins::from_config(&json!({}), None);
        let eval = |payload: &str| {
            let req = command::resolve_command(vec!["/bin/sh".into(), "-c".into(), payload.into()], None).unwrap();
            evaluate_allowlist(&req, &rules, &safe, &[], Some("/tmp"), "/usr/bin:/bin")
        };
        let e = eval("ls | head -n 3");
        let (ok, satisfied, planned) = (e.analysis_ok, e.satisfied, e.planned);
        assert!(ok && satisfied, "[allowlist, safeBins]");
        let head = std::fs::canonicalize("/usr/bin/head").unwrap();
        assert_eq!(planned.unwrap()[2], format!("ls | {} -n 3", head.display()), "the safe bin is pinned");
        let e = eval("cd /tmp && ls");
        let (ok, satisfied, planned) = (e.analysis_ok, e.satisfied, e.planned);
        assert!(ok && satisfied, "[safeBuiltins, allowlist]");
        assert_eq!(planned.unwrap()[2], "cd /tmp && ls", "nothing to pin");
        assert!(!eval("ls > /tmp/x").analysis_ok, "redirect: analysis fails");
        assert!(!eval("ls; rm -rf /").satisfied, "ok but not satisfied");
        assert!(!eval("FOO=1 ls").satisfied);
        assert!(!eval("cat /etc/passwd | head").satisfied);
        assert!(!eval("head /etc/passwd").satisfied, "a path operand is not a safe-bin use");
    }

    #[test]
    fn snapshot_cover_rules() {
        let doc = approvals::normalize(
            &json!({"defaults": {"security": "allowlist"}, "agents": {"main": {"allowlist": ["/bin/ls"]}}}),
        )
        .unwrap();
        let snap = policy_snapshot(&doc, Some("main"));
        assert!(snapshot_covers(&snap, &snap));
        let tighter = approvals::normalize(
            &json!({"defaults": {"security": "deny"}, "agents": {"main": {"allowlist": ["/bin/ls"]}}}),
        )
        .unwrap();
        assert!(!snapshot_covers(&policy_snapshot(&tighter, Some("main")), &snap));
        let removed = approvals::normalize(&json!({"defaults": {"security": "allowlist"}})).unwrap();
        assert!(
            !snapshot_covers(&policy_snapshot(&removed, Some("main")), &snap),
            "a rule the approval relied on is gone"
        );
    }
}
