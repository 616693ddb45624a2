//! A paired device's life after approval: its tokens rotated or revoked, and its operator
//! label (`device.token.rotate|revoke`, `device.pair.rename`).
//!
//! These are the pairing-store halves of the methods; who may call them (same device, admin
//! for non-operator roles) is decided in `methods::device_lifecycle`, and closing the device's
//! live sockets is the registry's job. Every change is journaled before it is applied in
//! memory, so what an operator was told happened survives a restart.
//!
//! Scope bounds follow upstream: a rotated token stays within the device's approved scope
//! baseline, and an operator token is only rotated or revoked by a caller who holds every scope
//! the token carries. A revoked token keeps its metadata (`revokedAtMs`) but not its value: the
//! secret is replaced by a fresh one nobody has seen, so even a reader that ignores
//! `revokedAtMs` (this gateway before revocation existed) cannot accept the revoked token.

use openclaw_protocol::Role;

use super::devices::DeviceToken;
use super::{new_token, Pairing, SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE};
use crate::store::{Kind, StoreError};

/// The longest operator label, in characters (upstream's schema bound).
pub const MAX_LABEL_CHARS: usize = 64;

/// Why a token could not be rotated or revoked; the wire answer is the same for all of them
/// (`device token rotation denied`), the reason goes to the gateway log only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    /// No such device, or the role is not approved for it (revoke: or it has no token).
    #[error("unknown-device-or-role")]
    UnknownDeviceOrRole,
    /// The requested scopes exceed what the device was approved for.
    #[error("scope-outside-approved-baseline")]
    ScopeOutsideApprovedBaseline,
    /// The caller lacks a scope the operator token would carry.
    #[error("caller-missing-scope")]
    CallerMissingScope(String),
}

impl TokenRefusal {
    /// The ` scope=<scope>` suffix of the denial log line, when a scope is to blame.
    pub fn scope(&self) -> Option<&str> {
        match self {
            TokenRefusal::CallerMissingScope(s) => Some(s),
            _ => None,
        }
    }
}

/// A token change failed: refused by policy, or the journal could not be written (then
/// nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum TokenChangeError {
    /// Refused; see the reason.
    #[error(transparent)]
    Refused(#[from] TokenRefusal),
    /// The journal could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Trims, drops blanks and duplicates, adds the scopes `admin` and `write` imply, and sorts
/// (upstream's scope normalisation, so stored and compared scopes have one spelling).
pub fn normalize_scopes(scopes: &[String]) -> Vec<String> {
    let mut out: Vec<String> = scopes.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    let implied: &[&str] = if out.iter().any(|s| s == SCOPE_ADMIN) {
        &[SCOPE_READ, SCOPE_WRITE]
    } else if out.iter().any(|s| s == SCOPE_WRITE) {
        &[SCOPE_READ]
    } else {
        &[]
    };
    out.extend(implied.iter().map(|s| s.to_string()));
    out.sort();
    out.dedup();
    out
}

/// Whether one operator scope is covered by `granted` (admin covers all; write covers read,
/// talk and the session scopes; read covers session reads).
fn operator_scope_satisfied(scope: &str, granted: &[String]) -> bool {
    let has = |s: &str| granted.iter().any(|g| g == s);
    scope.starts_with("operator.")
        && (has(scope)
            || has(SCOPE_ADMIN)
            || (matches!(
                scope,
                "operator.read" | "operator.talk" | "operator.sessions.read" | "operator.sessions.write"
            ) && has(SCOPE_WRITE))
            || (scope == "operator.sessions.read" && (has(SCOPE_READ) || has("operator.sessions.write"))))
}

/// The first of `requested` that a `role` grant of `allowed` does not cover. Operator scopes
/// follow the implications above; any other role's scopes must carry its prefix and be granted
/// exactly (a node token therefore carries no operator scope).
pub fn missing_role_scope<'a>(role: &str, requested: &'a [String], allowed: &[String]) -> Option<&'a str> {
    let prefix = format!("{role}.");
    requested.iter().map(|s| s.as_str()).find(|scope| {
        let scope = scope.trim();
        !scope.is_empty()
            && !if role == Role::Operator.as_str() {
                operator_scope_satisfied(scope, allowed)
            } else {
                scope.starts_with(&prefix) && allowed.iter().any(|a| a.trim() == scope)
            }
    })
}

