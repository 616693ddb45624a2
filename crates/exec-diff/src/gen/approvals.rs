//! Generated approvals documents (spec/exec.md §1.4): every security/ask/askFallback level at
//! the defaults and per agent (including agent ids that differ only in case), allowlists of
//! paths, globs, bare names and argPatterns, autoAllowSkills, and a few malformed documents.

use serde_json::{json, Map, Value};

use crate::rng::Rng;

/// Security levels, plus a wrongly cased one that upstream drops.
pub const SECURITY: &[&str] = &["deny", "allowlist", "full", "Full"];
/// Ask levels.
pub const ASK: &[&str] = &["off", "on-miss", "always"];
/// askFallback levels.
pub const ASK_FALLBACK: &[&str] = &["deny", "allowlist", "full"];
/// Agent keys of the document.
pub const AGENT_KEYS: &[&str] = &["*", "main", "Main", "ops", "default"];

/// Allowlist entries: `(tag, entry)`.
pub const PATTERNS: &[(&str, &str)] = &[
    ("path:/usr/bin/echo", r#"{"pattern":"/usr/bin/echo"}"#),
    ("glob:/usr/bin/*", r#"{"pattern":"/usr/bin/*"}"#),
    ("glob:/usr/**", r#"{"pattern":"/usr/**"}"#),
    ("glob:/usr/*", r#"{"pattern":"/usr/*"}"#),
    ("bare:echo", r#"{"pattern":"echo"}"#),
    ("bare:ls", r#"{"pattern":"ls"}"#),
    ("bare:cat", r#"{"pattern":"cat"}"#),
    ("bare:python3", r#"{"pattern":"python3"}"#),
    ("bare:node", r#"{"pattern":"node"}"#),
    ("bare:xargs", r#"{"pattern":"xargs"}"#),
    ("bare:find", r#"{"pattern":"find"}"#),
    ("bare:env", r#"{"pattern":"env"}"#),
    ("bare:sh", r#"{"pattern":"sh"}"#),
    ("bare-glob:e?ho", r#"{"pattern":"e?ho"}"#),
    ("star", r#"{"pattern":"*"}"#),
    ("case-script", r#"{"pattern":"@CASE@/script.sh"}"#),
    ("case-glob", r#"{"pattern":"@CASE@/*"}"#),
    ("tilde", r#"{"pattern":"~/bin/*"}"#),
    ("path:python", r#"{"pattern":"/root/.pyenv/shims/python3"}"#),
    ("argPattern:printf", r#"{"pattern":"printf","argPattern":"^ok$"}"#),
    ("argPattern:echo", r#"{"pattern":"echo","argPattern":"^hello world$"}"#),
    ("argPattern:invalid", r#"{"pattern":"echo","argPattern":"("}"#),
    ("argPattern:nul", r#"{"pattern":"echo","argPattern":"^abs\u0000$"}"#),
    ("argPattern:bash", r#"{"pattern":"/usr/bin/bash","argPattern":".*"}"#),
    ("path:/usr/bin/bash", r#"{"pattern":"/usr/bin/bash"}"#),
    ("allow-always-no-arg", r#"{"pattern":"/usr/bin/echo","source":"allow-always"}"#),
    ("string-entry", r#""/usr/bin/true""#),
    ("empty-pattern", r#"{"pattern":""}"#),
];

/// Malformed or deliberately odd documents.
pub const ODD_DOCS: &[&str] = &["version-2", "agents-proto", "agents-array", "unknown-key", "not-object"];

/// A generated approvals document and its grammar tags.
pub struct Doc {
    /// The document (`@CASE@` placeholders inside).
    pub file: Value,
    /// Grammar rows used.
    pub tags: Vec<String>,
}

fn levels(rng: &mut Rng, obj: &mut Map<String, Value>, tags: &mut Vec<String>, at: &str) {
    for (key, table) in [("security", SECURITY), ("ask", ASK), ("askFallback", ASK_FALLBACK)] {
        if rng.chance(55) {
            let v = *rng.pick(table);
            tags.push(format!("{at}.{key}:{v}"));
            obj.insert(key.into(), json!(v));
        }
    }
    if rng.chance(20) {
        let v = rng.chance(70);
        tags.push(format!("{at}.autoAllowSkills:{v}"));
        obj.insert("autoAllowSkills".into(), json!(v));
    }
}

/// One generated document.
pub fn generate(rng: &mut Rng) -> Doc {
    let mut tags = Vec::new();
    if rng.chance(3) {
        let odd = *rng.pick(ODD_DOCS);
        tags.push(format!("doc-odd:{odd}"));
        let file = match odd {
            "version-2" => json!({"version": 2, "defaults": {"security": "full"}}),
            "agents-proto" => {
                serde_json::from_str(r#"{"version":1,"agents":{"__proto__":{"security":"full"}}}"#).expect("literal")
            }
            "agents-array" => json!({"version": 1, "agents": [{"security": "full"}]}),
            "unknown-key" => json!({"version": 1, "defaults": {"security": "full"}, "extra": true}),
            _ => json!("not a document"),
        };
        return Doc { file, tags };
    }
    let mut defaults = Map::new();
    levels(rng, &mut defaults, &mut tags, "defaults");
    let mut agents = Map::new();
    for key in AGENT_KEYS {
        if !rng.chance(if *key == "*" { 60 } else { 25 }) {
            continue;
        }
        let mut entry = Map::new();
        levels(rng, &mut entry, &mut tags, &format!("agent[{key}]"));
        let n = rng.weighted(&[2, 4, 3, 1]);
        if n > 0 {
            let list: Vec<Value> = (0..n)
                .map(|_| {
                    let (tag, text) = rng.pick(PATTERNS);
                    tags.push(format!("pattern:{tag}"));
                    serde_json::from_str(text).expect("pattern literal")
                })
                .collect();
            entry.insert("allowlist".into(), Value::Array(list));
        }
        tags.push(format!("agent:{key}"));
        agents.insert(key.to_string(), Value::Object(entry));
    }
    let mut file = Map::new();
    file.insert("version".into(), json!(1));
    if !defaults.is_empty() || rng.chance(50) {
        file.insert("defaults".into(), Value::Object(defaults));
    }
    if !agents.is_empty() {
        file.insert("agents".into(), Value::Object(agents));
    }
    Doc { file: Value::Object(file), tags }
}
