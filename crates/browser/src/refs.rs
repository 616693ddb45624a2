//! Snapshot refs: what `eN` (and `axN`) in the last snapshot of a tab point at, and how `/act`
//! finds that element again (spec/browser.md §3.4–3.5).
//!
//! Upstream binds refs to DOM markers through Playwright. Here a ref keeps the element's
//! `backendDOMNodeId` and its `role`/`name`/`nth`, valid while the tab's main-frame document
//! (its `loaderId`) is the one the snapshot was taken of. Resolving asks Chromium for the node
//! by backend id and, when that node is gone, looks the role and name up again in the
//! accessibility tree, as upstream's `getByRole(…).nth(n)` fallback does.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::control::Live;
use crate::error::RouteError;

/// One ref of a snapshot (`refs[eN]` in the snapshot answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefEntry {
    /// The AX role, lower-cased as upstream stores it.
    pub role: String,
    /// The accessible name, when the node has one.
    pub name: Option<String>,
    /// The index among earlier eligible nodes with the same role and name; None when unique.
    pub nth: Option<u32>,
    /// Chromium's backend DOM node id, stable for the life of the document.
    pub backend_node_id: Option<i64>,
    /// The frame the node lives in, for iframe content.
    pub frame_id: Option<String>,
}

impl RefEntry {
    /// The `refs` map entry as upstream answers it: `{role, name?, nth?, backendDOMNodeId?, frameId?}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("role".into(), json!(self.role));
        if let Some(n) = &self.name {
            m.insert("name".into(), json!(n));
        }
        if let Some(n) = self.nth {
            m.insert("nth".into(), json!(n));
        }
        if let Some(b) = self.backend_node_id {
            m.insert("backendDOMNodeId".into(), json!(b));
        }
        if let Some(f) = &self.frame_id {
            m.insert("frameId".into(), json!(f));
        }
        Value::Object(m)
    }
}

/// The refs of a tab's last snapshot, replaced by each new snapshot.
#[derive(Debug, Clone, Default)]
pub struct RefTable {
    /// The main frame's `loaderId` when the snapshot was taken; refs die with that document.
    pub loader_id: String,
    /// `eN` / `axN` → entry.
    pub refs: HashMap<String, RefEntry>,
}

/// A ref found on the live page.
#[derive(Debug, Clone)]
pub struct ResolvedRef {
    /// The ref as the caller gave it, normalised (`e12`).
    pub id: String,
    /// What the snapshot recorded.
    pub entry: RefEntry,
    /// The node's current backend id.
    pub backend_node_id: i64,
    /// A `Runtime.RemoteObjectId` for the element, for `Runtime.callFunctionOn`.
    pub object_id: String,
}

/// `@e12`, `ref=e12` and `e12` name the same ref (upstream `refLocator`).
pub fn normalize_ref(raw: &str) -> String {
    let r = raw.trim();
    let r = r.strip_prefix('@').unwrap_or(r);
    let r = r.strip_prefix("ref=").unwrap_or(r);
    r.trim().to_string()
}

/// Upstream's text for a ref that is not in the tab's last snapshot (a plain `Error`, so 500).
pub fn unknown_ref(id: &str) -> RouteError {
    RouteError::internal(format!("Unknown ref \"{id}\". Run a new snapshot and use a ref from that snapshot."))
}

/// The main frame's current `loaderId` (changes on every navigation of the tab).
pub(crate) async fn main_loader_id(live: &Live, session: &str) -> Result<String, RouteError> {
    let tree = live.cdp.send("Page.getFrameTree", json!({}), Some(session)).await?;
    Ok(tree.pointer("/frameTree/frame/loaderId").and_then(Value::as_str).unwrap_or("").to_string())
}

/// Whether `id` (normalised) is a ref of the last snapshot of `target_id`.
pub(crate) fn is_known(live: &Live, target_id: &str, id: &str) -> bool {
    live.refs.lock().unwrap_or_else(|p| p.into_inner()).get(target_id).is_some_and(|t| t.refs.contains_key(id))
}

/// Stores the refs of a new snapshot of `target_id`, replacing the previous ones.
pub(crate) fn store(live: &Live, target_id: &str, table: RefTable) {
    live.refs.lock().unwrap_or_else(|p| p.into_inner()).insert(target_id.to_string(), table);
}

/// Finds `raw` (a ref of the tab's last snapshot) on the live page: the recorded node while
/// the document is the same, else the `nth` node with the same role and name. Any other
/// string, a ref from an older document, or a node that is gone gives upstream's
/// "Unknown ref" error.
pub(crate) async fn resolve_ref(
    live: &Live,
    session: &str,
    target_id: &str,
    raw: &str,
) -> Result<ResolvedRef, RouteError> {
    let id = normalize_ref(raw);
    let table = live.refs.lock().unwrap_or_else(|p| p.into_inner()).get(target_id).cloned();
    let Some(table) = table else { return Err(unknown_ref(&id)) };
    let Some(entry) = table.refs.get(&id).cloned() else { return Err(unknown_ref(&id)) };
    if main_loader_id(live, session).await? != table.loader_id {
        live.refs.lock().unwrap_or_else(|p| p.into_inner()).remove(target_id);
        return Err(unknown_ref(&id));
    }
    if let Some(backend) = entry.backend_node_id {
        if let Some(object_id) = object_for_backend(live, session, backend).await {
            return Ok(ResolvedRef { id, entry, backend_node_id: backend, object_id });
        }
    }
    // The recorded node was replaced (a re-render): find the same role and name again.
    let doc = live.cdp.send("DOM.getDocument", json!({"depth": 0}), Some(session)).await?;
    let root = doc.pointer("/root/backendNodeId").and_then(Value::as_i64).ok_or_else(|| unknown_ref(&id))?;
    let mut query = json!({"backendNodeId": root, "role": entry.role});
    if let Some(n) = &entry.name {
        query["accessibleName"] = json!(n);
    }
    let found = live.cdp.send("Accessibility.queryAXTree", query, Some(session)).await?;
    let candidates: Vec<i64> = found
        .get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|n| n.get("ignored").and_then(Value::as_bool) != Some(true))
        .filter(|n| entry.name.is_some() || n.pointer("/name/value").and_then(Value::as_str).unwrap_or("").is_empty())
        .filter_map(|n| n.get("backendDOMNodeId").and_then(Value::as_i64))
        .collect();
    let backend = *candidates.get(entry.nth.unwrap_or(0) as usize).ok_or_else(|| unknown_ref(&id))?;
    let object_id = object_for_backend(live, session, backend).await.ok_or_else(|| unknown_ref(&id))?;
    Ok(ResolvedRef { id, entry, backend_node_id: backend, object_id })
}

async fn object_for_backend(live: &Live, session: &str, backend: i64) -> Option<String> {
    let r = live.cdp.send("DOM.resolveNode", json!({"backendNodeId": backend}), Some(session)).await.ok()?;
    r.pointer("/object/objectId").and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_spellings() {
        for raw in ["e12", "@e12", "ref=e12", " e12 "] {
            assert_eq!(normalize_ref(raw), "e12");
        }
        assert_eq!(
            unknown_ref("e99").into_response().body,
            json!({"error": "Error: Unknown ref \"e99\". Run a new snapshot and use a ref from that snapshot."})
        );
    }

    #[test]
    fn entry_json_leaves_out_what_is_absent() {
        let e = RefEntry { role: "button".into(), name: None, nth: None, backend_node_id: Some(7), frame_id: None };
        assert_eq!(e.to_json(), json!({"role": "button", "backendDOMNodeId": 7}));
    }
}
