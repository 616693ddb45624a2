//! `evaluate`: running a model-supplied function in the page (or on an element), with
//! upstream's source normalisation (`evaluate-source.ts`: a function, an expression, or
//! statements) and its promise timeout, done inside the page so the browser's own parser
//! decides what the source is.

use std::time::Duration;

use serde_json::{json, Value};

use super::element::{exception_text, Node};
use super::Page;
use crate::error::RouteError;

/// The in-page evaluator: `this` is the element (when `withEl`), the result is awaited with
/// upstream's `evaluate timed out after Nms` race.
const EVAL_JS: &str = r#"function(fnSource, timeoutMs, withEl) {
  "use strict";
  const canParse = (s) => { try { new Function('"use strict";\n(' + s + ');'); return true; } catch (e) { return false; } };
  const looksLikeFn = /^(?:async\s+)?(?:function\b|\([^)]*\)\s*=>|[A-Za-z_$][\w$]*\s*=>)/;
  const src = String(fnSource).trim();
  const params = withEl ? '(el)' : '()';
  let source;
  if (looksLikeFn.test(src) && canParse(src)) source = src;
  else if (canParse(src)) source = params + ' => {\nconst __openclawEvaluateExpressionResult = (' + src + ');\nreturn typeof __openclawEvaluateExpressionResult === "function" ? __openclawEvaluateExpressionResult(' + (withEl ? 'el' : '') + ') : __openclawEvaluateExpressionResult;\n}';
  else source = 'async ' + params + ' => {\n' + src + '\n}';
  let result;
  try {
    const candidate = (0, eval)('(' + source + ')');
    if (typeof candidate !== 'function') throw new Error('evaluate source did not produce a function');
    result = withEl ? candidate(this) : candidate();
  } catch (err) {
    throw new Error('Invalid evaluate function: ' + (err && err.message ? err.message : String(err)));
  }
  if (result && typeof result.then === 'function') {
    return Promise.race([result, new Promise((_, reject) => setTimeout(() => reject(new Error('evaluate timed out after ' + timeoutMs + 'ms')), timeoutMs))]);
  }
  return result;
}"#;

/// Upstream's `normalizeTimeoutMs`: 500..120000, `fallback` when absent.
pub(super) fn clamp_timeout(ms: Option<u64>, fallback: u64) -> u64 {
    ms.unwrap_or(fallback).clamp(500, 120_000)
}

impl Page<'_> {
    /// Runs `source` and returns its JSON value (None for `undefined`).
    pub(super) async fn evaluate_fn(
        &self,
        source: &str,
        el: Option<&Node>,
        timeout_ms: Option<u64>,
    ) -> Result<Option<Value>, RouteError> {
        let outer = clamp_timeout(timeout_ms, 20_000);
        let inner = (outer.saturating_sub(500)).clamp(1000, 120_000).min(outer);
        let api = if el.is_some() { "locator.evaluate" } else { "page.evaluate" };
        let (method, params) = match el {
            Some(n) => (
                "Runtime.callFunctionOn",
                json!({"objectId": n.object_id, "functionDeclaration": EVAL_JS,
                       "arguments": [{"value": source}, {"value": inner}, {"value": true}],
                       "awaitPromise": true, "returnByValue": true, "userGesture": true}),
            ),
            None => (
                "Runtime.evaluate",
                json!({"expression": format!("({EVAL_JS}).call(globalThis, {}, {inner}, false)", json!(source)),
                       "awaitPromise": true, "returnByValue": true, "userGesture": true}),
            ),
        };
        let sent =
            self.live.cdp.send_timeout(method, params, Some(self.session), Duration::from_millis(outer + 1000)).await;
        let r = match sent {
            Ok(r) => r,
            Err(crate::cdp::CdpError::Timeout { .. }) => {
                // A synchronous endless loop: stop it so the page lives on.
                let _ = self.send("Runtime.terminateExecution", json!({})).await;
                return Err(RouteError::internal(format!("{api}: Timeout {outer}ms exceeded.")));
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(ex) = r.get("exceptionDetails") {
            return Err(RouteError::internal(format!("{api}: {}", exception_text(ex))));
        }
        Ok(r.pointer("/result/value").cloned())
    }

    /// Evaluates a predicate expression once (for `wait`): its truthiness, None when the page
    /// could not answer (navigating, context gone).
    pub(super) async fn truthy(&self, expr: &str) -> Result<Option<bool>, RouteError> {
        let r = self
            .live
            .cdp
            .send_timeout(
                "Runtime.evaluate",
                json!({"expression": format!("(async () => !!({expr}))()"), "awaitPromise": true, "returnByValue": true}),
                Some(self.session),
                Duration::from_secs(10),
            )
            .await;
        let Ok(r) = r else { return Ok(None) };
        if let Some(ex) = r.get("exceptionDetails") {
            let text = exception_text(ex);
            if text.contains("context") && text.contains("destroyed") {
                return Ok(None);
            }
            return Err(RouteError::internal(text));
        }
        Ok(r.pointer("/result/value").and_then(Value::as_bool))
    }
}
