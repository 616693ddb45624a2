//! `audit.list`: the exec events nodes reported (`exec.started|finished|denied`) and the
//! gateway's own file-transfer decisions (event `file-transfer`), newest first, from the
//! gateway's store. Admin only: the events carry command lines and paths.

use openclaw_protocol::methods::AuditList;
use openclaw_protocol::{ErrorCode, ErrorShape};
use serde_json::Value;

use super::{reply, Access, Call, Handler, Method};
use crate::pairing::SCOPE_ADMIN;

/// `audit.list`.
pub(super) const METHODS: &[Method] =
    &[Method { name: "audit.list", access: Access::Operator(SCOPE_ADMIN), handler: Handler::Sync(audit_list) }];

fn audit_list(call: &Call<'_>) -> Result<Value, ErrorShape> {
    let limit = call.params.get("limit").and_then(Value::as_u64).unwrap_or(100).clamp(1, 10_000) as u32;
    let items = call
        .shared
        .pairing()
        .store()
        .exec_events(limit)
        .map_err(|e| ErrorShape::new(ErrorCode::Unavailable, e.to_string()))?;
    reply(AuditList { items })
}
