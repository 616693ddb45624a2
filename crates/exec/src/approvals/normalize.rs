//! Normalising a document as upstream's `normalizeExecApprovals` does for `set`, with the
//! JavaScript semantics it relies on (truthiness, property order of integer-like keys, `trim`,
//! spreading arrays and strings into index keys) and the errors where it throws.
//!
//! The largest concern of the document and the one most tied to upstream's exact behaviour, so
//! it stands alone with its vectors; reading a stored row ([`super::parse_stored`]) runs it
//! again after the persisted schema.

use serde_json::{json, Map, Value};

pub(super) const SECURITY_VALUES: &[&str] = &["deny", "allowlist", "full"];
pub(super) const ASK_VALUES: &[&str] = &["off", "on-miss", "always"];

/// Why a `set` document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDocument {
    /// Refused by us only (README, "Where we deliberately differ"): a version other than 1,
    /// an `agents.__proto__` key.
    #[error("invalid exec approvals document: {0}")]
    Refused(String),
    /// Where upstream's normaliser throws a `TypeError` (it answers INVALID_REQUEST with
    /// `String(err)`, i.e. this text).
    #[error("TypeError: {0}")]
    TypeError(String),
}

fn type_error(msg: impl Into<String>) -> InvalidDocument {
    InvalidDocument::TypeError(msg.into())
}

// --- JavaScript semantics the normaliser relies on ---------------------------------------

/// `Boolean(v)`.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// `v?.[key]` on a JSON value: only objects have (own, data) properties worth reading.
fn prop<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    v.and_then(Value::as_object).and_then(|o| o.get(key))
}

/// `v ?? fallback` for a property read: `None` for undefined and null.
fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// Whether a key is an array index, which JavaScript objects list first, in numeric order.
fn index_key(k: &str) -> Option<u32> {
    let n: u32 = k.parse().ok()?;
    (n.to_string() == k && n != u32::MAX).then_some(n)
}

/// A map in JavaScript's own-key order: index keys ascending, then the rest as inserted.
fn js_order(map: Map<String, Value>) -> Map<String, Value> {
    let mut indexed: Vec<(u32, String, Value)> = Vec::new();
    let mut rest = Map::new();
    for (k, v) in map {
        match index_key(&k) {
            Some(n) => indexed.push((n, k, v)),
            None => {
                rest.insert(k, v);
            }
        }
    }
    indexed.sort_by_key(|e| e.0);
    let mut out: Map<String, Value> = indexed.into_iter().map(|(_, k, v)| (k, v)).collect();
    out.extend(rest);
    out
}

/// The value as `JSON.parse` builds it: every object in JavaScript's own-key order.
fn js_parsed(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(js_order(o.iter().map(|(k, x)| (k.clone(), js_parsed(x))).collect())),
        Value::Array(a) => Value::Array(a.iter().map(js_parsed).collect()),
        other => other.clone(),
    }
}

/// `{...v}`: an object's own keys, an array's or string's indices, nothing for the rest.
fn spread(v: Option<&Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(o)) => js_order(o.clone()),
        Some(Value::Array(a)) => a.iter().enumerate().map(|(i, x)| (i.to_string(), x.clone())).collect(),
        Some(Value::String(s)) => s.chars().enumerate().map(|(i, c)| (i.to_string(), json!(c.to_string()))).collect(),
        _ => Map::new(),
    }
}

/// JavaScript's `String(number)` for the numbers JSON carries.
fn js_number(n: &serde_json::Number) -> String {
    match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => i.to_string(),
        (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        (None, Some(f)) => f.to_string(),
        _ => n.to_string(),
    }
}

/// The elements `for (const x of v)` visits, or V8's `TypeError` text for a non-iterable.
fn iterate(v: &Value) -> Result<Vec<Value>, InvalidDocument> {
    const NOT_ITERABLE: &str = "is not iterable (cannot read property Symbol(Symbol.iterator))";
    match v {
        Value::Array(a) => Ok(a.clone()),
        Value::String(s) => Ok(s.chars().map(|c| json!(c.to_string())).collect()),
        Value::Number(n) => Err(type_error(format!("number {} {NOT_ITERABLE}", js_number(n)))),
        Value::Bool(b) => Err(type_error(format!("boolean {b} {NOT_ITERABLE}"))),
        Value::Object(_) => Err(type_error(format!("object {NOT_ITERABLE}"))),
        Value::Null => Err(type_error(format!("object null {NOT_ITERABLE}"))),
    }
}

