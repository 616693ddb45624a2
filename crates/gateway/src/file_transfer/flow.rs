//! One file-transfer `node.invoke`, in upstream's order (`handleFileTransferInvoke`):
//! up-front param checks → the policy gate → `prepareParams` → a preflight invoke
//! (`preflightOnly: true`) → the policy again on the node's canonical path (and, for
//! `dir.fetch`, on every entry) → the real invoke bound with `expectedCanonicalPath` and
//! `expectedBinding` → the result's path must be the preflight's → for `dir.fetch`, the archive
//! is verified and its members checked → audit.
//!
//! The node is reached through [`NodeLink`], so the whole flow runs in unit tests against a
//! scripted node; the gateway's link sends real `node.invoke.request`s
//! ([`crate::methods::invoke`]).
//!
//! Operator prompts (`ask: "always"`, `ask: "on-miss"` without a matching allow rule, a literal
//! grant whose canonical path moved) go through [`NodeLink::approve`] (the gateway raises a
//! plugin approval); only `allow-once` / `allow-always` let the call through, and
//! `allow-always` saves a literal grant ([`NodeLink::persist_grant`]) once the call succeeded.

use std::future::Future;
use std::time::Instant;

use base64::Engine;
use openclaw_file_transfer::archive;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::policy::{self, Decision, Kind, Request, Verdict};

/// `dir.fetch`'s entry limit (preflight entries and descendant paths).
pub const DIR_FETCH_MAX_ENTRIES: usize = 5000;

/// A failed invoke as the node registry reports it (`{code, message}`), plus whether the
/// request had reached the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeError {
    /// `TIMEOUT`, `NOT_CONNECTED`, or the node's own code.
    pub code: String,
    /// The message.
    pub message: String,
}

/// How the flow reaches the node and the audit log.
pub trait NodeLink {
    /// Sends the command with `params`, returning `(payload, payloadJSON)`.
    fn invoke(&mut self, params: Value) -> impl Future<Output = Result<(Value, Option<String>), NodeError>> + Send;
    /// Whether a request has been dispatched to the node so far.
    fn dispatched(&self) -> bool;
    /// Appends one audit record (best effort).
    fn audit(&mut self, record: Value);
    /// Asks an operator: `allow-once`, `allow-always` or `deny`, or `None` when no operator
    /// could answer (or none did in time).
    fn approve(&mut self, prompt: Prompt) -> impl Future<Output = Option<String>> + Send;
    /// Saves the standing approval an `allow-always` gave (upstream's `persistLiteralGrant`).
    fn persist_grant(&mut self, grant: &Grant) -> Result<(), String>;
}

/// One operator prompt, as upstream's file-transfer policy words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// `<verb>: <path>` (or `<verb> target changed: <path>`).
    pub title: String,
    /// What is asked, on which node.
    pub description: String,
    /// `warning` for writes, `info` for reads.
    pub severity: &'static str,
    /// The command (`file.fetch`, …).
    pub tool_name: String,
}

/// A literal grant saved by `allow-always`: this node may run this command on this requested
/// path again, as long as it still resolves to this canonical path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The node.
    pub node_id: String,
    /// The command.
    pub command: String,
    /// The path as the caller asked for it.
    pub requested_path: String,
    /// The canonical path the node resolved it to.
    pub canonical_path: String,
    /// The pending reapproval this grant answers, if any (upstream drops it).
    pub pending_selector: Option<String>,
}

/// `promptVerb`.
fn prompt_verb(command: &str) -> &str {
    match command {
        "dir.fetch" => "Fetch directory",
        "dir.list" => "List directory",
        "file.create" => "Create file",
        "file.write" => "Write file",
        "file.fetch" => "Read file",
        "file.stat" => "Read file metadata",
        other => other,
    }
}

fn severity(kind: Kind) -> &'static str {
    if kind == Kind::Write {
        "warning"
    } else {
        "info"
    }
}

