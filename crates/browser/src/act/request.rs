//! `POST /act` bodies: upstream's closed action union and its normalisation
//! (`agent.act.normalize.ts`, `form-fields.ts`), with upstream's exact 400 texts.
//!
//! Pure: no browser, so every refusal is unit-tested. [`check`] adds the route-level
//! refusals (unknown kind, `selector` on a kind that takes none, evaluation disabled) with
//! upstream's `ACT_*` codes.

use serde_json::{Map, Value};

pub use super::action::{Act, Action, Button, Elem, Field, WaitFor};
use super::values::{
    bounded_ms, non_negative_int, opt_string, present, strict_finite, strict_int, string_array, string_or_empty,
    timeout_ms, to_bool,
};
use crate::error::RouteError;

/// Every kind upstream accepts.
pub const ACT_KINDS: &[&str] = &[
    "batch",
    "click",
    "clickCoords",
    "close",
    "drag",
    "evaluate",
    "fill",
    "hover",
    "insertText",
    "scrollIntoView",
    "press",
    "resize",
    "select",
    "type",
    "wait",
];
/// Kinds whose top-level body may carry `selector`.
const SELECTOR_KINDS: &[&str] = &["batch", "click", "drag", "hover", "scrollIntoView", "select", "type", "wait"];
/// Upstream `ACT_MAX_CLICK_DELAY_MS`.
pub const MAX_CLICK_DELAY_MS: u64 = 5000;
/// Upstream `ACT_MAX_WAIT_TIME_MS`.
pub const MAX_WAIT_TIME_MS: u64 = 30_000;
/// Upstream `ACT_MAX_VIEWPORT_DIMENSION`.
pub const MAX_VIEWPORT: i64 = 8192;
/// Deepest batch nesting accepted.
pub const MAX_BATCH_DEPTH: usize = 5;
/// Most actions in one batch, nested ones included.
pub const MAX_BATCH_ACTIONS: usize = 100;

/// Upstream's text for `selector` on a kind that resolves elements only by ref.
pub const SELECTOR_UNSUPPORTED: &str = "Error: 'selector' is not supported. Use 'ref' from snapshot instead.\n\nExample workflow:\n1. snapshot action to get page state with refs\n2. act with ref: \"e123\" to interact with element\n\nThis is more reliable for modern SPAs.";

