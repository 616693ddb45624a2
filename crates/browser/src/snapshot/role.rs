//! The role snapshot: Chromium's accessibility tree as the `- role "name" [ref=eN]` lines the
//! gateway parses (spec/browser.md §3.2–3.3).
//!
//! Pure: it takes the nodes of `Accessibility.getFullAXTree` plus what the page scan found
//! (cursor-interactive elements, iframe documents, link targets) and returns lines and refs.
//! The CDP side lives in `capture.rs`. Keeping the two apart lets the grammar be tested on
//! generated trees without a browser.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::refs::RefEntry;

/// Roles that always get a ref: what an agent can act on.
pub const INTERACTIVE_ROLES: &[&str] = &[
    "button",
    "checkbox",
    "combobox",
    "link",
    "listbox",
    "menuitem",
    "menuitemcheckbox",
    "menuitemradio",
    "option",
    "radio",
    "searchbox",
    "slider",
    "spinbutton",
    "switch",
    "tab",
    "textbox",
    "treeitem",
];

/// Roles that get a ref when they have a name: content an agent may point at.
const CONTENT_ROLES: &[&str] = &[
    "article",
    "cell",
    "columnheader",
    "gridcell",
    "heading",
    "listitem",
    "main",
    "navigation",
    "region",
    "rowheader",
];

/// Containers that `compact` drops when they carry neither a name nor a ref.
const STRUCTURAL_ROLES: &[&str] = &[
    "application",
    "directory",
    "document",
    "generic",
    "grid",
    "group",
    "ignored",
    "list",
    "menu",
    "menubar",
    "none",
    "presentation",
    "row",
    "rowgroup",
    "table",
    "tablist",
    "toolbar",
    "tree",
    "treegrid",
];

/// Beyond this depth nothing is rendered and the snapshot says the tree was too deep.
const MAX_RENDER_DEPTH: usize = 100;

/// Whether `role` (any case) is one an agent acts on.
pub fn is_interactive(role: &str) -> bool {
    INTERACTIVE_ROLES.contains(&role.to_ascii_lowercase().as_str())
}

/// The render options of one snapshot (`interactive`, `compact`, `depth`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoleOptions {
    /// Only what an agent can act on (interactive roles, iframes, cursor-interactive nodes).
    pub interactive: bool,
    /// Drop unnamed, ref-less structural containers.
    pub compact: bool,
    /// Leave out nodes deeper than this.
    pub max_depth: Option<usize>,
}

/// What the page scan learned about a non-native element that still looks clickable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CursorInfo {
    /// Its text (at most 100 UTF-16 units), the name of an otherwise unnamed node.
    pub text: String,
    /// `cursor: pointer`.
    pub pointer: bool,
    /// An `onclick` handler.
    pub onclick: bool,
    /// A `tabindex` other than -1.
    pub tabindex: bool,
    /// `contenteditable`.
    pub editable: bool,
    /// The type of a hidden radio or checkbox inside it (custom toggles).
    pub hidden_input_type: String,
}

/// One node of the accessibility tree, as `getFullAXTree` reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AxNode {
    /// CDP's `nodeId` (a string).
    pub node_id: String,
    /// The role as Chrome reports it (`button`, `StaticText`, `RootWebArea`), or `unknown`.
    pub role: String,
    /// The accessible name ("" when none).
    pub name: String,
    /// The value ("" when none).
    pub value: String,
    /// The DOM node behind it.
    pub backend_node_id: Option<i64>,
    /// Ids of its children, in order.
    pub child_ids: Vec<String>,
    /// `properties` by name (`checked`, `level`, …) with their raw values.
    pub properties: Vec<(String, Value)>,
    /// Whether Chrome marks it ignored.
    pub ignored: bool,
}

/// `AXValue.value` as text: strings as they are, numbers and booleans printed, else "".
fn ax_value(v: Option<&Value>) -> String {
    match v.and_then(|v| v.get("value")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => js_number(n),
        _ => String::new(),
    }
}