/// The prompt for a path the policy asks about (`requestApproval`).
pub fn ask_prompt(command: &str, kind: Kind, node_id: &str, display_name: Option<&str>, path: &str) -> Prompt {
    let verb = prompt_verb(command);
    let subject = display_name.unwrap_or(node_id);
    let lower = verb.to_lowercase();
    let what = if command == "dir.fetch" {
        format!(
            "Allow {lower} on {subject}\nPath: {path}\n\nThis fetch includes descendants of this directory; deny rules \
             still apply."
        )
    } else {
        format!("Allow {lower} on {subject}\nPath: {path}")
    };
    Prompt {
        title: format!("{verb}: {path}"),
        description: format!(
            "{what}\nNode ID: {node_id}\n\n\"allow-always\" saves this exact command and path for this node."
        ),
        severity: severity(kind),
        tool_name: command.to_string(),
    }
}

/// The prompt for a literal grant whose canonical path moved (`validateCanonicalAuthorization`).
pub fn reapproval_prompt(command: &str, kind: Kind, node_id: &str, requested: &str, canonical: &str) -> Prompt {
    Prompt {
        title: format!("{} target changed: {requested}", prompt_verb(command)),
        description: format!(
            "The node now resolves this path to:\n{canonical}\n\nApprove this exact canonical target for {node_id}."
        ),
        severity: severity(kind),
        tool_name: command.to_string(),
    }
}

/// How an operator's answer to a [`Prompt`] ends: `Ok(persist)` lets the call through
/// (`persist` for `allow-always`), `Err((code, reason, message))` refuses it with upstream's
/// code, audit reason and message tail.
pub fn map_decision(decision: Option<&str>) -> Result<bool, (&'static str, &'static str, &'static str)> {
    match decision {
        Some("allow-once") => Ok(false),
        Some("allow-always") => Ok(true),
        None => Err((
            "APPROVAL_UNAVAILABLE",
            "no operator available",
            "no operator client connected to approve the request",
        )),
        Some("deny") => Err(("APPROVAL_DENIED", "operator denied", "operator denied the prompt")),
        Some(_) => Err(("APPROVAL_DENIED", "invalid approval decision", "invalid approval decision")),
    }
}

/// The node and its policy: everything the flow decides on.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The node's id.
    pub node_id: &'a str,
    /// Its display name.
    pub display_name: Option<&'a str>,
    /// `plugins.entries.file-transfer.config`.
    pub config: Option<&'a Value>,
}

/// A refusal or failure as upstream's plugin policy returns it; [`Refusal::into_error`] makes
/// the `node.invoke` error.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// `details.code`.
    pub code: Option<String>,
    /// The message (`<op> <CODE>: <reason>` for policy refusals).
    pub message: String,
    /// Extra `details`.
    pub details: Map<String, Value>,
    /// `UNAVAILABLE` instead of `INVALID_REQUEST` (node failures).
    pub unavailable: bool,
}

impl Refusal {
    fn plain(code: &str, message: String) -> Refusal {
        Refusal { code: Some(code.into()), message, details: Map::new(), unavailable: false }
    }

    /// `policyDeniedResult`: `<op> <code>: <message>` with optional details.
    fn denied(op: &str, code: &str, message: &str, details: Option<Value>) -> Refusal {
        let details = match details {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        Refusal { code: Some(code.into()), message: format!("{op} {code}: {message}"), details, unavailable: false }
    }

    fn node(error: NodeError, message: String) -> Refusal {
        let mut details = Map::new();
        details.insert("nodeError".into(), json!({"code": error.code, "message": error.message}));
        Refusal { code: Some(error.code), message, details, unavailable: true }
    }

    /// The `node.invoke` error: `INVALID_REQUEST` (or `UNAVAILABLE`), `details` with
    /// `nodeCommandDispatched` and `code`.
    pub fn into_error(self, dispatched: bool) -> openclaw_protocol::ErrorShape {
        use openclaw_protocol::{ErrorCode, ErrorShape};
        let code = if self.unavailable { ErrorCode::Unavailable } else { ErrorCode::InvalidRequest };
        let mut e = ErrorShape::new(code, self.message);
        let mut details = self.details;
        details.insert("nodeCommandDispatched".into(), Value::Bool(dispatched));
        if let Some(c) = self.code {
            details.insert("code".into(), Value::String(c));
        }
        e.details = Some(Value::Object(details));
        e
    }
}

/// A successful answer: `(payload, payloadJSON)` as the node sent it.
pub type Answer = (Value, Option<String>);

/// Where the authorisation came from (upstream's `source`).
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// An allow glob.
    Authored,
    /// A literal grant, pinned to its canonical path.
    Literal(String),
    /// An operator's answer to a prompt.
    Approval,
}

