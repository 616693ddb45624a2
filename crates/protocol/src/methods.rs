//! Params and results of the operator methods (`node.list`, `node.pair.*`, `device.pair.*`,
//! `exec.approval.*`, `audit.list`, `node.invoke`, …), shared by the gateway that builds them
//! and the operator code that reads them.
//!
//! Before this module each shape existed twice, untyped: once as `json!` in the gateway and once
//! as string-keyed reads in the CLI. Here each exists once. Two constraints shape every type:
//!
//! - **Output is byte-for-byte what the gateway always sent.** Field order is declaration order
//!   (serde_json keeps insertion order in this workspace), a field that was left out when unknown
//!   is `Option` + `skip_serializing_if`, and a field that was sent as `null` is an `Option`
//!   *without* the skip. Comments mark the `null` ones, since that is the easy one to break.
//! - **Input is lenient**, because operators also read these from the real Gateway, which may add
//!   fields or send `null`: no `deny_unknown_fields`, and every non-optional field defaults when
//!   absent or `null` (`null_default`).
//!
//! Some payloads are relayed or free-form and stay [`Value`]: the node's invoke payload, the
//! exec approvals document, an approval's `request` object and the event payloads.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Reads `null` or an absent field as the type's default (with `#[serde(default)]`).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// Params

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

// ---------------------------------------------------------------------------------------------
// Results

/// `{"ok": true}`: `exec.approval.resolve`, `node.pending.ack`, a delivered invoke result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Always `true` on success.
    #[serde(default, deserialize_with = "null_default")]
    pub ok: bool,
}

/// `health` and `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Always `true` from a serving gateway.
    #[serde(default, deserialize_with = "null_default")]
    pub ok: bool,
    /// Server time, ms.
    #[serde(default, deserialize_with = "null_default")]
    pub ts: i64,
    /// Since the gateway started.
    #[serde(default, deserialize_with = "null_default")]
    pub uptime_ms: u64,
    /// Open connections (operators and nodes).
    #[serde(default, deserialize_with = "null_default")]
    pub connections: u64,
    /// Connected nodes.
    #[serde(default, deserialize_with = "null_default")]
    pub nodes: u64,
}

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

/// A device token as operators see it: which role and scopes, never the value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceTokenSummary {
    /// The role it authenticates.
    #[serde(default, deserialize_with = "null_default")]
    pub role: String,
    /// The scopes it is bound to.
    #[serde(default, deserialize_with = "null_default")]
    pub scopes: Vec<String>,
    /// When it was issued.
    #[serde(default, deserialize_with = "null_default")]
    pub created_at_ms: i64,
}

/// A paired device as operators see it (`device.pair.list`'s `paired`,
/// `device.pair.approve`'s `device`): the stored record with token values removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRecord {
    /// The device id (hash of its public key).
    #[serde(default, deserialize_with = "null_default")]
    pub device_id: String,
    /// Its Ed25519 public key, base64url.
    #[serde(default, deserialize_with = "null_default")]
    pub public_key: String,
    /// The client's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `linux`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `Linux`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// `cli`, `node-host`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `cli`, `node`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    /// The role of the first approval.
    #[serde(default, deserialize_with = "null_default")]
    pub role: String,
    /// Every approved role.
    #[serde(default, deserialize_with = "null_default")]
    pub roles: Vec<String>,
    /// Approved operator scopes.
    #[serde(default, deserialize_with = "null_default")]
    pub scopes: Vec<String>,
    /// Its last address; absent for loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    /// First approval.
    #[serde(default, deserialize_with = "null_default")]
    pub created_at_ms: i64,
    /// Latest approval.
    #[serde(default, deserialize_with = "null_default")]
    pub approved_at_ms: i64,
    /// `owner` (an operator), `silent` (loopback), `trusted-cidr`.
    #[serde(default, deserialize_with = "null_default")]
    pub approved_via: String,
    /// Its device tokens, one per role.
    #[serde(default, deserialize_with = "null_default")]
    pub tokens: Vec<DeviceTokenSummary>,
}

/// A pending device-pairing request (`device.pair.list`'s `pending`, the
/// `device.pair.requested` event). The gateway also stores it as is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingDevice {
    /// What `device.pair.approve|reject` take.
    #[serde(default, deserialize_with = "null_default")]
    pub request_id: String,
    /// The device id.
    #[serde(default, deserialize_with = "null_default")]
    pub device_id: String,
    /// Its public key, base64url.
    #[serde(default, deserialize_with = "null_default")]
    pub public_key: String,
    /// The client's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `linux`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `Linux`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// `cli`, `node-host`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `cli`, `node`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    /// The role asked for.
    #[serde(default, deserialize_with = "null_default")]
    pub role: String,
    /// Every role the approval would grant.
    #[serde(default, deserialize_with = "null_default")]
    pub roles: Vec<String>,
    /// The operator scopes asked for.
    #[serde(default, deserialize_with = "null_default")]
    pub scopes: Vec<String>,
    /// The device's address; absent for loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    /// Eligible for silent (local) approval.
    #[serde(default, deserialize_with = "null_default")]
    pub silent: bool,
    /// A known device asking again (new role, scopes or key).
    #[serde(default, deserialize_with = "null_default")]
    pub is_repair: bool,
    /// Last time the device asked (creation or retry), ms. Our gateway always sends it;
    /// `None` only when reading an answer without one (see [`PendingNode::ts`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

