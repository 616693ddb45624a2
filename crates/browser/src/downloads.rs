//! Browser downloads: which tab a download belongs to, who waits for it, and where it lands.
//!
//! Chromium is told (`Browser.setDownloadBehavior allowAndName`) to write every download of
//! the managed browser into a staging directory under its GUID and to report it. The event
//! pump feeds those reports to the [`DownloadHub`] of the connection:
//!
//! - `Page.downloadWillBegin` (on the page's session) says which tab started it;
//!   `Browser.downloadWillBegin` covers the same download when the page event is missing
//!   (its `frameId` is the tab's target id for a main-frame download);
//! - `Browser.downloadProgress` says when it completed or was cancelled.
//!
//! A route that wants a tab's next download [`DownloadHub::arm`]s a waiter first, then
//! triggers it; the hub hands that waiter the download and its completion, in order. A newer
//! explicit waiter on the same tab supersedes an older one, as upstream's arm ids do. A
//! download nobody waits for is still kept, as upstream's passive capture keeps it: it is
//! moved to `<downloads>/<uuid>-<name>` when it completes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::cdp::CdpEvent;
use crate::paths::{ensure_private_dir, publish_file, sanitize_file_name};

/// What Chromium said about a download when it began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DownloadInfo {
    /// Chromium's id of the download (also the staged file's name).
    pub guid: String,
    /// The URL being downloaded.
    pub url: String,
    /// The file name the server suggested (may be empty).
    pub suggested_filename: String,
}

/// What a waiter hears, in order: `Began`, then `Finished` or `Failed`; or `Superseded`.
#[derive(Debug, Clone)]
pub(crate) enum DownloadEvent {
    /// The tab started a download (the waiter now owns it).
    Began(DownloadInfo),
    /// It completed; the bytes are in `staged`.
    Finished { staged: PathBuf },
    /// Chromium cancelled or failed it.
    Failed(String),
    /// A newer explicit waiter took over this tab.
    Superseded,
}

struct Waiter {
    arm_id: u64,
    tx: mpsc::UnboundedSender<DownloadEvent>,
}

struct Active {
    info: DownloadInfo,
    /// The waiter that owns it; None for a passive download.
    owner: Option<mpsc::UnboundedSender<DownloadEvent>>,
    /// Its waiter gave up (timeout, refused URL): the bytes are dropped, not kept.
    discard: bool,
}

#[derive(Default)]
struct HubState {
    next_arm: u64,
    waiters: HashMap<String, Waiter>,
    active: HashMap<String, Active>,
}

/// The downloads of one browser connection (see the module docs).
pub(crate) struct DownloadHub {
    /// Where downloads nobody waits for are kept (upstream's downloads directory).
    root: PathBuf,
    /// Where Chromium writes `<guid>` files.
    staging: PathBuf,
    state: Mutex<HubState>,
}

/// A registered wait for the next download of one tab. Dropping it unregisters it, so an
/// abandoned wait never captures a later download.
pub(crate) struct ArmedDownload {
    hub: Arc<DownloadHub>,
    target_id: String,
    arm_id: u64,
    /// The events of the download this waiter gets.
    pub rx: mpsc::UnboundedReceiver<DownloadEvent>,
}

impl Drop for ArmedDownload {
    fn drop(&mut self) {
        let mut st = self.hub.lock();
        if st.waiters.get(&self.target_id).is_some_and(|w| w.arm_id == self.arm_id) {
            st.waiters.remove(&self.target_id);
        }
    }
}