#[derive(Debug, Clone)]
struct Authorization {
    source: Source,
    follow_symlinks: bool,
    max_bytes: Option<f64>,
    /// `allow-always`: save a literal grant once the call succeeded.
    persist: bool,
    /// The pending reapproval the grant would answer.
    pending_selector: Option<String>,
}

/// One call in flight: the audit fields every record shares.
struct Call<'a, L: NodeLink> {
    link: &'a mut L,
    ctx: Context<'a>,
    op: &'a str,
    requested: &'a str,
    started: Instant,
}

impl<L: NodeLink> Call<'_, L> {
    fn audit(&mut self, decision: &str, fields: Value) {
        let mut record = json!({
            "op": self.op,
            "nodeId": self.ctx.node_id,
            "nodeDisplayName": self.ctx.display_name,
            "requestedPath": self.requested,
            "decision": decision,
        });
        if let (Some(r), Value::Object(extra)) = (record.as_object_mut(), fields) {
            r.extend(extra.into_iter().filter(|(_, v)| !v.is_null()));
            if r.get("nodeDisplayName").is_some_and(Value::is_null) {
                r.remove("nodeDisplayName");
            }
            r.insert("durationMs".into(), json!(self.started.elapsed().as_millis() as u64));
        }
        self.link.audit(record);
    }

    fn evaluate(&self, kind: Kind, path: &str, constraints_only: bool) -> Decision {
        let request = Request {
            node_id: self.ctx.node_id,
            display_name: self.ctx.display_name,
            kind,
            command: Some(self.op),
            path,
        };
        policy::evaluate(self.ctx.config, &request, constraints_only)
    }
}

