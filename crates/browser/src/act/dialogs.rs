//! JavaScript dialogs (`alert`, `confirm`, `prompt`, `beforeunload`) per tab, as upstream's
//! `pw-session-dialogs.ts` observes them.
//!
//! A dialog freezes its page: every later CDP call into the renderer waits until it is
//! answered. So the event pump records each `Page.javascriptDialogOpening` here (ids `d1`,
//! `d2`, … per tab) and wakes `/act`, which then answers `blockedByDialog` instead of hanging;
//! `/hooks/dialog` answers a pending dialog, or arms a one-shot answer for the next one.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::ActState;
use crate::cdp::CdpClient;
use crate::error::RouteError;
use crate::pagelog::iso_now;

/// Upstream keeps the last 20 closed dialogs.
const MAX_RECENT: usize = 20;

/// One dialog as upstream serialises it.
#[derive(Debug, Clone)]
struct Dialog {
    id: String,
    kind: String,
    message: String,
    default_value: Option<String>,
    opened_at: String,
}

impl Dialog {
    fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("type".into(), json!(self.kind));
        m.insert("message".into(), json!(self.message));
        if let Some(d) = &self.default_value {
            m.insert("defaultValue".into(), json!(d));
        }
        m.insert("openedAt".into(), json!(self.opened_at));
        m
    }
}

/// A one-shot answer for the next dialog, valid until it expires.
#[derive(Debug, Clone)]
struct Armed {
    accept: bool,
    prompt_text: Option<String>,
    expires: Instant,
}

/// A `/hooks/dialog` request.
#[derive(Debug, Clone)]
pub(crate) struct DialogAnswer {
    /// Accept (OK) or dismiss (Cancel).
    pub accept: bool,
    /// The text a prompt answers with.
    pub prompt_text: Option<String>,
    /// Which pending dialog; the only one when None.
    pub dialog_id: Option<String>,
    /// How long an armed answer waits for its dialog.
    pub arm_for: Duration,
}

/// The dialogs of one tab.
#[derive(Debug, Default)]
pub(crate) struct DialogState {
    next_id: u64,
    pending: Vec<Dialog>,
    recent: VecDeque<Map<String, Value>>,
    armed: Option<Armed>,
}

impl DialogState {
    fn close(&mut self, d: Dialog, by: &str) {
        let mut rec = d.to_json();
        rec.insert("closedAt".into(), json!(iso_now()));
        rec.insert("closedBy".into(), json!(by));
        self.recent.push_back(rec);
        while self.recent.len() > MAX_RECENT {
            self.recent.pop_front();
        }
    }

    /// `{dialogs: {pending, recent}}`, upstream's `browserState`.
    pub(crate) fn browser_state(&self) -> Value {
        let pending: Vec<Value> = self.pending.iter().map(|d| Value::Object(d.to_json())).collect();
        let recent: Vec<Value> = self.recent.iter().cloned().map(Value::Object).collect();
        json!({"dialogs": {"pending": pending, "recent": recent}})
    }

    /// Records an opening dialog; returns the armed answer when one was waiting for it.
    fn open(&mut self, p: &Value) -> Option<Armed> {
        self.next_id += 1;
        let kind = p.get("type").and_then(Value::as_str).unwrap_or("alert").to_string();
        let d = Dialog {
            id: format!("d{}", self.next_id),
            default_value: (kind == "prompt")
                .then(|| p.get("defaultPrompt").and_then(Value::as_str).unwrap_or("").to_string()),
            kind,
            message: p.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
            opened_at: iso_now(),
        };
        match self.armed.take() {
            Some(a) if a.expires > Instant::now() => {
                self.close(d, "armed");
                Some(a)
            }
            _ => {
                self.pending.push(d);
                None
            }
        }
    }
}

