//! Finding the element an action names (a snapshot ref or a CSS selector) and waiting until
//! it can be acted on, as Playwright's actionability checks do: attached and visible, enabled,
//! editable when typing, and receiving pointer events at its centre. Checks are retried every
//! 100 ms until the action's timeout; the last reason becomes upstream's message.

use std::time::Duration;

use serde_json::{json, Value};

use super::request::Elem;
use super::Page;
use crate::error::RouteError;
use crate::refs::{is_known, normalize_ref, resolve_ref};

/// How often a failed check is retried.
const POLL: Duration = Duration::from_millis(100);

/// An element on the live page.
#[derive(Debug, Clone)]
pub(super) struct Node {
    /// For `Runtime.callFunctionOn`.
    pub object_id: String,
    /// For `DOM.*` and hit testing.
    pub backend: i64,
}

/// What actionability must hold beyond "attached and visible".
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Needs {
    /// Not `:disabled` and not inside `aria-disabled="true"`.
    pub enabled: bool,
    /// Not read-only.
    pub editable: bool,
    /// Its centre must hit it (it receives the click); also yields the point.
    pub pointer: bool,
}

/// Why the element is not ready yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    NotFound,
    NotVisible,
    Covered,
    NotEnabled,
    NotEditable,
}

/// Upstream's `toAIFriendlyError` texts (500 `ACT_OPERATION_FAILED`).
fn failure_error(f: Failure, label: &str) -> RouteError {
    let label: String = label.chars().take(200).collect();
    RouteError::act_failed(match f {
        Failure::NotFound => {
            format!("Element \"{label}\" not found or not visible. Run a new snapshot to see current page elements.")
        }
        Failure::NotVisible => format!("Element \"{label}\" is not interactable (not visible). Try scrolling it into view, closing overlays, or re-snapshotting."),
        Failure::Covered => format!("Element \"{label}\" is not interactable (covered; another element intercepts pointer events). Try scrolling it into view, closing overlays, or re-snapshotting."),
        Failure::NotEnabled => {
            format!("Element \"{label}\" is not enabled. Complete any prerequisites that enable the control.")
        }
        Failure::NotEditable => {
            format!("Element \"{label}\" is not editable (for example, read-only). Use an editable control.")
        }
    })
}

/// A CDP failure while the page changes under us (a navigation destroying the execution
/// context, a node from the old document) means "not there yet": keep polling. Errors of our
/// own making (unknown ref, several matches, a bad selector) stand.
fn transient(e: RouteError) -> Result<Option<Node>, RouteError> {
    if e.message.starts_with("Error: CDP ") && !e.message.contains("timed out") {
        Ok(None)
    } else {
        Err(e)
    }
}

/// Upstream's strict-mode text for a selector matching several elements.
pub(super) fn matched_many(label: &str, n: u64) -> RouteError {
    let label: String = label.chars().take(200).collect();
    RouteError::act_failed(format!(
        "Selector \"{label}\" matched {n} elements. Run a new snapshot to get updated refs, or use a different ref."
    ))
}

/// The first line of a JavaScript exception, for errors raised by page script.
pub(super) fn exception_text(ex: &Value) -> String {
    let msg = ex
        .pointer("/exception/description")
        .and_then(Value::as_str)
        .or_else(|| ex.pointer("/exception/value").and_then(Value::as_str))
        .or_else(|| ex.get("text").and_then(Value::as_str))
        .unwrap_or("script failed");
    msg.lines().next().unwrap_or(msg).to_string()
}

