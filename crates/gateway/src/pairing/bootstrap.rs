//! Bootstrap tokens and join codes: how a new device pairs in one step (`protocol.md` §5,
//! `docs/upstream-facts/gateway-onboarding.md` §1–3).
//!
//! An operator asks for a setup code (`device.pair.setupCode`); the gateway issues a bootstrap
//! token for a *profile* (which roles and scopes the code may open) and, for a node, a join
//! code whose URL serves the setup payload once. The device connects with the token:
//! - the first verify binds the token to that device's id and key, so a leaked code cannot be
//!   used by a second device while the first is still pairing;
//! - a node-host connecting with a node-profile token is paired without an operator
//!   (`approvedVia: "bootstrap"`), and its first command surface is approved too;
//! - the token is consumed before the `hello-ok` that pairs it, so it works once.
//!
//! Tokens expire [`BOOTSTRAP_TOKEN_TTL_MS`] after issue, join codes with their token. Both are
//! journaled, so a restart keeps an unexpired code working; the journal holds secrets and is
//! private like the device tokens.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{new_token, secrets_equal, Pairing, SCOPE_ADMIN, SCOPE_APPROVALS, SCOPE_READ, SCOPE_WRITE};
use crate::store::{Kind, StoreError};
use openclaw_protocol::setup_code::SetupPayload;

/// A bootstrap token (and its join code) stops working this long after issue (upstream: 10 min).
pub const BOOTSTRAP_TOKEN_TTL_MS: i64 = 10 * 60 * 1000;
/// Unexpired tokens kept at once; issuing beyond it drops the oldest. Upstream keeps no cap;
/// an operator script in a loop would otherwise grow the journal without bound.
pub const MAX_BOOTSTRAP_TOKENS: usize = 256;
/// Length of a join code: 16 random bytes, base64url.
pub const JOIN_CODE_LEN: usize = 22;

/// What a setup code may open, by name (`bootstrapProfile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootstrapProfile {
    /// A node host: role `node`, no scopes (join URLs, `qr --node`).
    Node,
    /// The mobile app with reduced access: `node` + `operator` with the everyday scopes.
    Limited,
    /// The mobile app with full access: `limited` plus `operator.admin` (`qr`'s default).
    MobileFull,
    /// A voice satellite: `node` + `operator` with `read` and `talk`.
    VoiceNode,
}

impl BootstrapProfile {
    /// The roles a token of this profile may connect as.
    pub fn roles(self) -> &'static [&'static str] {
        match self {
            BootstrapProfile::Node => &["node"],
            _ => &["node", "operator"],
        }
    }

    /// The operator scopes a token of this profile may ask for.
    pub fn scopes(self) -> &'static [&'static str] {
        const LIMITED: &[&str] =
            &[SCOPE_APPROVALS, "operator.questions", SCOPE_READ, "operator.talk.secrets", SCOPE_WRITE];
        const FULL: &[&str] =
            &[SCOPE_ADMIN, SCOPE_APPROVALS, "operator.questions", SCOPE_READ, "operator.talk.secrets", SCOPE_WRITE];
        match self {
            BootstrapProfile::Node => &[],
            BootstrapProfile::Limited => LIMITED,
            BootstrapProfile::MobileFull => FULL,
            BootstrapProfile::VoiceNode => &[SCOPE_READ, "operator.talk"],
        }
    }

    /// The `access` a setup result reports.
    pub fn access(self) -> &'static str {
        match self {
            BootstrapProfile::Node => "node",
            BootstrapProfile::MobileFull => "full",
            BootstrapProfile::Limited | BootstrapProfile::VoiceNode => "limited",
        }
    }

    /// Whether a token of this profile admits `role` with `scopes`.
    fn allows(self, role: &str, scopes: &[String]) -> bool {
        let scopes_ok =
            if role == "node" { scopes.is_empty() } else { scopes.iter().all(|s| self.scopes().contains(&s.as_str())) };
        self.roles().contains(&role) && scopes_ok
    }

    /// Whether a device connecting as `client` is the one this profile hands a pairing to
    /// without an operator. The node profile is for the node host only; the mobile profiles
    /// for the mobile apps on their own platforms; the voice profile for ESP32 satellites.
    pub fn hands_off_to(self, client_id: &str, platform: &str) -> bool {
        let platform = platform.trim().to_ascii_lowercase();
        match self {
            BootstrapProfile::Node => client_id == "node-host",
            BootstrapProfile::VoiceNode => client_id == "node-host" && platform == "esp32",
            BootstrapProfile::Limited | BootstrapProfile::MobileFull => {
                (client_id == "openclaw-ios" && platform == "ios")
                    || (client_id == "openclaw-android" && platform == "android")
            }
        }
    }
}

