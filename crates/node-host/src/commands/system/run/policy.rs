//! The effective exec policy of a run and the policy snapshot an approval is bound to.
//!
//! The node's own `openclaw.json` (`tools.exec`) is layered with the approvals document,
//! taking the stricter of each; an unreadable document fails closed to `deny`. An approval
//! given through `system.run.prepare` carries a snapshot of the approvals policy at that
//! time, and the run goes ahead only while the current policy still covers it.

use openclaw_exec::approvals::{self, ResolvedApprovals};
use openclaw_exec::policy::{self, Ask, Security};
use serde_json::{json, Map, Value};

use crate::services::NodeServices;

/// The effective policy: the node's config layer, then the approvals document (min security,
/// max ask). A malformed or unreadable document fails closed to deny.
pub(super) fn effective_policy(
    services: &NodeServices,
    agent_id: Option<&str>,
) -> (Security, Ask, ResolvedApprovals, Value) {
    let (cfg_security, cfg_ask) = policy::config_policy(services.config.root(), agent_id);
    match services.read_approvals() {
        Ok(snap) => {
            let resolved = approvals::resolve(&snap.doc, agent_id, cfg_security, cfg_ask);
            (cfg_security.min(resolved.security), cfg_ask.max(resolved.ask), resolved, snap.doc)
        }
        Err(e) => {
            tracing::warn!("exec approvals unavailable, denying: {}", e.message);
            let denied = ResolvedApprovals {
                security: Security::Deny,
                ask: Ask::Off,
                ask_fallback: Security::Deny,
                auto_allow_skills: false,
                allowlist: Vec::new(),
            };
            (Security::Deny, Ask::Off, denied, Value::Null)
        }
    }
}

/// `policySnapshot`: the approvals policy alone (no config layer) and its rules, sorted.
pub(super) fn policy_snapshot(doc: &Value, agent_id: Option<&str>) -> Value {
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
pub(super) fn snapshot_covers(current: &Value, approved: &Value) -> bool {
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

/// `tools.exec.strictInlineEval`, global or for the agent.
pub(super) fn strict_inline_eval(config: &Value, agent: Option<&str>) -> bool {
    let agent_layer =
        agent.and_then(|a| config.get("agents")?.get("entries")?.get(a)?.pointer("/tools/exec/strictInlineEval"));
    [config.pointer("/tools/exec/strictInlineEval"), agent_layer].into_iter().flatten().any(|v| v == true)
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
