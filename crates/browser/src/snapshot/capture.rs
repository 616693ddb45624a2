//! The CDP side of a snapshot: the accessibility tree of the page (or of one element or
//! iframe), the page scan for clickable non-native elements, iframe documents, link targets,
//! and the document identity that decides whether refs and deltas still apply.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::role::{build_frame, AxNode, CursorInfo, FrameInputs, FrameSnapshot, RoleOptions};
use crate::control::Live;
use crate::error::RouteError;
use crate::refs::RefEntry;

/// The attribute the page scan tags candidates with, removed again before returning.
const SCAN_ATTR: &str = "data-openclaw-cdp-ci";

/// One page session with a per-command timeout.
pub(crate) struct Page<'a> {
    live: &'a Live,
    session: &'a str,
    timeout: Duration,
}

/// Which documents a page shows: the main frame's loader, and a hash over every frame's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DocumentIdentity {
    /// The main frame's `loaderId` (refs are bound to it).
    pub main_loader: String,
    /// `cdp-tree:<sha256>` over every (frame id, loader id), sorted.
    pub frame_tree: String,
}

/// A role snapshot before the output budget: lines, refs, and the depth cut.
pub(crate) struct Captured {
    pub lines: Vec<String>,
    pub refs: Vec<(String, RefEntry)>,
    pub truncated: bool,
}

impl<'a> Page<'a> {
    pub fn new(live: &'a Live, session: &'a str, timeout: Duration) -> Self {
        Self { live, session, timeout }
    }

    async fn send(&self, method: &str, params: Value) -> Result<Value, RouteError> {
        Ok(self.live.cdp.send_timeout(method, params, Some(self.session), self.timeout).await?)
    }

    /// Enables the DOM and accessibility domains the capture reads (the page, runtime and
    /// network domains are enabled when the tab is attached).
    pub async fn prepare(&self) {
        for m in ["DOM.enable", "Accessibility.enable"] {
            let _ = self.send(m, json!({})).await;
        }
    }

