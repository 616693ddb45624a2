//! The per-profile browser runtime: launch, attach, the CDP event pump, tabs, stop.
//!
//! One [`ProfileRuntime`] per profile name holds the launched process, the browser-level CDP
//! connection, the flat session of every page and the page logs. Lifecycle changes (start,
//! stop) are serialised by an async mutex; route work only clones the connection out of a
//! short std mutex, so a long navigation never blocks `GET /` or `POST /stop`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;

use crate::cdp::{http_json, CdpClient, CdpEvent};
use crate::detect::resolve_executable;
use crate::downloads::DownloadHub;
use crate::error::RouteError;
use crate::launcher::{launch, LaunchError, LaunchRequest, RunningBrowser, CDP_READY_TIMEOUT};
use crate::pagelog::PageLog;
use crate::settings::{has_linux_display, BrowserSettings, Profile, HEADLESS_ENV};
use crate::tabs::{RawTab, Tab, TabState};

const FAILURE_THRESHOLD: u32 = 3;
const COOLDOWN_BASE: Duration = Duration::from_secs(30);
const COOLDOWN_MAX: Duration = Duration::from_secs(300);
/// Upstream's managed tab cap per profile.
pub const MAX_MANAGED_TABS: usize = 8;

/// What the routes need of a live browser: the connection plus the page sessions and logs.
#[derive(Clone)]
pub(crate) struct Live {
    pub cdp: CdpClient,
    pub sessions: Arc<Mutex<HashMap<String, String>>>,
    pub logs: Arc<Mutex<HashMap<String, PageLog>>>,
    /// The refs of each tab's last snapshot, by target id.
    pub refs: Arc<Mutex<HashMap<String, crate::refs::RefTable>>>,
    /// Each tab's dialogs and file-chooser armings (`/act` and its hooks).
    pub act: Arc<crate::act::ActState>,
    pub browser_ws_url: String,
    /// The browser's downloads: who waits for which tab's next one, and where they land.
    pub downloads: Arc<DownloadHub>,
}

#[derive(Default)]
struct Lifecycle {
    running: Option<RunningBrowser>,
    live: Option<Live>,
    pump: Option<tokio::task::JoinHandle<()>>,
    failures: u32,
    cooldown_until: Option<Instant>,
    last_error: String,
}

/// What status reports about a browser this node launched.
#[derive(Debug, Clone)]
pub(crate) struct Launched {
    pub pid: u32,
    pub user_data_dir: PathBuf,
    pub exe_kind: &'static str,
    pub headless: (bool, &'static str),
}

/// One profile's runtime state.
pub(crate) struct ProfileRuntime {
    pub profile: Profile,
    /// The downloads directory (upstream's `<tmp>/openclaw/downloads`).
    downloads_dir: PathBuf,
    lifecycle: tokio::sync::Mutex<Lifecycle>,
    live: Mutex<Option<Live>>,
    pid: Mutex<Option<Launched>>,
    pub tabs: Mutex<TabState>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ProfileRuntime {
    pub fn new(profile: Profile, downloads_dir: PathBuf) -> Self {
        Self {
            profile,
            downloads_dir,
            lifecycle: Default::default(),
            live: Mutex::new(None),
            pid: Mutex::new(None),
            tabs: Mutex::new(TabState::default()),
        }
    }

    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.profile.cdp_port)
    }

    /// The live connection, if the browser is up (and the connection still open).
    pub fn live(&self) -> Option<Live> {
        lock(&self.live).clone().filter(|l| !l.cdp.is_closed())
    }

    /// The browser this node launched for the profile, if it runs.
    pub fn launched(&self) -> Option<Launched> {
        lock(&self.pid).clone()
    }

    /// Upstream's quick reachability probe: `/json/version` answers within `timeout`.
    pub async fn http_reachable(&self, timeout: Duration) -> bool {
        http_json(&self.authority(), "GET", "/json/version", timeout).await.is_ok()
    }

    /// True when CDP is usable: our connection is open, or (for a browser we did not launch)
    /// a WebSocket to it opens within `timeout`.
    pub async fn cdp_ready(&self, timeout: Duration) -> bool {
        if self.live().is_some() {
            return true;
        }
        let Ok(v) = http_json(&self.authority(), "GET", "/json/version", timeout).await else { return false };
        let Some(ws) = v.get("webSocketDebuggerUrl").and_then(Value::as_str) else { return false };
        match CdpClient::connect(ws, timeout).await {
            Ok(c) => {
                c.close().await;
                true
            }
            Err(_) => false,
        }
    }

