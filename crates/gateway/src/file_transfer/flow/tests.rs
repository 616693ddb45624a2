use std::collections::VecDeque;

use serde_json::json;

use super::*;

/// A scripted node and operator: answers in order, records what it was sent, what was
/// audited, which prompts were shown and which grants were saved.
#[derive(Default)]
struct Script {
    answers: VecDeque<Result<Value, NodeError>>,
    sent: Vec<Value>,
    audits: Vec<Value>,
    decisions: VecDeque<Option<&'static str>>,
    prompts: Vec<Prompt>,
    grants: Vec<Grant>,
    persist_fails: bool,
}

impl NodeLink for Script {
    async fn invoke(&mut self, params: Value) -> Result<(Value, Option<String>), NodeError> {
        self.sent.push(params);
        let answer = self.answers.pop_front().expect("the script has an answer for every invoke");
        answer.map(|v| (v.clone(), Some(v.to_string())))
    }
    fn dispatched(&self) -> bool {
        !self.sent.is_empty()
    }
    fn audit(&mut self, record: Value) {
        self.audits.push(record);
    }
    async fn approve(&mut self, prompt: Prompt) -> Option<String> {
        self.prompts.push(prompt);
        self.decisions.pop_front().expect("the script has a decision for every prompt").map(String::from)
    }
    fn persist_grant(&mut self, grant: &Grant) -> Result<(), String> {
        if self.persist_fails {
            return Err("disk full".into());
        }
        self.grants.push(grant.clone());
        Ok(())
    }
}

fn script(answers: Vec<Value>) -> Script {
    Script { answers: answers.into_iter().map(Ok).collect(), ..Script::default() }
}

fn config() -> Value {
    json!({"policyVersion": 2, "nodes": {"*": {"allowReadPaths": ["/ok/**"], "denyPaths": ["/ok/secret/**"], "maxBytes": 1000}}})
}

fn ctx(config: &Value) -> Context<'_> {
    Context { node_id: "n1", display_name: Some("box"), config: Some(config) }
}

fn binding() -> Value {
    json!({"kind": "existing", "device": "1", "inode": "2"})
}

fn run_blocking(link: &mut Script, config: &Value, command: &str, params: Value) -> Result<Answer, Refusal> {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(run(link, ctx(config), command, Some(&params)))
}

/// `handleFileTransferInvoke`: a preflight with `preflightOnly`, then the real call bound to
/// the preflight's canonical path and binding; the caller's own binding fields never reach the
/// node; `maxBytes` is clamped to the policy; one `allowed` audit record.
#[test]
fn preflight_then_bound_invoke() {
    let config = config();
    let mut link = script(vec![
        json!({"ok": true, "path": "/ok/a", "size": 1, "binding": {"kind": "existing", "device": "1", "inode": "2", "x": 1}}),
        json!({"ok": true, "path": "/ok/a", "size": 1, "sha256": "s", "binding": binding()}),
    ]);
    let params = json!({"path": "/ok/a", "expectedCanonicalPath": "/evil", "maxBytes": 5000});
    let (payload, _) = run_blocking(&mut link, &config, "file.fetch", params).unwrap();
    assert_eq!(payload["path"], "/ok/a");
    assert_eq!(
        link.sent[0],
        json!({"path": "/ok/a", "maxBytes": 1000, "followSymlinks": false, "preflightOnly": true})
    );
    assert_eq!(
        link.sent[1],
        json!({"path": "/ok/a", "maxBytes": 1000, "followSymlinks": false, "expectedCanonicalPath": "/ok/a", "expectedBinding": binding()})
    );
    assert_eq!(link.audits.len(), 1);
    assert_eq!(link.audits[0]["decision"], "allowed");
    assert_eq!(link.audits[0]["sizeBytes"], 1);
}

/// `validateCanonicalAuthorization`: a canonical path outside the policy (a symlink out) is
/// SYMLINK_TARGET_DENIED, and the real call is never sent.
#[test]
fn canonical_path_outside_policy_is_refused() {
    let config = config();
    let mut link = script(vec![json!({"ok": true, "path": "/ok/secret/k", "binding": binding()})]);
    let err = run_blocking(&mut link, &config, "file.stat", json!({"path": "/ok/link"})).unwrap_err();
    assert_eq!(err.code.as_deref(), Some("SYMLINK_TARGET_DENIED"));
    assert_eq!(
        err.message,
        "file.stat SYMLINK_TARGET_DENIED: requested path resolved to /ok/secret/k which is not allowed by policy"
    );
    assert_eq!(link.sent.len(), 1);
    assert_eq!(link.audits[0]["decision"], "denied:symlink_escape");
}