impl Pairing {
    /// Issues a new token for `(device, role)`, replacing the current one (revoked or not).
    ///
    /// `scopes`: the new token's scopes (`None` keeps the current token's, or the device's).
    /// `caller_scopes`: for operator tokens, the caller's scopes, which must cover the token's.
    pub fn rotate_token(
        &mut self,
        device_id: &str,
        role: &str,
        scopes: Option<&[String]>,
        caller_scopes: Option<&[String]>,
        now: i64,
    ) -> Result<DeviceToken, TokenChangeError> {
        let role = role.trim();
        let device = self
            .devices
            .get(device_id.trim())
            .filter(|d| !role.is_empty() && d.roles.iter().any(|r| r == role))
            .ok_or(TokenRefusal::UnknownDeviceOrRole)?;
        let existing = device.tokens.get(role);
        let requested = normalize_scopes(scopes.or(existing.map(|t| t.scopes.as_slice())).unwrap_or(&device.scopes));
        let baseline = normalize_scopes(&device.scopes);
        if missing_role_scope(role, &requested, &baseline).is_some() {
            return Err(TokenRefusal::ScopeOutsideApprovedBaseline.into());
        }
        if let Some(missing) = caller_scopes.and_then(|held| missing_role_scope(role, &requested, held)) {
            return Err(TokenRefusal::CallerMissingScope(missing.to_string()).into());
        }
        let token = DeviceToken {
            token: new_token(),
            role: role.to_string(),
            scopes: requested,
            created_at_ms: existing.map(|t| t.created_at_ms).unwrap_or(now),
            rotated_at_ms: Some(now),
            revoked_at_ms: None,
        };
        let mut device = device.clone();
        device.tokens.insert(role.to_string(), token.clone());
        self.store.put(Kind::Device, &device.device_id, &device)?;
        self.devices.insert(device.device_id.clone(), device);
        Ok(token)
    }

    /// Revokes the token of `(device, role)`: it never authenticates again, and the role needs
    /// a new approval before the device may connect with it. Returns the revoked entry (with a
    /// value nobody knows).
    pub fn revoke_token(
        &mut self,
        device_id: &str,
        role: &str,
        caller_scopes: Option<&[String]>,
        now: i64,
    ) -> Result<DeviceToken, TokenChangeError> {
        let role = role.trim();
        let device = self
            .devices
            .get(device_id.trim())
            .filter(|d| !role.is_empty() && d.roles.iter().any(|r| r == role))
            .ok_or(TokenRefusal::UnknownDeviceOrRole)?;
        let existing = device.tokens.get(role).ok_or(TokenRefusal::UnknownDeviceOrRole)?;
        let target = normalize_scopes(&existing.scopes);
        if let Some(missing) = caller_scopes.and_then(|held| missing_role_scope(role, &target, held)) {
            return Err(TokenRefusal::CallerMissingScope(missing.to_string()).into());
        }
        let revoked = DeviceToken { token: new_token(), revoked_at_ms: Some(now), ..existing.clone() };
        let mut device = device.clone();
        device.tokens.insert(role.to_string(), revoked.clone());
        self.store.put(Kind::Device, &device.device_id, &device)?;
        self.devices.insert(device.device_id.clone(), device);
        Ok(revoked)
    }

