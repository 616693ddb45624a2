//! The document's socket (path and token): filled in when missing, kept across a `set` from a
//! client that never saw the token, and removed from what the gateway sees (redaction).
//!
//! Together because the token is the one secret in the document: every path that creates,
//! keeps or hides it is in this file.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::normalize::js_trim;

fn trimmed_str(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(js_trim).filter(|s| !s.is_empty()).map(String::from)
}

/// Upstream writes the socket as `{path, token}`, in that order.
fn socket_in_order(mut socket: Map<String, Value>) -> Value {
    let mut out = Map::new();
    for key in ["path", "token"] {
        if let Some(v) = socket.shift_remove(key) {
            out.insert(key.into(), v);
        }
    }
    out.extend(socket);
    Value::Object(out)
}

/// A fresh socket token: 24 random bytes, base64url.
pub fn new_socket_token() -> String {
    let bytes: [u8; 24] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Fills in the socket path and token if either is missing; returns whether it changed.
pub fn ensure_socket(doc: &mut Value, default_path: &str) -> bool {
    let obj = doc.as_object_mut().expect("normalised documents are objects");
    let mut socket = obj.get("socket").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut changed = false;
    if trimmed_str(socket.get("path")).is_none() {
        socket.insert("path".into(), Value::String(default_path.to_string()));
        changed = true;
    }
    if trimmed_str(socket.get("token")).is_none() {
        socket.insert("token".into(), Value::String(new_socket_token()));
        changed = true;
    }
    if changed {
        // Keep the canonical key order: version, socket, defaults, agents.
        let mut out = Map::new();
        out.insert("version".into(), obj.get("version").cloned().unwrap_or(json!(1)));
        out.insert("socket".into(), socket_in_order(socket));
        for (k, v) in obj.iter().filter(|(k, _)| *k != "version" && *k != "socket") {
            out.insert(k.clone(), v.clone());
        }
        *obj = out;
    }
    changed
}

/// The document as the gateway may see it: the socket token removed.
pub fn redact(doc: &Value) -> Value {
    let mut out = doc.clone();
    if let Some(obj) = out.as_object_mut() {
        match obj.get("socket").and_then(|s| s.get("path")).cloned() {
            Some(path) => {
                obj.insert("socket".into(), json!({ "path": path }));
            }
            None => {
                obj.shift_remove("socket");
            }
        }
    }
    out
}

/// `set` socket merge: the incoming path/token win, else the current ones are kept, so a
/// client that never saw the token cannot erase it.
pub fn merge_socket(incoming: &mut Value, current: Option<&Value>) {
    let cur = current.and_then(|c| c.get("socket")).cloned().unwrap_or(Value::Null);
    let obj = incoming.as_object_mut().expect("normalised documents are objects");
    let mut socket = obj.get("socket").and_then(Value::as_object).cloned().unwrap_or_default();
    for key in ["path", "token"] {
        if trimmed_str(socket.get(key)).is_none() {
            if let Some(v) = trimmed_str(cur.get(key)) {
                socket.insert(key.into(), Value::String(v));
            }
        }
    }
    if !socket.is_empty() {
        let mut out = Map::new();
        out.insert("version".into(), json!(1));
        out.insert("socket".into(), socket_in_order(socket));
        for (k, v) in obj.iter().filter(|(k, _)| *k != "version" && *k != "socket") {
            out.insert(k.clone(), v.clone());
        }
        *obj = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvals::{normalize, serialize};

    #[test]
    fn socket_ensure_redact_and_merge() {
        let mut doc = normalize(&json!({})).unwrap();
        assert!(ensure_socket(&mut doc, "/s/exec-approvals.sock"));
        assert!(!ensure_socket(&mut doc, "/s/exec-approvals.sock"));
        let token = doc["socket"]["token"].as_str().unwrap().to_string();
        assert_eq!(token.len(), 32);
        let red = redact(&doc);
        assert_eq!(red["socket"], json!({"path": "/s/exec-approvals.sock"}));
        assert!(!serialize(&red).contains(&token));
        let mut incoming = normalize(&json!({"defaults": {"security": "deny"}})).unwrap();
        merge_socket(&mut incoming, Some(&doc));
        assert_eq!(incoming["socket"]["token"], token.as_str(), "a client that never saw the token keeps it");
        assert_eq!(incoming.as_object().unwrap().keys().next().unwrap(), "version");
    }
}