/// A JSON number printed as JavaScript's `String(n)` would for the values CDP sends.
fn js_number(n: &serde_json::Number) -> String {
    match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => i.to_string(),
        (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        _ => n.to_string(),
    }
}

impl AxNode {
    /// Reads one node of `Accessibility.getFullAXTree`; None without a `nodeId`.
    pub fn from_cdp(raw: &Value) -> Option<Self> {
        let node_id = match raw.get("nodeId")? {
            Value::String(s) if !s.is_empty() => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let role = ax_value(raw.get("role"));
        Some(Self {
            node_id,
            role: if role.is_empty() { "unknown".into() } else { role },
            name: ax_value(raw.get("name")),
            value: ax_value(raw.get("value")),
            backend_node_id: raw
                .get("backendDOMNodeId")
                .and_then(Value::as_f64)
                .filter(|b| *b > 0.0 && b.is_finite())
                .map(|b| b.floor() as i64),
            child_ids: raw
                .get("childIds")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| match c {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            properties: raw
                .get("properties")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    let name = p.get("name")?.as_str()?.to_string();
                    Some((name, p.pointer("/value/value").cloned().unwrap_or(Value::Null)))
                })
                .collect(),
            ignored: raw.get("ignored").and_then(Value::as_bool) == Some(true),
        })
    }
}

/// What the snapshot of one frame needs besides its nodes.
#[derive(Debug, Clone, Default)]
pub struct FrameInputs {
    /// Cursor-interactive elements by backend node id (full-page captures only).
    pub cursor: HashMap<i64, CursorInfo>,
    /// The content document's frame id of each iframe element, by backend node id.
    pub iframe_frames: HashMap<i64, String>,
    /// `href` of link refs, by backend node id (only with `urls`).
    pub link_urls: HashMap<i64, String>,
    /// The frame this tree belongs to (None for the main frame), recorded on its refs.
    pub frame_id: Option<String>,
    /// A scoped capture: the backend id of its root (`selector`); makes wrappers transparent.
    pub root_backend_node_id: Option<i64>,
}

#[derive(Debug)]
struct TreeNode {
    ax: AxNode,
    name: String,
    children: Vec<usize>,
    has_parent: bool,
    depth: usize,
    transparent: bool,
    cursor: Option<CursorInfo>,
    reference: Option<String>,
    nth: u32,
    frame_id: Option<String>,
    url: Option<String>,
}

/// One frame's rendering: lines (with the ref each carries), refs in assignment order, and
/// whether the tree was too deep to render whole.
#[derive(Debug, Clone, Default)]
pub struct FrameSnapshot {
    /// Rendered lines, indented two spaces per depth.
    pub lines: Vec<String>,
    /// The refs assigned, `eN` → entry, in order.
    pub refs: Vec<(String, RefEntry)>,
    /// Lines of iframes whose content document should follow them: (line index, frame id).
    pub iframe_lines: Vec<(usize, String)>,
    /// Some node lay deeper than the render limit.
    pub truncated: bool,
}

