//! The policy snapshot an approval is bound to (`exec.md` §6.3).
//!
//! An approval given through `system.run.prepare` carries a snapshot of the approvals policy
//! at that time (the document alone, not the node's config layer), and the run goes ahead
//! only while the current policy still covers it: the same four modes, and every rule the
//! approval relied on still present (or since upgraded to an allow-always rule).

use serde_json::{json, Map, Value};

use crate::approvals;
use crate::policy::{Ask, Security};

/// `policySnapshot`: the approvals policy alone (no config layer) and its rules, sorted.
pub fn policy_snapshot(doc: &Value, agent_id: Option<&str>) -> Value {
    let r = approvals::resolve(doc, agent_id, Security::Full, Ask::Off);
    let mut rules: Vec<(String, Option<String>, Option<String>)> =
        r.allowlist.iter().map(|a| (a.pattern.clone(), a.arg_pattern.clone(), a.source.clone())).collect();
    rules.sort();
    rules.dedup();
    let rules: Vec<Value> = rules
        .into_iter()
        .map(|(pattern, arg, source)| {
            let mut m = Map::new();
            m.insert("pattern".into(), Value::String(pattern));
            if let Some(a) = arg {
                m.insert("argPattern".into(), Value::String(a));
            }
            if let Some(s) = source {
                m.insert("source".into(), Value::String(s));
            }
            Value::Object(m)
        })
        .collect();
    json!({"security": r.security, "ask": r.ask, "askFallback": r.ask_fallback, "autoAllowSkills": r.auto_allow_skills, "allowlistRules": rules})
}

/// Whether the current snapshot still covers the one an approval was given under.
pub fn snapshot_covers(current: &Value, approved: &Value) -> bool {
    let scalars = ["security", "ask", "askFallback", "autoAllowSkills"];
    if scalars.iter().any(|k| current.get(*k) != approved.get(*k)) {
        return false;
    }
    let key = |r: &Value| (r.get("pattern").cloned(), r.get("argPattern").cloned());
    let now: Vec<&Value> = current["allowlistRules"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    approved["allowlistRules"].as_array().into_iter().flatten().all(|expected| {
        now.iter().any(|r| {
            *r == expected
                || (key(r) == key(expected) && r.get("source").and_then(Value::as_str) == Some("allow-always"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_cover_rules() {
        let doc = approvals::normalize(
            &json!({"defaults": {"security": "allowlist"}, "agents": {"main": {"allowlist": ["/bin/ls"]}}}),
        )
        .unwrap();
        let snap = policy_snapshot(&doc, Some("main"));
        assert!(snapshot_covers(&snap, &snap));
        let tighter = approvals::normalize(
            &json!({"defaults": {"security": "deny"}, "agents": {"main": {"allowlist": ["/bin/ls"]}}}),
        )
        .unwrap();
        assert!(!snapshot_covers(&policy_snapshot(&tighter, Some("main")), &snap));
        let removed = approvals::normalize(&json!({"defaults": {"security": "allowlist"}})).unwrap();
        assert!(
            !snapshot_covers(&policy_snapshot(&removed, Some("main")), &snap),
            "a rule the approval relied on is gone"
        );
    }
}
