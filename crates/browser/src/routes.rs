//! The browser control route table behind `browser.proxy` (spec/browser.md §1).
//!
//! Upstream serves these routes over an in-process Express-like dispatcher; the node calls
//! them with `{method, path, query, body}` and relays `{status, body}`. [`BrowserControl`]
//! is that dispatcher: it picks the profile (query, then body, then the default), matches the
//! route, and turns every failure into upstream's status and error text.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::cdp::CdpEvent;
use crate::control::{Live, ProfileRuntime, MAX_MANAGED_TABS};
use crate::detect::resolve_executable;
use crate::error::RouteError;
use crate::settings::{parse_bool, BrowserSettings, Driver};
use crate::ssrf::{assert_navigation_allowed, assert_result_allowed};
use crate::tabs::{normalize_label, resolve, Tab};

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
    ("GET", "/snapshot"),
    ("POST", "/act"),
    ("POST", "/screencast"),
    ("POST", "/response/body"),
    ("POST", "/highlight"),
    ("POST", "/hooks/file-chooser"),
    ("POST", "/hooks/dialog"),
    ("POST", "/wait/download"),
    ("POST", "/download"),
    ("GET", "/dialogs"),
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
    ("POST", "/set/device"),
    ("POST", "/set/media"),
    ("POST", "/set/timezone"),
    ("POST", "/set/locale"),
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
    runtimes: Mutex<HashMap<String, Arc<ProfileRuntime>>>,
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
        Self { shared: Arc::new(Shared { settings, state_dir, runtimes: Mutex::new(HashMap::new()) }) }
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
        Ok(map.entry(name.to_string()).or_insert_with(|| Arc::new(ProfileRuntime::new(profile.clone()))).clone())
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
            ("GET", "/text") => return self.text(q, body).await,
            ("GET", "/console") => return self.console(q, body).await,
            ("GET", "/errors") => return self.errors(q, body).await,
            ("GET", "/requests") => return self.requests(q, body).await,
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

    // ---- basic routes ------------------------------------------------------------------

    async fn status(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let rt = self.profile_for(q, body)?;
        let s = &self.shared.settings;
        let (http, ready) =
            tokio::join!(rt.http_reachable(Duration::from_millis(300)), rt.cdp_ready(Duration::from_millis(600)));
        let launched = rt.launched();
        let (detected, detect_error) = match resolve_executable(s, Some(&rt.profile)) {
            Ok(e) => (Some(e), Value::Null),
            Err(e) => (None, json!(format!("Error: {e}"))),
        };
        let headless = launched.as_ref().map(|l| l.headless).unwrap_or_else(|| s.resolve_headless(&rt.profile, None));
        Ok(json!({
            "enabled": s.enabled(),
            "profile": rt.profile.name,
            "driver": rt.profile.driver.as_str(),
            "transport": "cdp",
            "running": ready,
            "cdpReady": ready,
            "cdpHttp": http,
            "pageReady": ready,
            "pid": launched.as_ref().map(|l| l.pid),
            "cdpPort": rt.profile.cdp_port,
            "cdpUrl": rt.profile.cdp_url,
            "chosenBrowser": launched.as_ref().map(|l| l.exe_kind),
            "detectedBrowser": detected.as_ref().map(|e| e.kind),
            "detectedExecutablePath": detected.as_ref().map(|e| e.path.display().to_string()),
            "detectError": detect_error,
            "userDataDir": launched.as_ref().map(|l| l.user_data_dir.display().to_string())
                .or_else(|| rt.profile.user_data_dir.as_ref().map(|p| p.display().to_string())),
            "color": rt.profile.color,
            "headless": headless.0,
            "headlessSource": headless.1,
            "noSandbox": s.no_sandbox,
            "executablePath": rt.profile.executable_path.as_ref().or(s.executable_path.as_ref()).map(|p| p.display().to_string()),
            "attachOnly": rt.profile.attach_only,
            "graphics": null,
        }))
    }

    async fn start(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let rt = self.profile_for(q, body)?;
        let headless = match q.get("headless") {
            None => None,
            Some(raw) => {
                let h = parse_bool(raw)
                    .ok_or_else(|| RouteError::bad_request("Invalid headless value. Use \"true\" or \"false\"."))?;
                if !rt.profile.is_local_managed() {
                    return Err(RouteError::bad_request(format!("Headless start override is only supported for locally launched openclaw profiles. Profile \"{}\" is attach-only, remote, or existing-session.", rt.profile.name)));
                }
                Some(h)
            }
        };
        rt.ensure(&self.shared.settings, &self.shared.state_dir, headless).await?;
        Ok(json!({"ok": true, "profile": rt.profile.name}))
    }

    async fn stop(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let rt = self.profile_for(q, body)?;
        let stopped = rt.stop().await || rt.profile.attach_only || !rt.profile.cdp_is_loopback;
        Ok(json!({"ok": true, "stopped": stopped, "profile": rt.profile.name}))
    }

    async fn profiles(&self) -> RouteResult {
        let s = &self.shared.settings;
        let mut out = Vec::new();
        for p in &s.profiles {
            let rt = self.runtime(&p.name)?;
            let (running, tab_count) = if p.driver == Driver::OpenClaw {
                let running = rt.live().is_some() || rt.http_reachable(Duration::from_millis(200)).await;
                let count = if running { rt.list_tabs().await.map(|t| t.len()).unwrap_or(0) } else { 0 };
                (running, count)
            } else {
                (false, 0)
            };
            let transport = match p.driver {
                Driver::ExistingSession => "chrome-mcp",
                Driver::Extension => "extension",
                Driver::OpenClaw => "cdp",
            };
            out.push(json!({
                "name": p.name,
                "transport": transport,
                "cdpPort": if p.driver == Driver::ExistingSession { Value::Null } else { json!(p.cdp_port) },
                "cdpUrl": if p.cdp_url.is_empty() { Value::Null } else { json!(p.cdp_url) },
                "color": p.color,
                "driver": p.driver.as_str(),
                "running": running,
                "tabCount": tab_count,
                "isDefault": p.name == s.default_profile(),
                "isRemote": !p.cdp_is_loopback,
                "reconcileReason": null,
            }));
        }
        Ok(json!({"profiles": out}))
    }

    // ---- tabs --------------------------------------------------------------------------

    /// Tabs as listed, with URLs the SSRF policy refuses redacted (upstream `redactBlockedTabUrls`).
    async fn redacted(&self, tabs: Vec<Tab>) -> Vec<Value> {
        let mut out = Vec::new();
        for t in tabs {
            let mut m = t.to_json();
            if let Err(e) = assert_result_allowed(&t.url, &self.shared.settings.ssrf).await {
                m.insert("url".into(), json!(""));
                let why = if e.reason == Some("navigation_blocked") {
                    "navigation_blocked"
                } else {
                    "navigation_check_failed"
                };
                m.insert("urlUnavailableReason".into(), json!(why));
            }
            out.push(Value::Object(m));
        }
        out
    }

    async fn tabs(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let rt = self.profile_for(q, body)?;
        if !rt.http_reachable(Duration::from_millis(300)).await {
            return Ok(json!({"running": false, "tabs": []}));
        }
        let tabs = rt.list_tabs().await?;
        Ok(json!({"running": true, "tabs": self.redacted(tabs).await}))
    }

    /// Upstream's `ensureBrowserRunning` for tab mutations: reachable now or 250 ms later.
    async fn require_running(&self, rt: &ProfileRuntime) -> Result<(), RouteError> {
        if rt.http_reachable(Duration::from_millis(300)).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        if rt.http_reachable(Duration::from_millis(300)).await {
            return Ok(());
        }
        Err(RouteError::unavailable("browser not running"))
    }

    async fn open(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let url = body_str(body, "url").ok_or_else(|| RouteError::bad_request("url is required"))?;
        let label = body_str(body, "label");
        let rt = self.profile_for(q, body)?;
        assert_navigation_allowed(&url, &self.shared.settings.ssrf).await?;
        let live = rt.ensure(&self.shared.settings, &self.shared.state_dir, None).await?;
        let tab = self.open_tab(&rt, &live, &url, label).await?;
        let mut m = tab;
        m.insert("resolvedProfile".into(), json!(rt.profile.name));
        Ok(Value::Object(m))
    }

    /// Opens `url` in a new page target, waits for it to load, checks the final URL, aliases it
    /// and enforces the 8-tab cap. Returns the `Tab` JSON with `ownership`.
    async fn open_tab(
        &self,
        rt: &Arc<ProfileRuntime>,
        live: &Live,
        url: &str,
        label: Option<String>,
    ) -> Result<Map<String, Value>, RouteError> {
        let label = label.map(|l| normalize_label(&l)).transpose()?;
        let events = live.cdp.subscribe();
        let created = live.cdp.send("Target.createTarget", json!({"url": url}), None).await?;
        let target_id = created
            .get("targetId")
            .and_then(Value::as_str)
            .ok_or_else(|| RouteError::internal("CDP Target.createTarget returned no targetId"))?
            .to_string();
        let session = wait_session(live, &target_id, events, Duration::from_secs(5)).await;
        if let Some(session) = &session {
            if url != "about:blank" {
                wait_load(live, session, Duration::from_secs(20)).await;
            }
        }
        let final_url = match &session {
            Some(s) => current_url(live, s).await.unwrap_or_else(|| url.to_string()),
            None => url.to_string(),
        };
        if let Err(e) = assert_result_allowed(&final_url, &self.shared.settings.ssrf).await {
            let _ = live.cdp.send("Target.closeTarget", json!({"targetId": target_id}), None).await;
            return Err(e);
        }
        let mut found = None;
        for _ in 0..20 {
            let tabs = rt.list_tabs().await.unwrap_or_default();
            if let Some(t) = tabs.into_iter().find(|t| t.target_id == target_id) {
                found = Some(t);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut raw = match found {
            Some(t) => crate::tabs::RawTab {
                target_id: t.target_id,
                title: t.title,
                url: final_url,
                ws_url: t.ws_url,
                kind: t.kind,
            },
            None => crate::tabs::RawTab {
                target_id: target_id.clone(),
                title: String::new(),
                url: final_url,
                ws_url: None,
                kind: "page".into(),
            },
        };
        if let Some(s) = &session {
            if let Some(title) = eval_string(live, s, "document.title").await {
                raw.title = title;
            }
        }
        let tab = {
            let mut st = rt.tabs.lock().unwrap_or_else(|p| p.into_inner());
            st.last_target_id = Some(target_id.clone());
            st.assign(raw, label)
        };
        self.enforce_tab_limit(rt, live, &target_id).await;
        let mut m = Map::new();
        let j = tab.to_json();
        for k in ["targetId", "title", "url", "wsUrl", "type"] {
            if let Some(v) = j.get(k) {
                m.insert(k.into(), v.clone());
            }
        }
        m.insert("ownership".into(), rt.ownership(&target_id, &live.browser_ws_url));
        for (k, v) in j {
            m.entry(k).or_insert(v);
        }
        Ok(m)
    }

    /// Closes the oldest page tabs beyond [`MAX_MANAGED_TABS`], never the one just opened.
    async fn enforce_tab_limit(&self, rt: &ProfileRuntime, live: &Live, keep: &str) {
        if !rt.profile.is_local_managed() {
            return;
        }
        let Ok(tabs) = rt.list_tabs().await else { return };
        if tabs.len() <= MAX_MANAGED_TABS {
            return;
        }
        let excess = tabs.len() - MAX_MANAGED_TABS;
        for t in tabs.iter().filter(|t| t.target_id != keep).take(excess) {
            let _ = live.cdp.send("Target.closeTarget", json!({"targetId": t.target_id}), None).await;
        }
    }

    async fn focus(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let target = body_str(body, "targetId").ok_or_else(|| RouteError::bad_request("targetId is required"))?;
        let rt = self.profile_for(q, body)?;
        self.require_running(&rt).await?;
        let tabs = rt.list_tabs().await?;
        let tab = resolve(&target, &tabs)?.clone();
        assert_result_allowed(&tab.url, &self.shared.settings.ssrf).await?;
        crate::cdp::http_json(
            &rt.authority(),
            "GET",
            &format!("/json/activate/{}", tab.target_id),
            Duration::from_millis(1500),
        )
        .await?;
        rt.tabs.lock().unwrap_or_else(|p| p.into_inner()).last_target_id = Some(tab.target_id.clone());
        Ok(json!({"ok": true, "targetId": tab.target_id}))
    }

    async fn close_tab(&self, q: &BTreeMap<String, String>, body: &Value, target: &str) -> RouteResult {
        let target = target.trim();
        if target.is_empty() {
            return Err(RouteError::bad_request("targetId is required"));
        }
        let mode = q.get("targetIdMode").map(|s| s.trim()).unwrap_or("");
        if !mode.is_empty() && mode != "raw" {
            return Err(RouteError::bad_request("targetIdMode must be \"raw\""));
        }
        let rt = self.profile_for(q, body)?;
        self.require_running(&rt).await?;
        let tabs = rt.list_tabs().await?;
        let id = if mode == "raw" {
            tabs.iter()
                .find(|t| t.target_id == target)
                .ok_or_else(|| RouteError::tab_not_found(Some(target)))?
                .target_id
                .clone()
        } else {
            resolve(target, &tabs)?.target_id.clone()
        };
        crate::cdp::http_json(&rt.authority(), "GET", &format!("/json/close/{id}"), Duration::from_millis(1500))
            .await?;
        // Chromium answers "Target is closing" before the page is gone; a client that lists the
        // tabs right after a close must not see it (upstream's Playwright `page.close()` waits too).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while tokio::time::Instant::now() < deadline {
            match rt.list_tabs().await {
                Ok(tabs) if tabs.iter().any(|t| t.target_id == id) => {
                    tokio::time::sleep(Duration::from_millis(25)).await
                }
                _ => break,
            }
        }
        let mut st = rt.tabs.lock().unwrap_or_else(|p| p.into_inner());
        if st.last_target_id.as_deref() == Some(id.as_str()) {
            st.last_target_id = None;
        }
        Ok(json!({"ok": true, "targetId": id}))
    }

    // ---- tab-scoped routes -------------------------------------------------------------

    /// Upstream's `ensureTabAvailable`: with a `targetId`, the browser must already run (409)
    /// and the id must resolve; without one, the browser is started and the sticky tab (or the
    /// first page, or a fresh `about:blank`) is used. Returns the tab and its flat session.
    async fn tab_context(
        &self,
        rt: &Arc<ProfileRuntime>,
        target: Option<String>,
        enforce_url: bool,
    ) -> Result<(Tab, Live, String), RouteError> {
        let live = match &target {
            Some(_) => match rt.live() {
                Some(l) => l,
                None if !rt.http_reachable(Duration::from_millis(300)).await => {
                    return Err(RouteError::unavailable(format!("Browser profile \"{}\" is not running. Start the browser or open a new tab, then select a current target.", rt.profile.name)));
                }
                None => rt.ensure(&self.shared.settings, &self.shared.state_dir, None).await?,
            },
            None => rt.ensure(&self.shared.settings, &self.shared.state_dir, None).await?,
        };
        let mut tabs = rt.list_tabs().await?;
        let tab = match &target {
            Some(t) => resolve(t, &tabs)?.clone(),
            None => {
                let sticky = rt.tabs.lock().unwrap_or_else(|p| p.into_inner()).last_target_id.clone();
                if tabs.is_empty() && sticky.is_none() {
                    self.open_tab(rt, &live, "about:blank", None).await?;
                    tabs = rt.list_tabs().await?;
                }
                match &sticky {
                    Some(s) => tabs
                        .iter()
                        .find(|t| &t.target_id == s)
                        .cloned()
                        .ok_or_else(|| RouteError::tab_not_found(Some(s)))?,
                    None => tabs.first().cloned().ok_or_else(|| RouteError::tab_not_found(None))?,
                }
            }
        };
        if enforce_url {
            assert_result_allowed(&tab.url, &self.shared.settings.ssrf).await?;
        }
        rt.tabs.lock().unwrap_or_else(|p| p.into_inner()).last_target_id = Some(tab.target_id.clone());
        let session = session_for(&live, &tab.target_id).await?;
        Ok((tab, live, session))
    }

    async fn navigate(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let url = body_str(body, "url").ok_or_else(|| RouteError::bad_request("url is required"))?;
        let timeout =
            positive_int(body_str(body, "timeoutMs").as_deref(), "timeoutMs")?.unwrap_or(20_000).clamp(1000, 120_000);
        let rt = self.profile_for(q, body)?;
        let (tab, live, session) = self.tab_context(&rt, body_str(body, "targetId"), false).await?;
        assert_navigation_allowed(&url, &self.shared.settings.ssrf).await?;
        let events = live.cdp.subscribe();
        let nav = live.cdp.send("Page.navigate", json!({"url": url}), Some(&session)).await?;
        if let Some(err) = nav.get("errorText").and_then(Value::as_str).filter(|e| !e.is_empty()) {
            return Err(RouteError::internal(format!("page.goto: {err} at {url}")));
        }
        if nav.get("loaderId").is_some() {
            wait_event(events, Duration::from_millis(timeout), |ev| {
                ev.session_id.as_deref() == Some(&session) && ev.method == "Page.loadEventFired"
            })
            .await;
        }
        let final_url = current_url(&live, &session).await.unwrap_or(url);
        assert_result_allowed(&final_url, &self.shared.settings.ssrf).await?;
        Ok(json!({"ok": true, "url": final_url, "targetId": tab.target_id}))
    }

    async fn screenshot(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let full_page = body_bool(body, "fullPage").unwrap_or(false);
        let jpeg = body.get("type").and_then(Value::as_str) == Some("jpeg");
        let timeout = positive_int(body_str(body, "timeoutMs").as_deref(), "timeoutMs")?.unwrap_or(20_000);
        if full_page && (body_str(body, "ref").is_some() || body_str(body, "element").is_some()) {
            return Err(RouteError::bad_request("fullPage is not supported for element screenshots"));
        }
        if body_str(body, "ref").is_some()
            || body_str(body, "element").is_some()
            || body_bool(body, "labels") == Some(true)
        {
            return Err(RouteError::not_implemented(
                "POST /screenshot with ref, element or labels is not supported by this node",
            ));
        }
        let rt = self.profile_for(q, body)?;
        let (tab, live, session) = self.tab_context(&rt, body_str(body, "targetId"), true).await?;
        let metrics = live.cdp.send("Page.getLayoutMetrics", json!({}), Some(&session)).await?;
        let dims = |k: &str| -> (f64, f64) {
            let m = metrics.get(k);
            let g = |f: &str| m.and_then(|m| m.get(f)).and_then(Value::as_f64).unwrap_or(0.0);
            (g("width").max(g("clientWidth")), g("height").max(g("clientHeight")))
        };
        let (w, h) = if full_page { dims("cssContentSize") } else { dims("cssLayoutViewport") };
        let mut params = json!({"format": if jpeg { "jpeg" } else { "png" }, "captureBeyondViewport": full_page});
        // Upstream keeps images at most 2000 px per side; Chromium scales for us, no decoding.
        let scale = if w > 0.0 && h > 0.0 { (MAX_SIDE / w.max(h)).min(1.0) } else { 1.0 };
        if full_page || scale < 1.0 {
            let (sx, sy) = if full_page { (0.0, 0.0) } else { scroll_offset(&metrics) };
            params["clip"] = json!({"x": sx, "y": sy, "width": w.max(1.0), "height": h.max(1.0), "scale": scale});
        }
        let shot = live
            .cdp
            .send_timeout("Page.captureScreenshot", params.clone(), Some(&session), Duration::from_millis(timeout))
            .await?;
        let mut bytes = decode_b64(shot.get("data").and_then(Value::as_str).unwrap_or("").to_string()).await?;
        let mut ext = if jpeg { "jpg" } else { "png" };
        if bytes.len() > MAX_IMAGE_BYTES {
            // Too big for the gateway's image path: re-capture as JPEG, as upstream re-encodes.
            params["format"] = json!("jpeg");
            params["quality"] = json!(80);
            let shot = live
                .cdp
                .send_timeout("Page.captureScreenshot", params, Some(&session), Duration::from_millis(timeout))
                .await?;
            bytes = decode_b64(shot.get("data").and_then(Value::as_str).unwrap_or("").to_string()).await?;
            ext = "jpg";
        }
        let path = self.save_media(&bytes, ext).await?;
        Ok(json!({"ok": true, "path": path, "targetId": tab.target_id, "url": tab.url}))
    }

    async fn pdf(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let rt = self.profile_for(q, body)?;
        let (tab, live, session) = self.tab_context(&rt, body_str(body, "targetId"), true).await?;
        let pdf = live
            .cdp
            .send_timeout("Page.printToPDF", json!({"printBackground": true}), Some(&session), Duration::from_secs(60))
            .await?;
        let bytes = decode_b64(pdf.get("data").and_then(Value::as_str).unwrap_or("").to_string()).await?;
        let path = self.save_media(&bytes, "pdf").await?;
        Ok(json!({"ok": true, "path": path, "targetId": tab.target_id, "url": tab.url}))
    }

    /// Writes `<stateDir>/media/browser/<uuid>.<ext>` (directory 0700, as upstream's media store).
    async fn save_media(&self, bytes: &[u8], ext: &str) -> Result<String, RouteError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let dir = self.shared.state_dir.join("media").join("browser");
        let path = dir.join(format!("{}.{ext}", uuid::Uuid::new_v4()));
        let data = bytes.to_vec();
        let p = path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&p)?;
            std::io::Write::write_all(&mut f, &data)
        })
        .await
        .map_err(RouteError::internal)?
        .map_err(|e| RouteError::internal(format!("cannot save browser media {}: {e}", path.display())))?;
        Ok(path.display().to_string())
    }

    async fn text(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let max =
            positive_int(q.get("maxChars").map(String::as_str), "maxChars")?.unwrap_or(40_000).min(40_000) as usize;
        let selector = q.get("selector").map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let rt = self.profile_for(q, body)?;
        let target = q.get("targetId").map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let (tab, live, session) = self.tab_context(&rt, target, true).await?;
        let expr = format!(
            "(() => {{ const sel = {}; let el = sel ? document.querySelector(sel) : (document.querySelector('article') || document.querySelector('main') || document.body); if (!el) return {{missing: true}}; return {{text: el.innerText ?? el.textContent ?? ''}}; }})()",
            serde_json::to_string(&selector).unwrap_or_else(|_| "null".into())
        );
        let v = evaluate(&live, &session, &expr).await?;
        if v.get("missing").is_some() {
            return Err(RouteError::internal(format!(
                "No element matches selector \"{}\"",
                selector.as_deref().unwrap_or("body")
            )));
        }
        let text = v.get("text").and_then(Value::as_str).unwrap_or("");
        let units: Vec<u16> = text.encode_utf16().collect();
        let truncated = units.len() > max;
        let text = if truncated { String::from_utf16_lossy(&units[..max]) } else { text.to_string() };
        let mut out = target_payload(&tab);
        out.insert("text".into(), json!(text));
        out.insert("truncated".into(), json!(truncated));
        Ok(Value::Object(out))
    }

    async fn console(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let rt = self.profile_for(q, body)?;
        let (tab, live, _) = self.tab_context(&rt, q_target(q), true).await?;
        let level = q.get("level").map(|s| s.trim()).filter(|s| !s.is_empty());
        let messages = live
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&tab.target_id)
            .map(|l| l.console(level))
            .unwrap_or_default();
        let mut out = target_payload(&tab);
        out.insert("messages".into(), json!(messages));
        Ok(Value::Object(out))
    }

    async fn errors(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let rt = self.profile_for(q, body)?;
        let clear = q.get("clear").and_then(|c| parse_bool(c)).unwrap_or(false);
        let (tab, live, _) = self.tab_context(&rt, q_target(q), true).await?;
        let errors = live
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&tab.target_id)
            .map(|l| l.errors(clear))
            .unwrap_or_default();
        let mut out = target_payload(&tab);
        out.insert("errors".into(), json!(errors));
        Ok(Value::Object(out))
    }

    async fn requests(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let rt = self.profile_for(q, body)?;
        let clear = q.get("clear").and_then(|c| parse_bool(c)).unwrap_or(false);
        let filter = q.get("filter").map(String::as_str);
        let (tab, live, _) = self.tab_context(&rt, q_target(q), true).await?;
        let requests = live
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&tab.target_id)
            .map(|l| l.requests(filter, clear))
            .unwrap_or_default();
        let mut out = target_payload(&tab);
        out.insert("requests".into(), json!(requests));
        Ok(Value::Object(out))
    }
}