    /// The page's documents now.
    pub async fn identity(&self) -> Result<DocumentIdentity, RouteError> {
        let tree = self.send("Page.getFrameTree", json!({})).await?;
        let root = tree.get("frameTree").cloned().unwrap_or(Value::Null);
        let main_loader = root.pointer("/frame/loaderId").and_then(Value::as_str).unwrap_or("").trim().to_string();
        let mut docs = Vec::new();
        let mut pending = vec![root];
        while let Some(node) = pending.pop() {
            let id = node.pointer("/frame/id").and_then(Value::as_str).unwrap_or("").trim().to_string();
            let loader = node.pointer("/frame/loaderId").and_then(Value::as_str).unwrap_or("").trim().to_string();
            if id.is_empty() || loader.is_empty() {
                break;
            }
            docs.push((id, loader));
            if let Some(kids) = node.get("childFrames").and_then(Value::as_array) {
                pending.extend(kids.iter().cloned());
            }
        }
        docs.sort();
        let digest = Sha256::digest(json!(docs).to_string().as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok(DocumentIdentity { main_loader, frame_tree: format!("cdp-tree:{hex}") })
    }

    /// All accessibility nodes of the main document, or of one frame's.
    pub async fn full_tree(&self, frame_id: Option<&str>) -> Result<Vec<Value>, RouteError> {
        let params = match frame_id {
            Some(f) => json!({"frameId": f}),
            None => json!({}),
        };
        let r = self.send("Accessibility.getFullAXTree", params).await?;
        Ok(r.get("nodes").and_then(Value::as_array).cloned().unwrap_or_default())
    }

    /// The accessibility nodes under one element (a `selector` snapshot): its subtree, or for
    /// an element Chrome ignores, the element and its children from the full tree.
    pub async fn scoped_tree(&self, backend: i64) -> Result<Vec<Value>, RouteError> {
        let q = self.send("Accessibility.queryAXTree", json!({"backendNodeId": backend})).await?;
        let nodes = q.get("nodes").and_then(Value::as_array).cloned().unwrap_or_default();
        if nodes.iter().any(|n| n.get("backendDOMNodeId").and_then(Value::as_i64) == Some(backend)) {
            return Ok(nodes);
        }
        let gone = || RouteError::internal("Snapshot root is no longer present in the accessibility tree; retry.");
        let partial = self
            .send("Accessibility.getPartialAXTree", json!({"backendNodeId": backend, "fetchRelatives": true}))
            .await?;
        let partial = partial.get("nodes").and_then(Value::as_array).cloned().unwrap_or_default();
        let root = partial
            .iter()
            .find(|n| n.get("backendDOMNodeId").and_then(Value::as_i64) == Some(backend))
            .cloned()
            .ok_or_else(gone)?;
        let root_id = root.get("nodeId").and_then(Value::as_str).unwrap_or("").to_string();
        if root.get("ignored").and_then(Value::as_bool) != Some(true) || root_id.is_empty() {
            return Err(gone());
        }
        if root.get("childIds").and_then(Value::as_array).is_none_or(|c| c.is_empty()) {
            return Ok(vec![root]);
        }
        let frame = partial
            .iter()
            .find_map(|n| n.get("frameId").and_then(Value::as_str))
            .ok_or_else(|| RouteError::internal("Snapshot frame identity is unavailable; retry."))?
            .to_string();
        let full = self.full_tree(Some(&frame)).await?;
        let by_id: HashMap<&str, &Value> = full.iter().filter_map(|n| Some((n.get("nodeId")?.as_str()?, n))).collect();
        let mut out = vec![root];
        let mut included: HashSet<String> = [root_id].into_iter().collect();
        let mut i = 0;
        while i < out.len() {
            let kids: Vec<String> = out[i]
                .get("childIds")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect();
            for id in kids {
                if let Some(child) = by_id.get(id.as_str()) {
                    if included.insert(id) {
                        out.push((*child).clone());
                    }
                }
            }
            i += 1;
        }
        Ok(out)
    }

    /// The backend node id of the first element matching a CSS selector.
    pub async fn query_selector(&self, selector: &str) -> Result<Option<i64>, RouteError> {
        let doc = self.send("DOM.getDocument", json!({"depth": 0})).await?;
        let root = doc.pointer("/root/nodeId").and_then(Value::as_i64).unwrap_or(0);
        let found = match self.send("DOM.querySelector", json!({"nodeId": root, "selector": selector})).await {
            Ok(f) => f,
            Err(e) if e.message.contains("not valid selector") || e.message.contains("DOM Error") => {
                return Err(RouteError::bad_request(format!("Invalid selector \"{selector}\"")))
            }
            Err(e) => return Err(e),
        };
        let node = found.get("nodeId").and_then(Value::as_i64).unwrap_or(0);
        if node == 0 {
            return Ok(None);
        }
        let d = self.send("DOM.describeNode", json!({"nodeId": node})).await?;
        Ok(d.pointer("/node/backendNodeId").and_then(Value::as_i64))
    }

    /// The frame id of the document an `<iframe>` element shows.
    pub async fn content_frame(&self, backend: i64) -> Option<String> {
        let d = self.send("DOM.describeNode", json!({"backendNodeId": backend, "depth": 1})).await.ok()?;
        d.pointer("/node/contentDocument/frameId")
            .or_else(|| d.pointer("/node/frameId"))
            .and_then(Value::as_str)
            .filter(|f| !f.is_empty())
            .map(str::to_string)
    }

    /// The page scan: elements that are clickable or editable without a native role (a
    /// `div` with `cursor:pointer` or `onclick`, `tabindex`, `contenteditable`), by backend
    /// node id. Hidden subtrees and zero-size elements are skipped. Never fails: a page that
    /// refuses the scan just has no such elements.
    pub async fn cursor_elements(&self) -> HashMap<i64, CursorInfo> {
        let out = self.scan().await.unwrap_or_default();
        let cleanup =
            format!("document.querySelectorAll('[{SCAN_ATTR}]').forEach(e => e.removeAttribute('{SCAN_ATTR}'))");
        let _ = self.send("Runtime.evaluate", json!({"expression": cleanup, "returnByValue": true})).await;
        out
    }

    async fn scan(&self) -> Result<HashMap<i64, CursorInfo>, RouteError> {
        let r = self.send("Runtime.evaluate", json!({"expression": scan_script(), "returnByValue": true})).await?;
        let entries: Vec<CursorInfo> = r
            .pointer("/result/value")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| CursorInfo {
                text: truncate_utf16(e.get("text").and_then(Value::as_str).unwrap_or(""), 100),
                pointer: e.get("pointer").and_then(Value::as_bool) == Some(true),
                onclick: e.get("onclick").and_then(Value::as_bool) == Some(true),
                tabindex: e.get("tabindex").and_then(Value::as_bool) == Some(true),
                editable: e.get("editable").and_then(Value::as_bool) == Some(true),
                hidden_input_type: e.get("hidden").and_then(Value::as_str).unwrap_or("").to_string(),
            })
            .collect();
        if entries.is_empty() {
            return Ok(HashMap::new());
        }
        let doc = self.send("DOM.getDocument", json!({"depth": 0})).await?;
        let root = doc.pointer("/root/nodeId").and_then(Value::as_i64).unwrap_or(0);
        let q =
            self.send("DOM.querySelectorAll", json!({"nodeId": root, "selector": format!("[{SCAN_ATTR}]")})).await?;
        let mut out = HashMap::new();
        for node in q.get("nodeIds").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_i64) {
            let Ok(d) = self.send("DOM.describeNode", json!({"nodeId": node})).await else { continue };
            let attrs: Vec<&str> = d
                .pointer("/node/attributes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let index = attrs
                .iter()
                .position(|a| *a == SCAN_ATTR)
                .and_then(|i| attrs.get(i + 1))
                .and_then(|v| v.parse::<usize>().ok());
            let backend = d.pointer("/node/backendNodeId").and_then(Value::as_i64);
            if let (Some(i), Some(b)) = (index, backend) {
                if let Some(info) = entries.get(i) {
                    out.insert(b, info.clone());
                }
            }
        }
        Ok(out)
    }