/// Builds one frame's role snapshot. `next_ref` is the `eN` counter shared by every frame of
/// the page, so refs stay unique across iframes.
pub fn build_frame(
    nodes: Vec<AxNode>,
    inputs: &FrameInputs,
    options: RoleOptions,
    next_ref: &mut u32,
) -> FrameSnapshot {
    let scoped = inputs.root_backend_node_id.is_some();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut tree: Vec<TreeNode> = Vec::with_capacity(nodes.len());
    for ax in nodes {
        if ax.node_id.is_empty() {
            continue;
        }
        let lower = ax.role.to_ascii_lowercase();
        let transparent = scoped
            && (ax.ignored
                || matches!(lower.as_str(), "none" | "presentation" | "fragment")
                || (lower == "generic" && ax.name.is_empty()));
        by_id.insert(ax.node_id.clone(), tree.len());
        tree.push(TreeNode {
            name: ax.name.clone(),
            ax,
            children: Vec::new(),
            has_parent: false,
            depth: 0,
            transparent,
            cursor: None,
            reference: None,
            nth: 0,
            frame_id: None,
            url: None,
        });
    }
    for i in 0..tree.len() {
        let kids: Vec<usize> = tree[i].ax.child_ids.iter().filter_map(|c| by_id.get(c).copied()).collect();
        for &k in &kids {
            tree[k].has_parent = true;
        }
        tree[i].children = kids;
    }
    let roots: Vec<usize> = match inputs.root_backend_node_id {
        Some(root) => tree.iter().position(|n| n.ax.backend_node_id == Some(root)).into_iter().collect(),
        None => {
            let r: Vec<usize> = (0..tree.len()).filter(|&i| !tree[i].has_parent).collect();
            if r.is_empty() && !tree.is_empty() {
                vec![0]
            } else {
                r
            }
        }
    };
    // Depths, depth-first from the roots; a node reached twice (a malformed tree) keeps its
    // first depth, so a cycle cannot loop.
    let mut seen = vec![false; tree.len()];
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&r| (r, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        tree[i].depth = depth;
        let step = usize::from(!tree[i].transparent);
        for &c in tree[i].children.iter().rev() {
            stack.push((c, depth + step));
        }
    }

    if !scoped {
        for n in tree.iter_mut() {
            if let Some(info) = n.ax.backend_node_id.and_then(|b| inputs.cursor.get(&b)) {
                if n.name.is_empty() && !info.text.is_empty() {
                    n.name = info.text.clone();
                }
                n.cursor = Some(info.clone());
            }
        }
    }

    // Refs, in the order Chrome listed the nodes.
    let mut counts: HashMap<(String, String), u32> = HashMap::new();
    let mut refs: Vec<(String, RefEntry)> = Vec::new();
    for n in tree.iter_mut() {
        let role = n.ax.role.to_ascii_lowercase();
        let eligible = INTERACTIVE_ROLES.contains(&role.as_str())
            || (CONTENT_ROLES.contains(&role.as_str()) && !n.name.is_empty())
            || role == "iframe"
            || n.cursor.is_some();
        if !eligible || n.transparent {
            continue;
        }
        let count = counts.entry((role.clone(), n.name.clone())).or_insert(0);
        let nth = *count;
        *count += 1;
        let id = format!("e{next_ref}");
        *next_ref += 1;
        n.reference = Some(id.clone());
        n.nth = nth;
        refs.push((
            id,
            RefEntry {
                role,
                name: Some(n.name.clone()).filter(|s| !s.is_empty()),
                nth: Some(nth),
                backend_node_id: n.ax.backend_node_id,
                frame_id: inputs.frame_id.clone(),
            },
        ));
    }
    for (_, e) in refs.iter_mut() {
        if counts.get(&(e.role.clone(), e.name.clone().unwrap_or_default())) == Some(&1) {
            e.nth = None;
        }
    }
    for n in tree.iter_mut() {
        let Some(b) = n.ax.backend_node_id else { continue };
        if let Some(f) = inputs.iframe_frames.get(&b) {
            n.frame_id = Some(f.clone());
            if let Some(r) = &n.reference {
                if let Some((_, e)) = refs.iter_mut().find(|(id, _)| id == r) {
                    e.frame_id = Some(f.clone());
                }
            }
        }
        n.url = inputs.link_urls.get(&b).cloned();
    }

    // Render, pre-order.
    let mut out = FrameSnapshot { refs, ..Default::default() };
    let mut rendered = vec![false; tree.len()];
    let mut stack: Vec<usize> = roots.iter().rev().copied().collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut rendered[i], true) {
            continue;
        }
        let n = &tree[i];
        if options.max_depth.is_some_and(|m| n.depth > m) {
            continue;
        }
        if n.depth > MAX_RENDER_DEPTH {
            out.truncated = true;
            continue;
        }
        if include(n, options) {
            let flatten = scoped && options.interactive;
            let indent = "  ".repeat(if flatten { 0 } else { n.depth });
            if let (Some(_), Some(f)) = (&n.reference, &n.frame_id) {
                out.iframe_lines.push((out.lines.len(), f.clone()));
            }
            out.lines.push(format!("{indent}- {}", line_body(n)));
        }
        for &c in n.children.iter().rev() {
            stack.push(c);
        }
    }
    out
}