/// The result's path must be the preflight's (CANONICAL_PATH_CHANGED, with details.path).
#[test]
fn result_path_must_match_preflight() {
    let config = config();
    let mut link = script(vec![
        json!({"ok": true, "path": "/ok/a", "binding": binding()}),
        json!({"ok": true, "path": "/ok/b", "binding": binding()}),
    ]);
    let err = run_blocking(&mut link, &config, "dir.list", json!({"path": "/ok/a"})).unwrap_err();
    assert_eq!(
        err.message,
        "dir.list CANONICAL_PATH_CHANGED: the canonical path changed after preflight; refusing the result"
    );
    assert_eq!(err.details["path"], "/ok/b");
}

/// A node answer `ok: false` (preflight or bound) is passed through as the call's answer.
#[test]
fn node_payload_errors_pass_through() {
    let config = config();
    let refusal = json!({"ok": false, "code": "NOT_FOUND", "message": "file not found"});
    let mut link = script(vec![refusal.clone()]);
    let (payload, _) = run_blocking(&mut link, &config, "file.stat", json!({"path": "/ok/none"})).unwrap();
    assert_eq!(payload, refusal);
}

/// The preflight must name a path and a binding of the command's kind.
#[test]
fn preflight_without_identity_is_refused() {
    let config = config();
    let mut link = script(vec![json!({"ok": true, "path": "/ok/a"})]);
    let err = run_blocking(&mut link, &config, "file.stat", json!({"path": "/ok/a"})).unwrap_err();
    assert_eq!(err.code.as_deref(), Some("FILESYSTEM_IDENTITY_MISSING"));
    let mut link = script(vec![json!({"ok": true, "binding": binding()})]);
    let err = run_blocking(&mut link, &config, "file.stat", json!({"path": "/ok/a"})).unwrap_err();
    assert_eq!(err.code.as_deref(), Some("PREFLIGHT_PATH_MISSING"));
}

/// `validateDirFetchEntries`: every ancestor and entry of the preflight listing is checked;
/// the first denied one is named.
#[test]
fn dir_fetch_checks_every_preflight_entry() {
    let config = config();
    let mut link =
        script(vec![json!({"ok": true, "path": "/ok", "entries": ["a.txt", "secret/k"], "binding": binding()})]);
    let config_root = json!({"policyVersion": 2, "nodes": {"*": {"allowReadPaths": ["/ok", "/ok/**"], "denyPaths": ["/ok/secret/**"]}}});
    let _ = config;
    let err = run_blocking(&mut link, &config_root, "dir.fetch", json!({"path": "/ok"})).unwrap_err();
    assert_eq!(err.code.as_deref(), Some("PATH_POLICY_DENIED"));
    assert_eq!(
        err.message,
        "dir.fetch PATH_POLICY_DENIED: directory preflight entry /ok/secret is not allowed by policy: path matches a denyPaths pattern"
    );
    assert_eq!(Value::Object(err.details), json!({"path": "/ok/secret", "reason": "path matches a denyPaths pattern"}));
}

/// `verifyDirFetchArchive`: the decoded size must match `tarBytes`.
#[test]
fn dir_fetch_archive_size_is_verified() {
    let config = json!({"policyVersion": 2, "nodes": {"*": {"allowReadPaths": ["/ok", "/ok/**"]}}});
    let mut link = script(vec![
        json!({"ok": true, "path": "/ok", "entries": [], "binding": binding()}),
        json!({"ok": true, "path": "/ok", "tarBase64": "AAAA", "tarBytes": 4, "binding": binding()}),
    ]);
    let err = run_blocking(&mut link, &config, "dir.fetch", json!({"path": "/ok"})).unwrap_err();
    assert_eq!(err.code.as_deref(), Some("ARCHIVE_SIZE_MISMATCH"));
    assert_eq!(
        err.message,
        "dir.fetch ARCHIVE_SIZE_MISMATCH: dir.fetch archive size mismatch: payload says 4 bytes, decoded 3; refusing archive transfer"
    );
}

