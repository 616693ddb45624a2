//! The node's local audit trail of `system.run`: one record per request, allowed, denied or
//! rejected, with what was asked (argv, cwd, requester) and how it ended; never env values or
//! output.
//!
//! It reads the raw params, not the decoded request, because a request rejected while
//! decoding is recorded too.
//!
//! A row that cannot be written (a full disk, a read-only database) never affects the command,
//! but it is not dropped silently either: it is logged, at most one warning per
//! [`WARN_EVERY`], saying how many rows were lost since the last one, so a full disk does not
//! flood the log it may share.

use std::sync::Mutex;
use std::time::Instant;

use std::time::Duration;

use openclaw_protocol::node::InvokeError;
use openclaw_protocol::ErrorCode;
use serde_json::{json, Value};

use crate::invoke::InvokeContext;
use crate::params::Params;
use crate::services::NodeServices;

/// Records the decision in the local audit trail (never env values or output).
pub(super) fn audit(
    services: &NodeServices,
    ctx: &InvokeContext,
    params: &Params,
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
        Err(e) => match e.code {
            ErrorCode::SystemRunDenied => ("denied", Some(e.message.clone()), None, None),
            ErrorCode::InvalidRequest => ("rejected", Some(e.message.clone()), None, None),
            _ => ("allowed", Some(e.message.clone()), None, None),
        },
    };
    let record = openclaw_state::audit::AuditRecord {
        at_ms: openclaw_state::now_ms(),
        invoke_id: Some(ctx.invoke_id.clone()),
        decision: decision.into(),
        reason,
        argv: params.js_strings("command").unwrap_or_default(),
        cwd: params.trimmed("cwd"),
        exit_code,
        timed_out,
        duration_ms: Some(took.as_millis() as i64),
        requester: json!({"sessionKey": params.trimmed("sessionKey"), "agentId": params.trimmed("agentId"), "runId": params.trimmed("runId")}),
    };
    if let Err(e) = services.db().append_audit(&record) {
        static LIMIT: Mutex<WarnLimit> = Mutex::new(WarnLimit { last: None, suppressed: 0 });
        let lost_before = crate::services::lock_recovering(&LIMIT).note(Instant::now());
        if let Some(lost_before) = lost_before {
            let earlier = if lost_before > 0 {
                format!(" ({lost_before} earlier row(s) lost since the last warning)")
            } else {
                String::new()
            };
            tracing::warn!("node host could not record the exec audit entry: {e}{earlier}");
        }
    }
}

/// At most one audit warning per this interval.
pub(super) const WARN_EVERY: Duration = Duration::from_secs(60);

/// Rate limit for the audit-failure warning.
struct WarnLimit {
    last: Option<Instant>,
    suppressed: u64,
}

impl WarnLimit {
    /// A failure at `now`: `Some(rows lost silently since the last warning)` when a warning
    /// is due, `None` when it is suppressed (and counted).
    fn note(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < WARN_EVERY => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn unwritable_rows_are_logged_once_per_interval_not_per_row() {
        let dir = tempfile::tempdir().unwrap();
        let paths = openclaw_state::StatePaths {
            state_dir: dir.path().join("oc"),
            config_path: dir.path().join("oc/openclaw.json"),
        };
        drop(openclaw_state::StateDb::open(&paths).unwrap());
        // A read-only database refuses every write, as a full disk does.
        let db = openclaw_state::StateDb::open_existing_read_only(&paths).unwrap().unwrap();
        let services = NodeServices {
            db: Arc::new(Mutex::new(db)),
            paths,
            config: Default::default(),
            skill_bins: Default::default(),
            runs: Default::default(),
        };
        let ctx = InvokeContext::detached(crate::services::DEFAULT_PATH);
        let params = Params::new(json!({"command": ["true"]}));
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..100 {
                audit(&services, &ctx, &params, &Ok(json!({"exitCode": 0})), Duration::ZERO);
            }
        });
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains("could not record the exec audit entry")).collect();
        assert_eq!(lines.len(), 1, "{log}");
        assert!(lines[0].contains("WARN"), "{log}");

        let mut limit = WarnLimit { last: None, suppressed: 0 };
        let t0 = Instant::now();
        assert_eq!(limit.note(t0), Some(0));
        assert_eq!(limit.note(t0 + Duration::from_secs(1)), None);
        assert_eq!(limit.note(t0 + Duration::from_secs(2)), None);
        assert_eq!(limit.note(t0 + WARN_EVERY), Some(2), "the next warning counts the rows lost meanwhile");
    }
}