impl Page<'_> {
    /// One CDP command to this page's session.
    pub(super) async fn send(&self, method: &str, params: Value) -> Result<Value, RouteError> {
        Ok(self.live.cdp.send(method, params, Some(self.session)).await?)
    }

    /// Calls `decl` with `this` = the object and JSON `args`; returns the value (page script
    /// exceptions become `Error: <first line>`).
    pub(super) async fn call_on(&self, object_id: &str, decl: &str, args: &[Value]) -> Result<Value, RouteError> {
        let args: Vec<Value> = args.iter().map(|a| json!({"value": a})).collect();
        let r = self
            .send(
                "Runtime.callFunctionOn",
                json!({"objectId": object_id, "functionDeclaration": decl, "arguments": args,
                       "returnByValue": true, "awaitPromise": true, "userGesture": true}),
            )
            .await?;
        if let Some(ex) = r.get("exceptionDetails") {
            return Err(RouteError::internal(exception_text(ex)));
        }
        Ok(r.pointer("/result/value").cloned().unwrap_or(Value::Null))
    }

    async fn node_for_object(&self, object_id: String) -> Result<Node, RouteError> {
        let d = self.send("DOM.describeNode", json!({"objectId": object_id})).await?;
        let backend = d
            .pointer("/node/backendNodeId")
            .and_then(Value::as_i64)
            .ok_or_else(|| RouteError::internal("CDP DOM.describeNode returned no backendNodeId"))?;
        Ok(Node { object_id, backend })
    }

    /// Matches of `selector` in the document: the only (or, with `first`, the first) element,
    /// None when nothing matches, or the count when a strict lookup matches several.
    pub(super) async fn query(&self, selector: &str, first: bool) -> Result<Result<Option<Node>, u64>, RouteError> {
        let sel = serde_json::to_string(selector).unwrap_or_default();
        let expr = if first {
            format!("document.querySelector({sel})")
        } else {
            format!(
                "(() => {{ const l = document.querySelectorAll({sel}); return l.length === 1 ? l[0] : l.length; }})()"
            )
        };
        let r = self.send("Runtime.evaluate", json!({"expression": expr})).await?;
        if let Some(ex) = r.get("exceptionDetails") {
            return Err(RouteError::internal(exception_text(ex)));
        }
        let res = r.get("result").cloned().unwrap_or(Value::Null);
        if let Some(n) = res.get("value").and_then(Value::as_u64) {
            return Ok(if n > 1 { Err(n) } else { Ok(None) });
        }
        match res.get("objectId").and_then(Value::as_str) {
            Some(o) => Ok(Ok(Some(self.node_for_object(o.to_string()).await?))),
            None => Ok(Ok(None)),
        }
    }

    /// Finds `el` now: Ok(None) while it is not (yet) on the page. A ref that is not in the
    /// tab's current snapshot is upstream's "Unknown ref" error at once; a ref whose element
    /// is gone is polled like a selector that does not match yet.
    pub(super) async fn find(&self, el: &Elem) -> Result<Option<Node>, RouteError> {
        match el {
            Elem::Selector(s) => self.query(s, false).await?.map_err(|n| matched_many(s, n)),
            Elem::Ref(raw) => {
                let id = normalize_ref(raw);
                let known = is_known(self.live, self.target, &id);
                match resolve_ref(self.live, self.session, self.target, raw).await {
                    Ok(r) => Ok(Some(Node { object_id: r.object_id, backend: r.backend_node_id })),
                    Err(e) => {
                        if known && is_known(self.live, self.target, &id) {
                            Ok(None)
                        } else {
                            Err(e)
                        }
                    }
                }
            }
        }
    }

    /// Finds `el` and waits (up to `timeout`) until it is actionable for `needs`; returns the
    /// node and, with `needs.pointer`, the viewport point to click.
    pub(super) async fn actionable(
        &self,
        el: &Elem,
        timeout: Duration,
        needs: Needs,
    ) -> Result<(Node, (f64, f64)), RouteError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let last = match self.find(el).await.or_else(transient)? {
                None => Failure::NotFound,
                Some(node) => match self.check(&node, needs).await {
                    Ok(Ok(point)) => return Ok((node, point)),
                    Ok(Err(f)) => f,
                    Err(e) => transient(e).map(|_| Failure::NotFound)?,
                },
            };
            if tokio::time::Instant::now() + POLL > deadline {
                return Err(failure_error(last, el.label()));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// One round of the checks on a found node.
    async fn check(&self, node: &Node, needs: Needs) -> Result<Result<(f64, f64), Failure>, RouteError> {
        let state = self.call_on(&node.object_id, STATE_JS, &[]).await?;
        let flag = |k: &str| state.get(k).and_then(Value::as_bool).unwrap_or(false);
        if !flag("visible") {
            return Ok(Err(if flag("connected") { Failure::NotVisible } else { Failure::NotFound }));
        }
        if needs.enabled && !flag("enabled") {
            return Ok(Err(Failure::NotEnabled));
        }
        if needs.editable && flag("readonly") {
            return Ok(Err(Failure::NotEditable));
        }
        let _ = self.send("DOM.scrollIntoViewIfNeeded", json!({"objectId": node.object_id})).await;
        if !needs.pointer {
            return Ok(Ok((0.0, 0.0)));
        }
        let Some(point) = self.centre(node).await else { return Ok(Err(Failure::NotVisible)) };
        let hit = self
            .send(
                "DOM.getNodeForLocation",
                json!({"x": point.0.floor() as i64, "y": point.1.floor() as i64, "includeUserAgentShadowDOM": true, "ignorePointerEventsNone": false}),
            )
            .await;
        let Some(hit) = hit.ok().and_then(|h| h.get("backendNodeId").and_then(Value::as_i64)) else {
            return Ok(Err(Failure::Covered));
        };
        if hit == node.backend || self.contains(node, hit).await {
            Ok(Ok(point))
        } else {
            Ok(Err(Failure::Covered))
        }
    }

    /// The element's box in page (document) CSS pixels once it is visible and scrolled into
    /// view, waiting up to `timeout`: the clip of an element screenshot.
    pub(crate) async fn element_box(&self, el: &Elem, timeout: Duration) -> Result<(f64, f64, f64, f64), RouteError> {
        let (node, _) = self.actionable(el, timeout, Needs::default()).await?;
        let r = self
            .call_on(
                &node.object_id,
                "function() { const r = this.getBoundingClientRect(); return [r.left + scrollX, r.top + scrollY, r.width, r.height]; }",
                &[],
            )
            .await?;
        let b: Vec<f64> = r.as_array().into_iter().flatten().filter_map(Value::as_f64).collect();
        match b[..] {
            [x, y, w, h] if w > 0.0 && h > 0.0 => Ok((x, y, w, h)),
            _ => Err(failure_error(Failure::NotVisible, el.label())),
        }
    }

    /// The centre of the element's first non-empty content quad, in viewport CSS pixels.
    pub(super) async fn centre(&self, node: &Node) -> Option<(f64, f64)> {
        let q = self.send("DOM.getContentQuads", json!({"objectId": node.object_id})).await.ok()?;
        q.get("quads")?.as_array()?.iter().find_map(|quad| {
            let p: Vec<f64> = quad.as_array()?.iter().filter_map(Value::as_f64).collect();
            if p.len() != 8 {
                return None;
            }
            let area = ((p[0] * p[3] - p[2] * p[1])
                + (p[2] * p[5] - p[4] * p[3])
                + (p[4] * p[7] - p[6] * p[5])
                + (p[6] * p[1] - p[0] * p[7]))
                .abs()
                / 2.0;
            (area > 0.99).then(|| ((p[0] + p[2] + p[4] + p[6]) / 4.0, (p[1] + p[3] + p[5] + p[7]) / 4.0))
        })
    }

    /// Whether the hit node is inside `node` (through shadow roots too).
    async fn contains(&self, node: &Node, hit: i64) -> bool {
        let Ok(r) = self.send("DOM.resolveNode", json!({"backendNodeId": hit})).await else { return false };
        let Some(hit_obj) = r.pointer("/object/objectId").and_then(Value::as_str) else { return false };
        let r = self
            .send(
                "Runtime.callFunctionOn",
                json!({"objectId": node.object_id, "functionDeclaration": CONTAINS_JS,
                       "arguments": [{"objectId": hit_obj}], "returnByValue": true}),
            )
            .await;
        r.ok().and_then(|r| r.pointer("/result/value").and_then(Value::as_bool)).unwrap_or(false)
    }
}

/// Visibility, enabled and read-only state of `this` (Playwright's element states).
const STATE_JS: &str = r#"function() {
  const el = this.nodeType === 1 ? this : this.parentElement;
  if (!el || !el.isConnected) return {connected: false};
  const style = getComputedStyle(el);
  const rect = el.getBoundingClientRect();
  const visible = rect.width > 0 && rect.height > 0 && style.visibility !== 'hidden';
  const disabled = (typeof el.matches === 'function' && el.matches(':disabled')) || !!el.closest('[aria-disabled="true"]');
  const readonly = ((el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) && el.readOnly)
    || el.getAttribute('aria-readonly') === 'true';
  return {connected: true, visible, enabled: !disabled, readonly};
}"#;

/// `this` is or contains the hit node, walking out of shadow roots.
const CONTAINS_JS: &str = r#"function(hit) {
  for (let n = hit; n; n = n.parentNode || n.host) { if (n === this) return true; }
  return false;
}"#;
