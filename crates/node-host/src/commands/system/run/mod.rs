//! `system.run` (`exec.md` §5): parse, decide, apply the decision's effects, run, report.
//!
//! The order of checks is upstream's, because it decides which error a caller sees: request
//! shape and approval fields first (`request`: INVALID_REQUEST, no event), then policy (an
//! `exec.denied` event, then SYSTEM_RUN_DENIED), then execution (`exec.finished`, then the
//! payload). Every request, whatever its end, leaves one record in the local audit trail
//! (`audit`).
//!
//! The decision is assembled here from the pieces in the sibling modules: the effective
//! policy and the approval snapshot (`policy`), the allowlist with safe bins and the
//! gateway's skill bins (`allowlist_eval`), the plan binding (`plan`) and allow-always
//! persistence with allowlist usage stamps (`allow_always`); `openclaw_exec::policy::evaluate`
//! makes the final call. `system.run.prepare` (`prepare`) builds the plans `system.run`
//! later checks. Shell payloads are analysed with tree-sitter-bash (`openclaw_exec::shell`);
//! what the analysis does not understand is an allowlist miss.

mod allow_always;
mod allowlist_eval;
mod audit;
mod events;
mod plan;
mod policy;
mod prepare;
mod request;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openclaw_exec::allowlist;
use openclaw_exec::command::{format_command, is_shell_wrapper};
use openclaw_exec::env;
use openclaw_exec::inline_eval;
use openclaw_exec::policy::{self as exec_policy, Ask, Denial, DenialReason, PolicyInput, Security};
use openclaw_exec::runner::{self, RunOutcome, RunSpec};
use openclaw_exec::safebins::SafeBins;
use openclaw_protocol::node::InvokeError;
use openclaw_state::config::CREDENTIAL_ENV_KEYS;
use serde_json::{json, Value};
use tracing::warn;

use crate::invoke::{Command, InvokeContext};
use crate::offload::{off_thread, Lane};
use crate::params::{FromParams, Params};
use crate::services::NodeServices;
use allow_always::{allow_always_entries, persist_allow_always, record_allowlist_use};
use allowlist_eval::{evaluate_allowlist, explain_bound, skill_trust, AllowlistEval};
use audit::audit;
use events::{deny, event_output, send_event, EventMeta};
use plan::{canonical_cwd, file_sha256};
use policy::{effective_policy, policy_snapshot, snapshot_covers, strict_inline_eval};
pub use prepare::SystemRunPrepare;
pub use request::{PrepareParams, RunParams};

/// `system.run`.
#[derive(Clone)]
pub struct SystemRun(pub Arc<NodeServices>);

impl Command for SystemRun {
    const NAME: &'static str = "system.run";
    const CAP: &'static str = "system";
    /// The raw params: a request rejected while decoding is audited with what it asked for,
    /// so decoding into [`RunParams`] happens inside the audited section.
    type Params = Params;

    async fn run(&self, ctx: InvokeContext, params: Params) -> Result<Value, InvokeError> {
        let started = std::time::Instant::now();
        let result = decide_and_run(&self.0, &ctx, params.clone()).await;
        // The audit row is a database write: off the runtime thread too.
        let (services, record) = (self.0.clone(), result.clone());
        let took = started.elapsed();
        let audited = off_thread(Lane::Lookup, "audit", move || audit(&services, &ctx, &params, &record, took)).await;
        if let Err(e) = audited {
            warn!("system.run audit: {e}");
        }
        result
    }
}