/// `v?.trim()` where `v` must be a string when present (`expr` names it in the error).
fn optional_trim(v: Option<&Value>, expr: &str) -> Result<Option<String>, InvalidDocument> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(js_trim(s).to_string())),
        Some(_) => Err(type_error(format!("{expr} is not a function"))),
    }
}

/// JavaScript's `trim()`.
pub(super) fn js_trim(s: &str) -> &str {
    crate::runner::js_trim(s)
}

/// Sets `key` to `value`, or removes it for `undefined` (which JSON leaves out); an existing
/// key keeps its place, as assigning to a JavaScript property does.
fn assign(obj: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => {
            obj.insert(key.to_string(), v);
        }
        None => {
            obj.shift_remove(key);
        }
    }
}

// --- upstream's normaliser (`normalizeExecApprovals`, exec-approvals-config) ----------------

/// `sanitizeExecApprovalPolicy`: a known, trimmed (case-sensitive) value, else undefined.
fn sanitized_level(v: Option<&Value>, allowed: &[&str]) -> Option<Value> {
    let s = js_trim(v?.as_str()?);
    allowed.contains(&s).then(|| json!(s))
}

/// `normalizeAllowlistPattern`: the lower-cased trimmed pattern, `None` when empty.
fn pattern_key(v: Option<&Value>) -> Option<String> {
    let s = js_trim(v?.as_str()?);
    (!s.is_empty()).then(|| s.to_lowercase())
}

/// `mergeLegacyAgent(current = agents.main, legacy = agents.default)`: fields of `main` win
/// (`??`), allowlists are merged and de-duplicated on lower-cased pattern + trimmed
/// argPattern (entries without a string pattern go), MCP grants of `main` come first.
fn merge_legacy_agent(current: &Value, legacy: &Value) -> Result<Value, InvalidDocument> {
    let mut allowlist = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for source in [current, legacy] {
        let list = present(prop(Some(source), "allowlist")).map(iterate).transpose()?.unwrap_or_default();
        for entry in list {
            if entry.is_null() {
                return Err(type_error("Cannot read properties of null (reading 'pattern')"));
            }
            let Some(pattern) = pattern_key(prop(Some(&entry), "pattern")) else { continue };
            let arg = optional_trim(prop(Some(&entry), "argPattern"), "entry.argPattern?.trim")?.unwrap_or_default();
            if seen.insert(format!("{pattern}\0{arg}")) {
                allowlist.push(entry);
            }
        }
    }
    let mcp_tools = merge_mcp_grants(current, legacy)?;
    let mut merged = spread(Some(legacy));
    merged.extend(spread(Some(current)));
    for key in ["security", "ask", "askFallback", "autoAllowSkills"] {
        let value = present(prop(Some(current), key)).or_else(|| prop(Some(legacy), key)).cloned();
        assign(&mut merged, key, value);
    }
    assign(&mut merged, "allowlist", (!allowlist.is_empty()).then_some(Value::Array(allowlist)));
    assign(&mut merged, "mcpTools", mcp_tools);
    Ok(Value::Object(js_order(merged)))
}

