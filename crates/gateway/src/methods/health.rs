//! `health` and `status`: is the gateway up, and how many are connected.
//!
//! Both answer the same snapshot (upstream's `status` is a superset we do not need yet).

use openclaw_protocol::methods::Health;
use openclaw_protocol::ErrorShape;
use serde_json::Value;

use super::{reply, Access, Call, Handler, Method, SCOPE_READ};

/// `health` and `status`.
pub(super) const METHODS: &[Method] = &[
    Method { name: "health", access: Access::Operator(SCOPE_READ), handler: Handler::Sync(health) },
    Method { name: "status", access: Access::Operator(SCOPE_READ), handler: Handler::Sync(health) },
];

fn health(call: &Call<'_>) -> Result<Value, ErrorShape> {
    let shared = call.shared;
    let registry = shared.registry();
    reply(Health {
        ok: true,
        ts: openclaw_state::now_ms(),
        uptime_ms: shared.started.elapsed().as_millis() as u64,
        connections: registry.len() as u64,
        nodes: registry.nodes().count() as u64,
    })
}
