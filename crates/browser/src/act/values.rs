//! Upstream's loose readers of JSON body values (`routes/utils.ts`, `route-numeric.ts`):
//! strings from strings, numbers and booleans; booleans from `true|1|yes` words; strict
//! integers and finite numbers from numbers or exact numeric strings.
//!
//! They exist so `/act` refuses and accepts exactly the bodies upstream does: a model that
//! sends `"timeoutMs": "5000"` works, `"timeoutMs": "5s"` gets upstream's message.

use serde_json::Value;

/// `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// JavaScript's `String(n)` for a JSON number (`1.0` is `"1"`).
pub(crate) fn js_number_string(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{}", f as i128),
        Some(f) => f.to_string(),
        None => n.to_string(),
    }
}

/// `toStringOrEmpty`: strings, numbers and booleans as trimmed text; anything else empty.
pub(crate) fn string_or_empty(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => js_number_string(n),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// `toStringOrEmpty(..) || undefined`.
pub(crate) fn opt_string(v: Option<&Value>) -> Option<String> {
    Some(string_or_empty(v)).filter(|s| !s.is_empty())
}

/// `toBoolean`: booleans, and `true|1|yes` / `false|0|no` as strings or numbers.
pub(crate) fn to_bool(v: Option<&Value>) -> Option<bool> {
    let s = match v? {
        Value::Bool(b) => return Some(*b),
        Value::String(s) => s.trim().to_ascii_lowercase(),
        Value::Number(n) => js_number_string(n),
        _ => return None,
    };
    match s.as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// `toStringArray`: every entry as text, empties dropped; None when nothing is left.
pub(crate) fn string_array(v: Option<&Value>) -> Option<Vec<String>> {
    let out: Vec<String> = v?.as_array()?.iter().map(|x| string_or_empty(Some(x))).filter(|s| !s.is_empty()).collect();
    Some(out).filter(|o| !o.is_empty())
}

/// True when the field is present and not null (`value != null`).
pub(crate) fn present(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Null))
}

/// `parseStrictInteger`: a safe integer number, or a base-10 integer string.
pub(crate) fn strict_int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => {
            let f = n.as_f64()?;
            (f.fract() == 0.0 && f.abs() <= MAX_SAFE).then_some(f as i64)
        }
        Value::String(s) => {
            let t = s.trim();
            let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let f: f64 = t.parse().ok()?;
            (f.abs() <= MAX_SAFE).then(|| t.parse::<i64>().ok()).flatten()
        }
        _ => None,
    }
}

/// `parseStrictFiniteNumber`: a finite number, or a decimal/scientific string with nothing else.
pub(crate) fn strict_finite(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => {
            let t = s.trim();
            let ok = !t.is_empty()
                && t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
                && t.bytes().any(|b| b.is_ascii_digit())
                && !t.contains("..");
            if !ok {
                return None;
            }
            t.parse::<f64>().ok().filter(|f| f.is_finite())
        }
        _ => None,
    }
}

/// `readRouteTimerTimeoutMs`: absent is None, else a positive integer (clamped to Node's
/// timer range) or upstream's `<field> must be a positive integer.`.
pub(crate) fn timeout_ms(v: Option<&Value>, field: &str) -> Result<Option<u64>, String> {
    match strict_int(v).filter(|n| *n > 0) {
        Some(n) => Ok(Some((n as u64).min(2_147_483_647))),
        None if present(v) => Err(format!("{field} must be a positive integer.")),
        None => Ok(None),
    }
}

/// `readRouteNonNegativeInteger`.
pub(crate) fn non_negative_int(v: Option<&Value>, field: &str) -> Result<Option<u64>, String> {
    match strict_int(v).filter(|n| *n >= 0) {
        Some(n) => Ok(Some(n as u64)),
        None if present(v) => Err(format!("{field} must be a non-negative integer.")),
        None => Ok(None),
    }
}

/// A non-negative integer no larger than `max` (`normalizeActBoundedNonNegativeMs`).
pub(crate) fn bounded_ms(v: Option<&Value>, key: &str, label: &str, max: u64) -> Result<Option<u64>, String> {
    match non_negative_int(v, key)? {
        Some(n) if n > max => Err(format!("{label} exceeds maximum of {max}ms")),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readers_match_upstream_coercions() {
        assert_eq!(string_or_empty(Some(&json!(" a "))), "a");
        assert_eq!(string_or_empty(Some(&json!(3.0))), "3");
        assert_eq!(string_or_empty(Some(&json!(1.5))), "1.5");
        assert_eq!(string_or_empty(Some(&json!({"a": 1}))), "");
        assert_eq!(to_bool(Some(&json!("YES"))), Some(true));
        assert_eq!(to_bool(Some(&json!(0))), Some(false));
        assert_eq!(to_bool(Some(&json!("maybe"))), None);
        assert_eq!(strict_int(Some(&json!("+12"))), Some(12));
        assert_eq!(strict_int(Some(&json!("1.5"))), None);
        assert_eq!(strict_int(Some(&json!(2.5))), None);
        assert_eq!(strict_int(Some(&json!("9007199254740993"))), None);
        assert_eq!(strict_finite(Some(&json!("1e3"))), Some(1000.0));
        assert_eq!(strict_finite(Some(&json!("12px"))), None);
        assert_eq!(timeout_ms(Some(&json!(0)), "timeoutMs"), Err("timeoutMs must be a positive integer.".into()));
        assert_eq!(timeout_ms(Some(&Value::Null), "timeoutMs"), Ok(None));
        assert_eq!(timeout_ms(Some(&json!("")), "timeoutMs"), Err("timeoutMs must be a positive integer.".into()));
        assert_eq!(
            bounded_ms(Some(&json!(6000)), "delayMs", "click delayMs", 5000),
            Err("click delayMs exceeds maximum of 5000ms".into())
        );
        assert_eq!(string_array(Some(&json!(["a", "", 1, {}]))), Some(vec!["a".to_string(), "1".to_string()]));
    }
}