/// The `mcpTools` of a merged legacy agent (undefined unless either side has some).
fn merge_mcp_grants(current: &Value, legacy: &Value) -> Result<Option<Value>, InvalidDocument> {
    let cur = prop(Some(current), "mcpTools");
    let leg = prop(Some(legacy), "mcpTools");
    if !cur.is_some_and(truthy) && !leg.is_some_and(truthy) {
        return Ok(None);
    }
    let mut grants = match present(cur) {
        None => Vec::new(),
        Some(v @ (Value::Array(_) | Value::String(_))) => iterate(v)?,
        Some(_) => return Err(type_error("(current.mcpTools ?? []) is not iterable")),
    };
    let legacy_grants = match present(leg) {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return Err(type_error(
                "(legacy.mcpTools ?? []).filter is not a function or its return value is not iterable",
            ))
        }
    };
    let primitive_eq = |a: Option<&Value>, b: Option<&Value>| match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => !x.is_object() && !x.is_array() && x == y,
        _ => false,
    };
    for grant in legacy_grants {
        let duplicate = match present(cur) {
            None => false,
            Some(Value::Array(entries)) => {
                let mut found = false;
                for entry in entries {
                    if entry.is_null() || grant.is_null() {
                        return Err(type_error("Cannot read properties of null (reading 'server')"));
                    }
                    if primitive_eq(prop(Some(entry), "server"), prop(Some(&grant), "server"))
                        && primitive_eq(prop(Some(entry), "tool"), prop(Some(&grant), "tool"))
                    {
                        found = true;
                        break;
                    }
                }
                found
            }
            Some(_) => return Err(type_error("current.mcpTools?.some is not a function")),
        };
        if !duplicate {
            grants.push(grant);
        }
    }
    Ok(Some(Value::Array(grants)))
}

/// `coerceAllowlistEntries` + `ensureAllowlistIds` + `stripAllowlistCommandText`: `None`
/// when the allowlist stays exactly as given, else its replacement (`Some(None)`: removed).
fn normalized_allowlist(allowlist: Option<&Value>) -> Option<Option<Value>> {
    let list = allowlist?;
    let Some(items) = list.as_array() else { return Some(None) };
    if items.is_empty() {
        return None;
    }
    let mut changed = false;
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::String(p) if !js_trim(p).is_empty() => {
                out.push(json!({"pattern": js_trim(p)}));
                changed = true;
            }
            Value::Object(o) if o.get("pattern").and_then(Value::as_str).is_some_and(|p| !js_trim(p).is_empty()) => {
                let mut entry = o.clone();
                if !entry.get("id").is_some_and(truthy) {
                    entry.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
                    changed = true;
                }
                if entry.get("commandText").is_some_and(Value::is_string) {
                    entry.shift_remove("commandText");
                    changed = true;
                }
                out.push(Value::Object(entry));
            }
            _ => changed = true,
        }
    }
    for entry in out.iter_mut().filter(|e| e.get("id").is_none()) {
        entry["id"] = json!(uuid::Uuid::new_v4().to_string());
    }
    match (changed, out.is_empty()) {
        (false, _) => None,
        (true, true) => Some(None),
        (true, false) => Some(Some(Value::Array(out))),
    }
}

