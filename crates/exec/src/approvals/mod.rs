//! The exec-approvals document (`exec.md` §1): normalisation, serialisation, hashing,
//! per-agent resolution and the redacted snapshot the gateway sees.
//!
//! The document is kept as an ordered JSON tree rather than typed structs so that what a
//! gateway sends survives a round trip key for key, and so the raw text (and thus its hash)
//! is what upstream would write: `JSON.stringify(doc, null, 2) + "\n"`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::policy::{Ask, Security};

/// The display path upstream reports for the store.
pub const DISPLAY_PATH: &str = "~/.openclaw/state/openclaw.sqlite#exec_approvals_config";

/// `sha256` hex of the raw text.
pub fn hash_raw(raw: &str) -> String {
    hex(&Sha256::digest(raw.as_bytes()))
}

/// The hash of a missing document: `missing:` + sha256 of the empty string.
pub fn missing_hash() -> String {
    format!("missing:{}", hash_raw(""))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `JSON.stringify(doc, null, 2) + "\n"`.
pub fn serialize(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).expect("JSON values serialise");
    s.push('\n');
    s
}

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

const SECURITY_VALUES: &[&str] = &["deny", "allowlist", "full"];
const ASK_VALUES: &[&str] = &["off", "on-miss", "always"];

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
fn js_trim(s: &str) -> &str {
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
/// checked when it is read back ([`parse_stored`]). Ours alone refuses a version other than 1
/// and an `agents.__proto__` key (README).
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

// --- reading a stored document (the persisted schema, `parsePersistedExecApprovals`) -------

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

/// One allowlist rule as policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowRule {
    /// The entry's id (usage stamps are keyed on it); `None` for bare-string entries.
    pub id: Option<String>,
    /// The executable pattern (a path or glob, or a command marker).
    pub pattern: String,
    /// A pattern the arguments must match, when the rule is bound to them.
    pub arg_pattern: Option<String>,
    /// `Some("allow-always")` for persisted approvals.
    pub source: Option<String>,
}

/// The approvals that apply to one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedApprovals {
    /// The document's security for this agent (agent, then `*`, then defaults).
    pub security: Security,
    /// The document's ask mode for this agent.
    pub ask: Ask,
    /// The security that applies when an approval request times out unanswered.
    pub ask_fallback: Security,
    /// Whether the gateway's skill binaries run by bare name.
    pub auto_allow_skills: bool,
    /// `agents["*"]` rules first, then the agent's own.
    pub allowlist: Vec<AllowRule>,
}

/// Resolves the document for `agent_id` (`None` → `default`): each field from the agent, else
/// `*`, else `defaults`, else the fallback (the node's config policy for security and ask;
/// `deny` for askFallback; false for autoAllowSkills).
pub fn resolve(
    doc: &Value,
    agent_id: Option<&str>,
    fallback_security: Security,
    fallback_ask: Ask,
) -> ResolvedApprovals {
    let key = agent_id.unwrap_or("default");
    let agent = doc.pointer(&format!("/agents/{}", key.replace('~', "~0").replace('/', "~1")));
    let star = doc.pointer("/agents/*");
    let defaults = doc.get("defaults");
    let pick = |field: &str| -> Option<&str> {
        [agent, star, defaults].into_iter().flatten().find_map(|level| level.get(field).and_then(Value::as_str))
    };
    let rules = |level: Option<&Value>| -> Vec<AllowRule> {
        level
            .and_then(|l| l.get("allowlist"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some(AllowRule {
                    id: e.get("id").and_then(Value::as_str).map(String::from),
                    pattern: e.get("pattern")?.as_str()?.to_string(),
                    arg_pattern: e.get("argPattern").and_then(Value::as_str).map(String::from),
                    source: e.get("source").and_then(Value::as_str).map(String::from),
                })
            })
            .collect()
    };
    let mut allowlist = rules(star);
    if key != "*" {
        allowlist.extend(rules(agent));
    }
    ResolvedApprovals {
        security: pick("security").and_then(Security::parse).unwrap_or(fallback_security),
        ask: pick("ask").and_then(Ask::parse).unwrap_or(fallback_ask),
        ask_fallback: pick("askFallback").and_then(Security::parse).unwrap_or(Security::Deny),
        auto_allow_skills: [agent, star, defaults]
            .into_iter()
            .flatten()
            .find_map(|l| l.get("autoAllowSkills").and_then(Value::as_bool))
            .unwrap_or(false),
        allowlist,
    }
}

/// The `defaults` level alone, with the hard fallbacks (full / off / deny / false): what
/// `system.execApprovals.get` reports as `resolvedDefaults`.
pub fn resolve_defaults(doc: &Value) -> Value {
    let d = doc.get("defaults");
    let field = |k: &str| d.and_then(|d| d.get(k)).and_then(Value::as_str);
    json!({
        "security": field("security").and_then(Security::parse).unwrap_or(Security::Full),
        "ask": field("ask").and_then(Ask::parse).unwrap_or(Ask::Off),
        "askFallback": field("askFallback").and_then(Security::parse).unwrap_or(Security::Deny),
        "autoAllowSkills": d.and_then(|d| d.get("autoAllowSkills")).and_then(Value::as_bool).unwrap_or(false),
    })
}

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

    #[test]
    fn hashes_and_serialisation() {
        assert_eq!(missing_hash(), "missing:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let doc = normalize(&json!({"version": 1})).unwrap();
        assert_eq!(
            serialize(&doc),
            "{\n  \"version\": 1,\n  \"socket\": {},\n  \"defaults\": {},\n  \"agents\": {}\n}\n"
        );
        assert_eq!(hash_raw("{}\n").len(), 64);
    }

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

    #[test]
    fn resolution_layers() {
        let doc = normalize(&json!({
            "defaults": {"security": "allowlist", "askFallback": "allowlist"},
            "agents": {"*": {"ask": "always", "allowlist": ["/bin/a"]}, "ops": {"security": "full", "allowlist": ["/bin/b"]}}
        }))
        .unwrap();
        let ops = resolve(&doc, Some("ops"), Security::Full, Ask::Off);
        assert_eq!((ops.security, ops.ask, ops.ask_fallback), (Security::Full, Ask::Always, Security::Allowlist));
        assert_eq!(ops.allowlist.iter().map(|r| r.pattern.as_str()).collect::<Vec<_>>(), ["/bin/a", "/bin/b"]);
        let other = resolve(&doc, None, Security::Full, Ask::Off);
        assert_eq!((other.security, other.ask), (Security::Allowlist, Ask::Always));
        let empty = resolve(&normalize(&json!({})).unwrap(), None, Security::Full, Ask::Off);
        assert_eq!(
            (empty.security, empty.ask, empty.ask_fallback, empty.auto_allow_skills),
            (Security::Full, Ask::Off, Security::Deny, false)
        );
    }

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