/// Runs one file-transfer command (`command` is one of [`policy::COMMANDS`]).
pub async fn run<L: NodeLink>(
    link: &mut L,
    ctx: Context<'_>,
    command: &str,
    params: Option<&Value>,
) -> Result<Answer, Refusal> {
    let empty = Map::new();
    let params = params.and_then(Value::as_object).unwrap_or(&empty);
    let requested = params.get("path").and_then(Value::as_str).unwrap_or("");
    if requested.is_empty() {
        return Err(Refusal::plain("INVALID_PARAMS", format!("{command} path required")));
    }
    policy::validate_fetch_params(command, params).map_err(|e| Refusal::plain("INVALID_PARAMS", e.0))?;
    let mut call = Call { link, ctx, op: command, requested, started: Instant::now() };
    let kind = Kind::of(command);
    let mut auth = gate(&mut call, kind).await?;
    let forwarded = policy::prepare_params(command, params, auth.follow_symlinks, auth.max_bytes)
        .map_err(|e| Refusal::plain("INVALID_PARAMS", e.0))?;
    let (canonical, binding) = match preflight(&mut call, kind, &mut auth, &forwarded).await? {
        Preflight::Bound { canonical, binding } => (canonical, binding),
        Preflight::NodeAnswered(answer) => return Ok(answer),
    };
    let mut bound = forwarded;
    bound.insert("expectedCanonicalPath".into(), json!(canonical));
    bound.insert("expectedBinding".into(), binding);
    let result = call.link.invoke(Value::Object(bound)).await;
    let (payload, payload_json) = match result {
        Ok(answer) => answer,
        Err(error) => {
            call.audit("error", json!({"errorCode": error.code, "errorMessage": error.message}));
            let message = format!("{command} failed: {}", error.message);
            return Err(Refusal::node(error, message));
        }
    };
    if payload.get("ok") == Some(&Value::Bool(false)) {
        call.audit(
            "error",
            json!({
                "canonicalPath": payload.get("canonicalPath").filter(|v| v.is_string()),
                "errorCode": payload.get("code").filter(|v| v.is_string()),
                "errorMessage": payload.get("message").filter(|v| v.is_string()),
            }),
        );
        return Ok((payload, payload_json));
    }
    let result_path = payload.get("path").and_then(Value::as_str).unwrap_or("").to_string();
    if result_path.is_empty() {
        return Err(Refusal::denied(
            command,
            "CANONICAL_PATH_MISSING",
            "node result did not return a canonical path",
            None,
        ));
    }
    if result_path != canonical {
        return Err(Refusal::denied(
            command,
            "CANONICAL_PATH_CHANGED",
            "the canonical path changed after preflight; refusing the result",
            Some(json!({"path": result_path})),
        ));
    }
    check_canonical(&mut call, kind, &mut auth, &result_path).await?;
    let mut verified = None;
    if command == "dir.fetch" {
        let archive = match verify_archive(&payload) {
            Ok(a) => a,
            Err((code, reason)) => {
                call.audit("error", json!({"canonicalPath": result_path, "errorCode": code, "reason": reason}));
                return Err(Refusal::denied(
                    command,
                    code,
                    &format!("{reason}; refusing archive transfer"),
                    Some(json!({"path": result_path, "reason": reason})),
                ));
            }
        };
        let entries: Vec<Value> = archive.entries.iter().map(|e| json!(e)).collect();
        check_entries(&mut call, &auth, &result_path, Some(&Value::Array(entries)), "archive")?;
        verified = Some((archive.size, archive.sha256));
    }
    let (size, sha) = match (command, &verified) {
        ("dir.fetch", Some((size, sha))) => (json!(size), json!(sha)),
        ("dir.list", _) => {
            (Value::Null, payload.get("sha256").filter(|v| v.is_string()).cloned().unwrap_or(Value::Null))
        }
        _ => (
            payload.get("size").filter(|v| v.is_number()).cloned().unwrap_or(Value::Null),
            payload.get("sha256").filter(|v| v.is_string()).cloned().unwrap_or(Value::Null),
        ),
    };
    let mut payload = payload;
    let mut payload_json = payload_json;
    if auth.persist {
        let grant = Grant {
            node_id: ctx.node_id.to_string(),
            command: command.to_string(),
            requested_path: requested.to_string(),
            canonical_path: result_path.clone(),
            pending_selector: auth.pending_selector.clone(),
        };
        if let Err(e) = call.link.persist_grant(&grant) {
            call.audit(
                "error",
                json!({"canonicalPath": result_path, "errorCode": "APPROVAL_PERSIST_FAILED", "reason": format!("standing approval persistence failed: {e}")}),
            );
            if let Value::Object(map) = &mut payload {
                map.insert(
                    "standingApprovalWarning".into(),
                    json!(
                        "The transfer succeeded, but the standing approval was not saved. Run the command again and \
                         choose allow-always, or use allow-once."
                    ),
                );
                payload_json = payload_json.map(|_| payload.to_string());
            }
        }
    }
    call.audit("allowed", json!({"canonicalPath": result_path, "sizeBytes": size, "sha256": sha}));
    Ok((payload, payload_json))
}

/// `requestApproval`: the policy on the requested path, and the operator prompt when it asks.
async fn gate<L: NodeLink>(call: &mut Call<'_, L>, kind: Kind) -> Result<Authorization, Refusal> {
    let decision = call.evaluate(kind, call.requested, false);
    let auth = |source| Authorization {
        source,
        follow_symlinks: decision.follow_symlinks,
        max_bytes: decision.max_bytes,
        persist: false,
        pending_selector: None,
    };
    let askable = match &decision.verdict {
        Verdict::MatchedAllow => return Ok(auth(Source::Authored)),
        Verdict::MatchedLiteral(canonical) => return Ok(auth(Source::Literal(canonical.clone()))),
        Verdict::AskAlways => true,
        Verdict::Denied { askable, .. } => *askable,
    };
    if !askable {
        let Verdict::Denied { code, .. } = decision.verdict else { unreachable!("only denials are not askable") };
        let audit_decision = if code == "NO_POLICY" { "denied:no_policy" } else { "denied:policy" };
        call.audit(audit_decision, json!({"errorCode": code, "reason": decision.reason}));
        return Err(Refusal::plain(code, format!("{} {code}: {}", call.op, decision.reason)));
    }
    let prompt = ask_prompt(call.op, kind, call.ctx.node_id, call.ctx.display_name, call.requested);
    let answer = call.link.approve(prompt).await;
    match map_decision(answer.as_deref()) {
        Ok(persist) => {
            let audit_decision = if persist { "allowed:always" } else { "allowed:once" };
            call.audit(audit_decision, json!({}));
            Ok(Authorization { persist, pending_selector: decision.pending_selector.clone(), ..auth(Source::Approval) })
        }
        Err((code, reason, message)) => {
            call.audit("denied:approval", json!({"reason": reason}));
            Err(Refusal::plain(code, format!("{} {code}: {message}", call.op)))
        }
    }
}