impl DownloadHub {
    /// A hub keeping passive downloads under `root`, with Chromium staging into
    /// `<root>/.incoming`.
    pub fn new(root: PathBuf) -> Self {
        let staging = root.join(".incoming");
        Self { root, staging, state: Mutex::new(HubState::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Browser.setDownloadBehavior` for the default browser context: every download is
    /// allowed, named by GUID in the staging directory, and reported.
    pub fn behavior_params(&self) -> std::io::Result<Value> {
        ensure_private_dir(&self.staging)?;
        Ok(json!({
            "behavior": "allowAndName",
            "downloadPath": self.staging.display().to_string(),
            "eventsEnabled": true,
        }))
    }

    /// Registers a wait for the next download of `target_id`. An `explicit` wait (the download
    /// routes) supersedes an earlier one on the tab; a passive one (a navigation that may turn
    /// into a download) is not armed at all when an explicit one is, and gets None.
    pub fn arm(self: &Arc<Self>, target_id: &str, explicit: bool) -> Option<ArmedDownload> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut st = self.lock();
        if !explicit && st.waiters.get(target_id).is_some_and(|w| !w.tx.is_closed()) {
            return None;
        }
        st.next_arm += 1;
        let arm_id = st.next_arm;
        if let Some(old) = st.waiters.insert(target_id.to_string(), Waiter { arm_id, tx }) {
            let _ = old.tx.send(DownloadEvent::Superseded);
        }
        Some(ArmedDownload { hub: self.clone(), target_id: target_id.to_string(), arm_id, rx })
    }

    /// Feeds one CDP event; `target_of_session` maps a flat session to its page target and
    /// `is_page_target` says whether an id names a known page. Returns quickly: file moves of
    /// passive downloads run on the blocking pool.
    pub fn on_event(
        &self,
        ev: &CdpEvent,
        target_of_session: impl Fn(&str) -> Option<String>,
        is_page_target: impl Fn(&str) -> bool,
    ) {
        let p = &ev.params;
        let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        match ev.method.as_str() {
            "Page.downloadWillBegin" => {
                let target = ev.session_id.as_deref().and_then(&target_of_session);
                self.begin(s("guid"), target, s("url"), s("suggestedFilename"));
            }
            "Browser.downloadWillBegin" => {
                let frame = s("frameId");
                let target = is_page_target(&frame).then_some(frame);
                self.begin(s("guid"), target, s("url"), s("suggestedFilename"));
            }
            "Browser.downloadProgress" => match p.get("state").and_then(Value::as_str) {
                Some("completed") => {
                    let guid = s("guid");
                    let staged = match p.get("filePath").and_then(Value::as_str) {
                        Some(f) if !f.is_empty() => PathBuf::from(f),
                        _ => self.staging.join(&guid),
                    };
                    self.finish(&guid, Ok(staged));
                }
                Some("canceled") => self.finish(&s("guid"), Err("Download failed: canceled".into())),
                _ => {}
            },
            _ => {}
        }
    }

    fn begin(&self, guid: String, target: Option<String>, url: String, suggested_filename: String) {
        if guid.is_empty() {
            return;
        }
        let mut st = self.lock();
        if st.active.contains_key(&guid) {
            return; // Already seen through the other event.
        }
        let info = DownloadInfo { guid: guid.clone(), url, suggested_filename };
        let owner = target.and_then(|t| st.waiters.remove(&t)).and_then(|w| {
            w.tx.send(DownloadEvent::Began(info.clone())).ok()?;
            Some(w.tx)
        });
        st.active.insert(guid, Active { info, owner, discard: false });
    }

    /// Drops a download its waiter gave up on: when it finishes, its file is deleted rather
    /// than kept as a passive download.
    pub fn discard(&self, guid: &str) {
        if let Some(a) = self.lock().active.get_mut(guid) {
            a.owner = None;
            a.discard = true;
        }
    }

    fn finish(&self, guid: &str, outcome: Result<PathBuf, String>) {
        let Some(active) = self.lock().active.remove(guid) else { return };
        let completed = outcome.is_ok() && !active.discard;
        let event = match &outcome {
            Ok(staged) => DownloadEvent::Finished { staged: staged.clone() },
            Err(e) => DownloadEvent::Failed(e.clone()),
        };
        if active.owner.is_some_and(|tx| tx.send(event).is_ok()) {
            return;
        }
        // Nobody waits (or the waiter gave up): keep it as upstream's passive capture does.
        let root = self.root.clone();
        let name = sanitize_file_name(&active.info.suggested_filename, "download.bin");
        let staged = match outcome {
            Ok(s) => s,
            Err(_) => self.staging.join(guid),
        };
        let spawn = tokio::runtime::Handle::try_current();
        let work = move || {
            if completed {
                let dest = root.join(format!("{}-{name}", uuid::Uuid::new_v4()));
                if let Err(e) = publish_file(&staged, &dest) {
                    tracing::warn!(error = %e, "could not keep a browser download nobody waited for");
                    let _ = std::fs::remove_file(&staged);
                }
            } else {
                let _ = std::fs::remove_file(&staged);
            }
        };
        match spawn {
            Ok(h) => {
                h.spawn_blocking(work);
            }
            Err(_) => work(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(method: &str, session: Option<&str>, params: Value) -> CdpEvent {
        CdpEvent { method: method.into(), session_id: session.map(String::from), params }
    }

    #[test]
    fn waiters_get_their_tabs_download_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let hub = Arc::new(DownloadHub::new(dir.path().to_path_buf()));
        let mut w = hub.arm("T1", true).unwrap();
        let sessions = |s: &str| (s == "S1").then(|| "T1".to_string());
        let pages = |t: &str| t == "T1" || t == "T2";
        // Another tab's download does not reach the waiter.
        hub.on_event(
            &ev(
                "Browser.downloadWillBegin",
                None,
                json!({"frameId": "T2", "guid": "g0", "url": "u0", "suggestedFilename": "x"}),
            ),
            sessions,
            pages,
        );
        hub.on_event(
            &ev(
                "Page.downloadWillBegin",
                Some("S1"),
                json!({"frameId": "T1", "guid": "g1", "url": "http://h/f", "suggestedFilename": "f.txt"}),
            ),
            sessions,
            pages,
        );
        hub.on_event(
            &ev(
                "Browser.downloadWillBegin",
                None,
                json!({"frameId": "T1", "guid": "g1", "url": "http://h/f", "suggestedFilename": "f.txt"}),
            ),
            sessions,
            pages,
        );
        hub.on_event(
            &ev("Browser.downloadProgress", None, json!({"guid": "g1", "state": "completed", "filePath": "/x/g1"})),
            sessions,
            pages,
        );
        match w.rx.try_recv().unwrap() {
            DownloadEvent::Began(i) => assert_eq!((i.guid.as_str(), i.suggested_filename.as_str()), ("g1", "f.txt")),
            other => panic!("{other:?}"),
        }
        match w.rx.try_recv().unwrap() {
            DownloadEvent::Finished { staged } => assert_eq!(staged, PathBuf::from("/x/g1")),
            other => panic!("{other:?}"),
        }
        assert!(w.rx.try_recv().is_err());
    }

    #[test]
    fn explicit_supersedes_and_passive_yields() {
        let dir = tempfile::tempdir().unwrap();
        let hub = Arc::new(DownloadHub::new(dir.path().to_path_buf()));
        let mut first = hub.arm("T1", true).unwrap();
        assert!(hub.arm("T1", false).is_none(), "a passive wait yields to an explicit one");
        let second = hub.arm("T1", true).unwrap();
        assert!(matches!(first.rx.try_recv(), Ok(DownloadEvent::Superseded)));
        drop(second);
        assert!(hub.lock().waiters.is_empty(), "a dropped waiter unregisters");
        assert!(hub.arm("T1", false).is_some());
    }

    #[test]
    fn passive_downloads_are_kept_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let hub = Arc::new(DownloadHub::new(dir.path().to_path_buf()));
        hub.behavior_params().unwrap();
        std::fs::write(dir.path().join(".incoming/g9"), b"data").unwrap();
        let none = |_: &str| None;
        let pages = |t: &str| t == "T1";
        hub.on_event(
            &ev(
                "Browser.downloadWillBegin",
                None,
                json!({"frameId": "T1", "guid": "g9", "url": "u", "suggestedFilename": "../r.csv"}),
            ),
            none,
            pages,
        );
        hub.on_event(&ev("Browser.downloadProgress", None, json!({"guid": "g9", "state": "completed"})), none, pages);
        let kept: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with("-r.csv"))
            .collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(std::fs::read(dir.path().join(&kept[0])).unwrap(), b"data");
    }
}