    /// Upstream's `ensureBrowserAvailable` for a locally managed profile: reuse the running
    /// browser, attach to a CDP browser already on the port, or launch one (with the failure
    /// cool-down).
    pub async fn ensure(
        &self,
        settings: &BrowserSettings,
        state_dir: &std::path::Path,
        headless_override: Option<bool>,
    ) -> Result<Live, RouteError> {
        let mut lc = self.lifecycle.lock().await;
        if let Some(live) = lc.live.clone() {
            let alive = lc.running.as_mut().map(|r| r.is_alive()).unwrap_or(true);
            if alive && !live.cdp.is_closed() {
                lc.failures = 0;
                return Ok(live);
            }
            self.teardown(&mut lc).await;
        }
        let name = &self.profile.name;
        if !self.profile.cdp_is_loopback {
            return Err(RouteError::internal(format!("Profile \"{name}\" is remote; cannot launch local Chrome.")));
        }
        // Something already serves CDP on the port: attach, as upstream does.
        if let Ok(v) = http_json(&self.authority(), "GET", "/json/version", Duration::from_millis(1200)).await {
            if let Some(ws) = v.get("webSocketDebuggerUrl").and_then(Value::as_str) {
                if let Ok(live) = self.connect_live(ws).await {
                    lc.live = Some(live.0.clone());
                    lc.pump = Some(live.1);
                    *lock(&self.live) = Some(live.0.clone());
                    return Ok(live.0);
                }
            }
            return Err(RouteError::unavailable(format!(
                "Port {} is in use for profile \"{name}\" but not by openclaw. If OpenClaw should own this local profile, run action=reset-profile profile={name} to stop the conflicting process. If this port is an externally managed CDP service such as Browserless, set browser.profiles.{name}.attachOnly=true so OpenClaw attaches without trying to manage the local process. For Browserless Docker, set EXTERNAL to the same WebSocket endpoint OpenClaw can reach via browser.profiles.<name>.cdpUrl.",
                self.profile.cdp_port
            )));
        }
        if self.profile.attach_only || settings.attach_only {
            return Err(RouteError::unavailable(format!(
                "Browser attachOnly is enabled and profile \"{name}\" is not running."
            )));
        }
        if lc.failures >= FAILURE_THRESHOLD {
            if let Some(until) = lc.cooldown_until {
                let now = Instant::now();
                if until > now {
                    let secs = (until - now).as_secs_f64().ceil().max(1.0) as u64;
                    return Err(RouteError::unavailable(format!(
                        "Browser launch for profile \"{name}\" is cooling down after {} consecutive managed Chrome launch failures. Retry in {secs}s after fixing Chrome startup, or set browser.enabled=false if the browser tool is not needed. Last error: {}",
                        lc.failures, lc.last_error
                    )));
                }
            }
        }
        let headless = settings.resolve_headless(&self.profile, headless_override);
        if cfg!(target_os = "linux") && !has_linux_display() && !headless.0 {
            let hint = match headless.1 {
                "request" => "request override".to_string(),
                "env" => format!("{HEADLESS_ENV}=0"),
                "profile" => format!("browser.profiles.{name}.headless=false"),
                _ => "browser.headless=false".to_string(),
            };
            let mut e = RouteError::unavailable(format!(
                "Headed browser start requested for profile \"{name}\" via {hint}, but no Linux display server was detected ($DISPLAY/$WAYLAND_DISPLAY unset). Set {HEADLESS_ENV}=1, remove the headed override, or launch under Xvfb."
            ));
            e.reason = Some("no_display_for_headed_profile");
            e.details = Some(Box::new(
                json!({"profile": name, "requestedHeadless": false, "headlessSource": headless.1, "displayPresent": false}),
            ));
            return Err(e);
        }
        let result = self.launch_and_connect(settings, state_dir, headless).await;
        match result {
            Ok((running, live, pump)) => {
                lc.failures = 0;
                lc.cooldown_until = None;
                *lock(&self.pid) = Some(Launched {
                    pid: running.pid,
                    user_data_dir: running.user_data_dir.clone(),
                    exe_kind: running.exe.kind,
                    headless: running.headless,
                });
                lc.running = Some(running);
                lc.live = Some(live.clone());
                lc.pump = Some(pump);
                *lock(&self.live) = Some(live.clone());
                Ok(live)
            }
            Err(e) => {
                lc.failures += 1;
                let exp = lc.failures.saturating_sub(FAILURE_THRESHOLD).min(8);
                if lc.failures >= FAILURE_THRESHOLD {
                    lc.cooldown_until = Some(Instant::now() + (COOLDOWN_BASE * 2u32.pow(exp)).min(COOLDOWN_MAX));
                }
                lc.last_error = e.message.trim_start_matches("Error: ").to_string();
                Err(e)
            }
        }
    }

