//! `node.list`, `node.describe` and `node.rename`: the nodes the gateway knows, merged from the
//! live sessions, the approved surfaces, the pending requests and the paired devices.
//!
//! One [`node_entry`] builds the `NodeEntry` shape for both list and describe, so the two can
//! never disagree about a node.

use std::sync::LazyLock;

use openclaw_protocol::{ErrorShape, Role};
use serde_json::{json, Map, Value};

use super::{invalid, obj, pairing_error, Access, Call, Handler, Method, SCOPE_READ};
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
fn node_entry(shared: &Shared, registry: &Registry, node_id: &str) -> Option<Value> {
    let pairing = shared.pairing();
    let record = pairing.node(node_id);
    let pending = pairing.node_request_for(node_id);
    let device = pairing.device(node_id);
    let live = registry.node(node_id);
    if record.is_none() && pending.is_none() && live.is_none() && !device.is_some_and(|d| d.has_role(Role::Node)) {
        return None;
    }
    let session = live.and_then(|c| c.node.as_ref());
    let mut e = Map::new();
    e.insert("nodeId".into(), json!(node_id));
    // A rename (on the record) wins over what the node says about itself.
    let display = record
        .and_then(|r| r.display_name.as_ref())
        .or(session.and_then(|s| s.display_name.as_ref()))
        .or(pending.and_then(|p| p.display_name.as_ref()))
        .or(device.and_then(|d| d.display_name.as_ref()));
    if let Some(name) = display {
        e.insert("displayName".into(), json!(name));
    }
    // Everything else: what the live session says, else the approved record, else the request.
    type Get<T> = fn(&T) -> Option<&String>;
    type Sources = (Get<NodeSession>, Get<NodeRecord>, Get<PendingNode>);
    let fields: [(&str, Sources); 6] = [
        ("platform", (|s| Some(&s.platform), |r| r.platform.as_ref(), |p| p.platform.as_ref())),
        ("version", (|s| Some(&s.version), |r| r.version.as_ref(), |p| p.version.as_ref())),
        ("clientId", (|s| Some(&s.client_id), |r| r.client_id.as_ref(), |p| p.client_id.as_ref())),
        ("clientMode", (|s| Some(&s.client_mode), |r| r.client_mode.as_ref(), |p| p.client_mode.as_ref())),
        ("deviceFamily", (|s| s.device_family.as_ref(), |r| r.device_family.as_ref(), |p| p.device_family.as_ref())),
        ("modelIdentifier", (|s| s.model_identifier.as_ref(), |_| None, |_| None)),
    ];
    for (key, (from_session, from_record, from_pending)) in fields {
        let value = session.and_then(from_session).or(record.and_then(from_record)).or(pending.and_then(from_pending));
        if let Some(v) = value {
            e.insert(key.into(), json!(v));
        }
    }
    if let Some(ip) = live.and_then(|c| c.remote_ip.as_ref()).or(record.and_then(|r| r.remote_ip.as_ref())) {
        e.insert("remoteIp".into(), json!(ip));
    }
    let caps = session.map(|s| s.caps.clone()).or(record.map(|r| r.caps.clone())).unwrap_or_default();
    let commands = session.map(|s| s.commands.clone()).or(record.map(|r| r.commands.clone())).unwrap_or_default();
    e.insert("caps".into(), json!(caps));
    e.insert("commands".into(), json!(commands));
    e.insert("sessionHost".into(), json!(false));
    if let Some(stats) = session.and_then(|s| s.host_stats.clone()) {
        e.insert("hostStats".into(), stats);
    }
    e.insert("nodePluginTools".into(), json!([]));
    if let Some(path) = session.and_then(|s| s.path_env.clone()) {
        e.insert("pathEnv".into(), json!(path));
    }
    e.insert("approvalState".into(), json!(approval_state(record.is_some(), pending.is_some())));
    if let Some(p) = pending {
        e.insert("pendingRequestId".into(), json!(p.request_id));
        e.insert("pendingDeclaredCaps".into(), json!(p.caps));
        e.insert("pendingDeclaredCommands".into(), json!(p.commands));
    }
    if let Some(s) = session {
        e.insert("connectedAtMs".into(), json!(s.connected_at_ms));
        e.insert("lastConnectedAtMs".into(), json!(s.connected_at_ms));
    }
    if let Some(r) = record {
        if let Some(t) = r.last_seen_at_ms {
            e.insert("lastSeenAtMs".into(), json!(t));
        }
        if let Some(reason) = &r.last_seen_reason {
            e.insert("lastSeenReason".into(), json!(reason));
        }
        e.insert("approvedAtMs".into(), json!(r.approved_at_ms));
    }
    e.insert("paired".into(), json!(device.is_some_and(|d| d.has_role(Role::Node))));
    e.insert("connected".into(), json!(live.is_some()));
    Some(Value::Object(e))
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
    let mut nodes: Vec<Value> = ids.iter().filter_map(|id| node_entry(shared, &registry, id)).collect();
    // Connected first, then by name.
    nodes.sort_by_key(|n| (n["connected"] != json!(true), n["displayName"].as_str().unwrap_or("").to_lowercase()));
    Ok(json!({"ts": openclaw_state::now_ms(), "nodes": nodes}))
}

fn node_describe(call: &Call<'_>) -> Result<Value, ErrorShape> {
    let node_id = call.node_id_param()?;
    let registry = call.shared.registry();
    let mut entry = node_entry(call.shared, &registry, &node_id).ok_or_else(|| invalid("unknown nodeId"))?;
    entry["ts"] = json!(openclaw_state::now_ms());
    Ok(entry)
}

fn node_rename(call: &Call<'_>) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> =
        LazyLock::new(|| obj(vec![req("nodeId", non_empty()), req("displayName", non_empty())]));
    call.check(&SHAPE)?;
    let (shared, p) = (call.shared, call.params);
    let node_id = p["nodeId"].as_str().unwrap_or_default().trim();
    let name = p["displayName"].as_str().unwrap_or_default().trim();
    if name.is_empty() {
        return Err(invalid("displayName required"));
    }
    shared.pairing().rename_node(node_id, name).map_err(pairing_error)?;
    if let Some(n) = shared.registry().node_mut(node_id).and_then(|c| c.node.as_mut()) {
        n.display_name = Some(name.to_string());
    }
    Ok(json!({"nodeId": node_id, "displayName": name}))
}
