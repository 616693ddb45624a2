//! `POST /wait/download` and `POST /download` (upstream `routes/agent.act.download.ts` over
//! `pw-tools-core.downloads.ts`), and the wait a navigation uses when it turns into a download.
//!
//! The files land in the downloads directory (upstream `<tmp>/openclaw/downloads`): at the
//! caller's `path` when it stays inside that directory, else as `<uuid>-<suggested name>`.
//! They are private (0600) and exist when the route answers, because the node host inlines
//! `download.path` into its reply.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::{body_str, positive_int, BrowserControl, RouteResult};
use crate::control::Live;
use crate::downloads::{ArmedDownload, DownloadEvent, DownloadInfo};
use crate::error::RouteError;
use crate::paths::{ensure_private_dir, publish_file, resolve_writable, sanitize_file_name, DOWNLOADS_SCOPE};
use crate::refs::{normalize_ref, resolve_ref};
use crate::settings::SsrfPolicy;
use crate::ssrf::{assert_navigation_allowed, assert_result_allowed};

/// Upstream's download wait default and ceiling (`DEFAULT_BROWSER_DOWNLOAD_TIMEOUT_MS`,
/// `normalizeTimeoutMs`): 120 s, and never below 500 ms.
const DEFAULT_TIMEOUT_MS: u64 = 120_000;
const MIN_TIMEOUT_MS: u64 = 500;

/// The default name of a download whose server suggested none.
const FALLBACK_NAME: &str = "download.bin";

/// Upstream's text when a download does not come in time.
pub(super) const DOWNLOAD_TIMEOUT: &str = "Timeout waiting for download";

/// Where a captured download goes.
pub(super) enum Destination {
    /// The caller's `path` (already checked once; checked again before the move).
    Requested(String),
    /// `<downloads>/<uuid>-<suggested name>`.
    Managed,
}

/// How long an act waits for a download it started to complete (upstream's drain limit).
const ACT_DOWNLOAD_DRAIN: Duration = Duration::from_millis(1000);

fn download_timeout(body: &Value) -> Result<Duration, RouteError> {
    let ms = positive_int(body_str(body, "timeoutMs").as_deref(), "timeoutMs")?;
    Ok(Duration::from_millis(ms.unwrap_or(DEFAULT_TIMEOUT_MS).clamp(MIN_TIMEOUT_MS, DEFAULT_TIMEOUT_MS)))
}

/// Upstream's `toStringOrEmpty`: strings, numbers and booleans as trimmed text, else "".
fn text_field(body: &Value, key: &str) -> String {
    body_str(body, key).unwrap_or_default()
}

async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RouteError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| RouteError::internal(format!("{what}: {e}")))
}

impl BrowserControl {
    /// Creates the downloads directory (0700) and checks a requested `path` against it.
    async fn prepare_destination(&self, requested: Option<String>) -> Result<Destination, RouteError> {
        let root = self.downloads_dir();
        let r = root.clone();
        blocking("creating the downloads directory", move || ensure_private_dir(&r)).await?.map_err(|e| {
            RouteError::internal(format!("cannot create the downloads directory {}: {e}", root.display()))
        })?;
        match requested {
            None => Ok(Destination::Managed),
            Some(p) => {
                let raw = p.clone();
                blocking("checking the download path", move || resolve_writable(&root, &raw, DOWNLOADS_SCOPE))
                    .await?
                    .map_err(RouteError::bad_request)?;
                Ok(Destination::Requested(p))
            }
        }
    }

    pub(super) async fn wait_download(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let target = body_str(body, "targetId");
        let out = text_field(body, "path");
        let timeout = download_timeout(body)?;
        let rt = self.profile_for(q, body)?;
        let (tab, live, _session) = self.tab_context(&rt, target, true).await?;
        let dest = self.prepare_destination(Some(out).filter(|p| !p.trim().is_empty())).await?;
        let armed = live
            .downloads
            .arm(&tab.target_id, true)
            .ok_or_else(|| RouteError::internal("Download wait was cancelled"))?;
        let download = self.await_download(&live, armed, timeout, dest, DOWNLOAD_TIMEOUT).await?;
        Ok(json!({"ok": true, "targetId": tab.target_id, "download": download}))
    }