    /// Sets a paired device's operator label (already trimmed and bounded by the caller).
    /// `Ok(false)`: no such device.
    pub fn rename_device(&mut self, device_id: &str, label: &str) -> Result<bool, StoreError> {
        let Some(device) = self.devices.get(device_id) else { return Ok(false) };
        let mut device = device.clone();
        device.operator_label = Some(label.to_string());
        self.store.put(Kind::Device, device_id, &device)?;
        self.devices.insert(device_id.to_string(), device);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::devices::{DeviceCheck, DeviceClaim};
    use super::super::PairingReason;
    use super::*;
    use crate::store::GatewayStore;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn claim(role: &str, scopes: &[&str]) -> DeviceClaim {
        DeviceClaim {
            device_id: "dev1".into(),
            public_key: "pk1".into(),
            role: role.into(),
            scopes: v(scopes),
            platform: Some("linux".into()),
            device_family: Some("Linux".into()),
            ..Default::default()
        }
    }

    /// A device paired for `role` with `scopes`, with its token issued.
    fn paired(dir: &std::path::Path, role: Role, scopes: &[&str]) -> (Pairing, DeviceToken) {
        let mut p = Pairing::load(GatewayStore::open(dir).unwrap()).unwrap();
        let DeviceCheck::Required { request, .. } = p.check_device(&claim(role.as_str(), scopes), 1).unwrap() else {
            panic!("new device must need approval")
        };
        p.approve_device(&request.request_id, "owner", 2).unwrap();
        let token = p.ensure_token("dev1", role, 3).unwrap();
        (p, token)
    }

    #[test]
    fn scope_rules_follow_upstream() {
        assert_eq!(
            normalize_scopes(&v(&[" operator.admin ", "", "operator.pairing"])),
            v(&["operator.admin", "operator.pairing", "operator.read", "operator.write"])
        );
        assert_eq!(normalize_scopes(&v(&["operator.write"])), v(&["operator.read", "operator.write"]));
        let write = v(&["operator.write"]);
        assert_eq!(missing_role_scope("operator", &v(&["operator.read", "operator.talk"]), &write), None);
        assert_eq!(missing_role_scope("operator", &v(&["operator.pairing"]), &write), Some("operator.pairing"));
        assert_eq!(missing_role_scope("operator", &v(&["operator.pairing"]), &v(&["operator.admin"])), None);
        assert_eq!(missing_role_scope("operator", &v(&["operator.sessions.read"]), &v(&["operator.read"])), None);
        // A node token carries node scopes only, granted exactly.
        assert_eq!(missing_role_scope("node", &v(&["operator.read"]), &v(&["operator.admin"])), Some("operator.read"));
        assert_eq!(missing_role_scope("node", &v(&["node.x"]), &v(&["node.x"])), None);
        assert_eq!(missing_role_scope("node", &[], &[]), None);
    }

    #[test]
    fn rotation_replaces_the_value_keeps_history_and_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let (mut p, old) = paired(dir.path(), Role::Node, &[]);
        let new = p.rotate_token("dev1", "node", None, None, 10).unwrap();
        assert_eq!(new.token.len(), 43);
        assert_ne!(new.token, old.token);
        assert_eq!((new.created_at_ms, new.rotated_at_ms, new.revoked_at_ms), (old.created_at_ms, Some(10), None));
        assert!(!p.device_token_matches("dev1", Role::Node, &old.token));
        assert!(p.device_token_matches("dev1", Role::Node, &new.token));
        assert_eq!(p.ensure_token("dev1", Role::Node, 11).unwrap(), new, "the next connect gets the rotated token");
        // Refusals.
        let refused = |r: Result<DeviceToken, TokenChangeError>| match r {
            Err(TokenChangeError::Refused(reason)) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(refused(p.rotate_token("nope", "node", None, None, 12)), TokenRefusal::UnknownDeviceOrRole);
        assert_eq!(refused(p.rotate_token("dev1", "operator", None, None, 12)), TokenRefusal::UnknownDeviceOrRole);
        assert_eq!(
            refused(p.rotate_token("dev1", "node", Some(&v(&["operator.read"])), None, 12)),
            TokenRefusal::ScopeOutsideApprovedBaseline
        );
        drop(p);
        let p = Pairing::load(GatewayStore::open(dir.path()).unwrap()).unwrap();
        assert!(p.device_token_matches("dev1", Role::Node, &new.token));
        assert!(!p.device_token_matches("dev1", Role::Node, &old.token));
    }

    #[test]
    fn operator_rotation_is_bounded_by_baseline_and_caller() {
        let dir = tempfile::tempdir().unwrap();
        let (mut p, _) = paired(dir.path(), Role::Operator, &["operator.pairing", "operator.read"]);
        let reader = v(&["operator.read"]);
        let e = p.rotate_token("dev1", "operator", None, Some(&reader), 5).unwrap_err();
        assert!(
            matches!(e, TokenChangeError::Refused(TokenRefusal::CallerMissingScope(ref s)) if s == "operator.pairing")
        );
        let narrowed = p.rotate_token("dev1", "operator", Some(&reader), Some(&reader), 5).unwrap();
        assert_eq!(narrowed.scopes, reader);
        let e = p.rotate_token("dev1", "operator", Some(&v(&["operator.admin"])), None, 6).unwrap_err();
        assert!(matches!(e, TokenChangeError::Refused(TokenRefusal::ScopeOutsideApprovedBaseline)));
        let e = p.revoke_token("dev1", "operator", Some(&v(&["operator.talk"])), 7).unwrap_err();
        assert!(
            matches!(e, TokenChangeError::Refused(TokenRefusal::CallerMissingScope(ref s)) if s == "operator.read")
        );
    }

    #[test]
    fn revocation_is_permanent_until_reapproval_and_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let (mut p, token) = paired(dir.path(), Role::Node, &[]);
        let revoked = p.revoke_token("dev1", "node", None, 20).unwrap();
        assert_eq!(revoked.revoked_at_ms, Some(20));
        assert_ne!(revoked.token, token.token, "the revoked value is discarded");
        assert!(!p.device_token_matches("dev1", Role::Node, &token.token));
        assert!(!p.device_token_matches("dev1", Role::Node, &revoked.token), "a revoked entry matches nothing");
        assert!(matches!(
            p.revoke_token("dev1", "operator", None, 21),
            Err(TokenChangeError::Refused(TokenRefusal::UnknownDeviceOrRole))
        ));
        drop(p);
        // After a restart: still revoked, and the role needs approval again (as upstream).
        let mut p = Pairing::load(GatewayStore::open(dir.path()).unwrap()).unwrap();
        assert!(!p.device_token_matches("dev1", Role::Node, &token.token));
        let summary = p.device("dev1").unwrap().redacted().tokens;
        assert_eq!(summary[0].revoked_at_ms, Some(20));
        let DeviceCheck::Required { reason, request, .. } = p.check_device(&claim("node", &[]), 30).unwrap() else {
            panic!("a revoked role must ask for approval again")
        };
        assert_eq!(reason, PairingReason::RoleUpgrade);
        p.approve_device(&request.request_id, "owner", 31).unwrap();
        assert!(matches!(p.check_device(&claim("node", &[]), 32).unwrap(), DeviceCheck::Paired));
        let fresh = p.ensure_token("dev1", Role::Node, 33).unwrap();
        assert!(fresh.is_active());
        assert_ne!(fresh.token, token.token);
        assert_eq!((fresh.created_at_ms, fresh.rotated_at_ms), (token.created_at_ms, Some(31)));
    }

