//! Route errors: an HTTP status plus upstream's JSON error body (spec/browser.md §1.1).
//!
//! Upstream maps typed browser errors to statuses (`errors.ts#toBrowserErrorResponse`) and
//! anything else to `500 {"error": String(err)}`, which is why plain failures read
//! `Error: …`. [`RouteError`] carries exactly the fields of that body so handlers build errors by
//! kind and never format JSON by hand.

use serde_json::{json, Map, Value};

use crate::RouteResponse;

/// One failed route: status, message and upstream's optional `code` / `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    /// The HTTP status (400, 404, 409, 500, 501, …).
    pub status: u16,
    /// The `error` text, exactly as upstream words it.
    pub message: String,
    /// An `ACT_*` code for act failures.
    pub code: Option<&'static str>,
    /// `navigation_blocked` for SSRF refusals, `no_display_for_headed_profile` for headed
    /// starts without a display.
    pub reason: Option<&'static str>,
    /// Structured details that go with `reason`.
    pub details: Option<Box<Value>>,
}

impl RouteError {
    /// An error with a status and message and nothing else.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), code: None, reason: None, details: None }
    }
    /// 400: the request is malformed (upstream `BrowserValidationError` / `jsonError(400)`).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
    /// 409: the profile is not running or cannot be used now (`BrowserProfileUnavailableError`).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(409, message)
    }
    /// 500 for an unclassified failure, worded as JavaScript's `String(new Error(msg))`.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(500, format!("Error: {message}"))
    }
    /// 501 for a route or driver this node does not implement.
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(501, message)
    }
    /// 501 for a feature upstream implements only with Playwright (upstream `requirePwAi`).
    pub fn playwright_missing(feature: &str) -> Self {
        Self::not_implemented(format!(
            "Playwright is not available in this gateway build; '{feature}' is unsupported.\nReinstall or update OpenClaw so the core browser runtime dependency is present, then restart the gateway. In Docker, also install Chromium with the bundled playwright-core CLI.\nDocs: /tools/browser-control#playwright-requirement"
        ))
    }
    /// 404 `tab not found: …` with upstream's wording for the input (`BrowserTabNotFoundError`).
    pub fn tab_not_found(input: Option<&str>) -> Self {
        let input = input.map(str::trim).filter(|s| !s.is_empty());
        let message = match input {
            Some(i) if i.bytes().all(|b| b.is_ascii_digit()) => format!(
                "tab not found: browser tab \"{i}\" not found. Numeric values are not tab targets; use a stable tab id like \"t1\", a label, or a raw targetId. For positional selection, use \"openclaw browser tab select {i}\"."
            ),
            Some(i) => format!(
                "tab not found: browser tab \"{i}\" not found. Use action=tabs and pass suggestedTargetId, tabId, label, or raw targetId."
            ),
            None => "tab not found".to_string(),
        };
        Self::new(404, message)
    }
    /// 409 for a reference matching several tabs (`BrowserTargetAmbiguousError`).
    pub fn ambiguous() -> Self {
        Self::new(409, "ambiguous browser tab reference")
    }
    /// An `/act` refusal or failure with upstream's `ACT_*` code (`jsonActError`,
    /// `BrowserActionError`): the message stands as is, with no `Error: ` prefix.
    pub fn act(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { code: Some(code), ..Self::new(status, message) }
    }
    /// 500 `ACT_OPERATION_FAILED`: an interaction failed in a way the model can act on
    /// (upstream `toAIFriendlyError`).
    pub fn act_failed(message: impl Into<String>) -> Self {
        Self::act(500, "ACT_OPERATION_FAILED", message)
    }
    /// 400 with `reason: navigation_blocked` (SSRF guard, invalid navigation URL).
    pub fn navigation_blocked(message: impl Into<String>) -> Self {
        Self { reason: Some("navigation_blocked"), ..Self::new(400, message) }
    }

    /// The `{status, body}` pair the dispatcher returns.
    pub fn into_response(self) -> RouteResponse {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.message));
        if let Some(c) = self.code {
            body.insert("code".into(), json!(c));
        }
        if let Some(r) = self.reason {
            body.insert("reason".into(), json!(r));
        }
        if let Some(d) = self.details {
            body.insert("details".into(), *d);
        }
        RouteResponse { status: self.status, body: Value::Object(body) }
    }
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for RouteError {}

impl From<crate::cdp::CdpError> for RouteError {
    fn from(e: crate::cdp::CdpError) -> Self {
        Self::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_not_found_texts() {
        assert_eq!(
            RouteError::tab_not_found(Some("zz")).message,
            "tab not found: browser tab \"zz\" not found. Use action=tabs and pass suggestedTargetId, tabId, label, or raw targetId."
        );
        assert!(RouteError::tab_not_found(Some("3")).message.contains("Numeric values are not tab targets"));
        assert_eq!(RouteError::tab_not_found(None).message, "tab not found");
    }

    #[test]
    fn body_shape() {
        let r = RouteError::navigation_blocked("browser navigation blocked by policy").into_response();
        assert_eq!(r.status, 400);
        assert_eq!(r.body, json!({"error": "browser navigation blocked by policy", "reason": "navigation_blocked"}));
    }
}
