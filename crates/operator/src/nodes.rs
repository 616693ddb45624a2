//! Finding the node an operator means: by id, unique id prefix, display name or IP.
//!
//! The search reads `node.list` entries through [`NodeFields`], implemented for the shared
//! [`NodeEntry`] shape and, until every caller reads `node.list` typed, for raw JSON entries.

use openclaw_protocol::methods::NodeEntry;
use serde_json::Value;

/// Why a `--node` value did not pick exactly one node.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    /// Nothing matched.
    #[error("unknown node: {0:?} (see `openclaw nodes status`)")]
    Unknown(String),
    /// More than one node matched.
    #[error("ambiguous node {query:?}: matches {}; use the node id", .candidates.join(", "))]
    Ambiguous {
        /// The `--node` value.
        query: String,
        /// The matching node ids.
        candidates: Vec<String>,
    },
}

/// What node resolution reads of one `node.list` entry (`""` when absent).
pub trait NodeFields {
    /// `nodeId`.
    fn node_id(&self) -> &str;
    /// `displayName`.
    fn display_name(&self) -> &str;
    /// `remoteIp`.
    fn remote_ip(&self) -> &str;
}

impl NodeFields for NodeEntry {
    fn node_id(&self) -> &str {
        &self.node_id
    }

    fn display_name(&self) -> &str {
        self.display_name.as_deref().unwrap_or("")
    }

    fn remote_ip(&self) -> &str {
        self.remote_ip.as_deref().unwrap_or("")
    }
}

impl NodeFields for Value {
    fn node_id(&self) -> &str {
        field(self, "nodeId")
    }

    fn display_name(&self) -> &str {
        field(self, "displayName")
    }

    fn remote_ip(&self) -> &str {
        field(self, "remoteIp")
    }
}

fn field<'a>(n: &'a Value, k: &str) -> &'a str {
    n.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Picks one entry of `node.list`'s `nodes` for `query`. Exact matches (id, then display name
/// case-insensitively, then IP) win over id prefixes; a prefix must be unique.
pub fn resolve_node<'a, N: NodeFields>(nodes: &'a [N], query: &str) -> Result<&'a N, ResolveError> {
    let q = query.trim();
    let pick = |matches: Vec<&'a N>| -> Option<Result<&'a N, ResolveError>> {
        match matches.len() {
            0 => None,
            1 => Some(Ok(matches[0])),
            _ => Some(Err(ResolveError::Ambiguous {
                query: q.to_string(),
                candidates: matches.iter().map(|n| format!("{} ({})", n.node_id(), n.display_name())).collect(),
            })),
        }
    };
    let by = |f: &dyn Fn(&N) -> bool| nodes.iter().filter(|n| f(n)).collect::<Vec<_>>();
    if let Some(r) = pick(by(&|n| n.node_id() == q)) {
        return r;
    }
    if let Some(r) = pick(by(&|n| !q.is_empty() && n.display_name().eq_ignore_ascii_case(q))) {
        return r;
    }
    if let Some(r) = pick(by(&|n| !q.is_empty() && n.remote_ip() == q)) {
        return r;
    }
    if q.len() >= 4 {
        if let Some(r) = pick(by(&|n| n.node_id().starts_with(&q.to_ascii_lowercase()))) {
            return r;
        }
    }
    Err(ResolveError::Unknown(q.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolution_order_and_ambiguity() {
        let nodes = vec![
            json!({"nodeId": "abcd1111", "displayName": "Build Box", "remoteIp": "10.0.0.5"}),
            json!({"nodeId": "abcd2222", "displayName": "pi"}),
            json!({"nodeId": "ffff0000", "displayName": "abcd1111"}),
        ];
        assert_eq!(field(resolve_node(&nodes, "abcd1111").unwrap(), "nodeId"), "abcd1111");
        assert_eq!(field(resolve_node(&nodes, "build box").unwrap(), "nodeId"), "abcd1111");
        assert_eq!(field(resolve_node(&nodes, "10.0.0.5").unwrap(), "nodeId"), "abcd1111");
        assert_eq!(field(resolve_node(&nodes, "abcd2").unwrap(), "nodeId"), "abcd2222");
        assert!(matches!(resolve_node(&nodes, "abcd"), Err(ResolveError::Ambiguous { .. })));
        assert_eq!(resolve_node(&nodes, "nope"), Err(ResolveError::Unknown("nope".into())));
        assert_eq!(resolve_node(&nodes, "ab"), Err(ResolveError::Unknown("ab".into())));
    }

    #[test]
    fn typed_entries_resolve_like_raw_ones() {
        let nodes: Vec<NodeEntry> = serde_json::from_value(json!([
            {"nodeId": "abcd1111", "displayName": "Build Box", "remoteIp": "10.0.0.5"},
            {"nodeId": "abcd2222", "displayName": "pi"},
        ]))
        .unwrap();
        assert_eq!(resolve_node(&nodes, "BUILD BOX").unwrap().node_id, "abcd1111");
        assert_eq!(resolve_node(&nodes, "10.0.0.5").unwrap().node_id, "abcd1111");
        assert_eq!(
            resolve_node(&nodes, "abcd"),
            Err(ResolveError::Ambiguous {
                query: "abcd".into(),
                candidates: vec!["abcd1111 (Build Box)".into(), "abcd2222 (pi)".into()]
            })
        );
    }
}
