//! Exec approval records: how an operator approves one `system.run` plan on a node.
//!
//! The caller prepares a plan on the node (`system.run.prepare`), registers it here with
//! `exec.approval.request`, an operator resolves it (`exec.approval.resolve`), and the caller
//! then invokes `system.run` with `runId` = the approval id. The gateway, never the caller,
//! attaches `approved`/`approvalDecision` and replaces the command with the approved plan
//! ([`ApprovalBook::authorize_system_run`]), which closes upstream's #8682 bypass class.
//! An `allow-once` approval is consumed by its first run; resolved records are dropped
//! [`RESOLVED_GRACE_MS`] after resolution, pending ones at their expiry.

mod error;
mod system_run;

pub use error::ApprovalError;

use std::collections::HashMap;

use openclaw_protocol::methods::{ApprovalDecision, ApprovalWaited};
use serde_json::{json, Map, Value};
use sha2::Digest;
use tokio::sync::watch;

use crate::pairing::SCOPE_APPROVALS;
use crate::pairing::{has_scope, SCOPE_ADMIN};
use crate::registry::{Outbox, Registry};
use crate::Shared;

/// Default lifetime of a pending approval (30 minutes).
pub const DEFAULT_TIMEOUT_MS: i64 = 1_800_000;
/// How long a resolved record stays usable.
pub const RESOLVED_GRACE_MS: i64 = 15_000;
/// The decisions an operator can take.
pub const DECISIONS: &[&str] = &["allow-once", "allow-always", "deny"];

/// Which family an approval record belongs to: exec records answer `exec.approval.*`, plugin
/// records (`plugin:` ids, e.g. the file-transfer policy's prompts) answer `plugin.approval.*`.
/// A record of one family is invisible to the other family's methods, so a plugin approval can
/// never authorise a `system.run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalKind {
    /// `exec.approval.*`.
    Exec,
    /// `plugin.approval.*`.
    Plugin,
}

impl ApprovalKind {
    /// The wire name (`approvalKind`, event prefix).
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalKind::Exec => "exec",
            ApprovalKind::Plugin => "plugin",
        }
    }
}

/// One approval record.
#[derive(Debug, Clone)]
pub struct ApprovalRecord {
    /// The approval id (caller-chosen or a UUID; `plugin:<uuid>` for plugin records).
    pub id: String,
    /// Its family.
    pub kind: ApprovalKind,
    /// The `request` object operators see.
    pub request: Value,
    /// The node the plan would run on.
    pub node_id: String,
    /// The prepared `systemRunPlan` the approval binds.
    pub plan: Value,
    /// Hash of the requested environment, bound like the plan.
    pub env_hash: Option<String>,
    /// When it was registered.
    pub created_at_ms: i64,
    /// When it expires undecided.
    pub expires_at_ms: i64,
    /// Who asked: their device, else their connection.
    pub requested_by_device: Option<String>,
    /// The connection that asked (matters when it had no device).
    pub requested_by_conn: String,
    /// `allow-once`, `allow-always` or `deny` once decided.
    pub decision: Option<String>,
    /// When it was decided.
    pub resolved_at_ms: Option<i64>,
    /// `user` or `timeout` once decided.
    pub terminal_reason: Option<&'static str>,
    /// An `allow-once` approval that already ran.
    pub consumed: bool,
    /// Wakes waiters when the record is decided.
    pub decided: watch::Sender<bool>,
}

impl ApprovalRecord {
    /// `{id, decision, createdAtMs, expiresAtMs}` (the final answer of `exec.approval.request`).
    pub fn decision_payload(&self) -> ApprovalDecision {
        ApprovalDecision {
            id: self.id.clone(),
            decision: self.decision.clone(),
            created_at_ms: self.created_at_ms,
            expires_at_ms: self.expires_at_ms,
        }
    }

    /// The `exec.approval.waitDecision` answer.
    pub fn wait_payload(&self) -> ApprovalWaited {
        ApprovalWaited {
            id: self.id.clone(),
            decision: self.decision.clone(),
            created_at_ms: self.created_at_ms,
            expires_at_ms: self.expires_at_ms,
            terminal_reason: self.terminal_reason.map(String::from),
        }
    }

