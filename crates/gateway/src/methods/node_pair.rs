//! `node.pair.*`: approving, rejecting and removing a node's command surface.
//!
//! A node's surface is approved separately from its device: a device paired as a node may
//! still have declared commands waiting for an operator (`pendingDeclaredCommands`). Approving
//! updates the live session's routable commands at once and tells the node itself.
//! Removing revokes the device's node role (and its node token) and closes its node sockets
//! 4001 `device removed` after the caller's answer; a device-token caller manages only its own
//! device, as for `device.pair.remove`.

use openclaw_protocol::methods::{NodePairApproved, NodePairList, NodePairRejected, NodePairRemoved};
use openclaw_protocol::{ErrorShape, Role};
use serde_json::{json, Value};

use super::{invalid, missing_scope, pairing_error, reply, Access, Call, Handler, Method};
use crate::pairing::{has_scope, PairingNotice, SCOPE_ADMIN, SCOPE_PAIRING};

/// The node pairing methods.
pub(super) const METHODS: &[Method] = &[
    pairing("node.pair.list", node_pair_list),
    pairing("node.pair.approve", node_pair_approve),
    pairing("node.pair.reject", node_pair_reject),
    pairing("node.pair.remove", node_pair_remove),
];

const fn pairing(name: &'static str, run: fn(&Call<'_>) -> Result<Value, ErrorShape>) -> Method {
    Method { name, access: Access::Operator(SCOPE_PAIRING), handler: Handler::Sync(run) }
}

fn node_pair_list(call: &Call<'_>) -> Result<Value, ErrorShape> {
    let pairing = call.shared.pairing();
    let mut paired: Vec<_> = pairing.nodes().cloned().collect();
    paired.sort_by_key(|n| n.approved_at_ms);
    reply(NodePairList { pending: pairing.node_requests(), paired })
}

fn node_pair_approve(call: &Call<'_>) -> Result<Value, ErrorShape> {
    let request_id = call.request_id_param()?;
    let (shared, ctx) = (call.shared, call.conn);
    let now = openclaw_state::now_ms();
    let mut pairing = shared.pairing();
    let req = pairing.node_request(&request_id).cloned().ok_or_else(|| invalid("unknown requestId"))?;
    if let Some(missing) = req.required_approve_scopes.iter().find(|s| !has_scope(&ctx.scopes, s)) {
        let mut e = missing_scope(missing);
        e.details.as_mut().unwrap()["requiredScopes"] = json!(req.required_approve_scopes);
        return Err(e);
    }
    let record = pairing.approve_node(&request_id, now).map_err(pairing_error)?;
    drop(pairing);
    let mut registry = shared.registry();
    let notice = PairingNotice::node_resolved(&request_id, &record.node_id, "approved", now);
    if let Some(client) = registry.node_mut(&record.node_id) {
        if let Some(session) = client.node.as_mut() {
            let facts = crate::pairing::NodeFacts {
                platform: &session.platform,
                device_family: session.device_family.as_deref(),
                caps: &session.caps,
                commands: &session.declared_commands,
                approved: None,
            };
            let allowed = crate::pairing::admitted_at_pairing(&shared.config.node_commands, &facts);
            session.commands = allowed.into_iter().filter(|c| record.commands.contains(c)).collect();
        }
        // The node itself is told directly (no seq), as upstream.
        client.outbox.send_event(notice.event, notice.payload.clone());
    }
    registry.notify_pairing(&notice);
    reply(NodePairApproved { request_id, node: record })
}

fn node_pair_reject(call: &Call<'_>) -> Result<Value, ErrorShape> {
    let request_id = call.request_id_param()?;
    let req = call.shared.pairing().reject_node(&request_id).map_err(pairing_error)?;
    let notice = PairingNotice::node_resolved(&request_id, &req.node_id, "rejected", openclaw_state::now_ms());
    call.shared.registry().notify_pairing(&notice);
    reply(NodePairRejected { request_id, node_id: req.node_id })
}

fn node_pair_remove(call: &Call<'_>) -> Result<Value, ErrorShape> {
    let node_id = call.node_id_param()?;
    let ctx = call.conn;
    let denial = if ctx.denied_cross_device(&node_id) {
        Some("device-ownership-mismatch")
    } else {
        let restricted = ctx.token_device().is_some() && !has_scope(&ctx.scopes, SCOPE_ADMIN);
        let pairing = call.shared.pairing();
        (restricted && pairing.device(&node_id).is_some_and(super::device_pair::has_non_operator_role))
            .then_some("role-management-requires-admin")
    };
    if let Some(reason) = denial {
        tracing::warn!("node pairing removal denied node={node_id} reason={reason}");
        return Err(invalid("node pairing removal denied"));
    }
    call.shared.pairing().remove_node(&node_id).map_err(pairing_error)?;
    tracing::info!("node pairing removed device-backed node={node_id}");
    let now = openclaw_state::now_ms();
    call.shared.registry().notify_pairing(&PairingNotice::node_resolved("", &node_id, "removed", now));
    call.disconnect_after_reply(&node_id, Some(Role::Node));
    reply(NodePairRemoved { node_id })
}
