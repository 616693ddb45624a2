//! The `connect` request and its `hello-ok` answer (`protocol.md` §4.3, §4.6).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `client.id` of the headless node host.
pub const CLIENT_ID_NODE_HOST: &str = "node-host";
/// `client.mode` (and `role`) of a node.
pub const MODE_NODE: &str = "node";
/// `role` of a node connection.
pub const ROLE_NODE: &str = "node";

/// Every `client.id` the Gateway accepts (`packages/gateway-protocol/src/client-info.ts`).
pub const CLIENT_IDS: &[&str] = &[
    "webchat-ui",
    "openclaw-control-ui",
    "openclaw-browser-copilot",
    "openclaw-tui",
    "webchat",
    "cli",
    "gateway-client",
    "openclaw-macos",
    "openclaw-linux",
    "openclaw-ios",
    "openclaw-watchos",
    "openclaw-android",
    "node-host",
    "openclaw-worker",
    "test",
    "fingerprint",
    "openclaw-probe",
];

/// Every `client.mode` the Gateway accepts.
pub const CLIENT_MODES: &[&str] = &["webchat", "cli", "ui", "backend", "node", "worker", "probe", "test"];

/// `connect` params. The Gateway validates this as a closed object, so unknown fields are
/// rejected on input too (`deny_unknown_fields`), and absent options are never sent as null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectParams {
    /// Lowest protocol version the client accepts.
    pub min_protocol: u32,
    /// Highest protocol version the client accepts.
    pub max_protocol: u32,
    /// Who is connecting.
    pub client: ClientInfo,
    /// Capability families, e.g. `["system"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caps: Option<Vec<String>>,
    /// The node commands this client declares it can run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
    /// Computer-use descriptor (not used by headless hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computer_use: Option<Value>,
    /// Deprecated worker descriptor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_runs: Option<Value>,
    /// Platform permissions (macOS app); the headless host omits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<BTreeMap<String, bool>>,
    /// The node's PATH, so the gateway can reason about what it will find.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_env: Option<String>,
    /// `node` or `operator` (the default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Operator scopes; `[]` for nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Operator-only model catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_catalog: Option<Value>,
    /// The signed device proof; required for nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceProof>,
    /// Shared secret, device token or bootstrap token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ConnectAuth>,
    /// BCP-47 locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Free-form user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// `connect.client`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientInfo {
    /// An enum upstream; `node-host` for us.
    pub id: String,
    /// Shown in `nodes status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The client's package version.
    pub version: String,
    /// Build identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    /// `linux`, `macos`, `windows`, …
    pub platform: String,
    /// `Linux`, `Mac`, `Windows`; with `platform` it selects the gateway's command allowlist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// Hardware model when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_identifier: Option<String>,
    /// IANA time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// An enum upstream; `node` for us.
    pub mode: String,
    /// The persisted node id (metadata only; routing uses the device id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

/// Why a [`ClientInfo`] would fail the Gateway's `connect` schema; the text is
/// `<JSON path>: <Ajv message>`, as upstream words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientInfoError {
    /// `client.id` is not one of upstream's client ids.
    #[error("/client/id: must be equal to one of the allowed values")]
    UnknownId,
    /// `client.mode` is not one of upstream's client modes.
    #[error("/client/mode: must be equal to one of the allowed values")]
    UnknownMode,
    /// A string field (its JSON name) is present but empty.
    #[error("/client/{0}: must NOT have fewer than 1 characters")]
    Empty(&'static str),
}

impl ClientInfo {
    /// Checks what the Gateway's schema checks beyond JSON types: the two enums, and that
    /// the required and optional strings are non-empty.
    pub fn validate(&self) -> Result<(), ClientInfoError> {
        if !CLIENT_IDS.contains(&self.id.as_str()) {
            return Err(ClientInfoError::UnknownId);
        }
        if !CLIENT_MODES.contains(&self.mode.as_str()) {
            return Err(ClientInfoError::UnknownMode);
        }
        let strings = [
            ("version", Some(&self.version)),
            ("platform", Some(&self.platform)),
            ("displayName", self.display_name.as_ref()),
            ("deviceFamily", self.device_family.as_ref()),
            ("modelIdentifier", self.model_identifier.as_ref()),
            ("instanceId", self.instance_id.as_ref()),
        ];
        match strings.iter().find(|(_, v)| v.is_some_and(|v| v.is_empty())) {
            Some((name, _)) => Err(ClientInfoError::Empty(name)),
            None => Ok(()),
        }
    }
}

/// `connect.device`: proof of possession of the device key for this challenge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceProof {
    /// Lowercase hex SHA-256 of the raw public key.
    pub id: String,
    /// Raw 32-byte Ed25519 public key, base64url without padding.
    pub public_key: String,
    /// Ed25519 signature of the device-auth payload, base64url without padding.
    pub signature: String,
    /// The challenge `ts`, in ms.
    pub signed_at: u64,
    /// The challenge nonce, verbatim.
    pub nonce: String,
}

