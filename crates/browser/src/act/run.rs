//! Executing normalised actions on a tab: one action, or a batch that stops after a failure
//! (unless `stopOnError:false`), after a main-frame navigation, or once the tab is closed.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::broadcast::{error::TryRecvError, Receiver};

use super::element::{Needs, Node};
use super::request::{Act, Action, Button, Elem, Field};
use super::script::clamp_timeout;
use super::Page;
use crate::cdp::CdpEvent;
use crate::error::RouteError;

/// Upstream's interaction timeout: 8000 ms by default, clamped to 500..60000.
pub(super) fn interaction_timeout(ms: Option<u64>) -> Duration {
    Duration::from_millis(ms.unwrap_or(8000).clamp(500, 60_000))
}

/// Watches a tab's events for main-frame navigations and its closing, so a batch can stop
/// and a single action can report the URL it led to.
pub(crate) struct NavWatch {
    rx: Receiver<Arc<CdpEvent>>,
    session: String,
    target: String,
    /// Main-frame navigations seen (cross-document and same-document, as Playwright counts).
    pub navigations: u64,
    /// The tab was closed or detached.
    pub closed: bool,
    loading: bool,
    /// The main frame's last committed URL.
    pub url: String,
}

impl NavWatch {
    /// Starts watching (subscribe before acting, so no event is missed).
    pub(crate) fn new(page: &Page<'_>, url: &str) -> Self {
        Self {
            rx: page.live.cdp.subscribe(),
            session: page.session.to_string(),
            target: page.target.to_string(),
            navigations: 0,
            closed: false,
            loading: false,
            url: url.to_string(),
        }
    }

    fn on(&mut self, ev: &CdpEvent) {
        let p = &ev.params;
        let mine = ev.session_id.as_deref() == Some(self.session.as_str());
        let main = |key: &str| p.get(key).and_then(Value::as_str) == Some(self.target.as_str());
        match ev.method.as_str() {
            "Page.frameNavigated" if mine && p.pointer("/frame/parentId").is_none() => {
                self.navigations += 1;
                if let Some(u) = p.pointer("/frame/url").and_then(Value::as_str) {
                    self.url = u.to_string();
                }
            }
            "Page.navigatedWithinDocument" if mine && main("frameId") => {
                self.navigations += 1;
                if let Some(u) = p.get("url").and_then(Value::as_str) {
                    self.url = u.to_string();
                }
            }
            "Page.frameRequestedNavigation" | "Page.frameStartedLoading" if mine && main("frameId") => {
                self.loading = true
            }
            "Page.frameStoppedLoading" if mine && main("frameId") => self.loading = false,
            "Target.detachedFromTarget"
                if p.get("sessionId").and_then(Value::as_str) == Some(self.session.as_str()) =>
            {
                self.closed = true
            }
            "Target.targetDestroyed" if main("targetId") => self.closed = true,
            _ => {}
        }
    }

