//! The events a run publishes: `exec.denied` before a policy refusal and `exec.finished`
//! (with the tail of the output) before the result.

use openclaw_exec::policy::Denial;
use openclaw_exec::runner;
use openclaw_protocol::node::{InvokeError, NodeEvent};
use serde_json::{json, Value};

use crate::invoke::{InvokeContext, Outbound};

/// Longest `output` tail in `exec.finished`.
const EVENT_OUTPUT_LIMIT: usize = 20_000;

/// Context shared by the events of one run.
pub(super) struct EventMeta {
    /// `sessionKey`, else `node`.
    pub session_key: String,
    /// `runId`, else a fresh UUID.
    pub run_id: String,
    /// The command text.
    pub command: String,
    /// `suppressNotifyOnExit`.
    pub suppress: bool,
}

/// Publishes a node event (`exec.denied`, `exec.finished`) before the invoke's result.
pub(super) fn send_event(ctx: &InvokeContext, event: &str, payload: Value) {
    let _ = ctx.outbound.send(Outbound {
        method: openclaw_protocol::node::METHOD_NODE_EVENT,
        params: serde_json::to_value(NodeEvent::new(event, &payload)).expect("serialises"),
    });
}

/// Sends `exec.denied` for `denial` and returns the `SYSTEM_RUN_DENIED` result.
pub(super) fn deny(ctx: &InvokeContext, meta: &EventMeta, denial: Denial) -> InvokeError {
    send_event(
        ctx,
        "exec.denied",
        json!({"sessionKey": meta.session_key, "runId": meta.run_id, "host": "node", "command": meta.command,
               "reason": denial.reason, "suppressNotifyOnExit": meta.suppress}),
    );
    InvokeError::denied(denial.message)
}

/// `output` for `exec.finished`: stdout, stderr and error joined, trimmed, last 20,000 chars.
pub(super) fn event_output(result: &runner::RunResult) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