fn include(n: &TreeNode, options: RoleOptions) -> bool {
    if n.transparent {
        return false;
    }
    let role = n.ax.role.to_ascii_lowercase();
    if options.interactive {
        return INTERACTIVE_ROLES.contains(&role.as_str()) || role == "iframe" || n.cursor.is_some();
    }
    !(options.compact && STRUCTURAL_ROLES.contains(&role.as_str()) && n.name.is_empty() && n.reference.is_none())
}

/// `role "name" [ref=eN] [nth=K] [state…] value="…" [url=…] [cursor…]`. Names and values are
/// JSON strings, so a name cannot forge a ref or a new line.
fn line_body(n: &TreeNode) -> String {
    let mut s = n.ax.role.clone();
    if !n.name.is_empty() {
        s.push(' ');
        s.push_str(&json_string(&n.name));
    }
    if let Some(r) = &n.reference {
        s.push_str(&format!(" [ref={r}]"));
        if n.nth > 0 {
            s.push_str(&format!(" [nth={}]", n.nth));
        }
    }
    s.push_str(&state_suffix(&n.ax.properties));
    if !n.ax.value.is_empty() {
        s.push_str(" value=");
        s.push_str(&json_string(&n.ax.value));
    }
    if let Some(u) = &n.url {
        s.push_str(&format!(" [url={u}]"));
    }
    if let Some(c) = &n.cursor {
        let mut parts = Vec::new();
        if c.pointer {
            parts.push("cursor:pointer".to_string());
        }
        if c.onclick {
            parts.push("onclick".into());
        }
        if c.tabindex {
            parts.push("tabindex".into());
        }
        if c.editable {
            parts.push("contenteditable".into());
        }
        if !c.hidden_input_type.is_empty() {
            parts.push(format!("hidden-{}", c.hidden_input_type));
        }
        if !parts.is_empty() {
            s.push_str(&format!(" [{}]", parts.join(", ")));
        }
    }
    s
}

fn state_suffix(properties: &[(String, Value)]) -> String {
    let get = |name: &str| properties.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v);
    let mut s = String::new();
    for name in ["checked", "disabled", "expanded", "pressed", "selected", "level", "invalid"] {
        let Some(v) = get(name) else { continue };
        match v {
            Value::Bool(true) => s.push_str(&format!(" [{name}]")),
            Value::String(t) if t == "true" => s.push_str(&format!(" [{name}]")),
            Value::String(t) if t == "mixed" => s.push_str(&format!(" [{name}=mixed]")),
            Value::Number(n) if name == "level" => s.push_str(&format!(" [level={}]", js_number(n))),
            Value::String(t) if name == "invalid" && t != "false" => s.push_str(&format!(" [invalid={t}]")),
            _ => {}
        }
    }
    s
}

/// `JSON.stringify` of a string.
pub(crate) fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The ref a snapshot line carries, read the way the gateway's `parseSnapshotLine` reads it:
/// `- role`, an optional JSON-string name, then bracket groups, the first `[ref=…]` among
/// them. Lines this module renders never use the quoted-YAML form, so that form is not read.
pub fn line_ref(line: &str) -> Option<&str> {
    let rest = line.trim_start();
    let rest = rest.strip_prefix('-')?;
    let content = rest.trim_start();
    if content.len() == rest.len() {
        return None; // `-` must be followed by white space
    }
    let role_len = content.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
    if role_len == 0 {
        return None;
    }
    let mut suffix = &content[role_len..];
    let after_ws = suffix.trim_start();
    if after_ws.len() < suffix.len() && after_ws.starts_with('"') {
        if let Some(end) = json_string_end(after_ws) {
            suffix = &after_ws[end..];
        }
    }
    // `(?:\s+\[[^\][]*\])*`: bracket groups, each after white space.
    loop {
        let t = suffix.trim_start();
        if t.len() == suffix.len() || !t.starts_with('[') {
            return None;
        }
        let close = t[1..].find([']', '['])? + 1;
        if t.as_bytes()[close] != b']' {
            return None;
        }
        let group = &t[1..close];
        if let Some(r) = group.strip_prefix("ref=") {
            if !r.is_empty() {
                return Some(r);
            }
        }
        suffix = &t[close + 1..];
    }
}

