//! The two roles a connection can claim in `connect` (`role: "node" | "operator"`).
//!
//! The role decides which methods a connection may call, whether it carries scopes and which
//! device token it gets, so both sides branch on it constantly. As a closed enum, a new role or
//! a misspelt comparison is a compile error instead of a string that silently never matches.
//! `connect` itself keeps the role as text on the wire ([`crate::ConnectParams::role`]): the
//! gateway must answer an unknown role with its own `invalid role` error, after the protocol
//! range check, so it parses the text with [`Role::from_str`](std::str::FromStr) at that point.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A node host: answers `node.invoke.request`, calls only the node methods.
    Node,
    /// An operator (CLI, UI): calls the operator methods its scopes allow.
    Operator,
}

impl Role {
    /// The wire spelling (`"node"`, `"operator"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Operator => "operator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is neither `node` nor `operator`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid role")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "node" => Ok(Role::Node),
            "operator" => Ok(Role::Operator),
            _ => Err(UnknownRole),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spelling_round_trips() {
        for role in [Role::Node, Role::Operator] {
            let text = serde_json::to_string(&role).unwrap();
            assert_eq!(text, format!("\"{role}\""));
            assert_eq!(serde_json::from_str::<Role>(&text).unwrap(), role);
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert_eq!("admin".parse::<Role>(), Err(UnknownRole));
        assert_eq!("Node".parse::<Role>(), Err(UnknownRole), "case matters on the wire");
        assert!(serde_json::from_str::<Role>("\"admin\"").is_err());
    }
}
