//! The `browser.proxy` envelope and its policy, as pure functions (`nodehost.md` §7.2, §7.4).
//!
//! The checks run in upstream's order, because the first failing one decides the message the
//! agent sees: envelope kind, path, method, the owned-tab close method, then (after the
//! browser service is admitted) the persistent-profile block, the host-local routes and the
//! profile allowlist. Every message is upstream's, thrown as text (`Error: …` on the wire).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The private node-host route that closes a tab the gateway tracked for a session.
pub const OWNED_TAB_CLOSE_PATH: &str = "/__openclaw/session-tab/close-owned";
/// `errorEnvelope` value asking for route errors as `ok:true` envelopes.
pub const ERROR_ENVELOPE: &str = "browser-v1";
/// How long a proxied request may take when the gateway does not say.
pub const DEFAULT_TIMEOUT_MS: u64 = 20_000;
/// The longest timer upstream accepts (2^31 - 1 ms).
pub const MAX_TIMEOUT_MS: u64 = 2_147_483_647;

/// Which of the two commands carried the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyCommand {
    /// `browser.proxy`.
    Proxy,
    /// `browser.proxy.upload.v1`: the same, with files for the file chooser.
    Upload,
}

/// A decoded, checked request (before the profile policy, which needs the live settings).
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyRequest {
    /// `GET`, `POST` or `DELETE`.
    pub method: String,
    /// With a leading `/` and no trailing one.
    pub path: String,
    /// The query as sent (values not yet stringified).
    pub query: Map<String, Value>,
    /// The body as sent.
    pub body: Option<Value>,
    /// The profile the request names (query, then body, then the envelope), if any.
    pub requested_profile: Option<String>,
    /// The proxy timeout.
    pub timeout_ms: u64,
    /// Whether route errors come back as `browser-v1` envelopes.
    pub error_envelope: bool,
    /// The upload envelope, for `browser.proxy.upload.v1`.
    pub upload: Option<Value>,
}

/// Why a request was refused: upstream's text, thrown (the node host prefixes `Error: `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refused(text: &str) -> Refused {
    Refused(text.to_string())
}