/// `requestApproval`'s decision mapping: only allow-once / allow-always let a call through;
/// no decision is APPROVAL_UNAVAILABLE, anything else APPROVAL_DENIED, with upstream's texts.
#[test]
fn decisions_map_as_upstream() {
    assert_eq!(map_decision(Some("allow-once")), Ok(false));
    assert_eq!(map_decision(Some("allow-always")), Ok(true));
    assert_eq!(
        map_decision(None),
        Err(("APPROVAL_UNAVAILABLE", "no operator available", "no operator client connected to approve the request"))
    );
    assert_eq!(map_decision(Some("deny")), Err(("APPROVAL_DENIED", "operator denied", "operator denied the prompt")));
    assert_eq!(
        map_decision(Some("maybe")),
        Err(("APPROVAL_DENIED", "invalid approval decision", "invalid approval decision"))
    );
}

/// The prompt's wording, as upstream's (`promptVerb`, the dir.fetch descendant note).
#[test]
fn prompts_are_worded_as_upstream() {
    let p = ask_prompt("file.write", Kind::Write, "n1", Some("box"), "/x");
    assert_eq!(p.title, "Write file: /x");
    assert_eq!(
        p.description,
        "Allow write file on box\nPath: /x\nNode ID: n1\n\n\"allow-always\" saves this exact command and path for this node."
    );
    assert_eq!((p.severity, p.tool_name.as_str()), ("warning", "file.write"));
    let p = ask_prompt("dir.fetch", Kind::Read, "n1", None, "/d");
    assert_eq!(p.title, "Fetch directory: /d");
    assert!(p.description.starts_with(
        "Allow fetch directory on n1\nPath: /d\n\nThis fetch includes descendants of this directory; deny rules still apply.\nNode ID: n1"
    ));
    assert_eq!(p.severity, "info");
    let p = reapproval_prompt("file.stat", Kind::Read, "n1", "/l", "/moved/l");
    assert_eq!(p.title, "Read file metadata target changed: /l");
    assert_eq!(
        p.description,
        "The node now resolves this path to:\n/moved/l\n\nApprove this exact canonical target for n1."
    );
}

/// `ask` prompts an operator before anything is sent: no decision or deny refuses (nothing
/// sent), allow-once runs the call, allow-always runs it and saves the literal grant.
#[test]
fn ask_prompts_and_maps_the_answer() {
    for ask in ["always", "on-miss"] {
        let config = json!({"policyVersion": 2, "nodes": {"*": {"ask": ask}}});
        for (decision, code, message) in [
            (
                None,
                "APPROVAL_UNAVAILABLE",
                "file.stat APPROVAL_UNAVAILABLE: no operator client connected to approve the request",
            ),
            (Some("deny"), "APPROVAL_DENIED", "file.stat APPROVAL_DENIED: operator denied the prompt"),
        ] {
            let mut link = script(vec![]);
            link.decisions.push_back(decision);
            let err = run_blocking(&mut link, &config, "file.stat", json!({"path": "/x"})).unwrap_err();
            assert_eq!((err.code.as_deref(), err.message.as_str()), (Some(code), message));
            assert!(link.sent.is_empty());
            assert_eq!(link.audits[0]["decision"], "denied:approval");
            assert_eq!(link.prompts[0].title, "Read file metadata: /x");
        }
        for (decision, audit, saved) in [("allow-once", "allowed:once", 0), ("allow-always", "allowed:always", 1)] {
            let mut link = script(vec![
                json!({"ok": true, "path": "/real/x", "binding": binding()}),
                json!({"ok": true, "path": "/real/x", "size": 1, "binding": binding()}),
            ]);
            link.decisions.push_back(Some(decision));
            let (payload, _) = run_blocking(&mut link, &config, "file.stat", json!({"path": "/x"})).unwrap();
            assert_eq!(payload["path"], "/real/x");
            assert_eq!(link.sent.len(), 2);
            assert_eq!(link.audits[0]["decision"], audit);
            assert_eq!(link.audits.last().unwrap()["decision"], "allowed");
            assert_eq!(link.grants.len(), saved);
            if saved == 1 {
                assert_eq!(
                    link.grants[0],
                    Grant {
                        node_id: "n1".into(),
                        command: "file.stat".into(),
                        requested_path: "/x".into(),
                        canonical_path: "/real/x".into(),
                        pending_selector: None,
                    }
                );
            }
        }
    }
}