/// `connect.auth`; every field optional, the whole object omitted when empty.
///
/// Every field is a secret, so `Debug` shows only which ones are set: a `{:?}` of a connect
/// request (or of anything holding one) must never put a credential into a log.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectAuth {
    /// Shared gateway token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// One-shot setup-code token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_token: Option<String>,
    /// The device token the gateway issued at pairing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    /// Shared gateway password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Operator approval runtime token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_runtime_token: Option<String>,
    /// Agent runtime identity token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_runtime_identity_token: Option<String>,
}

impl std::fmt::Debug for ConnectAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("ConnectAuth")
            .field("token", &set(&self.token))
            .field("bootstrap_token", &set(&self.bootstrap_token))
            .field("device_token", &set(&self.device_token))
            .field("password", &set(&self.password))
            .field("approval_runtime_token", &set(&self.approval_runtime_token))
            .field("agent_runtime_identity_token", &set(&self.agent_runtime_identity_token))
            .finish()
    }
}

impl ConnectAuth {
    /// True when no credential is set, in which case `auth` is left out of `connect`.
    pub fn is_empty(&self) -> bool {
        self == &ConnectAuth::default()
    }

    /// The token the device signature covers: `token`, else `deviceToken`, else
    /// `bootstrapToken`, else empty (the gateway computes it the same way).
    pub fn signature_token(&self) -> &str {
        self.token.as_deref().or(self.device_token.as_deref()).or(self.bootstrap_token.as_deref()).unwrap_or("")
    }
}

/// The `hello-ok` payload of a successful `connect`. Parsed leniently: a node needs only
/// `auth` and `policy`, and the rest is kept as raw JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelloOk {
    /// Always `hello-ok`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The protocol in use (always 4, even for v3 nodes).
    pub protocol: u32,
    /// `{version, connId, …}`.
    pub server: Value,
    /// `{methods, events, capabilities?}`.
    #[serde(default)]
    pub features: Value,
    /// Presence/health snapshot.
    #[serde(default)]
    pub snapshot: Value,
    /// What the gateway decided about our credentials, including a device token to persist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<HelloAuth>,
    /// Limits and the tick interval.
    pub policy: HelloPolicy,
}

/// `hello-ok.auth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelloAuth {
    /// `token`, `password`, `device-token`, `bootstrap-token`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The role granted.
    pub role: String,
    /// The scopes granted.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The device token for `(deviceId, role)`; persist it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    /// When the device token was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at_ms: Option<u64>,
}

/// `hello-ok.policy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelloPolicy {
    /// Largest frame the server accepts after hello.
    pub max_payload: u64,
    /// Server outbound buffer limit before it closes "slow consumer".
    pub max_buffered_bytes: u64,
    /// Tick cadence; silence for twice this long means the link is dead.
    pub tick_interval_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unknown_client_field_like_the_gateway() {
        let text = r#"{"minProtocol":4,"maxProtocol":4,"client":{"id":"node-host","version":"1","platform":"linux","mode":"node","bogus":1}}"#;
        assert!(serde_json::from_str::<ConnectParams>(text).is_err());
    }

    #[test]
    fn client_enums_and_non_empty_strings() {
        let mut c = ClientInfo {
            id: CLIENT_ID_NODE_HOST.into(),
            display_name: Some("box".into()),
            version: "2026.9.6".into(),
            build_id: None,
            platform: "linux".into(),
            device_family: Some("Linux".into()),
            model_identifier: None,
            time_zone: None,
            mode: MODE_NODE.into(),
            instance_id: None,
        };
        assert_eq!(c.validate(), Ok(()));
        c.display_name = Some(String::new());
        assert_eq!(c.validate(), Err(ClientInfoError::Empty("displayName")));
        assert_eq!(c.validate().unwrap_err().to_string(), "/client/displayName: must NOT have fewer than 1 characters");
        c.display_name = None;
        c.mode = "robot".into();
        assert_eq!(c.validate().unwrap_err().to_string(), "/client/mode: must be equal to one of the allowed values");
        c.mode = MODE_NODE.into();
        c.id = "node_host".into();
        assert_eq!(c.validate().unwrap_err().to_string(), "/client/id: must be equal to one of the allowed values");
    }

    #[test]
    fn signature_token_priority() {
        let mut a = ConnectAuth { bootstrap_token: Some("b".into()), ..Default::default() };
        assert_eq!(a.signature_token(), "b");
        a.device_token = Some("d".into());
        assert_eq!(a.signature_token(), "d");
        a.token = Some("t".into());
        assert_eq!(a.signature_token(), "t");
        assert_eq!(ConnectAuth::default().signature_token(), "");
        assert!(ConnectAuth::default().is_empty());
    }
}
