//! Security and ask modes and the decision function (`exec.md` §2).

use serde::Serialize;
use serde_json::Value;

/// `deny` < `allowlist` < `full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Nothing runs.
    Deny,
    /// Only what the allowlist (or safe bins, skill bins, an approval) covers runs.
    Allowlist,
    /// Anything runs (subject to `ask`).
    Full,
}

impl Security {
    /// Parses the exact (case-sensitive) config value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "deny" => Security::Deny,
            "allowlist" => Security::Allowlist,
            "full" => Security::Full,
            _ => return None,
        })
    }

    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            Security::Deny => "deny",
            Security::Allowlist => "allowlist",
            Security::Full => "full",
        }
    }
}

/// `off` < `on-miss` < `always`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Ask {
    /// Never ask.
    #[serde(rename = "off")]
    Off,
    /// Ask when the allowlist does not cover the command.
    #[serde(rename = "on-miss")]
    OnMiss,
    /// Ask for every command.
    #[serde(rename = "always")]
    Always,
}

impl Ask {
    /// Parses the exact config value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "off" => Ask::Off,
            "on-miss" => Ask::OnMiss,
            "always" => Ask::Always,
            _ => return None,
        })
    }

    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            Ask::Off => "off",
            Ask::OnMiss => "on-miss",
            Ask::Always => "always",
        }
    }
}

/// `normalizeAgentId`: the canonical form an agent id is looked up by. A valid id
/// (`[A-Za-z0-9][A-Za-z0-9_-]{0,63}`) is lower-cased; anything else is lower-cased with each
/// run of other characters turned into `-`, outer dashes dropped, cut at 64; what is left
/// empty is `main`. So `Ops`, ` ops ` and `OPS` all name the agent `ops`.
pub fn normalize_agent_id(value: &str) -> String {
    let trimmed = value.trim();
    let lower = trimmed.to_lowercase();
    let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let valid = trimmed.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && trimmed.chars().count() <= 64
        && trimmed.chars().all(valid_char);
    if valid {
        return lower;
    }
    let collapsed = collapse_invalid_runs(&lower);
    let id: String = collapsed.trim_start_matches('-').trim_end_matches('-').chars().take(64).collect();
    if id.is_empty() {
        "main".into()
    } else {
        id
    }
}

/// `[^a-z0-9_-]+` → `-` (each maximal run of other characters becomes one dash).
fn collapse_invalid_runs(lower: &str) -> String {
    let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    let mut out = String::new();
    let mut in_run = false;
    for c in lower.chars() {
        if valid_char(c) {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    out
}

/// Keys in the order a JavaScript object enumerates them: array-index keys ascending, then
/// the others in insertion order (which `serde_json`'s `preserve_order` keeps).
fn js_key_order(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let index = |k: &str| {
        (k == "0" || (!k.starts_with('0') && !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit())))
            .then(|| k.parse::<u64>().ok())
            .flatten()
            .filter(|n| *n < u32::MAX as u64)
    };
    let mut indexed: Vec<(u64, (&String, &Value))> =
        map.iter().filter_map(|(k, v)| Some((index(k)?, (k, v)))).collect();
    indexed.sort_by_key(|(n, _)| *n);
    let mut out: Vec<(&String, &Value)> = indexed.into_iter().map(|(_, kv)| kv).collect();
    out.extend(map.iter().filter(|(k, _)| index(k).is_none()));
    out
}

/// `resolveAgentEntry`: the agent's entry in `agents.entries` (an object keyed by id) or, when
/// there is no `entries`, `agents.list` (an array of entries with an `id`), matched by
/// [`normalize_agent_id`] on both sides, first match in enumeration order.
pub fn agent_entry<'a>(config: &'a Value, agent_id: &str) -> Option<&'a Value> {
    let id = normalize_agent_id(agent_id);
    let agents = config.get("agents")?.as_object()?;
    if let Some(entries) = agents.get("entries") {
        let entries = entries.as_object()?;
        return js_key_order(entries)
            .into_iter()
            .find(|(key, entry)| entry.is_object() && normalize_agent_id(key) == id)
            .map(|(_, entry)| entry);
    }
    agents.get("list")?.as_array()?.iter().find(|entry| {
        (entry.is_object() || entry.is_array())
            && normalize_agent_id(entry.get("id").and_then(Value::as_str).unwrap_or("")) == id
    })
}

/// The agent layer of the node's exec config (`agents.entries.<id>.tools.exec`, found by
/// [`agent_entry`]); none without an agent id.
pub fn agent_exec_config<'a>(config: &'a Value, agent_id: Option<&str>) -> Option<&'a Value> {
    agent_entry(config, agent_id.filter(|a| !a.is_empty())?)?.get("tools")?.get("exec")
}

/// `tools.exec.strictInlineEval === true`, for the agent (found by [`agent_entry`], so an id
/// that differs only in case is the same agent) or globally: interpreter code in argv then
/// needs an explicit approval (`exec.md` §4.8).
pub fn strict_inline_eval(config: &Value, agent_id: Option<&str>) -> bool {
    let on = |v: Option<&Value>| v == Some(&Value::Bool(true));
    on(agent_exec_config(config, agent_id).and_then(|exec| exec.get("strictInlineEval")))
        || on(config.pointer("/tools/exec/strictInlineEval"))
}