/// The byte length of the JSON string literal at the start of `s` (`"(?:\\.|[^"\\])*"`).
fn json_string_end(s: &str) -> Option<usize> {
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next()?;
            }
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// Length in UTF-16 code units, the unit of JavaScript's `length` (and of `maxChars`).
pub(crate) fn js_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// What the snapshot of the previous compatible capture of this tab contained: the identity
/// keys (`role\0name\0nth`) of its refs. Refs absent from it are marked ` [new]`.
pub type DeltaKeys = HashSet<String>;

/// The identity of a ref across snapshots of one document.
pub fn identity_key(e: &RefEntry) -> String {
    format!("{}\0{}\0{}", e.role, e.name.as_deref().unwrap_or(""), e.nth.unwrap_or(0))
}

/// The final snapshot: text, the refs it shows, its stats.
#[derive(Debug, Clone, PartialEq)]
pub struct Finalized {
    /// The text the agent reads.
    pub snapshot: String,
    /// The refs on complete output lines, in order.
    pub refs: Vec<(String, RefEntry)>,
    /// Output lines (0 for an empty text).
    pub lines: usize,
    /// Output length in UTF-16 units.
    pub chars: usize,
    /// How many of `refs` have an interactive role.
    pub interactive: usize,
    /// With a previous snapshot: how many shown refs it did not have.
    pub new_elements: Option<usize>,
    /// Whether anything was cut (size budget or depth).
    pub truncated: bool,
}

const SIZE_MARKER: &str = "[...TRUNCATED - page too large]";
const DEPTH_MARKER: &str = "[...TRUNCATED - accessibility tree too deep]";

