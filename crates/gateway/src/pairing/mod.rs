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
//!
//! The module is split by layer: `devices` (device records, tokens, the connect-time check),
//! `bootstrap` (setup-code tokens and join codes), `lifecycle` (rotating and revoking tokens,
//! operator labels), `nodes` (node surfaces), `commands` (which commands a node may have, upstream's
//! node command policy, and who may approve them) and [`ssh_verify`] (approving a fresh node
//! request by reading the node's identity back over SSH). Each adds its own `impl Pairing` block; the store and the in-memory maps
//! live here.

mod bootstrap;
mod commands;
mod devices;
mod lifecycle;
mod nodes;
pub mod ssh_verify;

use std::collections::HashMap;

use base64::Engine;
use rand::RngCore;
use serde_json::{json, Value};
use sha2::Digest;

pub use bootstrap::{
    is_join_code, BootstrapClaim, BootstrapGrant, BootstrapProfile, BootstrapToken, BOOTSTRAP_TOKEN_TTL_MS,
    JOIN_CODE_LEN, MAX_BOOTSTRAP_TOKENS,
};
pub use commands::{
    admitted_at_pairing, allowlist, is_dangerous_builtin, is_worker_private, normalize_declared, normalize_platform_id,
    required_approve_scopes, AllowlistKind, NodeCommandsConfig, NodeFacts,
};
pub use devices::{DeviceCheck, DeviceClaim, DeviceToken, PairedDevice, PairingReason};
pub use lifecycle::{missing_role_scope, normalize_scopes, TokenChangeError, TokenRefusal, MAX_LABEL_CHARS};
pub use nodes::{NodeClaim, NodeSurface};
pub use openclaw_protocol::methods::{NodeRecord, PendingDevice, PendingNode};

use crate::store::{GatewayStore, Kind, StoreError};

/// Pending device requests expire this long after their last retry.
pub const DEVICE_REQUEST_TTL_MS: i64 = 5 * 60 * 1000;
/// Pending device requests kept per client address (loopback counts as one address); a new
/// request beyond it expires that address's oldest. Upstream keeps no cap; one address could
/// otherwise fill the list (and the database) with requests nobody can review.
pub const MAX_PENDING_DEVICE_REQUESTS_PER_ADDRESS: usize = 32;
/// Pending device requests kept in all; a new request beyond it expires the oldest.
pub const MAX_PENDING_DEVICE_REQUESTS: usize = 512;

/// Scope that implies every other operator scope.
pub const SCOPE_ADMIN: &str = "operator.admin";
/// Scope for pairing approvals.
pub const SCOPE_PAIRING: &str = "operator.pairing";
/// Scope for ordinary writes (invoking non-privileged node commands).
pub const SCOPE_WRITE: &str = "operator.write";
/// Reading scope (`write` and `admin` also read).
pub const SCOPE_READ: &str = "operator.read";
/// Scope for the exec approval flow.
pub const SCOPE_APPROVALS: &str = "operator.approvals";

/// A pairing event for operators holding `operator.pairing`: a request was made, or decided.
#[derive(Debug, Clone)]
pub struct PairingNotice {
    /// The event name (`device.pair.requested`, `node.pair.resolved`, …).
    pub event: &'static str,
    /// Its payload.
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

    /// `device.pair.setup.completed`: a setup code paired its device and is used up.
    pub fn setup_completed(grant: &BootstrapGrant, device_id: &str, device_name: Option<&str>, now: i64) -> Self {
        let mut payload = json!({"setupId": grant.setup_id, "deviceId": device_id});
        if let Some(name) = device_name {
            payload["deviceName"] = json!(name);
        }
        payload["access"] = json!(grant.profile.access());
        payload["ts"] = json!(now);
        PairingNotice { event: "device.pair.setup.completed", payload }
    }

    /// `node.pair.resolved` (`approved`, `rejected`, `removed` with an empty requestId).
    pub fn node_resolved(request_id: &str, node_id: &str, decision: &str, now: i64) -> Self {
        let payload = json!({"requestId": request_id, "nodeId": node_id, "decision": decision, "ts": now});
        PairingNotice { event: "node.pair.resolved", payload }
    }
}

/// Whether a caller holding `held` scopes has `needed` (`operator.admin` implies all).
pub fn has_scope(held: &[String], needed: &str) -> bool {
    held.iter().any(|s| s == needed || s == SCOPE_ADMIN)
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
    /// Unexpired bootstrap tokens by setup id.
    bootstrap_tokens: HashMap<String, BootstrapToken>,
    /// Unredeemed join codes by code.
    join_codes: HashMap<String, bootstrap::JoinCode>,
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

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
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
            bootstrap_tokens: HashMap::new(),
            join_codes: HashMap::new(),
        };
        for t in pairing.store.load::<BootstrapToken>(Kind::BootstrapToken)? {
            pairing.bootstrap_tokens.insert(t.setup_id.clone(), t);
        }
        for c in pairing.store.load::<bootstrap::JoinCode>(Kind::JoinCode)? {
            pairing.join_codes.insert(c.code.clone(), c);
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use openclaw_protocol::Role;

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
    fn pending_requests_are_capped_per_address_and_in_all_oldest_first() {
        let (_d, mut p) = pairing();
        let ask = |p: &mut Pairing, n: usize, ip: &str, ts: i64| {
            let mut c = claim("node");
            c.device_id = format!("dev-{ip}-{n}");
            c.public_key = format!("pk-{ip}-{n}");
            c.remote_ip = Some(ip.to_string());
            required(p.check_device(&c, ts).unwrap()).1
        };
        // A quiet client asks first; then one address floods.
        let quiet = ask(&mut p, 0, "10.0.0.2", 1);
        for n in 0..200 {
            ask(&mut p, n, "10.0.0.1", 10 + n as i64);
        }
        let pending = p.device_requests(1_000);
        let flood: Vec<_> = pending.iter().filter(|r| r.remote_ip.as_deref() == Some("10.0.0.1")).collect();
        assert_eq!(flood.len(), MAX_PENDING_DEVICE_REQUESTS_PER_ADDRESS);
        // The newest are kept.
        assert_eq!(
            flood.first().unwrap().device_id,
            format!("dev-10.0.0.1-{}", 200 - MAX_PENDING_DEVICE_REQUESTS_PER_ADDRESS)
        );
        assert!(pending.iter().any(|r| r.request_id == quiet.request_id), "another address's request survives");
        // Many addresses: the total cap holds, the oldest go first.
        for n in 0..MAX_PENDING_DEVICE_REQUESTS + 50 {
            ask(&mut p, n, &format!("10.1.{}.{}", n / 250, n % 250), 500 + n as i64);
        }
        let pending = p.device_requests(2_000);
        assert_eq!(pending.len(), MAX_PENDING_DEVICE_REQUESTS);
        assert!(pending.iter().all(|r| r.remote_ip.as_deref().is_some_and(|ip| ip.starts_with("10.1."))));
        // The database holds no more than the list either.
        drop(p);
        let mut p = Pairing::load(GatewayStore::open(_d.path()).unwrap()).unwrap();
        assert_eq!(p.device_requests(2_000).len(), MAX_PENDING_DEVICE_REQUESTS);
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
    fn secrets_compare_in_constant_time() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
    }
}