/// `validateCanonicalAuthorization`: the node's canonical path must still be allowed; a literal
/// grant whose canonical path moved needs an operator's new approval.
async fn check_canonical<L: NodeLink>(
    call: &mut Call<'_, L>,
    kind: Kind,
    auth: &mut Authorization,
    canonical: &str,
) -> Result<(), Refusal> {
    if let Source::Literal(expected) = &auth.source {
        if expected != canonical {
            let prompt = reapproval_prompt(call.op, kind, call.ctx.node_id, call.requested, canonical);
            let answer = call.link.approve(prompt).await;
            let Ok(persist) = map_decision(answer.as_deref()) else {
                call.audit(
                    "denied:symlink_escape",
                    json!({"canonicalPath": canonical, "errorCode": "CANONICAL_PATH_CHANGED", "reason": "canonical path differs from the standing approval"}),
                );
                return Err(Refusal::denied(
                    call.op,
                    "CANONICAL_PATH_CHANGED",
                    "the canonical path differs from the standing approval and was not reapproved",
                    Some(json!({"path": canonical})),
                ));
            };
            auth.source = Source::Approval;
            auth.persist = persist;
        }
    }
    let decision = call.evaluate(kind, canonical, auth.source != Source::Authored);
    if decision.is_ok() {
        return Ok(());
    }
    let code = match decision.verdict {
        Verdict::Denied { code, .. } => code,
        _ => "POLICY_DENIED",
    };
    call.audit(
        "denied:symlink_escape",
        json!({"canonicalPath": canonical, "errorCode": code, "reason": decision.reason}),
    );
    Err(Refusal::denied(
        call.op,
        "SYMLINK_TARGET_DENIED",
        &format!("requested path resolved to {canonical} which is not allowed by policy"),
        None,
    ))
}

enum Preflight {
    /// The node resolved and identified the target.
    Bound { canonical: String, binding: Value },
    /// The node answered the preflight with `ok: false`: that answer is the call's answer.
    NodeAnswered(Answer),
}

enum PreflightStep {
    Done(Preflight, Option<Value>),
    CanonicalChanged(String),
}

/// `invokePreflight`.
async fn invoke_preflight<L: NodeLink>(
    call: &mut Call<'_, L>,
    params: &Map<String, Value>,
    expected: Option<&str>,
) -> Result<PreflightStep, Refusal> {
    let mut p = params.clone();
    p.insert("preflightOnly".into(), Value::Bool(true));
    if let Some(e) = expected.filter(|e| !e.is_empty()) {
        p.insert("expectedCanonicalPath".into(), json!(e));
    }
    let (payload, payload_json) = match call.link.invoke(Value::Object(p)).await {
        Ok(answer) => answer,
        Err(error) => {
            call.audit("error", json!({"errorCode": error.code, "errorMessage": error.message}));
            let message = format!("{} preflight failed: {}", call.op, error.message);
            return Err(Refusal::node(error, message));
        }
    };
    if payload.get("ok") == Some(&Value::Bool(false)) {
        let code = payload.get("code").and_then(Value::as_str).unwrap_or("PREFLIGHT_FAILED").to_string();
        let canonical = payload.get("canonicalPath").and_then(Value::as_str).map(String::from);
        call.audit(
            "error",
            json!({"canonicalPath": canonical, "errorCode": code, "errorMessage": payload.get("message").filter(|v| v.is_string())}),
        );
        if code == "CANONICAL_PATH_CHANGED" {
            if let Some(c) = canonical.filter(|c| !c.is_empty()) {
                return Ok(PreflightStep::CanonicalChanged(c));
            }
        }
        return Ok(PreflightStep::Done(Preflight::NodeAnswered((payload, payload_json)), None));
    }
    if call.op == "file.write"
        && params.get("rejectHardlinks") == Some(&Value::Bool(true))
        && payload.get("rejectHardlinks") != Some(&Value::Bool(true))
    {
        return Err(Refusal::denied(
            call.op,
            "HARDLINK_REJECTION_UNSUPPORTED",
            "node does not support hardlink-safe workspace writes; update the node and retry",
            None,
        ));
    }
    let canonical = payload.get("path").and_then(Value::as_str).unwrap_or("").to_string();
    if canonical.is_empty() {
        return Err(Refusal::denied(
            call.op,
            "PREFLIGHT_PATH_MISSING",
            "node preflight did not return a canonical path",
            None,
        ));
    }
    let expected_kind = if Kind::of(call.op) == Kind::Write { "write" } else { "existing" };
    let Some(binding) = read_binding(payload.get("binding")).filter(|b| b["kind"] == expected_kind) else {
        return Err(Refusal::denied(
            call.op,
            "FILESYSTEM_IDENTITY_MISSING",
            "node preflight did not return a filesystem identity; update the node and retry",
            None,
        ));
    };
    let entries = payload.get("entries").cloned();
    Ok(PreflightStep::Done(Preflight::Bound { canonical, binding }, entries))
}

