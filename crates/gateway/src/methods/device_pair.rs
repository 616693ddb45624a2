//! `device.pair.*`: approving, rejecting and removing device pairings.
//!
//! Approving a request for anything beyond the approver's own scopes, or for a non-operator
//! role, needs `operator.admin`: pairing must never be a way to escalate.

use std::sync::LazyLock;

use openclaw_protocol::methods::{DevicePairApproved, DevicePairList, DevicePairRejected, DevicePairRemoved};
use openclaw_protocol::{ErrorShape, Role};
use serde_json::Value;

use super::{invalid, obj, pairing_error, reply, Access, Call, Handler, Method};
use crate::pairing::{has_scope, PairingNotice, SCOPE_ADMIN, SCOPE_PAIRING};
use crate::schema::{non_empty, req, Shape};

/// The device pairing methods.
pub(super) const METHODS: &[Method] = &[
    pairing("device.pair.list", device_pair_list),
    pairing("device.pair.approve", device_pair_approve),
    pairing("device.pair.reject", device_pair_reject),
    pairing("device.pair.remove", device_pair_remove),
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

fn device_pair_remove(call: &Call<'_>) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| obj(vec![req("deviceId", non_empty())]));
    call.check(&SHAPE)?;
    let device_id = call.params["deviceId"].as_str().unwrap_or_default().trim().to_string();
    call.shared.pairing().remove_device(&device_id).map_err(pairing_error)?;
    call.shared.registry().close_device(&device_id, 4001, "device removed");
    reply(DevicePairRemoved { device_id })
}