/// The node's own `openclaw.json` policy (`tools.exec`, then the agent's `tools.exec` found by
/// [`agent_exec_config`]): `mode` sets both fields, `security`/`ask` override one each. Starts
/// from full/off.
pub fn config_policy(config: &Value, agent_id: Option<&str>) -> (Security, Ask) {
    let mut policy = (Security::Full, Ask::Off);
    let layers = [config.pointer("/tools/exec"), agent_exec_config(config, agent_id)];
    for layer in layers.into_iter().flatten() {
        if let Some(mode) = layer.get("mode").and_then(Value::as_str) {
            policy = match mode {
                "deny" => (Security::Deny, Ask::Off),
                "allowlist" => (Security::Allowlist, Ask::Off),
                "ask" | "auto" => (Security::Allowlist, Ask::OnMiss),
                "full" => (Security::Full, Ask::Off),
                _ => policy,
            };
        }
        if let Some(s) = layer.get("security").and_then(Value::as_str).and_then(Security::parse) {
            policy.0 = s;
        }
        if let Some(a) = layer.get("ask").and_then(Value::as_str).and_then(Ask::parse) {
            policy.1 = a;
        }
    }
    policy
}

/// The inputs of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyInput {
    /// The effective security mode (config and approvals layered, the stricter wins).
    pub security: Security,
    /// The effective ask mode (the more cautious wins).
    pub ask: Ask,
    /// The command was fully understood (no unsupported shell syntax).
    pub analysis_ok: bool,
    /// Every part of it matched the allowlist.
    pub allowlist_satisfied: bool,
    /// An allow-always approval covers it.
    pub durable_approval_satisfied: bool,
    /// The gateway forwarded an approval with a matching plan.
    pub approved: bool,
}

/// Why a run was denied, as the `reason` of the `exec.denied` event and the audit trail.
///
/// A closed set: the gateway and operators key on these strings, so they are spelled once
/// here ([`DenialReason::as_str`]) and every denial site picks a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenialReason {
    /// `security=deny`: exec is disabled for this agent.
    SecurityDeny,
    /// `approval-required`: an (explicit) approval is missing or no longer valid.
    ApprovalRequired,
    /// `allowlist-miss`: allowlist mode and the command is not covered.
    AllowlistMiss,
    /// `execution-plan-miss`: allowed, but no pinned argv could be planned for it.
    ExecutionPlanMiss,
    /// `permission:screenRecording`: the command needs a permission this node lacks.
    PermissionScreenRecording,
    /// `approval-state-write-failed`: an allow-always decision could not be persisted.
    ApprovalStateWriteFailed,
}

impl DenialReason {
    /// The text on the wire and in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            DenialReason::SecurityDeny => "security=deny",
            DenialReason::ApprovalRequired => "approval-required",
            DenialReason::AllowlistMiss => "allowlist-miss",
            DenialReason::ExecutionPlanMiss => "execution-plan-miss",
            DenialReason::PermissionScreenRecording => "permission:screenRecording",
            DenialReason::ApprovalStateWriteFailed => "approval-state-write-failed",
        }
    }
}

impl std::fmt::Display for DenialReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DenialReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A denial: the `exec.denied` reason and the reply message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The machine-readable reason (event and audit).
    pub reason: DenialReason,
    /// The reply text (`SYSTEM_RUN_DENIED: …`), shown to the operator as is.
    pub message: String,
}

impl Denial {
    /// A denial for `reason` with the reply text `message`.
    pub fn new(reason: DenialReason, message: impl Into<String>) -> Self {
        Denial { reason, message: message.into() }
    }
}