/// A grant that cannot be saved does not fail the transfer: the payload carries upstream's
/// warning and the audit an APPROVAL_PERSIST_FAILED error.
#[test]
fn unsaved_grant_warns() {
    let config = json!({"policyVersion": 2, "nodes": {"*": {"ask": "always"}}});
    let mut link = script(vec![
        json!({"ok": true, "path": "/x", "binding": binding()}),
        json!({"ok": true, "path": "/x", "binding": binding()}),
    ]);
    link.decisions.push_back(Some("allow-always"));
    link.persist_fails = true;
    let (payload, payload_json) = run_blocking(&mut link, &config, "file.stat", json!({"path": "/x"})).unwrap();
    assert!(payload["standingApprovalWarning"].as_str().unwrap().starts_with("The transfer succeeded"));
    assert!(payload_json.unwrap().contains("standingApprovalWarning"));
    assert!(link.audits.iter().any(|a| a["errorCode"] == "APPROVAL_PERSIST_FAILED"));
}

/// A literal grant pins the canonical path: the preflight carries it; a moved canonical path
/// asks again ("target changed"), and without approval it is CANONICAL_PATH_CHANGED.
#[test]
fn literal_grant_pins_canonical_path() {
    let config = json!({"policyVersion": 2, "nodes": {"*": {}},
        "literalGrants": [{"nodeId": "n1", "command": "file.stat", "requestedPath": "/l", "canonicalPath": "/real/l"}]});
    let mut link = script(vec![json!({"ok": true, "path": "/moved/l", "binding": binding()})]);
    link.decisions.push_back(Some("deny"));
    let err = run_blocking(&mut link, &config, "file.stat", json!({"path": "/l"})).unwrap_err();
    assert_eq!(link.sent[0]["expectedCanonicalPath"], "/real/l");
    assert_eq!(err.code.as_deref(), Some("CANONICAL_PATH_CHANGED"));
    assert_eq!(err.details["path"], "/moved/l");
    assert_eq!(link.prompts[0].title, "Read file metadata target changed: /l");
    // Reapproved (allow-always): the call runs and the grant moves to the new canonical path.
    let mut link = script(vec![
        json!({"ok": true, "path": "/moved/l", "binding": binding()}),
        json!({"ok": true, "path": "/moved/l", "binding": binding()}),
    ]);
    link.decisions.push_back(Some("allow-always"));
    run_blocking(&mut link, &config, "file.stat", json!({"path": "/l"})).unwrap();
    assert_eq!(link.grants[0].canonical_path, "/moved/l");
}

/// Node failures become `<op> preflight failed: …` / `<op> failed: …`, UNAVAILABLE, with
/// `details.nodeError`.
#[test]
fn node_failures_are_unavailable() {
    let config = config();
    let mut link = Script::default();
    link.answers.push_back(Err(NodeError { code: "TIMEOUT".into(), message: "node invoke timed out".into() }));
    let err = run_blocking(&mut link, &config, "file.stat", json!({"path": "/ok/a"})).unwrap_err();
    assert!(err.unavailable);
    assert_eq!(err.message, "file.stat preflight failed: node invoke timed out");
    let shape = err.into_error(true);
    assert_eq!(
        shape.details.unwrap(),
        json!({"nodeError": {"code": "TIMEOUT", "message": "node invoke timed out"}, "nodeCommandDispatched": true, "code": "TIMEOUT"})
    );
}

/// `joinRemotePolicyPath` and `dirFetchPolicyPaths`.
#[test]
fn entry_paths_join_and_expand() {
    assert_eq!(join_policy_path("/a/", "./b/c"), "/a/b/c");
    assert_eq!(join_policy_path("/", "b"), "/b");
    assert_eq!(join_policy_path("/a", "."), "/a");
    assert_eq!(policy_paths(&["x/y/z", "x/w"]), [".", "x", "x/y", "x/y/z", "x/w"]);
    assert_eq!(entry_problem("../x"), Some("entry contains '..' traversal"));
    assert_eq!(entry_problem("/x"), Some("entry is absolute"));
}
