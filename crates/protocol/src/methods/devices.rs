//! Results about devices: paired devices with their token summaries and pending pairing
//! requests (`device.pair.*`).

use serde::{Deserialize, Serialize};

use super::null_default;

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
    /// `None` only when reading an answer without one (see [`PendingNode::ts`](super::PendingNode::ts)).
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
