//! CDP helpers for one page: its flat session, waiting for events and loads, evaluating
//! script. Shared by every route that acts on a tab.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cdp::CdpEvent;
use crate::control::Live;
use crate::error::RouteError;

/// The flat session of a page: the auto-attached one, else a fresh `Target.attachToTarget`.
pub(crate) async fn session_for(live: &Live, target_id: &str) -> Result<String, RouteError> {
    if let Some(s) = live.sessions.lock().unwrap_or_else(|p| p.into_inner()).get(target_id) {
        return Ok(s.clone());
    }
    let r = live.cdp.send("Target.attachToTarget", json!({"targetId": target_id, "flatten": true}), None).await?;
    let s = r
        .get("sessionId")
        .and_then(Value::as_str)
        .ok_or_else(|| RouteError::internal("CDP Target.attachToTarget returned no sessionId"))?
        .to_string();
    for m in ["Runtime.enable", "Network.enable", "Page.enable"] {
        let _ = live.cdp.send(m, json!({}), Some(&s)).await;
    }
    live.sessions.lock().unwrap_or_else(|p| p.into_inner()).insert(target_id.to_string(), s.clone());
    live.logs.lock().unwrap_or_else(|p| p.into_inner()).entry(target_id.to_string()).or_default();
    Ok(s)
}

pub(crate) async fn wait_event(
    mut rx: tokio::sync::broadcast::Receiver<Arc<CdpEvent>>,
    timeout: Duration,
    pred: impl Fn(&CdpEvent) -> bool,
) -> Option<Arc<CdpEvent>> {
    let fut = async {
        loop {
            match rx.recv().await {
                Ok(ev) if pred(&ev) => return Some(ev),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    };
    tokio::time::timeout(timeout, fut).await.ok().flatten()
}

/// Waits for the auto-attach of a new target and returns its session.
pub(crate) async fn wait_session(
    live: &Live,
    target_id: &str,
    rx: tokio::sync::broadcast::Receiver<Arc<CdpEvent>>,
    timeout: Duration,
) -> Option<String> {
    if let Some(s) = live.sessions.lock().unwrap_or_else(|p| p.into_inner()).get(target_id) {
        return Some(s.clone());
    }
    let ev = wait_event(rx, timeout, |ev| {
        ev.method == "Target.attachedToTarget"
            && ev.params.pointer("/targetInfo/targetId").and_then(Value::as_str) == Some(target_id)
    })
    .await;
    ev.and_then(|e| e.params.get("sessionId").and_then(Value::as_str).map(str::to_string))
        .or_else(|| live.sessions.lock().unwrap_or_else(|p| p.into_inner()).get(target_id).cloned())
}

/// Waits until the page's document has loaded (`readyState == "complete"`), polling, since
/// the load event may fire before we subscribe.
pub(crate) async fn wait_load(live: &Live, session: &str, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        let state = eval_string(live, session, "document.readyState + '|' + location.href").await;
        if let Some(s) = state {
            if s.starts_with("complete|") && !s.ends_with("|about:blank") {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn evaluate(live: &Live, session: &str, expr: &str) -> Result<Value, RouteError> {
    let r = live
        .cdp
        .send(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            Some(session),
        )
        .await?;
    if let Some(ex) = r.get("exceptionDetails") {
        let msg = ex
            .pointer("/exception/description")
            .and_then(Value::as_str)
            .or_else(|| ex.get("text").and_then(Value::as_str))
            .unwrap_or("evaluation failed");
        return Err(RouteError::internal(msg.lines().next().unwrap_or(msg)));
    }
    Ok(r.pointer("/result/value").cloned().unwrap_or(Value::Null))
}

pub(crate) async fn eval_string(live: &Live, session: &str, expr: &str) -> Option<String> {
    let r = live
        .cdp
        .send_timeout(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
            Some(session),
            Duration::from_secs(5),
        )
        .await
        .ok()?;
    r.pointer("/result/value").and_then(Value::as_str).map(str::to_string)
}

pub(crate) async fn current_url(live: &Live, session: &str) -> Option<String> {
    eval_string(live, session, "location.href").await
}
