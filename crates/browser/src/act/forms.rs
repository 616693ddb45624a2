//! Form controls: filling text (Playwright's `fill`: focus, select all, insert), checking
//! boxes and radios (`setChecked`) and choosing `<select>` options (`selectOption`), with
//! upstream's friendly messages for controls that cannot take the input.

use std::time::Duration;

use serde_json::{json, Value};

use super::element::Needs;
use super::request::{Button, Elem};
use super::Page;
use crate::error::RouteError;

/// Prepares `this` for text: returns `select` (focused, contents selected), `done` (value set
/// directly, for date/colour/range inputs) or why it cannot be filled.
const FILL_JS: &str = r#"function(text) {
  const el = this;
  const setValue = new Set(['color', 'date', 'time', 'datetime-local', 'month', 'range', 'week']);
  const noText = new Set(['checkbox', 'radio', 'file', 'button', 'submit', 'reset', 'image', 'hidden']);
  if (el instanceof HTMLInputElement) {
    const type = (el.type || 'text').toLowerCase();
    if (noText.has(type)) return 'badtype';
    if (type === 'number' && text.trim() !== '' && isNaN(Number(text.trim()))) return 'number';
    if (setValue.has(type)) {
      el.focus();
      el.value = text.trim();
      if (el.value !== text.trim()) return 'malformed';
      el.dispatchEvent(new Event('input', {bubbles: true}));
      el.dispatchEvent(new Event('change', {bubbles: true}));
      return 'done';
    }
    el.focus(); el.select(); return 'select';
  }
  if (el instanceof HTMLTextAreaElement) { el.focus(); el.select(); return 'select'; }
  if (el.isContentEditable) {
    el.focus();
    const r = document.createRange(); r.selectNodeContents(el);
    const s = getSelection(); s.removeAllRanges(); s.addRange(r);
    return 'select';
  }
  return 'noteditable';
}"#;

/// The checked state of a checkbox or radio (native or ARIA), or null for anything else.
const CHECKED_JS: &str = r#"function() {
  if (this instanceof HTMLInputElement && (this.type === 'checkbox' || this.type === 'radio')) return this.checked;
  const role = this.getAttribute && this.getAttribute('role');
  if (['checkbox', 'radio', 'switch', 'menuitemcheckbox', 'menuitemradio'].includes(role)) return this.getAttribute('aria-checked') === 'true';
  return null;
}"#;

/// Selects options matching each value (by value, then by label); `{missing}` while one is
/// absent, `{notSelect}` for other elements.
const SELECT_JS: &str = r#"function(values) {
  const el = this;
  if (!(el instanceof HTMLSelectElement)) return {notSelect: true};
  const opts = Array.from(el.options);
  const picked = [];
  for (const v of values) {
    const o = opts.find(o => o.value === v) || opts.find(o => o.label === v || o.text.trim() === v);
    if (!o) return {missing: v};
    picked.push(o);
    if (!el.multiple) break;
  }
  for (const o of opts) o.selected = picked.includes(o);
  el.dispatchEvent(new Event('input', {bubbles: true}));
  el.dispatchEvent(new Event('change', {bubbles: true}));
  return {selected: picked.map(o => o.value)};
}"#;

fn labelled(el: &Elem, detail: &str) -> RouteError {
    let label: String = el.label().chars().take(200).collect();
    RouteError::act_failed(format!("Element \"{label}\" {detail}"))
}

impl Page<'_> {
    /// Replaces the text of an input, textarea or contenteditable element.
    pub(super) async fn fill(&self, el: &Elem, text: &str, t: Duration) -> Result<(), RouteError> {
        let needs = Needs { enabled: true, editable: true, ..Needs::default() };
        let (node, _) = self.actionable(el, t, needs).await?;
        let status = self.call_on(&node.object_id, FILL_JS, &[json!(text)]).await?;
        match status.as_str().unwrap_or("") {
            "select" if text.is_empty() => self.press_chord("Delete", Duration::ZERO).await,
            "select" => self.insert_text(text).await,
            "done" => Ok(()),
            "badtype" => Err(labelled(el, "has an input type that cannot be filled. Use the interaction appropriate for this control.")),
            "number" => Err(labelled(el, "requires a numeric value. Use a valid number instead of text.")),
            "malformed" => Err(labelled(el, "rejected the value format. Use a value supported by this input type.")),
            _ => Err(labelled(el, "is not editable: this control does not support text input. Use an editable input, textarea, or contenteditable element.")),
        }
    }

    /// Checks or unchecks a checkbox or radio by clicking it when its state differs.
    pub(super) async fn set_checked(&self, el: &Elem, on: bool, t: Duration) -> Result<(), RouteError> {
        let needs = Needs { enabled: true, pointer: true, ..Needs::default() };
        let (node, point) = self.actionable(el, t, needs).await?;
        let state = self.call_on(&node.object_id, CHECKED_JS, &[]).await?;
        let Some(now) = state.as_bool() else { return Err(RouteError::internal("Not a checkbox or radio button")) };
        if now == on {
            return Ok(());
        }
        self.mouse_click(point, Button::Left, 1, 0, Duration::ZERO).await?;
        if self.call_on(&node.object_id, CHECKED_JS, &[]).await?.as_bool() != Some(on) {
            return Err(RouteError::internal("Clicking the checkbox did not change its state"));
        }
        Ok(())
    }

    /// Chooses options of a `<select>`, waiting (up to `t`) for them to exist.
    pub(super) async fn select(&self, el: &Elem, values: &[String], t: Duration) -> Result<(), RouteError> {
        let deadline = tokio::time::Instant::now() + t;
        let needs = Needs { enabled: true, ..Needs::default() };
        loop {
            let (node, _) =
                self.actionable(el, deadline.saturating_duration_since(tokio::time::Instant::now()), needs).await?;
            let r = self.call_on(&node.object_id, SELECT_JS, &[json!(values)]).await?;
            if r.get("notSelect").is_some() {
                return Err(RouteError::internal("Element is not a <select> element"));
            }
            if r.get("selected").is_some() {
                return Ok(());
            }
            if tokio::time::Instant::now() + Duration::from_millis(100) > deadline {
                let ms = t.as_millis();
                let missing = r.get("missing").and_then(Value::as_str).unwrap_or("");
                return Err(RouteError::new(
                    500,
                    format!("TimeoutError: locator.selectOption: Timeout {ms}ms exceeded.\nCall log:\n  - did not find some options ({})", json!(missing)),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
