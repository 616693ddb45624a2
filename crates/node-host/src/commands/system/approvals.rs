//! `system.execApprovals.get` / `.set` (`exec.md` §8): the node's approvals document, with
//! the socket token redacted and compare-and-swap on `baseHash`.
//!
//! Reading and writing the document is [`NodeServices`]' job (`system.run` edits the same
//! document); this module adds what only these two commands do: the display path, the
//! socket fields, the `baseHash` rules and their error texts.

use std::sync::Arc;

use openclaw_exec::approvals::{self, DISPLAY_PATH};
use openclaw_protocol::node::InvokeError;
use openclaw_state::exec_approvals::{hash_of, CasError};
use serde_json::{json, Value};

use crate::invoke::{Command, InvokeContext};
use crate::offload::{off_thread, Lane};
use crate::params::{thrown_invalid_request, FromParams, Params};
use crate::services::NodeServices;

fn display_path(services: &NodeServices) -> String {
    let default = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".openclaw"));
    if default.as_deref() == Some(services.paths.state_dir.as_path()) {
        DISPLAY_PATH.to_string()
    } else {
        format!("{}#exec_approvals_config", services.paths.database().display())
    }
}

fn store_error(e: CasError) -> InvokeError {
    match e {
        CasError::Changed => InvokeError::invalid_request("INVALID_REQUEST: exec approvals changed; reload and retry"),
        CasError::State(e) => InvokeError::unavailable(format!("ExecApprovalsStoreUnavailableError: {e}")),
    }
}

/// `system.execApprovals.get`.
#[derive(Clone)]
pub struct ExecApprovalsGet(pub Arc<NodeServices>);

/// The params of `system.execApprovals.get` (optional: `null` asks for the plain document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetParams {
    /// `includeResolvedDefaults`: also return the defaults each agent resolves to.
    pub include_resolved_defaults: bool,
}

impl FromParams for GetParams {
    const OPTIONAL: bool = true;

    fn from_params(params: Params) -> Result<Self, InvokeError> {
        let include_resolved_defaults = params.optional_bool("includeResolvedDefaults", || {
            thrown_invalid_request("includeResolvedDefaults must be boolean")
        })?;
        Ok(GetParams { include_resolved_defaults })
    }
}

impl Command for ExecApprovalsGet {
    const NAME: &'static str = "system.execApprovals.get";
    const CAP: &'static str = "system";
    type Params = GetParams;

    async fn run(&self, _ctx: InvokeContext, params: GetParams) -> Result<Value, InvokeError> {
        let services = self.0.clone();
        off_thread(Lane::Policy, "reading exec approvals", move || get(&services, params))
            .await
            .map_err(|e| InvokeError::unavailable(e.to_string()))?
    }
}

/// The document as stored (created on first read), redacted. Blocking: database I/O.
fn get(services: &NodeServices, params: GetParams) -> Result<Value, InvokeError> {
    // Creating the socket path and token on first read is upstream's side effect.
    // The row is also rewritten when its text is not the canonical form of what it reads as
    // (upstream's `ensureExecApprovalsSnapshot`): a row that reads as the fail-closed fallback
    // becomes that fallback.
    let mut snap = services.read_approvals()?;
    let socket_added = approvals::ensure_socket(&mut snap.doc, &services.approvals_socket_path());
    if socket_added || snap.raw.as_deref() != Some(approvals::serialize(&snap.doc).as_str()) {
        match services.write_approvals(&snap.doc, &hash_of(snap.raw.as_deref())) {
            Ok(raw) => {
                snap.doc = approvals::parse_stored(&raw);
                snap.raw = Some(raw);
            }
            Err(CasError::Changed) => snap = services.read_approvals()?,
            Err(e) => return Err(store_error(e)),
        }
    }
    let mut reply = json!({
        "path": display_path(services),
        "exists": snap.raw.is_some(),
        "hash": hash_of(snap.raw.as_deref()),
        "file": approvals::redact(&snap.doc),
    });
    if params.include_resolved_defaults {
        reply["resolvedDefaults"] = approvals::resolve_defaults(&snap.doc);
    }
    Ok(reply)
}

/// The largest approvals document `system.execApprovals.set` accepts (serialised): room for
/// thousands of allowlist entries.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// `system.execApprovals.set`.
#[derive(Clone)]
pub struct ExecApprovalsSet(pub Arc<NodeServices>);

/// The params of `system.execApprovals.set`.
#[derive(Debug, Clone, PartialEq)]
pub struct SetParams {
    /// The new document, already normalised.
    pub file: Value,
    /// `baseHash`, trimmed: the hash of the document the caller edited.
    pub base_hash: Option<String>,
}

