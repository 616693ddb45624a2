//! `browser.proxy` and `browser.proxy.upload.v1`: the agent's browser on this machine
//! (`nodehost.md` §7, `browser.md`).
//!
//! The node is a thin, strict door in front of [`openclaw_browser::BrowserControl`], which
//! launches Chromium and serves the browser control routes in process (no port is bound, as
//! upstream). This module decodes the envelope and applies upstream's policy in its order
//! ([`request`]), stages uploads ([`upload`]), runs the route under the proxy timeout, and
//! inlines the files the result names ([`files`]). Route errors come back as upstream's
//! `<status>: <error>` text, or as `browser-v1` envelopes when the gateway asks for them.
//!
//! Advertised only when the browser and the proxy are enabled and a Chromium is found
//! (upstream PR #147446: a node that advertises a browser it cannot start misroutes the
//! agent). The browser itself starts on first use.

pub mod files;
pub mod request;
pub mod upload;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openclaw_browser::{BrowserControl, BrowserSettings, RouteRequest, RouteResponse};
use openclaw_protocol::node::InvokeError;
use serde_json::{json, Value};

use crate::invoke::{Command, InvokeContext};
use crate::offload::{off_thread, Lane};
use crate::params::Params;
use request::{ProxyCommand, ProxyRequest, OWNED_TAB_CLOSE_PATH};

/// How long the status read that explains a timeout may take.
const STATUS_TIMEOUT: Duration = Duration::from_millis(750);

/// What both commands share: the browser service and the proxy policy.
pub struct BrowserHost {
    control: Arc<BrowserControl>,
    settings: BrowserSettings,
    allow_profiles: Vec<String>,
    upload_dir: PathBuf,
}