impl ActState {
    fn with_dialogs<R>(&self, target: &str, f: impl FnOnce(&mut DialogState) -> R) -> R {
        let mut map = self.dialogs.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry(target.to_string()).or_default())
    }

    /// True while a dialog blocks the tab.
    pub(crate) fn dialog_pending(&self, target: &str) -> bool {
        self.with_dialogs(target, |d| !d.pending.is_empty())
    }

    /// The tab's `browserState`.
    pub(crate) fn browser_state(&self, target: &str) -> Value {
        self.with_dialogs(target, |d| d.browser_state())
    }

    /// Resolves once a dialog blocks `target` (at once if one already does).
    pub(crate) async fn dialog_blocks(&self, target: &str) {
        loop {
            let notified = self.dialog_opened.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.dialog_pending(target) {
                return;
            }
            notified.await;
        }
    }

    /// Feeds the `Page.javascriptDialog*` events of `target`'s session (called by the pump).
    pub(crate) fn on_dialog_event(&self, cdp: &CdpClient, target: &str, session: &str, method: &str, p: &Value) {
        match method {
            "Page.javascriptDialogOpening" => {
                if let Some(a) = self.with_dialogs(target, |d| d.open(p)) {
                    let (cdp, session) = (cdp.clone(), session.to_string());
                    tokio::spawn(async move {
                        let _ = cdp
                            .send(
                                "Page.handleJavaScriptDialog",
                                answer(a.accept, a.prompt_text.as_deref()),
                                Some(&session),
                            )
                            .await;
                    });
                } else {
                    self.dialog_opened.notify_waiters();
                }
            }
            "Page.javascriptDialogClosed" => self.with_dialogs(target, |d| {
                // Answered elsewhere (a person, a navigation): no longer pending.
                if !d.pending.is_empty() {
                    let gone = d.pending.remove(0);
                    d.close(gone, "remote");
                }
            }),
            _ => {}
        }
    }

    /// `/hooks/dialog`: answers the pending dialog `dialog_id` (or the only pending one), or,
    /// with none pending and no id, arms a one-shot answer for the next dialog for `arm_for`.
    pub(crate) async fn answer_dialog(
        &self,
        cdp: &CdpClient,
        target: &str,
        session: &str,
        a: DialogAnswer,
    ) -> Result<(), RouteError> {
        let DialogAnswer { accept, prompt_text, dialog_id, arm_for } = a;
        let picked = self.with_dialogs(target, |d| -> Result<Option<Dialog>, RouteError> {
            let idx = match &dialog_id {
                Some(id) => Some(
                    d.pending
                        .iter()
                        .position(|x| &x.id == id)
                        .ok_or_else(|| RouteError::internal(format!("Dialog \"{id}\" is not pending.")))?,
                ),
                None if d.pending.len() > 1 => {
                    return Err(RouteError::internal("Multiple dialogs are pending; pass dialogId."))
                }
                None if d.pending.len() == 1 => Some(0),
                None => None,
            };
            match idx {
                Some(i) => Ok(Some(d.pending.remove(i))),
                None => {
                    d.armed =
                        Some(Armed { accept, prompt_text: prompt_text.clone(), expires: Instant::now() + arm_for });
                    Ok(None)
                }
            }
        })?;
        let Some(dialog) = picked else { return Ok(()) };
        let by = match cdp
            .send("Page.handleJavaScriptDialog", answer(accept, prompt_text.as_deref()), Some(session))
            .await
        {
            Ok(_) => "agent",
            Err(e) if e.to_string().to_ascii_lowercase().contains("no dialog is showing") => "remote",
            Err(e) => return Err(e.into()),
        };
        self.with_dialogs(target, |d| d.close(dialog, by));
        Ok(())
    }
}

fn answer(accept: bool, prompt_text: Option<&str>) -> Value {
    let mut p = json!({"accept": accept});
    if let (true, Some(t)) = (accept, prompt_text) {
        p["promptText"] = json!(t);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialogs_are_numbered_recorded_and_answered_by_arming() {
        let mut s = DialogState::default();
        assert!(s.open(&json!({"type": "alert", "message": "hi"})).is_none());
        assert!(s.open(&json!({"type": "prompt", "message": "name?", "defaultPrompt": "bob"})).is_none());
        let st = s.browser_state();
        assert_eq!(st["dialogs"]["pending"][0]["id"], "d1");
        assert!(st["dialogs"]["pending"][0].get("defaultValue").is_none(), "only prompts carry defaultValue");
        assert_eq!(st["dialogs"]["pending"][1]["defaultValue"], "bob");
        s.pending.clear();
        s.armed = Some(Armed { accept: true, prompt_text: None, expires: Instant::now() + Duration::from_secs(5) });
        assert!(s.open(&json!({"type": "confirm", "message": "ok?"})).is_some());
        assert!(s.pending.is_empty());
        assert_eq!(s.recent.back().unwrap()["closedBy"], "armed");
        assert!(s.open(&json!({"type": "confirm", "message": "again"})).is_none(), "arming is one-shot");
        for _ in 0..30 {
            let d = s.pending.pop().unwrap_or(Dialog {
                id: "x".into(),
                kind: "alert".into(),
                message: String::new(),
                default_value: None,
                opened_at: iso_now(),
            });
            s.close(d, "agent");
        }
        assert_eq!(s.recent.len(), MAX_RECENT);
        assert_eq!(answer(false, Some("t")), json!({"accept": false}));
    }
}
