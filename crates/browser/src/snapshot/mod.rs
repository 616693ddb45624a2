//! `GET /snapshot`: what the agent reads of a page and the refs it acts on (spec/browser.md §3).
//!
//! Every `format=ai` snapshot is the CDP role snapshot, the engine upstream itself uses for
//! the options the gateway sends most (`mode=efficient` after every navigate) and for every
//! snapshot when Playwright is absent; upstream's default Playwright YAML is not
//! reproducible, so a request without role options gets the role snapshot with `compact`
//! (unnamed, ref-less containers dropped), as browser.md §3.5 recommends.
//!
//! - [`plan`]: the query read into a [`SnapshotPlan`], upstream's defaults included.
//! - [`role`]: the pure tree → lines → refs algorithm and the output budget.
//! - [`aria`]: `format=aria`'s flat node list.
//! - [`capture`]: the CDP side (tree, page scan, iframes, document identity).

pub(crate) mod aria;
pub(crate) mod capture;
pub(crate) mod plan;
pub mod role;

use std::collections::VecDeque;

pub use plan::{SnapshotFormat, SnapshotPlan};
use role::DeltaKeys;

/// Upstream keeps the previous snapshot's ref keys of at most this many (tab, options) pairs.
const DELTA_CACHE_ENTRIES: usize = 32;

/// The ref keys of the last snapshot per (profile, tab, option family), valid while the
/// page's documents are the same; a new snapshot marks refs absent from them ` [new]`.
#[derive(Debug, Default)]
pub(crate) struct DeltaCache {
    entries: VecDeque<DeltaEntry>,
}

#[derive(Debug)]
struct DeltaEntry {
    key: String,
    document: String,
    keys: DeltaKeys,
}

impl DeltaCache {
    /// The keys recorded for `key` if they belong to the same `document`; a stale entry is
    /// dropped. A hit becomes the most recently used entry.
    pub fn previous(&mut self, key: &str, document: &str) -> Option<DeltaKeys> {
        let i = self.entries.iter().position(|e| e.key == key)?;
        let entry = self.entries.remove(i)?;
        if entry.document != document {
            return None;
        }
        let keys = entry.keys.clone();
        self.entries.push_back(entry);
        Some(keys)
    }

    /// Records the keys of a snapshot just taken, evicting the least recently used entries.
    pub fn record(&mut self, key: String, document: String, keys: DeltaKeys) {
        self.entries.retain(|e| e.key != key);
        self.entries.push_back(DeltaEntry { key, document, keys });
        while self.entries.len() > DELTA_CACHE_ENTRIES {
            self.entries.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_cache_is_per_document_and_bounded() {
        let mut c = DeltaCache::default();
        let keys: DeltaKeys = ["a".to_string()].into_iter().collect();
        c.record("k".into(), "doc1".into(), keys.clone());
        assert_eq!(c.previous("k", "doc1"), Some(keys.clone()));
        assert_eq!(c.previous("k", "doc2"), None, "another document");
        assert_eq!(c.previous("k", "doc1"), None, "the stale entry was dropped");
        for i in 0..40 {
            c.record(format!("k{i}"), "d".into(), keys.clone());
        }
        assert_eq!(c.entries.len(), DELTA_CACHE_ENTRIES);
        assert!(c.previous("k0", "d").is_none());
        assert!(c.previous("k39", "d").is_some());
    }
}
