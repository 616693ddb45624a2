//! Tabs as the routes show them: CDP page targets plus upstream's stable `tN` aliases and
//! labels, and the rules that turn a user's `targetId` into one tab (spec/browser.md §1.2,
//! upstream `target-id.ts`).
//!
//! Raw CDP target ids are 32 hex digits that a model copies badly; upstream therefore gives every
//! tab a per-profile, monotonic alias (`t1`, `t2`, …) and optional labels, and accepts any of
//! them, or a unique prefix of the raw id, wherever a `targetId` is expected.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::error::RouteError;

/// One page target from `/json/list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tab {
    /// The raw CDP target id.
    pub target_id: String,
    /// The page title.
    pub title: String,
    /// The page URL (redacted to `""` by the route when the SSRF policy refuses it).
    pub url: String,
    /// The page's own DevTools WebSocket URL.
    pub ws_url: Option<String>,
    /// Always `page` (other target types are not listed).
    pub kind: String,
    /// The `tN` alias.
    pub tab_id: String,
    /// A user label, when one was given.
    pub label: Option<String>,
}

impl Tab {
    /// Upstream's `suggestedTargetId`: the label if any, else the alias.
    pub fn suggested(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.tab_id)
    }

    /// The `Tab` JSON shape, in upstream's key order.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("targetId".into(), json!(self.target_id));
        m.insert("title".into(), json!(self.title));
        m.insert("url".into(), json!(self.url));
        if let Some(ws) = &self.ws_url {
            m.insert("wsUrl".into(), json!(ws));
        }
        m.insert("type".into(), json!(self.kind));
        m.insert("suggestedTargetId".into(), json!(self.suggested()));
        m.insert("tabId".into(), json!(self.tab_id));
        if let Some(l) = &self.label {
            m.insert("label".into(), json!(l));
        }
        m
    }
}

/// URL prefixes of browser-internal pages, which are never offered as tabs.
const INTERNAL_PREFIXES: &[&str] =
    &["chrome://", "chrome-untrusted://", "devtools://", "edge://", "brave://", "vivaldi://", "opera://"];

/// Upstream's `isSelectableCdpBrowserTarget`: a `page` that is not a browser-internal URL.
pub fn is_selectable(kind: &str, url: &str) -> bool {
    let u = url.trim().to_ascii_lowercase();
    kind == "page" && !INTERNAL_PREFIXES.iter().any(|p| u.starts_with(p))
}

#[derive(Debug, Clone, Default)]
struct AliasEntry {
    tab_id: String,
    label: Option<String>,
    url: String,
}

/// The per-profile alias table and the sticky "current tab" (`lastTargetId`).
#[derive(Debug, Default)]
pub struct TabState {
    next: u64,
    by_target: HashMap<String, AliasEntry>,
    /// The last tab opened, focused or acted on: the default for routes without `targetId`.
    pub last_target_id: Option<String>,
}

/// Checks a label against upstream's `^[A-Za-z0-9_.:-]{1,64}$` (after trimming).
pub fn normalize_label(label: &str) -> Result<String, RouteError> {
    let t = label.trim();
    if (1..=64).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b)) {
        Ok(t.to_string())
    } else {
        Err(RouteError::internal("tab label must be 1-64 chars and use only letters, numbers, _, ., :, or -"))
    }
}

impl TabState {
    /// Gives `raw` (id, title, url, wsUrl, type) its alias, optionally (re)labelling it; a
    /// label moves away from any other tab that had it.
    pub fn assign(&mut self, raw: RawTab, label: Option<String>) -> Tab {
        if self.next == 0 {
            self.next = 1;
        }
        if !self.by_target.contains_key(&raw.target_id) {
            let entry = AliasEntry { tab_id: format!("t{}", self.next), ..Default::default() };
            self.next += 1;
            self.by_target.insert(raw.target_id.clone(), entry);
        }
        if let Some(l) = &label {
            for (id, e) in self.by_target.iter_mut() {
                if *id != raw.target_id && e.label.as_deref() == Some(l) {
                    e.label = None;
                }
            }
        }
        let entry = self.by_target.get_mut(&raw.target_id).expect("inserted above");
        if label.is_some() {
            entry.label = label;
        }
        entry.url = raw.url.clone();
        Tab {
            target_id: raw.target_id,
            title: raw.title,
            url: raw.url,
            ws_url: raw.ws_url,
            kind: raw.kind,
            tab_id: entry.tab_id.clone(),
            label: entry.label.clone(),
        }
    }

    /// Aliases a fresh `/json/list`. Entries of vanished targets are dropped, except that a
    /// single vanished tab replaced by a single new one (or one with the same URL) keeps its
    /// alias, as upstream does when Chromium swaps a target during a cross-process navigation.
    pub fn assign_all(&mut self, tabs: Vec<RawTab>) -> Vec<Tab> {
        let live: std::collections::HashSet<&str> = tabs.iter().map(|t| t.target_id.as_str()).collect();
        let stale: Vec<String> = self.by_target.keys().filter(|k| !live.contains(k.as_str())).cloned().collect();
        let fresh: Vec<&RawTab> = tabs.iter().filter(|t| !self.by_target.contains_key(&t.target_id)).collect();
        let mut moves = Vec::new();
        for old in &stale {
            let entry = &self.by_target[old];
            let candidate = if stale.len() == 1 && fresh.len() == 1 {
                Some(fresh[0])
            } else if !entry.url.trim().is_empty() {
                let same_stale = stale.iter().filter(|s| self.by_target[*s].url.trim() == entry.url.trim()).count();
                let same_fresh: Vec<_> = fresh.iter().filter(|t| t.url.trim() == entry.url.trim()).collect();
                (same_stale == 1 && same_fresh.len() == 1).then(|| *same_fresh[0])
            } else {
                None
            };
            if let Some(c) = candidate {
                moves.push((old.clone(), c.target_id.clone()));
            }
        }
        for (old, new) in moves {
            if let Some(e) = self.by_target.remove(&old) {
                self.by_target.insert(new.clone(), e);
                if self.last_target_id.as_deref() == Some(old.as_str()) {
                    self.last_target_id = Some(new);
                }
            }
        }
        self.by_target.retain(|k, _| live.contains(k.as_str()));
        tabs.into_iter().map(|t| self.assign(t, None)).collect()
    }
}

