//! Reading a stored document (the persisted schema, `parsePersistedExecApprovals`): strict
//! types for every known field, or the fail-closed document that denies every run.
//!
//! Kept apart from `set`'s normalisation because the two disagree on purpose: `set` accepts
//! more than can be stored as a valid policy, and the stored row is what decides.

use serde_json::{json, Map, Value};

use super::normalize::{js_trim, normalize, ASK_VALUES, SECURITY_VALUES};

/// What a stored document that does not pass the persisted schema reads as: deny everything
/// (upstream's fail-closed fallback).
pub fn fail_closed() -> Value {
    json!({"version": 1, "socket": {}, "defaults": {"security": "deny", "ask": "off", "askFallback": "deny", "autoAllowSkills": false}, "agents": {}})
}

/// The document as upstream reads a stored row: the text must be JSON that passes the
/// persisted schema (strict types for every known field, agents and entries objects, known
/// enum values, `agents.__proto__` refused), which also drops an entry's `source` other than
/// `allow-always` and orders known fields first; the result is normalised again. Anything
/// else reads as [`fail_closed`]: a document `set` accepted but that cannot be stored as a
/// valid policy denies every run.
pub fn parse_stored(raw: &str) -> Value {
    serde_json::from_str::<Value>(raw)
        .ok()
        .and_then(|doc| persisted_view(&doc))
        .and_then(|doc| normalize(&doc).ok())
        .unwrap_or_else(fail_closed)
}

/// The persisted schema's output for `doc`, or `None` where it fails.
fn persisted_view(doc: &Value) -> Option<Value> {
    let obj = doc.as_object()?;
    if obj.get("version") != Some(&json!(1)) {
        return None;
    }
    let mut out = Map::new();
    out.insert("version".into(), json!(1));
    if let Some(socket) = obj.get("socket") {
        out.insert("socket".into(), schema_object(socket, &[("path", Field::Str), ("token", Field::Str)])?);
    }
    if let Some(defaults) = obj.get("defaults") {
        out.insert("defaults".into(), schema_object(defaults, POLICY_FIELDS)?);
    }
    if let Some(agents) = obj.get("agents") {
        let agents = agents.as_object()?;
        if agents.contains_key("__proto__") {
            return None;
        }
        let mut parsed = Map::new();
        for (name, agent) in agents {
            parsed.insert(name.clone(), schema_object(agent, AGENT_FIELDS)?);
        }
        out.insert("agents".into(), Value::Object(parsed));
    }
    for (k, v) in obj {
        if !matches!(k.as_str(), "version" | "socket" | "defaults" | "agents") {
            out.insert(k.clone(), v.clone());
        }
    }
    Some(Value::Object(out))
}

/// A field of the persisted schema.
#[derive(Clone, Copy)]
enum Field {
    Str,
    Bool,
    /// A finite number (`nonnegative` when true).
    Number(bool),
    /// A string that is not blank after trimming.
    NonBlank,
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// Any string; kept only when it is `allow-always`.
    Source,
    /// Exactly `allow-always`.
    AllowAlways,
    /// An array of allowlist entries.
    Allowlist,
    /// An array of MCP tool grants.
    McpTools,
}

const POLICY_FIELDS: &[(&str, Field)] = &[
    ("security", Field::OneOf(SECURITY_VALUES)),
    ("ask", Field::OneOf(ASK_VALUES)),
    ("askFallback", Field::OneOf(SECURITY_VALUES)),
    ("autoAllowSkills", Field::Bool),
];

const AGENT_FIELDS: &[(&str, Field)] = &[
    ("security", Field::OneOf(SECURITY_VALUES)),
    ("ask", Field::OneOf(ASK_VALUES)),
    ("askFallback", Field::OneOf(SECURITY_VALUES)),
    ("autoAllowSkills", Field::Bool),
    ("allowlist", Field::Allowlist),
    ("mcpTools", Field::McpTools),
];

const ENTRY_FIELDS: &[(&str, Field)] = &[
    ("pattern", Field::NonBlank),
    ("id", Field::Str),
    ("source", Field::Source),
    ("commandText", Field::Str),
    ("argPattern", Field::Str),
    ("lastUsedAt", Field::Number(false)),
    ("lastUsedCommand", Field::Str),
    ("lastResolvedPath", Field::Str),
];