impl FromParams for SetParams {
    fn from_params(params: Params) -> Result<Self, InvokeError> {
        // `typeof file === "object"`: an array is a document too (with no fields).
        let Some(file) = params.get("file").filter(|f| f.is_object() || f.is_array()) else {
            return Err(thrown_invalid_request("exec approvals file required"));
        };
        // Every system.run matches against the document: keep it to a size that costs
        // microseconds, not seconds.
        let size = serde_json::to_string(file).map(|t| t.len()).unwrap_or(usize::MAX);
        if size > MAX_DOCUMENT_BYTES {
            return Err(thrown_invalid_request(&format!(
                "exec approvals file too large ({size} bytes; at most {MAX_DOCUMENT_BYTES})"
            )));
        }
        let file = approvals::normalize(file).map_err(|e| match e {
            approvals::InvalidDocument::Refused(_) => thrown_invalid_request(&e.to_string()),
            approvals::InvalidDocument::TypeError(_) => InvokeError::invalid_request(e.to_string()),
        })?;
        Ok(SetParams { file, base_hash: params.trimmed("baseHash") })
    }
}

impl Command for ExecApprovalsSet {
    const NAME: &'static str = "system.execApprovals.set";
    const CAP: &'static str = "system";
    type Params = SetParams;

    async fn run(&self, _ctx: InvokeContext, params: SetParams) -> Result<Value, InvokeError> {
        let services = self.0.clone();
        off_thread(Lane::Policy, "writing exec approvals", move || set(&services, params))
            .await
            .map_err(|e| InvokeError::unavailable(e.to_string()))?
    }
}

/// Compare-and-swap write of a new document. Blocking: database I/O.
fn set(services: &NodeServices, params: SetParams) -> Result<Value, InvokeError> {
    let mut incoming = params.file;
    let current = services.read_approvals()?;
    let current_hash = hash_of(current.raw.as_deref());
    match (current.raw.is_some(), params.base_hash.as_deref()) {
        (true, None) => return Err(thrown_invalid_request("exec approvals base hash required; reload and retry")),
        (_, Some(h)) if h != current_hash => {
            return Err(thrown_invalid_request("exec approvals changed; reload and retry"))
        }
        _ => {}
    }
    approvals::merge_socket(&mut incoming, current.raw.as_ref().map(|_| &current.doc));
    approvals::ensure_socket(&mut incoming, &services.approvals_socket_path());
    let raw = services.write_approvals(&incoming, &current_hash).map_err(store_error)?;
    // The reply is the document as it reads back (the persisted schema may reject what the
    // normaliser let through, and then it reads as the fail-closed fallback).
    Ok(json!({
        "path": display_path(services),
        "exists": true,
        "hash": hash_of(Some(&raw)),
        "file": approvals::redact(&approvals::parse_stored(&raw)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message<T: std::fmt::Debug>(r: Result<T, InvokeError>) -> String {
        r.unwrap_err().message
    }

    #[test]
    fn get_params_are_optional_and_strictly_boolean() {
        const { assert!(<GetParams as FromParams>::OPTIONAL && !<SetParams as FromParams>::OPTIONAL) };
        let decode = |v: Value| GetParams::from_params(Params::new(v));
        assert_eq!(decode(Value::Null).unwrap(), GetParams { include_resolved_defaults: false });
        assert!(!decode(json!({"includeResolvedDefaults": null})).unwrap().include_resolved_defaults);
        assert!(decode(json!({"includeResolvedDefaults": true})).unwrap().include_resolved_defaults);
        for bad in [json!({"includeResolvedDefaults": "yes"}), json!("x")] {
            assert_eq!(message(decode(bad)), "Error: INVALID_REQUEST: includeResolvedDefaults must be boolean");
        }
    }

    #[test]
    fn set_params_need_an_object_file_and_trim_the_base_hash() {
        let decode = |v: Value| SetParams::from_params(Params::new(v));
        assert_eq!(message(decode(json!({"file": "{}"}))), "Error: INVALID_REQUEST: exec approvals file required");
        let p = decode(json!({"file": {}, "baseHash": "  abc "})).unwrap();
        assert_eq!(p.base_hash.as_deref(), Some("abc"));
        assert_eq!(decode(json!({"file": {}, "baseHash": " "})).unwrap().base_hash, None);
        let huge = json!({"file": {"version": 1, "defaults": {"security": "allowlist"},
            "agents": {"*": {"allowlist": [{"pattern": "x".repeat(MAX_DOCUMENT_BYTES)}]}}}});
        assert!(message(decode(huge)).starts_with("Error: INVALID_REQUEST: exec approvals file too large ("));
    }
}