/// An issued bootstrap token, as journaled.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapToken {
    /// 32 random bytes, base64url (43 characters). Secret.
    pub token: String,
    /// Names the setup for operators (`device.pair.setup.completed`).
    pub setup_id: String,
    /// What it may open.
    pub profile: BootstrapProfile,
    /// When it was issued; it expires [`BOOTSTRAP_TOKEN_TTL_MS`] later.
    pub issued_at_ms: i64,
    /// The device it was bound to by its first use.
    #[serde(default)]
    pub device_id: Option<String>,
    /// That device's public key.
    #[serde(default)]
    pub public_key: Option<String>,
    /// The roles it has been redeemed for so far.
    #[serde(default)]
    pub redeemed_roles: Vec<String>,
    /// Its last successful verify.
    #[serde(default)]
    pub last_used_at_ms: Option<i64>,
}

impl std::fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapToken")
            .field("setup_id", &self.setup_id)
            .field("profile", &self.profile)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl BootstrapToken {
    /// When it stops working.
    pub fn expires_at_ms(&self) -> i64 {
        self.issued_at_ms + BOOTSTRAP_TOKEN_TTL_MS
    }
}

/// A join code: the setup payload its URL serves once.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JoinCode {
    pub(super) code: String,
    payload: Value,
    expires_at_ms: i64,
}

/// A verified bootstrap token, as a connect uses it.
#[derive(Debug, Clone)]
pub struct BootstrapGrant {
    /// The token's setup.
    pub setup_id: String,
    /// Its profile.
    pub profile: BootstrapProfile,
}

/// What the device presenting a bootstrap token claims.
#[derive(Debug, Clone, Copy)]
pub struct BootstrapClaim<'a> {
    /// The device id.
    pub device_id: &'a str,
    /// Its public key, base64url.
    pub public_key: &'a str,
    /// The role asked for.
    pub role: &'a str,
    /// The scopes asked for.
    pub scopes: &'a [String],
}

