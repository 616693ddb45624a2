//! The browser control route table behind `browser.proxy` (spec/browser.md §1).
//!
//! Upstream serves these routes over an in-process Express-like dispatcher; the node calls
//! them with `{method, path, query, body}` and relays `{status, body}`. [`BrowserControl`]
//! is that dispatcher: it picks the profile (query, then body, then the default), matches the
//! route, and turns every failure into upstream's status and error text.
//!
//! The handlers live beside upstream's own grouping: [`basic`] (status, start, stop,
//! profiles), [`tabs`] (listing, open, focus, close, and the tab every scoped route acts on),
//! [`capture`] (navigate, screenshot, pdf, text), [`snapshot`], [`act`] (`/act` and the dialog
//! and file-chooser hooks), [`debug`] (console, errors, requests), [`downloads`] (wait for and trigger downloads), [`emulation`] (device, media,
//! timezone, locale) and [`owned`] (the node-private close of a tab the gateway owns).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};

use crate::control::ProfileRuntime;
use crate::error::RouteError;
use crate::settings::{parse_bool, BrowserSettings, Driver};
use crate::snapshot::DeltaCache;
use crate::tabs::Tab;

mod act;
mod basic;
mod capture;
mod debug;
mod downloads;
mod emulation;
mod owned;
mod snapshot;
mod tabs;

pub use owned::OWNED_TAB_CLOSE_PATH;

/// One request to the browser control routes, as `browser.proxy` carries it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteRequest {
    /// `GET`, `POST` or `DELETE`.
    pub method: String,
    /// The route path, e.g. `/tabs/open` (a query string here is ignored; use `query`).
    pub path: String,
    /// Query parameters, already stringified (the gateway sends numbers and booleans too).
    pub query: BTreeMap<String, String>,
    /// The JSON body of POST routes.
    pub body: Option<Value>,
}

/// A route's answer: the HTTP status and JSON body upstream would send.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteResponse {
    /// 200 on success; upstream's error statuses otherwise.
    pub status: u16,
    /// The result object, or `{"error": …}`.
    pub body: Value,
}

/// Routes upstream serves that this node does not implement: they answer 501 naming the route,
/// so the gateway reports a clear error instead of a 404 that looks like a bug.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("GET", "/doctor"),
    ("POST", "/reset-profile"),
    ("POST", "/profiles/create"),
    ("POST", "/profiles/import"),
    ("DELETE", "/profiles/:name"),
    ("GET", "/system-profiles"),
    ("GET", "/system-profile-import/status"),
    ("POST", "/system-profile-import/dismiss"),
    ("POST", "/tabs/action"),
    ("POST", "/permissions/grant"),
    ("POST", "/screencast"),
    ("POST", "/response/body"),
    ("POST", "/highlight"),
    ("POST", "/trace/start"),
    ("POST", "/trace/stop"),
    ("GET", "/cookies"),
    ("POST", "/cookies/set"),
    ("POST", "/cookies/set-many"),
    ("POST", "/cookies/clear"),
    ("GET", "/storage/:kind"),
    ("POST", "/storage/:kind/set"),
    ("POST", "/storage/:kind/clear"),
    ("POST", "/set/offline"),
    ("POST", "/set/headers"),
    ("POST", "/set/credentials"),
    ("POST", "/set/geolocation"),
];

/// Matches `path` against a pattern with `:param` segments; returns the decoded params.
fn match_path(pattern: &str, path: &str) -> Option<Result<HashMap<String, String>, RouteError>> {
    let ps: Vec<&str> = pattern.split('/').collect();
    let xs: Vec<&str> = path.split('/').collect();
    if ps.len() != xs.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (p, x) in ps.iter().zip(&xs) {
        if let Some(name) = p.strip_prefix(':') {
            if x.is_empty() {
                return None;
            }
            match percent_decode(x) {
                Some(v) => params.insert(name.to_string(), v),
                None => return Some(Err(RouteError::bad_request(format!("invalid path parameter encoding: {name}")))),
            };
        } else if p != x {
            return None;
        }
    }
    Some(Ok(params))
}