    /// `href` of each link element, by backend node id (for `urls=1`).
    pub async fn link_urls(&self, links: &[i64]) -> HashMap<i64, String> {
        let mut out = HashMap::new();
        for &b in links {
            let Ok(r) = self.send("DOM.resolveNode", json!({"backendNodeId": b})).await else { continue };
            let Some(obj) = r.pointer("/object/objectId").and_then(Value::as_str) else { continue };
            let href = self
                .send(
                    "Runtime.callFunctionOn",
                    json!({"objectId": obj, "functionDeclaration": "function() { return this.href || ''; }", "returnByValue": true}),
                )
                .await;
            if let Some(h) =
                href.ok().and_then(|h| h.pointer("/result/value").and_then(Value::as_str).map(str::to_string))
            {
                if !h.is_empty() {
                    out.insert(b, h);
                }
            }
            let _ = self.send("Runtime.releaseObject", json!({"objectId": obj})).await;
        }
        out
    }

    /// One frame's role snapshot: nodes, iframe documents and (with `urls`) link targets.
    async fn frame(
        &self,
        raw: Vec<Value>,
        mut inputs: FrameInputs,
        options: RoleOptions,
        urls: bool,
        next_ref: &mut u32,
    ) -> FrameSnapshot {
        let nodes: Vec<AxNode> = raw.iter().filter_map(AxNode::from_cdp).collect();
        for n in nodes.iter().filter(|n| n.role.eq_ignore_ascii_case("iframe")) {
            if let Some(b) = n.backend_node_id {
                if let Some(f) = self.content_frame(b).await {
                    inputs.iframe_frames.insert(b, f);
                }
            }
        }
        if urls {
            // Every link node gets a ref (links are interactive, never transparent), so the
            // link refs' targets are those of the link nodes.
            let links: Vec<i64> = nodes
                .iter()
                .filter(|n| n.role.eq_ignore_ascii_case("link"))
                .filter_map(|n| n.backend_node_id)
                .collect();
            inputs.link_urls = self.link_urls(&links).await;
        }
        build_frame(nodes, &inputs, options, next_ref)
    }

