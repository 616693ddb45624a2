//! `POST /__openclaw/session-tab/close-owned`: the gateway's session cleanup closing a tab it
//! opened earlier (upstream `node-host/invoke-browser.ts` over `cdp.helpers.ts`
//! `closeTrackedCdpTarget`; spec nodehost.md §7.5).
//!
//! The gateway kept the tab's `ownership` from `/tabs/open`. The tab is closed only when both
//! fingerprints still match: the profile's (its name and CDP authority) and the running
//! browser instance's (its `/json/version` WebSocket URL), so a restarted browser or another
//! profile that happens to reuse a target id is never touched. The answer is always a
//! result (a malformed `ownership` is refused with 400; the node host checks it first): `{"status":"closed"|"missing"|"ownership-mismatch"}` or
//! `{"status":"unavailable","reason":…}`. This route never starts a browser.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::{body_str, BrowserControl, RouteResult};
use crate::cdp::{http_json, CdpClient};
use crate::error::RouteError;
use crate::settings::Driver;

/// The node-private path the node host forwards here.
pub const OWNED_TAB_CLOSE_PATH: &str = "/__openclaw/session-tab/close-owned";

/// Upstream's remote CDP timeout, used for every step of the check and the close.
const CDP_TIMEOUT: Duration = Duration::from_millis(1500);

fn unavailable(reason: &str) -> Value {
    json!({"status": "unavailable", "reason": reason})
}

fn ownership_field(body: &Value, key: &str) -> Option<String> {
    body.get("ownership")?.get(key)?.as_str().map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

impl BrowserControl {
    pub(super) async fn close_owned(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let mismatch = json!({"status": "ownership-mismatch"});
        let durable = body.pointer("/ownership/status").and_then(Value::as_str) == Some("durable");
        let (Some(target), Some(profile_fp), Some(instance_fp)) = (
            ownership_field(body, "nativeTargetId"),
            ownership_field(body, "profileFingerprint"),
            ownership_field(body, "browserInstanceFingerprint"),
        ) else {
            return Err(RouteError::bad_request("valid durable tab ownership required"));
        };
        if !durable {
            return Err(RouteError::bad_request("valid durable tab ownership required"));
        }
        // An unknown profile, or one this node does not drive over its own CDP, owns nothing
        // here (upstream: no resolvable cdpUrl).
        let name = q
            .get("profile")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .or_else(|| body_str(body, "profile"))
            .unwrap_or_else(|| self.shared.settings.default_profile().to_string());
        let Some(profile) = self.shared.settings.profile(&name) else { return Ok(mismatch) };
        if profile.driver != Driver::OpenClaw {
            return Ok(mismatch);
        }
        let rt = self.runtime(&name)?;
        let Ok(version) = http_json(&rt.authority(), "GET", "/json/version", CDP_TIMEOUT).await else {
            return Ok(unavailable("browser-identity-lookup-failed"));
        };
        let ws = version.get("webSocketDebuggerUrl").and_then(Value::as_str).map(str::trim).unwrap_or("");
        if ws.is_empty() {
            return Ok(unavailable("browser-identity-unavailable"));
        }
        let current = rt.ownership(&target, ws);
        if current["profileFingerprint"] != profile_fp.as_str()
            || current["browserInstanceFingerprint"] != instance_fp.as_str()
        {
            return Ok(mismatch);
        }
        // The live connection when it is to this very browser, else a short-lived one.
        let (cdp, temporary) = match rt.live().filter(|l| l.browser_ws_url == ws) {
            Some(l) => (l.cdp, false),
            None => match CdpClient::connect(ws, CDP_TIMEOUT).await {
                Ok(c) => (c, true),
                Err(_) => return Ok(unavailable("target-lookup-failed")),
            },
        };
        let result = close_target(&cdp, &target).await;
        if temporary {
            cdp.close().await;
        }
        if result["status"] == "closed" {
            // Like DELETE /tabs: the tab is gone from /json/list before the answer.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while tokio::time::Instant::now() < deadline {
                match rt.list_tabs().await {
                    Ok(tabs) if tabs.iter().any(|t| t.target_id == target) => {
                        tokio::time::sleep(Duration::from_millis(25)).await
                    }
                    _ => break,
                }
            }
            let mut st = rt.tabs.lock().unwrap_or_else(|p| p.into_inner());
            if st.last_target_id.as_deref() == Some(target.as_str()) {
                st.last_target_id = None;
            }
        }
        Ok(result)
    }
}

/// `Target.getTargets` then `Target.closeTarget`, answering upstream's statuses.
async fn close_target(cdp: &CdpClient, target: &str) -> Value {
    let Ok(targets) = cdp.send_timeout("Target.getTargets", json!({}), None, CDP_TIMEOUT).await else {
        return unavailable("target-lookup-failed");
    };
    let Some(infos) = targets.get("targetInfos").and_then(Value::as_array) else {
        return unavailable("target-lookup-failed");
    };
    if !infos.iter().any(|t| t.get("targetId").and_then(Value::as_str) == Some(target)) {
        return json!({"status": "missing"});
    }
    match cdp.send_timeout("Target.closeTarget", json!({"targetId": target}), None, CDP_TIMEOUT).await {
        Ok(r) if r.get("success").and_then(Value::as_bool) == Some(true) => json!({"status": "closed"}),
        Ok(_) => unavailable("target-close-failed"),
        Err(e) if e.to_string().contains("No target with given id found") => json!({"status": "missing"}),
        Err(_) => unavailable("target-lookup-failed"),
    }
}