/// Normalises a document as upstream's `normalizeExecApprovals` does for `set`, refusing
/// where it throws. Upstream passes most of a document through: agents are copied as given
/// and rewritten only where their allowlist (strings become `{pattern}`, entries without a
/// non-empty pattern go, an emptied list goes, ids are added, `commandText` is stripped) or
/// their `security`/`ask`/`askFallback` (trimmed, known values only, case-sensitive) change;
/// `agents.default` is merged into `agents.main` first, so a field of `main` wins even when
/// it is invalid; `agents` given as an array or string is spread into index keys; `defaults`
/// keeps only the four policy fields. Whether the result can be stored as a valid document is
/// checked when it is read back ([`parse_stored`](super::parse_stored)). Ours alone refuses a
/// version other than 1 and an `agents.__proto__` key (README).
pub fn normalize(doc: &Value) -> Result<Value, InvalidDocument> {
    if let Some(v) = doc.get("version") {
        if v.as_u64() != Some(1) {
            return Err(InvalidDocument::Refused("version must be 1".into()));
        }
    }
    if doc.get("agents").and_then(Value::as_object).is_some_and(|a| a.contains_key("__proto__")) {
        return Err(InvalidDocument::Refused("agents.__proto__ is not allowed".into()));
    }
    let doc = &js_parsed(doc);
    let socket_in = prop(Some(doc), "socket");
    let socket_path = optional_trim(prop(socket_in, "path"), "file.socket?.path?.trim")?;
    let socket_token = optional_trim(prop(socket_in, "token"), "file.socket?.token?.trim")?;

    let mut agents = spread(prop(Some(doc), "agents"));
    if let Some(legacy) = agents.get("default").filter(|v| truthy(v)).cloned() {
        let main = match agents.get("main").filter(|v| truthy(v)) {
            Some(main) => merge_legacy_agent(main, &legacy)?,
            None => legacy,
        };
        agents.insert("main".into(), main);
        agents.shift_remove("default");
    }
    for agent in agents.values_mut() {
        if agent.is_null() {
            return Err(type_error("Cannot read properties of null (reading 'allowlist')"));
        }
        let allowlist = normalized_allowlist(prop(Some(agent), "allowlist"));
        let levels = [("security", SECURITY_VALUES), ("ask", ASK_VALUES), ("askFallback", SECURITY_VALUES)]
            .map(|(key, allowed)| (key, sanitized_level(prop(Some(agent), key), allowed)));
        let levels_changed = levels.iter().any(|(key, v)| v.as_ref() != prop(Some(agent), key));
        if allowlist.is_some() || levels_changed {
            let Value::Object(obj) = agent else { continue };
            if let Some(list) = allowlist {
                assign(obj, "allowlist", list);
            }
            for (key, value) in levels {
                assign(obj, key, value);
            }
        }
    }

    let defaults_in = prop(Some(doc), "defaults");
    let mut defaults = Map::new();
    for (key, allowed) in [("security", SECURITY_VALUES), ("ask", ASK_VALUES), ("askFallback", SECURITY_VALUES)] {
        assign(&mut defaults, key, sanitized_level(prop(defaults_in, key), allowed));
    }
    assign(&mut defaults, "autoAllowSkills", prop(defaults_in, "autoAllowSkills").cloned());

    let mut socket = Map::new();
    assign(&mut socket, "path", socket_path.filter(|p| !p.is_empty()).map(Value::String));
    assign(&mut socket, "token", socket_token.filter(|t| !t.is_empty()).map(Value::String));
    let mut out = Map::new();
    out.insert("version".into(), json!(1));
    out.insert("socket".into(), Value::Object(socket));
    out.insert("defaults".into(), Value::Object(defaults));
    out.insert("agents".into(), Value::Object(agents));
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids_removed(mut v: Value) -> Value {
        if let Some(agents) = v.get_mut("agents").and_then(Value::as_object_mut) {
            for agent in agents.values_mut() {
                for e in agent.get_mut("allowlist").and_then(Value::as_array_mut).into_iter().flatten() {
                    assert!(e["id"].as_str().is_some_and(|id| !id.is_empty()), "every entry gets an id: {e}");
                    e.as_object_mut().unwrap().shift_remove("id");
                }
            }
        }
        v
    }

    /// Vectors from upstream 2026.9.6's `normalizeExecApprovals` (run on these documents).
    #[test]
    fn set_normalisation_emptied_allowlist_is_removed() {
        let doc = normalize(&json!({"agents": {"*": {"security": "full", "allowlist": [{"pattern": ""}]}}})).unwrap();
        assert_eq!(doc["agents"]["*"], json!({"security": "full"}), "an allowlist left empty goes");
        let kept = normalize(&json!({"agents": {"*": {"allowlist": []}}})).unwrap();
        assert_eq!(kept["agents"]["*"], json!({"allowlist": []}), "an allowlist given empty stays");
        let dropped = normalize(&json!({"agents": {"x": {"allowlist": "ab", "security": 5}}})).unwrap();
        assert_eq!(dropped["agents"]["x"], json!({}), "a non-array allowlist and a non-string level go");
    }

    #[test]
    fn set_normalisation_entries_strings_become_patterns_objects_pass_through() {
        let doc = normalize(&json!({"agents": {"ops": {"allowlist": [
            " /usr/bin/ls ", " ", 7, null, {"pattern": " a ", "source": "manual", "zz": 1, "id": "", "commandText": "c"},
            {"pattern": 5}
        ]}}}))
        .unwrap();
        assert_eq!(
            ids_removed(doc)["agents"]["ops"]["allowlist"],
            json!([{"pattern": "/usr/bin/ls"}, {"pattern": " a ", "source": "manual", "zz": 1}]),
            "strings are trimmed into {{pattern}}; an object keeps its pattern, source and unknown keys \
             (until read back); commandText is stripped"
        );
    }

    #[test]
    fn set_normalisation_legacy_default_merges_before_levels_are_checked() {
        // main's invalid `Full` wins over default's valid level (`??`), then is dropped.
        let doc = normalize(&json!({"agents": {
            "default": {"security": "allowlist", "allowlist": ["/a", {"pattern": "/b"}, {"pattern": "/B "}]},
            "main": {"security": "Full", "ask": "on-miss", "allowlist": [{"pattern": "/A"}, {"pattern": "/b", "argPattern": " x"}]}
        }}))
        .unwrap();
        assert!(doc["agents"].get("default").is_none());
        assert_eq!(
            ids_removed(doc)["agents"]["main"],
            json!({"allowlist": [{"pattern": "/A"}, {"pattern": "/b", "argPattern": " x"}, {"pattern": "/b"}], "ask": "on-miss"}),
            "string entries of default go in the merge; duplicates on lower-cased pattern + trimmed argPattern go"
        );
        let alone = normalize(&json!({"agents": {"default": {"allowlist": ["/a"]}}})).unwrap();
        assert_eq!(ids_removed(alone)["agents"], json!({"main": {"allowlist": [{"pattern": "/a"}]}}));
    }

    /// Rule (issue 11, upstream's `normalizeExecApprovals`): `agents` given as an array is not
    /// kept as an array; it is spread into index keys (`"0"`, `"1"`, …), as upstream's object
    /// spread does, and JavaScript's key order (index keys first) is kept.
    #[test]
    fn set_normalisation_agents_array_is_spread_into_index_keys() {
        let doc = normalize(&json!({"version": 1, "agents": [{"security": "full"}]})).unwrap();
        assert_eq!(doc["agents"], json!({"0": {"security": "full"}}));
        let doc = normalize(&json!({"agents": {"b": {}, "1": {}, "main": {}}})).unwrap();
        let keys: Vec<&String> = doc["agents"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["1", "b", "main"], "JavaScript lists index keys first");
    }

    #[test]
    fn set_normalisation_refuses_where_upstream_throws() {
        let err = |d: Value| normalize(&d).unwrap_err().to_string();
        assert_eq!(err(json!({"socket": {"path": 5}})), "TypeError: file.socket?.path?.trim is not a function");
        assert_eq!(
            err(json!({"agents": {"a": null}})),
            "TypeError: Cannot read properties of null (reading 'allowlist')"
        );
        assert_eq!(
            err(json!({"agents": {"main": {"allowlist": 5}, "default": {"x": 1}}})),
            "TypeError: number 5 is not iterable (cannot read property Symbol(Symbol.iterator))"
        );
        assert_eq!(
            err(json!({"agents": {"main": {"allowlist": [{"pattern": "a", "argPattern": 5}]}, "default": {"x": 1}}})),
            "TypeError: entry.argPattern?.trim is not a function"
        );
        assert_eq!(
            err(json!({"agents": {"main": {"mcpTools": []}, "default": {"mcpTools": "x"}}})),
            "TypeError: (legacy.mcpTools ?? []).filter is not a function or its return value is not iterable"
        );
        // Ours alone (README): version 2 and agents.__proto__.
        assert!(matches!(normalize(&json!({"version": 2})), Err(InvalidDocument::Refused(_))));
        let proto: Value = serde_json::from_str(r#"{"agents":{"__proto__":{}}}"#).unwrap();
        assert!(matches!(normalize(&proto), Err(InvalidDocument::Refused(_))));
    }

    #[test]
    fn set_normalisation_defaults_keep_the_four_policy_fields() {
        let doc = normalize(
            &json!({"defaults": {"security": " deny ", "ask": "sometimes", "other": 1, "autoAllowSkills": "x"},
                                    "socket": {"path": " ", "token": " t "}}),
        )
        .unwrap();
        assert_eq!(doc["defaults"], json!({"security": "deny", "autoAllowSkills": "x"}));
        assert_eq!(doc["socket"], json!({"token": "t"}));
    }
}