const GRANT_FIELDS: &[(&str, Field)] = &[
    ("server", Field::NonBlank),
    ("tool", Field::NonBlank),
    ("source", Field::AllowAlways),
    ("addedAt", Field::Number(true)),
    ("lastUsedAt", Field::Number(true)),
];

/// A loose object of the schema: known fields first (in schema order), then the rest as
/// given. `pattern`, `server`, `tool`, `source` of a grant and `addedAt` are required.
fn schema_object(v: &Value, fields: &[(&str, Field)]) -> Option<Value> {
    let obj = v.as_object()?;
    let mut out = Map::new();
    for (key, field) in fields {
        let Some(value) = obj.get(*key) else {
            let required = matches!(field, Field::NonBlank | Field::AllowAlways) || *key == "addedAt";
            if required {
                return None;
            }
            continue;
        };
        if let Some(parsed) = schema_field(value, *field)? {
            out.insert(key.to_string(), parsed);
        }
    }
    for (k, x) in obj.iter().filter(|(k, _)| !fields.iter().any(|(f, _)| f == k)) {
        out.insert(k.clone(), x.clone());
    }
    Some(Value::Object(out))
}

/// One present field: `None` when it fails, `Some(None)` when it parses to undefined.
fn schema_field(v: &Value, field: Field) -> Option<Option<Value>> {
    let ok = |good: bool| good.then(|| Some(v.clone()));
    match field {
        Field::Str => ok(v.is_string()),
        Field::Bool => ok(v.is_boolean()),
        Field::Number(nonnegative) => ok(v.as_f64().is_some_and(|n| n.is_finite() && (!nonnegative || n >= 0.0))),
        Field::NonBlank => ok(v.as_str().is_some_and(|s| !js_trim(s).is_empty())),
        Field::OneOf(allowed) => ok(v.as_str().is_some_and(|s| allowed.contains(&s))),
        Field::Source => v.as_str().map(|s| (s == "allow-always").then(|| v.clone())),
        Field::AllowAlways => ok(v.as_str() == Some("allow-always")),
        Field::Allowlist => {
            let entries = v.as_array()?;
            let mut out = Vec::new();
            for entry in entries {
                out.push(match entry {
                    Value::String(p) if !js_trim(p).is_empty() => json!({"pattern": js_trim(p)}),
                    _ => schema_object(entry, ENTRY_FIELDS)?,
                });
            }
            Some(Some(Value::Array(out)))
        }
        Field::McpTools => {
            let grants = v.as_array()?;
            let out: Option<Vec<Value>> = grants.iter().map(|g| schema_object(g, GRANT_FIELDS)).collect();
            Some(Some(Value::Array(out?)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvals::serialize;

    #[test]
    fn stored_documents_that_fail_the_persisted_schema_read_as_deny_everything() {
        for bad in [
            json!({"version": 1, "defaults": {"autoAllowSkills": "x"}}),
            json!({"version": 1, "agents": {"0": "a"}}),
            json!({"version": 1, "agents": {"x": {"allowlist": [{"pattern": "a", "id": 5}]}}}),
            json!({"version": 1, "agents": {"x": {"allowlist": [{"pattern": "a", "argPattern": null}]}}}),
            json!({"version": 1, "agents": {"x": {"mcpTools": [null]}}}),
        ] {
            assert_eq!(parse_stored(&serialize(&bad)), fail_closed(), "{bad}");
        }
        assert_eq!(parse_stored("not json"), fail_closed());
        let ok = parse_stored(&serialize(&json!({"version": 1, "agents": {"x": {"allowlist": [
            {"pattern": "a", "zz": 1, "source": "manual", "id": "i"}], "security": "full"}}})));
        assert_eq!(ok["agents"]["x"], json!({"security": "full", "allowlist": [{"pattern": "a", "id": "i", "zz": 1}]}));
        let keys: Vec<&String> = ok["agents"]["x"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["security", "allowlist"], "known fields first, as the schema lists them");
    }
}