    /// Takes in the events that arrived so far.
    pub(crate) fn drain(&mut self) {
        loop {
            match self.rx.try_recv() {
                Ok(ev) => self.on(&ev),
                Err(TryRecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    }

    /// After an action that may navigate: gives a navigation `grace` to start, and one that
    /// started up to 10 s to commit.
    pub(crate) async fn settle(&mut self, grace: Duration) {
        let before = self.navigations;
        let start = tokio::time::Instant::now();
        loop {
            self.drain();
            if self.navigations > before || self.closed {
                return;
            }
            let limit = if self.loading { Duration::from_secs(10) } else { grace };
            if start.elapsed() >= limit {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Whether an action can start a navigation (and so is followed by [`NavWatch::settle`]).
pub(crate) fn may_navigate(a: &Action) -> bool {
    !matches!(
        a,
        Action::Wait(_) | Action::Resize { .. } | Action::Close | Action::ScrollIntoView { .. } | Action::Batch { .. }
    )
}

/// What a batch did.
#[derive(Debug, Default)]
pub(crate) struct BatchOutcome {
    /// `[{ok, error?, navigated?, url?}]`.
    pub results: Vec<Value>,
    /// `{reason, afterAction, url, skipped}` when actions were skipped.
    pub aborted: Option<Value>,
}

impl Page<'_> {
    /// Runs one action; returns `evaluate`'s value.
    pub(crate) async fn run(
        &self,
        act: &Act,
        evaluate_enabled: bool,
        depth: usize,
    ) -> Result<Option<Value>, RouteError> {
        match &act.action {
            Action::Click { el, double, button, modifiers, delay_ms, timeout_ms } => {
                let t = interaction_timeout(*timeout_ms);
                let mods = modifiers.iter().map(|m| super::keys::modifier_bit(m)).fold(0, |a, b| a | b);
                if let Some(d) = delay_ms.filter(|d| *d > 0) {
                    let (_, p) = self.actionable(el, t, Needs { pointer: true, ..Needs::default() }).await?;
                    self.mouse_move(p.0, p.1, mods).await?;
                    tokio::time::sleep(Duration::from_millis(d)).await;
                }
                let (_, p) = self.actionable(el, t, Needs { enabled: true, pointer: true, ..Needs::default() }).await?;
                let count = if *double { 2 } else { 1 };
                self.mouse_click(p, button.unwrap_or(Button::Left), count, mods, Duration::ZERO).await?;
            }
            Action::ClickCoords { x, y, double, button, delay_ms } => {
                let count = if *double { 2 } else { 1 };
                let delay = Duration::from_millis(delay_ms.unwrap_or(0));
                self.mouse_click((*x, *y), button.unwrap_or(Button::Left), count, 0, delay).await?;
            }
            Action::Type { el, text, submit, slowly, timeout_ms } => {
                let t = interaction_timeout(*timeout_ms);
                if *slowly {
                    let (_, p) =
                        self.actionable(el, t, Needs { enabled: true, pointer: true, ..Needs::default() }).await?;
                    self.mouse_click(p, Button::Left, 1, 0, Duration::ZERO).await?;
                    self.type_slowly(text, Duration::from_millis(75)).await?;
                } else {
                    self.fill(el, text, t).await?;
                }
                if *submit {
                    self.press_chord("Enter", Duration::ZERO).await?;
                }
            }
            Action::InsertText { text } => self.insert_text(text).await?,
            Action::Press { key, delay_ms } => {
                self.press_chord(key, Duration::from_millis(delay_ms.unwrap_or(0))).await?
            }
            Action::Hover { el, timeout_ms } => {
                let (_, p) = self
                    .actionable(el, interaction_timeout(*timeout_ms), Needs { pointer: true, ..Needs::default() })
                    .await?;
                self.mouse_move(p.0, p.1, 0).await?;
            }
            Action::ScrollIntoView { el, timeout_ms } => {
                let t = Duration::from_millis(clamp_timeout(*timeout_ms, 20_000));
                self.actionable(el, t, Needs::default()).await?;
            }
            Action::Drag { start, end, timeout_ms } => self.drag(start, end, interaction_timeout(*timeout_ms)).await?,
            Action::Select { el, values, timeout_ms } => {
                self.select(el, values, interaction_timeout(*timeout_ms)).await?
            }
            Action::Fill { fields, timeout_ms } => {
                for f in fields {
                    self.fill_field(f, interaction_timeout(*timeout_ms)).await?;
                }
            }
            Action::Resize { width, height } => {
                self.send(
                    "Emulation.setDeviceMetricsOverride",
                    json!({"width": width, "height": height, "deviceScaleFactor": 0, "mobile": false}),
                )
                .await?;
            }
            Action::Wait(w) => {
                if w.r#fn.is_some() && !evaluate_enabled {
                    return Err(RouteError::internal(
                        "wait --fn is disabled by config (browser.evaluateEnabled=false)",
                    ));
                }
                self.wait_for(w).await?;
            }
            Action::Evaluate { r#fn, r#ref, timeout_ms } => {
                if !evaluate_enabled {
                    return Err(RouteError::internal(
                        "act:evaluate is disabled by config (browser.evaluateEnabled=false)",
                    ));
                }
                let node = match r#ref {
                    Some(r) => Some(self.attached(&Elem::Ref(r.clone()), interaction_timeout(*timeout_ms)).await?),
                    None => None,
                };
                return self.evaluate_fn(r#fn, node.as_ref(), *timeout_ms).await;
            }
            Action::Close => self.close_tab().await?,
            Action::Batch { actions, stop_on_error } => {
                let out = Box::pin(self.batch(actions, *stop_on_error, evaluate_enabled, depth + 1)).await?;
                if let Some(err) = out.results.iter().find_map(|r| r.get("error").and_then(Value::as_str)) {
                    return Err(RouteError::internal(err));
                }
            }
        }
        Ok(None)
    }

    /// Runs a batch (`batchViaPlaywright`).
    pub(crate) async fn batch(
        &self,
        actions: &[Act],
        stop_on_error: Option<bool>,
        evaluate_enabled: bool,
        depth: usize,
    ) -> Result<BatchOutcome, RouteError> {
        let url = self.target_url().await.unwrap_or_default();
        let mut watch = NavWatch::new(self, &url);
        let mut out = BatchOutcome::default();
        let total = actions.len();
        let abort = |out: &mut BatchOutcome, reason: &str, after: usize, url: &str, navigated: bool| {
            if navigated {
                if let Some(Value::Object(last)) = out.results.last_mut() {
                    last.insert("navigated".into(), json!(true));
                    last.insert("url".into(), json!(url));
                }
            }
            let skipped = total - after;
            if skipped > 0 {
                out.aborted = Some(json!({"reason": reason, "afterAction": after, "url": url, "skipped": skipped}));
            }
        };
        let mut seen = 0;
        for (i, act) in actions.iter().enumerate() {
            watch.drain();
            if watch.closed {
                abort(&mut out, "closed", i, &watch.url, false);
                return Ok(out);
            }
            if watch.navigations > seen {
                abort(&mut out, "navigation", i, &watch.url, true);
                return Ok(out);
            }
            seen = watch.navigations;
            let result = match self.run(act, evaluate_enabled, depth).await {
                Ok(_) => json!({"ok": true}),
                Err(e) => {
                    let msg = e.message.strip_prefix("Error: ").unwrap_or(&e.message).to_string();
                    json!({"ok": false, "error": msg})
                }
            };
            let failed = result["ok"] == false;
            out.results.push(result);
            if may_navigate(&act.action) {
                watch.settle(Duration::from_millis(250)).await;
            }
            watch.drain();
            if watch.closed || matches!(act.action, Action::Close) && !failed {
                abort(&mut out, "closed", i + 1, &watch.url, false);
                return Ok(out);
            }
            if watch.navigations > seen {
                abort(&mut out, "navigation", i + 1, &watch.url, true);
                return Ok(out);
            }
            if failed && stop_on_error != Some(false) {
                break;
            }
        }
        Ok(out)
    }

    /// The tab's URL from the browser (works while a dialog blocks the page).
    pub(crate) async fn target_url(&self) -> Option<String> {
        let r = self.live.cdp.send("Target.getTargetInfo", json!({"targetId": self.target}), None).await.ok()?;
        r.pointer("/targetInfo/url").and_then(Value::as_str).map(str::to_string)
    }

    /// Closes the tab and waits until the browser no longer lists it.
    async fn close_tab(&self) -> Result<(), RouteError> {
        self.live.cdp.send("Target.closeTarget", json!({"targetId": self.target}), None).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while tokio::time::Instant::now() < deadline {
            let Ok(r) = self.live.cdp.send("Target.getTargets", json!({}), None).await else { break };
            let listed = r
                .get("targetInfos")
                .and_then(Value::as_array)
                .is_some_and(|ts| ts.iter().any(|t| t.get("targetId").and_then(Value::as_str) == Some(self.target)));
            if !listed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(())
    }

    /// Waits until `el` is on the page (visible or not), as `locator.evaluate` does.
    async fn attached(&self, el: &Elem, timeout: Duration) -> Result<Node, RouteError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(n) = self.find(el).await? {
                return Ok(n);
            }
            if tokio::time::Instant::now() >= deadline {
                let label: String = el.label().chars().take(200).collect();
                return Err(RouteError::act_failed(format!(
                    "Element \"{label}\" not found or not visible. Run a new snapshot to see current page elements."
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One `fill` field: checkboxes and radios are checked or unchecked, the rest filled.
    async fn fill_field(&self, f: &Field, t: Duration) -> Result<(), RouteError> {
        let el = Elem::Ref(f.r#ref.clone());
        if f.kind == "checkbox" || f.kind == "radio" {
            let on = matches!(&f.value, Some(Value::Bool(true)))
                || f.value.as_ref().and_then(Value::as_f64) == Some(1.0)
                || matches!(f.value.as_ref().and_then(Value::as_str), Some("1" | "true"));
            return self.set_checked(&el, on, t).await;
        }
        let text = match &f.value {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => super::values::js_number_string(n),
            Some(Value::Bool(b)) => b.to_string(),
            _ => String::new(),
        };
        self.fill(&el, &text, t).await
    }

    /// Drags from one element's centre to another's with intermediate mouse moves.
    async fn drag(&self, start: &Elem, end: &Elem, t: Duration) -> Result<(), RouteError> {
        let pointer = Needs { pointer: true, ..Needs::default() };
        let (_, a) = self.actionable(start, t, pointer).await?;
        self.mouse_move(a.0, a.1, 0).await?;
        self.mouse_button(a, true).await?;
        let (_, b) = match self.actionable(end, t, pointer).await {
            Ok(x) => x,
            Err(e) => {
                let _ = self.mouse_button(a, false).await;
                return Err(e);
            }
        };
        for step in 1..=5 {
            let f = f64::from(step) / 5.0;
            self.mouse_move(a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f, 0).await?;
        }
        self.mouse_button(b, false).await
    }
}
