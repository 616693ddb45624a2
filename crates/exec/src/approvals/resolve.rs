//! Resolving the document for one agent: each field from the agent, then `*`, then
//! `defaults`, then the node's fallback, and the allowlist rules policy matches on.
//!
//! The one view of the document that policy reads, typed, so the decision code never walks
//! the JSON tree itself.

use serde_json::{json, Value};

use crate::policy::{Ask, Security};

/// One allowlist rule as policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowRule {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvals::normalize;

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
}
