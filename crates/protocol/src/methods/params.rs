//! Params of the operator methods, as the operator side builds them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Params naming one node: `node.describe`, `node.pair.remove`, `exec.approvals.node.get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeIdParams {
    /// The node's id (its device id).
    pub node_id: String,
}

/// `node.rename` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRenameParams {
    /// The node to rename.
    pub node_id: String,
    /// The new name (trimmed by the gateway; blank is refused).
    pub display_name: String,
}

/// Params naming one pairing request: `node.pair.approve|reject`, `device.pair.approve|reject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestIdParams {
    /// The pending request's id.
    pub request_id: String,
}

/// `device.pair.remove` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceIdParams {
    /// The paired device to forget.
    pub device_id: String,
}

/// `device.pair.rename` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePairRenameParams {
    /// The paired device.
    pub device_id: String,
    /// The operator label (1 to 64 characters).
    pub label: String,
}

/// `device.token.rotate` and `device.token.revoke` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceTokenParams {
    /// The paired device.
    pub device_id: String,
    /// The role whose token changes (`node`, `operator`).
    pub role: String,
    /// Rotate only: the scopes of the new token (absent: keep the current ones; `[]`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// Params naming one approval record: `exec.approval.get`, `exec.approval.waitDecision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalIdParams {
    /// The approval id.
    pub id: String,
}

/// `exec.approval.resolve` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalResolveParams {
    /// The approval id.
    pub id: String,
    /// `allow-once`, `allow-always` or `deny`.
    pub decision: String,
}

/// `exec.approvals.node.set` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecApprovalsSetParams {
    /// The node whose document is replaced.
    pub node_id: String,
    /// The whole new document.
    pub file: Value,
    /// The hash the document was read with; the node refuses the write if it changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_hash: Option<String>,
}

/// `audit.list` params.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditListParams {
    /// How many events, newest first (default 100, at most 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// `node.invoke` params, as operators send them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInvokeParams {
    /// The node to run on.
    pub node_id: String,
    /// The command, e.g. `system.run`.
    pub command: String,
    /// The command's params.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    /// The gateway's deadline (default 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Required by the gateway; a fresh UUID per logical call.
    pub idempotency_key: String,
    /// Optional agent session the call belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_key: Option<String>,
}
