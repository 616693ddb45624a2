use serde_json::json;

use super::*;

fn eval(config: Value, kind: Kind, path: &str) -> Decision {
    let request = Request { node_id: "n1", display_name: Some("box"), kind, command: Some("file.fetch"), path };
    evaluate(Some(&config), &request, false)
}

fn code(d: &Decision) -> Option<&'static str> {
    match d.verdict {
        Verdict::Denied { code, .. } => Some(code),
        _ => None,
    }
}

/// Rule 1 (`containsParentRefSegment`): a raw `..` segment, with `\` as a separator, is
/// refused before any glob runs, even when nothing is configured.
#[test]
fn parent_segments_are_refused_first() {
    let d = evaluate(
        None,
        &Request { node_id: "n", display_name: None, kind: Kind::Read, command: None, path: "/a/../b" },
        false,
    );
    assert_eq!(
        (code(&d), d.reason.as_str()),
        (Some("POLICY_DENIED"), "path contains '..' segments; reject before glob match")
    );
    assert!(contains_parent_ref("C:\\x\\..\\y"));
    assert!(!contains_parent_ref("/a/..b/c"));
}

/// Rule 2 (NO_POLICY, not askable): no config, `nodes` not an object, or no entry for the
/// node under its id, its display name or `"*"`.
#[test]
fn no_config_or_no_entry_is_no_policy() {
    let d = evaluate(
        None,
        &Request { node_id: "n", display_name: None, kind: Kind::Read, command: None, path: "/a" },
        false,
    );
    assert_eq!(code(&d), Some("NO_POLICY"));
    assert!(d.reason.starts_with("no plugins.entries.file-transfer.config.nodes config"));
    let d = eval(json!({"policyVersion": 2, "nodes": []}), Kind::Read, "/a");
    assert_eq!(code(&d), Some("NO_POLICY"));
    let d = eval(json!({"policyVersion": 2, "nodes": {"other": {"allowReadPaths": ["/**"]}}}), Kind::Read, "/a");
    assert_eq!(
        d.reason,
        "no file-transfer policy entry for \"box\"; configure plugins.entries.file-transfer.config.nodes or \"*\""
    );
}

/// Rule 3 (POLICY_MIGRATION_REQUIRED): allow rules without `policyVersion: 2` are legacy.
#[test]
fn legacy_rules_need_migration() {
    let d = eval(json!({"nodes": {"*": {"allowReadPaths": ["/**"]}}}), Kind::Read, "/a");
    assert_eq!(code(&d), Some("POLICY_MIGRATION_REQUIRED"));
    // Without positive rules there is nothing to migrate: the normal rules run.
    let d = eval(json!({"nodes": {"*": {"denyPaths": ["/x"]}}}), Kind::Read, "/a");
    assert_eq!(d.reason, "no allowReadPaths configured");
    // `2.0` is the number 2.
    let d = eval(json!({"policyVersion": 2.0, "nodes": {"*": {"allowReadPaths": ["/**"]}}}), Kind::Read, "/a");
    assert_eq!(d.verdict, Verdict::MatchedAllow);
}

/// `resolveNodePolicy`: the node id wins over the display name, which wins over `"*"`; a
/// falsy entry is skipped.
#[test]
fn node_entry_resolution_order() {
    let config = json!({"policyVersion": 2, "nodes": {
        "*": {"allowReadPaths": ["/star/**"]},
        "box": {"allowReadPaths": ["/name/**"]},
        "n1": {"allowReadPaths": ["/id/**"]},
    }});
    assert!(eval(config.clone(), Kind::Read, "/id/x").is_ok());
    assert!(!eval(config.clone(), Kind::Read, "/name/x").is_ok());
    let by_name = json!({"policyVersion": 2, "nodes": {"*": {"allowReadPaths": ["/star/**"]}, "box": {"allowReadPaths": ["/name/**"]}}});
    assert!(eval(by_name.clone(), Kind::Read, "/name/x").is_ok());
    assert!(!eval(by_name, Kind::Read, "/star/x").is_ok());
    let falsy = json!({"policyVersion": 2, "nodes": {"n1": null, "box": "", "*": {"allowReadPaths": ["/star/**"]}}});
    assert!(eval(falsy, Kind::Read, "/star/x").is_ok());
}