/// `decodeURIComponent`: None on a malformed escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

struct Shared {
    settings: BrowserSettings,
    state_dir: PathBuf,
    /// Upstream's downloads directory; resolved on first use, so creating the service
    /// touches no filesystem.
    downloads_dir: std::sync::OnceLock<PathBuf>,
    runtimes: Mutex<HashMap<String, Arc<ProfileRuntime>>>,
    /// The previous snapshot's ref keys per (profile, tab, options), for ` [new]` marks.
    snapshot_deltas: Mutex<DeltaCache>,
}

/// The browser control service of one node: the route table over per-profile runtimes.
///
/// `Send + Sync` and cheap to share behind an `Arc`; creating it starts nothing. Chromium is
/// launched on the first route that needs it and stopped by `POST /stop` or [`Self::shutdown`].
#[derive(Clone)]
pub struct BrowserControl {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BrowserControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserControl").field("state_dir", &self.shared.state_dir).finish_non_exhaustive()
    }
}

type RouteResult = Result<Value, RouteError>;

fn body_str(body: &Value, key: &str) -> Option<String> {
    match body.get(key)? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn body_bool(body: &Value, key: &str) -> Option<bool> {
    match body.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => parse_bool(s),
        Value::Number(n) => parse_bool(&n.to_string()),
        _ => None,
    }
}

/// Upstream's strict positive-integer reader: absent is None, anything else must be one.
fn positive_int(raw: Option<&str>, field: &str) -> Result<Option<u64>, RouteError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| RouteError::bad_request(format!("{field} must be a positive integer."))),
    }
}

impl BrowserControl {
    /// A control service for `settings`, keeping profiles under `<state_dir>/browser/` and
    /// screenshots and PDFs under `<state_dir>/media/browser/`. Starts nothing.
    pub fn new(settings: BrowserSettings, state_dir: PathBuf) -> Self {
        Self {
            shared: Arc::new(Shared {
                settings,
                state_dir,
                downloads_dir: std::sync::OnceLock::new(),
                runtimes: Mutex::new(HashMap::new()),
                snapshot_deltas: Mutex::new(DeltaCache::default()),
            }),
        }
    }

    /// Keeps browser downloads in `dir` instead of upstream's `<tmp>/openclaw/downloads`
    /// (tests, or a host with its own temp layout). Takes effect only before the first route
    /// that uses the directory, so call it right after [`Self::new`].
    pub fn with_downloads_dir(self, dir: PathBuf) -> Self {
        let _ = self.shared.downloads_dir.set(dir);
        self
    }

    /// Where downloads are saved: the `path` of `/download` and `/wait/download` must stay
    /// inside it, and downloads nobody waited for are kept there as `<uuid>-<name>`.
    pub fn downloads_dir(&self) -> PathBuf {
        self.shared.downloads_dir.get_or_init(crate::paths::default_downloads_dir).clone()
    }

    /// The settings this service was built with.
    pub fn settings(&self) -> &BrowserSettings {
        &self.shared.settings
    }

    /// Dispatches one route. Never panics on input; every failure is a `{status, body}` in
    /// upstream's words (unknown path: 404 `Not Found`; handler failure: 500 `Error: …`).
    pub async fn dispatch(&self, req: RouteRequest) -> RouteResponse {
        let method = req.method.trim().to_ascii_uppercase();
        let path = {
            let p = req.path.split('?').next().unwrap_or("");
            let p = if p.len() > 1 { p.trim_end_matches('/') } else { p };
            if p.starts_with('/') {
                p.to_string()
            } else {
                format!("/{p}")
            }
        };
        let body = req.body.clone().filter(Value::is_object).unwrap_or_else(|| json!({}));
        // Boxed: the route futures are large, and callers keep `dispatch` futures on small stacks.
        match Box::pin(self.route(&method, &path, &req.query, &body)).await {
            Ok(v) => RouteResponse { status: 200, body: v },
            Err(e) => e.into_response(),
        }
    }

