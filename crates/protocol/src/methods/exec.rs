//! Results of running commands and of the exec approval flow: `node.invoke`,
//! `exec.approval.*` and `audit.list`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::null_default;

/// `node.invoke`'s result. `payloadJSON` is sent as `null` when the node gave a `payload`
/// object instead of text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInvokeResult {
    /// Always `true` (failures are error responses).
    #[serde(default, deserialize_with = "null_default")]
    pub ok: bool,
    /// The node that ran it.
    #[serde(default, deserialize_with = "null_default")]
    pub node_id: String,
    /// The command.
    #[serde(default, deserialize_with = "null_default")]
    pub command: String,
    /// The command's result (`payloadJSON` parsed, when the node sent text).
    #[serde(default)]
    pub payload: Value,
    /// The node's text, verbatim (sent as `null` when absent).
    #[serde(rename = "payloadJSON", default)]
    pub payload_json: Option<String>,
}

/// `exec.approval.request`'s first answer when `twoPhase` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalAccepted {
    /// `accepted`.
    #[serde(default, deserialize_with = "null_default")]
    pub status: String,
    /// The approval id.
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    /// `approval-client` when some operator was told, else `none`.
    #[serde(default, deserialize_with = "null_default")]
    pub delivery_route: String,
    /// When it was registered.
    #[serde(default, deserialize_with = "null_default")]
    pub created_at_ms: i64,
    /// When it expires undecided.
    #[serde(default, deserialize_with = "null_default")]
    pub expires_at_ms: i64,
}

/// `exec.approval.request`'s final answer. `decision` is sent as `null` when the request
/// expired undecided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalDecision {
    /// The approval id.
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    /// `allow-once`, `allow-always`, `deny`, or `null` (sent).
    #[serde(default)]
    pub decision: Option<String>,
    /// When it was registered.
    #[serde(default, deserialize_with = "null_default")]
    pub created_at_ms: i64,
    /// When it expires (or expired) undecided.
    #[serde(default, deserialize_with = "null_default")]
    pub expires_at_ms: i64,
}

/// `exec.approval.waitDecision`. `decision` and `terminalReason` are sent as `null` when
/// not decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalWaited {
    /// The approval id.
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    /// `allow-once`, `allow-always`, `deny`, or `null` (sent).
    #[serde(default)]
    pub decision: Option<String>,
    /// When it was registered.
    #[serde(default, deserialize_with = "null_default")]
    pub created_at_ms: i64,
    /// When it expires undecided.
    #[serde(default, deserialize_with = "null_default")]
    pub expires_at_ms: i64,
    /// `user` or `timeout`, or `null` (sent).
    #[serde(default)]
    pub terminal_reason: Option<String>,
}

/// `exec.approval.get`: a pending approval, summarised for an approver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalSummary {
    /// The approval id.
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    /// The command as text (from the request; `null` if it had none).
    #[serde(default)]
    pub command_text: Value,
    /// Always `null` from our gateway (sent).
    #[serde(default)]
    pub command_preview: Option<String>,
    /// The decisions the approver may take (from the request).
    #[serde(default)]
    pub allowed_decisions: Value,
    /// Always `node`.
    #[serde(default, deserialize_with = "null_default")]
    pub host: String,
    /// The node it would run on.
    #[serde(default, deserialize_with = "null_default")]
    pub node_id: String,
    /// The agent that asked (from the request, any JSON; `null` if none).
    #[serde(default)]
    pub agent_id: Value,
    /// When it expires undecided.
    #[serde(default, deserialize_with = "null_default")]
    pub expires_at_ms: i64,
}

/// One entry of `exec.approval.list` (the result is a bare array of these).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalListEntry {
    /// The approval id.
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    /// The request document operators see (command, binding, plan, …).
    #[serde(default)]
    pub request: Value,
    /// When it was registered.
    #[serde(default, deserialize_with = "null_default")]
    pub created_at_ms: i64,
    /// When it expires undecided.
    #[serde(default, deserialize_with = "null_default")]
    pub expires_at_ms: i64,
    /// Always `exec`.
    #[serde(default, deserialize_with = "null_default")]
    pub approval_kind: String,
}

/// One exec event a node reported (`exec.started|finished|denied`), as stored for the audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// When the gateway received it.
    #[serde(default, deserialize_with = "null_default")]
    pub ts_ms: i64,
    /// The reporting node.
    #[serde(default, deserialize_with = "null_default")]
    pub node_id: String,
    /// `exec.finished`, `exec.denied`, …
    #[serde(default, deserialize_with = "null_default")]
    pub event: String,
    /// The event payload as the node sent it.
    #[serde(default)]
    pub payload: Value,
}

/// `audit.list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditList {
    /// Newest first.
    #[serde(default, deserialize_with = "null_default")]
    pub items: Vec<AuditEvent>,
}
