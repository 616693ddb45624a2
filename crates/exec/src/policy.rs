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

/// The node's own `openclaw.json` policy (`tools.exec`, then `agents.entries.<id>.tools.exec`):
/// `mode` sets both fields, `security`/`ask` override one each. Starts from full/off.
pub fn config_policy(config: &Value, agent_id: Option<&str>) -> (Security, Ask) {
    let mut policy = (Security::Full, Ask::Off);
    let mut layers = vec![config.pointer("/tools/exec")];
    if let Some(agent) = agent_id {
        layers.push(
            config
                .get("agents")
                .and_then(|a| a.get("entries"))
                .and_then(|e| e.get(agent))
                .and_then(|a| a.pointer("/tools/exec")),
        );
    }
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
        assert!(Security::Deny < Security::Allowlist && Ask::Off < Ask::Always);
    }
}
