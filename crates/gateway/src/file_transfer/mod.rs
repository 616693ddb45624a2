//! The gateway side of the file-transfer commands (`file.stat`, `file.fetch`, `dir.list`,
//! `dir.fetch`, `file.write`, `file.create`), as upstream's bundled `file-transfer` plugin runs
//! it (`node-commands.md` §A3–A8 "Gateway policy"): the node has no policy of its own, so every
//! call is decided here by the path policy in `plugins.entries.file-transfer.config` (deny by
//! default), then preflighted on the node and bound to the canonical path and filesystem
//! identity the node reported, so that what runs is what was authorised.
//!
//! - [`policy`]: the pure rules (policy evaluation, param checks and clamping).
//! - [`glob`]: minimatch's matching with `dot: true`, for the path globs.
//! - [`flow`]: the preflight / bound-invoke orchestration, archive verification and audit,
//!   over a [`flow::NodeLink`].
//!
//! This module wires the flow to the gateway: the node is reached through
//! [`crate::methods::send_invoke`], and audit records go to the gateway's audit table
//! (`audit.list`, event `file-transfer`).
//!
//! Not supported: operator approval prompts (`ask: "on-miss"` / `"always"`); such calls are
//! refused with `APPROVAL_UNAVAILABLE` (see [`flow`]).

pub mod flow;
pub mod glob;
pub mod policy;

use serde_json::Value;

pub use policy::COMMANDS;

use crate::methods::{send_invoke, InvokeCall, SendFailure};
use crate::Shared;

/// The gateway's [`flow::NodeLink`]: each invoke is a `node.invoke.request` to the same node
/// with the caller's deadline (shared by the preflight and the bound call).
struct GatewayLink<'a> {
    shared: &'a Shared,
    call: &'a InvokeCall<'a>,
    deadline: tokio::time::Instant,
    dispatched: bool,
}

impl flow::NodeLink for GatewayLink<'_> {
    async fn invoke(&mut self, params: Value) -> Result<(Value, Option<String>), flow::NodeError> {
        let remaining = self.deadline.saturating_duration_since(tokio::time::Instant::now());
        let call = InvokeCall { params: Some(&params), timeout_ms: remaining.as_millis() as u64, ..*self.call };
        match send_invoke(self.shared, &call).await {
            Ok(answer) => {
                self.dispatched = true;
                Ok(answer)
            }
            Err(failure) => {
                if !matches!(failure, SendFailure::NotConnected) {
                    self.dispatched = true;
                }
                let (code, message) = failure.code_and_message(call.command);
                Err(flow::NodeError { code, message })
            }
        }
    }

    fn dispatched(&self) -> bool {
        self.dispatched
    }

    fn audit(&mut self, record: Value) {
        let mut record = record;
        record["timestamp"] = Value::String(iso_now());
        tracing::info!("file-transfer audit {record}");
        if let Err(e) = self.shared.pairing().store().append_exec_event(self.call.node_id, "file-transfer", &record) {
            tracing::warn!("could not record a file-transfer decision for node {}: {e}", self.call.node_id);
        }
    }
}

/// The current time as `new Date().toISOString()` writes it.
fn iso_now() -> String {
    let ms = openclaw_state::now_ms();
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Runs a file-transfer `node.invoke` (the command is on the node's allowlist already):
/// `(payload, payloadJSON)`, or upstream's refusal.
pub async fn handle(
    shared: &Shared,
    call: &InvokeCall<'_>,
    display_name: Option<&str>,
) -> Result<(Value, Option<String>), openclaw_protocol::ErrorShape> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(call.timeout_ms);
    let mut link = GatewayLink { shared, call, deadline, dispatched: false };
    let ctx = flow::Context { node_id: call.node_id, display_name, config: shared.config.file_transfer.as_ref() };
    let command = call.command.trim();
    match flow::run(&mut link, ctx, command, call.params).await {
        Ok(answer) => Ok(answer),
        Err(refusal) => {
            let dispatched = flow::NodeLink::dispatched(&link);
            Err(refusal.into_error(dispatched))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_time_has_the_javascript_shape() {
        let t = super::iso_now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z') && &t[10..11] == "T", "{t}");
    }
}
