//! Results about nodes: the live list, approved command surfaces and pending surface
//! requests (`node.list`, `node.describe`, `node.rename`, `node.pair.*`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::null_default;

/// One node as `node.list` and `node.describe` show it (`protocol.md` §7): what the live
/// session says, else the approved surface, else the pending request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeEntry {
    /// The node's id (its device id).
    #[serde(default, deserialize_with = "null_default")]
    pub node_id: String,
    /// An operator's rename, else the node's own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `linux`, `macos`, `windows`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The node host's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `node-host`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `node`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    /// `Linux`, `Mac`, `Windows`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// Hardware model, when the node reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_identifier: Option<String>,
    /// The node's address; absent for loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    /// Capabilities.
    #[serde(default, deserialize_with = "null_default")]
    pub caps: Vec<String>,
    /// Routable (declared, allowlisted and approved) commands.
    #[serde(default, deserialize_with = "null_default")]
    pub commands: Vec<String>,
    /// Always `false` from our gateway.
    #[serde(default, deserialize_with = "null_default")]
    pub session_host: bool,
    /// The node's last `node.host.stats` event, with `updatedAtMs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_stats: Option<Value>,
    /// Always empty from our gateway.
    #[serde(default, deserialize_with = "null_default")]
    pub node_plugin_tools: Vec<Value>,
    /// The node's `PATH`, when it reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_env: Option<String>,
    /// `approved`, `pending-approval`, `pending-reapproval` or `unapproved`.
    #[serde(default, deserialize_with = "null_default")]
    pub approval_state: String,
    /// The pending surface request, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_request_id: Option<String>,
    /// Caps of the pending request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_declared_caps: Option<Vec<String>>,
    /// Commands of the pending request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_declared_commands: Option<Vec<String>>,
    /// When the live session connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_at_ms: Option<i64>,
    /// Same as `connectedAtMs` (upstream sends both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_connected_at_ms: Option<i64>,
    /// Last time the gateway saw the node (connect, disconnect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at_ms: Option<i64>,
    /// Why it was last seen (`connect`, `disconnect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_reason: Option<String>,
    /// When the surface was approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at_ms: Option<i64>,
    /// Whether the device is paired with the node role.
    #[serde(default, deserialize_with = "null_default")]
    pub paired: bool,
    /// Whether the node is connected now.
    #[serde(default, deserialize_with = "null_default")]
    pub connected: bool,
    /// Server time; only in `node.describe`, after every other field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

/// `node.list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeList {
    /// Server time, ms.
    #[serde(default, deserialize_with = "null_default")]
    pub ts: i64,
    /// Connected nodes first, then by name.
    #[serde(default, deserialize_with = "null_default")]
    pub nodes: Vec<NodeEntry>,
}

/// `node.rename`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRenameResult {
    /// The renamed node.
    #[serde(default, deserialize_with = "null_default")]
    pub node_id: String,
    /// Its new (trimmed) name.
    #[serde(default, deserialize_with = "null_default")]
    pub display_name: String,
}

/// An approved node command surface (`node.pair.list`'s `paired`, `node.pair.approve`'s `node`).
/// The gateway also stores it as is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRecord {
    /// The node's id.
    #[serde(default, deserialize_with = "null_default")]
    pub node_id: String,
    /// `node-host`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `node`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    /// An operator's rename, else the name at approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `linux`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The node host's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `Linux`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// Approved capabilities.
    #[serde(default, deserialize_with = "null_default")]
    pub caps: Vec<String>,
    /// Approved commands.
    #[serde(default, deserialize_with = "null_default")]
    pub commands: Vec<String>,
    /// The node's last address; absent for loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    /// First approval.
    #[serde(default, deserialize_with = "null_default")]
    pub created_at_ms: i64,
    /// Latest approval.
    #[serde(default, deserialize_with = "null_default")]
    pub approved_at_ms: i64,
    /// Last time the gateway saw the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at_ms: Option<i64>,
    /// Why (`connect`, `disconnect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_reason: Option<String>,
}

/// A pending node command-surface request (`node.pair.list`'s `pending`, the
/// `node.pair.requested` event). The gateway also stores it as is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingNode {
    /// What `node.pair.approve|reject` take.
    #[serde(default, deserialize_with = "null_default")]
    pub request_id: String,
    /// The node's id.
    #[serde(default, deserialize_with = "null_default")]
    pub node_id: String,
    /// `node-host`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `node`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    /// The node's own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `linux`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The node host's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `Linux`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// Declared capabilities.
    #[serde(default, deserialize_with = "null_default")]
    pub caps: Vec<String>,
    /// Declared (allowlisted) commands.
    #[serde(default, deserialize_with = "null_default")]
    pub commands: Vec<String>,
    /// The scopes an approver needs for these commands.
    #[serde(default, deserialize_with = "null_default")]
    pub required_approve_scopes: Vec<String>,
    /// The node's address; absent for loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    /// When it was requested. Our gateway always sends it; `None` only when reading an
    /// answer without one, so that operators can show "unknown" rather than 1970.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

/// `node.pair.list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodePairList {
    /// Pending surface requests.
    #[serde(default, deserialize_with = "null_default")]
    pub pending: Vec<PendingNode>,
    /// Approved surfaces, oldest approval first.
    #[serde(default, deserialize_with = "null_default")]
    pub paired: Vec<NodeRecord>,
}

/// `node.pair.approve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePairApproved {
    /// The approved request.
    #[serde(default, deserialize_with = "null_default")]
    pub request_id: String,
    /// The surface now approved.
    #[serde(default, deserialize_with = "null_default")]
    pub node: NodeRecord,
}

/// `node.pair.reject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePairRejected {
    /// The rejected request.
    #[serde(default, deserialize_with = "null_default")]
    pub request_id: String,
    /// Its node.
    #[serde(default, deserialize_with = "null_default")]
    pub node_id: String,
}

/// `node.pair.remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePairRemoved {
    /// The forgotten node.
    #[serde(default, deserialize_with = "null_default")]
    pub node_id: String,
}
