//! The gateway side of the file-transfer commands (`file.stat`, `file.fetch`, `dir.list`,
//! `dir.fetch`, `file.write`, `file.create`), as upstream's bundled `file-transfer` plugin runs
//! it (`node-commands.md` §A3–A8 "Gateway policy"): the node has no policy of its own, so every
//! call is decided here by the path policy in `plugins.entries.file-transfer.config` (deny by
//! default), then preflighted on the node and bound to the canonical path and filesystem
//! identity the node reported, so that what runs is what was authorised.
//!
//! - [`policy`]: the pure rules (policy evaluation, param checks and clamping).
//! - [`glob`]: minimatch's matching with `dot: true`, for the path globs.
//! - [`flow`]: the preflight / bound-invoke orchestration, archive verification and audit,
//!   over a [`flow::NodeLink`].
//!
//! This module wires the flow to the gateway: the node is reached through
//! [`crate::methods::send_invoke`], and audit records go to the gateway's audit table
//! (`audit.list`, event `file-transfer`).
//!
//! Operator prompts (`ask: "on-miss"` / `"always"`, a moved literal grant) are plugin
//! approvals ([`crate::methods::ask_plugin_approval`], `plugin.approval.requested`) shown to
//! the operators who may see the caller's approvals. An `allow-always` saves a literal grant in
//! the gateway's database (`file-transfer-grant` records), not in `openclaw.json` as upstream
//! does: this gateway reads its config once at start. The saved grants are added to the
//! configured `literalGrants` on every call ([`effective_config`]).

pub mod flow;
pub mod glob;
pub mod policy;

use serde_json::{json, Value};

pub use policy::COMMANDS;

use crate::methods::{send_invoke, Asker, InvokeCall, SendFailure, DEFAULT_PLUGIN_TIMEOUT_MS};
use crate::store::Kind as StoreKind;
use crate::Shared;

/// The store key of a saved grant: one per node, command and requested path (a new
/// `allow-always` replaces the previous canonical path, as upstream's config update does).
fn grant_key(node_id: &str, command: &str, requested: &str) -> String {
    serde_json::to_string(&[node_id, command, requested]).expect("strings serialise")
}

/// The configured policy plus the grants saved by `allow-always`: the saved grants join
/// `literalGrants` (switching the policy to `policyVersion: 2`, as upstream's update does) and
/// drop the pending reapprovals they answered. `None` when nothing is configured or saved.
/// A policy that still needs migration is left as it is (upstream refuses to save into it).
pub fn effective_config(configured: Option<&Value>, saved: Vec<Value>) -> Option<Value> {
    if saved.is_empty() || configured.is_some_and(policy::needs_migration) {
        return configured.cloned();
    }
    let mut config = configured.filter(|c| c.is_object()).cloned().unwrap_or_else(|| json!({}));
    config["policyVersion"] = json!(2);
    let mut grants: Vec<Value> = config.get("literalGrants").and_then(Value::as_array).cloned().unwrap_or_default();
    for grant in saved {
        grants.retain(|g| {
            g.get("nodeId") != grant.get("nodeId")
                || g.get("command") != grant.get("command")
                || g.get("requestedPath") != grant.get("requestedPath")
        });
        if let Some(pending) = config.get_mut("pendingReapprovals").and_then(Value::as_array_mut) {
            let kind = match grant["command"].as_str() {
                Some("file.write" | "file.create") => "write",
                _ => "read",
            };
            pending.retain(|p| {
                p.get("kind").and_then(Value::as_str) != Some(kind)
                    || p.get("path") != grant.get("requestedPath")
                    || p.get("selector") != grant.get("pendingSelector").filter(|s| s.is_string())
            });
        }
        let mut literal = grant;
        if let Some(map) = literal.as_object_mut() {
            map.remove("pendingSelector");
        }
        grants.push(literal);
    }
    config["literalGrants"] = Value::Array(grants);
    Some(config)
}

