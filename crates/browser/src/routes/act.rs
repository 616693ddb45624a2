//! `POST /act`, `POST /hooks/dialog`, `POST /hooks/file-chooser` and `GET /dialogs` (upstream
//! `routes/agent.act.ts`, `agent.act.hooks.ts`). The work itself is in [`crate::act`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{body_str, q_target, target_payload, BrowserControl, RouteResult};
use crate::act::dialogs::DialogAnswer;
use crate::act::request::{Act, Action};
use crate::act::run::{may_navigate, NavWatch};
use crate::act::{check, Elem, Page};
use crate::error::RouteError;
use crate::ssrf::assert_result_allowed;
use crate::tabs::{resolve, Tab};

/// Every nested `targetId` must name the route's tab (`canonicalizeActTargetIds`): the
/// action's own against that tab, a batch member's against all tabs.
fn check_target_ids(act: &Act, tab: &Tab, tabs: &[Tab], batched: bool) -> Result<(), RouteError> {
    if let Some(t) = &act.target_id {
        let pool: &[Tab] = if batched { tabs } else { std::slice::from_ref(tab) };
        if resolve(t, pool).map(|x| x.target_id != tab.target_id).unwrap_or(true) {
            let msg = if batched {
                "batched action targetId must match request targetId"
            } else {
                "action targetId must match request targetId"
            };
            return Err(RouteError::act(403, "ACT_TARGET_ID_MISMATCH", msg));
        }
    }
    if let Action::Batch { actions, .. } = &act.action {
        for a in actions {
            check_target_ids(a, tab, tabs, true)?;
        }
    }
    Ok(())
}

fn has_nested_target(act: &Act) -> bool {
    matches!(&act.action, Action::Batch { actions, .. } if actions.iter().any(|a| a.target_id.is_some() || has_nested_target(a)))
}

/// `{ok, targetId, url?}` plus `extra`.
fn ok_body(target: &str, url: &str, extra: Map<String, Value>) -> Value {
    let mut m = Map::new();
    m.insert("ok".into(), json!(true));
    m.insert("targetId".into(), json!(target));
    if !url.is_empty() {
        m.insert("url".into(), json!(url));
    }
    m.extend(extra);
    Value::Object(m)
}

/// A timeoutMs field read with upstream's strict positive-integer rule.
fn timeout_field(body: &Value) -> Result<Option<u64>, RouteError> {
    crate::act::request::timeout_field(body).map_err(RouteError::bad_request)
}

impl BrowserControl {
    pub(super) async fn act(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let evaluate_enabled = self.shared.settings.evaluate_enabled;
        let act = check(body, evaluate_enabled)?;
        let rt = self.profile_for(q, body)?;
        let enforce = !matches!(act.action, Action::Resize { .. } | Action::Close);
        let (tab, live, session) = self.tab_context(&rt, body_str(body, "targetId"), enforce).await?;
        let tabs = if has_nested_target(&act) { rt.list_tabs().await? } else { Vec::new() };
        check_target_ids(&act, &tab, &tabs, false)?;
        let page = Page { live: &live, session: &session, target: &tab.target_id };
        let blocked = || {
            let mut m = Map::new();
            m.insert("blockedByDialog".into(), json!(true));
            m.insert("browserState".into(), live.act.browser_state(&tab.target_id));
            m
        };
        if live.act.dialog_pending(&tab.target_id) {
            let url = page.target_url().await.unwrap_or_else(|| tab.url.clone());
            return Ok(ok_body(&tab.target_id, &url, blocked()));
        }
        // A click may start a download: capture it passively (an explicit wait on the tab wins).
        let download_capture = live.downloads.arm(&tab.target_id, false);
        let mut watch = NavWatch::new(&page, &tab.url);
        let work = async {
            let extra = match &act.action {
                Action::Batch { actions, stop_on_error } => {
                    let out = page.batch(actions, *stop_on_error, evaluate_enabled, 0).await?;
                    let mut m = Map::new();
                    m.insert("results".into(), Value::Array(out.results));
                    if let Some(a) = out.aborted {
                        m.insert("aborted".into(), a);
                    }
                    m
                }
                _ => {
                    let result = page.run(&act, evaluate_enabled, 0).await?;
                    if may_navigate(&act.action) {
                        watch.settle(Duration::from_millis(250)).await;
                    }
                    let mut m = Map::new();
                    if let (Action::Evaluate { .. }, Some(v)) = (&act.action, result) {
                        m.insert("result".into(), v);
                    }
                    m
                }
            };
            Ok::<_, RouteError>(extra)
        };
        let extra = tokio::select! {
            r = work => r?,
            _ = live.act.dialog_blocks(&tab.target_id) => {
                let url = page.target_url().await.unwrap_or_else(|| tab.url.clone());
                return Ok(ok_body(&tab.target_id, &url, blocked()));
            }
        };
        let closed = extra.get("aborted").is_some_and(|a| a["reason"] == "closed");
        if closed || matches!(act.action, Action::Close) {
            // The closed tab is no longer the sticky one (as DELETE /tabs/:id does).
            let mut st = rt.tabs.lock().unwrap_or_else(|p| p.into_inner());
            if st.last_target_id.as_deref() == Some(tab.target_id.as_str()) {
                st.last_target_id = None;
            }
        }
        let mut extra = extra;
        if let Some(armed) = download_capture {
            // Upstream gives a pointer action 250 ms to start a download; ours already waited
            // that long for a navigation (`settle` above), so a download it started has begun.
            if let Some(d) = self.act_download(&live, armed, Duration::ZERO).await? {
                extra.insert("downloads".into(), json!([d]));
            }
        }
        if matches!(act.action, Action::Close) {
            return Ok(ok_body(&tab.target_id, &tab.url, extra));
        }
        // The main frame's URL as the event stream last reported it (Playwright's `page.url()`);
        // the browser's target info lags (or is empty) while a navigation commits.
        watch.drain();
        let url = match (closed, watch.navigations > 0) {
            (true, _) => tab.url.clone(),
            (false, true) => watch.url.clone(),
            (false, false) => page.target_url().await.filter(|u| !u.is_empty()).unwrap_or_else(|| tab.url.clone()),
        };
        if !closed {
            assert_result_allowed(&url, &self.shared.settings.ssrf).await?;
        }
        Ok(ok_body(&tab.target_id, &url, extra))
    }