impl BrowserHost {
    /// The browser proxy of this node, or `None` when it is not to be advertised:
    /// `browser.enabled` or `nodeHost.browserProxy.enabled` is false, the `browser` config is
    /// invalid (said on stderr), or no Chromium-family browser is installed.
    pub fn from_config(config: &openclaw_state::config::OpenClawConfig, state_dir: &Path) -> Option<Arc<BrowserHost>> {
        if config.get_bool("nodeHost.browserProxy.enabled") == Some(false) {
            return None;
        }
        let settings = match BrowserSettings::from_config(config.get("browser")) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("[node-host] browser proxy not offered: {e}");
                return None;
            }
        };
        if !settings.enabled() || openclaw_browser::detect_executable(&settings).is_none() {
            return None;
        }
        let allow_profiles = request::allow_profiles(config.get("nodeHost.browserProxy.allowProfiles"));
        let control = Arc::new(BrowserControl::new(settings.clone(), state_dir.to_path_buf()));
        // Browser uploads are staged under the shared OpenClaw temp root, as upstream's are.
        let upload_dir = openclaw_browser::paths::openclaw_tmp_dir().join("uploads");
        Some(Arc::new(BrowserHost { control, settings, allow_profiles, upload_dir }))
    }

    /// Stops every browser this node started (on the node's way out).
    pub async fn shutdown(&self) {
        self.control.shutdown().await;
    }

    async fn run(&self, command: ProxyCommand, params: &Value) -> Result<Value, String> {
        let req = ProxyRequest::parse(command, params).map_err(|e| e.0)?;
        let default_profile = self.settings.default_profile().to_string();
        let effective = req.effective_profile(&default_profile);
        let route =
            match effective.as_deref().and_then(|p| self.settings.profile(p).map(|prof| (p, prof.driver.as_str()))) {
                Some((profile, driver)) => json!({"status": "resolved", "profile": profile, "driver": driver}),
                None => json!({"status": "unavailable"}),
            };
        req.check_route().map_err(|e| e.0)?;
        req.check_profile(&self.allow_profiles, &default_profile).map_err(|e| e.0)?;
        let deadline = Instant::now() + Duration::from_millis(req.timeout_ms);
        let query = req.route_query(&default_profile);
        if req.path == OWNED_TAB_CLOSE_PATH {
            let ownership = owned_tab_close_request(req.body.as_ref())?;
            let response = self
                .dispatch(
                    RouteRequest { method: req.method.clone(), path: req.path.clone(), query, body: Some(ownership) },
                    &req,
                    deadline,
                )
                .await?;
            return Ok(with_route(json!({"result": response.body}), &req, route));
        }
        let (body, staged) = match &req.upload {
            Some(upload) => {
                let (dir, method, path, body, upload) =
                    (self.upload_dir.clone(), req.method.clone(), req.path.clone(), req.body.clone(), upload.clone());
                let staged = off_thread(Lane::Lookup, "staging a browser upload", move || {
                    upload::stage(&dir, &method, &path, body.as_ref(), &upload)
                })
                .await
                .map_err(|e| e.to_string())??;
                (Some(staged.0), Some(staged.1))
            }
            None => (req.body.clone(), None),
        };
        let discard = |staged: &Option<PathBuf>| {
            if let Some(dir) = staged {
                let _ = std::fs::remove_dir_all(dir);
            }
        };
        let route_request = RouteRequest { method: req.method.clone(), path: req.path.clone(), query, body };
        let response = match self.dispatch(route_request, &req, deadline).await {
            Ok(r) => r,
            Err(e) => {
                discard(&staged);
                return Err(e);
            }
        };
        if response.status >= 400 {
            discard(&staged);
            if req.error_envelope {
                let body = error_body(&response);
                return Ok(json!({"error": {"status": response.status, "body": body}, "route": route}));
            }
            let detail = response.body.get("error").map(|e| match e {
                Value::String(s) => s.trim().to_string(),
                other => openclaw_exec::command::js_string(other).trim().to_string(),
            });
            return Err(match detail.filter(|d| !d.is_empty()) {
                Some(d) => format!("{}: {d}", response.status),
                None => format!("HTTP {}", response.status),
            });
        }
        let mut result = response.body;
        if !self.allow_profiles.is_empty() && req.path == "/profiles" {
            let allowed = &self.allow_profiles;
            let kept: Vec<Value> = result
                .get("profiles")
                .and_then(Value::as_array)
                .map(|p| {
                    p.iter()
                        .filter(|e| {
                            e.get("name").and_then(Value::as_str).is_some_and(|n| allowed.iter().any(|a| a == n))
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if !result.is_object() {
                result = json!({});
            }
            result["profiles"] = Value::from(kept);
        }
        let paths = files::referenced_paths(&result)?;
        let mut payload = json!({"result": result});
        if !paths.is_empty() {
            let read = off_thread(Lane::Lookup, "reading browser files", move || files::read_files(&paths))
                .await
                .map_err(|e| e.to_string())??;
            payload["files"] = Value::from(read);
        }
        let payload = with_route(payload, &req, route);
        let text = serde_json::to_string(&payload).expect("a payload serialises");
        if files::encoded_size(&text) > files::MAX_ENCODED_PAYLOAD_BYTES {
            return Err("browser proxy payload exceeds 24 MiB encoded limit".into());
        }
        Ok(payload)
    }

    /// Runs one route within what is left of the proxy timeout; a timeout says what the
    /// browser was doing, as upstream's message does.
    async fn dispatch(
        &self,
        route: RouteRequest,
        req: &ProxyRequest,
        deadline: Instant,
    ) -> Result<RouteResponse, String> {
        let timed_out = |status: Option<Value>| {
            let profile = if req.path == "/profiles" {
                None
            } else {
                Some(req.requested_profile.clone().unwrap_or_else(|| self.settings.default_profile().to_string()))
            };
            timeout_message(req, profile.as_deref(), status.as_ref())
        };
        let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
            return Err(timed_out(None));
        };
        match tokio::time::timeout(left, self.control.dispatch(route)).await {
            Ok(response) => Ok(response),
            Err(_) => {
                let mut query = std::collections::BTreeMap::new();
                if req.path != "/profiles" {
                    query.insert(
                        "profile".to_string(),
                        req.requested_profile.clone().unwrap_or_else(|| self.settings.default_profile().to_string()),
                    );
                }
                let status_req = RouteRequest { method: "GET".into(), path: "/".into(), query, body: None };
                let status = tokio::time::timeout(STATUS_TIMEOUT, self.control.dispatch(status_req))
                    .await
                    .ok()
                    .filter(|r| r.status < 400 && r.body.is_object())
                    .map(|r| r.body);
                Err(timed_out(status))
            }
        }
    }
}

fn with_route(mut payload: Value, req: &ProxyRequest, route: Value) -> Value {
    if req.error_envelope {
        payload["route"] = route;
    }
    payload
}

/// A route's error body as the envelope carries it: `{error, code?, reason?, details?}` when
/// the route said why, else `{error: "HTTP <status>"}`.
fn error_body(response: &RouteResponse) -> Value {
    match response.body.get("error").and_then(Value::as_str).filter(|e| !e.trim().is_empty()) {
        Some(error) => {
            let mut body = json!({"error": error});
            for key in ["code", "reason"] {
                if let Some(v) = response.body.get(key).and_then(Value::as_str) {
                    body[key] = json!(v);
                }
            }
            if let Some(details) = response.body.get("details").filter(|d| d.is_object()) {
                body["details"] = details.clone();
            }
            body
        }
        None => json!({"error": format!("HTTP {}", response.status)}),
    }
}

/// The body of an owned-tab close: a durable ownership record, trimmed.
fn owned_tab_close_request(body: Option<&Value>) -> Result<Value, String> {
    let ownership = body.and_then(|b| b.get("ownership")).and_then(Value::as_object);
    let field =
        |k: &str| ownership.and_then(|o| o.get(k)).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let durable = ownership.and_then(|o| o.get("status")).and_then(Value::as_str) == Some("durable");
    match (durable, field("nativeTargetId"), field("profileFingerprint"), field("browserInstanceFingerprint")) {
        (true, Some(target), Some(profile), Some(instance)) => Ok(json!({"ownership": {
            "status": "durable", "nativeTargetId": target, "profileFingerprint": profile,
            "browserInstanceFingerprint": instance,
        }})),
        _ => Err("INVALID_REQUEST: valid durable tab ownership required".into()),
    }
}

/// Upstream's timeout text: the route, the kind of action, the profile and what the status
/// route said (the CDP URL without credentials or query).
fn timeout_message(req: &ProxyRequest, profile: Option<&str>, status: Option<&Value>) -> String {
    let ws_backed = matches!(
        req.path.as_str(),
        "/act" | "/download" | "/navigate" | "/pdf" | "/screenshot" | "/snapshot" | "/wait/download"
    );
    let mut parts = vec![
        format!("browser proxy timed out for {} {} after {}ms", req.method, req.path, req.timeout_ms),
        if ws_backed { "ws-backed browser action" } else { "browser action" }.to_string(),
    ];
    if let Some(p) = profile.filter(|p| !p.is_empty()) {
        parts.push(format!("profile={p}"));
    }
    if let Some(s) = status {
        let show = |k: &str| s.get(k).map(openclaw_exec::command::js_string).unwrap_or_else(|| "undefined".into());
        let mut inner = vec![
            format!("running={}", show("running")),
            format!("cdpHttp={}", show("cdpHttp")),
            format!("cdpReady={}", show("cdpReady")),
        ];
        if let Some(t) = s.get("transport").and_then(Value::as_str).filter(|t| !t.trim().is_empty()) {
            inner.push(format!("transport={t}"));
        }
        if let Some(u) = s.get("cdpUrl").and_then(Value::as_str).filter(|u| !u.trim().is_empty()) {
            inner.push(format!("cdpUrl={}", redact_cdp_url(u)));
        }
        parts.push(format!("status({})", inner.join(", ")));
    }
    parts.join("; ")
}

/// A CDP URL fit for an error message: credentials and a trailing `/` removed.
fn redact_cdp_url(url: &str) -> String {
    let url = url.trim();
    let redacted = match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{tail}")
        }
        None => url.to_string(),
    };
    redacted.strip_suffix('/').map(String::from).unwrap_or(redacted)
}

/// `browser.proxy`.
#[derive(Clone)]
pub struct BrowserProxy(pub Arc<BrowserHost>);

/// `browser.proxy.upload.v1`.
#[derive(Clone)]
pub struct BrowserProxyUpload(pub Arc<BrowserHost>);

fn thrown(text: String) -> InvokeError {
    InvokeError::invalid_request(format!("Error: {text}"))
}

impl Command for BrowserProxy {
    const NAME: &'static str = "browser.proxy";
    const CAP: &'static str = "browser";
    type Params = Params;

    async fn run(&self, _cx: InvokeContext, params: Params) -> Result<Value, InvokeError> {
        self.0.run(ProxyCommand::Proxy, params.value()).await.map_err(thrown)
    }
}

impl Command for BrowserProxyUpload {
    const NAME: &'static str = "browser.proxy.upload.v1";
    const CAP: &'static str = "browser";
    type Params = Params;

    async fn run(&self, _cx: InvokeContext, params: Params) -> Result<Value, InvokeError> {
        self.0.run(ProxyCommand::Upload, params.value()).await.map_err(thrown)
    }
}
