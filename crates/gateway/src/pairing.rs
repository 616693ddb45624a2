//! The two approval layers of the gateway (`protocol.md` §5).
//!
//! 1. **Device pairing** gates the `connect` handshake for a `(deviceId, role)`: an unknown
//!    device gets a pending request (reused while the same key retries, superseded when role
//!    or scopes change, expiring 5 minutes after the last retry) until an operator, loopback
//!    trust or a trusted CIDR approves it. A paired device gets a device token per role.
//! 2. **Node surface approval** gates which declared commands of a node are effective. It never
//!    blocks the connect: until approved the node is connected with no commands.
//!
//! [`Pairing`] keeps both in memory and journals every change to [`GatewayStore`].

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use openclaw_protocol::methods::{DeviceRecord, DeviceTokenSummary};
use openclaw_protocol::Role;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Digest;

pub use openclaw_protocol::methods::{NodeRecord, PendingDevice, PendingNode};

use crate::store::{GatewayStore, Kind, StoreError};

/// Pending device requests expire this long after their last retry.
pub const DEVICE_REQUEST_TTL_MS: i64 = 5 * 60 * 1000;

/// Scope that implies every other operator scope.
pub const SCOPE_ADMIN: &str = "operator.admin";
/// Scope for pairing approvals.
pub const SCOPE_PAIRING: &str = "operator.pairing";
/// Scope for ordinary writes (invoking non-privileged node commands).
pub const SCOPE_WRITE: &str = "operator.write";

/// A pairing event for operators holding `operator.pairing`: a request was made, or decided.
#[derive(Debug, Clone)]
pub struct PairingNotice {
    pub event: &'static str,
    pub payload: Value,
}

impl PairingNotice {
    /// `device.pair.requested`.
    pub fn device_requested(request: &PendingDevice) -> Self {
        PairingNotice { event: "device.pair.requested", payload: serde_json::to_value(request).expect("serialises") }
    }

    /// `node.pair.requested`.
    pub fn node_requested(request: &PendingNode) -> Self {
        PairingNotice { event: "node.pair.requested", payload: serde_json::to_value(request).expect("serialises") }
    }

    /// `device.pair.resolved` (`approved`, `rejected`).
    pub fn device_resolved(request_id: &str, device_id: &str, decision: &str, now: i64) -> Self {
        let payload = json!({"requestId": request_id, "deviceId": device_id, "decision": decision, "ts": now});
        PairingNotice { event: "device.pair.resolved", payload }
    }

    /// `node.pair.resolved` (`approved`, `rejected`, `removed` with an empty requestId).
    pub fn node_resolved(request_id: &str, node_id: &str, decision: &str, now: i64) -> Self {
        let payload = json!({"requestId": request_id, "nodeId": node_id, "decision": decision, "ts": now});
        PairingNotice { event: "node.pair.resolved", payload }
    }
}

/// Commands whose approval on a node needs `operator.admin` (`src/infra/node-pairing-authz.ts`).
const ADMIN_COMMANDS: &[&str] = &[
    "system.run",
    "system.run.prepare",
    "system.which",
    "browser.proxy",
    "browser.proxy.upload.v1",
    "fs.listDir",
    "system.execApprovals.get",
    "system.execApprovals.set",
];

/// The default command allowlist of desktop-class node platforms (Linux, macOS, Windows):
/// declared commands outside it are withheld.
const DESKTOP_COMMANDS: &[&str] = &[
    "system.run.prepare",
    "system.run",
    "system.which",
    "system.execApprovals.get",
    "system.execApprovals.set",
    "fs.listDir",
    "terminal.upload",
    "system.notify",
    "browser.proxy",
    "browser.proxy.upload.v1",
    "mcp.tools.call.v1",
    "agent.cli.claude.run.v1",
    "screen.snapshot",
    "desktop.stream",
    "computer.act",
];

