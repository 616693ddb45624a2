//! Editing an exec approvals document as `openclaw approvals allowlist add|remove` does: one
//! entry `{id, pattern}` per pattern and agent (`*` = every agent), compared case-insensitively
//! like the node's own de-duplication. The edited document goes back with the `baseHash` it
//! was read with, so a concurrent change on the node is refused instead of overwritten.

use serde_json::{json, Value};

/// Adds `pattern` to `agent`'s allowlist. `false` when it is already there.
pub fn add(doc: &mut Value, agent: &str, pattern: &str) -> bool {
    let list = allowlist_mut(doc, agent);
    if list.iter().any(|e| same(e, pattern)) {
        return false;
    }
    list.push(json!({"id": uuid::Uuid::new_v4().to_string(), "pattern": pattern}));
    true
}

/// Removes `pattern` from `agent`'s allowlist. `false` when it was not there.
pub fn remove(doc: &mut Value, agent: &str, pattern: &str) -> bool {
    let Some(list) = doc.pointer_mut(&format!("/agents/{}/allowlist", escape(agent))).and_then(Value::as_array_mut)
    else {
        return false;
    };
    let before = list.len();
    list.retain(|e| !same(e, pattern));
    before != list.len()
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn same(entry: &Value, pattern: &str) -> bool {
    let p = entry.get("pattern").and_then(Value::as_str).or(entry.as_str()).unwrap_or("");
    p.eq_ignore_ascii_case(pattern) && entry.get("argPattern").is_none()
}

fn allowlist_mut<'a>(doc: &'a mut Value, agent: &str) -> &'a mut Vec<Value> {
    if !doc.is_object() {
        *doc = json!({"version": 1});
    }
    let root = doc.as_object_mut().expect("object");
    let agents = root.entry("agents").or_insert_with(|| json!({}));
    if !agents.is_object() {
        *agents = json!({});
    }
    let a = agents.as_object_mut().expect("object").entry(agent.to_string()).or_insert_with(|| json!({}));
    if !a.is_object() {
        *a = json!({});
    }
    let list = a.as_object_mut().expect("object").entry("allowlist").or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    list.as_array_mut().expect("array")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_remove_patterns() {
        let mut doc = json!({"version": 1, "defaults": {}, "agents": {}});
        assert!(add(&mut doc, "*", "/usr/bin/uname"));
        assert!(!add(&mut doc, "*", "/USR/bin/uname"));
        assert!(add(&mut doc, "main", "/usr/bin/uname"));
        assert_eq!(doc["agents"]["*"]["allowlist"][0]["pattern"], "/usr/bin/uname");
        assert!(doc["agents"]["*"]["allowlist"][0]["id"].is_string());
        assert!(remove(&mut doc, "*", "/usr/bin/uname"));
        assert!(!remove(&mut doc, "*", "/usr/bin/uname"));
        assert!(!remove(&mut doc, "nobody", "/x"));
        assert_eq!(doc["agents"]["main"]["allowlist"].as_array().unwrap().len(), 1);
    }
}