    /// Whether a caller may see this record (admins see all).
    pub fn visible_to(&self, caller: &Caller) -> bool {
        caller.admin
            || match &self.requested_by_device {
                Some(d) => caller.device_id.as_deref() == Some(d.as_str()),
                None => caller.conn_id == self.requested_by_conn,
            }
    }
}

/// The operator calling an approval method.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The calling connection.
    pub conn_id: String,
    /// Its paired device, if any.
    pub device_id: Option<String>,
    /// Holds `operator.admin` (sees and decides every record).
    pub admin: bool,
    /// Shown as `resolvedBy`.
    pub name: String,
}

/// All approval records of this gateway run (they do not survive a restart, as upstream).
#[derive(Default)]
pub struct ApprovalBook {
    records: HashMap<String, ApprovalRecord>,
}

/// sha256 hex of the sorted `[key, value]` pairs of an env override map, `None` when empty.
pub fn env_hash(env: Option<&Value>) -> Option<String> {
    let map = env?.as_object()?;
    let mut entries: Vec<(String, String)> =
        map.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.trim().to_string(), v.to_string()))).collect();
    if entries.is_empty() {
        return None;
    }
    entries.sort();
    let text = serde_json::to_string(&entries).expect("pairs serialise");
    Some(openclaw_protocol::device_auth::hex(&sha2::Sha256::digest(text.as_bytes())))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id != "."
        && id != ".."
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

fn str_or_null(v: Option<&Value>) -> Value {
    match v.and_then(Value::as_str) {
        Some(s) => json!(s),
        None => Value::Null,
    }
}

impl ApprovalBook {
    /// Drops expired pending records (deciding them `null`/timeout) and stale resolved ones.
    pub fn sweep(&mut self, now: i64) -> Vec<ApprovalRecord> {
        let mut expired = Vec::new();
        for r in self.records.values_mut() {
            if r.decision.is_none() && r.terminal_reason.is_none() && now >= r.expires_at_ms {
                r.terminal_reason = Some("timeout");
                r.resolved_at_ms = Some(now);
                let _ = r.decided.send(true);
                expired.push(r.clone());
            }
        }
        self.records.retain(|_, r| r.resolved_at_ms.is_none_or(|t| now - t <= RESOLVED_GRACE_MS));
        expired
    }

    /// Ends a pending record undecided now (no one can answer it): waiters get `decision: null`.
    pub fn expire(&mut self, id: &str, now: i64) {
        if let Some(r) = self.records.get_mut(id).filter(|r| r.decision.is_none() && r.terminal_reason.is_none()) {
            r.terminal_reason = Some("no-approval-route");
            r.resolved_at_ms = Some(now);
            let _ = r.decided.send(true);
        }
    }