/// `invokeAuthorizedPreflight` + `runPathPreflight` / `runDirFetchPreflight`.
async fn preflight<L: NodeLink>(
    call: &mut Call<'_, L>,
    kind: Kind,
    auth: &mut Authorization,
    params: &Map<String, Value>,
) -> Result<Preflight, Refusal> {
    let expected = match &auth.source {
        Source::Literal(c) => Some(c.clone()),
        Source::Authored | Source::Approval => None,
    };
    let expected = expected.as_deref();
    let (outcome, entries) = match invoke_preflight(call, params, expected).await? {
        PreflightStep::Done(p, entries) => (p, entries),
        PreflightStep::CanonicalChanged(canonical) => {
            check_canonical(call, kind, auth, &canonical).await?;
            // A reapproved grant is now bound to the path the operator approved.
            let retry_expected = if auth.source == Source::Approval { Some(canonical.as_str()) } else { expected };
            match invoke_preflight(call, params, retry_expected).await? {
                PreflightStep::Done(p, entries) => (p, entries),
                PreflightStep::CanonicalChanged(canonical) => {
                    call.audit(
                        "denied:symlink_escape",
                        json!({"canonicalPath": canonical, "errorCode": "CANONICAL_PATH_CHANGED", "reason": "canonical path changed again after reapproval"}),
                    );
                    return Err(Refusal::denied(
                        call.op,
                        "CANONICAL_PATH_CHANGED",
                        "the canonical path changed again after reapproval; retry the operation",
                        Some(json!({"path": canonical})),
                    ));
                }
            }
        }
    };
    let Preflight::Bound { canonical, binding } = outcome else {
        return Ok(outcome);
    };
    check_canonical(call, kind, auth, &canonical).await?;
    if call.op == "dir.fetch" {
        check_entries(call, auth, &canonical, entries.as_ref(), "preflight")?;
    }
    Ok(Preflight::Bound { canonical, binding })
}

/// `readPathBinding`: the binding rebuilt from its known fields, or `None` when malformed.
fn read_binding(value: Option<&Value>) -> Option<Value> {
    let b = value?.as_object()?;
    let s = |k: &str| b.get(k).and_then(Value::as_str);
    match b.get("kind").and_then(Value::as_str) {
        Some("existing") => Some(json!({"kind": "existing", "device": s("device")?, "inode": s("inode")?})),
        Some("write") => {
            let mut out = json!({
                "kind": "write",
                "anchorPath": s("anchorPath")?,
                "anchorDevice": s("anchorDevice")?,
                "anchorInode": s("anchorInode")?,
            });
            match (s("targetDevice"), s("targetInode")) {
                (Some(d), Some(i)) => {
                    out["targetDevice"] = json!(d);
                    out["targetInode"] = json!(i);
                }
                (None, None) => {}
                _ => return None,
            }
            Some(out)
        }
        _ => None,
    }
}

