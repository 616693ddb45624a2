//! The tab routes (upstream `routes/tabs.ts`) and the tab every scoped route acts on
//! (`ensureTabAvailable`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{body_str, BrowserControl, RouteResult};
use crate::control::{Live, ProfileRuntime, MAX_MANAGED_TABS};
use crate::error::RouteError;
use crate::page::{current_url, eval_string, session_for, wait_load, wait_session};
use crate::ssrf::{assert_navigation_allowed, assert_result_allowed};
use crate::tabs::{normalize_label, resolve, Tab};

impl BrowserControl {
    /// Tabs as listed, with URLs the SSRF policy refuses redacted (upstream `redactBlockedTabUrls`).
    pub(super) async fn redacted(&self, tabs: Vec<Tab>) -> Vec<Value> {
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

    pub(super) async fn tabs(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let rt = self.profile_for(q, body)?;
        if !rt.http_reachable(Duration::from_millis(300)).await {
            return Ok(json!({"running": false, "tabs": []}));
        }
        let tabs = rt.list_tabs().await?;
        Ok(json!({"running": true, "tabs": self.redacted(tabs).await}))
    }

    /// Upstream's `ensureBrowserRunning` for tab mutations: reachable now or 250 ms later.
    pub(super) async fn require_running(&self, rt: &ProfileRuntime) -> Result<(), RouteError> {
        if rt.http_reachable(Duration::from_millis(300)).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        if rt.http_reachable(Duration::from_millis(300)).await {
            return Ok(());
        }
        Err(RouteError::unavailable("browser not running"))
    }

    pub(super) async fn open(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
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
    pub(super) async fn open_tab(
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
    pub(super) async fn enforce_tab_limit(&self, rt: &ProfileRuntime, live: &Live, keep: &str) {
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

    pub(super) async fn focus(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
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

    pub(super) async fn close_tab(&self, q: &BTreeMap<String, String>, body: &Value, target: &str) -> RouteResult {
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

    /// Upstream's `ensureTabAvailable`: with a `targetId`, the browser must already run (409)
    /// and the id must resolve; without one, the browser is started and the sticky tab (or the
    /// first page, or a fresh `about:blank`) is used. Returns the tab and its flat session.
    pub(super) async fn tab_context(
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
}