    /// Stops every Chromium this service launched (`Browser.close`, then SIGTERM, then SIGKILL
    /// to its process group). Call it before the node host exits.
    pub async fn shutdown(&self) {
        let runtimes: Vec<_> = self.runtimes_snapshot();
        for rt in runtimes {
            rt.stop().await;
        }
    }

    /// Pids of the browsers this service launched and still runs (for diagnostics and tests).
    pub fn browser_pids(&self) -> Vec<u32> {
        self.runtimes_snapshot().iter().filter_map(|rt| rt.launched().map(|l| l.pid)).collect()
    }

    fn snapshot_deltas(&self) -> std::sync::MutexGuard<'_, DeltaCache> {
        self.shared.snapshot_deltas.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn runtimes_snapshot(&self) -> Vec<Arc<ProfileRuntime>> {
        self.shared.runtimes.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    fn runtime(&self, name: &str) -> Result<Arc<ProfileRuntime>, RouteError> {
        let s = &self.shared.settings;
        let profile = s.profile(name).ok_or_else(|| {
            let names: Vec<&str> = s.profiles.iter().map(|p| p.name.as_str()).collect();
            RouteError::new(404, format!("Profile \"{name}\" not found. Available profiles: {}", names.join(", ")))
        })?;
        let mut map = self.shared.runtimes.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(ProfileRuntime::new(profile.clone(), self.downloads_dir())))
            .clone())
    }

    /// `query.profile`, else `body.profile`, else the default profile; then the runtime, refusing
    /// drivers this node does not implement.
    fn profile_for(&self, query: &BTreeMap<String, String>, body: &Value) -> Result<Arc<ProfileRuntime>, RouteError> {
        let name = query
            .get("profile")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .or_else(|| body_str(body, "profile"))
            .unwrap_or_else(|| self.shared.settings.default_profile().to_string());
        let rt = self.runtime(&name)?;
        match rt.profile.driver {
            Driver::OpenClaw => Ok(rt),
            Driver::ExistingSession => Err(RouteError::not_implemented(format!(
                "Browser profile \"{name}\" uses the existing-session driver (Chrome MCP), which this node does not support."
            ))),
            Driver::Extension => Err(RouteError::not_implemented(format!(
                "Browser profile \"{name}\" uses the extension driver (Chrome extension relay), which this node does not support."
            ))),
        }
    }

    async fn route(&self, method: &str, path: &str, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        match (method, path) {
            ("GET", "/") => return self.status(q, body).await,
            ("POST", "/start") => return self.start(q, body).await,
            ("POST", "/stop") => return self.stop(q, body).await,
            ("GET", "/profiles") => return self.profiles().await,
            ("GET", "/tabs") => return self.tabs(q, body).await,
            ("POST", "/tabs/open") => return self.open(q, body).await,
            ("POST", "/tabs/focus") => return self.focus(q, body).await,
            ("POST", "/navigate") => return self.navigate(q, body).await,
            ("POST", "/screenshot") => return self.screenshot(q, body).await,
            ("POST", "/pdf") => return self.pdf(q, body).await,
            ("GET", "/snapshot") => return self.snapshot(q, body).await,
            ("GET", "/text") => return self.text(q, body).await,
            ("GET", "/console") => return self.console(q, body).await,
            ("GET", "/errors") => return self.errors(q, body).await,
            ("GET", "/requests") => return self.requests(q, body).await,
            ("POST", "/wait/download") => return self.wait_download(q, body).await,
            ("POST", "/download") => return self.download(q, body).await,
            ("POST", "/set/device") => return self.set_device(q, body).await,
            ("POST", "/set/media") => return self.set_media(q, body).await,
            ("POST", "/set/timezone") => return self.set_timezone(q, body).await,
            ("POST", "/set/locale") => return self.set_locale(q, body).await,
            ("POST", OWNED_TAB_CLOSE_PATH) => return self.close_owned(q, body).await,
            ("POST", "/act") => return self.act(q, body).await,
            ("POST", "/hooks/dialog") => return self.hook_dialog(q, body).await,
            ("GET", "/dialogs") => return self.dialogs(q, body).await,
            ("POST", "/hooks/file-chooser") => return self.hook_file_chooser(q, body).await,
            _ => {}
        }
        if method == "DELETE" {
            if let Some(params) = match_path("/tabs/:targetId", path) {
                let params = params?;
                return self.close_tab(q, body, &params["targetId"]).await;
            }
        }
        for (m, pattern) in UNSUPPORTED {
            if *m == method && match_path(pattern, path).is_some() {
                return Err(RouteError::not_implemented(format!("{m} {pattern} is not supported by this node")));
            }
        }
        Err(RouteError::new(404, "Not Found"))
    }
}