    #[test]
    fn rename_persists() {
        let dir = tempfile::tempdir().unwrap();
        let (mut p, _) = paired(dir.path(), Role::Node, &[]);
        assert!(p.rename_device("dev1", "Lab box").unwrap());
        assert!(!p.rename_device("nope", "x").unwrap());
        drop(p);
        let p = Pairing::load(GatewayStore::open(dir.path()).unwrap()).unwrap();
        assert_eq!(p.device("dev1").unwrap().redacted().operator_label.as_deref(), Some("Lab box"));
    }

    /// A device row journaled before rotation and labels existed (no `rotatedAtMs`,
    /// `revokedAtMs`, `operatorLabel`) loads, and its token still authenticates.
    #[test]
    fn records_of_the_previous_version_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = GatewayStore::open(dir.path()).unwrap();
        let row = serde_json::json!({
            "deviceId": "dev1", "publicKey": "pk1", "platform": "linux", "deviceFamily": "Linux",
            "role": "node", "roles": ["node"], "scopes": [], "createdAtMs": 1, "approvedAtMs": 2,
            "approvedVia": "owner",
            "tokens": {"node": {"token": "t".repeat(43), "role": "node", "scopes": [], "createdAtMs": 3}}
        });
        store.put(Kind::Device, "dev1", &row).unwrap();
        let mut p = Pairing::load(store).unwrap();
        assert!(p.device_token_matches("dev1", Role::Node, &"t".repeat(43)));
        assert!(matches!(p.check_device(&claim("node", &[]), 4).unwrap(), DeviceCheck::Paired));
        assert_eq!(p.ensure_token("dev1", Role::Node, 5).unwrap().token, "t".repeat(43));
    }
}