/// `evaluateSystemRunPolicy`: deny first, then missing approval, then allowlist miss.
pub fn evaluate(input: PolicyInput) -> Result<(), Denial> {
    let requires_ask = input.security != Security::Deny
        && match input.ask {
            Ask::Always => true,
            _ if input.durable_approval_satisfied => false,
            Ask::OnMiss => input.security == Security::Allowlist && (!input.analysis_ok || !input.allowlist_satisfied),
            _ => false,
        };
    if input.security == Security::Deny {
        return Err(Denial::new(DenialReason::SecurityDeny, "SYSTEM_RUN_DISABLED: security=deny"));
    }
    if requires_ask && !input.approved {
        return Err(Denial::new(DenialReason::ApprovalRequired, "SYSTEM_RUN_DENIED: approval required"));
    }
    if input.security == Security::Allowlist
        && (!input.analysis_ok || !input.allowlist_satisfied)
        && !input.approved
        && !input.durable_approval_satisfied
    {
        return Err(Denial::new(DenialReason::AllowlistMiss, "SYSTEM_RUN_DENIED: allowlist miss"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(security: Security, ask: Ask, hit: bool) -> PolicyInput {
        PolicyInput {
            security,
            ask,
            analysis_ok: true,
            allowlist_satisfied: hit,
            durable_approval_satisfied: false,
            approved: false,
        }
    }

    #[test]
    fn decision_table() {
        let reason = |i| evaluate(i).err().map(|d| d.reason.as_str());
        assert_eq!(reason(input(Security::Deny, Ask::Always, true)), Some("security=deny"));
        assert_eq!(reason(input(Security::Full, Ask::Off, false)), None);
        assert_eq!(reason(input(Security::Full, Ask::Always, true)), Some("approval-required"));
        assert_eq!(reason(input(Security::Allowlist, Ask::Off, false)), Some("allowlist-miss"));
        assert_eq!(reason(input(Security::Allowlist, Ask::Off, true)), None);
        assert_eq!(reason(input(Security::Allowlist, Ask::OnMiss, false)), Some("approval-required"));
        assert_eq!(reason(input(Security::Allowlist, Ask::OnMiss, true)), None);
        assert_eq!(reason(PolicyInput { approved: true, ..input(Security::Allowlist, Ask::OnMiss, false) }), None);
        assert_eq!(
            reason(PolicyInput { durable_approval_satisfied: true, ..input(Security::Allowlist, Ask::Off, false) }),
            None
        );
        assert_eq!(
            reason(PolicyInput { analysis_ok: false, ..input(Security::Allowlist, Ask::Off, true) }),
            Some("allowlist-miss")
        );
        assert_eq!(
            evaluate(input(Security::Deny, Ask::Off, true)).unwrap_err().message,
            "SYSTEM_RUN_DISABLED: security=deny"
        );
        assert_eq!(
            serde_json::to_value(DenialReason::PermissionScreenRecording).unwrap(),
            "permission:screenRecording"
        );
        assert_eq!(DenialReason::ExecutionPlanMiss.to_string(), "execution-plan-miss");
    }

    /// Rule: agent ids are looked up normalised (`normalizeAgentId`): case, surrounding blanks
    /// and runs of other characters do not make a different agent.
    #[test]
    fn agent_ids_normalise() {
        assert_eq!(normalize_agent_id("Ops"), "ops");
        assert_eq!(normalize_agent_id("  MAIN "), "main");
        assert_eq!(normalize_agent_id("my agent!!x"), "my-agent-x");
        assert_eq!(normalize_agent_id("--A b--"), "a-b");
        assert_eq!(normalize_agent_id("!!!"), "main");
        assert_eq!(normalize_agent_id(&"a".repeat(70)), "a".repeat(64), "over 64: cut");
        assert_eq!(normalize_agent_id(&format!("{} x", "a".repeat(70))), "a".repeat(64));
    }

    /// Rule (exec.md §4.8): strictInlineEval is on when the global or the agent's
    /// `tools.exec.strictInlineEval` is `true`; the agent entry is found by its normalised id,
    /// in `agents.entries` or else `agents.list`.
    #[test]
    fn strict_inline_eval_lookup() {
        let cfg = json!({"agents": {"entries": {"Ops": {"tools": {"exec": {"strictInlineEval": true}}}}}});
        assert!(strict_inline_eval(&cfg, Some("ops")), "an id differing in case is the same agent");
        assert!(strict_inline_eval(&cfg, Some("OPS")));
        assert!(!strict_inline_eval(&cfg, Some("main")));
        assert!(!strict_inline_eval(&cfg, None));
        let list = json!({"agents": {"list": [{"id": "main"}, {"id": " Build ", "tools": {"exec": {"strictInlineEval": true}}}]}});
        assert!(strict_inline_eval(&list, Some("build")));
        assert!(strict_inline_eval(&json!({"tools": {"exec": {"strictInlineEval": true}}}), Some("x")));
        assert!(!strict_inline_eval(&json!({"tools": {"exec": {"strictInlineEval": "true"}}}), None), "only `true`");
        let both = json!({"agents": {"entries": {"b": {}, "1": {"tools": {"exec": {"strictInlineEval": true}}}}}});
        assert!(strict_inline_eval(&both, Some("1")));
    }

    #[test]
    fn config_layers_and_modes() {
        assert_eq!(config_policy(&json!({}), None), (Security::Full, Ask::Off));
        assert_eq!(
            config_policy(&json!({"tools": {"exec": {"mode": "ask"}}}), None),
            (Security::Allowlist, Ask::OnMiss)
        );
        let cfg = json!({"tools": {"exec": {"security": "allowlist"}}, "agents": {"entries": {"ops": {"tools": {"exec": {"mode": "full", "ask": "always"}}}}}});
        assert_eq!(config_policy(&cfg, None), (Security::Allowlist, Ask::Off));
        assert_eq!(config_policy(&cfg, Some("ops")), (Security::Full, Ask::Always));
        assert_eq!(config_policy(&cfg, Some("Ops")), (Security::Full, Ask::Always), "agent ids are normalised");
        assert!(Security::Deny < Security::Allowlist && Ask::Off < Ask::Always);
    }
}