/// Decides off the runtime thread (bounded by [`crate::offload::TIME_BOUND`]; past it the
/// request is denied), then waits for a run slot and runs.
async fn decide_and_run(
    services: &Arc<NodeServices>,
    ctx: &InvokeContext,
    params: Params,
) -> Result<Value, InvokeError> {
    let overrun_meta = EventMeta {
        session_key: params.trimmed("sessionKey").unwrap_or_else(|| "node".into()),
        run_id: params.trimmed("runId").unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        command: params.js_strings("command").map(|a| format_command(&a)).unwrap_or_default(),
        suppress: params.is_true("suppressNotifyOnExit"),
    };
    let (decide_services, decide_ctx) = (services.clone(), ctx.clone());
    let decided = off_thread(Lane::Policy, "policy analysis", move || {
        let request = RunParams::from_params(params)?;
        decide(&decide_services, &decide_ctx, request)
    })
    .await;
    let (spec, meta) = match decided {
        Ok(decision) => decision?,
        Err(overrun) => {
            return Err(deny(
                ctx,
                &overrun_meta,
                Denial::new(DenialReason::ApprovalRequired, format!("SYSTEM_RUN_DENIED: {overrun}; not run")),
            ))
        }
    };
    let _slot = services.runs.acquire(&mut ctx.cancel.clone()).await?;
    execute(ctx, spec, meta).await
}

/// Policy for a request that passed [`RunParams`]' checks: what to run, or the denial. Runs
/// on a blocking thread (shell analysis, allowlist matching, path resolution, the database).
fn decide(
    services: &NodeServices,
    ctx: &InvokeContext,
    params: RunParams,
) -> Result<(RunSpec, EventMeta), InvokeError> {
    let ctx = ctx.clone();
    let RunParams {
        req,
        plan,
        explicit,
        allow_always,
        fallback,
        auto_review,
        overrides,
        agent_id,
        session_key,
        run_id,
        cwd: cwd_param,
        suppress_notify_on_exit,
        needs_screen_recording,
        timeout,
    } = params;
    let plan = plan.as_ref();
    let meta = EventMeta {
        session_key: session_key.unwrap_or_else(|| "node".into()),
        run_id: run_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        command: req.command_text.clone(),
        suppress: suppress_notify_on_exit,
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
    // The node's own gateway credentials are not the commands' business.
    let inherited: BTreeMap<String, String> =
        std::env::vars().filter(|(k, _)| !CREDENTIAL_ENV_KEYS.contains(&k.as_str())).collect();
    let child_env = env::child_env(&inherited, &overrides);
    let child_path = child_env.get("PATH").cloned().unwrap_or_else(|| ctx.env.path.clone());
    let safe_bins = SafeBins::from_config(services.config.root(), agent_id.as_deref());
    let skills =
        if resolved.auto_allow_skills { skill_trust(&services.skill_bins.names(), &child_path) } else { Vec::new() };
    let AllowlistEval { analysis_ok, satisfied, durable, planned, used, bound_hit } =
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
    exec_policy::evaluate(PolicyInput {
        security,
        ask,
        analysis_ok,
        allowlist_satisfied: satisfied,
        durable_approval_satisfied: durable,
        approved,
    })
    .map_err(|mut d| {
        d.message = explain_bound(&d.message, bound_hit);
        deny(&ctx, &meta, d)
    })?;
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
    if needs_screen_recording {
        return Err(deny(
            &ctx,
            &meta,
            Denial::new(DenialReason::PermissionScreenRecording, "PERMISSION_MISSING: screenRecording"),
        ));
    }
    // "Allow always": remember each executable of the command with this cwd and these
    // arguments (and a marker for the whole command text), so the same command runs again
    // without asking. What cannot be bound that way is allowed once and nothing is written.
    let always_entries = (allow_always && explicit)
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
    Ok((RunSpec { argv, cwd, env: child_env, timeout }, meta))
}

/// Runs a decided command and reports it (`exec.finished`, then the payload).
async fn execute(ctx: &InvokeContext, spec: RunSpec, meta: EventMeta) -> Result<Value, InvokeError> {
    match runner::run(spec, ctx.cancel.clone()).await {
        RunOutcome::Cancelled => Err(InvokeError::unavailable("invocation cancelled")),
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
            send_event(ctx, "exec.finished", event);
            Ok(serde_json::to_value(result).expect("serialises"))
        }
    }
}