/// `device.pair.list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DevicePairList {
    /// Pending requests.
    #[serde(default, deserialize_with = "null_default")]
    pub pending: Vec<PendingDevice>,
    /// Paired devices, oldest approval first.
    #[serde(default, deserialize_with = "null_default")]
    pub paired: Vec<DeviceRecord>,
}

/// `device.pair.approve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePairApproved {
    /// The approved request.
    #[serde(default, deserialize_with = "null_default")]
    pub request_id: String,
    /// The device now paired.
    #[serde(default, deserialize_with = "null_default")]
    pub device: DeviceRecord,
}

/// `device.pair.reject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePairRejected {
    /// The rejected request.
    #[serde(default, deserialize_with = "null_default")]
    pub request_id: String,
    /// Its device.
    #[serde(default, deserialize_with = "null_default")]
    pub device_id: String,
}

/// `device.pair.remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePairRemoved {
    /// The forgotten device.
    #[serde(default, deserialize_with = "null_default")]
    pub device_id: String,
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_options_are_left_out_and_nullable_ones_are_sent() {
        let entry = NodeEntry { node_id: "n".into(), approval_state: "approved".into(), ..Default::default() };
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            r#"{"nodeId":"n","caps":[],"commands":[],"sessionHost":false,"nodePluginTools":[],"approvalState":"approved","paired":false,"connected":false}"#
        );
        let waited = ApprovalWaited {
            id: "a".into(),
            decision: None,
            created_at_ms: 1,
            expires_at_ms: 2,
            terminal_reason: None,
        };
        assert_eq!(
            serde_json::to_string(&waited).unwrap(),
            r#"{"id":"a","decision":null,"createdAtMs":1,"expiresAtMs":2,"terminalReason":null}"#
        );
        let invoked = NodeInvokeResult {
            ok: true,
            node_id: "n".into(),
            command: "c".into(),
            payload: json!({}),
            payload_json: None,
        };
        assert_eq!(
            serde_json::to_string(&invoked).unwrap(),
            r#"{"ok":true,"nodeId":"n","command":"c","payload":{},"payloadJSON":null}"#
        );
    }

    #[test]
    fn reading_tolerates_nulls_and_unknown_fields() {
        let entry: NodeEntry = serde_json::from_value(json!({
            "nodeId": "n", "displayName": null, "caps": null, "commands": ["a"], "connected": true,
            "somethingNew": 1,
        }))
        .unwrap();
        assert_eq!(entry.display_name, None);
        assert!(entry.caps.is_empty());
        assert_eq!(entry.commands, ["a"]);
        assert!(entry.connected && !entry.paired);
        let list: NodeList = serde_json::from_value(json!({"ts": 5})).unwrap();
        assert!(list.nodes.is_empty());
    }

    #[test]
    fn a_pending_request_without_ts_reads_as_unknown_and_one_with_ts_is_sent_as_before() {
        let list: NodePairList = serde_json::from_value(json!({"pending": [
            {"requestId": "r1", "nodeId": "n"}, {"requestId": "r2", "nodeId": "n", "ts": null},
            {"requestId": "r3", "nodeId": "n", "ts": 7},
        ]}))
        .unwrap();
        assert_eq!(list.pending.iter().map(|p| p.ts).collect::<Vec<_>>(), [None, None, Some(7)]);
        assert_eq!(
            serde_json::to_string(&list.pending[2]).unwrap(),
            r#"{"requestId":"r3","nodeId":"n","caps":[],"commands":[],"requiredApproveScopes":[],"ts":7}"#
        );
        let devices: DevicePairList =
            serde_json::from_value(json!({"pending": [{"requestId": "r"}, {"requestId": "s", "ts": 9}]})).unwrap();
        assert_eq!(devices.pending.iter().map(|p| p.ts).collect::<Vec<_>>(), [None, Some(9)]);
        assert_eq!(
            serde_json::to_string(&devices.pending[1]).unwrap(),
            r#"{"requestId":"s","deviceId":"","publicKey":"","role":"","roles":[],"scopes":[],"silent":false,"isRepair":false,"ts":9}"#
        );
    }
}
