//! `node.list`, `node.describe` and `node.rename`: the nodes the gateway knows, merged from the
//! live sessions, the approved surfaces, the pending requests and the paired devices.
//!
//! One [`node_entry`] builds the `NodeEntry` shape for both list and describe, so the two can
//! never disagree about a node.

use std::sync::LazyLock;

use openclaw_protocol::methods::{NodeEntry, NodeList, NodeRenameResult};
use openclaw_protocol::{ErrorShape, Role};
use serde_json::Value;

use super::{invalid, obj, pairing_error, reply, Access, Call, Handler, Method, SCOPE_READ};
use crate::pairing::{NodeRecord, PendingNode, SCOPE_PAIRING};
use crate::registry::{NodeSession, Registry};
use crate::schema::{non_empty, req, Shape};
use crate::Shared;

/// The node registry methods.
pub(super) const METHODS: &[Method] = &[
    Method { name: "node.list", access: Access::Operator(SCOPE_READ), handler: Handler::Sync(node_list) },
    Method { name: "node.describe", access: Access::Operator(SCOPE_READ), handler: Handler::Sync(node_describe) },
    Method { name: "node.rename", access: Access::Operator(SCOPE_PAIRING), handler: Handler::Sync(node_rename) },
];

fn approval_state(record: bool, pending: bool) -> &'static str {
    match (record, pending) {
        (true, false) => "approved",
        (true, true) => "pending-reapproval",
        (false, true) => "pending-approval",
        (false, false) => "unapproved",
    }
}

/// One `NodeEntry` (`protocol.md` §7), or `None` when the gateway has never seen the node.
fn node_entry(shared: &Shared, registry: &Registry, node_id: &str) -> Option<NodeEntry> {
    let pairing = shared.pairing();
    let record = pairing.node(node_id);
    let pending = pairing.node_request_for(node_id);
    let device = pairing.device(node_id);
    let live = registry.node(node_id);
    let paired = device.is_some_and(|d| d.has_role(Role::Node));
    if record.is_none() && pending.is_none() && live.is_none() && !paired {
        return None;
    }
    let session = live.and_then(|c| c.node.as_ref());
    // A rename (on the record) wins over what the node says about itself.
    let display_name = record
        .and_then(|r| r.display_name.as_ref())
        .or(session.and_then(|s| s.display_name.as_ref()))
        .or(pending.and_then(|p| p.display_name.as_ref()))
        .or(device.and_then(|d| d.display_name.as_ref()))
        .cloned();
    // Everything else: what the live session says, else the approved record, else the request.
    type Get<T> = fn(&T) -> Option<&String>;
    let pick = |from_session: Get<NodeSession>, from_record: Get<NodeRecord>, from_pending: Get<PendingNode>| {
        session.and_then(from_session).or(record.and_then(from_record)).or(pending.and_then(from_pending)).cloned()
    };
    Some(NodeEntry {
        node_id: node_id.to_string(),
        display_name,
        platform: pick(|s| Some(&s.platform), |r| r.platform.as_ref(), |p| p.platform.as_ref()),
        version: pick(|s| Some(&s.version), |r| r.version.as_ref(), |p| p.version.as_ref()),
        client_id: pick(|s| Some(&s.client_id), |r| r.client_id.as_ref(), |p| p.client_id.as_ref()),
        client_mode: pick(|s| Some(&s.client_mode), |r| r.client_mode.as_ref(), |p| p.client_mode.as_ref()),
        device_family: pick(|s| s.device_family.as_ref(), |r| r.device_family.as_ref(), |p| p.device_family.as_ref()),
        model_identifier: pick(|s| s.model_identifier.as_ref(), |_| None, |_| None),
        remote_ip: live.and_then(|c| c.remote_ip.as_ref()).or(record.and_then(|r| r.remote_ip.as_ref())).cloned(),
        caps: session.map(|s| s.caps.clone()).or(record.map(|r| r.caps.clone())).unwrap_or_default(),
        commands: session.map(|s| s.commands.clone()).or(record.map(|r| r.commands.clone())).unwrap_or_default(),
        session_host: false,
        host_stats: session.and_then(|s| s.host_stats.clone()),
        node_plugin_tools: Vec::new(),
        path_env: session.and_then(|s| s.path_env.clone()),
        approval_state: approval_state(record.is_some(), pending.is_some()).to_string(),
        pending_request_id: pending.map(|p| p.request_id.clone()),
        pending_declared_caps: pending.map(|p| p.caps.clone()),
        pending_declared_commands: pending.map(|p| p.commands.clone()),
        connected_at_ms: session.map(|s| s.connected_at_ms),
        last_connected_at_ms: session.map(|s| s.connected_at_ms),
        last_seen_at_ms: record.and_then(|r| r.last_seen_at_ms),
        last_seen_reason: record.and_then(|r| r.last_seen_reason.clone()),
        approved_at_ms: record.map(|r| r.approved_at_ms),
        paired,
        connected: live.is_some(),
        ts: None,
    })
}

fn all_node_ids(shared: &Shared, registry: &Registry) -> Vec<String> {
    let pairing = shared.pairing();
    let mut ids: Vec<String> = registry.nodes().filter_map(|c| c.device_id.clone()).collect();
    ids.extend(pairing.nodes().map(|n| n.node_id.clone()));
    ids.extend(pairing.node_requests().into_iter().map(|r| r.node_id));
    ids.extend(pairing.devices().filter(|d| d.has_role(Role::Node)).map(|d| d.device_id.clone()));
    ids.sort();
    ids.dedup();
    ids
}

fn node_list(call: &Call<'_>) -> Result<Value, ErrorShape> {
    let shared = call.shared;
    let registry = shared.registry();
    let ids = all_node_ids(shared, &registry);
    let mut nodes: Vec<NodeEntry> = ids.iter().filter_map(|id| node_entry(shared, &registry, id)).collect();
    // Connected first, then by name.
    nodes.sort_by_key(|n| (!n.connected, n.display_name.as_deref().unwrap_or("").to_lowercase()));
    reply(NodeList { ts: openclaw_state::now_ms(), nodes })
}

fn node_describe(call: &Call<'_>) -> Result<Value, ErrorShape> {
    let node_id = call.node_id_param()?;
    let registry = call.shared.registry();
    let mut entry = node_entry(call.shared, &registry, &node_id).ok_or_else(|| invalid("unknown nodeId"))?;
    entry.ts = Some(openclaw_state::now_ms());
    reply(entry)
}

fn node_rename(call: &Call<'_>) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> =
        LazyLock::new(|| obj(vec![req("nodeId", non_empty()), req("displayName", non_empty())]));
    call.check(&SHAPE)?;
    let (shared, p) = (call.shared, call.params);
    let node_id = p["nodeId"].as_str().unwrap_or_default().trim();
    let name = p["displayName"].as_str().unwrap_or_default().trim();
    // A device-token caller renames only its own node, unless admin (as upstream).
    if call.conn.denied_cross_device(node_id) {
        tracing::warn!("node rename denied node={node_id} reason=device-ownership-mismatch");
        return Err(invalid("node rename denied"));
    }
    if name.is_empty() {
        return Err(invalid("displayName required"));
    }
    shared.pairing().rename_node(node_id, name).map_err(pairing_error)?;
    if let Some(n) = shared.registry().node_mut(node_id).and_then(|c| c.node.as_mut()) {
        n.display_name = Some(name.to_string());
    }
    reply(NodeRenameResult { node_id: node_id.to_string(), display_name: name.to_string() })
}
