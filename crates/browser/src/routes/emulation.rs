//! `POST /set/device`, `/set/media`, `/set/timezone`, `/set/locale` (upstream
//! `routes/agent.storage.ts` over `pw-tools-core.state.ts`): what the gateway's `emulate`
//! action sends, one route per given field.
//!
//! The overrides are set on the tab's own flat session, which lives as long as the tab, so
//! they last until the tab closes or the browser stops (upstream keeps a dedicated CDP
//! session per page for the same reason). Answers are upstream's `{ok:true, targetId}`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{body_str, BrowserControl, RouteResult};
use crate::cdp::CdpError;
use crate::devices;
use crate::error::RouteError;

/// Chromium's answer when another client already holds the override; upstream treats the
/// override as in effect and succeeds.
const TIMEZONE_HELD: &str = "Timezone override is already in effect";
const LOCALE_HELD: &str = "Another locale override is already in effect";

fn required(body: &Value, key: &str, message: &str) -> Result<String, RouteError> {
    body_str(body, key).ok_or_else(|| RouteError::bad_request(message))
}

/// A CDP protocol error as Playwright words it when a page-scoped `send` fails.
fn protocol_error(e: CdpError) -> RouteError {
    match e {
        CdpError::Protocol { method, message, .. } => {
            RouteError::internal(format!("Protocol error ({method}): {message}"))
        }
        other => RouteError::from(other),
    }
}

impl BrowserControl {
    /// Runs `f` on the tab's session and answers `{ok, targetId}`.
    async fn emulate<F, Fut>(&self, q: &BTreeMap<String, String>, body: &Value, f: F) -> RouteResult
    where
        F: FnOnce(crate::control::Live, String) -> Fut,
        Fut: std::future::Future<Output = Result<(), RouteError>>,
    {
        let rt = self.profile_for(q, body)?;
        let (tab, live, session) = self.tab_context(&rt, body_str(body, "targetId"), false).await?;
        f(live, session).await?;
        Ok(json!({"ok": true, "targetId": tab.target_id}))
    }

    pub(super) async fn set_media(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let scheme = match body_str(body, "colorScheme").as_deref() {
            Some(s @ ("dark" | "light" | "no-preference")) => s.to_string(),
            // `none` lifts the override.
            Some("none") => String::new(),
            _ => return Err(RouteError::bad_request("colorScheme must be dark|light|no-preference|none")),
        };
        self.emulate(q, body, |live, session| async move {
            let features = json!([{"name": "prefers-color-scheme", "value": scheme}]);
            live.cdp
                .send("Emulation.setEmulatedMedia", json!({"features": features}), Some(&session))
                .await
                .map_err(protocol_error)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn set_timezone(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let timezone = required(body, "timezoneId", "timezoneId is required")?;
        self.emulate(q, body, |live, session| async move {
            match live.cdp.send("Emulation.setTimezoneOverride", json!({"timezoneId": timezone}), Some(&session)).await
            {
                Ok(_) => Ok(()),
                Err(CdpError::Protocol { message, .. }) if message.contains(TIMEZONE_HELD) => Ok(()),
                Err(CdpError::Protocol { message, .. }) if message.contains("Invalid timezone") => {
                    Err(RouteError::internal(format!("Invalid timezone ID: {timezone}")))
                }
                Err(e) => Err(protocol_error(e)),
            }
        })
        .await
    }

    pub(super) async fn set_locale(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let locale = required(body, "locale", "locale is required")?;
        self.emulate(q, body, |live, session| async move {
            match live.cdp.send("Emulation.setLocaleOverride", json!({"locale": locale}), Some(&session)).await {
                Ok(_) => Ok(()),
                Err(CdpError::Protocol { message, .. }) if message.contains(LOCALE_HELD) => Ok(()),
                Err(e) => Err(protocol_error(e)),
            }
        })
        .await
    }

    pub(super) async fn set_device(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let name = required(body, "name", "name is required")?;
        self.emulate(q, body, |live, session| async move {
            let device =
                devices::find(&name).ok_or_else(|| RouteError::internal(format!("Unknown device \"{name}\".")))?;
            let (width, height) = device.viewport;
            let (screen_width, screen_height) = device.screen;
            let landscape = screen_width > screen_height;
            let orientation = if device.is_mobile && !landscape {
                json!({"angle": 0, "type": "portraitPrimary"})
            } else {
                json!({"angle": if device.is_mobile { 90 } else { 0 }, "type": "landscapePrimary"})
            };
            let send = |method: &'static str, params: Value| {
                let live = &live;
                let session = &session;
                async move { live.cdp.send(method, params, Some(session)).await.map_err(protocol_error) }
            };
            send("Emulation.setUserAgentOverride", json!({"userAgent": device.user_agent})).await?;
            send(
                "Emulation.setDeviceMetricsOverride",
                json!({
                    "mobile": device.is_mobile,
                    "width": width,
                    "height": height,
                    "deviceScaleFactor": device.device_scale_factor,
                    "screenWidth": screen_width,
                    "screenHeight": screen_height,
                    "screenOrientation": orientation,
                }),
            )
            .await?;
            send("Emulation.setTouchEmulationEnabled", json!({"enabled": device.has_touch})).await?;
            Ok(())
        })
        .await
    }
}
