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
    v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

fn enum_field(v: Option<&Value>, allowed: &[&str]) -> Option<Value> {
    trimmed_str(v).filter(|s| allowed.contains(&s.as_str())).map(Value::String)
}

const SECURITY_VALUES: &[&str] = &["deny", "allowlist", "full"];
const ASK_VALUES: &[&str] = &["off", "on-miss", "always"];

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid exec approvals document: {0}")]
pub struct InvalidDocument(pub String);

fn normalize_policy_fields(src: &Map<String, Value>, out: &mut Map<String, Value>) {
    for (key, allowed) in [("security", SECURITY_VALUES), ("ask", ASK_VALUES), ("askFallback", SECURITY_VALUES)] {
        if let Some(v) = enum_field(src.get(key), allowed) {
            out.insert(key.into(), v);
        }
    }
    if let Some(b) = src.get("autoAllowSkills").and_then(Value::as_bool) {
        out.insert("autoAllowSkills".into(), Value::Bool(b));
    }
}

fn normalize_entry(entry: &Value) -> Option<Value> {
    let mut obj = match entry {
        Value::String(p) => {
            let mut m = Map::new();
            m.insert("pattern".into(), Value::String(p.clone()));
            m
        }
        Value::Object(m) => m.clone(),
        _ => return None,
    };
    let pattern = trimmed_str(obj.get("pattern"))?;
    obj.insert("pattern".into(), Value::String(pattern));
    obj.remove("commandText");
    if obj.get("source").and_then(Value::as_str) != Some("allow-always") {
        obj.remove("source");
    }
    for key in ["lastUsedAt", "lastUsedCommand", "lastResolvedPath", "argPattern"] {
        if obj.get(key).is_some_and(Value::is_null) {
            obj.remove(key);
        }
    }
    if trimmed_str(obj.get("id")).is_none() {
        obj.insert("id".into(), Value::String(uuid::Uuid::new_v4().to_string()));
    }
    Some(Value::Object(obj))
}

fn dedup_key(entry: &Value) -> (String, String) {
    (
        entry["pattern"].as_str().unwrap_or_default().to_lowercase(),
        entry.get("argPattern").and_then(Value::as_str).unwrap_or_default().to_string(),
    )
}

fn normalize_agent(src: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    normalize_policy_fields(src, &mut out);
    if let Some(list) = src.get("allowlist").and_then(Value::as_array) {
        let mut seen = std::collections::HashSet::new();
        let entries: Vec<Value> =
            list.iter().filter_map(normalize_entry).filter(|e| seen.insert(dedup_key(e))).collect();
        out.insert("allowlist".into(), Value::Array(entries));
    }
    if let Some(tools) = src.get("mcpTools").filter(|v| v.is_array()) {
        out.insert("mcpTools".into(), tools.clone());
    }
    out
}

/// Normalises a document as upstream does: version 1; trimmed socket; known enum values only
/// (case-sensitive); `agents.default` merged into `agents.main`; allowlist strings become
/// `{pattern}`, empty patterns go, ids are added, duplicates (pattern case-insensitively plus
/// argPattern) collapse; key order `version, socket, defaults, agents`.
pub fn normalize(doc: &Value) -> Result<Value, InvalidDocument> {
    let obj = doc.as_object().ok_or_else(|| InvalidDocument("expected an object".into()))?;
    if let Some(v) = obj.get("version") {
        if v.as_u64() != Some(1) {
            return Err(InvalidDocument("version must be 1".into()));
        }
    }
    let mut out = Map::new();
    out.insert("version".into(), json!(1));
    if let Some(sock) = obj.get("socket").and_then(Value::as_object) {
        let mut s = Map::new();
        if let Some(p) = trimmed_str(sock.get("path")) {
            s.insert("path".into(), Value::String(p));
        }
        if let Some(t) = trimmed_str(sock.get("token")) {
            s.insert("token".into(), Value::String(t));
        }
        if !s.is_empty() {
            out.insert("socket".into(), Value::Object(s));
        }
    }
    let mut defaults = Map::new();
    if let Some(d) = obj.get("defaults").and_then(Value::as_object) {
        normalize_policy_fields(d, &mut defaults);
    }
    out.insert("defaults".into(), Value::Object(defaults));
    let mut agents = Map::new();
    if let Some(src) = obj.get("agents").and_then(Value::as_object) {
        if src.contains_key("__proto__") {
            return Err(InvalidDocument("agents.__proto__ is not allowed".into()));
        }
        for (name, agent) in src {
            let Some(agent) = agent.as_object() else { continue };
            agents.insert(name.clone(), Value::Object(normalize_agent(agent)));
        }
        if let Some(Value::Object(default)) = agents.shift_remove("default") {
            let mut merged = default.clone();
            let main = agents.get("main").and_then(Value::as_object).cloned().unwrap_or_default();
            for (k, v) in &main {
                if k != "allowlist" {
                    merged.insert(k.clone(), v.clone());
                }
            }
            let mut list: Vec<Value> = main.get("allowlist").and_then(Value::as_array).cloned().unwrap_or_default();
            list.extend(default.get("allowlist").and_then(Value::as_array).cloned().unwrap_or_default());
            if !list.is_empty() || merged.contains_key("allowlist") {
                let mut seen = std::collections::HashSet::new();
                list.retain(|e| seen.insert(dedup_key(e)));
                merged.insert("allowlist".into(), Value::Array(list));
            }
            agents.insert("main".into(), Value::Object(merged));
        }
    }
    out.insert("agents".into(), Value::Object(agents));
    Ok(Value::Object(out))
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
        out.insert("socket".into(), Value::Object(socket));
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
        out.insert("socket".into(), Value::Object(socket));
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
        assert_eq!(serialize(&doc), "{\n  \"version\": 1,\n  \"defaults\": {},\n  \"agents\": {}\n}\n");
        assert_eq!(hash_raw("{}\n").len(), 64);
    }

    #[test]
    fn normalisation_rules() {
        let doc = normalize(&json!({
            "agents": {
                "default": {"security": "allowlist", "allowlist": ["/usr/bin/ls", {"pattern": "git", "argPattern": "^status$"}]},
                "main": {"ask": "on-miss", "security": "Full", "allowlist": [{"pattern": "/USR/BIN/LS", "source": "manual"}, {"pattern": "  "}, 7]}
            },
            "defaults": {"security": " full ", "ask": "sometimes", "autoAllowSkills": true},
            "socket": {"path": " ", "token": " t "},
            "version": 1
        }))
        .unwrap();
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["version", "socket", "defaults", "agents"]);
        assert_eq!(doc["socket"], json!({"token": "t"}));
        assert_eq!(doc["defaults"], json!({"security": "full", "autoAllowSkills": true}));
        let main = &doc["agents"]["main"];
        assert!(doc["agents"].get("default").is_none());
        assert_eq!(main["security"], "allowlist", "default's valid value survives main's invalid one");
        assert_eq!(main["ask"], "on-miss");
        let list = main["allowlist"].as_array().unwrap();
        assert_eq!(list.len(), 2, "case-insensitive dedup of /usr/bin/ls, empty and non-object dropped: {list:?}");
        assert!(list.iter().all(|e| e["id"].is_string()));
        assert!(list[0].get("source").is_none(), "unknown sources are dropped");
        assert!(normalize(&json!({"version": 2})).is_err());
        assert!(normalize(&json!({"agents": {"__proto__": {}}})).is_err());
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