/// A string field, trimmed, when it is a non-empty string.
fn trimmed(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

impl ProxyRequest {
    /// Decodes the params of `command`, in upstream's order of checks up to the method rules.
    pub fn parse(command: ProxyCommand, params: &Value) -> Result<ProxyRequest, Refused> {
        let upload = params.get("upload").filter(|v| !v.is_null());
        match command {
            ProxyCommand::Proxy if params.get("upload").is_some() => {
                return Err(refused("INVALID_REQUEST: browser.proxy does not accept upload envelopes"))
            }
            ProxyCommand::Upload if !upload.is_some_and(is_truthy) => {
                return Err(refused("INVALID_REQUEST: browser.proxy.upload.v1 requires an upload envelope"))
            }
            _ => {}
        }
        let path = params.get("path").and_then(Value::as_str).map(str::trim).unwrap_or("");
        if path.is_empty() {
            return Err(refused("INVALID_REQUEST: path required"));
        }
        let method = match params.get("method").and_then(Value::as_str) {
            Some(m) => m.trim().to_uppercase(),
            None => "GET".to_string(),
        };
        let path = normalize_path(path);
        if !matches!(method.as_str(), "GET" | "POST" | "DELETE") {
            return Err(refused("INVALID_REQUEST: method must be GET, POST, or DELETE"));
        }
        if path == OWNED_TAB_CLOSE_PATH && method != "POST" {
            return Err(refused("INVALID_REQUEST: owned tab close requires POST"));
        }
        let query = params.get("query").and_then(Value::as_object).cloned().unwrap_or_default();
        let body = params.get("body").filter(|v| !v.is_null()).cloned();
        let requested_profile = trimmed(query.get("profile"))
            .or_else(|| body.as_ref().and_then(|b| b.as_object()).and_then(|b| trimmed(b.get("profile"))))
            .or_else(|| trimmed(params.get("profile")));
        Ok(ProxyRequest {
            method,
            path,
            query,
            body,
            requested_profile,
            timeout_ms: timeout_ms(params.get("timeoutMs")),
            error_envelope: params.get("errorEnvelope").and_then(Value::as_str) == Some(ERROR_ENVELOPE),
            upload: upload.cloned(),
        })
    }

    /// The profile the route runs under: none for `/profiles`, else the requested one, else
    /// the default.
    pub fn effective_profile(&self, default_profile: &str) -> Option<String> {
        if self.path == "/profiles" {
            return None;
        }
        Some(self.requested_profile.clone().unwrap_or_else(|| default_profile.to_string()))
    }

    /// The route checks that need no browser: persistent-profile mutations and host-local
    /// routes are never proxied, whatever the allowlist says (2026.9.6).
    pub fn check_route(&self) -> Result<(), Refused> {
        if is_persistent_profile_mutation(&self.method, &self.path) {
            return Err(refused("INVALID_REQUEST: browser.proxy cannot mutate persistent browser profiles"));
        }
        if is_host_local_route(&self.method, &self.path) {
            return Err(refused("INVALID_REQUEST: browser.proxy cannot run host-local browser routes"));
        }
        Ok(())
    }

    /// `nodeHost.browserProxy.allowProfiles`: with a non-empty list, the profile the route
    /// runs under must be in it (`GET /profiles` without a profile passes, and its answer is
    /// filtered instead).
    pub fn check_profile(&self, allow: &[String], default_profile: &str) -> Result<(), Refused> {
        let selected = self.effective_profile(default_profile).or_else(|| self.requested_profile.clone());
        if self.path == "/profiles" && selected.is_none() {
            return Ok(());
        }
        if profile_allowed(allow, selected.as_deref()) {
            Ok(())
        } else {
            Err(refused("INVALID_REQUEST: browser profile not allowed"))
        }
    }

    /// The query as the route sees it: values stringified as JavaScript would, `null`
    /// dropped, and the chosen profile written back.
    pub fn route_query(&self, default_profile: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (k, v) in &self.query {
            let text = match v {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                other => openclaw_exec::command::js_string(other),
            };
            out.insert(k.clone(), text);
        }
        if let Some(profile) = self.effective_profile(default_profile).or_else(|| self.requested_profile.clone()) {
            out.insert("profile".into(), profile);
        }
        out
    }
}

/// JavaScript truthiness of a JSON value (`!upload`).
fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// Upstream's timer clamp: a finite number, floored, at least 1 ms and at most 2^31 - 1;
/// anything else is the default.
fn timeout_ms(v: Option<&Value>) -> u64 {
    match v.and_then(Value::as_f64) {
        Some(ms) if ms.is_finite() => (ms.floor().max(1.0) as u64).min(MAX_TIMEOUT_MS),
        _ => DEFAULT_TIMEOUT_MS,
    }
}

/// A route path with one leading `/` and no trailing ones (`"tabs/"` → `/tabs`).
pub fn normalize_path(path: &str) -> String {
    let trimmed = path.trim();
    if trimmed.is_empty() {
        return String::new();
    }
    let with_slash = if trimmed.starts_with('/') { trimmed.to_string() } else { format!("/{trimmed}") };
    if with_slash.len() <= 1 {
        return with_slash;
    }
    with_slash.trim_end_matches('/').to_string()
}

/// Routes that create, import, reset or delete a persistent browser profile.
pub fn is_persistent_profile_mutation(method: &str, path: &str) -> bool {
    let path = normalize_path(path);
    if method == "POST" && matches!(path.as_str(), "/profiles/create" | "/profiles/import" | "/reset-profile") {
        return true;
    }
    method == "DELETE" && path.strip_prefix("/profiles/").is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// Routes that only make sense on the host that owns the user's own browser profiles.
pub fn is_host_local_route(method: &str, path: &str) -> bool {
    let path = normalize_path(path);
    (method == "POST" && path == "/profiles/import")
        || (method == "GET" && matches!(path.as_str(), "/system-profiles" | "/system-profile-import/status"))
        || (method == "POST" && path == "/system-profile-import/dismiss")
}

/// Whether `profile` passes the allowlist (entries trimmed, empty ones dropped; an empty
/// list allows everything, and a list refuses a request without a profile).
pub fn profile_allowed(allow: &[String], profile: Option<&str>) -> bool {
    if allow.is_empty() {
        return true;
    }
    profile.is_some_and(|p| allow.iter().any(|a| a == p.trim()))
}

/// `nodeHost.browserProxy.allowProfiles` normalised: strings trimmed, empty ones dropped.
pub fn allow_profiles(raw: Option<&Value>) -> Vec<String> {
    raw.and_then(Value::as_array)
        .map(|a| {
            a.iter().filter_map(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(command: ProxyCommand, params: Value) -> Result<ProxyRequest, String> {
        ProxyRequest::parse(command, &params).map_err(|e| e.0)
    }

    #[test]
    fn envelope_checks_come_in_upstreams_order() {
        use ProxyCommand::*;
        let e = |c, p| parse(c, p).unwrap_err();
        assert_eq!(
            e(Proxy, json!({"upload": null, "path": ""})),
            "INVALID_REQUEST: browser.proxy does not accept upload envelopes"
        );
        assert_eq!(
            e(Upload, json!({"path": "/x"})),
            "INVALID_REQUEST: browser.proxy.upload.v1 requires an upload envelope"
        );
        assert_eq!(
            e(Upload, json!({"upload": 0, "path": "/x"})),
            "INVALID_REQUEST: browser.proxy.upload.v1 requires an upload envelope"
        );
        assert_eq!(e(Proxy, json!({"path": "  "})), "INVALID_REQUEST: path required");
        assert_eq!(e(Proxy, json!({"path": 5})), "INVALID_REQUEST: path required");
        assert_eq!(
            e(Proxy, json!({"path": "/", "method": "PUT"})),
            "INVALID_REQUEST: method must be GET, POST, or DELETE"
        );
        assert_eq!(
            e(Proxy, json!({"path": "__openclaw/session-tab/close-owned/", "method": "get"})),
            "INVALID_REQUEST: owned tab close requires POST"
        );
        let r = parse(Proxy, json!({"path": "tabs/open/", "method": " post ", "timeoutMs": 0.5})).unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str(), r.timeout_ms), ("POST", "/tabs/open", 1));
        assert_eq!(parse(Proxy, json!({"path": "/"})).unwrap().timeout_ms, DEFAULT_TIMEOUT_MS);
    }

    #[test]
    fn profiles_resolve_from_query_then_body_then_envelope() {
        let r = parse(
            ProxyCommand::Proxy,
            json!({"path": "/tabs", "query": {"profile": " q ", "n": 3, "b": true, "x": null}, "body": {"profile": "b"}, "profile": "p"}),
        )
        .unwrap();
        assert_eq!(r.requested_profile.as_deref(), Some("q"));
        let q = r.route_query("openclaw");
        assert_eq!(q.get("n").map(String::as_str), Some("3"));
        assert_eq!(q.get("b").map(String::as_str), Some("true"));
        assert!(!q.contains_key("x"));
        assert_eq!(q.get("profile").map(String::as_str), Some("q"));
        let r = parse(ProxyCommand::Proxy, json!({"path": "/", "body": {"profile": "b"}, "profile": "p"})).unwrap();
        assert_eq!(r.requested_profile.as_deref(), Some("b"));
        let r = parse(ProxyCommand::Proxy, json!({"path": "/"})).unwrap();
        assert_eq!(r.effective_profile("openclaw").as_deref(), Some("openclaw"));
        let r = parse(ProxyCommand::Proxy, json!({"path": "/profiles"})).unwrap();
        assert_eq!(r.effective_profile("openclaw"), None);
        assert!(!r.route_query("openclaw").contains_key("profile"));
    }

    #[test]
    fn route_and_profile_policy() {
        let req =
            |method: &str, path: &str| parse(ProxyCommand::Proxy, json!({"path": path, "method": method})).unwrap();
        assert_eq!(
            req("POST", "/profiles/create").check_route().unwrap_err().0,
            "INVALID_REQUEST: browser.proxy cannot mutate persistent browser profiles"
        );
        assert!(req("DELETE", "/profiles/openclaw").check_route().is_err());
        assert!(req("DELETE", "/profiles/a/b").check_route().is_ok());
        assert!(req("POST", "/reset-profile/").check_route().is_err());
        assert_eq!(
            req("GET", "/system-profiles").check_route().unwrap_err().0,
            "INVALID_REQUEST: browser.proxy cannot run host-local browser routes"
        );
        assert!(req("POST", "/system-profile-import/dismiss").check_route().is_err());
        assert!(req("GET", "/tabs").check_route().is_ok());
        let allow = allow_profiles(Some(&json!([" openclaw ", "", 3])));
        assert_eq!(allow, vec!["openclaw"]);
        assert!(req("GET", "/tabs").check_profile(&allow, "openclaw").is_ok());
        assert_eq!(
            req("GET", "/tabs").check_profile(&allow, "work").unwrap_err().0,
            "INVALID_REQUEST: browser profile not allowed"
        );
        assert!(req("GET", "/profiles").check_profile(&allow, "work").is_ok(), "filtered instead");
        assert!(req("GET", "/tabs").check_profile(&[], "anything").is_ok());
    }
}
