//! The params of a node command: one decoder that holds upstream's coercions once.
//!
//! The reference node host is JavaScript, so what counts as "a string", "absent" or "true"
//! in a command's params is JavaScript's idea of it: argv and `bins` entries go through
//! `String(value)` ([`js_string`]), optional strings count only when they are non-empty after
//! trimming ([`Params::trimmed`]), and flags are set only by a literal `true`
//! ([`Params::is_true`]). Every command reads its params through [`Params`] into its own
//! typed struct ([`FromParams`]), as mini-redis's commands read a frame through `Parse`, so
//! each coercion is written once and a new command cannot get one subtly wrong.
//!
//! Upstream reports bad params in two shapes, and both are kept byte for byte:
//! [`thrown_invalid_request`] (`Error: INVALID_REQUEST: <detail>`, what upstream's host sends
//! when a handler throws) and [`InvokeError::invalid_request`] (the bare message, what
//! `system.run` returns as a structured refusal).

use openclaw_protocol::node::InvokeError;
use serde_json::Value;

/// `INVALID_REQUEST` with upstream's `Error: INVALID_REQUEST: ` prefix: upstream's host
/// stringifies the error its handler throws, so the code appears twice in the message.
pub fn thrown_invalid_request(detail: &str) -> InvokeError {
    InvokeError::invalid_request(format!("Error: INVALID_REQUEST: {detail}"))
}

pub use openclaw_exec::command::js_string;

/// JavaScript's whitespace (`String.prototype.trim`, `\s`): Unicode's `White_Space` set plus
/// U+FEFF, which `str::trim` does not strip.
pub fn js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

/// A command's decoded params (`paramsJSON` parsed, the `params` object, or `null` for a
/// command whose params are optional), read field by field with upstream's coercions.
#[derive(Debug, Clone, PartialEq)]
pub struct Params(Value);

impl Params {
    /// Wraps decoded params.
    pub fn new(value: Value) -> Self {
        Params(value)
    }

    /// The params as sent, for a command that must keep them whole (the audit trail).
    pub fn value(&self) -> &Value {
        &self.0
    }

    /// The params as sent, owned: for a command that takes a large field out of them
    /// (`file.write`'s content) rather than copying it.
    pub fn into_value(self) -> Value {
        self.0
    }

    /// The field `key`, `null` included (absent when the params are not an object).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// The field `key` when it is present and not `null`.
    pub fn non_null(&self, key: &str) -> Option<&Value> {
        self.get(key).filter(|v| !v.is_null())
    }

    /// The field `key` when it is a string, as sent.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// The field `key` when it is a string that is non-empty after trimming, trimmed.
    pub fn trimmed(&self, key: &str) -> Option<String> {
        self.str(key).map(str::trim).filter(|s| !s.is_empty()).map(String::from)
    }

    /// The field `key` when it is a boolean.
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }

    /// Whether the field `key` is literally `true` (anything else, truthy or not, is false).
    pub fn is_true(&self, key: &str) -> bool {
        self.bool(key) == Some(true)
    }

    /// The field `key` when it is a number.
    pub fn f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    /// The field `key` when it is an array.
    pub fn array(&self, key: &str) -> Option<&[Value]> {
        self.get(key).and_then(Value::as_array).map(Vec::as_slice)
    }

    /// The field `key` when it is an array, each entry through [`js_string`].
    pub fn js_strings(&self, key: &str) -> Option<Vec<String>> {
        self.array(key).map(|a| a.iter().map(js_string).collect())
    }

    /// The field `key` when it is an object.
    pub fn object(&self, key: &str) -> Option<&serde_json::Map<String, Value>> {
        self.get(key).and_then(Value::as_object)
    }

    /// An optional boolean: `false` when the params or the field are absent or `null`, the
    /// value when it is a boolean, and `invalid` for anything else (including params that
    /// are not an object).
    pub fn optional_bool(&self, key: &str, invalid: impl FnOnce() -> InvokeError) -> Result<bool, InvokeError> {
        match &self.0 {
            Value::Null => Ok(false),
            Value::Object(m) => match m.get(key) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(invalid()),
            },
            _ => Err(invalid()),
        }
    }
}

/// A command's params type, decoded from [`Params`] before the command runs.
pub trait FromParams: Sized + Send + 'static {
    /// Whether the command accepts a missing `paramsJSON` (it then decodes from `{}`).
    const OPTIONAL: bool = false;

    /// Whether decoding is free (the params are kept as sent), so it need not leave the
    /// runtime thread: a hop to the blocking pool and back costs two thread wake-ups, a
    /// measurable share of a `system.run` under load (BENCHMARKS.md, 2026-12-02).
    const KEPT_AS_SENT: bool = false;

    /// Decodes (and validates) the params; the error is the invoke's one result.
    fn from_params(params: Params) -> Result<Self, InvokeError>;

    /// Checks the raw `paramsJSON` text before it is decoded into a tree, for params whose
    /// size alone must be refused without building them (1.5 M `system.which` names would
    /// cost a hundred MB as a tree). Anything it cannot judge passes on to
    /// [`FromParams::from_params`], which has the last word.
    fn check_raw(_raw: &str) -> Result<(), InvokeError> {
        Ok(())
    }
}

/// A command that reads its params itself (e.g. to audit a request it rejects).
impl FromParams for Params {
    const KEPT_AS_SENT: bool = true;

    fn from_params(params: Params) -> Result<Self, InvokeError> {
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn javascript_string_coercion() {
        let strings: Vec<String> =
            [json!("a"), json!(null), json!(42), json!(1.5), json!(true), json!({}), json!([1, null, "x"])]
                .iter()
                .map(js_string)
                .collect();
        assert_eq!(strings, ["a", "null", "42", "1.5", "true", "[object Object]", "1,,x"]);
    }

    #[test]
    fn fields_are_coerced_once() {
        let p = Params::new(
            json!({"s": "  x ", "blank": "  ", "n": 3, "t": true, "f": "true", "argv": ["a", 1], "nul": null}),
        );
        assert_eq!(p.trimmed("s").as_deref(), Some("x"));
        assert_eq!(p.str("s"), Some("  x "));
        assert_eq!(p.trimmed("blank"), None);
        assert_eq!(p.trimmed("n"), None);
        assert!(p.is_true("t") && !p.is_true("f") && !p.is_true("missing"));
        assert_eq!(p.js_strings("argv"), Some(vec!["a".to_string(), "1".to_string()]));
        assert_eq!(p.non_null("nul"), None);
        assert!(p.get("nul").is_some());
        assert_eq!(p.f64("n"), Some(3.0));
    }

    #[test]
    fn optional_booleans_and_the_thrown_error_shape() {
        let bad = || thrown_invalid_request("x must be boolean");
        assert_eq!(Params::new(Value::Null).optional_bool("x", bad), Ok(false));
        assert_eq!(Params::new(json!({"x": null})).optional_bool("x", bad), Ok(false));
        assert_eq!(Params::new(json!({"x": true})).optional_bool("x", bad), Ok(true));
        let err = Params::new(json!({"x": 1})).optional_bool("x", bad).unwrap_err();
        assert_eq!(err, InvokeError::invalid_request("Error: INVALID_REQUEST: x must be boolean"));
        assert!(Params::new(json!([])).optional_bool("x", bad).is_err());
    }
}
