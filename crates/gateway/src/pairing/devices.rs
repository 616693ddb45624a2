//! Device pairing: the records of paired devices and their tokens, pending requests, and the
//! check a connecting device goes through (paired, or a request to approve).

use std::collections::BTreeMap;

use openclaw_protocol::methods::{DeviceRecord, DeviceTokenSummary, PendingDevice};
use openclaw_protocol::Role;
use serde::{Deserialize, Serialize};

use super::{
    has_scope, new_request_id, new_token, norm, same_platform, secrets_equal, sorted, union, Pairing, PairingError,
    DEVICE_REQUEST_TTL_MS, MAX_PENDING_DEVICE_REQUESTS, MAX_PENDING_DEVICE_REQUESTS_PER_ADDRESS,
};
use crate::store::{Kind, StoreError};

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
    /// When the role's first token was issued (kept across rotations, as upstream).
    pub created_at_ms: i64,
    /// When this value replaced an earlier one (rotation, or re-approval after a revoke).
    /// Absent in records written before rotation existed, which reads as never rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at_ms: Option<i64>,
    /// When it was revoked. A revoked token authenticates nothing and its role counts as not
    /// approved until an operator approves it again ([`DeviceToken::is_active`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<i64>,
}

impl DeviceToken {
    /// Whether the token may still authenticate (not revoked).
    pub fn is_active(&self) -> bool {
        self.revoked_at_ms.is_none()
    }
}

impl std::fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceToken").field("role", &self.role).field("token", &"<redacted>").finish()
    }
}

/// What a connecting device says about itself (from `connect`).
#[derive(Debug, Clone, Default)]
pub struct DeviceClaim {
    /// The device id (hash of the public key).
    pub device_id: String,
    /// The Ed25519 public key, base64url.
    pub public_key: String,
    /// The role asked for.
    pub role: String,
    /// The operator scopes asked for.
    pub scopes: Vec<String>,
    /// The client's display name.
    pub display_name: Option<String>,
    /// `linux`, `macos`, …
    pub platform: Option<String>,
    /// `Linux`, `Mac`, …
    pub device_family: Option<String>,
    /// `cli`, `node-host`, …
    pub client_id: Option<String>,
    /// `cli`, `node`, …
    pub client_mode: Option<String>,
    /// The reported address (none for loopback).
    pub remote_ip: Option<String>,
}

/// A paired device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairedDevice {
    /// The device id (hash of the public key).
    pub device_id: String,
    /// The Ed25519 public key, base64url.
    pub public_key: String,
    /// The client's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The operator's label (`device.pair.rename`); absent in records written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_label: Option<String>,
    /// `linux`, `macos`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `Linux`, `Mac`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// `cli`, `node-host`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `cli`, `node`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    /// The role of the first approval.
    pub role: String,
    /// Every approved role.
    pub roles: Vec<String>,
    /// Approved operator scopes.
    pub scopes: Vec<String>,
    /// The last reported address (none for loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    /// First approval.
    pub created_at_ms: i64,
    /// Latest approval.
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

    /// Whether `role` is approved and its token (if one was issued yet) is not revoked: what a
    /// connect may use. Upstream treats a revoked role as not approved, so the next connect
    /// for it asks for approval again (`role-upgrade`).
    pub fn has_effective_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role) && self.tokens.get(role).is_none_or(DeviceToken::is_active)
    }

    /// The record as operators see it: token values never leave the gateway.
    pub fn redacted(&self) -> DeviceRecord {
        DeviceRecord {
            device_id: self.device_id.clone(),
            public_key: self.public_key.clone(),
            display_name: self.display_name.clone(),
            operator_label: self.operator_label.clone(),
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
                    rotated_at_ms: t.rotated_at_ms,
                    revoked_at_ms: t.revoked_at_ms,
                })
                .collect(),
        }
    }
}

/// Why a device must (re-)pair, as in `details.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairingReason {
    /// An unknown device.
    NotPaired,
    /// A paired device asking for a role it was not approved for.
    RoleUpgrade,
    /// A paired device asking for scopes beyond its approval.
    ScopeUpgrade,
    /// A paired device whose platform or family changed.
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
    Required {
        /// Why approval is needed.
        reason: PairingReason,
        /// The pending request operators approve.
        request: PendingDevice,
        /// An older request of the same device that this one replaced.
        superseded: Option<PendingDevice>,
    },
}

