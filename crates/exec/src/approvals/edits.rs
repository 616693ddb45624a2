//! The allow-always edits a run makes to the document: a cwd-bound rule, or a command marker.
//!
//! Apart because these are the only writes the node makes to the allowlist on its own, and
//! which older rules such a write replaces is a policy rule of its own.

use serde_json::{json, Value};

/// Adds an allow-always rule (`pattern` + cwd-bound `argPattern`) to `agent`'s allowlist,
/// replacing older allow-always rules for the same pattern that are not bound to a cwd.
/// Returns false when an identical rule already exists.
pub fn add_allow_always(doc: &mut Value, agent: &str, pattern: &str, arg_pattern: &str, now_ms: i64) -> bool {
    let agents = doc.as_object_mut().expect("normalised").entry("agents").or_insert_with(|| json!({}));
    let agent =
        agents.as_object_mut().expect("agents is an object").entry(agent.to_string()).or_insert_with(|| json!({}));
    let list = agent.as_object_mut().expect("agent is an object").entry("allowlist").or_insert_with(|| json!([]));
    let list = list.as_array_mut().expect("allowlist is an array");
    let same = |e: &Value| e.get("pattern").and_then(Value::as_str) == Some(pattern);
    if list.iter().any(|e| same(e) && e.get("argPattern").and_then(Value::as_str) == Some(arg_pattern)) {
        return false;
    }
    list.retain(|e| {
        !(same(e)
            && e.get("source").and_then(Value::as_str) == Some("allow-always")
            && !e.get("argPattern").and_then(Value::as_str).is_some_and(|a| a.starts_with("sha256:cwd-argv:")))
    });
    list.push(json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "pattern": pattern,
        "argPattern": arg_pattern,
        "source": "allow-always",
        "lastUsedAt": now_ms,
    }));
    true
}

/// Adds an allow-always marker entry (`=node-command:…`, no argPattern) unless it is there.
pub fn add_allow_always_marker(doc: &mut Value, agent: &str, marker: &str, now_ms: i64) -> bool {
    let agents = doc.as_object_mut().expect("normalised").entry("agents").or_insert_with(|| json!({}));
    let agent =
        agents.as_object_mut().expect("agents is an object").entry(agent.to_string()).or_insert_with(|| json!({}));
    let list = agent.as_object_mut().expect("agent is an object").entry("allowlist").or_insert_with(|| json!([]));
    let list = list.as_array_mut().expect("allowlist is an array");
    if list.iter().any(|e| e.get("pattern").and_then(Value::as_str) == Some(marker)) {
        return false;
    }
    list.push(json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "pattern": marker,
        "source": "allow-always",
        "lastUsedAt": now_ms,
    }));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvals::normalize;

    #[test]
    fn allow_always_rules() {
        let mut doc =
            normalize(&json!({"agents": {"*": {"allowlist": [{"pattern": "/bin/ls", "source": "allow-always"}]}}}))
                .unwrap();
        assert!(add_allow_always(&mut doc, "*", "/bin/ls", "sha256:cwd-argv:v1:ab", 1));
        assert!(!add_allow_always(&mut doc, "*", "/bin/ls", "sha256:cwd-argv:v1:ab", 2), "no duplicates");
        let list = doc["agents"]["*"]["allowlist"].as_array().unwrap();
        assert_eq!(list.len(), 1, "the unbound allow-always rule is replaced: {list:?}");
        assert_eq!(list[0]["source"], "allow-always");
        assert!(add_allow_always(&mut doc, "ops", "/bin/ls", "sha256:cwd-argv:v1:cd", 3));
        assert_eq!(doc["agents"]["ops"]["allowlist"][0]["argPattern"], "sha256:cwd-argv:v1:cd");
    }
}
