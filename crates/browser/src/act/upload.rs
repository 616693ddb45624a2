//! `/hooks/file-chooser`: putting files into a file input, directly (`inputRef`/`element`:
//! `DOM.setFileInputFiles`), by clicking what opens the chooser (`ref`: chooser interception,
//! click, `Page.fileChooserOpened`), or by arming the next chooser the page opens.

use std::time::Duration;

use serde_json::{json, Value};

use super::request::Elem;
use super::script::clamp_timeout;
use super::{ActState, Page};
use crate::error::RouteError;
use crate::page::wait_event;

/// Every path must be an existing regular file (not a symlink, not a directory), as
/// upstream's strict upload-path check demands; the node host stages uploads as such files.
pub(crate) fn check_paths(paths: &[String]) -> Result<(), RouteError> {
    for p in paths {
        let ok = std::path::Path::new(p).is_absolute()
            && std::fs::symlink_metadata(p).map(|m| m.file_type().is_file()).unwrap_or(false);
        if !ok {
            return Err(RouteError::bad_request(format!(
                "Invalid path: must be an existing regular non-symlink file ({p})"
            )));
        }
    }
    Ok(())
}

/// Upstream's default for upload waits (`DEFAULT_BROWSER_DOWNLOAD_TIMEOUT_MS`), clamped.
fn upload_timeout(ms: Option<u64>) -> Duration {
    Duration::from_millis(clamp_timeout(ms, 120_000))
}

impl ActState {
    /// A new arming for `target`; earlier ones see they were superseded.
    fn bump_upload(&self, target: &str) -> u64 {
        let mut m = self.upload_arms.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(target.to_string()).or_default();
        *n += 1;
        *n
    }
    fn upload_current(&self, target: &str, id: u64) -> bool {
        self.upload_arms.lock().unwrap_or_else(|p| p.into_inner()).get(target) == Some(&id)
    }
}

type Events = tokio::sync::broadcast::Receiver<std::sync::Arc<crate::cdp::CdpEvent>>;

/// Playwright's refusal of several files for a single-file input.
fn single_only() -> RouteError {
    RouteError::internal("Non-multiple file input can only accept single file")
}

/// Waits for the session's next file chooser; returns the input's backend node id and
/// whether it takes several files.
async fn chooser(session: &str, rx: Events, t: Duration) -> Option<(i64, bool)> {
    let ev = wait_event(rx, t, |ev| ev.method == "Page.fileChooserOpened" && ev.session_id.as_deref() == Some(session))
        .await?;
    let multiple = ev.params.get("mode").and_then(Value::as_str) == Some("selectMultiple");
    Some((ev.params.get("backendNodeId").and_then(Value::as_i64)?, multiple))
}

impl Page<'_> {
    /// `inputRef` or `element`: sets the files of that input (the first match of a selector).
    pub(crate) async fn set_input_files(&self, el: &Elem, paths: &[String], ms: Option<u64>) -> Result<(), RouteError> {
        let t = upload_timeout(ms);
        let deadline = tokio::time::Instant::now() + t;
        let node = loop {
            let found = match el {
                Elem::Selector(s) => self.query(s, true).await?.unwrap_or(None),
                Elem::Ref(_) => self.find(el).await?,
            };
            if let Some(n) = found {
                break n;
            }
            if tokio::time::Instant::now() >= deadline {
                let label: String = el.label().chars().take(200).collect();
                return Err(RouteError::act_failed(format!(
                    "Element \"{label}\" not found or not visible. Run a new snapshot to see current page elements."
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let multiple = self.call_on(&node.object_id, "function() { return this instanceof HTMLInputElement && this.type === 'file' ? this.multiple : null; }", &[]).await?;
        match multiple.as_bool() {
            None => return Err(RouteError::internal("Node is not an HTMLInputElement of type file")),
            Some(false) if paths.len() > 1 => return Err(single_only()),
            _ => {}
        }
        self.send("DOM.setFileInputFiles", json!({"files": paths, "objectId": node.object_id})).await?;
        Ok(())
    }

    /// `ref`: intercepts the chooser, clicks the ref and fills the chooser it opens.
    pub(crate) async fn upload_via_click(&self, r: &str, paths: &[String], ms: Option<u64>) -> Result<(), RouteError> {
        let t = upload_timeout(ms);
        let start = tokio::time::Instant::now();
        let id = self.live.act.bump_upload(self.target);
        let rx = self.live.cdp.subscribe();
        self.send("Page.setInterceptFileChooserDialog", json!({"enabled": true})).await?;
        let result = async {
            let click = super::request::Act {
                target_id: None,
                action: super::request::Action::Click {
                    el: Elem::Ref(r.to_string()),
                    double: false,
                    button: None,
                    modifiers: Vec::new(),
                    delay_ms: None,
                    timeout_ms: Some(t.as_millis() as u64),
                },
            };
            self.run(&click, false, 0).await?;
            let left = t.saturating_sub(start.elapsed());
            let (backend, multiple) = chooser(self.session, rx, left).await.ok_or_else(|| {
                RouteError::internal(format!("Timeout {}ms exceeded while completing file upload", t.as_millis()))
            })?;
            if !multiple && paths.len() > 1 {
                return Err(single_only());
            }
            self.send("DOM.setFileInputFiles", json!({"files": paths, "backendNodeId": backend})).await?;
            Ok(())
        }
        .await;
        if self.live.act.upload_current(self.target, id) {
            let _ = self.send("Page.setInterceptFileChooserDialog", json!({"enabled": false})).await;
        }
        result
    }

    /// Neither: arms the next chooser of the tab (for `t`) and returns at once.
    pub(crate) async fn arm_upload(&self, paths: Vec<String>, ms: Option<u64>) -> Result<(), RouteError> {
        let t = upload_timeout(ms);
        let id = self.live.act.bump_upload(self.target);
        let rx = self.live.cdp.subscribe();
        self.send("Page.setInterceptFileChooserDialog", json!({"enabled": true})).await?;
        let (live, session, target) = (self.live.clone(), self.session.to_string(), self.target.to_string());
        tokio::spawn(async move {
            let opened = chooser(&session, rx, t).await;
            if !live.act.upload_current(&target, id) {
                return;
            }
            if let Some((backend, multiple)) = opened {
                // The files may have gone meanwhile; then the chooser is left empty, as upstream.
                if check_paths(&paths).is_ok() && (multiple || paths.len() == 1) {
                    let p = json!({"files": paths, "backendNodeId": backend});
                    let _ = live.cdp.send("DOM.setFileInputFiles", p, Some(&session)).await;
                }
            }
            let _ =
                live.cdp.send("Page.setInterceptFileChooserDialog", json!({"enabled": false}), Some(&session)).await;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_existing_regular_files_pass() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        std::fs::write(&f, "x").unwrap();
        let link = dir.path().join("l.txt");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        let s = |p: &std::path::Path| p.display().to_string();
        assert!(check_paths(&[s(&f)]).is_ok());
        for bad in [s(&link), s(dir.path()), s(&dir.path().join("missing")), "a.txt".to_string()] {
            let e = check_paths(&[s(&f), bad.clone()]).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(&bad), "{}", e.message);
        }
    }
}