const MAX_SIDE: f64 = 2000.0;
const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

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

fn scroll_offset(metrics: &Value) -> (f64, f64) {
    let v = metrics.get("cssVisualViewport");
    let g = |f: &str| v.and_then(|v| v.get(f)).and_then(Value::as_f64).unwrap_or(0.0);
    (g("pageX"), g("pageY"))
}

/// Base64 decoding of screenshots (megabytes) runs off the runtime thread: the node host's
/// runtime is single-threaded and must keep answering other requests.
async fn decode_b64(data: String) -> Result<Vec<u8>, RouteError> {
    tokio::task::spawn_blocking(move || base64::engine::general_purpose::STANDARD.decode(data.as_bytes()))
        .await
        .map_err(RouteError::internal)?
        .map_err(|e| RouteError::internal(format!("Chromium returned invalid base64: {e}")))
}

/// The flat session of a page: the auto-attached one, else a fresh `Target.attachToTarget`.
async fn session_for(live: &Live, target_id: &str) -> Result<String, RouteError> {
    if let Some(s) = live.sessions.lock().unwrap_or_else(|p| p.into_inner()).get(target_id) {
        return Ok(s.clone());
    }
    let r = live.cdp.send("Target.attachToTarget", json!({"targetId": target_id, "flatten": true}), None).await?;
    let s = r
        .get("sessionId")
        .and_then(Value::as_str)
        .ok_or_else(|| RouteError::internal("CDP Target.attachToTarget returned no sessionId"))?
        .to_string();
    for m in ["Runtime.enable", "Network.enable", "Page.enable"] {
        let _ = live.cdp.send(m, json!({}), Some(&s)).await;
    }
    live.sessions.lock().unwrap_or_else(|p| p.into_inner()).insert(target_id.to_string(), s.clone());
    live.logs.lock().unwrap_or_else(|p| p.into_inner()).entry(target_id.to_string()).or_default();
    Ok(s)
}