/// `joinRemotePolicyPath`: a relative entry under the canonical root.
fn join_policy_path(root: &str, relative: &str) -> String {
    let rel = relative.replace('\\', "/");
    let rel = rel.strip_prefix("./").unwrap_or(&rel);
    if rel.is_empty() || rel == "." {
        return root.to_string();
    }
    let sep = if root.contains('\\') && !root.contains('/') { "\\" } else { "/" };
    let trimmed = root.strip_suffix(['/', '\\']).unwrap_or(root);
    let prefix = if trimmed.is_empty() { sep } else { trimmed };
    let joiner = if prefix.ends_with(sep) { "" } else { sep };
    format!("{prefix}{joiner}{}", rel.split('/').collect::<Vec<_>>().join(sep))
}

/// `validateDirFetchPreflightEntry`.
fn entry_problem(entry: &str) -> Option<&'static str> {
    if entry.contains('\0') {
        return Some("entry contains NUL byte");
    }
    let n = entry.replace('\\', "/");
    let n = n.strip_prefix("./").unwrap_or(&n);
    if n.is_empty() || n == "." {
        return Some("entry is empty");
    }
    let b = n.as_bytes();
    if n.starts_with('/') || (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'/') {
        return Some("entry is absolute");
    }
    if n == ".." || n.starts_with("../") || n.contains("/../") {
        return Some("entry contains '..' traversal");
    }
    None
}

/// `dirFetchPolicyPaths`: `.` first, then every distinct ancestor and entry in first-seen order.
fn policy_paths(entries: &[&str]) -> Vec<String> {
    let mut out = vec![".".to_string()];
    let mut seen = std::collections::HashSet::new();
    for entry in entries {
        let normalized = entry.replace('\\', "/");
        let mut relative = String::new();
        for component in normalized.split('/').filter(|c| !c.is_empty() && *c != ".") {
            relative = if relative.is_empty() { component.to_string() } else { format!("{relative}/{component}") };
            if seen.insert(relative.clone()) {
                out.push(relative.clone());
            }
        }
    }
    out
}

/// `validateDirFetchEntries` for the preflight's entries or the archive's members.
fn check_entries<L: NodeLink>(
    call: &mut Call<'_, L>,
    auth: &Authorization,
    canonical: &str,
    entries: Option<&Value>,
    phase: &str,
) -> Result<(), Refusal> {
    let preflight = phase == "preflight";
    let (missing, invalid, too_many) = if preflight {
        ("PREFLIGHT_ENTRIES_MISSING", "PREFLIGHT_ENTRY_INVALID", "PREFLIGHT_ENTRIES_TOO_MANY")
    } else {
        ("ARCHIVE_ENTRIES_MISSING", "ARCHIVE_ENTRY_INVALID", "ARCHIVE_ENTRIES_TOO_MANY")
    };
    let Some(list) = entries.and_then(Value::as_array) else {
        let reason = format!("dir.fetch {phase} did not return entries");
        call.audit("error", json!({"canonicalPath": canonical, "errorCode": missing, "reason": reason}));
        return Err(Refusal::denied(
            call.op,
            missing,
            &format!("{reason}; refusing archive transfer"),
            Some(json!({"path": canonical})),
        ));
    };
    let limit = |call: &mut Call<'_, L>, count: usize, label: &str| {
        let reason = format!("dir.fetch {phase} contains {count} {label}; limit {DIR_FETCH_MAX_ENTRIES}");
        call.audit("denied:policy", json!({"canonicalPath": canonical, "errorCode": too_many, "reason": reason}));
        Refusal::denied(
            call.op,
            too_many,
            &format!("{reason}; refusing archive transfer"),
            Some(json!({"path": canonical, "reason": reason})),
        )
    };
    if list.len() > DIR_FETCH_MAX_ENTRIES {
        return Err(limit(call, list.len(), "entries"));
    }
    let mut names = Vec::with_capacity(list.len());
    for entry in list {
        let Some(name) = entry.as_str().filter(|s| !s.is_empty()) else {
            let reason = "entry is not a non-empty string";
            call.audit("denied:policy", json!({"canonicalPath": canonical, "errorCode": invalid, "reason": reason}));
            return Err(Refusal::denied(
                call.op,
                invalid,
                &format!("directory {phase} entry is invalid: {reason}"),
                Some(json!({"path": canonical, "reason": reason})),
            ));
        };
        if let Some(reason) = entry_problem(name) {
            let candidate = join_policy_path(canonical, name);
            call.audit("denied:policy", json!({"canonicalPath": candidate, "errorCode": invalid, "reason": reason}));
            return Err(Refusal::denied(
                call.op,
                invalid,
                &format!("directory {phase} entry {name} is invalid: {reason}"),
                Some(json!({"path": candidate, "reason": reason})),
            ));
        }
        names.push(name);
    }
    for (index, relative) in policy_paths(&names).iter().enumerate() {
        if index > DIR_FETCH_MAX_ENTRIES {
            return Err(limit(call, index, "descendant paths"));
        }
        let candidate = join_policy_path(canonical, relative);
        let decision = call.evaluate(Kind::Read, &candidate, auth.source != Source::Authored);
        if decision.is_ok() {
            continue;
        }
        let code = match decision.verdict {
            Verdict::Denied { code, .. } => code,
            _ => "POLICY_DENIED",
        };
        call.audit("denied:policy", json!({"canonicalPath": candidate, "errorCode": code, "reason": decision.reason}));
        return Err(Refusal::denied(
            call.op,
            "PATH_POLICY_DENIED",
            &format!("directory {phase} entry {candidate} is not allowed by policy: {}", decision.reason),
            Some(json!({"path": candidate, "reason": decision.reason})),
        ));
    }
    Ok(())
}

