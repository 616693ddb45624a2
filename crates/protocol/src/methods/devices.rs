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
    /// When it was first issued (kept across rotations, as upstream).
    #[serde(default, deserialize_with = "null_default")]
    pub created_at_ms: i64,
    /// When it was last rotated (`device.token.rotate`, or a re-approval that reissued it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at_ms: Option<i64>,
    /// When it was revoked; a revoked token authenticates nothing, and the role counts as not
    /// approved until an operator approves it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<i64>,
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
    /// The label an operator gave it (`device.pair.rename`); wins over the display name in
    /// listings, and survives the device's own renames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_label: Option<String>,
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

/// `device.pair.rename`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePairRenamed {
    /// The renamed device.
    #[serde(default, deserialize_with = "null_default")]
    pub device_id: String,
    /// Its operator label, trimmed.
    #[serde(default, deserialize_with = "null_default")]
    pub label: String,
}

/// `device.token.rotate`: the new token's metadata, and the token itself only when the caller
/// rotated its own device's token (`tokenDelivery: "in-band"`). An operator rotating another
/// device's token never sees it: the device learns it on its next connect.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceTokenRotated {
    /// The device whose token was rotated.
    #[serde(default, deserialize_with = "null_default")]
    pub device_id: String,
    /// The role the token authenticates.
    #[serde(default, deserialize_with = "null_default")]
    pub role: String,
    /// The new token, for the device itself only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The scopes the new token is bound to.
    #[serde(default, deserialize_with = "null_default")]
    pub scopes: Vec<String>,
    /// When it was rotated.
    #[serde(default, deserialize_with = "null_default")]
    pub rotated_at_ms: i64,
    /// `in-band` (the token is in this answer) or `withheld-cross-device`; absent from gateways
    /// older than the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_delivery: Option<String>,
}

impl std::fmt::Debug for DeviceTokenRotated {
    /// Never prints the token: results end up in logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceTokenRotated")
            .field("device_id", &self.device_id)
            .field("role", &self.role)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("scopes", &self.scopes)
            .field("rotated_at_ms", &self.rotated_at_ms)
            .field("token_delivery", &self.token_delivery)
            .finish()
    }
}

/// `device.token.revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceTokenRevoked {
    /// The device whose token was revoked.
    #[serde(default, deserialize_with = "null_default")]
    pub device_id: String,
    /// The role whose token was revoked.
    #[serde(default, deserialize_with = "null_default")]
    pub role: String,
    /// When.
    #[serde(default, deserialize_with = "null_default")]
    pub revoked_at_ms: i64,
}