async fn wait_event(
    mut rx: tokio::sync::broadcast::Receiver<Arc<CdpEvent>>,
    timeout: Duration,
    pred: impl Fn(&CdpEvent) -> bool,
) -> Option<Arc<CdpEvent>> {
    let fut = async {
        loop {
            match rx.recv().await {
                Ok(ev) if pred(&ev) => return Some(ev),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    };
    tokio::time::timeout(timeout, fut).await.ok().flatten()
}

/// Waits for the auto-attach of a new target and returns its session.
async fn wait_session(
    live: &Live,
    target_id: &str,
    rx: tokio::sync::broadcast::Receiver<Arc<CdpEvent>>,
    timeout: Duration,
) -> Option<String> {
    if let Some(s) = live.sessions.lock().unwrap_or_else(|p| p.into_inner()).get(target_id) {
        return Some(s.clone());
    }
    let ev = wait_event(rx, timeout, |ev| {
        ev.method == "Target.attachedToTarget"
            && ev.params.pointer("/targetInfo/targetId").and_then(Value::as_str) == Some(target_id)
    })
    .await;
    ev.and_then(|e| e.params.get("sessionId").and_then(Value::as_str).map(str::to_string))
        .or_else(|| live.sessions.lock().unwrap_or_else(|p| p.into_inner()).get(target_id).cloned())
}

/// Waits until the page's document has loaded (`readyState == "complete"`), polling, since
/// the load event may fire before we subscribe.
async fn wait_load(live: &Live, session: &str, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        let state = eval_string(live, session, "document.readyState + '|' + location.href").await;
        if let Some(s) = state {
            if s.starts_with("complete|") && !s.ends_with("|about:blank") {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn evaluate(live: &Live, session: &str, expr: &str) -> Result<Value, RouteError> {
    let r = live
        .cdp
        .send(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            Some(session),
        )
        .await?;
    if let Some(ex) = r.get("exceptionDetails") {
        let msg = ex
            .pointer("/exception/description")
            .and_then(Value::as_str)
            .or_else(|| ex.get("text").and_then(Value::as_str))
            .unwrap_or("evaluation failed");
        return Err(RouteError::internal(msg.lines().next().unwrap_or(msg)));
    }
    Ok(r.pointer("/result/value").cloned().unwrap_or(Value::Null))
}

async fn eval_string(live: &Live, session: &str, expr: &str) -> Option<String> {
    let r = live
        .cdp
        .send_timeout(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
            Some(session),
            Duration::from_secs(5),
        )
        .await
        .ok()?;
    r.pointer("/result/value").and_then(Value::as_str).map(str::to_string)
}

async fn current_url(live: &Live, session: &str) -> Option<String> {
    eval_string(live, session, "location.href").await
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
            assert_eq!((r.status, r.body.clone()), (501, json!({"error": "POST /act is not supported by this node"})));
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
