//! `device.token.rotate` and `device.token.revoke`: replacing or withdrawing the token a
//! paired device authenticates with.
//!
//! Who may: `operator.pairing` (the table row), and then upstream's device-management rules.
//! A device-token caller without `operator.admin` may manage only its own device; any caller
//! without `operator.admin` may manage only `operator` tokens, and only within its own scopes.
//! Every refusal answers the same `device token rotation denied` (or `revocation`), with the
//! reason in the gateway log only, so a caller cannot probe which devices or roles exist.
//!
//! After the change the device's sockets of that role are closed 4001 `device removed`, once
//! the caller's answer is queued: what they authenticated with no longer holds. A rotated
//! token is returned only to the device itself (`tokenDelivery: "in-band"`); another caller
//! gets its metadata (`withheld-cross-device`) and the device learns the token on its next
//! connect. Token values never reach a log.

use std::sync::LazyLock;

use openclaw_protocol::methods::{DeviceTokenRevoked, DeviceTokenRotated};
use openclaw_protocol::{ErrorShape, Role};
use serde_json::Value;

use super::{invalid, obj, reply, Access, Call, Handler, Method};
use crate::pairing::{has_scope, TokenChangeError, SCOPE_ADMIN, SCOPE_PAIRING};
use crate::schema::{array, non_empty, opt, req, Shape};

/// The device token methods.
pub(super) const METHODS: &[Method] = &[
    Method { name: "device.token.rotate", access: Access::Operator(SCOPE_PAIRING), handler: Handler::Sync(rotate) },
    Method { name: "device.token.revoke", access: Access::Operator(SCOPE_PAIRING), handler: Handler::Sync(revoke) },
];

/// Which of the two methods, for the shared gate and the wording of its refusal.
#[derive(Clone, Copy)]
enum Change {
    Rotate,
    Revoke,
}

impl Change {
    fn denied(self) -> &'static str {
        match self {
            Change::Rotate => "device token rotation denied",
            Change::Revoke => "device token revocation denied",
        }
    }
}

/// The target of either method, after the params check.
struct Target {
    device_id: String,
    role: String,
}

/// Logs a refusal with its reason and answers the uniform denial.
fn deny(change: Change, target: &Target, reason: &str, scope: Option<&str>) -> ErrorShape {
    let suffix = scope.map(|s| format!(" scope={s}")).unwrap_or_default();
    tracing::warn!("{} device={} role={} reason={reason}{suffix}", change.denied(), target.device_id, target.role);
    invalid(change.denied())
}

/// The device-management gate both methods share: same device unless admin, and non-operator
/// roles for admins only.
fn gate(call: &Call<'_>, change: Change, target: &Target) -> Result<(), ErrorShape> {
    let ctx = call.conn;
    if ctx.denied_cross_device(&target.device_id) {
        return Err(deny(change, target, "device-ownership-mismatch", None));
    }
    if !target.role.is_empty() && target.role != Role::Operator.as_str() && !has_scope(&ctx.scopes, SCOPE_ADMIN) {
        return Err(deny(change, target, "role-management-requires-admin", None));
    }
    Ok(())
}

/// The caller's scopes bound operator tokens only (a node token carries none).
fn caller_bound<'a>(call: &'a Call<'_>, target: &Target) -> Option<&'a [String]> {
    (target.role == Role::Operator.as_str()).then_some(call.conn.scopes.as_slice())
}

fn refused(change: Change, target: &Target, e: TokenChangeError) -> ErrorShape {
    match e {
        TokenChangeError::Refused(reason) => deny(change, target, &reason.to_string(), reason.scope()),
        TokenChangeError::Store(e) => super::pairing_error(e.into()),
    }
}

/// The role closed after a change: a role our protocol knows; an unknown role has no sockets.
fn live_role(role: &str) -> Option<Role> {
    [Role::Node, Role::Operator].into_iter().find(|r| r.as_str() == role)
}

fn rotate(call: &Call<'_>) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| {
        obj(vec![req("deviceId", non_empty()), req("role", non_empty()), opt("scopes", array(non_empty()))])
    });
    call.check(&SHAPE)?;
    let p = call.params;
    let target = Target {
        device_id: p["deviceId"].as_str().unwrap_or_default().trim().to_string(),
        role: p["role"].as_str().unwrap_or_default().trim().to_string(),
    };
    gate(call, Change::Rotate, &target)?;
    let scopes: Option<Vec<String>> = p
        .get("scopes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect());
    let now = openclaw_state::now_ms();
    let token = call
        .shared
        .pairing()
        .rotate_token(&target.device_id, &target.role, scopes.as_deref(), caller_bound(call, &target), now)
        .map_err(|e| refused(Change::Rotate, &target, e))?;
    tracing::info!(
        "device token rotated device={} role={} scopes={}",
        target.device_id,
        token.role,
        token.scopes.join(",")
    );
    let own = call.conn.token_device() == Some(target.device_id.as_str());
    let role = live_role(&token.role);
    if role.is_some() {
        call.disconnect_after_reply(&target.device_id, role);
    }
    reply(DeviceTokenRotated {
        device_id: target.device_id,
        role: token.role,
        token: own.then_some(token.token),
        scopes: token.scopes,
        rotated_at_ms: token.rotated_at_ms.unwrap_or(token.created_at_ms),
        token_delivery: Some(if own { "in-band" } else { "withheld-cross-device" }.to_string()),
    })
}

fn revoke(call: &Call<'_>) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| obj(vec![req("deviceId", non_empty()), req("role", non_empty())]));
    call.check(&SHAPE)?;
    let p = call.params;
    let target = Target {
        device_id: p["deviceId"].as_str().unwrap_or_default().trim().to_string(),
        role: p["role"].as_str().unwrap_or_default().trim().to_string(),
    };
    gate(call, Change::Revoke, &target)?;
    let now = openclaw_state::now_ms();
    let revoked = call
        .shared
        .pairing()
        .revoke_token(&target.device_id, &target.role, caller_bound(call, &target), now)
        .map_err(|e| refused(Change::Revoke, &target, e))?;
    tracing::info!("device token revoked device={} role={}", target.device_id, revoked.role);
    let role = live_role(&revoked.role);
    if role.is_some() {
        call.disconnect_after_reply(&target.device_id, role);
    }
    reply(DeviceTokenRevoked {
        device_id: target.device_id,
        role: revoked.role,
        revoked_at_ms: revoked.revoked_at_ms.unwrap_or(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pairing::TokenRefusal;

    #[test]
    fn refusal_reasons_read_as_upstream_logs_them() {
        assert_eq!(TokenRefusal::UnknownDeviceOrRole.to_string(), "unknown-device-or-role");
        assert_eq!(TokenRefusal::ScopeOutsideApprovedBaseline.to_string(), "scope-outside-approved-baseline");
        let missing = TokenRefusal::CallerMissingScope("operator.admin".into());
        assert_eq!((missing.to_string().as_str(), missing.scope()), ("caller-missing-scope", Some("operator.admin")));
        assert_eq!(live_role("node"), Some(Role::Node));
        assert_eq!(live_role("robot"), None);
    }
}