/// A target as `/json/list` reports it, before aliasing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTab {
    /// The raw CDP target id.
    pub target_id: String,
    /// The page title.
    pub title: String,
    /// The page URL.
    pub url: String,
    /// The page's DevTools WebSocket URL.
    pub ws_url: Option<String>,
    /// The target type (`page`).
    pub kind: String,
}

impl RawTab {
    /// Reads one `/json/list` entry; None for non-selectable targets.
    pub fn from_json_list(v: &Value) -> Option<Self> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let t = RawTab {
            target_id: s("id"),
            title: s("title"),
            url: s("url"),
            ws_url: v.get("webSocketDebuggerUrl").and_then(Value::as_str).map(str::to_string),
            kind: s("type"),
        };
        (!t.target_id.is_empty() && is_selectable(&t.kind, &t.url)).then_some(t)
    }
}

/// Upstream's `resolveTargetIdFromTabs`: an exact match on raw id, alias, suggested id or label,
/// else a unique case-insensitive prefix of the raw id. Several matches: 409; none: 404.
pub fn resolve<'a>(input: &str, tabs: &'a [Tab]) -> Result<&'a Tab, RouteError> {
    let needle = input.trim();
    if needle.is_empty() {
        return Err(RouteError::tab_not_found(Some(input)));
    }
    let mut exact: Vec<&Tab> = tabs
        .iter()
        .filter(|t| {
            t.target_id == needle || t.suggested() == needle || t.tab_id == needle || t.label.as_deref() == Some(needle)
        })
        .collect();
    exact.dedup_by(|a, b| a.target_id == b.target_id);
    match exact.len() {
        1 => return Ok(exact[0]),
        n if n > 1 => return Err(RouteError::ambiguous()),
        _ => {}
    }
    let lower = needle.to_lowercase();
    let prefixed: Vec<&Tab> = tabs.iter().filter(|t| t.target_id.to_lowercase().starts_with(&lower)).collect();
    match prefixed.len() {
        1 => Ok(prefixed[0]),
        0 => Err(RouteError::tab_not_found(Some(needle))),
        _ => Err(RouteError::ambiguous()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(id: &str, url: &str) -> RawTab {
        RawTab { target_id: id.into(), title: String::new(), url: url.into(), ws_url: None, kind: "page".into() }
    }

    #[test]
    fn aliases_are_monotonic_and_labels_move() {
        let mut st = TabState::default();
        let a = st.assign(raw("AAAA1", "about:blank"), None);
        let b = st.assign(raw("BBBB2", "about:blank"), Some("work".into()));
        assert_eq!((a.tab_id.as_str(), b.tab_id.as_str(), b.suggested()), ("t1", "t2", "work"));
        let a = st.assign(raw("AAAA1", "about:blank"), Some("work".into()));
        assert_eq!(a.label.as_deref(), Some("work"));
        let tabs = st.assign_all(vec![raw("AAAA1", "x"), raw("BBBB2", "y")]);
        assert_eq!(tabs[1].label, None);
        // t1 closed, a new tab appears alongside: it gets t3, never t1 again.
        let tabs = st.assign_all(vec![raw("BBBB2", "y"), raw("CCCC3", "z")]);
        assert_eq!(tabs[1].tab_id, "t1", "a single replacement inherits the vanished alias");
        let tabs = st.assign_all(vec![raw("BBBB2", "y"), raw("CCCC3", "z"), raw("DDDD4", "w")]);
        assert_eq!(tabs[2].tab_id, "t3");
    }

    #[test]
    fn resolution_rules() {
        let mut st = TabState::default();
        let tabs = vec![
            st.assign(raw("ABCDEF01", "u"), None),
            st.assign(raw("ABCDEF02", "u"), Some("mail".into())),
            st.assign(raw("99AA", "u"), None),
        ];
        assert_eq!(resolve("t1", &tabs).unwrap().target_id, "ABCDEF01");
        assert_eq!(resolve("mail", &tabs).unwrap().target_id, "ABCDEF02");
        assert_eq!(resolve("abcdef02", &tabs).unwrap().target_id, "ABCDEF02");
        assert_eq!(resolve("99", &tabs).unwrap().target_id, "99AA");
        let e = resolve("ABCDEF", &tabs).unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (409, "ambiguous browser tab reference"));
        assert_eq!(resolve("nope", &tabs).unwrap_err().status, 404);
    }

    #[test]
    fn internal_pages_are_not_tabs() {
        assert!(!is_selectable("page", "chrome://newtab/"));
        assert!(!is_selectable("service_worker", "https://a/"));
        assert!(is_selectable("page", "about:blank"));
        assert!(normalize_label("a b").is_err());
        assert_eq!(normalize_label(" ok:1 ").unwrap(), "ok:1");
    }
}