/// The declared commands a node of this platform may have at all. A `platform` whose
/// `deviceFamily` does not match it is "unknown" and gets none of the system commands.
pub fn allowlisted_commands(platform: &str, device_family: Option<&str>, declared: &[String]) -> Vec<String> {
    let family = device_family.unwrap_or("").to_ascii_lowercase();
    let known = matches!(
        (platform.to_ascii_lowercase().as_str(), family.as_str()),
        ("linux", "linux") | ("macos" | "darwin", "mac") | ("windows" | "win32", "windows")
    );
    if !known {
        return Vec::new();
    }
    let mut out: Vec<String> = declared.iter().filter(|c| DESKTOP_COMMANDS.contains(&c.as_str())).cloned().collect();
    out.sort();
    out.dedup();
    out
}

/// The operator scopes needed to approve a node surface with these commands.
pub fn required_approve_scopes(commands: &[String]) -> Vec<String> {
    if commands.iter().any(|c| ADMIN_COMMANDS.contains(&c.as_str())) {
        vec![SCOPE_PAIRING.into(), SCOPE_ADMIN.into()]
    } else if commands.is_empty() {
        vec![SCOPE_PAIRING.into()]
    } else {
        vec![SCOPE_PAIRING.into(), SCOPE_WRITE.into()]
    }
}

/// Whether a caller holding `held` scopes has `needed` (`operator.admin` implies all).
pub fn has_scope(held: &[String], needed: &str) -> bool {
    held.iter().any(|s| s == needed || s == SCOPE_ADMIN)
}

/// A device token for one role of a paired device.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceToken {
    /// 32 random bytes, base64url without padding.
    pub token: String,
    /// The role it authenticates.
    pub role: String,
    /// The scopes it is bound to.
    pub scopes: Vec<String>,
    /// When it was issued.
    pub created_at_ms: i64,
}

impl std::fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceToken").field("role", &self.role).field("token", &"<redacted>").finish()
    }
}

/// What a connecting device says about itself (from `connect`).
#[derive(Debug, Clone, Default)]
pub struct DeviceClaim {
    pub device_id: String,
    pub public_key: String,
    pub role: String,
    pub scopes: Vec<String>,
    pub display_name: Option<String>,
    pub platform: Option<String>,
    pub device_family: Option<String>,
    pub client_id: Option<String>,
    pub client_mode: Option<String>,
    pub remote_ip: Option<String>,
}

/// A paired device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairedDevice {
    pub device_id: String,
    pub public_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    /// The role of the first approval.
    pub role: String,
    /// Every approved role.
    pub roles: Vec<String>,
    /// Approved operator scopes.
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    pub created_at_ms: i64,
    pub approved_at_ms: i64,
    /// `owner` (an operator), `silent` (loopback), `trusted-cidr` (a trusted network).
    pub approved_via: String,
    /// Device tokens by role.
    #[serde(default)]
    pub tokens: BTreeMap<String, DeviceToken>,
}

impl PairedDevice {
    /// Whether `role` is among the approved roles (stored as text, so unknown ones survive).
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.iter().any(|r| r == role.as_str())
    }

    /// The record as operators see it: token values never leave the gateway.
    pub fn redacted(&self) -> DeviceRecord {
        DeviceRecord {
            device_id: self.device_id.clone(),
            public_key: self.public_key.clone(),
            display_name: self.display_name.clone(),
            platform: self.platform.clone(),
            device_family: self.device_family.clone(),
            client_id: self.client_id.clone(),
            client_mode: self.client_mode.clone(),
            role: self.role.clone(),
            roles: self.roles.clone(),
            scopes: self.scopes.clone(),
            remote_ip: self.remote_ip.clone(),
            created_at_ms: self.created_at_ms,
            approved_at_ms: self.approved_at_ms,
            approved_via: self.approved_via.clone(),
            tokens: self
                .tokens
                .values()
                .map(|t| DeviceTokenSummary {
                    role: t.role.clone(),
                    scopes: t.scopes.clone(),
                    created_at_ms: t.created_at_ms,
                })
                .collect(),
        }
    }
}

/// Why a device must (re-)pair, as in `details.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairingReason {
    NotPaired,
    RoleUpgrade,
    ScopeUpgrade,
    MetadataUpgrade,
}

