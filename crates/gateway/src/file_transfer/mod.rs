//! The gateway side of the file-transfer commands (`file.stat`, `file.fetch`, `dir.list`,
//! `dir.fetch`, `file.write`, `file.create`): upstream's bundled plugin decides every call by
//! a path policy (`plugins.entries.file-transfer.config`, deny by default), then preflights the
//! node and binds the real call to the canonical path and filesystem identity it reported
//! (`../shared/spec/file-transfer-gateway.md`).
//!
//! This gateway does not run that flow yet, so it fails closed: it answers the up-front checks
//! and the policy's first rules exactly as upstream does (`<op> path required`, `..`
//! segments, `NO_POLICY` when nothing is configured, `POLICY_MIGRATION_REQUIRED`, no entry for
//! the node), and refuses whatever a configured policy might allow with upstream's
//! `PLUGIN_POLICY_UNAVAILABLE`, naming why. No file command ever reaches a node through it.

use openclaw_protocol::{ErrorCode, ErrorShape};
use serde_json::{json, Value};

/// The commands the file-transfer policy owns.
pub const COMMANDS: &[&str] = &["file.stat", "file.fetch", "dir.list", "dir.fetch", "file.write", "file.create"];

/// A refusal as upstream's plugin policy reports it: `INVALID_REQUEST` (or `UNAVAILABLE`) with
/// `details.code` and `details.nodeCommandDispatched: false`.
fn refusal(code: ErrorCode, detail_code: &str, message: String) -> ErrorShape {
    let mut e = ErrorShape::new(code, message);
    e.details = Some(json!({"nodeCommandDispatched": false, "code": detail_code}));
    e
}

/// Whether `value` reads as a positive integer the way the policy reads `maxBytes` (a number,
/// or a strict decimal or exponent numeric string).
fn positive_integer(value: &Value) -> bool {
    let n = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let t = s.trim();
            let numeric = !t.is_empty()
                && t.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
                && t.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '+' || c == '.');
            if numeric {
                t.parse::<f64>().ok()
            } else {
                None
            }
        }
        _ => None,
    };
    n.is_some_and(|n| n.is_finite() && n > 0.0 && n.fract() == 0.0)
}

/// Decides a file-transfer `node.invoke` before anything is sent: always a refusal (see the
/// module doc). `config` is `plugins.entries.file-transfer.config`.
pub fn refuse(
    command: &str,
    params: Option<&Value>,
    node_id: &str,
    display_name: Option<&str>,
    config: Option<&Value>,
) -> ErrorShape {
    let empty = serde_json::Map::new();
    let params = params.and_then(Value::as_object).unwrap_or(&empty);
    let path = params.get("path").and_then(Value::as_str).unwrap_or("");
    let invalid = |message: String| refusal(ErrorCode::InvalidRequest, "INVALID_PARAMS", message);
    if path.is_empty() {
        return invalid(format!("{command} path required"));
    }
    let max_bytes = params.get("maxBytes").filter(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()));
    if matches!(command, "file.fetch" | "dir.fetch") && max_bytes.is_some_and(|v| !positive_integer(v)) {
        return invalid("maxBytes must be a positive integer".into());
    }
    if command == "file.fetch" {
        match params.get("transport") {
            Some(t) if t != "binary" => return invalid("file.fetch transport must be \"binary\" when supplied".into()),
            Some(_)
                if !params
                    .get("maxBytes")
                    .and_then(Value::as_f64)
                    .is_some_and(|n| n > 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0) =>
            {
                return invalid("binary file.fetch maxBytes must be a positive safe integer".into())
            }
            _ => {}
        }
    }
    let denied =
        |code: &str, reason: String| refusal(ErrorCode::InvalidRequest, code, format!("{command} {code}: {reason}"));
    if path.replace('\\', "/").split('/').any(|segment| segment == "..") {
        return denied("POLICY_DENIED", "path contains '..' segments; reject before glob match".into());
    }
    let Some(nodes) = config.and_then(|c| c.get("nodes")).and_then(Value::as_object) else {
        return denied(
            "NO_POLICY",
            "no plugins.entries.file-transfer.config.nodes config; file-transfer is deny-by-default until configured"
                .into(),
        );
    };
    let has_allow_paths = nodes.values().any(|entry| {
        ["allowReadPaths", "allowWritePaths"]
            .iter()
            .any(|k| entry.get(k).and_then(Value::as_array).is_some_and(|a| !a.is_empty()))
    });
    if config.and_then(|c| c.get("policyVersion")) != Some(&json!(2)) && has_allow_paths {
        return denied(
            "POLICY_MIGRATION_REQUIRED",
            "older file-transfer permissions need review; run `openclaw file-transfer approvals migrate`".into(),
        );
    }
    let entry = nodes.get(node_id).or_else(|| display_name.and_then(|d| nodes.get(d))).or_else(|| nodes.get("*"));
    if entry.is_none() {
        let name = display_name.unwrap_or(node_id);
        return denied(
            "NO_POLICY",
            format!("no file-transfer policy entry for {name:?}; configure plugins.entries.file-transfer.config.nodes or \"*\""),
        );
    }
    refusal(
        ErrorCode::Unavailable,
        "PLUGIN_POLICY_UNAVAILABLE",
        "file-transfer PLUGIN_POLICY_UNAVAILABLE: node.invoke policy unavailable: this gateway does not run the \
         file-transfer path policy yet, so it sends no file command to a node; use the TypeScript Gateway for file \
         transfer"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: &ErrorShape) -> &str {
        &e.message
    }

    /// Rule (file-transfer-gateway.md §3.1, §4 rules 1–4): upstream's texts, in its order.
    #[test]
    fn refuses_as_upstream_up_to_the_node_entry() {
        let r =
            |cmd, params: Value, config: Option<Value>| refuse(cmd, Some(&params), "n1", Some("box"), config.as_ref());
        assert_eq!(message(&r("file.stat", json!({}), None)), "file.stat path required");
        assert_eq!(
            message(&r("file.fetch", json!({"path": "/a", "maxBytes": 0}), None)),
            "maxBytes must be a positive integer"
        );
        assert_eq!(message(&r("file.fetch", json!({"path": "/a", "maxBytes": "1e3"}), None)), "file.fetch NO_POLICY: no plugins.entries.file-transfer.config.nodes config; file-transfer is deny-by-default until configured");
        assert_eq!(
            message(&r("file.fetch", json!({"path": "/a", "transport": "x"}), None)),
            "file.fetch transport must be \"binary\" when supplied"
        );
        assert_eq!(
            message(&r("dir.list", json!({"path": "/a/../b"}), None)),
            "dir.list POLICY_DENIED: path contains '..' segments; reject before glob match"
        );
        let legacy = json!({"nodes": {"*": {"allowReadPaths": ["/x/**"]}}});
        assert!(message(&r("dir.list", json!({"path": "/a"}), Some(legacy)))
            .starts_with("dir.list POLICY_MIGRATION_REQUIRED: "));
        let other = json!({"policyVersion": 2, "nodes": {"other": {}}});
        assert_eq!(message(&r("file.write", json!({"path": "/a"}), Some(other))), "file.write NO_POLICY: no file-transfer policy entry for \"box\"; configure plugins.entries.file-transfer.config.nodes or \"*\"");
        let configured = json!({"policyVersion": 2, "nodes": {"box": {"allowReadPaths": ["/**"]}}});
        let e = r("file.stat", json!({"path": "/a"}), Some(configured));
        assert_eq!(e.code, "UNAVAILABLE");
        assert_eq!(e.details.unwrap()["code"], "PLUGIN_POLICY_UNAVAILABLE");
    }
}