/// 16 random bytes, base64url without padding.
fn new_join_code() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `code` has a join code's form (`^[A-Za-z0-9_-]{22}$`).
pub fn is_join_code(code: &str) -> bool {
    code.len() == JOIN_CODE_LEN && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Pairing {
    fn expire_bootstrap(&mut self, now: i64) {
        let expired: Vec<String> =
            self.bootstrap_tokens.values().filter(|t| now >= t.expires_at_ms()).map(|t| t.setup_id.clone()).collect();
        for id in expired {
            self.bootstrap_tokens.remove(&id);
            let _ = self.store.delete(Kind::BootstrapToken, &id);
        }
        let expired: Vec<String> =
            self.join_codes.values().filter(|c| now >= c.expires_at_ms).map(|c| c.code.clone()).collect();
        for code in expired {
            self.join_codes.remove(&code);
            let _ = self.store.delete(Kind::JoinCode, &code);
        }
    }

    /// Issues a bootstrap token for `profile`.
    pub fn issue_bootstrap(&mut self, profile: BootstrapProfile, now: i64) -> Result<BootstrapToken, StoreError> {
        self.expire_bootstrap(now);
        while self.bootstrap_tokens.len() >= MAX_BOOTSTRAP_TOKENS {
            let Some(oldest) =
                self.bootstrap_tokens.values().min_by_key(|t| t.issued_at_ms).map(|t| t.setup_id.clone())
            else {
                break;
            };
            self.bootstrap_tokens.remove(&oldest);
            self.store.delete(Kind::BootstrapToken, &oldest)?;
        }
        let token = BootstrapToken {
            token: new_token(),
            setup_id: uuid::Uuid::new_v4().to_string(),
            profile,
            issued_at_ms: now,
            device_id: None,
            public_key: None,
            redeemed_roles: Vec::new(),
            last_used_at_ms: None,
        };
        self.store.put(Kind::BootstrapToken, &token.setup_id, &token)?;
        self.bootstrap_tokens.insert(token.setup_id.clone(), token.clone());
        Ok(token)
    }

    /// Checks a presented bootstrap token. The first success binds it to the device; any
    /// failure (unknown, expired, bound to another device, a role or scope its profile does not
    /// open) is `None`, one answer for all so a prober learns nothing. Never consumes.
    pub fn verify_bootstrap(&mut self, presented: &str, claim: BootstrapClaim<'_>, now: i64) -> Option<BootstrapGrant> {
        self.expire_bootstrap(now);
        if claim.device_id.is_empty() || claim.public_key.is_empty() || claim.role.is_empty() {
            return None;
        }
        // Every candidate is compared, so timing does not say which one matched.
        let mut found = None;
        for t in self.bootstrap_tokens.values() {
            if secrets_equal(&t.token, presented) {
                found = Some(t.setup_id.clone());
            }
        }
        let token = self.bootstrap_tokens.get_mut(&found?)?;
        if !token.profile.allows(claim.role, claim.scopes) {
            return None;
        }
        let bound_elsewhere = token.device_id.as_deref().is_some_and(|d| d != claim.device_id)
            || token.public_key.as_deref().is_some_and(|k| k != claim.public_key);
        if bound_elsewhere {
            return None;
        }
        token.device_id = Some(claim.device_id.to_string());
        token.public_key = Some(claim.public_key.to_string());
        token.last_used_at_ms = Some(now);
        let token = token.clone();
        self.store.put(Kind::BootstrapToken, &token.setup_id, &token).ok()?;
        Some(BootstrapGrant { setup_id: token.setup_id, profile: token.profile })
    }

    /// Records that the token of `setup_id` was used for `role`, and consumes it when this
    /// connect paired the device (`paired_now`) or every role of its profile has been used.
    /// Returns whether this call consumed it (false when it was already gone). Called before the `hello-ok` is sent: if the journal
    /// cannot be written the connect fails rather than leave a reusable token behind.
    pub fn redeem_bootstrap(&mut self, setup_id: &str, role: &str, paired_now: bool) -> Result<bool, StoreError> {
        // Already consumed by a connect that raced this one: that connect reported the
        // completion, so this one must not report it again.
        let Some(token) = self.bootstrap_tokens.get_mut(setup_id) else {
            return Ok(false);
        };
        if !token.redeemed_roles.iter().any(|r| r == role) {
            token.redeemed_roles.push(role.to_string());
        }
        let complete = token.profile.roles().iter().all(|r| token.redeemed_roles.iter().any(|x| x == r));
        if paired_now || complete {
            self.store.delete(Kind::BootstrapToken, setup_id)?;
            self.bootstrap_tokens.remove(setup_id);
            return Ok(true);
        }
        let token = token.clone();
        self.store.put(Kind::BootstrapToken, setup_id, &token)?;
        Ok(false)
    }

    /// Registers a join code serving `payload` until `expires_at_ms`; returns the code.
    pub fn register_join_code(
        &mut self,
        payload: &SetupPayload,
        expires_at_ms: i64,
        now: i64,
    ) -> Result<String, StoreError> {
        self.expire_bootstrap(now);
        let join = JoinCode {
            code: new_join_code(),
            payload: serde_json::to_value(payload).expect("a setup payload serialises"),
            expires_at_ms,
        };
        self.store.put(Kind::JoinCode, &join.code, &join)?;
        let code = join.code.clone();
        self.join_codes.insert(code.clone(), join);
        Ok(code)
    }

    /// Redeems a join code: the payload once, then never again (the code is deleted whether or
    /// not its payload is still valid).
    pub fn redeem_join_code(&mut self, code: &str, now: i64) -> Option<SetupPayload> {
        self.expire_bootstrap(now);
        let join = self.join_codes.remove(code)?;
        let _ = self.store.delete(Kind::JoinCode, code);
        SetupPayload::from_json(&join.payload, now).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::GatewayStore;

    fn pairing() -> (tempfile::TempDir, Pairing) {
        let dir = tempfile::tempdir().unwrap();
        let store = GatewayStore::open(dir.path()).unwrap();
        (dir, Pairing::load(store).unwrap())
    }

    fn claim<'a>(device: &'a str, role: &'a str, scopes: &'a [String]) -> BootstrapClaim<'a> {
        BootstrapClaim { device_id: device, public_key: device, role, scopes }
    }

    #[test]
    fn a_token_binds_to_its_first_device_and_expires() {
        let (_d, mut p) = pairing();
        let t = p.issue_bootstrap(BootstrapProfile::Node, 1_000).unwrap();
        assert_eq!(t.token.len(), 43);
        assert!(p.verify_bootstrap("nope", claim("a", "node", &[]), 2_000).is_none());
        assert!(p.verify_bootstrap(&t.token, claim("a", "operator", &[]), 2_000).is_none(), "role outside the profile");
        let g = p.verify_bootstrap(&t.token, claim("a", "node", &[]), 2_000).unwrap();
        assert_eq!(g.setup_id, t.setup_id);
        assert!(p.verify_bootstrap(&t.token, claim("a", "node", &[]), 3_000).is_some(), "verify never consumes");
        assert!(p.verify_bootstrap(&t.token, claim("b", "node", &[]), 3_000).is_none(), "bound to device a");
        assert!(p.verify_bootstrap(&t.token, claim("a", "node", &[]), 1_000 + BOOTSTRAP_TOKEN_TTL_MS).is_none());
        assert!(p.bootstrap_tokens.is_empty(), "expired tokens are pruned");
    }

    #[test]
    fn redeeming_consumes_once_and_survives_a_restart_until_then() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Pairing::load(GatewayStore::open(dir.path()).unwrap()).unwrap();
        let limited = p.issue_bootstrap(BootstrapProfile::Limited, 1).unwrap();
        let node = p.issue_bootstrap(BootstrapProfile::Node, 1).unwrap();
        let read = vec![SCOPE_READ.to_string()];
        assert!(p.verify_bootstrap(&limited.token, claim("m", "operator", &read), 2).is_some());
        assert!(!p.redeem_bootstrap(&limited.setup_id, "operator", false).unwrap(), "the node role is still open");
        drop(p);
        let mut p = Pairing::load(GatewayStore::open(dir.path()).unwrap()).unwrap();
        assert!(p.verify_bootstrap(&node.token, claim("n", "node", &[]), 3).is_some());
        assert!(p.redeem_bootstrap(&node.setup_id, "node", true).unwrap());
        assert!(p.verify_bootstrap(&node.token, claim("n", "node", &[]), 4).is_none(), "used once");
        assert!(p.verify_bootstrap(&limited.token, claim("m", "node", &[]), 4).is_some());
        assert!(p.redeem_bootstrap(&limited.setup_id, "node", false).unwrap(), "every role used");
        assert!(!p.redeem_bootstrap(&limited.setup_id, "node", true).unwrap(), "consumed once: no second completion");
        assert!(!format!("{limited:?}").contains(&limited.token));
    }

    #[test]
    fn join_codes_serve_once_and_not_after_expiry() {
        let (_d, mut p) = pairing();
        let now = openclaw_state::now_ms();
        let payload = SetupPayload {
            url: "ws://127.0.0.1:1".into(),
            urls: None,
            bootstrap_token: "t".into(),
            expires_at_ms: Some((now + 1_000) as u64),
            tls_fingerprint: None,
        };
        let code = p.register_join_code(&payload, now + 1_000, now).unwrap();
        assert!(is_join_code(&code), "{code}");
        assert_eq!(p.redeem_join_code(&code, now).unwrap(), payload);
        assert!(p.redeem_join_code(&code, now).is_none());
        let code = p.register_join_code(&payload, now + 1_000, now).unwrap();
        assert!(p.redeem_join_code(&code, now + 1_000).is_none());
    }

    #[test]
    fn issuing_is_bounded() {
        let (_d, mut p) = pairing();
        let first = p.issue_bootstrap(BootstrapProfile::Node, 1).unwrap();
        for n in 0..MAX_BOOTSTRAP_TOKENS {
            p.issue_bootstrap(BootstrapProfile::Node, 2 + n as i64).unwrap();
        }
        assert_eq!(p.bootstrap_tokens.len(), MAX_BOOTSTRAP_TOKENS);
        assert!(!p.bootstrap_tokens.contains_key(&first.setup_id), "the oldest goes first");
    }

    #[test]
    fn handoff_clients() {
        assert!(BootstrapProfile::Node.hands_off_to("node-host", "linux"));
        assert!(!BootstrapProfile::MobileFull.hands_off_to("node-host", "linux"));
        assert!(BootstrapProfile::MobileFull.hands_off_to("openclaw-ios", "iOS"));
        assert!(!BootstrapProfile::VoiceNode.hands_off_to("node-host", "linux"));
    }
}