impl PairingReason {
    /// `details.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            PairingReason::NotPaired => "not-paired",
            PairingReason::RoleUpgrade => "role-upgrade",
            PairingReason::ScopeUpgrade => "scope-upgrade",
            PairingReason::MetadataUpgrade => "metadata-upgrade",
        }
    }

    /// The human requirement in `pairing required: <requirement>`.
    pub fn requirement(self) -> &'static str {
        match self {
            PairingReason::NotPaired => "device is not approved yet",
            PairingReason::RoleUpgrade => "role upgrade pending approval",
            PairingReason::ScopeUpgrade => "scope upgrade pending approval",
            PairingReason::MetadataUpgrade => "device metadata change pending approval",
        }
    }
}

/// The outcome of checking a connecting device (made once per connect, so its size is moot).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum DeviceCheck {
    /// Paired for this role and scopes.
    Paired,
    /// Needs approval; `request` is pending (new or refreshed), `superseded` was replaced.
    Required { reason: PairingReason, request: PendingDevice, superseded: Option<PendingDevice> },
}

/// What a connecting node declares (commands already filtered by [`allowlisted_commands`]).
#[derive(Debug, Clone, Default)]
pub struct NodeClaim {
    pub node_id: String,
    pub client_id: Option<String>,
    pub client_mode: Option<String>,
    pub display_name: Option<String>,
    pub platform: Option<String>,
    pub version: Option<String>,
    pub device_family: Option<String>,
    pub caps: Vec<String>,
    pub commands: Vec<String>,
    pub remote_ip: Option<String>,
}

/// The effective surface of a connecting node.
#[derive(Debug)]
pub struct NodeSurface {
    /// The commands the gateway will route to it.
    pub effective: Vec<String>,
    /// A pending request, and whether it was created just now (then operators are told).
    pub pending: Option<(PendingNode, bool)>,
    /// A previous pending request this connect replaced.
    pub superseded: Option<PendingNode>,
}

/// A pairing operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PairingError {
    /// No such pending request.
    #[error("unknown requestId")]
    UnknownRequest,
    /// No such paired device.
    #[error("unknown deviceId")]
    UnknownDevice,
    /// No such node.
    #[error("unknown nodeId")]
    UnknownNode,
    /// The journal could not be written; the change was not made.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Device pairing and node surfaces, in memory, journaled.