/// The `targetId` query parameter, when given.
fn q_target(q: &BTreeMap<String, String>) -> Option<String> {
    q.get("targetId").map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// `{ok, targetId, url?}` (upstream `browserDebugTargetPayload`: an empty URL is left out).
fn target_payload(tab: &Tab) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ok".into(), json!(true));
    m.insert("targetId".into(), json!(tab.target_id));
    if !tab.url.is_empty() {
        m.insert("url".into(), json!(tab.url));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str) -> RouteRequest {
        RouteRequest { method: method.into(), path: path.into(), ..Default::default() }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn dispatcher_errors_without_a_browser() {
        let dir = tempfile::tempdir().unwrap();
        let c = BrowserControl::new(BrowserSettings::default(), dir.path().to_path_buf());
        rt().block_on(async {
            let r = c.dispatch(req("GET", "/nope")).await;
            assert_eq!((r.status, r.body.clone()), (404, json!({"error": "Not Found"})));
            let r = c.dispatch(req("POST", "/act")).await;
            assert_eq!(
                (r.status, r.body.clone()),
                (400, json!({"error": "kind is required", "code": "ACT_KIND_REQUIRED"}))
            );
            let r = c.dispatch(req("POST", "/hooks/dialog")).await;
            assert_eq!((r.status, r.body.clone()), (400, json!({"error": "accept is required"})));
            let r = c.dispatch(req("POST", "/hooks/file-chooser")).await;
            assert_eq!((r.status, r.body.clone()), (400, json!({"error": "paths are required"})));
            let r = c.dispatch(req("GET", "/storage/local")).await;
            assert_eq!(r.body["error"], "GET /storage/:kind is not supported by this node");
            let mut q = req("GET", "/");
            q.query.insert("profile".into(), "zzz".into());
            let r = c.dispatch(q).await;
            assert_eq!(
                (r.status, r.body["error"].as_str()),
                (404, Some("Profile \"zzz\" not found. Available profiles: openclaw, user, chrome"))
            );
            let mut q = req("GET", "/tabs");
            q.body = Some(json!({"profile": "user"}));
            let r = c.dispatch(q).await;
            assert_eq!(r.status, 501);
            assert!(r.body["error"].as_str().unwrap().contains("existing-session driver"));
            let r = c.dispatch(req("DELETE", "/tabs/%E0%A4%A")).await;
            assert_eq!((r.status, r.body["error"].as_str()), (400, Some("invalid path parameter encoding: targetId")));
            let r = c.dispatch(req("POST", "/tabs/open")).await;
            assert_eq!((r.status, r.body["error"].as_str()), (400, Some("url is required")));
            let mut open = req("POST", "/tabs/open");
            open.body = Some(json!({"url": "http://127.0.0.1:9/"}));
            let r = c.dispatch(open).await;
            assert_eq!(
                r.body,
                json!({"error": "browser navigation blocked by policy", "reason": "navigation_blocked"})
            );
            let mut start = req("POST", "/start");
            start.query.insert("headless".into(), "maybe".into());
            let r = c.dispatch(start).await;
            assert_eq!(
                (r.status, r.body["error"].as_str()),
                (400, Some("Invalid headless value. Use \"true\" or \"false\"."))
            );
        });
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
