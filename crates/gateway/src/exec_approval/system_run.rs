//! The #8682 guard: what of a caller's `system.run` params may reach the node.
//!
//! Kept apart from the record keeping in the parent module because it is the security
//! boundary of the whole approval flow: every field a caller could use to claim an approval
//! is dropped here, and only the gateway's own record can put one back.

use serde_json::{json, Map, Value};

use super::{env_hash, ApprovalBook, ApprovalError, ApprovalKind, Caller, RESOLVED_GRACE_MS};

impl ApprovalBook {
    /// The #8682 guard: turns a caller's `system.run` params into what may be forwarded to the
    /// node. Approval fields from the caller are never trusted; with a `runId` naming a
    /// resolved approval for this node and caller, the approved plan replaces the command and
    /// the gateway sets `approved` and `approvalDecision` itself.
    pub fn authorize_system_run(
        &mut self,
        params: &Map<String, Value>,
        node_id: &str,
        caller: &Caller,
        now: i64,
    ) -> Result<Map<String, Value>, ApprovalError> {
        const FORWARDED: &[&str] = &[
            "command",
            "rawCommand",
            "systemRunPlan",
            "cwd",
            "env",
            "timeoutMs",
            "needsScreenRecording",
            "agentId",
            "sessionKey",
            "runId",
            "suppressNotifyOnExit",
        ];
        let mut out: Map<String, Value> = params
            .iter()
            .filter(|(k, _)| FORWARDED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let source = params.get("approvalSource").filter(|v| !v.is_null());
        let approved = params.get("approved") == Some(&Value::Bool(true));
        let decision = params
            .get("approvalDecision")
            .and_then(Value::as_str)
            .filter(|d| *d == "allow-once" || *d == "allow-always");
        if let Some(s) = source {
            if s != "ask-fallback" {
                return Err(ApprovalError::InvalidApprovalSource);
            }
            if approved || decision.is_some() {
                return Err(ApprovalError::ApprovalSourceMismatch);
            }
            // Ask-fallback needs an expired record and a policy this gateway does not run.
            return Err(ApprovalError::ApprovalRequired { run_id: None });
        }
        if !approved && decision.is_none() {
            return Ok(out);
        }
        let run_id = params.get("runId").and_then(Value::as_str).filter(|s| !s.trim().is_empty());
        let run_id = run_id.ok_or(ApprovalError::MissingRunId)?;
        self.sweep(now);
        let Some(record) = self.records.get(run_id).filter(|r| r.kind == ApprovalKind::Exec) else {
            return Err(ApprovalError::UnknownRunId { run_id: run_id.into() });
        };
        if record.decision.is_none() && now >= record.expires_at_ms {
            return Err(ApprovalError::Expired { run_id: run_id.into() });
        }
        if record.node_id != node_id {
            return Err(ApprovalError::NodeMismatch { run_id: run_id.into() });
        }
        match &record.requested_by_device {
            Some(d) if caller.device_id.as_deref() != Some(d.as_str()) => {
                return Err(ApprovalError::DeviceMismatch { run_id: run_id.into() })
            }
            None if caller.conn_id != record.requested_by_conn => {
                return Err(ApprovalError::ClientMismatch { run_id: run_id.into() })
            }
            _ => {}
        }
        let plan = record.plan.clone();
        out.insert("command".into(), plan.get("argv").cloned().unwrap_or(Value::Null));
        out.insert("systemRunPlan".into(), plan.clone());
        out.insert("rawCommand".into(), plan.get("commandText").cloned().unwrap_or(Value::Null));
        for key in ["cwd", "agentId", "sessionKey"] {
            match plan.get(key).filter(|v| !v.is_null()) {
                Some(v) => {
                    out.insert(key.into(), v.clone());
                }
                None => {
                    out.remove(key);
                }
            }
        }
        let binding = &record.request["systemRunBinding"];
        let same = |key: &str| {
            let runtime = out.get(key).cloned().unwrap_or(Value::Null);
            binding.get(key).cloned().unwrap_or(Value::Null) == runtime
        };
        if !(same("cwd") && same("agentId") && same("sessionKey")) {
            return Err(ApprovalError::RequestMismatch { run_id: run_id.into() });
        }
        let requested_env = env_hash(params.get("env"));
        let env_keys: Vec<String> =
            params.get("env").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
        match (&record.env_hash, &requested_env) {
            (None, Some(_)) => return Err(ApprovalError::EnvBindingMissing { run_id: run_id.into(), env_keys }),
            (Some(expected), actual) if Some(expected) != actual.as_ref() => {
                return Err(ApprovalError::EnvMismatch {
                    run_id: run_id.into(),
                    env_keys,
                    expected: expected.clone(),
                    actual: actual.clone(),
                });
            }
            _ => {}
        }
        let record = self.records.get_mut(run_id).expect("looked up above");
        let granted = match record.decision.as_deref() {
            Some("allow-once")
                if !record.consumed && record.resolved_at_ms.is_some_and(|t| now - t <= RESOLVED_GRACE_MS) =>
            {
                record.consumed = true;
                "allow-once"
            }
            Some("allow-always") => "allow-always",
            _ => return Err(ApprovalError::ApprovalRequired { run_id: Some(run_id.into()) }),
        };
        out.insert("approved".into(), Value::Bool(true));
        out.insert("approvalDecision".into(), json!(granted));
        out.insert("runId".into(), json!(run_id));
        Ok(out)
    }
}