pub struct Pairing {
    store: GatewayStore,
    devices: HashMap<String, PairedDevice>,
    device_requests: HashMap<String, PendingDevice>,
    nodes: HashMap<String, NodeRecord>,
    /// Pending node requests by node id (a node has at most one).
    node_requests: HashMap<String, PendingNode>,
    /// requestId → node id, so operator actions find a request without a scan.
    node_request_ids: HashMap<String, String>,
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// 32 random bytes, base64url without padding (43 characters), like upstream's tokens.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares secrets without leaking where they differ (hash first, so lengths do not leak).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (ha, hb) = (sha2::Sha256::digest(a.as_bytes()), sha2::Sha256::digest(b.as_bytes()));
    ha.iter().zip(hb.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn union(into: &mut Vec<String>, more: &[String]) {
    for s in more {
        if !into.contains(s) {
            into.push(s.clone());
        }
    }
    into.sort();
}

fn norm(v: Option<&str>) -> String {
    v.unwrap_or("").trim().to_ascii_lowercase()
}

/// Runtime-equivalent platform names (a node host may report `darwin` or `macos`).
fn same_platform(a: Option<&str>, b: Option<&str>) -> bool {
    let canon = |v: Option<&str>| match norm(v).as_str() {
        "darwin" => "macos".to_string(),
        "win32" => "windows".to_string(),
        other => other.to_string(),
    };
    canon(a) == canon(b)
}

impl Pairing {
    /// Loads every record from the store.
    pub fn load(store: GatewayStore) -> Result<Self, StoreError> {
        let devices = store.load::<PairedDevice>(Kind::Device)?.into_iter().map(|d| (d.device_id.clone(), d)).collect();
        let device_requests =
            store.load::<PendingDevice>(Kind::DeviceRequest)?.into_iter().map(|r| (r.request_id.clone(), r)).collect();
        let nodes = store.load::<NodeRecord>(Kind::Node)?.into_iter().map(|n| (n.node_id.clone(), n)).collect();
        let mut pairing = Pairing {
            store,
            devices,
            device_requests,
            nodes,
            node_requests: HashMap::new(),
            node_request_ids: HashMap::new(),
        };
        for r in pairing.store.load::<PendingNode>(Kind::NodeRequest)? {
            pairing.node_request_ids.insert(r.request_id.clone(), r.node_id.clone());
            pairing.node_requests.insert(r.node_id.clone(), r);
        }
        Ok(pairing)
    }

    /// The underlying store (for the exec-event journal).
    pub fn store(&self) -> &GatewayStore {
        &self.store
    }

    /// A paired device.
    pub fn device(&self, device_id: &str) -> Option<&PairedDevice> {
        self.devices.get(device_id)
    }

    /// Every paired device.
    pub fn devices(&self) -> impl Iterator<Item = &PairedDevice> {
        self.devices.values()
    }

    /// Pending device requests that have not expired, oldest first.
    pub fn device_requests(&mut self, now: i64) -> Vec<PendingDevice> {
        self.expire_device_requests(now);
        let mut v: Vec<PendingDevice> = self.device_requests.values().cloned().collect();
        v.sort_by_key(|r| r.ts);
        v
    }

    /// One pending device request, unless it has expired.
    pub fn device_request(&mut self, request_id: &str, now: i64) -> Option<&PendingDevice> {
        self.expire_device_requests(now);
        self.device_requests.get(request_id)
    }

    fn expire_device_requests(&mut self, now: i64) {
        let expired: Vec<String> = self
            .device_requests
            .values()
            .filter(|r| now - r.ts > DEVICE_REQUEST_TTL_MS)
            .map(|r| r.request_id.clone())
            .collect();
        for id in expired {
            self.device_requests.remove(&id);
            let _ = self.store.delete(Kind::DeviceRequest, &id);
        }
    }

    /// Decides whether a connecting device is paired for what it asks, creating or refreshing
    /// the pending request when it is not.
    pub fn check_device(&mut self, claim: &DeviceClaim, now: i64) -> Result<DeviceCheck, StoreError> {
        let reason = match self.devices.get(&claim.device_id) {
            None => PairingReason::NotPaired,
            Some(d) if d.public_key != claim.public_key => PairingReason::NotPaired,
            Some(d) if !d.roles.contains(&claim.role) => PairingReason::RoleUpgrade,
            Some(d) if !claim.scopes.iter().all(|s| has_scope(&d.scopes, s)) => PairingReason::ScopeUpgrade,
            Some(d)
                if !same_platform(d.platform.as_deref(), claim.platform.as_deref())
                    || (d.device_family.is_some()
                        && norm(d.device_family.as_deref()) != norm(claim.device_family.as_deref())) =>
            {
                PairingReason::MetadataUpgrade
            }
            Some(_) => return Ok(DeviceCheck::Paired),
        };
        self.expire_device_requests(now);
        let existing = self.device_requests.values().find(|r| r.device_id == claim.device_id).cloned();
        let is_repair = self.devices.contains_key(&claim.device_id);
        if let Some(mut r) = existing.clone() {
            let same = r.public_key == claim.public_key && r.role == claim.role && r.scopes == sorted(&claim.scopes);
            if same {
                r.ts = now;
                r.remote_ip = claim.remote_ip.clone().or(r.remote_ip);
                self.store.put(Kind::DeviceRequest, &r.request_id, &r)?;
                self.device_requests.insert(r.request_id.clone(), r.clone());
                return Ok(DeviceCheck::Required { reason, request: r, superseded: None });
            }
        }
        let superseded = existing.inspect(|old| {
            self.device_requests.remove(&old.request_id);
            let _ = self.store.delete(Kind::DeviceRequest, &old.request_id);
        });
        let mut roles = self.devices.get(&claim.device_id).map(|d| d.roles.clone()).unwrap_or_default();
        union(&mut roles, std::slice::from_ref(&claim.role));
        let request = PendingDevice {
            request_id: new_request_id(),
            device_id: claim.device_id.clone(),
            public_key: claim.public_key.clone(),
            display_name: claim.display_name.clone(),
            platform: claim.platform.clone(),
            device_family: claim.device_family.clone(),
            client_id: claim.client_id.clone(),
            client_mode: claim.client_mode.clone(),
            role: claim.role.clone(),
            roles,
            scopes: sorted(&claim.scopes),
            remote_ip: claim.remote_ip.clone(),
            silent: false,
            is_repair,
            ts: now,
        };
        self.store.put(Kind::DeviceRequest, &request.request_id, &request)?;
        self.device_requests.insert(request.request_id.clone(), request.clone());
        Ok(DeviceCheck::Required { reason, request, superseded })
    }

    /// Approves a pending device request (`approved_via`: `owner`, `silent`, `cidr`).
    pub fn approve_device(
        &mut self,
        request_id: &str,
        approved_via: &str,
        now: i64,
    ) -> Result<PairedDevice, PairingError> {
        self.expire_device_requests(now);
        let req = self.device_requests.get(request_id).cloned().ok_or(PairingError::UnknownRequest)?;
        let mut device = self.devices.get(&req.device_id).cloned().unwrap_or_else(|| PairedDevice {
            device_id: req.device_id.clone(),
            public_key: req.public_key.clone(),
            display_name: None,
            platform: None,
            device_family: None,
            client_id: None,
            client_mode: None,
            role: req.role.clone(),
            roles: Vec::new(),
            scopes: Vec::new(),
            remote_ip: None,
            created_at_ms: now,
            approved_at_ms: now,
            approved_via: approved_via.into(),
            tokens: BTreeMap::new(),
        });
        if device.public_key != req.public_key {
            device.tokens.clear();
            device.roles.clear();
            device.scopes.clear();
            device.public_key = req.public_key.clone();
        }
        union(&mut device.roles, &req.roles);
        union(&mut device.scopes, &req.scopes);
        device.display_name = req.display_name.clone().or(device.display_name);
        device.platform = req.platform.clone();
        device.device_family = req.device_family.clone();
        device.client_id = req.client_id.clone();
        device.client_mode = req.client_mode.clone();
        device.remote_ip = req.remote_ip.clone();
        device.approved_at_ms = now;
        device.approved_via = approved_via.into();
        self.store.put(Kind::Device, &device.device_id, &device)?;
        self.store.delete(Kind::DeviceRequest, request_id)?;
        self.device_requests.remove(request_id);
        self.devices.insert(device.device_id.clone(), device.clone());
        Ok(device)
    }

    /// Rejects (drops) a pending device request.
    pub fn reject_device(&mut self, request_id: &str) -> Result<PendingDevice, PairingError> {
        let req = self.device_requests.get(request_id).cloned().ok_or(PairingError::UnknownRequest)?;
        self.store.delete(Kind::DeviceRequest, request_id)?;
        self.device_requests.remove(request_id);
        Ok(req)
    }

    /// Removes a paired device, its tokens, and its node surface.
    pub fn remove_device(&mut self, device_id: &str) -> Result<PairedDevice, PairingError> {
        let device = self.devices.get(device_id).cloned().ok_or(PairingError::UnknownDevice)?;
        self.store.delete(Kind::Device, device_id)?;
        self.devices.remove(device_id);
        let _ = self.remove_node(device_id);
        Ok(device)
    }

    /// The device token for `(device, role)`, issuing one if there is none yet.
    pub fn ensure_token(&mut self, device_id: &str, role: Role, now: i64) -> Result<DeviceToken, PairingError> {
        let role = role.as_str();
        let device = self.devices.get_mut(device_id).ok_or(PairingError::UnknownDevice)?;
        if let Some(t) = device.tokens.get(role) {
            return Ok(t.clone());
        }
        let scopes = if role == Role::Node.as_str() { Vec::new() } else { device.scopes.clone() };
        let token = DeviceToken { token: new_token(), role: role.into(), scopes, created_at_ms: now };
        device.tokens.insert(role.into(), token.clone());
        let device = device.clone();
        self.store.put(Kind::Device, device_id, &device)?;
        Ok(token)
    }

    /// Whether `token` is the device token of `(device, role)`.
    pub fn device_token_matches(&self, device_id: &str, role: Role, token: &str) -> bool {
        self.devices
            .get(device_id)
            .and_then(|d| d.tokens.get(role.as_str()))
            .is_some_and(|t| secrets_equal(&t.token, token))
    }

    /// A node's approved surface record.
    pub fn node(&self, node_id: &str) -> Option<&NodeRecord> {
        self.nodes.get(node_id)
    }

    /// Every node with an approved surface.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeRecord> {
        self.nodes.values()
    }

    /// Pending node requests, oldest first.
    pub fn node_requests(&self) -> Vec<PendingNode> {
        let mut v: Vec<PendingNode> = self.node_requests.values().cloned().collect();
        v.sort_by_key(|r| r.ts);
        v
    }

    /// The pending request of a node, if any.
    pub fn node_request_for(&self, node_id: &str) -> Option<&PendingNode> {
        self.node_requests.get(node_id)
    }

    fn insert_node_request(&mut self, r: PendingNode) {
        self.node_request_ids.insert(r.request_id.clone(), r.node_id.clone());
        if let Some(old) = self.node_requests.insert(r.node_id.clone(), r) {
            self.node_request_ids.remove(&old.request_id);
        }
    }

    fn take_node_request(&mut self, request_id: &str) -> Option<PendingNode> {
        let node_id = self.node_request_ids.remove(request_id)?;
        self.node_requests.remove(&node_id)
    }

    /// Compares a connecting node's declared surface with the approved one.
    pub fn reconcile_node(&mut self, claim: &NodeClaim, now: i64) -> Result<NodeSurface, StoreError> {
        let approved = self.nodes.get(&claim.node_id).cloned();
        let covered = approved.as_ref().is_some_and(|n| {
            claim.commands.iter().all(|c| n.commands.contains(c)) && claim.caps.iter().all(|c| n.caps.contains(c))
        });
        if let Some(mut n) = approved.clone() {
            n.last_seen_at_ms = Some(now);
            n.last_seen_reason = Some("connect".into());
            n.version = claim.version.clone().or(n.version);
            n.remote_ip = claim.remote_ip.clone();
            self.store.put(Kind::Node, &n.node_id, &n)?;
            self.nodes.insert(n.node_id.clone(), n);
        }
        if covered {
            return Ok(NodeSurface { effective: claim.commands.clone(), pending: None, superseded: None });
        }
        let effective: Vec<String> = match &approved {
            Some(n) => claim.commands.iter().filter(|c| n.commands.contains(c)).cloned().collect(),
            None => Vec::new(),
        };
        let existing = self.node_request_for(&claim.node_id).cloned();
        if let Some(r) = &existing {
            if r.commands == claim.commands && r.caps == claim.caps {
                return Ok(NodeSurface { effective, pending: Some((r.clone(), false)), superseded: None });
            }
            self.take_node_request(&r.request_id);
            self.store.delete(Kind::NodeRequest, &r.request_id)?;
        }
        let request = PendingNode {
            request_id: new_request_id(),
            node_id: claim.node_id.clone(),
            client_id: claim.client_id.clone(),
            client_mode: claim.client_mode.clone(),
            display_name: claim.display_name.clone(),
            platform: claim.platform.clone(),
            version: claim.version.clone(),
            device_family: claim.device_family.clone(),
            caps: claim.caps.clone(),
            commands: claim.commands.clone(),
            required_approve_scopes: required_approve_scopes(&claim.commands),
            remote_ip: claim.remote_ip.clone(),
            ts: now,
        };
        self.store.put(Kind::NodeRequest, &request.request_id, &request)?;
        self.insert_node_request(request.clone());
        Ok(NodeSurface { effective, pending: Some((request, true)), superseded: existing })
    }

    /// Looks up a pending node request.
    pub fn node_request(&self, request_id: &str) -> Option<&PendingNode> {
        self.node_request_ids.get(request_id).and_then(|n| self.node_requests.get(n))
    }

    /// Approves a pending node surface.
    pub fn approve_node(&mut self, request_id: &str, now: i64) -> Result<NodeRecord, PairingError> {
        let req = self.node_request(request_id).cloned().ok_or(PairingError::UnknownRequest)?;
        let previous = self.nodes.get(&req.node_id);
        let record = NodeRecord {
            node_id: req.node_id.clone(),
            client_id: req.client_id.clone(),
            client_mode: req.client_mode.clone(),
            display_name: previous.and_then(|p| p.display_name.clone()).or(req.display_name.clone()),
            platform: req.platform.clone(),
            version: req.version.clone(),
            device_family: req.device_family.clone(),
            caps: req.caps.clone(),
            commands: req.commands.clone(),
            remote_ip: req.remote_ip.clone(),
            created_at_ms: previous.map(|p| p.created_at_ms).unwrap_or(now),
            approved_at_ms: now,
            last_seen_at_ms: Some(now),
            last_seen_reason: Some("approved".into()),
        };
        self.store.put(Kind::Node, &record.node_id, &record)?;
        self.store.delete(Kind::NodeRequest, request_id)?;
        self.take_node_request(request_id);
        self.nodes.insert(record.node_id.clone(), record.clone());
        Ok(record)
    }

    /// Rejects a pending node surface.
    pub fn reject_node(&mut self, request_id: &str) -> Result<PendingNode, PairingError> {
        let req = self.node_request(request_id).cloned().ok_or(PairingError::UnknownRequest)?;
        self.store.delete(Kind::NodeRequest, request_id)?;
        self.take_node_request(request_id);
        Ok(req)
    }

    /// Forgets a node's surface and pending requests, and revokes its device's node role.
    pub fn remove_node(&mut self, node_id: &str) -> Result<(), PairingError> {
        let had_node = self.nodes.remove(node_id).is_some();
        self.store.delete(Kind::Node, node_id)?;
        let pending: Vec<String> = self.node_requests.get(node_id).map(|r| r.request_id.clone()).into_iter().collect();
        for id in &pending {
            self.take_node_request(id);
            self.store.delete(Kind::NodeRequest, id)?;
        }
        let mut had_role = false;
        if let Some(d) = self.devices.get_mut(node_id) {
            had_role = d.has_role(Role::Node);
            d.roles.retain(|r| r != Role::Node.as_str());
            d.tokens.remove(Role::Node.as_str());
            let d = d.clone();
            if d.roles.is_empty() {
                self.devices.remove(node_id);
                self.store.delete(Kind::Device, node_id)?;
            } else {
                self.store.put(Kind::Device, node_id, &d)?;
            }
        }
        if had_node || had_role || !pending.is_empty() {
            Ok(())
        } else {
            Err(PairingError::UnknownNode)
        }
    }

    /// Records that a node with an approved surface was just seen (connect, disconnect).
    pub fn touch_node(&mut self, node_id: &str, reason: &str, now: i64) -> Result<(), StoreError> {
        let Some(n) = self.nodes.get_mut(node_id) else { return Ok(()) };
        n.last_seen_at_ms = Some(now);
        n.last_seen_reason = Some(reason.to_string());
        let n = n.clone();
        self.store.put(Kind::Node, node_id, &n)
    }

    /// Sets a node's display name (kept across reconnects).
    pub fn rename_node(&mut self, node_id: &str, display_name: &str) -> Result<(), PairingError> {
        let n = self.nodes.get_mut(node_id).ok_or(PairingError::UnknownNode)?;
        n.display_name = Some(display_name.to_string());
        let n = n.clone();
        self.store.put(Kind::Node, node_id, &n)?;
        Ok(())
    }
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairing() -> (tempfile::TempDir, Pairing) {
        let dir = tempfile::tempdir().unwrap();
        let store = GatewayStore::open(dir.path()).unwrap();
        (dir, Pairing::load(store).unwrap())
    }

    fn claim(role: &str) -> DeviceClaim {
        DeviceClaim {
            device_id: "dev1".into(),
            public_key: "pk1".into(),
            role: role.into(),
            platform: Some("linux".into()),
            device_family: Some("Linux".into()),
            ..Default::default()
        }
    }

    fn required(check: DeviceCheck) -> (PairingReason, PendingDevice, Option<PendingDevice>) {
        match check {
            DeviceCheck::Required { reason, request, superseded } => (reason, request, superseded),
            DeviceCheck::Paired => panic!("expected pairing to be required"),
        }
    }

    #[test]
    fn pending_request_is_reused_superseded_and_expires() {
        let (_d, mut p) = pairing();
        let (reason, first, _) = required(p.check_device(&claim("node"), 1_000).unwrap());
        assert_eq!(reason, PairingReason::NotPaired);
        let (_, again, sup) = required(p.check_device(&claim("node"), 2_000).unwrap());
        assert_eq!(again.request_id, first.request_id);
        assert!(sup.is_none());
        let mut op = claim("operator");
        op.scopes = vec!["operator.read".into()];
        let (_, changed, sup) = required(p.check_device(&op, 3_000).unwrap());
        assert_ne!(changed.request_id, first.request_id);
        assert_eq!(sup.unwrap().request_id, first.request_id);
        // Five minutes after the last retry it is gone.
        assert!(p.device_requests(3_000 + DEVICE_REQUEST_TTL_MS + 1).is_empty());
        assert!(matches!(p.approve_device(&changed.request_id, "owner", 400_000), Err(PairingError::UnknownRequest)));
    }

    #[test]
    fn approval_tokens_and_upgrades_survive_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Pairing::load(GatewayStore::open(dir.path()).unwrap()).unwrap();
        let (_, req, _) = required(p.check_device(&claim("node"), 1).unwrap());
        p.approve_device(&req.request_id, "owner", 2).unwrap();
        assert!(matches!(p.check_device(&claim("node"), 3).unwrap(), DeviceCheck::Paired));
        let token = p.ensure_token("dev1", Role::Node, 3).unwrap();
        assert_eq!(token.token.len(), 43);
        assert_eq!(p.ensure_token("dev1", Role::Node, 4).unwrap(), token);
        assert!(p.device_token_matches("dev1", Role::Node, &token.token));
        assert!(!p.device_token_matches("dev1", Role::Node, "nope"));
        let (reason, _, _) = required(p.check_device(&claim("operator"), 5).unwrap());
        assert_eq!(reason, PairingReason::RoleUpgrade);
        let mut moved = claim("node");
        moved.platform = Some("windows".into());
        let (reason, _, _) = required(p.check_device(&moved, 6).unwrap());
        assert_eq!(reason, PairingReason::MetadataUpgrade);
        drop(p);
        let p = Pairing::load(GatewayStore::open(dir.path()).unwrap()).unwrap();
        assert!(p.device_token_matches("dev1", Role::Node, &token.token));
        assert!(!format!("{:?}", p.device("dev1").unwrap()).contains(&token.token));
        assert!(!serde_json::to_string(&p.device("dev1").unwrap().redacted()).unwrap().contains(&token.token));
    }