    pub(super) async fn hook_dialog(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let accept = crate::act::request::body_bool(body, "accept");
        let prompt_text = body.get("promptText").and_then(Value::as_str).map(str::to_string);
        let timeout = timeout_field(body)?;
        let dialog_id = body_str(body, "dialogId");
        let Some(accept) = accept else { return Err(RouteError::bad_request("accept is required")) };
        let rt = self.profile_for(q, body)?;
        let (tab, live, session) = self.tab_context(&rt, body_str(body, "targetId"), true).await?;
        let arm_for = Duration::from_millis(timeout.unwrap_or(120_000).clamp(500, 120_000));
        let answer = DialogAnswer { accept, prompt_text, dialog_id, arm_for };
        live.act.answer_dialog(&live.cdp, &tab.target_id, &session, answer).await?;
        Ok(json!({"ok": true}))
    }

    /// `GET /dialogs`: the tab's pending and recent JavaScript dialogs, without touching it.
    pub(super) async fn dialogs(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let rt = self.profile_for(q, body)?;
        let (tab, live, _) = self.tab_context(&rt, q_target(q), true).await?;
        let mut out = target_payload(&tab);
        out.insert("browserState".into(), live.act.browser_state(&tab.target_id));
        Ok(Value::Object(out))
    }

    pub(super) async fn hook_file_chooser(&self, q: &BTreeMap<String, String>, body: &Value) -> RouteResult {
        let r = body_str(body, "ref");
        let input_ref = body_str(body, "inputRef");
        let element = body_str(body, "element");
        let paths = crate::act::request::body_strings(body, "paths");
        let timeout = timeout_field(body)?;
        if paths.is_empty() {
            return Err(RouteError::bad_request("paths are required"));
        }
        let rt = self.profile_for(q, body)?;
        let (tab, live, session) = self.tab_context(&rt, body_str(body, "targetId"), true).await?;
        crate::act::upload::check_paths(&paths)?;
        let page = Page { live: &live, session: &session, target: &tab.target_id };
        match (&input_ref, &element, &r) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(RouteError::bad_request("ref cannot be combined with inputRef/element"))
            }
            (Some(_), Some(_), None) => {
                return Err(RouteError::internal("inputRef and element are mutually exclusive"))
            }
            (Some(i), None, None) => page.set_input_files(&Elem::Ref(i.clone()), &paths, timeout).await?,
            (None, Some(e), None) => page.set_input_files(&Elem::Selector(e.clone()), &paths, timeout).await?,
            (None, None, Some(r)) => page.upload_via_click(r, &paths, timeout).await?,
            (None, None, None) => page.arm_upload(paths, timeout).await?,
        }
        Ok(json!({"ok": true}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tab(id: &str, alias: &str) -> Tab {
        Tab {
            target_id: id.into(),
            title: String::new(),
            url: String::new(),
            ws_url: None,
            kind: "page".into(),
            tab_id: alias.into(),
            label: None,
        }
    }

    #[test]
    fn nested_target_ids_must_name_the_route_tab() {
        let (a, b) = (tab("AAAA1111", "t1"), tab("BBBB2222", "t2"));
        let tabs = vec![a.clone(), b.clone()];
        let obj = |v: Value| crate::act::request::normalize(v.as_object().unwrap(), 0, false).unwrap();
        let ok = obj(
            json!({"kind": "batch", "targetId": "t1", "actions": [{"kind": "press", "key": "a", "targetId": "AAAA"}]}),
        );
        assert!(check_target_ids(&ok, &a, &tabs, false).is_ok());
        let bad = obj(json!({"kind": "batch", "actions": [{"kind": "press", "key": "a", "targetId": "t2"}]}));
        let e = check_target_ids(&bad, &a, &tabs, false).unwrap_err();
        assert_eq!(
            (e.status, e.code, e.message.as_str()),
            (403, Some("ACT_TARGET_ID_MISMATCH"), "batched action targetId must match request targetId")
        );
        let top = obj(json!({"kind": "press", "key": "a", "targetId": "t2"}));
        assert_eq!(
            check_target_ids(&top, &a, &tabs, false).unwrap_err().message,
            "action targetId must match request targetId"
        );
        assert!(has_nested_target(&bad) && !has_nested_target(&top));
    }
}
