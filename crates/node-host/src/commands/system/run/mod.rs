//! `system.run` (`exec.md` §5): parse, decide, apply the decision's effects, run, report.
//!
//! The order of checks is upstream's, because it decides which error a caller sees: request
//! shape and approval fields first (`request`: INVALID_REQUEST, no event), then policy (an
//! `exec.denied` event, then SYSTEM_RUN_DENIED), then execution (`exec.finished`, then the
//! payload). Every request, whatever its end, leaves one record in the local audit trail
//! (`audit`).
//!
//! The decision itself is [`openclaw_exec::decide::decide`], a pure function of the request
//! and the node's policy inputs (`with_policy_context`); this module orchestrates: parse
//! (`request`), decide off the runtime thread, apply the approvals-document edits the decision
//! implies with a compare-and-swap write, wait for a run slot, run, publish the events
//! (`events`) and audit (`audit`). `system.run.prepare` (`prepare`) builds the plans
//! `system.run` later checks.

mod audit;
mod events;
mod prepare;
mod request;

use std::collections::BTreeMap;
use std::sync::Arc;

use openclaw_exec::allow_always::{apply_allow_always, stamp_rule_use};
use openclaw_exec::command::format_command;
use openclaw_exec::decide::{self, Decision, PolicyContext};
use openclaw_exec::policy::{Denial, DenialReason};
use openclaw_exec::runner::{self, RunOutcome, RunSpec};
use openclaw_protocol::node::InvokeError;
use openclaw_state::config::CREDENTIAL_ENV_KEYS;
use serde_json::Value;
use tracing::warn;

use crate::invoke::{Command, InvokeContext};
use crate::offload::{off_thread, Lane};
use crate::params::{FromParams, Params};
use crate::services::NodeServices;
use audit::audit;
use events::{deny, finished_payload, send_event, EventMeta};
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

/// Calls `f` with the node's policy inputs: its config, the approvals document (`None` when
/// unreadable, which the decision treats as deny), the gateway's skill bins, and the
/// environment commands inherit (with the node's bootstrapped PATH), without the node's own
/// gateway credentials.
pub(crate) fn with_policy_context<T>(
    services: &NodeServices,
    ctx: &InvokeContext,
    f: impl FnOnce(&PolicyContext<'_>) -> T,
) -> T {
    let approvals = match services.read_approvals() {
        Ok(snapshot) => Some(snapshot.doc),
        Err(e) => {
            warn!("exec approvals unavailable, denying: {}", e.message);
            None
        }
    };
    let mut inherited: BTreeMap<String, String> =
        std::env::vars().filter(|(k, _)| !CREDENTIAL_ENV_KEYS.contains(&k.as_str())).collect();
    // The PATH bootstrapped at start-up is the node's PATH, as if it had been set in its
    // own environment (upstream rewrites process.env.PATH).
    inherited.insert("PATH".into(), ctx.env.path.clone());
    if ctx.env.bootstrapped {
        inherited.insert(crate::path_env::BOOTSTRAP_MARKER.into(), "1".into());
    }
    let skill_bins = services.skill_bins.names();
    f(&PolicyContext {
        config: services.config.root(),
        approvals: approvals.as_ref(),
        skill_bins: &skill_bins,
        inherited_env: &inherited,
        default_path: &ctx.env.path,
    })
}

/// Policy for a request that passed [`RunParams`]' checks: what to run, or the denial (with
/// its `exec.denied` event). Runs on a blocking thread (shell analysis, allowlist matching,
/// path resolution, the database).
fn decide(
    services: &NodeServices,
    ctx: &InvokeContext,
    params: RunParams,
) -> Result<(RunSpec, EventMeta), InvokeError> {
    let RunParams { request, session_key, run_id, suppress_notify_on_exit } = params;
    let meta = EventMeta {
        session_key: session_key.unwrap_or_else(|| "node".into()),
        run_id: run_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        command: request.command.command_text.clone(),
        suppress: suppress_notify_on_exit,
    };
    let Decision { spec, effects, executables } =
        with_policy_context(services, ctx, |policy| decide::decide(&request, policy))
            .map_err(|d| deny(ctx, &meta, d))?;
    let command_text = &request.command.command_text;
    if let Some(persist) = &effects.allow_always {
        let persisted = services.edit_approvals(|doc| apply_allow_always(doc, persist, openclaw_state::now_ms()));
        if let Err(e) = persisted {
            return Err(deny(
                ctx,
                &meta,
                Denial::new(
                    DenialReason::ApprovalStateWriteFailed,
                    format!("SYSTEM_RUN_DENIED: approval state could not be persisted ({e})"),
                ),
            ));
        }
    }
    if !effects.used.keys.is_empty() {
        // Usage metadata only: a failed write must not stop an allowed command.
        let stamped = services.edit_approvals(|doc| {
            stamp_rule_use(doc, &effects.agent, &effects.used, command_text, openclaw_state::now_ms())
        });
        if let Err(e) = stamped {
            warn!("system.run could not record allowlist usage: {e}");
        }
    }
    // C6. The executables bound at B6 must still be the ones found, after the document write.
    if let Some(bound) = &executables {
        let path = spec.env.get("PATH").map(String::as_str).unwrap_or_default();
        let home = spec.env.get("HOME").map(std::path::PathBuf::from);
        if let Err(e) = bound.revalidate(request.cwd.as_deref().map(std::path::Path::new), path, home.as_deref()) {
            return Err(deny(ctx, &meta, Denial::new(DenialReason::ApprovalRequired, e.to_string())));
        }
    }
    Ok((spec, meta))
}

/// Runs a decided command and reports it (`exec.finished`, then the payload).
async fn execute(ctx: &InvokeContext, spec: RunSpec, meta: EventMeta) -> Result<Value, InvokeError> {
    match runner::run(spec, ctx.cancel.clone()).await {
        RunOutcome::Cancelled => Err(InvokeError::unavailable("invocation cancelled")),
        RunOutcome::Finished(result) => {
            send_event(ctx, "exec.finished", finished_payload(&meta, &result));
            Ok(serde_json::to_value(result).expect("serialises"))
        }
    }
}
