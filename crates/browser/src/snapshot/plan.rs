//! The `/snapshot` query, read with upstream's defaults (`agent.snapshot.plan.ts`).

use std::collections::BTreeMap;

use serde_json::json;

use super::aria::{DEFAULT_LIMIT, MAX_LIMIT};
use super::role::RoleOptions;
use crate::error::RouteError;
use crate::settings::parse_bool;

/// `maxChars` of a plain `format=ai` snapshot.
pub const DEFAULT_MAX_CHARS: usize = 40_000;
/// `maxChars` of `mode=efficient` (what the gateway asks for after every navigate).
pub const EFFICIENT_MAX_CHARS: usize = 8_000;

/// The two answer shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotFormat {
    /// The role snapshot: text lines and `eN` refs.
    Ai,
    /// The flat accessibility node list with `axN` refs.
    Aria,
}

impl SnapshotFormat {
    /// The `format` field of the answer.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ai => "ai",
            Self::Aria => "aria",
        }
    }
}

/// One snapshot request, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotPlan {
    /// `ai` unless `format=aria` was asked for.
    pub format: SnapshotFormat,
    /// `mode=efficient`.
    pub efficient: bool,
    /// `labels=1` (annotated screenshot; needs Playwright upstream).
    pub labels: bool,
    /// `urls=1`: link lines carry `[url=…]`.
    pub urls: bool,
    /// Node cap of `format=aria`.
    pub limit: usize,
    /// The output budget of `format=ai` in UTF-16 units; None is unlimited (`maxChars=0`).
    pub max_chars: Option<usize>,
    /// Render options.
    pub options: RoleOptions,
    /// Whether any role option was given (else `compact` is applied by default here).
    pub wants_role_snapshot: bool,
    /// `selector`: snapshot only this element's subtree.
    pub selector: Option<String>,
    /// `frame`: snapshot the document of the iframe this selector names.
    pub frame: Option<String>,
    /// Per-command timeout of the capture.
    pub timeout_ms: Option<u64>,
}

/// A strict integer (`parseStrictInteger`): optional sign and digits, nothing else.
fn strict_int(raw: Option<&String>) -> Option<i64> {
    let s = raw?.trim();
    let digits = s.strip_prefix('-').or_else(|| s.strip_prefix('+')).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

fn non_empty(q: &BTreeMap<String, String>, key: &str) -> Option<String> {
    q.get(key).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl SnapshotPlan {
    /// Reads the query. Malformed numbers fall back to the defaults, as upstream's do; the
    /// only refusal is asking `format=aria` for what only the role snapshot has.
    pub fn from_query(q: &BTreeMap<String, String>) -> Result<Self, RouteError> {
        let efficient = q.get("mode").map(|m| m.as_str()) == Some("efficient");
        let labels = q.get("labels").and_then(|v| parse_bool(v));
        let urls = q.get("urls").and_then(|v| parse_bool(v));
        let format = match q.get("format").map(String::as_str) {
            Some("aria") => SnapshotFormat::Aria,
            _ => SnapshotFormat::Ai,
        };
        if format == SnapshotFormat::Aria && (labels == Some(true) || efficient) {
            return Err(RouteError::bad_request("labels/mode=efficient require format=ai"));
        }
        let limit = strict_int(q.get("limit"))
            .filter(|n| *n > 0)
            .map(|n| (n as u64).min(MAX_LIMIT as u64) as usize)
            .unwrap_or(DEFAULT_LIMIT);
        let default_chars = if efficient { EFFICIENT_MAX_CHARS } else { DEFAULT_MAX_CHARS };
        let max_chars = match q.get("maxChars") {
            None => Some(default_chars),
            Some(raw) => match strict_int(Some(raw)).filter(|n| *n >= 0) {
                None => Some(default_chars),
                Some(0) => None,
                Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            },
        };
        let interactive = q.get("interactive").and_then(|v| parse_bool(v));
        let compact = q.get("compact").and_then(|v| parse_bool(v));
        let depth = strict_int(q.get("depth")).filter(|n| *n >= 0).map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let selector = non_empty(q, "selector");
        let frame = non_empty(q, "frame");
        let interactive = interactive.or(efficient.then_some(true));
        let compact = compact.or(efficient.then_some(true));
        let depth = depth.or(efficient.then_some(6));
        let wants_role_snapshot = labels == Some(true)
            || urls == Some(true)
            || efficient
            || interactive == Some(true)
            || compact == Some(true)
            || depth.is_some()
            || selector.is_some()
            || frame.is_some();
        let options = RoleOptions {
            interactive: interactive.unwrap_or(false),
            compact: compact.unwrap_or(!wants_role_snapshot),
            max_depth: depth,
        };
        Ok(Self {
            format,
            efficient,
            labels: labels == Some(true),
            urls: urls == Some(true),
            limit,
            max_chars: if format == SnapshotFormat::Ai { max_chars } else { None },
            options,
            wants_role_snapshot,
            selector,
            frame,
            timeout_ms: strict_int(q.get("timeoutMs")).filter(|n| *n > 0).map(|n| (n as u64).clamp(1, 120_000)),
        })
    }

    /// The delta family: snapshots compare their refs only with earlier snapshots taken with
    /// the same options.
    pub fn family(&self) -> String {
        json!([
            "role",
            self.options.interactive,
            self.options.compact,
            self.options.max_depth,
            self.selector,
            self.frame,
            self.urls,
            self.max_chars
        ])
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(pairs: &[(&str, &str)]) -> Result<SnapshotPlan, RouteError> {
        SnapshotPlan::from_query(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn efficient_defaults() {
        let p = plan(&[("mode", "efficient")]).unwrap();
        assert_eq!(p.format, SnapshotFormat::Ai);
        assert_eq!(p.options, RoleOptions { interactive: true, compact: true, max_depth: Some(6) });
        assert_eq!(p.max_chars, Some(8000));
        let p = plan(&[("mode", "efficient"), ("interactive", "false"), ("depth", "2"), ("maxChars", "0")]).unwrap();
        assert_eq!(p.options, RoleOptions { interactive: false, compact: true, max_depth: Some(2) });
        assert_eq!(p.max_chars, None, "maxChars=0 is unlimited");
    }

    #[test]
    fn plain_and_malformed() {
        let p = plan(&[]).unwrap();
        assert_eq!(p.max_chars, Some(40_000));
        assert!(p.options.compact && !p.options.interactive && !p.wants_role_snapshot);
        let p = plan(&[("maxChars", "12abc"), ("depth", "-1"), ("limit", "0"), ("timeoutMs", "x")]).unwrap();
        assert_eq!((p.max_chars, p.options.max_depth, p.limit, p.timeout_ms), (Some(40_000), None, 500, None));
        let p = plan(&[("interactive", "yes")]).unwrap();
        assert!(p.options.interactive && !p.options.compact, "an explicit role option keeps compact off");
        assert_eq!(plan(&[("format", "aria"), ("limit", "99999")]).unwrap().limit, 2000);
    }

    #[test]
    fn aria_refusals() {
        for q in [&[("format", "aria"), ("mode", "efficient")][..], &[("format", "aria"), ("labels", "1")]] {
            let e = plan(q).unwrap_err();
            assert_eq!((e.status, e.message.as_str()), (400, "labels/mode=efficient require format=ai"));
        }
    }
}
