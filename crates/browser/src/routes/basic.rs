//! Status, start, stop and profiles (upstream `routes/basic.ts`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::{BrowserControl, RouteResult};
use crate::detect::resolve_executable;
use crate::error::RouteError;
use crate::settings::{parse_bool, Driver};

impl BrowserControl {
    pub(super) async fn status(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
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

    pub(super) async fn start(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
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

    pub(super) async fn stop(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let rt = self.profile_for(q, body)?;
        let stopped = rt.stop().await || rt.profile.attach_only || !rt.profile.cdp_is_loopback;
        Ok(json!({"ok": true, "stopped": stopped, "profile": rt.profile.name}))
    }

    pub(super) async fn profiles(&self) -> RouteResult {
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
}