    #[test]
    fn node_surface_pending_until_approved_and_grows_again() {
        let (_d, mut p) = pairing();
        let mut c = NodeClaim {
            node_id: "n1".into(),
            platform: Some("linux".into()),
            commands: vec!["system.run".into(), "system.which".into()],
            ..Default::default()
        };
        let s = p.reconcile_node(&c, 1).unwrap();
        assert!(s.effective.is_empty());
        let (req, new) = s.pending.unwrap();
        assert!(new);
        assert_eq!(req.required_approve_scopes, vec!["operator.pairing", "operator.admin"]);
        let (again, new) = p.reconcile_node(&c, 2).unwrap().pending.unwrap();
        assert!(!new);
        assert_eq!(again.request_id, req.request_id);
        p.approve_node(&req.request_id, 3).unwrap();
        let s = p.reconcile_node(&c, 4).unwrap();
        assert_eq!(s.effective, c.commands);
        assert!(s.pending.is_none());
        c.commands.push("system.notify".into());
        let s = p.reconcile_node(&c, 5).unwrap();
        assert_eq!(s.effective, vec!["system.run", "system.which"]);
        assert!(s.pending.is_some());
        p.remove_node("n1").unwrap();
        assert!(p.node("n1").is_none());
        assert!(p.node_requests().is_empty());
        assert!(matches!(p.remove_node("n1"), Err(PairingError::UnknownNode)));
    }

    #[test]
    fn platform_allowlist() {
        let declared: Vec<String> =
            ["system.run", "system.which", "ollama.chat"].iter().map(|s| s.to_string()).collect();
        assert_eq!(allowlisted_commands("linux", Some("Linux"), &declared), vec!["system.run", "system.which"]);
        assert!(allowlisted_commands("linux", None, &declared).is_empty());
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
    }
}