/// The gateway's [`flow::NodeLink`]: each invoke is a `node.invoke.request` to the same node
/// with the caller's deadline (shared by the preflight and the bound call).
struct GatewayLink<'a> {
    shared: &'a Shared,
    call: &'a InvokeCall<'a>,
    deadline: tokio::time::Instant,
    dispatched: bool,
}

impl flow::NodeLink for GatewayLink<'_> {
    async fn invoke(&mut self, params: Value) -> Result<(Value, Option<String>), flow::NodeError> {
        let remaining = self.deadline.saturating_duration_since(tokio::time::Instant::now());
        let call = InvokeCall { params: Some(&params), timeout_ms: remaining.as_millis() as u64, ..*self.call };
        match send_invoke(self.shared, &call).await {
            Ok(answer) => {
                self.dispatched = true;
                Ok(answer)
            }
            Err(failure) => {
                if !matches!(failure, SendFailure::NotConnected) {
                    self.dispatched = true;
                }
                let (code, message) = failure.code_and_message(call.command);
                Err(flow::NodeError { code, message })
            }
        }
    }

    fn dispatched(&self) -> bool {
        self.dispatched
    }

    fn audit(&mut self, record: Value) {
        let mut record = record;
        record["timestamp"] = Value::String(iso_now());
        tracing::info!("file-transfer audit {record}");
        if let Err(e) = self.shared.pairing().store().append_exec_event(self.call.node_id, "file-transfer", &record) {
            tracing::warn!("could not record a file-transfer decision for node {}: {e}", self.call.node_id);
        }
    }

    async fn approve(&mut self, prompt: flow::Prompt) -> Option<String> {
        let Some(conn_id) = self.call.caller_conn else {
            // No operator connection asked (an internal call): nobody's approvals to show it to.
            return None;
        };
        let device_id =
            self.shared.registry().operators().find(|c| c.conn_id == conn_id).and_then(|c| c.device_id.clone());
        let asker = Asker { device_id, conn_id: conn_id.to_string() };
        let request = json!({
            "pluginId": "file-transfer",
            "title": truncate_utf16(&prompt.title, 80),
            "description": truncate_utf16(&prompt.description, 256),
            "severity": prompt.severity,
            "toolName": prompt.tool_name,
            "toolCallId": null,
            "nodeId": self.call.node_id,
            "sessionKey": self.call.session_key,
            "runId": null,
        });
        let (record, decision) =
            crate::methods::ask_plugin_approval(self.shared, request, &asker, DEFAULT_PLUGIN_TIMEOUT_MS).await;
        tracing::info!(
            "file-transfer approval {} for {} on node {}: {}",
            record.id,
            prompt.tool_name,
            self.call.node_id,
            decision.as_deref().unwrap_or("no decision")
        );
        decision
    }

    fn persist_grant(&mut self, grant: &flow::Grant) -> Result<(), String> {
        let value = json!({
            "nodeId": grant.node_id,
            "command": grant.command,
            "requestedPath": grant.requested_path,
            "canonicalPath": grant.canonical_path,
            "pendingSelector": grant.pending_selector,
        });
        let key = grant_key(&grant.node_id, &grant.command, &grant.requested_path);
        self.shared.pairing().store().put(StoreKind::FileTransferGrant, &key, &value).map_err(|e| e.to_string())
    }
}

/// `truncateUtf16Safe`: at most `max` UTF-16 code units, never splitting a character (the
/// limits upstream puts on a node policy's prompt title and description).
fn truncate_utf16(text: &str, max: usize) -> String {
    let mut units = 0;
    text.chars()
        .take_while(|c| {
            units += c.len_utf16();
            units <= max
        })
        .collect()
}