/// Rule 4 (denyPaths, hard deny): wins over allow globs and over `ask: "always"`, and also
/// matches the path with a trailing `/` (`/x/**` denies `/x`).
#[test]
fn deny_paths_win() {
    let config = json!({"policyVersion": 2, "nodes": {"*": {
        "ask": "always", "allowReadPaths": ["/data/**"], "denyPaths": ["/data/secret/**", "**/.env"]
    }}});
    for path in ["/data/secret", "/data/secret/a", "/data/app/.env"] {
        let d = eval(config.clone(), Kind::Read, path);
        assert_eq!(
            (code(&d), d.reason.as_str()),
            (Some("POLICY_DENIED"), "path matches a denyPaths pattern"),
            "{path}"
        );
        assert_eq!(d.verdict, Verdict::Denied { code: "POLICY_DENIED", askable: false });
    }
    assert_eq!(eval(config, Kind::Read, "/data/x").verdict, Verdict::AskAlways);
}

/// `~` in a pattern is the gateway's home directory.
#[test]
fn tilde_expands_to_home() {
    let home = std::env::var("HOME").unwrap();
    let config = json!({"policyVersion": 2, "nodes": {"*": {"allowReadPaths": ["~/docs/**"]}}});
    assert!(eval(config.clone(), Kind::Read, &format!("{}/docs/a", home.trim_end_matches('/'))).is_ok());
    assert!(!eval(config, Kind::Read, "/elsewhere/docs/a").is_ok());
}

/// Rules 5–8: allow globs per kind, then literal grants, then `ask: "on-miss"` (askable), then
/// a plain denial whose text says whether any allow glob exists.
#[test]
fn allow_globs_literals_and_ask() {
    let config = json!({"policyVersion": 2, "nodes": {"*": {"allowReadPaths": ["/r/**"], "allowWritePaths": ["/w/**"]}},
        "literalGrants": [{"nodeId": "n1", "command": "file.fetch", "requestedPath": "/lit", "canonicalPath": "/real/lit"}]});
    assert_eq!(eval(config.clone(), Kind::Read, "/r/a").verdict, Verdict::MatchedAllow);
    assert_eq!(eval(config.clone(), Kind::Write, "/r/a").reason, "path does not match any allowWritePaths pattern");
    assert_eq!(eval(config.clone(), Kind::Read, "/lit").verdict, Verdict::MatchedLiteral("/real/lit".into()));
    let on_miss = json!({"policyVersion": 2, "nodes": {"*": {"ask": "on-miss"}}});
    assert_eq!(
        eval(on_miss.clone(), Kind::Read, "/a").verdict,
        Verdict::Denied { code: "POLICY_DENIED", askable: true }
    );
    assert_eq!(eval(on_miss, Kind::Read, "/a").reason, "path does not match any allowReadPaths pattern");
    let off = json!({"policyVersion": 2, "nodes": {"*": {"ask": "sometimes"}}});
    assert_eq!(eval(off, Kind::Write, "/a").reason, "no allowWritePaths configured");
}

/// A pending reapproval for this selector, kind and path turns a miss into an askable denial.
#[test]
fn pending_reapproval_is_askable() {
    let config = json!({"policyVersion": 2, "nodes": {"box": {}},
        "pendingReapprovals": [{"selector": "box", "kind": "read", "path": "/p"}]});
    let d = eval(config, Kind::Read, "/p");
    assert_eq!((d.reason.as_str(), d.pending_selector.as_deref()), ("path requires exact reapproval", Some("box")));
}

/// `evaluateFilePolicyConstraints`: only the hard rules; a path no glob allows passes.
#[test]
fn constraints_only_stop_after_deny_paths() {
    let config =
        json!({"policyVersion": 2, "nodes": {"*": {"denyPaths": ["/d/**"], "maxBytes": 10.7, "followSymlinks": true}}});
    let r = |path| Request { node_id: "n1", display_name: None, kind: Kind::Read, command: None, path };
    let d = evaluate(Some(&config), &r("/x"), true);
    assert_eq!((d.verdict.clone(), d.max_bytes, d.follow_symlinks), (Verdict::MatchedAllow, Some(10.0), true));
    assert!(!evaluate(Some(&config), &r("/d/x"), true).is_ok());
}

