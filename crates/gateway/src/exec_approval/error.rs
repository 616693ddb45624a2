//! Why an approval operation was refused, one variant per case a caller (or a test) tells apart.
//!
//! Every refusal goes out as `INVALID_REQUEST` with the variant's text as the message and
//! [`ApprovalError::details`] as `error.details`. Both are upstream's wording and codes, which
//! clients match on, so the texts here are wire strings: change none of them.

use serde_json::{json, Value};

/// A refused `exec.approval.*` call, or a `system.run` the #8682 guard stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    /// `host` is not `node`.
    #[error("only host=node approvals are supported by this gateway")]
    UnsupportedHost,
    /// No (or a blank) `nodeId`.
    #[error("nodeId is required for host=node")]
    MissingNodeId,
    /// No `systemRunPlan` object.
    #[error("systemRunPlan is required for host=node")]
    MissingPlan,
    /// The plan has no argv or no command text.
    #[error("command is required")]
    MissingCommand,
    /// A caller-chosen id in the `plugin:` namespace.
    #[error("approval ids starting with plugin: are reserved")]
    ReservedId,
    /// A caller-chosen id with characters or a length upstream refuses.
    #[error("invalid approval id")]
    InvalidId,
    /// A caller-chosen id that is already registered.
    #[error("approval id already pending")]
    AlreadyPending,
    /// No record the caller may see has this id (or a pending one this prefix).
    #[error("unknown or expired approval id")]
    NotFound,
    /// `exec.approval.get` of a record that is already decided or expired.
    #[error("unknown or expired approval id")]
    NoLongerPending,
    /// The prefix matches more than one pending record.
    #[error("ambiguous approval id prefix; use the full id")]
    AmbiguousPrefix,
    /// Not `allow-once`, `allow-always` or `deny`.
    #[error("invalid decision")]
    InvalidDecision,
    /// Decided differently before, or expired.
    #[error("approval already resolved")]
    AlreadyResolved,
    /// `allow-always` for a request that ruled it out.
    #[error("allow-always is unavailable for this command")]
    AllowAlwaysUnavailable,

    // The #8682 guard on `system.run` (`code` in the details, with the `runId` when known).
    /// `approvalSource` other than `ask-fallback`.
    #[error("approval source invalid")]
    InvalidApprovalSource,
    /// `approvalSource` together with `approved` / `approvalDecision`.
    #[error("approval source cannot be combined with explicit approval")]
    ApprovalSourceMismatch,
    /// No usable decision: an ask-fallback, an undecided or denied record, or a used
    /// `allow-once`.
    #[error("approval required")]
    ApprovalRequired {
        /// The `runId`, when the call named one.
        run_id: Option<String>,
    },
    /// `approved` / `approvalDecision` without a `runId`.
    #[error("approval override requires params.runId")]
    MissingRunId,
    /// The `runId` names no record.
    #[error("unknown or expired approval id")]
    UnknownRunId {
        /// The `runId`.
        run_id: String,
    },
    /// The record expired undecided.
    #[error("approval expired")]
    Expired {
        /// The `runId`.
        run_id: String,
    },
    /// The record is for another node.
    #[error("approval id not valid for this node")]
    NodeMismatch {
        /// The `runId`.
        run_id: String,
    },
    /// The record was requested by another device.
    #[error("approval id not valid for this device")]
    DeviceMismatch {
        /// The `runId`.
        run_id: String,
    },
    /// The record was requested by another (device-less) connection.
    #[error("approval id not valid for this client")]
    ClientMismatch {
        /// The `runId`.
        run_id: String,
    },
    /// The call's cwd, agent or session differs from what was approved.
    #[error("approval id does not match request")]
    RequestMismatch {
        /// The `runId`.
        run_id: String,
    },
    /// The call sets env overrides that the approval did not bind.
    #[error("approval id missing env binding for requested env overrides")]
    EnvBindingMissing {
        /// The `runId`.
        run_id: String,
        /// The override keys the call sent.
        env_keys: Vec<String>,
    },
    /// The call's env overrides differ from the approved ones.
    #[error("approval id env binding mismatch")]
    EnvMismatch {
        /// The `runId`.
        run_id: String,
        /// The override keys the call sent.
        env_keys: Vec<String>,
        /// The approved env hash.
        expected: String,
        /// The call's env hash (none without overrides).
        actual: Option<String>,
    },
}

