//! `device.pair.*`: approving, rejecting, removing and labelling device pairings.
//!
//! Approving a request for anything beyond the approver's own scopes, or for a non-operator
//! role, needs `operator.admin`: pairing must never be a way to escalate. A caller that
//! authenticated with a device token (not a shared secret) may remove or rename only its own
//! device, and not even that when the device holds a non-operator role, unless it is an admin
//! (upstream's device-management rules; the refusals are deliberately terse).

use std::sync::LazyLock;

use openclaw_protocol::methods::{
    DevicePairApproved, DevicePairList, DevicePairRejected, DevicePairRemoved, DevicePairRenamed,
};
use openclaw_protocol::{ErrorShape, Role};
use serde_json::{json, Value};

use super::{invalid, obj, pairing_error, reply, Access, Call, Handler, Method};
use crate::pairing::{has_scope, PairedDevice, PairingNotice, MAX_LABEL_CHARS, SCOPE_ADMIN, SCOPE_PAIRING};
use crate::schema::{non_empty, req, Shape};

/// The device pairing methods.
pub(super) const METHODS: &[Method] = &[
    pairing("device.pair.list", device_pair_list),
    pairing("device.pair.approve", device_pair_approve),
    pairing("device.pair.reject", device_pair_reject),
    pairing("device.pair.remove", device_pair_remove),
    pairing("device.pair.rename", device_pair_rename),
];

const fn pairing(name: &'static str, run: fn(&Call<'_>) -> Result<Value, ErrorShape>) -> Method {
    Method { name, access: Access::Operator(SCOPE_PAIRING), handler: Handler::Sync(run) }
}

fn device_pair_list(call: &Call<'_>) -> Result<Value, ErrorShape> {
    let now = openclaw_state::now_ms();
    let mut pairing = call.shared.pairing();
    let pending = pairing.device_requests(now);
    let mut paired: Vec<_> = pairing.devices().map(|d| d.redacted()).collect();
    paired.sort_by_key(|d| d.approved_at_ms);
    reply(DevicePairList { pending, paired })
}

fn device_pair_approve(call: &Call<'_>) -> Result<Value, ErrorShape> {
    let request_id = call.request_id_param()?;
    let (shared, ctx) = (call.shared, call.conn);
    let now = openclaw_state::now_ms();
    let mut pairing = shared.pairing();
    let req = pairing.device_request(&request_id, now).ok_or_else(|| invalid("unknown requestId"))?;
    let non_operator = req.roles.iter().any(|r| r != Role::Operator.as_str());
    let escalates = req.scopes.iter().any(|s| !has_scope(&ctx.scopes, s));
    if (non_operator || escalates) && !has_scope(&ctx.scopes, SCOPE_ADMIN) {
        return Err(invalid("device pairing approval denied"));
    }
    let device = pairing.approve_device(&request_id, "owner", now).map_err(pairing_error)?;
    drop(pairing);
    let notice = PairingNotice::device_resolved(&request_id, &device.device_id, "approved", now);
    shared.registry().notify_pairing(&notice);
    tracing::info!("device pairing approved device={} roles={:?}", device.device_id, device.roles);
    reply(DevicePairApproved { request_id, device: device.redacted() })
}

fn device_pair_reject(call: &Call<'_>) -> Result<Value, ErrorShape> {
    let request_id = call.request_id_param()?;
    let req = call.shared.pairing().reject_device(&request_id).map_err(pairing_error)?;
    let notice = PairingNotice::device_resolved(&request_id, &req.device_id, "rejected", openclaw_state::now_ms());
    call.shared.registry().notify_pairing(&notice);
    reply(DevicePairRejected { request_id, device_id: req.device_id })
}

/// Whether `device` has any role other than `operator` (approved, or held by a token).
pub(super) fn has_non_operator_role(device: &PairedDevice) -> bool {
    let operator = Role::Operator.as_str();
    device.role != operator
        || device.roles.iter().any(|r| r != operator)
        || device.tokens.values().any(|t| t.role != operator)
}

/// The device-management gate of `remove` and `rename`: `None` when `call` may manage
/// `device_id`, else the reason for the log (`device-ownership-mismatch`,
/// `role-management-requires-admin`).
fn management_denial(call: &Call<'_>, device_id: &str) -> Option<&'static str> {
    let ctx = call.conn;
    if ctx.denied_cross_device(device_id) {
        return Some("device-ownership-mismatch");
    }
    let restricted = ctx.token_device().is_some() && !has_scope(&ctx.scopes, SCOPE_ADMIN);
    let pairing = call.shared.pairing();
    if restricted && pairing.device(device_id).is_some_and(has_non_operator_role) {
        return Some("role-management-requires-admin");
    }
    None
}

fn device_pair_remove(call: &Call<'_>) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| obj(vec![req("deviceId", non_empty())]));
    call.check(&SHAPE)?;
    let device_id = call.params["deviceId"].as_str().unwrap_or_default().trim().to_string();
    if let Some(reason) = management_denial(call, &device_id) {
        tracing::warn!("device pairing removal denied device={device_id} reason={reason}");
        return Err(invalid("device pairing removal denied"));
    }
    call.shared.pairing().remove_device(&device_id).map_err(pairing_error)?;
    tracing::info!("device pairing removed device={device_id}");
    call.disconnect_after_reply(&device_id, None);
    reply(DevicePairRemoved { device_id })
}

fn device_pair_rename(call: &Call<'_>) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| {
        obj(vec![req("deviceId", non_empty()), req("label", Shape::Str { min: 1, max: Some(MAX_LABEL_CHARS) })])
    });
    call.check(&SHAPE)?;
    let device_id = call.params["deviceId"].as_str().unwrap_or_default().trim().to_string();
    let label = call.params["label"].as_str().unwrap_or_default().trim().to_string();
    if label.is_empty() {
        return Err(invalid("label required"));
    }
    if let Some(reason) = management_denial(call, &device_id) {
        tracing::warn!("device pairing rename denied device={device_id} reason={reason}");
        return Err(invalid("device pairing rename denied"));
    }
    let renamed = call.shared.pairing().rename_device(&device_id, &label).map_err(|e| pairing_error(e.into()))?;
    if !renamed {
        return Err(invalid("unknown deviceId"));
    }
    tracing::info!("device pairing renamed device={device_id} label={label}");
    let notice = PairingNotice { event: "device.pair.changed", payload: json!({}) };
    call.shared.registry().notify_pairing(&notice);
    reply(DevicePairRenamed { device_id, label })
}