struct VerifiedArchive {
    entries: Vec<String>,
    size: usize,
    sha256: String,
}

/// `verifyDirFetchArchive`: size and digest as the payload claims, then the same inspection
/// the node ran (shared code, [`openclaw_file_transfer::archive`]).
fn verify_archive(payload: &Value) -> Result<VerifiedArchive, (&'static str, String)> {
    let tar_base64 = payload.get("tarBase64").and_then(Value::as_str).unwrap_or("");
    if tar_base64.is_empty() {
        return Err(("ARCHIVE_ENTRIES_MISSING", "dir.fetch archive did not return tarBase64".into()));
    }
    let bytes = decode_base64_lenient(tar_base64);
    let size = bytes.len();
    if let Some(claimed) = payload.get("tarBytes").filter(|v| v.is_number()) {
        if claimed.as_f64() != Some(size as f64) {
            return Err((
                "ARCHIVE_SIZE_MISMATCH",
                format!("dir.fetch archive size mismatch: payload says {claimed} bytes, decoded {size}"),
            ));
        }
    }
    let sha256: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    if let Some(claimed) = payload.get("sha256").and_then(Value::as_str) {
        let claimed = claimed.to_lowercase();
        if claimed != sha256 {
            return Err((
                "ARCHIVE_INTEGRITY_FAILURE",
                format!("dir.fetch archive sha256 mismatch: payload says {claimed}, decoded {sha256}"),
            ));
        }
    }
    match archive::inspect(&bytes) {
        Ok(entries) => Ok(VerifiedArchive { entries, size, sha256 }),
        Err(archive::InspectError::Limit("archive entry count exceeds limit")) => Err((
            "ARCHIVE_ENTRIES_TOO_MANY",
            format!("dir.fetch archive contains more than {DIR_FETCH_MAX_ENTRIES} entries"),
        )),
        Err(archive::InspectError::Limit(m)) => {
            Err(("ARCHIVE_ENTRIES_UNREADABLE", format!("dir.fetch archive inspection failed: {m}")))
        }
        Err(archive::InspectError::Refused(m)) => {
            Err(("ARCHIVE_ENTRIES_UNREADABLE", format!("dir.fetch archive inspection failed: {m}")))
        }
    }
}

/// `Buffer.from(text, "base64")`: stops at the first character outside the alphabet, ignores
/// padding, and keeps whole bytes only.
fn decode_base64_lenient(text: &str) -> Vec<u8> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_'))
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let usable = cleaned.len() - cleaned.len() % 4;
    let mut out = base64::engine::general_purpose::STANDARD.decode(&cleaned[..usable]).unwrap_or_default();
    let tail = &cleaned[usable..];
    if tail.len() >= 2 {
        let padded = format!("{tail}{}", "=".repeat(4 - tail.len()));
        if let Ok(extra) = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(tail)
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(&padded))
        {
            out.extend(extra);
        }
    }
    out
}

#[cfg(test)]
mod tests;