impl ApprovalError {
    /// `error.details`: the machine-readable code or reason, when the refusal has one.
    pub fn details(&self) -> Option<Value> {
        use ApprovalError::*;
        let (code, run_id) = match self {
            UnsupportedHost | MissingNodeId | MissingPlan | MissingCommand | ReservedId | AlreadyPending
            | AmbiguousPrefix | InvalidDecision => return None,
            InvalidId => return Some(json!({"code": "EXEC_APPROVAL_ID_INVALID", "reason": "INVALID_APPROVAL_ID"})),
            NotFound => {
                return Some(json!({
                    "reason": "APPROVAL_NOT_FOUND",
                    "remediation": "Re-request the action; pending approvals are cleared after expiry or restart.",
                }))
            }
            NoLongerPending => return Some(json!({"reason": "APPROVAL_NOT_FOUND"})),
            AlreadyResolved => return Some(json!({"reason": "APPROVAL_ALREADY_RESOLVED"})),
            AllowAlwaysUnavailable => return Some(json!({"reason": "APPROVAL_ALLOW_ALWAYS_UNAVAILABLE"})),
            InvalidApprovalSource => ("INVALID_APPROVAL_SOURCE", None),
            ApprovalSourceMismatch => ("APPROVAL_SOURCE_MISMATCH", None),
            MissingRunId => ("MISSING_RUN_ID", None),
            ApprovalRequired { run_id } => ("APPROVAL_REQUIRED", run_id.as_ref()),
            UnknownRunId { run_id } => ("UNKNOWN_APPROVAL_ID", Some(run_id)),
            Expired { run_id } => ("APPROVAL_EXPIRED", Some(run_id)),
            NodeMismatch { run_id } => ("APPROVAL_NODE_MISMATCH", Some(run_id)),
            DeviceMismatch { run_id } => ("APPROVAL_DEVICE_MISMATCH", Some(run_id)),
            ClientMismatch { run_id } => ("APPROVAL_CLIENT_MISMATCH", Some(run_id)),
            RequestMismatch { run_id } => ("APPROVAL_REQUEST_MISMATCH", Some(run_id)),
            EnvBindingMissing { run_id, .. } => ("APPROVAL_ENV_BINDING_MISSING", Some(run_id)),
            EnvMismatch { run_id, .. } => ("APPROVAL_ENV_MISMATCH", Some(run_id)),
        };
        let mut d = json!({"code": code});
        if let Some(r) = run_id {
            d["runId"] = json!(r);
        }
        match self {
            EnvBindingMissing { env_keys, .. } => d["envKeys"] = json!(env_keys),
            EnvMismatch { env_keys, expected, actual, .. } => {
                d["envKeys"] = json!(env_keys);
                d["expectedEnvHash"] = json!(expected);
                d["actualEnvHash"] = json!(actual);
            }
            _ => {}
        }
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(e: ApprovalError) -> (String, String) {
        (e.to_string(), e.details().map(|d| d.to_string()).unwrap_or_default())
    }

    #[test]
    fn messages_and_details_are_the_wire_strings() {
        let run_id = || "r1".to_string();
        let expected = [
            (ApprovalError::UnsupportedHost, "only host=node approvals are supported by this gateway", ""),
            (ApprovalError::AmbiguousPrefix, "ambiguous approval id prefix; use the full id", ""),
            (
                ApprovalError::InvalidId,
                "invalid approval id",
                r#"{"code":"EXEC_APPROVAL_ID_INVALID","reason":"INVALID_APPROVAL_ID"}"#,
            ),
            (
                ApprovalError::NotFound,
                "unknown or expired approval id",
                r#"{"reason":"APPROVAL_NOT_FOUND","remediation":"Re-request the action; pending approvals are cleared after expiry or restart."}"#,
            ),
            (ApprovalError::NoLongerPending, "unknown or expired approval id", r#"{"reason":"APPROVAL_NOT_FOUND"}"#),
            (ApprovalError::InvalidApprovalSource, "approval source invalid", r#"{"code":"INVALID_APPROVAL_SOURCE"}"#),
            (ApprovalError::ApprovalRequired { run_id: None }, "approval required", r#"{"code":"APPROVAL_REQUIRED"}"#),
            (
                ApprovalError::ApprovalRequired { run_id: Some(run_id()) },
                "approval required",
                r#"{"code":"APPROVAL_REQUIRED","runId":"r1"}"#,
            ),
            (
                ApprovalError::EnvBindingMissing { run_id: run_id(), env_keys: vec!["A".into()] },
                "approval id missing env binding for requested env overrides",
                r#"{"code":"APPROVAL_ENV_BINDING_MISSING","runId":"r1","envKeys":["A"]}"#,
            ),
            (
                ApprovalError::EnvMismatch { run_id: run_id(), env_keys: vec![], expected: "h1".into(), actual: None },
                "approval id env binding mismatch",
                r#"{"code":"APPROVAL_ENV_MISMATCH","runId":"r1","envKeys":[],"expectedEnvHash":"h1","actualEnvHash":null}"#,
            ),
        ];
        for (error, message, details) in expected {
            assert_eq!(wire(error), (message.to_string(), details.to_string()));
        }
    }
}