/// Upstream's press aliases (`esc`, `return`, …), matched case-insensitively per chord part.
fn normalize_chord(raw: Option<&Value>) -> String {
    if raw == Some(&Value::String(" ".into())) {
        return "Space".into();
    }
    string_or_empty(raw)
        .split('+')
        .map(|part| match part.to_ascii_lowercase().as_str() {
            "esc" => "Escape".to_string(),
            "return" => "Enter".to_string(),
            "del" => "Delete".to_string(),
            "ctrl" => "Control".to_string(),
            "cmd" => "Meta".to_string(),
            "space" => "Space".to_string(),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join("+")
}

fn fields(raw: Option<&Value>) -> Result<Vec<Field>, String> {
    let entries = raw.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let Some(rec) = e.as_object() else { return Err(format!("fields[{i}] must be an object")) };
        let r = string_or_empty(rec.get("ref"));
        if r.is_empty() {
            return Err(format!("fields[{i}] must include ref"));
        }
        if let Some(k) = rec.keys().find(|k| !matches!(k.as_str(), "ref" | "type" | "value")) {
            return Err(format!("fields[{i}] unsupported field key \"{k}\"; supported keys are ref, type, value"));
        }
        let kind = Some(string_or_empty(rec.get("type"))).filter(|s| !s.is_empty()).unwrap_or_else(|| "text".into());
        let value = match rec.get("value") {
            None | Some(Value::Null) => None,
            Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => Some(v.clone()),
            Some(_) => return Err(format!("fields[{i}] value must be a string, number, boolean, or null")),
        };
        out.push(Field { r#ref: r, kind, value });
    }
    Ok(out)
}

fn button(body: &Map<String, Value>, kind: &str) -> Result<Option<Button>, String> {
    let raw = string_or_empty(body.get("button"));
    if raw.is_empty() {
        return Ok(None);
    }
    Button::parse(&raw).map(Some).ok_or_else(|| format!("{kind} button must be left|right|middle"))
}

fn resize_dim(body: &Map<String, Value>, key: &str) -> Result<Option<i64>, String> {
    const MSG: &str = "resize requires positive width and height";
    let v = body.get(key);
    match strict_int(v) {
        Some(n) => Ok(Some(n)),
        None if v.is_some() => Err(MSG.into()),
        None => Ok(None),
    }
}

/// Normalises one action body (`normalizeActRequest`); `depth` is the batch nesting level and
/// `nested` tells a batch member from the request itself. Errors are upstream's texts.
pub fn normalize(body: &Map<String, Value>, depth: usize, nested: bool) -> Result<Act, String> {
    let kind = string_or_empty(body.get("kind"));
    if !ACT_KINDS.contains(&kind.as_str()) {
        return Err("kind is required".into());
    }
    let g = |k: &str| opt_string(body.get(k));
    let timeout = || timeout_ms(body.get("timeoutMs"), "timeoutMs");
    let action = match kind.as_str() {
        "click" => {
            let el = Elem::from(g("ref"), g("selector")).ok_or("click requires ref or selector")?;
            let button = button(body, "click")?;
            let modifiers = string_array(body.get("modifiers")).unwrap_or_default();
            if modifiers.iter().any(|m| !matches!(m.as_str(), "Alt" | "Control" | "ControlOrMeta" | "Meta" | "Shift")) {
                return Err("modifiers must be Alt|Control|ControlOrMeta|Meta|Shift".into());
            }
            let double = to_bool(body.get("doubleClick")).unwrap_or(false);
            let delay_ms = bounded_ms(body.get("delayMs"), "delayMs", "click delayMs", MAX_CLICK_DELAY_MS)?;
            Action::Click { el, double, button, modifiers, delay_ms, timeout_ms: timeout()? }
        }
        "clickCoords" => {
            let x = coord(body, "x")?;
            let y = coord(body, "y")?;
            let (Some(x), Some(y)) = (x, y) else { return Err("clickCoords requires non-negative x and y".into()) };
            if x < 0.0 || y < 0.0 {
                return Err("clickCoords requires non-negative x and y".into());
            }
            let button = button(body, "clickCoords")?;
            let double = to_bool(body.get("doubleClick")).unwrap_or(false);
            let delay_ms = bounded_ms(body.get("delayMs"), "delayMs", "clickCoords delayMs", MAX_CLICK_DELAY_MS)?;
            timeout()?;
            Action::ClickCoords { x, y, double, button, delay_ms }
        }
        "type" => {
            let el = Elem::from(g("ref"), g("selector")).ok_or("type requires ref or selector")?;
            let Some(Value::String(text)) = body.get("text") else { return Err("type requires text".into()) };
            let submit = to_bool(body.get("submit")).unwrap_or(false);
            let slowly = to_bool(body.get("slowly")).unwrap_or(false);
            Action::Type { el, text: text.clone(), submit, slowly, timeout_ms: timeout()? }
        }
        "insertText" => {
            let Some(Value::String(text)) = body.get("text") else { return Err("insertText requires text".into()) };
            Action::InsertText { text: text.clone() }
        }
        "press" => {
            let key = normalize_chord(body.get("key"));
            if key.is_empty() {
                return Err("press requires key".into());
            }
            Action::Press { key, delay_ms: non_negative_int(body.get("delayMs"), "delayMs")? }
        }
        "hover" | "scrollIntoView" => {
            let el = Elem::from(g("ref"), g("selector")).ok_or_else(|| format!("{kind} requires ref or selector"))?;
            let timeout_ms = timeout()?;
            if kind == "hover" {
                Action::Hover { el, timeout_ms }
            } else {
                Action::ScrollIntoView { el, timeout_ms }
            }
        }
        "drag" => {
            let start =
                Elem::from(g("startRef"), g("startSelector")).ok_or("drag requires startRef or startSelector")?;
            let end = Elem::from(g("endRef"), g("endSelector")).ok_or("drag requires endRef or endSelector")?;
            Action::Drag { start, end, timeout_ms: timeout()? }
        }
        "select" => {
            let el = Elem::from(g("ref"), g("selector"));
            let values: Vec<String> = body
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let (Some(el), false) = (el, values.is_empty()) else {
                return Err("select requires ref/selector and values".into());
            };
            Action::Select { el, values, timeout_ms: timeout()? }
        }
        "fill" => {
            let fields = fields(body.get("fields"))?;
            if fields.is_empty() {
                return Err("fill requires fields".into());
            }
            Action::Fill { fields, timeout_ms: timeout()? }
        }
        "resize" => {
            const MSG: &str = "resize requires positive width and height";
            let (w, h) = (resize_dim(body, "width")?, resize_dim(body, "height")?);
            let (Some(w), Some(h)) = (w, h) else { return Err(MSG.into()) };
            if w <= 0 || h <= 0 {
                return Err(MSG.into());
            }
            if w > MAX_VIEWPORT || h > MAX_VIEWPORT {
                return Err(format!("resize width and height must not exceed {MAX_VIEWPORT}"));
            }
            Action::Resize { width: w as u32, height: h as u32 }
        }
        "wait" => {
            let ls = string_or_empty(body.get("loadState"));
            let load_state = matches!(ls.as_str(), "load" | "domcontentloaded" | "networkidle").then_some(ls);
            let w = WaitFor {
                time_ms: bounded_ms(body.get("timeMs"), "timeMs", "wait timeMs", MAX_WAIT_TIME_MS)?,
                text: g("text"),
                text_gone: g("textGone"),
                selector: g("selector"),
                url: g("url"),
                load_state,
                r#fn: g("fn"),
                timeout_ms: None,
            };
            if w.time_ms.is_none()
                && w.text.is_none()
                && w.text_gone.is_none()
                && w.selector.is_none()
                && w.url.is_none()
                && w.load_state.is_none()
                && w.r#fn.is_none()
            {
                return Err(
                    "wait requires at least one of: timeMs, text, textGone, selector, url, loadState, fn".into()
                );
            }
            Action::Wait(WaitFor { timeout_ms: timeout()?, ..w })
        }
        "evaluate" => {
            let f = g("fn").ok_or("evaluate requires fn")?;
            Action::Evaluate { r#fn: f, r#ref: g("ref"), timeout_ms: timeout()? }
        }
        "close" => Action::Close,
        _ => {
            if depth > MAX_BATCH_DEPTH {
                return Err(format!("batch nesting exceeds maximum depth of {MAX_BATCH_DEPTH}"));
            }
            let mut actions = Vec::new();
            for a in body.get("actions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
                let Some(obj) = a.as_object() else { return Err("batch actions must be objects".into()) };
                actions.push(normalize(obj, depth + 1, true)?);
            }
            if actions.is_empty() {
                return Err(if nested { "batch requires actions" } else { "actions are required" }.into());
            }
            if Act::count(&actions) > MAX_BATCH_ACTIONS {
                return Err(format!("batch exceeds maximum of {MAX_BATCH_ACTIONS} actions"));
            }
            Action::Batch { actions, stop_on_error: to_bool(body.get("stopOnError")) }
        }
    };
    Ok(Act { target_id: g("targetId"), action })
}

fn coord(body: &Map<String, Value>, key: &str) -> Result<Option<f64>, String> {
    let v = body.get(key);
    match strict_finite(v) {
        Some(f) => Ok(Some(f)),
        None if present(v) => Err(format!("{key} must be a finite number.")),
        None => Ok(None),
    }
}

/// Upstream's `browserEvaluateDisabledMessage`.
pub fn evaluate_disabled_message(wait: bool) -> String {
    let first = if wait {
        "wait --fn is disabled by config (browser.evaluateEnabled=false)."
    } else {
        "act:evaluate is disabled by config (browser.evaluateEnabled=false)."
    };
    format!("{first}\nDocs: /tools/browser/configuration#configuration")
}

/// The route's checks before any tab is touched, in upstream's order: kind (400
/// `ACT_KIND_REQUIRED`), normalisation (400 `ACT_INVALID_REQUEST`), `selector` where unsupported
/// (400 `ACT_SELECTOR_UNSUPPORTED`), evaluation disabled (403 `ACT_EVALUATE_DISABLED`).
pub fn check(body: &Value, evaluate_enabled: bool) -> Result<Act, RouteError> {
    let empty = Map::new();
    let obj = body.as_object().unwrap_or(&empty);
    let kind = string_or_empty(obj.get("kind"));
    if !ACT_KINDS.contains(&kind.as_str()) {
        return Err(RouteError::act(400, "ACT_KIND_REQUIRED", "kind is required"));
    }
    let act = normalize(obj, 0, false).map_err(|e| RouteError::act(400, "ACT_INVALID_REQUEST", e))?;
    if obj.contains_key("selector") && !SELECTOR_KINDS.contains(&kind.as_str()) {
        return Err(RouteError::act(400, "ACT_SELECTOR_UNSUPPORTED", SELECTOR_UNSUPPORTED));
    }
    let wants_eval = match &act.action {
        Action::Evaluate { .. } => Some(false),
        Action::Wait(w) if w.r#fn.is_some() => Some(true),
        _ => None,
    };
    if let (Some(wait), false) = (wants_eval, evaluate_enabled) {
        return Err(RouteError::act(403, "ACT_EVALUATE_DISABLED", evaluate_disabled_message(wait)));
    }
    Ok(act)
}

/// A body's `timeoutMs` (`readRouteTimerTimeoutMs`), for the hook routes.
pub(crate) fn timeout_field(body: &Value) -> Result<Option<u64>, String> {
    timeout_ms(body.get("timeoutMs"), "timeoutMs")
}

/// A body boolean read as upstream's `toBoolean`.
pub(crate) fn body_bool(body: &Value, key: &str) -> Option<bool> {
    to_bool(body.get(key))
}

/// A body string array read as upstream's `toStringArray` (empty when absent).
pub(crate) fn body_strings(body: &Value, key: &str) -> Vec<String> {
    string_array(body.get(key)).unwrap_or_default()
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