    pub(super) async fn download(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let target = body_str(body, "targetId");
        let reference = text_field(body, "ref");
        let out = text_field(body, "path");
        let timeout = download_timeout(body)?;
        let current_document = match body.get("currentDocument") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(RouteError::bad_request("currentDocument must be a boolean")),
        };
        let expected_url = body.get("expectedUrl").and_then(Value::as_str).unwrap_or("").to_string();
        if current_document && (body.get("ref").is_some() || body.get("path").is_some()) {
            return Err(RouteError::bad_request("currentDocument cannot be combined with ref or path"));
        }
        if current_document && expected_url.trim().is_empty() {
            return Err(RouteError::bad_request("expectedUrl is required for currentDocument"));
        }
        if !current_document && body.get("expectedUrl").is_some() {
            return Err(RouteError::bad_request("expectedUrl requires currentDocument"));
        }
        if !current_document && reference.is_empty() {
            return Err(RouteError::bad_request("ref is required"));
        }
        if !current_document && out.is_empty() {
            return Err(RouteError::bad_request("path is required"));
        }
        let rt = self.profile_for(q, body)?;
        let (tab, live, session) = self.tab_context(&rt, target, true).await?;
        if current_document {
            let download =
                self.download_current_document(&live, &session, &tab.target_id, &expected_url, timeout).await?;
            return Ok(json!({"ok": true, "targetId": tab.target_id, "download": download}));
        }
        let dest = self.prepare_destination(Some(out)).await?;
        // Armed before the click, so a download that starts at once is not missed.
        let armed = live
            .downloads
            .arm(&tab.target_id, true)
            .ok_or_else(|| RouteError::internal("Download wait was cancelled"))?;
        let resolved = resolve_ref(&live, &session, &tab.target_id, &reference).await?;
        click_node(&live, &session, resolved.backend_node_id, &normalize_ref(&reference)).await?;
        let download = self.await_download(&live, armed, timeout, dest, DOWNLOAD_TIMEOUT).await?;
        Ok(json!({"ok": true, "targetId": tab.target_id, "download": download}))
    }

    /// Saves the document the tab shows through the browser (an `<a download>` of its own
    /// URL), without navigating it, as upstream's `downloadCurrentDocumentViaPlaywright`.
    async fn download_current_document(
        &self,
        live: &Live,
        session: &str,
        target_id: &str,
        expected_url: &str,
        timeout: Duration,
    ) -> Result<Value, RouteError> {
        let policy = &self.shared.settings.ssrf;
        let scheme = expected_url.trim().split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("http") | Some("https") => {}
            Some(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => {
                return Err(RouteError::navigation_blocked("Only HTTP(S) documents can be downloaded"));
            }
            _ => {
                let shown = if expected_url.contains('@') { "[redacted credential-bearing URL]" } else { expected_url };
                return Err(RouteError::navigation_blocked(format!("Invalid URL: {shown}")));
            }
        }
        if !policy.allow_private_network
            || policy.allowed_hostnames.iter().any(|h| !h.trim().is_empty() && h.trim() != "*")
        {
            return Err(RouteError::navigation_blocked(
                "Current-document downloads are unavailable under this browser network policy because download redirects cannot be inspected",
            ));
        }
        let changed = || RouteError::internal("The tab changed before its download completed. Try again.");
        let current = crate::page::current_url(live, session).await.unwrap_or_default();
        if current != expected_url {
            return Err(changed());
        }
        assert_navigation_allowed(&current, policy).await?;
        let dest = self.prepare_destination(None).await?;
        let armed =
            live.downloads.arm(target_id, true).ok_or_else(|| RouteError::internal("Download wait was cancelled"))?;
        let script = format!(
            "(() => {{ const expected = {}; if (location.href !== expected) return 'changed'; const a = document.createElement('a'); a.href = location.href; a.download = ''; a.click(); return 'ok'; }})()",
            serde_json::to_string(expected_url).unwrap_or_else(|_| "''".into())
        );
        let started = crate::page::evaluate(live, session, &script).await?;
        if started != json!("ok") {
            return Err(RouteError::internal("The tab changed before its download started. Try again."));
        }
        let download = self.await_download(live, armed, timeout, dest, DOWNLOAD_TIMEOUT).await?;
        if crate::page::current_url(live, session).await.as_deref() != Some(expected_url) {
            if let Some(p) = download.get("path").and_then(Value::as_str) {
                let _ = std::fs::remove_file(p);
            }
            return Err(changed());
        }
        Ok(download)
    }

    /// Waits (up to `timeout`, from arming to the saved file) for the download `armed`
    /// captures, checks its URL against the SSRF policy, and moves it to `dest`. Answers
    /// upstream's `{url, suggestedFilename, path}`. A download that times out or is refused
    /// is cancelled and its bytes are discarded.
    pub(super) async fn await_download(
        &self,
        live: &Live,
        mut armed: ArmedDownload,
        timeout: Duration,
        dest: Destination,
        timeout_message: &str,
    ) -> Result<Value, RouteError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut began: Option<DownloadInfo> = None;
        loop {
            let event = match tokio::time::timeout_at(deadline, armed.rx.recv()).await {
                Ok(Some(ev)) => ev,
                Ok(None) => return Err(RouteError::internal("Download wait was cancelled")),
                Err(_) => {
                    if let Some(info) = &began {
                        discard(live, &info.guid).await;
                    }
                    return Err(RouteError::internal(timeout_message));
                }
            };
            match event {
                DownloadEvent::Began(info) => began = Some(self.admit(live, info).await?),
                DownloadEvent::Finished { staged } => {
                    let info = began.take().unwrap_or_else(|| DownloadInfo {
                        guid: String::new(),
                        url: String::new(),
                        suggested_filename: String::new(),
                    });
                    return self.publish(&info, staged, dest).await;
                }
                DownloadEvent::Failed(reason) => return Err(RouteError::internal(reason)),
                DownloadEvent::Superseded => {
                    return Err(RouteError::internal("Download was superseded by another waiter"))
                }
            }
        }
    }

    /// The download an act started, if any (upstream's act download capture): the first
    /// event must have come within `grace` of the action's end (events that came during the
    /// action are already queued), and the download must complete within a second more. One still running then is left to finish as a passive download
    /// (kept in the downloads directory, not reported here), as upstream's drain gives up.
    pub(super) async fn act_download(
        &self,
        live: &Live,
        mut armed: ArmedDownload,
        grace: Duration,
    ) -> Result<Option<Value>, RouteError> {
        let mut began: Option<DownloadInfo> = None;
        let mut deadline = tokio::time::Instant::now() + grace;
        loop {
            let event = match tokio::time::timeout_at(deadline, armed.rx.recv()).await {
                Ok(Some(ev)) => ev,
                Ok(None) | Err(_) => return Ok(None),
            };
            match event {
                DownloadEvent::Began(info) => {
                    began = Some(self.admit(live, info).await?);
                    deadline = tokio::time::Instant::now() + ACT_DOWNLOAD_DRAIN;
                }
                DownloadEvent::Finished { staged } => {
                    let Some(info) = began.take() else { return Ok(None) };
                    return self.publish(&info, staged, Destination::Managed).await.map(Some);
                }
                DownloadEvent::Failed(_) | DownloadEvent::Superseded => return Ok(None),
            }
        }
    }

    /// A download that began: kept when the SSRF policy allows its URL, else cancelled and
    /// its bytes dropped.
    async fn admit(&self, live: &Live, info: DownloadInfo) -> Result<DownloadInfo, RouteError> {
        if let Err(e) = assert_download_url(&info.url, &self.shared.settings.ssrf).await {
            discard(live, &info.guid).await;
            return Err(e);
        }
        Ok(info)
    }

    async fn publish(&self, info: &DownloadInfo, staged: PathBuf, dest: Destination) -> Result<Value, RouteError> {
        let root = self.downloads_dir();
        let suggested = if info.suggested_filename.is_empty() {
            FALLBACK_NAME.to_string()
        } else {
            info.suggested_filename.clone()
        };
        let name = sanitize_file_name(&suggested, FALLBACK_NAME);
        let path = blocking("saving the download", move || -> Result<PathBuf, String> {
            let path = match dest {
                Destination::Requested(raw) => resolve_writable(&root, &raw, DOWNLOADS_SCOPE).inspect_err(|_| {
                    let _ = std::fs::remove_file(&staged);
                })?,
                Destination::Managed => root.join(format!("{}-{name}", uuid::Uuid::new_v4())),
            };
            publish_file(&staged, &path).map_err(|e| {
                let _ = std::fs::remove_file(&staged);
                format!("cannot save the download to {}: {e}", path.display())
            })?;
            Ok(path)
        })
        .await?
        .map_err(RouteError::internal)?;
        Ok(json!({"url": info.url, "suggestedFilename": suggested, "path": absolute(&path)}))
    }
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string()
}

