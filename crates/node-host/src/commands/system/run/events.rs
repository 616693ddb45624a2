//! The events a run publishes: `exec.denied` before a policy refusal and `exec.finished`
//! (with the tail of the output) before the result.

use openclaw_exec::policy::Denial;
use openclaw_exec::runner;
use openclaw_protocol::node::InvokeError;
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
    let _ = ctx.outbound.send(Outbound::node_event(event, &payload));
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

/// The `exec.finished` payload, as upstream's `sendExecFinishedEvent` builds it: `exitCode`
/// only when there is one, and `output` always (`""` when the command printed nothing).
pub(super) fn finished_payload(meta: &EventMeta, result: &runner::RunResult) -> Value {
    let mut event =
        json!({"sessionKey": meta.session_key, "runId": meta.run_id, "host": "node", "command": meta.command});
    if let Some(code) = result.exit_code {
        event["exitCode"] = json!(code);
    }
    event["timedOut"] = json!(result.timed_out);
    event["success"] = json!(result.success);
    event["output"] = json!(event_output(result));
    event["suppressNotifyOnExit"] = json!(meta.suppress);
    event
}

/// `output` for `exec.finished`: the non-empty parts of stdout, stderr and error joined with
/// `\n`; when that has non-whitespace text, trimmed (JavaScript's trim) and cut to its last
/// 20,000 UTF-16 units behind `... (truncated) `; otherwise left exactly as joined.
pub(super) fn event_output(result: &runner::RunResult) -> String {
    let joined = [result.stdout.as_str(), result.stderr.as_str(), result.error.as_deref().unwrap_or("")]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    let trimmed = runner::js_trim(&joined);
    if trimmed.is_empty() {
        return joined;
    }
    let units = trimmed.encode_utf16().count();
    if units <= EVENT_OUTPUT_LIMIT {
        return trimmed.to_string();
    }
    // Skip `units - limit` UTF-16 units from the front; a surrogate pair cut in half is
    // skipped whole (upstream's `sliceUtf16Safe`).
    let mut skip = units - EVENT_OUTPUT_LIMIT;
    let mut start = 0;
    for (at, c) in trimmed.char_indices() {
        if skip == 0 {
            start = at;
            break;
        }
        skip = skip.saturating_sub(c.len_utf16());
        start = at + c.len_utf8();
    }
    format!("... (truncated) {}", &trimmed[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(stdout: &str) -> runner::RunResult {
        runner::RunResult {
            exit_code: Some(0),
            timed_out: false,
            success: true,
            stdout: stdout.into(),
            stderr: "".into(),
            error: None,
        }
    }

    #[test]
    fn exec_finished_output_is_always_sent_trimmed_only_when_it_has_text() {
        assert_eq!(event_output(&result("a\n")), "a");
        assert_eq!(event_output(&result("")), "", "empty output is sent as \"\"");
        assert_eq!(event_output(&result(" \n")), " \n", "whitespace-only output is sent untrimmed");
        let failed = runner::RunResult { stderr: "err\n".into(), error: Some("boom".into()), ..result("out") };
        assert_eq!(event_output(&failed), "out\nerr\n\nboom");
        let meta =
            EventMeta { session_key: "node".into(), run_id: "r".into(), command: "true".into(), suppress: false };
        let launch = runner::RunResult { exit_code: None, success: false, ..result("") };
        assert_eq!(
            serde_json::to_string(&finished_payload(&meta, &launch)).unwrap(),
            r#"{"sessionKey":"node","runId":"r","host":"node","command":"true","timedOut":false,"success":false,"output":"","suppressNotifyOnExit":false}"#
        );
    }

    #[test]
    fn exec_finished_output_keeps_the_last_20000_utf16_units() {
        let out = event_output(&result(&"x".repeat(25_000)));
        assert!(out.starts_with("... (truncated) ") && out.len() == "... (truncated) ".len() + 20_000);
        // 😀 is two UTF-16 units: 10,001 of them are 20,002 units; the cut lands inside the
        // first kept pair, which goes whole.
        let out = event_output(&result(&"😀".repeat(10_001)));
        assert_eq!(out, format!("... (truncated) {}", "😀".repeat(10_000)));
        let out = event_output(&result(&format!("{}a", "😀".repeat(10_000))));
        assert_eq!(out, format!("... (truncated) {}a", "😀".repeat(9_999)));
    }
}
