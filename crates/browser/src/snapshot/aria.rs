//! `format=aria`: the accessibility tree as a flat list of `{ref:"axN", role, name, depth, …}`
//! nodes in depth-first order (upstream `formatAriaSnapshot`).

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::role::AxNode;

/// Default and ceiling of `limit`.
pub const DEFAULT_LIMIT: usize = 500;
/// The most nodes one aria snapshot returns.
pub const MAX_LIMIT: usize = 2000;

/// One node of an aria snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct AriaNode {
    /// `ax1`, `ax2`, … in visit order.
    pub reference: String,
    /// The AX role, or `unknown`.
    pub role: String,
    /// The accessible name ("" when none).
    pub name: String,
    /// The value, when present.
    pub value: String,
    /// The description, when present.
    pub description: String,
    /// The DOM node behind it.
    pub backend_node_id: Option<i64>,
    /// Depth from the root.
    pub depth: usize,
}

impl AriaNode {
    /// The node as upstream answers it.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("ref".into(), json!(self.reference));
        m.insert("role".into(), json!(self.role));
        m.insert("name".into(), json!(self.name));
        if !self.value.is_empty() {
            m.insert("value".into(), json!(self.value));
        }
        if !self.description.is_empty() {
            m.insert("description".into(), json!(self.description));
        }
        if let Some(b) = self.backend_node_id {
            m.insert("backendDOMNodeId".into(), json!(b));
        }
        m.insert("depth".into(), json!(self.depth));
        Value::Object(m)
    }
}

/// Walks the tree from its first unreferenced node, depth first, up to `limit` nodes.
/// `descriptions` holds each node's description by node id (not part of [`AxNode`]).
pub fn format(nodes: &[AxNode], descriptions: &HashMap<String, String>, limit: usize) -> Vec<AriaNode> {
    let by_id: HashMap<&str, &AxNode> =
        nodes.iter().filter(|n| !n.node_id.is_empty()).map(|n| (n.node_id.as_str(), n)).collect();
    let referenced: HashSet<&str> = nodes.iter().flat_map(|n| n.child_ids.iter().map(String::as_str)).collect();
    let Some(root) =
        nodes.iter().find(|n| !n.node_id.is_empty() && !referenced.contains(n.node_id.as_str())).or(nodes.first())
    else {
        return Vec::new();
    };
    if root.node_id.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut visited = HashSet::new();
    let mut stack = vec![(root.node_id.as_str(), 0usize)];
    while let Some((id, depth)) = stack.pop() {
        if out.len() >= limit {
            break;
        }
        let Some(n) = by_id.get(id) else { continue };
        // A malformed tree (a node listed twice as a child) must not loop.
        if !visited.insert(id) {
            continue;
        }
        out.push(AriaNode {
            reference: format!("ax{}", out.len() + 1),
            role: if n.role.is_empty() { "unknown".into() } else { n.role.clone() },
            name: n.name.clone(),
            value: n.value.clone(),
            description: descriptions.get(id).cloned().unwrap_or_default(),
            backend_node_id: n.backend_node_id,
            depth,
        });
        for c in n.child_ids.iter().rev() {
            if by_id.contains_key(c.as_str()) {
                stack.push((c.as_str(), depth + 1));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(id: &str, role: &str, name: &str, kids: &[&str]) -> AxNode {
        AxNode {
            node_id: id.into(),
            role: role.into(),
            name: name.into(),
            backend_node_id: id.parse().ok(),
            child_ids: kids.iter().map(|k| k.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn depth_first_from_the_root_up_to_the_limit() {
        let nodes = vec![
            n("2", "button", "OK", &[]),
            n("1", "RootWebArea", "Page", &["2", "3"]),
            n("3", "link", "Docs", &["2"]),
        ];
        let out = format(&nodes, &HashMap::new(), 10);
        let got: Vec<(String, String, usize)> =
            out.iter().map(|a| (a.reference.clone(), a.name.clone(), a.depth)).collect();
        assert_eq!(
            got,
            vec![("ax1".into(), "Page".into(), 0), ("ax2".into(), "OK".into(), 1), ("ax3".into(), "Docs".into(), 1)]
        );
        assert_eq!(
            out[0].to_json(),
            json!({"ref": "ax1", "role": "RootWebArea", "name": "Page", "backendDOMNodeId": 1, "depth": 0})
        );
        assert_eq!(format(&nodes, &HashMap::new(), 2).len(), 2);
        assert!(format(&[], &HashMap::new(), 10).is_empty());
    }
}