    /// The role snapshot of the page (or of `root`'s subtree), with same-process iframes'
    /// documents inlined after their iframe line when `recurse_iframes`.
    pub async fn role_snapshot(
        &self,
        raw: Vec<Value>,
        root: Option<i64>,
        frame_id: Option<String>,
        options: RoleOptions,
        urls: bool,
        recurse_iframes: bool,
    ) -> Captured {
        let cursor = if root.is_none() { self.cursor_elements().await } else { HashMap::new() };
        let inputs = FrameInputs { cursor, frame_id, root_backend_node_id: root, ..Default::default() };
        let mut next_ref = 1;
        let main = self.frame(raw, inputs, options, urls, &mut next_ref).await;
        let mut refs = main.refs;
        let mut truncated = main.truncated;
        let mut children: HashMap<usize, Vec<String>> = HashMap::new();
        if recurse_iframes {
            for (line, frame) in &main.iframe_lines {
                let Ok(raw) = self.full_tree(Some(frame)).await else { continue };
                let inputs = FrameInputs { frame_id: Some(frame.clone()), ..Default::default() };
                let child = self.frame(raw, inputs, options, urls, &mut next_ref).await;
                truncated |= child.truncated;
                if child.lines.is_empty() {
                    continue;
                }
                refs.extend(child.refs);
                children.insert(*line, child.lines);
            }
        }
        let mut lines = Vec::with_capacity(main.lines.len());
        for (i, l) in main.lines.into_iter().enumerate() {
            lines.push(l);
            if let Some(kids) = children.remove(&i) {
                lines.extend(kids.into_iter().map(|k| format!("  {k}")));
            }
        }
        Captured { lines, refs, truncated }
    }
}

fn truncate_utf16(s: &str, max: usize) -> String {
    let units: Vec<u16> = s.encode_utf16().take(max + 1).collect();
    if units.len() <= max {
        return s.to_string();
    }
    let mut cut = String::from_utf16_lossy(&units[..max]);
    if cut.ends_with('\u{fffd}') && !s.contains('\u{fffd}') {
        cut.pop(); // never end on half a surrogate pair
    }
    cut
}

/// The page-side scan: tags each candidate with its index and returns what it saw of it.
fn scan_script() -> String {
    format!(
        r#"(() => {{
  const attr = "{SCAN_ATTR}";
  const roles = new Set(["button","link","textbox","checkbox","radio","combobox","listbox","menuitem","menuitemcheckbox","menuitemradio","option","searchbox","slider","spinbutton","switch","tab","treeitem"]);
  const native = new Set(["a","button","input","select","textarea","details","summary"]);
  document.querySelectorAll("[" + attr + "]").forEach(e => e.removeAttribute(attr));
  const found = [];
  for (const el of document.body ? document.body.querySelectorAll("*") : []) {{
    if (!(el instanceof HTMLElement) || el.closest("[hidden],[aria-hidden='true']")) continue;
    if (native.has(el.tagName.toLowerCase())) continue;
    if (roles.has(String(el.getAttribute("role") || "").toLowerCase())) continue;
    const pointer = getComputedStyle(el).cursor === "pointer";
    const onclick = el.hasAttribute("onclick") || el.onclick !== null;
    const ti = el.getAttribute("tabindex");
    const tabindex = ti !== null && ti !== "-1";
    const ce = el.getAttribute("contenteditable");
    const editable = ce === "" || ce === "true";
    if (!pointer && !onclick && !tabindex && !editable) continue;
    if (pointer && !onclick && !tabindex && !editable && el.parentElement && getComputedStyle(el.parentElement).cursor === "pointer") continue;
    const r = el.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0) continue;
    let hidden = "";
    const input = el.querySelector("input[type='radio'],input[type='checkbox']");
    if (input instanceof HTMLInputElement) {{
      const s = getComputedStyle(input);
      if (input.hidden || s.display === "none" || s.visibility === "hidden") hidden = input.type;
    }}
    el.setAttribute(attr, String(found.length));
    found.push({{ text: String(el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 101), pointer, onclick, tabindex, editable, hidden }});
  }}
  return found;
}})()"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_truncation_never_splits_a_pair() {
        assert_eq!(truncate_utf16("abc", 2), "ab");
        assert_eq!(truncate_utf16("ab", 2), "ab");
        assert_eq!(truncate_utf16("a😀b", 2), "a");
        assert_eq!(truncate_utf16("a😀b", 3), "a😀");
    }
}
