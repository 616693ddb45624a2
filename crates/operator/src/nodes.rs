//! Finding the node an operator means: by id, unique id prefix, display name or IP, among the
//! entries of `node.list` read through the shared [`NodeEntry`] shape.

use openclaw_protocol::methods::NodeEntry;

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

/// The name resolution compares, `""` when the gateway left it out.
fn display_name(n: &NodeEntry) -> &str {
    n.display_name.as_deref().unwrap_or("")
}

/// The address resolution compares, `""` when the gateway left it out (loopback).
fn remote_ip(n: &NodeEntry) -> &str {
    n.remote_ip.as_deref().unwrap_or("")
}

/// Picks one entry of `node.list`'s `nodes` for `query`. Exact matches (id, then display name
/// case-insensitively, then IP) win over id prefixes; a prefix must be unique.
pub fn resolve_node<'a>(nodes: &'a [NodeEntry], query: &str) -> Result<&'a NodeEntry, ResolveError> {
    let q = query.trim();
    let pick = |matches: Vec<&'a NodeEntry>| -> Option<Result<&'a NodeEntry, ResolveError>> {
        match matches.len() {
            0 => None,
            1 => Some(Ok(matches[0])),
            _ => Some(Err(ResolveError::Ambiguous {
                query: q.to_string(),
                candidates: matches.iter().map(|n| format!("{} ({})", n.node_id, display_name(n))).collect(),
            })),
        }
    };
    let by = |f: &dyn Fn(&NodeEntry) -> bool| nodes.iter().filter(|n| f(n)).collect::<Vec<_>>();
    if let Some(r) = pick(by(&|n| n.node_id == q)) {
        return r;
    }
    if let Some(r) = pick(by(&|n| !q.is_empty() && display_name(n).eq_ignore_ascii_case(q))) {
        return r;
    }
    if let Some(r) = pick(by(&|n| !q.is_empty() && remote_ip(n) == q)) {
        return r;
    }
    if q.len() >= 4 {
        if let Some(r) = pick(by(&|n| n.node_id.starts_with(&q.to_ascii_lowercase()))) {
            return r;
        }
    }
    Err(ResolveError::Unknown(q.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entries(v: serde_json::Value) -> Vec<NodeEntry> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn resolution_order_and_ambiguity() {
        let nodes = entries(json!([
            {"nodeId": "abcd1111", "displayName": "Build Box", "remoteIp": "10.0.0.5"},
            {"nodeId": "abcd2222", "displayName": "pi"},
            {"nodeId": "ffff0000", "displayName": "abcd1111"},
        ]));
        let id = |q: &str| resolve_node(&nodes, q).unwrap().node_id.clone();
        assert_eq!(id("abcd1111"), "abcd1111");
        assert_eq!(id("build box"), "abcd1111");
        assert_eq!(id("10.0.0.5"), "abcd1111");
        assert_eq!(id("abcd2"), "abcd2222");
        assert!(matches!(resolve_node(&nodes, "abcd"), Err(ResolveError::Ambiguous { .. })));
        assert_eq!(resolve_node(&nodes, "nope"), Err(ResolveError::Unknown("nope".into())));
        assert_eq!(resolve_node(&nodes, "ab"), Err(ResolveError::Unknown("ab".into())));
    }

    #[test]
    fn names_and_ips_match_case_insensitively_and_ambiguity_lists_candidates() {
        let nodes = entries(json!([
            {"nodeId": "abcd1111", "displayName": "Build Box", "remoteIp": "10.0.0.5"},
            {"nodeId": "abcd2222", "displayName": "pi"},
        ]));
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