/// An extglob this matcher cannot evaluate denies as a deny pattern and never allows.
#[test]
fn unsupported_patterns_fail_closed() {
    let config = json!({"policyVersion": 2, "nodes": {"*": {"allowReadPaths": ["/a/+(b)"], "denyPaths": ["/z/@(q)"]}}});
    assert!(!eval(config.clone(), Kind::Read, "/a/b").is_ok());
    assert_eq!(eval(config, Kind::Read, "/y").reason, "path matches a denyPaths pattern");
}

/// `validateFetchMaxBytesParam` and `readFileFetchBinaryMaxBytes`, with upstream's texts.
#[test]
fn fetch_params_are_validated() {
    let v = |cmd, p: Value| validate_fetch_params(cmd, p.as_object().unwrap()).map_err(|e| e.0);
    assert_eq!(v("file.fetch", json!({"maxBytes": 0})), Err("maxBytes must be a positive integer".into()));
    assert_eq!(v("dir.fetch", json!({"maxBytes": "1.5"})), Err("maxBytes must be a positive integer".into()));
    assert_eq!(v("dir.fetch", json!({"maxBytes": "1e3"})), Ok(()));
    assert_eq!(v("dir.fetch", json!({"maxBytes": null})), Ok(()));
    assert_eq!(v("dir.list", json!({"maxBytes": -1})), Ok(()));
    assert_eq!(
        v("file.fetch", json!({"transport": null})),
        Err("file.fetch transport must be \"binary\" when supplied".into())
    );
    assert_eq!(
        v("file.fetch", json!({"transport": "binary", "maxBytes": "5"})),
        Err("binary file.fetch maxBytes must be a positive safe integer".into())
    );
}

/// `prepareParams`: binding fields from the caller are dropped, `followSymlinks` is the
/// policy's unless the caller said false, and `maxBytes` is clamped to the hard and policy limits.
#[test]
fn prepare_params_strips_and_clamps() {
    let p = json!({"path": "/a", "preflightOnly": true, "expectedCanonicalPath": "/b", "expectedBinding": {}, "maxBytes": 99_999_999});
    let out = prepare_params("file.fetch", p.as_object().unwrap(), true, None).unwrap();
    assert_eq!(Value::Object(out), json!({"path": "/a", "maxBytes": 16_777_216, "followSymlinks": true}));
    let p = json!({"path": "/a", "followSymlinks": false});
    let out = prepare_params("dir.fetch", p.as_object().unwrap(), true, Some(100.0)).unwrap();
    assert_eq!(Value::Object(out), json!({"path": "/a", "followSymlinks": false, "maxBytes": 100}));
    let p = json!({"path": "/a", "followSymlinks": true});
    let out = prepare_params("dir.list", p.as_object().unwrap(), false, Some(5.0)).unwrap();
    assert_eq!(Value::Object(out), json!({"path": "/a", "followSymlinks": false}));
    let binary = json!({"path": "/a", "transport": "binary", "maxBytes": 40_000_000});
    let out = prepare_params("file.fetch", binary.as_object().unwrap(), false, None).unwrap();
    assert_eq!(out["maxBytes"], 40_000_000);
}

/// `readFileCreateMetadata`: size within the authorised budget and a SHA-256 digest.
#[test]
fn file_create_metadata_is_checked() {
    let sha = "AB".repeat(32);
    let p = json!({"path": "/a", "sizeBytes": 10, "expectedSha256": sha});
    let out = prepare_params("file.create", p.as_object().unwrap(), false, Some(20.0)).unwrap();
    assert_eq!((out["maxBytes"].clone(), out["expectedSha256"].clone()), (json!(20), json!("ab".repeat(32))));
    let err = prepare_params("file.create", p.as_object().unwrap(), false, Some(5.0)).unwrap_err();
    assert_eq!(err.0, "file.create sizeBytes exceeds the authorized byte limit");
    let bad = json!({"path": "/a", "sizeBytes": 1, "expectedSha256": "x"});
    assert_eq!(
        prepare_params("file.create", bad.as_object().unwrap(), false, None).unwrap_err().0,
        "file.create expectedSha256 must be a SHA-256 digest"
    );
}
