//! Navigation and what is captured from a page: navigate, screenshot, pdf, text.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use super::{body_bool, body_str, positive_int, target_payload, BrowserControl, RouteResult};
use crate::act::{Elem, Page as ActPage};
use crate::error::RouteError;
use crate::page::{current_url, evaluate, wait_event};
use crate::ssrf::{assert_navigation_allowed, assert_result_allowed};

impl BrowserControl {
    pub(super) async fn navigate(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let url = body_str(body, "url").ok_or_else(|| RouteError::bad_request("url is required"))?;
        let timeout =
            positive_int(body_str(body, "timeoutMs").as_deref(), "timeoutMs")?.unwrap_or(20_000).clamp(1000, 120_000);
        let rt = self.profile_for(q, body)?;
        let (tab, live, session) = self.tab_context(&rt, body_str(body, "targetId"), false).await?;
        assert_navigation_allowed(&url, &self.shared.settings.ssrf).await?;
        let events = live.cdp.subscribe();
        // A URL that answers with an attachment becomes a download, not a page: upstream
        // then answers with the saved `download` (passive: an explicit wait on the tab wins).
        let download_wait = live.downloads.arm(&tab.target_id, false);
        let nav = live.cdp.send("Page.navigate", json!({"url": url}), Some(&session)).await?;
        if let Some(err) = nav.get("errorText").and_then(Value::as_str).filter(|e| !e.is_empty()) {
            let failure = RouteError::internal(format!("page.goto: {err} at {url}"));
            let is_download = nav.get("isDownload").and_then(Value::as_bool) == Some(true);
            let Some(armed) = download_wait.filter(|_| is_download || err.contains("ERR_ABORTED")) else {
                return Err(failure);
            };
            let waited = self
                .await_download(
                    &live,
                    armed,
                    Duration::from_millis(timeout),
                    super::downloads::Destination::Managed,
                    NAVIGATION_DOWNLOAD_TIMEOUT,
                )
                .await;
            return match waited {
                Ok(download) => {
                    let final_url =
                        download.get("url").and_then(Value::as_str).filter(|u| !u.is_empty()).unwrap_or(&url);
                    Ok(json!({"ok": true, "url": final_url, "targetId": tab.target_id, "download": download}))
                }
                Err(e) if e.message.ends_with(NAVIGATION_DOWNLOAD_TIMEOUT) => Err(failure),
                Err(e) => Err(e),
            };
        }
        drop(download_wait);
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

    pub(super) async fn screenshot(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let full_page = body_bool(body, "fullPage").unwrap_or(false);
        let jpeg = body.get("type").and_then(Value::as_str) == Some("jpeg");
        let timeout = positive_int(body_str(body, "timeoutMs").as_deref(), "timeoutMs")?.unwrap_or(20_000);
        if full_page && (body_str(body, "ref").is_some() || body_str(body, "element").is_some()) {
            return Err(RouteError::bad_request("fullPage is not supported for element screenshots"));
        }
        if body_bool(body, "labels") == Some(true) {
            // Upstream draws the labels with Playwright; without it, it answers this 501.
            return Err(RouteError::playwright_missing("screenshot"));
        }
        // An element screenshot: a snapshot ref, else a CSS selector (`element`).
        let element = body_str(body, "ref").map(Elem::Ref).or_else(|| body_str(body, "element").map(Elem::Selector));
        let rt = self.profile_for(q, body)?;
        let (tab, live, session) = self.tab_context(&rt, body_str(body, "targetId"), true).await?;
        let mut params = json!({"format": if jpeg { "jpeg" } else { "png" }, "captureBeyondViewport": full_page});
        let area = match &element {
            Some(el) => {
                let page = ActPage { live: &live, session: &session, target: &tab.target_id };
                let (x, y, w, h) = page.element_box(el, Duration::from_millis(timeout)).await?;
                (x, y, w, h)
            }
            None => {
                let metrics = live.cdp.send("Page.getLayoutMetrics", json!({}), Some(&session)).await?;
                let dims = |k: &str| -> (f64, f64) {
                    let m = metrics.get(k);
                    let g = |f: &str| m.and_then(|m| m.get(f)).and_then(Value::as_f64).unwrap_or(0.0);
                    (g("width").max(g("clientWidth")), g("height").max(g("clientHeight")))
                };
                let (w, h) = if full_page { dims("cssContentSize") } else { dims("cssLayoutViewport") };
                let (sx, sy) = if full_page { (0.0, 0.0) } else { scroll_offset(&metrics) };
                (sx, sy, w, h)
            }
        };
        let (x, y, w, h) = area;
        // Upstream keeps images at most 2000 px per side; Chromium scales for us, no decoding.
        let scale = if w > 0.0 && h > 0.0 { (MAX_SIDE / w.max(h)).min(1.0) } else { 1.0 };
        if full_page || element.is_some() || scale < 1.0 {
            params["clip"] = json!({"x": x, "y": y, "width": w.max(1.0), "height": h.max(1.0), "scale": scale});
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

    pub(super) async fn pdf(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
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
    pub(super) async fn save_media(&self, bytes: &[u8], ext: &str) -> Result<String, RouteError> {
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

    pub(super) async fn text(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
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
}

/// Upstream's text when a navigation that started a download never delivered it.
const NAVIGATION_DOWNLOAD_TIMEOUT: &str = "Timeout waiting for navigation download";

const MAX_SIDE: f64 = 2000.0;
const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

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