/// Joins the rendered lines, applies the empty-page texts, the depth marker, the delta marks,
/// the `maxChars` budget (whole lines), and keeps only refs that remain visible.
pub fn finalize(
    lines: &[String],
    refs: Vec<(String, RefEntry)>,
    options: RoleOptions,
    scoped: bool,
    depth_truncated: bool,
    max_chars: Option<usize>,
    previous: Option<&DeltaKeys>,
) -> Finalized {
    let joined = lines.join("\n");
    let trimmed = joined.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let mut text = if !trimmed.is_empty() {
        trimmed.to_string()
    } else if options.interactive {
        "(no interactive elements)".to_string()
    } else if scoped {
        "(empty)".to_string()
    } else {
        "(empty page)".to_string()
    };
    if depth_truncated {
        text = format!("{text}\n\n{DEPTH_MARKER}");
    }
    let by_id: HashMap<&str, &RefEntry> = refs.iter().map(|(id, e)| (id.as_str(), e)).collect();
    let mut source: Vec<String> = text.split('\n').map(str::to_string).collect();
    let mut line_refs: Vec<Option<String>> = source.iter().map(|l| line_ref(l).map(str::to_string)).collect();
    if let Some(prev) = previous {
        let mut marked = HashSet::new();
        for (i, r) in line_refs.iter().enumerate() {
            let Some(e) = r.as_deref().and_then(|r| by_id.get(r)) else { continue };
            let key = identity_key(e);
            if prev.contains(&key) {
                continue;
            }
            source[i].push_str(" [new]");
            marked.insert(key);
        }
        if !marked.is_empty() {
            source.push(format!("{} new element(s) since last snapshot", marked.len()));
            line_refs.push(None);
            text = source.join("\n");
        }
    }
    let max = max_chars.filter(|m| *m > 0);
    let size_truncated = max.is_some_and(|m| js_len(&text) > m);
    let mut visible_lines = source.len();
    if let Some(m) = max.filter(|_| size_truncated) {
        let marker = if m >= 31 { SIZE_MARKER } else { "…" };
        let mut prefix = String::new();
        let mut count = 0;
        for line in &source {
            let candidate = if prefix.is_empty() { line.clone() } else { format!("{prefix}\n{line}") };
            if js_len(&candidate) + 2 + js_len(marker) > m {
                break;
            }
            prefix = candidate;
            count += 1;
        }
        text = if prefix.is_empty() { marker.to_string() } else { format!("{prefix}\n\n{marker}") };
        visible_lines = count;
    }
    let shown: HashSet<&str> = line_refs[..visible_lines].iter().flatten().map(String::as_str).collect();
    let mut kept = Vec::new();
    let mut interactive = 0;
    let mut new_keys = HashSet::new();
    for (id, e) in &refs {
        if !shown.contains(id.as_str()) {
            continue;
        }
        if is_interactive(&e.role) {
            interactive += 1;
        }
        if let Some(prev) = previous {
            let key = identity_key(e);
            if !prev.contains(&key) {
                new_keys.insert(key);
            }
        }
        kept.push((id.clone(), e.clone()));
    }
    Finalized {
        lines: if text.is_empty() { 0 } else { text.split('\n').count() },
        chars: js_len(&text),
        snapshot: text,
        refs: kept,
        interactive,
        new_elements: previous.map(|_| new_keys.len()),
        truncated: size_truncated || depth_truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(id: &str, role: &str, name: &str, backend: i64, kids: &[&str]) -> AxNode {
        AxNode {
            node_id: id.into(),
            role: role.into(),
            name: name.into(),
            backend_node_id: Some(backend),
            child_ids: kids.iter().map(|k| k.to_string()).collect(),
            ..Default::default()
        }
    }

    /// browser.md §3.2's worked example: a sign-in page.
    fn sign_in() -> Vec<AxNode> {
        let mut heading = node("3", "heading", "Sign in", 7, &["4"]);
        heading.properties.push(("level".into(), json!(1)));
        vec![
            node("1", "RootWebArea", "Sign in", 1, &["2"]),
            node("2", "generic", "", 2, &["3", "5", "6", "7", "8"]),
            heading,
            node("4", "StaticText", "Sign in", 8, &[]),
            node("5", "textbox", "Email", 11, &[]),
            node("6", "textbox", "Password", 14, &[]),
            node("7", "checkbox", "Remember me", 16, &[]),
            node("8", "button", "Sign in", 17, &["9"]),
            node("9", "StaticText", "Sign in", 18, &[]),
        ]
    }

    fn snap(options: RoleOptions, max: Option<usize>) -> Finalized {
        let mut next = 1;
        let f = build_frame(sign_in(), &FrameInputs::default(), options, &mut next);
        finalize(&f.lines, f.refs, options, false, f.truncated, max, None)
    }

    #[test]
    fn worked_example_full() {
        let s = snap(RoleOptions::default(), None);
        assert_eq!(
            s.snapshot,
            "- RootWebArea \"Sign in\"\n  - generic\n    - heading \"Sign in\" [ref=e1] [level=1]\n      - StaticText \"Sign in\"\n    - textbox \"Email\" [ref=e2]\n    - textbox \"Password\" [ref=e3]\n    - checkbox \"Remember me\" [ref=e4]\n    - button \"Sign in\" [ref=e5]\n      - StaticText \"Sign in\""
        );
        assert_eq!((s.lines, s.chars, s.refs.len(), s.interactive), (9, 271, 5, 4));
        assert_eq!(s.refs[0].1.to_json(), json!({"role": "heading", "name": "Sign in", "backendDOMNodeId": 7}));
    }

    #[test]
    fn worked_example_compact_and_efficient() {
        let s = snap(RoleOptions { compact: true, ..Default::default() }, None);
        assert_eq!((s.lines, s.chars), (8, 259));
        assert!(!s.snapshot.contains("generic"));
        let efficient = RoleOptions { interactive: true, compact: true, max_depth: Some(6) };
        let s = snap(efficient, Some(8000));
        assert_eq!(
            s.snapshot,
            "- textbox \"Email\" [ref=e2]\n    - textbox \"Password\" [ref=e3]\n    - checkbox \"Remember me\" [ref=e4]\n    - button \"Sign in\" [ref=e5]"
        );
        assert_eq!((s.lines, s.chars, s.refs.len(), s.interactive), (4, 130, 4, 4));
        assert!(s.refs.iter().all(|(id, _)| id != "e1"), "the unrendered heading's ref is dropped");
    }

    #[test]
    fn duplicates_get_nth_and_names_cannot_forge_refs() {
        let nodes = vec![
            node("1", "RootWebArea", "", 1, &["2", "3", "4"]),
            node("2", "button", "Save", 2, &[]),
            node("3", "button", "Save", 3, &[]),
            node("4", "button", "Save\n- button [ref=e9]", 4, &[]),
        ];
        let mut next = 1;
        let f = build_frame(nodes, &FrameInputs::default(), RoleOptions::default(), &mut next);
        let s = finalize(&f.lines, f.refs, RoleOptions::default(), false, false, None, None);
        assert_eq!(
            s.snapshot,
            "- RootWebArea\n  - button \"Save\" [ref=e1]\n  - button \"Save\" [ref=e2] [nth=1]\n  - button \"Save\\n- button [ref=e9]\" [ref=e3]"
        );
        assert_eq!(s.refs[0].1.nth, Some(0));
        assert_eq!(s.refs[1].1.nth, Some(1));
        assert_eq!(s.refs[2].1.nth, None);
        assert_eq!(s.lines, 4, "the name's newline stays escaped");
    }

    #[test]
    fn cursor_nodes_and_states() {
        let mut card = node("3", "generic", "", 30, &[]);
        card.properties = vec![("disabled".into(), json!(true)), ("invalid".into(), json!("spelling"))];
        let mut cb = node("4", "checkbox", "Mixed", 40, &[]);
        cb.properties = vec![("checked".into(), json!("mixed")), ("invalid".into(), json!("false"))];
        let nodes =
            vec![node("1", "RootWebArea", "", 1, &["2", "3", "4"]), node("2", "link", "Docs", 20, &[]), card, cb];
        let mut inputs = FrameInputs::default();
        inputs.cursor.insert(
            30,
            CursorInfo { text: "Clickable Card".into(), pointer: true, onclick: true, ..Default::default() },
        );
        inputs.link_urls.insert(20, "https://docs.openclaw.ai/".into());
        let options = RoleOptions { interactive: true, ..Default::default() };
        let mut next = 1;
        let f = build_frame(nodes, &inputs, options, &mut next);
        let s = finalize(&f.lines, f.refs, options, false, false, None, None);
        assert_eq!(
            s.snapshot,
            "- link \"Docs\" [ref=e1] [url=https://docs.openclaw.ai/]\n  - generic \"Clickable Card\" [ref=e2] [disabled] [invalid=spelling] [cursor:pointer, onclick]\n  - checkbox \"Mixed\" [ref=e3] [checked=mixed]"
        );
        assert_eq!(s.interactive, 2);
    }

    #[test]
    fn empty_texts_depth_and_cycles() {
        let opts = RoleOptions::default();
        assert_eq!(finalize(&[], vec![], opts, false, false, None, None).snapshot, "(empty page)");
        assert_eq!(finalize(&[], vec![], opts, true, false, None, None).snapshot, "(empty)");
        let i = RoleOptions { interactive: true, ..opts };
        let s = finalize(&[], vec![], i, false, false, None, None);
        assert_eq!((s.snapshot.as_str(), s.lines), ("(no interactive elements)", 1));
        // A chain deeper than 100 renders 101 lines and says so; a cycle does not hang.
        let mut nodes: Vec<AxNode> =
            (0..150).map(|d| node(&d.to_string(), "generic", "", d + 1, &[&(d + 1).to_string()])).collect();
        nodes[149].child_ids = vec!["0".into()];
        nodes.insert(0, node("root", "RootWebArea", "", 999, &["0"]));
        let mut next = 1;
        let f = build_frame(nodes, &FrameInputs::default(), opts, &mut next);
        assert!(f.truncated);
        let s = finalize(&f.lines, f.refs, opts, false, f.truncated, None, None);
        assert!(s.snapshot.ends_with("\n\n[...TRUNCATED - accessibility tree too deep]"));
        assert!(s.truncated);
        assert_eq!(f.lines.len(), 101);
    }

    #[test]
    fn budget_cuts_whole_lines_and_drops_hidden_refs() {
        let s = snap(RoleOptions::default(), Some(120));
        assert!(s.truncated);
        assert!(s.snapshot.ends_with("\n\n[...TRUNCATED - page too large]"), "{}", s.snapshot);
        // 120 - 2 - 31 leaves 87 characters: the first three lines (78), with only e1 on them.
        assert!(js_len(&s.snapshot) <= 120);
        assert_eq!(s.refs.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), vec!["e1"]);
        let tiny = snap(RoleOptions::default(), Some(10));
        assert_eq!(tiny.snapshot, "…");
        assert!(tiny.refs.is_empty());
        // Every budget holds, and every kept ref is on a kept line.
        for max in 1..300 {
            let s = snap(RoleOptions::default(), Some(max));
            assert!(js_len(&s.snapshot) <= max.max(1), "{max}: {}", s.snapshot);
            for (id, _) in &s.refs {
                assert!(s.snapshot.contains(&format!("[ref={id}]")), "{max}: {id}");
            }
        }
    }

    #[test]
    fn delta_marks_new_refs() {
        let mut next = 1;
        let f = build_frame(sign_in(), &FrameInputs::default(), RoleOptions::default(), &mut next);
        let mut prev: DeltaKeys = f.refs.iter().map(|(_, e)| identity_key(e)).collect();
        let s = finalize(&f.lines, f.refs.clone(), RoleOptions::default(), false, false, None, Some(&prev));
        assert_eq!(s.new_elements, Some(0));
        assert!(!s.snapshot.contains("[new]"));
        prev.retain(|k| !k.starts_with("button"));
        let s = finalize(&f.lines, f.refs, RoleOptions::default(), false, false, None, Some(&prev));
        assert!(s.snapshot.contains("- button \"Sign in\" [ref=e5] [new]"));
        assert!(s.snapshot.ends_with("\n1 new element(s) since last snapshot"));
        assert_eq!(s.new_elements, Some(1));
    }

    #[test]
    fn line_refs_follow_the_gateway_grammar() {
        assert_eq!(line_ref("- button \"Save\" [ref=e1]"), Some("e1"));
        assert_eq!(line_ref("    - textbox [ref=e22] [nth=1]"), Some("e22"));
        assert_eq!(line_ref("- link \"a [ref=e9]\" [level=1] [ref=e3]"), Some("e3"));
        assert_eq!(line_ref("- generic \"x\" value=\"[ref=e4]\""), None);
        assert_eq!(line_ref("-button [ref=e1]"), None);
        assert_eq!(line_ref("- StaticText \"x\""), None);
        assert_eq!(line_ref("3 new element(s) since last snapshot"), None);
    }

    #[test]
    fn cdp_nodes_parse() {
        let raw = json!({"nodeId": "5", "ignored": false, "role": {"type": "role", "value": "heading"},
            "name": {"type": "computedString", "value": "Hi"}, "value": {"type": "integer", "value": 3},
            "properties": [{"name": "level", "value": {"type": "integer", "value": 2}}],
            "childIds": ["6"], "backendDOMNodeId": 12});
        let n = AxNode::from_cdp(&raw).unwrap();
        assert_eq!(
            (n.role.as_str(), n.name.as_str(), n.value.as_str(), n.backend_node_id),
            ("heading", "Hi", "3", Some(12))
        );
        assert_eq!(n.properties, vec![("level".to_string(), json!(2))]);
        assert!(AxNode::from_cdp(&json!({"role": {"value": "x"}})).is_none());
        assert_eq!(AxNode::from_cdp(&json!({"nodeId": "1"})).unwrap().role, "unknown");
    }
}