/// The current time as `new Date().toISOString()` writes it.
fn iso_now() -> String {
    let ms = openclaw_state::now_ms();
    // `…T12:00:00Z` with the milliseconds, as JavaScript's `toISOString`.
    let seconds = openclaw_state::utc_timestamp(ms);
    format!("{}.{:03}Z", seconds.trim_end_matches('Z'), ms.rem_euclid(1000))
}

/// Runs a file-transfer `node.invoke` (the command is on the node's allowlist already):
/// `(payload, payloadJSON)`, or upstream's refusal.
pub async fn handle(
    shared: &Shared,
    call: &InvokeCall<'_>,
    display_name: Option<&str>,
) -> Result<(Value, Option<String>), openclaw_protocol::ErrorShape> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(call.timeout_ms);
    let mut link = GatewayLink { shared, call, deadline, dispatched: false };
    let saved = match shared.pairing().store().load::<Value>(StoreKind::FileTransferGrant) {
        Ok(saved) => saved,
        Err(e) => {
            // Fail closed to the configured policy: a grant we cannot read allows nothing.
            tracing::warn!("could not read saved file-transfer grants: {e}");
            Vec::new()
        }
    };
    let config = effective_config(shared.config.file_transfer.as_ref(), saved);
    let ctx = flow::Context { node_id: call.node_id, display_name, config: config.as_ref() };
    let command = call.command.trim();
    match flow::run(&mut link, ctx, command, call.params).await {
        Ok(answer) => Ok(answer),
        Err(refusal) => {
            let dispatched = flow::NodeLink::dispatched(&link);
            Err(refusal.into_error(dispatched))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_time_has_the_javascript_shape() {
        let t = super::iso_now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z') && &t[10..11] == "T", "{t}");
    }

    #[test]
    fn prompt_texts_are_cut_on_utf16_units() {
        assert_eq!(super::truncate_utf16("abcdef", 4), "abcd");
        assert_eq!(super::truncate_utf16("ab😀c", 3), "ab");
        assert_eq!(super::truncate_utf16("ab😀c", 4), "ab😀");
        assert_eq!(super::truncate_utf16("ab", 80), "ab");
    }

    /// Saved grants join the configured ones (replacing one for the same node, command and
    /// path), switch the policy to version 2, and clear the pending reapproval they answered.
    #[test]
    fn saved_grants_join_the_configured_policy() {
        use serde_json::json;
        assert_eq!(super::effective_config(None, vec![]), None);
        let configured = json!({
            "nodes": {"*": {"ask": "on-miss"}},
            "literalGrants": [
                {"nodeId": "n1", "command": "file.stat", "requestedPath": "/a", "canonicalPath": "/old"},
                {"nodeId": "n1", "command": "file.fetch", "requestedPath": "/a", "canonicalPath": "/a"}
            ],
            "pendingReapprovals": [{"selector": "s", "kind": "read", "path": "/a"}, {"selector": "s", "kind": "write", "path": "/a"}]
        });
        let saved = vec![
            json!({"nodeId": "n1", "command": "file.stat", "requestedPath": "/a", "canonicalPath": "/new", "pendingSelector": "s"}),
        ];
        let config = super::effective_config(Some(&configured), saved).unwrap();
        assert_eq!(config["policyVersion"], 2);
        assert_eq!(
            config["literalGrants"],
            json!([
                {"nodeId": "n1", "command": "file.fetch", "requestedPath": "/a", "canonicalPath": "/a"},
                {"nodeId": "n1", "command": "file.stat", "requestedPath": "/a", "canonicalPath": "/new"}
            ])
        );
        assert_eq!(config["pendingReapprovals"], json!([{"selector": "s", "kind": "write", "path": "/a"}]));
        let legacy = json!({"nodes": {"*": {"allowReadPaths": ["/x/**"]}}});
        let grant = json!({"nodeId": "n1", "command": "file.stat", "requestedPath": "/a", "canonicalPath": "/a"});
        assert_eq!(super::effective_config(Some(&legacy), vec![grant]), Some(legacy));
    }
}