    /// Registers a `host:"node"` request. `params` were schema-checked by the caller.
    pub fn request(
        &mut self,
        params: &Map<String, Value>,
        caller: &Caller,
        now: i64,
    ) -> Result<ApprovalRecord, ApprovalError> {
        self.sweep(now);
        let host = params.get("host").and_then(Value::as_str).unwrap_or("node");
        if host != "node" {
            return Err(ApprovalError::UnsupportedHost);
        }
        let node_id = params.get("nodeId").and_then(Value::as_str).filter(|s| !s.trim().is_empty());
        let node_id = node_id.ok_or(ApprovalError::MissingNodeId)?;
        let plan = params.get("systemRunPlan").filter(|p| p.is_object()).ok_or(ApprovalError::MissingPlan)?;
        let argv = plan.get("argv").and_then(Value::as_array).filter(|a| !a.is_empty());
        let command_text = plan.get("commandText").and_then(Value::as_str).filter(|s| !s.is_empty());
        let (Some(argv), Some(command_text)) = (argv, command_text) else {
            return Err(ApprovalError::MissingCommand);
        };
        let id = match params.get("id").and_then(Value::as_str) {
            Some(id) if id.starts_with("plugin:") => return Err(ApprovalError::ReservedId),
            Some(id) if !valid_id(id) => return Err(ApprovalError::InvalidId),
            Some(id) => id.to_string(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        if self.records.contains_key(&id) {
            return Err(ApprovalError::AlreadyPending);
        }
        let timeout = params.get("timeoutMs").and_then(Value::as_i64).unwrap_or(DEFAULT_TIMEOUT_MS);
        let pick = |key: &str| match plan.get(key).filter(|v| !v.is_null()) {
            Some(v) => v.clone(),
            None => str_or_null(params.get(key)),
        };
        let (cwd, agent_id, session_key) = (pick("cwd"), pick("agentId"), pick("sessionKey"));
        let env_hash = env_hash(params.get("env"));
        let ask = params.get("ask").and_then(Value::as_str);
        let mut allowed: Vec<&str> = DECISIONS.to_vec();
        let unavailable = params.get("unavailableDecisions").and_then(Value::as_array);
        if ask == Some("always") || unavailable.is_some_and(|u| u.iter().any(|d| d == "allow-always")) {
            allowed.retain(|d| *d != "allow-always");
        }
        let request = json!({
            "command": command_text,
            "systemRunBinding": {"argv": argv, "cwd": cwd, "agentId": agent_id, "sessionKey": session_key, "envHash": env_hash},
            "systemRunPlan": plan,
            "cwd": cwd,
            "nodeId": node_id,
            "host": "node",
            "security": str_or_null(params.get("security")),
            "ask": str_or_null(params.get("ask")),
            "allowedDecisions": allowed,
            "agentId": agent_id,
            "sessionKey": session_key,
            "runId": str_or_null(params.get("runId")),
        });
        let record = ApprovalRecord {
            id: id.clone(),
            kind: ApprovalKind::Exec,
            request,
            node_id: node_id.to_string(),
            plan: plan.clone(),
            env_hash,
            created_at_ms: now,
            expires_at_ms: now + timeout,
            requested_by_device: caller.device_id.clone(),
            requested_by_conn: caller.conn_id.clone(),
            decision: None,
            resolved_at_ms: None,
            terminal_reason: None,
            consumed: false,
            decided: watch::channel(false).0,
        };
        self.records.insert(id, record.clone());
        Ok(record)
    }

    /// Registers a plugin approval (`plugin.approval.request`, or a gateway-side plugin policy
    /// such as file transfer): `request` is the object operators see (`title`, `description`,
    /// `severity`, `toolName`, …); the id is `plugin:<uuid>`, a prefix exec callers may not use.
    pub fn request_plugin(
        &mut self,
        mut request: Value,
        requested_by_device: Option<String>,
        requested_by_conn: &str,
        timeout_ms: i64,
        now: i64,
    ) -> ApprovalRecord {
        self.sweep(now);
        let id = format!("plugin:{}", uuid::Uuid::new_v4());
        if request.get("allowedDecisions").is_none() {
            request["allowedDecisions"] = json!(DECISIONS);
        }
        let record = ApprovalRecord {
            id: id.clone(),
            kind: ApprovalKind::Plugin,
            node_id: request.get("nodeId").and_then(Value::as_str).unwrap_or_default().to_string(),
            request,
            plan: Value::Null,
            env_hash: None,
            created_at_ms: now,
            expires_at_ms: now + timeout_ms,
            requested_by_device,
            requested_by_conn: requested_by_conn.to_string(),
            decision: None,
            resolved_at_ms: None,
            terminal_reason: None,
            consumed: false,
            decided: watch::channel(false).0,
        };
        self.records.insert(id, record.clone());
        record
    }

    /// The decision on a record (`None` while pending, when it expired undecided, or once it is
    /// gone): what the gateway's own prompts act on.
    pub fn decision_of(&self, id: &str) -> Option<String> {
        self.records.get(id).and_then(|r| r.decision.clone())
    }

    /// An exec record the caller may see, by exact id or a unique prefix of a pending id.
    pub fn find(&mut self, id: &str, caller: &Caller, now: i64) -> Result<ApprovalRecord, ApprovalError> {
        self.find_of(ApprovalKind::Exec, id, caller, now)
    }

    /// A record of `kind` the caller may see, by exact id or a unique prefix of a pending id.
    pub fn find_of(
        &mut self,
        kind: ApprovalKind,
        id: &str,
        caller: &Caller,
        now: i64,
    ) -> Result<ApprovalRecord, ApprovalError> {
        self.sweep(now);
        if let Some(r) = self.records.get(id).filter(|r| r.kind == kind && r.visible_to(caller)) {
            return Ok(r.clone());
        }
        let matches: Vec<&ApprovalRecord> = self
            .records
            .values()
            .filter(|r| r.kind == kind && r.decision.is_none() && r.id.starts_with(id) && r.visible_to(caller))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(ApprovalError::NotFound),
            _ => Err(ApprovalError::AmbiguousPrefix),
        }
    }

    /// Pending exec records the caller may see.
    pub fn pending(&mut self, caller: &Caller, now: i64) -> Vec<ApprovalRecord> {
        self.pending_of(ApprovalKind::Exec, caller, now)
    }

    /// Pending records of `kind` the caller may see.
    pub fn pending_of(&mut self, kind: ApprovalKind, caller: &Caller, now: i64) -> Vec<ApprovalRecord> {
        self.sweep(now);
        let mut v: Vec<ApprovalRecord> = self
            .records
            .values()
            .filter(|r| r.kind == kind && r.decision.is_none() && r.terminal_reason.is_none() && r.visible_to(caller))
            .cloned()
            .collect();
        v.sort_by_key(|r| r.created_at_ms);
        v
    }

    /// Records an operator's decision on an exec record.
    pub fn resolve(
        &mut self,
        id: &str,
        decision: &str,
        caller: &Caller,
        now: i64,
    ) -> Result<ApprovalRecord, ApprovalError> {
        self.resolve_of(ApprovalKind::Exec, id, decision, caller, now)
    }

    /// Records an operator's decision on a record of `kind`.
    pub fn resolve_of(
        &mut self,
        kind: ApprovalKind,
        id: &str,
        decision: &str,
        caller: &Caller,
        now: i64,
    ) -> Result<ApprovalRecord, ApprovalError> {
        if !DECISIONS.contains(&decision) {
            return Err(ApprovalError::InvalidDecision);
        }
        let found = self.find_of(kind, id, caller, now)?;
        let r = self.records.get_mut(&found.id).expect("found above");
        if let Some(previous) = &r.decision {
            if previous == decision {
                return Ok(r.clone());
            }
            return Err(ApprovalError::AlreadyResolved);
        }
        if r.terminal_reason == Some("timeout") {
            return Err(ApprovalError::AlreadyResolved);
        }
        let allowed = r.request["allowedDecisions"].as_array().is_some_and(|a| a.iter().any(|d| d == decision));
        if !allowed {
            return Err(ApprovalError::AllowAlwaysUnavailable);
        }
        r.decision = Some(decision.to_string());
        r.resolved_at_ms = Some(now);
        r.terminal_reason = Some("user");
        let _ = r.decided.send(true);
        Ok(r.clone())
    }
}

/// The outboxes of the operators who may see `record`: admins, and approvers of the device
/// (or connection) that asked. Plugin records go only to clients that present plugin prompts
/// ([`crate::registry::Client::plugin_approver`]), as upstream routes them.
pub(crate) fn visible_operators(
    registry: &Registry,
    record: &ApprovalRecord,
    exclude_conn: Option<&str>,
) -> Vec<Outbox> {
    registry
        .operators()
        .filter(|c| Some(c.conn_id.as_str()) != exclude_conn)
        .filter(|c| record.kind == ApprovalKind::Exec || c.plugin_approver)
        .filter(|c| {
            has_scope(&c.scopes, SCOPE_ADMIN)
                || (has_scope(&c.scopes, SCOPE_APPROVALS)
                    && match &record.requested_by_device {
                        Some(d) => c.device_id.as_deref() == Some(d.as_str()),
                        None => c.conn_id == record.requested_by_conn,
                    })
        })
        .map(|c| c.outbox.clone())
        .collect()
}

/// Tells operators about approvals that expired undecided (`decision: "deny"`, no resolver).
pub fn publish_expired_approvals(shared: &Shared, expired: &[ApprovalRecord]) {
    if expired.is_empty() {
        return;
    }
    let registry = shared.registry();
    for r in expired {
        let event = json!({"id": r.id, "decision": "deny", "resolvedBy": null, "ts": openclaw_state::now_ms(), "request": r.request});
        let name = format!("{}.approval.resolved", r.kind.as_str());
        for o in visible_operators(&registry, r, None) {
            o.send_broadcast(&name, event.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(dev: &str) -> Caller {
        Caller { conn_id: format!("c-{dev}"), device_id: Some(dev.into()), admin: false, name: "cli".into() }
    }

    fn plan() -> Value {
        json!({"argv": ["/usr/bin/echo", "hi"], "cwd": "/tmp", "commandText": "/usr/bin/echo hi", "agentId": null, "sessionKey": null})
    }

    fn request(book: &mut ApprovalBook, id: &str) -> ApprovalRecord {
        let params = json!({"id": id, "host": "node", "nodeId": "n1", "systemRunPlan": plan(), "timeoutMs": 60_000});
        book.request(params.as_object().unwrap(), &caller("d1"), 1_000).unwrap()
    }

    fn run_params(extra: Value) -> Map<String, Value> {
        let mut p = json!({"command": ["/bin/echo", "CHANGED"], "cwd": "/"});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        p.as_object().unwrap().clone()
    }

    #[test]
    fn caller_supplied_approval_fields_are_never_trusted() {
        let mut book = ApprovalBook::default();
        let c = caller("d1");
        // No approval fields: forwarded as is, minus keys that are not forwarded.
        let out = book.authorize_system_run(&run_params(json!({"bogus": 1})), "n1", &c, 1_000).unwrap();
        assert!(!out.contains_key("bogus") && !out.contains_key("approved"));
        // approved:false is not an override and is dropped.
        let out = book.authorize_system_run(&run_params(json!({"approved": false})), "n1", &c, 1_000).unwrap();
        assert!(!out.contains_key("approved"));
        let code = |r: Result<Map<String, Value>, ApprovalError>| r.unwrap_err().details().unwrap()["code"].clone();
        assert_eq!(
            code(book.authorize_system_run(&run_params(json!({"approved": true})), "n1", &c, 1_000)),
            "MISSING_RUN_ID"
        );
        assert_eq!(
            code(book.authorize_system_run(
                &run_params(json!({"approvalDecision": "allow-once", "runId": "nope"})),
                "n1",
                &c,
                1_000
            )),
            "UNKNOWN_APPROVAL_ID"
        );
        assert_eq!(
            code(book.authorize_system_run(&run_params(json!({"approvalSource": "auto-review"})), "n1", &c, 1_000)),
            "INVALID_APPROVAL_SOURCE"
        );
        assert_eq!(
            code(book.authorize_system_run(
                &run_params(json!({"approvalSource": "ask-fallback", "approved": true})),
                "n1",
                &c,
                1_000
            )),
            "APPROVAL_SOURCE_MISMATCH"
        );
        request(&mut book, "a1");
        // Pending (not yet resolved): refused.
        assert_eq!(
            code(book.authorize_system_run(&run_params(json!({"approved": true, "runId": "a1"})), "n1", &c, 2_000)),
            "APPROVAL_REQUIRED"
        );
        book.resolve("a1", "allow-once", &c, 3_000).unwrap();
        assert_eq!(
            code(book.authorize_system_run(&run_params(json!({"approved": true, "runId": "a1"})), "n2", &c, 3_000)),
            "APPROVAL_NODE_MISMATCH"
        );
        assert_eq!(
            code(book.authorize_system_run(
                &run_params(json!({"approved": true, "runId": "a1"})),
                "n1",
                &caller("d2"),
                3_000
            )),
            "APPROVAL_DEVICE_MISMATCH"
        );
        assert_eq!(
            code(book.authorize_system_run(
                &run_params(json!({"approved": true, "runId": "a1", "env": {"FOO": "1"}})),
                "n1",
                &c,
                3_000
            )),
            "APPROVAL_ENV_BINDING_MISSING"
        );
        // The approved plan replaces the caller's command and cwd; the record's decision wins.
        let out = book
            .authorize_system_run(
                &run_params(json!({"approved": true, "approvalDecision": "allow-always", "runId": "a1"})),
                "n1",
                &c,
                3_000,
            )
            .unwrap();
        assert_eq!(out["command"], json!(["/usr/bin/echo", "hi"]));
        assert_eq!(out["cwd"], "/tmp");
        assert_eq!(out["approvalDecision"], "allow-once");
        assert_eq!(out["approved"], true);
        // allow-once is single use.
        assert_eq!(
            code(book.authorize_system_run(&run_params(json!({"approved": true, "runId": "a1"})), "n1", &c, 3_100)),
            "APPROVAL_REQUIRED"
        );
        // Gone after the grace period.
        assert_eq!(
            code(book.authorize_system_run(
                &run_params(json!({"approved": true, "runId": "a1"})),
                "n1",
                &c,
                3_000 + RESOLVED_GRACE_MS + 1
            )),
            "UNKNOWN_APPROVAL_ID"
        );
    }

    /// Plugin records answer only `plugin.approval.*`: exec lookups never see them and a plugin
    /// approval can never authorise a `system.run`.
    #[test]
    fn plugin_records_stay_in_their_family() {
        let mut book = ApprovalBook::default();
        let c = caller("d1");
        let r = book.request_plugin(json!({"title": "t"}), Some("d1".into()), "c-d1", 60_000, 1_000);
        assert!(r.id.starts_with("plugin:"));
        assert_eq!(r.request["allowedDecisions"], json!(DECISIONS));
        assert!(matches!(book.find(&r.id, &c, 1_000), Err(ApprovalError::NotFound)));
        assert!(book.pending(&c, 1_000).is_empty());
        assert_eq!(book.pending_of(ApprovalKind::Plugin, &c, 1_000).len(), 1);
        assert!(book.resolve(&r.id, "allow-once", &c, 1_100).is_err());
        assert!(book.resolve_of(ApprovalKind::Plugin, &r.id, "allow-once", &caller("d2"), 1_100).is_err());
        book.resolve_of(ApprovalKind::Plugin, &r.id, "allow-once", &c, 1_100).unwrap();
        assert_eq!(book.decision_of(&r.id).as_deref(), Some("allow-once"));
        let err = book
            .authorize_system_run(&run_params(json!({"approved": true, "runId": r.id})), "", &c, 1_200)
            .unwrap_err();
        assert_eq!(err.details().unwrap()["code"], "UNKNOWN_APPROVAL_ID");
    }

    #[test]
    fn resolve_rules_and_expiry() {
        let mut book = ApprovalBook::default();
        let c = caller("d1");
        request(&mut book, "b1");
        assert!(matches!(
            book.request(json!({"id":"b1","nodeId":"n1","systemRunPlan":plan()}).as_object().unwrap(), &c, 1_000),
            Err(ApprovalError::AlreadyPending)
        ));
        assert_eq!(book.resolve("b1", "maybe", &c, 1_500).unwrap_err().to_string(), "invalid decision");
        assert_eq!(
            book.resolve("b1", "allow-always", &caller("d9"), 1_500).unwrap_err().to_string(),
            "unknown or expired approval id"
        );
        // Unique prefix works for pending records.
        assert_eq!(book.find("b", &c, 1_500).unwrap().id, "b1");
        book.resolve("b1", "deny", &c, 2_000).unwrap();
        book.resolve("b1", "deny", &c, 2_001).unwrap();
        assert_eq!(book.resolve("b1", "allow-once", &c, 2_002).unwrap_err().to_string(), "approval already resolved");
        request(&mut book, "b2");
        let expired = book.sweep(1_000 + 60_000);
        assert_eq!(expired.len(), 1);
        assert_eq!(book.find("b2", &c, 61_001).unwrap().terminal_reason, Some("timeout"));
        request(&mut book, "b3");
        book.expire("b3", 2_000);
        let r = book.find("b3", &c, 2_001).unwrap();
        assert_eq!((r.decision, r.terminal_reason), (None, Some("no-approval-route")));
        assert!(env_hash(Some(&json!({}))).is_none());
        assert_eq!(env_hash(Some(&json!({"B":"2","A":"1"}))), env_hash(Some(&json!({"A":"1","B":"2"}))));
    }
}