/// The SSRF check of a download's URL (upstream checks `download.url` before saving);
/// `blob:` and `data:` downloads come from the page itself and pass.
async fn assert_download_url(url: &str, policy: &SsrfPolicy) -> Result<(), RouteError> {
    if url.is_empty() {
        return Ok(());
    }
    assert_result_allowed(url, policy).await
}

/// Cancels a download the waiter gave up on and drops whatever Chromium wrote of it.
async fn discard(live: &Live, guid: &str) {
    live.downloads.discard(guid);
    let _ = live.cdp.send_timeout("Browser.cancelDownload", json!({"guid": guid}), None, Duration::from_secs(5)).await;
}

/// A left click at the centre of a node's first content quad, through real input events
/// (what Playwright's `locator.click` ends in). Errors name the ref as upstream does.
pub(super) async fn click_node(
    live: &Live,
    session: &str,
    backend_node_id: i64,
    label: &str,
) -> Result<(), RouteError> {
    let not_visible = || {
        let mut e = RouteError::new(
            500,
            format!("Element \"{label}\" not found or not visible. Run a new snapshot to see current page elements."),
        );
        e.code = Some("ACT_OPERATION_FAILED");
        e
    };
    let _ = live.cdp.send("DOM.scrollIntoViewIfNeeded", json!({"backendNodeId": backend_node_id}), Some(session)).await;
    let quads = live
        .cdp
        .send("DOM.getContentQuads", json!({"backendNodeId": backend_node_id}), Some(session))
        .await
        .map_err(|_| not_visible())?;
    let quad: Vec<f64> = quads
        .get("quads")
        .and_then(Value::as_array)
        .and_then(|qs| qs.first())
        .and_then(Value::as_array)
        .map(|q| q.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    if quad.len() != 8 {
        return Err(not_visible());
    }
    let x = (quad[0] + quad[2] + quad[4] + quad[6]) / 4.0;
    let y = (quad[1] + quad[3] + quad[5] + quad[7]) / 4.0;
    for (kind, buttons) in [("mouseMoved", 0), ("mousePressed", 1), ("mouseReleased", 0)] {
        let mut params = json!({"type": kind, "x": x, "y": y, "button": "left", "buttons": buttons});
        if kind != "mouseMoved" {
            params["clickCount"] = json!(1);
        } else {
            params["button"] = json!("none");
        }
        live.cdp.send("Input.dispatchMouseEvent", params, Some(session)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! `/download` with a ref against a real Chromium. It lives in the crate because no route
    //! fills the ref table yet (`/snapshot` lands separately): the test stores the ref itself.

    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::refs::{main_loader_id, store, RefEntry, RefTable};
    use crate::{BrowserControl, BrowserSettings, RouteRequest};

    const CHROMIUM: &str = "/usr/bin/chromium";

    async fn serve() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    let resp = if head.starts_with("GET /file") {
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"clicked.txt\"\r\nContent-Length: 7\r\nConnection: close\r\n\r\nclicked".to_string()
                    } else {
                        let body = "<html><body><p>x</p><a id=dl href=\"/file\" style=\"display:inline-block;margin-top:1500px\">Download</a><span id=hidden style=\"display:none\">h</span></body></html>";
                        format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                    };
                    let _ = s.write_all(resp.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn download_clicks_the_ref_and_saves_what_it_starts() {
        if !std::path::Path::new(CHROMIUM).exists() {
            eprintln!("browser: SKIPPED ({CHROMIUM} is not installed)");
            return;
        }
        let state = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let settings = BrowserSettings::from_config(Some(&json!({
            "noSandbox": true, "headless": true, "executablePath": CHROMIUM,
            "profiles": {"openclaw": {"cdpPort": port}},
            "ssrfPolicy": {"dangerouslyAllowPrivateNetwork": true},
        })))
        .unwrap();
        let c = BrowserControl::new(settings, state.path().to_path_buf()).with_downloads_dir(state.path().join("dl"));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let base = serve().await;
            let result = Box::pin(async {
                let call = |path: &str, body| {
                    c.dispatch(RouteRequest { method: "POST".into(), path: path.into(), query: BTreeMap::new(), body: Some(body) })
                };
                let tab = call("/tabs/open", json!({"url": format!("{base}/page")})).await;
                assert_eq!(tab.status, 200, "{}", tab.body);
                let target = tab.body["targetId"].as_str().unwrap().to_string();
                // What a snapshot would record for the link (below the fold) and a hidden span.
                let runtime = c.runtime("openclaw").unwrap();
                let live = runtime.live().unwrap();
                let session = crate::page::session_for(&live, &target).await.unwrap();
                let doc = live.cdp.send("DOM.getDocument", json!({"depth": 0}), Some(&session)).await.unwrap();
                let root = doc["root"]["nodeId"].clone();
                let mut refs = std::collections::HashMap::new();
                for (r, sel, role) in [("e1", "#dl", "link"), ("e2", "#hidden", "generic")] {
                    let node = live.cdp.send("DOM.querySelector", json!({"nodeId": root, "selector": sel}), Some(&session)).await.unwrap();
                    let desc = live.cdp.send("DOM.describeNode", json!({"nodeId": node["nodeId"]}), Some(&session)).await.unwrap();
                    let backend = desc["node"]["backendNodeId"].as_i64().unwrap();
                    refs.insert(
                        r.to_string(),
                        RefEntry { role: role.into(), name: None, nth: None, backend_node_id: Some(backend), frame_id: None },
                    );
                }
                let loader_id = main_loader_id(&live, &session).await.unwrap();
                store(&live, &target, RefTable { loader_id, refs });

                let r = call("/download", json!({"ref": "@e1", "path": "mine.txt", "timeoutMs": 20000})).await;
                assert_eq!(r.status, 200, "{}", r.body);
                let saved = state.path().join("dl/mine.txt");
                assert_eq!(
                    r.body,
                    json!({"ok": true, "targetId": target, "download": {
                        "url": format!("{base}/file"), "suggestedFilename": "clicked.txt", "path": saved.display().to_string(),
                    }})
                );
                assert_eq!(std::fs::read(&saved).unwrap(), b"clicked");
                assert_eq!(std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777, 0o600);

                let r = call("/download", json!({"ref": "e2", "path": "never.txt", "timeoutMs": 2000})).await;
                assert_eq!(r.status, 500, "{}", r.body);
                assert_eq!(
                    r.body,
                    json!({"error": "Element \"e2\" not found or not visible. Run a new snapshot to see current page elements.", "code": "ACT_OPERATION_FAILED"})
                );
            })
            .await;
            c.shutdown().await;
            result
        });
    }
}