impl Pairing {
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
            .filter(|r| now - r.ts.unwrap_or(0) > DEVICE_REQUEST_TTL_MS)
            .map(|r| r.request_id.clone())
            .collect();
        for id in expired {
            self.device_requests.remove(&id);
            let _ = self.store.delete(Kind::DeviceRequest, &id);
        }
    }

    /// Expires the oldest pending requests (of `remote_ip`, then of anyone) until one more fits
    /// under [`MAX_PENDING_DEVICE_REQUESTS_PER_ADDRESS`] and [`MAX_PENDING_DEVICE_REQUESTS`].
    fn make_room_for_request(&mut self, remote_ip: &Option<String>) {
        let oldest = |requests: &std::collections::HashMap<String, PendingDevice>, same_address: bool| {
            let candidates = requests.values().filter(|r| !same_address || &r.remote_ip == remote_ip);
            let count = candidates.clone().count();
            let limit =
                if same_address { MAX_PENDING_DEVICE_REQUESTS_PER_ADDRESS } else { MAX_PENDING_DEVICE_REQUESTS };
            (count >= limit).then(|| candidates.min_by_key(|r| r.ts).map(|r| r.request_id.clone())).flatten()
        };
        for same_address in [true, false] {
            while let Some(id) = oldest(&self.device_requests, same_address) {
                tracing::info!(
                    "pending device pairing request {id} expired early: too many pending requests{}",
                    if same_address { " from one address" } else { "" }
                );
                self.device_requests.remove(&id);
                let _ = self.store.delete(Kind::DeviceRequest, &id);
            }
        }
    }

    /// Decides whether a connecting device is paired for what it asks, creating or refreshing
    /// the pending request when it is not.
    pub fn check_device(&mut self, claim: &DeviceClaim, now: i64) -> Result<DeviceCheck, StoreError> {
        let reason = match self.devices.get(&claim.device_id) {
            None => PairingReason::NotPaired,
            Some(d) if d.public_key != claim.public_key => PairingReason::NotPaired,
            Some(d) if !d.has_effective_role(&claim.role) => PairingReason::RoleUpgrade,
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
                r.ts = Some(now);
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
            ts: Some(now),
        };
        self.make_room_for_request(&request.remote_ip);
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
            operator_label: None,
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
        // Approving a role whose token was revoked reissues it (as upstream): the revoked
        // value never authenticates again.
        for role in &req.roles {
            if let Some(t) = device.tokens.get_mut(role).filter(|t| !t.is_active()) {
                t.token = new_token();
                t.revoked_at_ms = None;
                t.rotated_at_ms = Some(now);
            }
        }
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

    /// Removes a paired device, its tokens, its pending requests and its node surface.
    pub fn remove_device(&mut self, device_id: &str) -> Result<PairedDevice, PairingError> {
        let device = self.devices.get(device_id).cloned().ok_or(PairingError::UnknownDevice)?;
        self.store.delete(Kind::Device, device_id)?;
        self.devices.remove(device_id);
        let pending: Vec<String> =
            self.device_requests.values().filter(|r| r.device_id == device_id).map(|r| r.request_id.clone()).collect();
        for id in pending {
            self.store.delete(Kind::DeviceRequest, &id)?;
            self.device_requests.remove(&id);
        }
        let _ = self.remove_node(device_id);
        Ok(device)
    }

    /// The device token for `(device, role)`, issuing one if there is none yet.
    pub fn ensure_token(&mut self, device_id: &str, role: Role, now: i64) -> Result<DeviceToken, PairingError> {
        let role = role.as_str();
        let device = self.devices.get_mut(device_id).ok_or(PairingError::UnknownDevice)?;
        let previous = device.tokens.get(role);
        if let Some(t) = previous.filter(|t| t.is_active()) {
            return Ok(t.clone());
        }
        // A revoked token is replaced, never handed out again (the connect that gets here was
        // approved for the role anew).
        let (created_at_ms, rotated_at_ms) = match previous {
            Some(old) => (old.created_at_ms, Some(now)),
            None => (now, None),
        };
        let scopes = if role == Role::Node.as_str() { Vec::new() } else { device.scopes.clone() };
        let token = DeviceToken {
            token: new_token(),
            role: role.into(),
            scopes,
            created_at_ms,
            rotated_at_ms,
            revoked_at_ms: None,
        };
        device.tokens.insert(role.into(), token.clone());
        let device = device.clone();
        self.store.put(Kind::Device, device_id, &device)?;
        Ok(token)
    }

    /// Whether `token` is the active device token of `(device, role)`: a revoked token never
    /// matches, whatever its value.
    pub fn device_token_matches(&self, device_id: &str, role: Role, token: &str) -> bool {
        self.devices
            .get(device_id)
            .filter(|d| d.has_role(role))
            .and_then(|d| d.tokens.get(role.as_str()))
            .is_some_and(|t| t.is_active() && secrets_equal(&t.token, token))
    }
}