    async fn launch_and_connect(
        &self,
        settings: &BrowserSettings,
        state_dir: &std::path::Path,
        headless: (bool, &'static str),
    ) -> Result<(RunningBrowser, Live, tokio::task::JoinHandle<()>), RouteError> {
        let exe = resolve_executable(settings, Some(&self.profile)).map_err(RouteError::internal)?;
        let mut running = launch(LaunchRequest { settings, profile: &self.profile, exe, state_dir, headless })
            .await
            .map_err(|e| match e {
                LaunchError::PortInUse(_) => RouteError::new(500, e.to_string()),
                LaunchError::ProfileLocked { .. } => RouteError::unavailable(e.to_string()),
                other => RouteError::internal(other),
            })?;
        match self.connect_live(&running.browser_ws_url).await {
            Ok((live, pump)) => Ok((running, live, pump)),
            Err(e) => {
                running.stop(None).await;
                Err(RouteError::internal(format!(
                    "Chrome CDP websocket for profile \"{}\" is not reachable after start. {e}",
                    self.profile.name
                )))
            }
        }
    }

    /// Connects to the browser target, starts the event pump and auto-attaches to every page
    /// (paused until its domains are enabled, so nothing it logs is missed).
    async fn connect_live(&self, ws: &str) -> Result<(Live, tokio::task::JoinHandle<()>), crate::cdp::CdpError> {
        let cdp = CdpClient::connect(ws, CDP_READY_TIMEOUT).await?;
        let live = Live {
            cdp: cdp.clone(),
            sessions: Default::default(),
            logs: Default::default(),
            refs: Default::default(),
            act: Default::default(),
            browser_ws_url: ws.to_string(),
            downloads: Arc::new(DownloadHub::new(self.downloads_dir.clone())),
        };
        let pump = tokio::spawn(pump_events(live.clone(), cdp.subscribe()));
        cdp.send(
            "Target.setAutoAttach",
            json!({"autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true}),
            None,
        )
        .await?;
        // Downloads go to a staging directory and are reported, so the download routes can
        // hand them over (without this, headless Chromium may drop them silently).
        let hub = live.downloads.clone();
        match tokio::task::spawn_blocking(move || hub.behavior_params()).await {
            Ok(Ok(params)) => {
                if let Err(e) = cdp.send("Browser.setDownloadBehavior", params, None).await {
                    tracing::warn!(error = %e, "browser downloads will not be captured");
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot create the browser download staging directory"),
            Err(e) => tracing::warn!(error = %e, "cannot create the browser download staging directory"),
        }
        Ok((live, pump))
    }

    async fn teardown(&self, lc: &mut Lifecycle) -> bool {
        let live = lc.live.take();
        *lock(&self.live) = None;
        *lock(&self.pid) = None;
        let mut stopped = false;
        if let Some(mut running) = lc.running.take() {
            running.stop(live.as_ref().map(|l| &l.cdp)).await;
            stopped = true;
        }
        if let Some(l) = live {
            l.cdp.close().await;
        }
        if let Some(p) = lc.pump.take() {
            p.abort();
        }
        lock(&self.tabs).last_target_id = None;
        stopped
    }

    /// Stops the browser this node launched (a browser it only attached to is left running).
    /// Returns whether a browser was stopped.
    pub async fn stop(&self) -> bool {
        let mut lc = self.lifecycle.lock().await;
        self.teardown(&mut lc).await
    }

    /// The page targets, aliased (`GET /tabs` and target resolution).
    pub async fn list_tabs(&self) -> Result<Vec<Tab>, RouteError> {
        let v = http_json(&self.authority(), "GET", "/json/list", Duration::from_millis(1500)).await?;
        let raw: Vec<RawTab> = v.as_array().into_iter().flatten().filter_map(RawTab::from_json_list).collect();
        Ok(lock(&self.tabs).assign_all(raw))
    }

    /// Upstream's `ownership` of a tab opened here: fingerprints of the profile's CDP authority
    /// and of the browser instance, so the gateway can later close exactly this tab.
    pub fn ownership(&self, target_id: &str, browser_ws_url: &str) -> Value {
        let profile_fp = sha256_hex(
            serde_json::to_string(&json!([self.profile.name, canonical_authority(&self.profile.cdp_url)]))
                .unwrap_or_default()
                .as_bytes(),
        );
        json!({
            "status": "durable",
            "nativeTargetId": target_id,
            "profileFingerprint": format!("sha256:{profile_fp}"),
            "browserInstanceFingerprint": format!("sha256:{}", sha256_hex(browser_ws_url.as_bytes())),
        })
    }
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// `scheme://host:port` with ws→http, wss→https, a lower-case host and an explicit port.
fn canonical_authority(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => "http",
        _ => "https",
    };
    let authority =
        rest.split(['/', '?', '#']).next().unwrap_or("").rsplit('@').next().unwrap_or("").to_ascii_lowercase();
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.ends_with('[') && p.chars().all(|c| c.is_ascii_digit()) && !authority.ends_with(']'));
    if has_port {
        format!("{scheme}://{authority}")
    } else {
        format!("{scheme}://{authority}:{}", if scheme == "http" { 80 } else { 443 })
    }
}

/// Routes browser events: attaches new pages (enable domains, then let them run), forgets
/// detached ones, and feeds page events into the page's log.
async fn pump_events(live: Live, mut rx: tokio::sync::broadcast::Receiver<Arc<CdpEvent>>) {
    loop {
        let ev = match rx.recv().await {
            Ok(ev) => ev,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "browser event pump fell behind; some page events were dropped");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        match ev.method.as_str() {
            "Target.attachedToTarget" => {
                let p = &ev.params;
                let Some(session) = p.get("sessionId").and_then(Value::as_str).map(str::to_string) else { continue };
                let info = p.get("targetInfo");
                let kind = info.and_then(|i| i.get("type")).and_then(Value::as_str).unwrap_or("");
                let target = info.and_then(|i| i.get("targetId")).and_then(Value::as_str).unwrap_or("").to_string();
                let cdp = live.cdp.clone();
                if kind == "page" {
                    lock(&live.sessions).insert(target.clone(), session.clone());
                    lock(&live.logs).entry(target).or_default();
                }
                let is_page = kind == "page";
                tokio::spawn(async move {
                    if is_page {
                        for m in ["Runtime.enable", "Network.enable", "Page.enable"] {
                            let _ = cdp.send_timeout(m, json!({}), Some(&session), Duration::from_secs(10)).await;
                        }
                    }
                    let _ = cdp
                        .send_timeout(
                            "Runtime.runIfWaitingForDebugger",
                            json!({}),
                            Some(&session),
                            Duration::from_secs(10),
                        )
                        .await;
                });
            }
            "Target.detachedFromTarget" => {
                let session = ev.params.get("sessionId").and_then(Value::as_str).unwrap_or("");
                let mut sessions = lock(&live.sessions);
                let gone: Vec<String> =
                    sessions.iter().filter(|(_, s)| *s == session).map(|(t, _)| t.clone()).collect();
                for t in gone {
                    sessions.remove(&t);
                    lock(&live.logs).remove(&t);
                    lock(&live.refs).remove(&t);
                    live.act.forget(&t);
                }
            }
            "Page.downloadWillBegin" | "Browser.downloadWillBegin" | "Browser.downloadProgress" => {
                let sessions = lock(&live.sessions).clone();
                live.downloads.on_event(
                    &ev,
                    |s| sessions.iter().find(|(_, v)| *v == s).map(|(t, _)| t.clone()),
                    |t| sessions.contains_key(t),
                );
            }
            _ => {
                let Some(session) = ev.session_id.as_deref() else { continue };
                let dialog = ev.method.starts_with("Page.javascriptDialog");
                if !(dialog || ev.method.starts_with("Runtime.") || ev.method.starts_with("Network.")) {
                    continue;
                }
                let target = lock(&live.sessions).iter().find(|(_, s)| *s == session).map(|(t, _)| t.clone());
                if let (true, Some(t)) = (dialog, &target) {
                    live.act.on_dialog_event(&live.cdp, t, session, &ev.method, &ev.params);
                } else if let Some(t) = target {
                    if let Some(log) = lock(&live.logs).get_mut(&t) {
                        log.on_event(&ev.method, &ev.params);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_is_canonical() {
        assert_eq!(canonical_authority("http://127.0.0.1:18800"), "http://127.0.0.1:18800");
        assert_eq!(canonical_authority("WS://Host.Example/devtools"), "http://host.example:80");
        assert_eq!(canonical_authority("wss://h:9/x"), "https://h:9");
    }

    #[test]
    fn profile_fingerprint_matches_upstream_formula() {
        let s = BrowserSettings::default();
        let rt = ProfileRuntime::new(s.profile("openclaw").unwrap().clone(), PathBuf::from("/nonexistent"));
        let o = rt.ownership("T1", "ws://127.0.0.1:18800/devtools/browser/abc");
        // sha256 of the UTF-8 text ["openclaw","http://127.0.0.1:18800"].
        let expect = sha256_hex(br#"["openclaw","http://127.0.0.1:18800"]"#);
        assert_eq!(o["profileFingerprint"], format!("sha256:{expect}"));
        assert_eq!(o["status"], "durable");
    }
}
