//! `system.execApprovals.get` / `.set` (`exec.md` §8): the node's approvals document, with
//! the socket token redacted and compare-and-swap on `baseHash`.

use std::sync::Arc;

use openclaw_exec::approvals::{self, DISPLAY_PATH};
use openclaw_protocol::node::InvokeError;
use openclaw_state::exec_approvals::{hash_of, CasError};
use serde_json::{json, Value};

use crate::invoke::{invalid_request, CommandFuture, InvokeContext, NodeCommand, NodeServices};

/// The approvals document as stored: raw text (if any) and its normalised tree.
pub(crate) struct Snapshot {
    pub raw: Option<String>,
    pub doc: Value,
}

/// Reads and normalises the stored document. A malformed row is an error (callers fail closed).
pub(crate) fn read_snapshot(services: &NodeServices) -> Result<Snapshot, InvokeError> {
    let raw = services
        .db()
        .exec_approvals_raw()
        .map_err(|e| InvokeError::new("UNAVAILABLE", format!("ExecApprovalsStoreUnavailableError: {e}")))?;
    let doc = match &raw {
        Some(text) => {
            let parsed: Value = serde_json::from_str(text)
                .map_err(|e| InvokeError::new("UNAVAILABLE", format!("Error: exec approvals row is malformed: {e}")))?;
            approvals::normalize(&parsed).map_err(|e| InvokeError::new("UNAVAILABLE", format!("Error: {e}")))?
        }
        None => approvals::normalize(&json!({})).expect("the empty document is valid"),
    };
    Ok(Snapshot { raw, doc })
}

fn socket_path(services: &NodeServices) -> String {
    services.paths.join("exec-approvals.sock").to_string_lossy().into_owned()
}

fn display_path(services: &NodeServices) -> String {
    let default = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".openclaw"));
    if default.as_deref() == Some(services.paths.state_dir.as_path()) {
        DISPLAY_PATH.to_string()
    } else {
        format!("{}#exec_approvals_config", services.paths.database().display())
    }
}

pub(crate) fn write(services: &NodeServices, doc: &Value, base_hash: &str) -> Result<String, CasError> {
    let raw = approvals::serialize(doc);
    services.db().write_exec_approvals(&raw, base_hash)?;
    Ok(raw)
}

fn store_error(e: CasError) -> InvokeError {
    match e {
        CasError::Changed => {
            InvokeError::new("INVALID_REQUEST", "INVALID_REQUEST: exec approvals changed; reload and retry")
        }
        CasError::State(e) => InvokeError::new("UNAVAILABLE", format!("ExecApprovalsStoreUnavailableError: {e}")),
    }
}

/// `system.execApprovals.get`.
pub struct ExecApprovalsGet(pub Arc<NodeServices>);

impl NodeCommand for ExecApprovalsGet {
    fn name(&self) -> &'static str {
        "system.execApprovals.get"
    }

    fn cap(&self) -> &'static str {
        "system"
    }

    fn params_optional(&self) -> bool {
        true
    }

    fn run(&self, _ctx: InvokeContext, params: Value) -> CommandFuture {
        let services = self.0.clone();
        Box::pin(async move {
            let include_defaults = match &params {
                Value::Null => false,
                Value::Object(m) => match m.get("includeResolvedDefaults") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(invalid_request("includeResolvedDefaults must be boolean")),
                },
                _ => return Err(invalid_request("includeResolvedDefaults must be boolean")),
            };
            // Creating the socket path and token on first read is upstream's side effect.
            let mut snap = read_snapshot(&services)?;
            if approvals::ensure_socket(&mut snap.doc, &socket_path(&services)) || snap.raw.is_none() {
                match write(&services, &snap.doc, &hash_of(snap.raw.as_deref())) {
                    Ok(raw) => snap.raw = Some(raw),
                    Err(CasError::Changed) => snap = read_snapshot(&services)?,
                    Err(e) => return Err(store_error(e)),
                }
            }
            let mut reply = json!({
                "path": display_path(&services),
                "exists": snap.raw.is_some(),
                "hash": hash_of(snap.raw.as_deref()),
                "file": approvals::redact(&snap.doc),
            });
            if include_defaults {
                reply["resolvedDefaults"] = approvals::resolve_defaults(&snap.doc);
            }
            Ok(reply)
        })
    }
}

/// `system.execApprovals.set`.
pub struct ExecApprovalsSet(pub Arc<NodeServices>);

impl NodeCommand for ExecApprovalsSet {
    fn name(&self) -> &'static str {
        "system.execApprovals.set"
    }

    fn cap(&self) -> &'static str {
        "system"
    }

    fn run(&self, _ctx: InvokeContext, params: Value) -> CommandFuture {
        let services = self.0.clone();
        Box::pin(async move {
            let Some(file) = params.get("file").filter(|f| f.is_object()) else {
                return Err(invalid_request("exec approvals file required"));
            };
            let mut incoming = approvals::normalize(file).map_err(|e| invalid_request(&e.to_string()))?;
            let current = read_snapshot(&services)?;
            let current_hash = hash_of(current.raw.as_deref());
            let base_hash = params.get("baseHash").and_then(Value::as_str).map(str::trim).filter(|h| !h.is_empty());
            match (current.raw.is_some(), base_hash) {
                (true, None) => return Err(invalid_request("exec approvals base hash required; reload and retry")),
                (_, Some(h)) if h != current_hash => {
                    return Err(invalid_request("exec approvals changed; reload and retry"))
                }
                _ => {}
            }
            approvals::merge_socket(&mut incoming, current.raw.as_ref().map(|_| &current.doc));
            approvals::ensure_socket(&mut incoming, &socket_path(&services));
            let raw = write(&services, &incoming, &current_hash).map_err(store_error)?;
            Ok(json!({
                "path": display_path(&services),
                "exists": true,
                "hash": hash_of(Some(&raw)),
                "file": approvals::redact(&incoming),
            }))
        })
    }
}
