//! Finding the node an operator means: by id, unique id prefix, display name or IP.

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

fn field<'a>(n: &'a Value, k: &str) -> &'a str {
    n.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Picks one entry of `node.list`'s `nodes` for `query`. Exact matches (id, then display name
/// case-insensitively, then IP) win over id prefixes; a prefix must be unique.
pub fn resolve_node<'a>(nodes: &'a [Value], query: &str) -> Result<&'a Value, ResolveError> {
    let q = query.trim();
    let pick = |matches: Vec<&'a Value>| -> Option<Result<&'a Value, ResolveError>> {
        match matches.len() {
            0 => None,
            1 => Some(Ok(matches[0])),
            _ => Some(Err(ResolveError::Ambiguous {
                query: q.to_string(),
                candidates: matches
                    .iter()
                    .map(|n| format!("{} ({})", field(n, "nodeId"), field(n, "displayName")))
                    .collect(),
            })),
        }
    };
    let by = |f: &dyn Fn(&Value) -> bool| nodes.iter().filter(|n| f(n)).collect::<Vec<_>>();
    if let Some(r) = pick(by(&|n| field(n, "nodeId") == q)) {
        return r;
    }
    if let Some(r) = pick(by(&|n| !q.is_empty() && field(n, "displayName").eq_ignore_ascii_case(q))) {
        return r;
    }
    if let Some(r) = pick(by(&|n| !q.is_empty() && field(n, "remoteIp") == q)) {
        return r;
    }
    if q.len() >= 4 {
        if let Some(r) = pick(by(&|n| field(n, "nodeId").starts_with(&q.to_ascii_lowercase()))) {
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
}
