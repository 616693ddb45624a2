//! One module per node command.

pub mod approvals;
pub mod run;
pub mod which;

use serde_json::Value;

/// JavaScript's `String(value)` for JSON values, which upstream applies to argv and `bins`
/// entries.
pub(crate) fn js_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Array(a) => {
            a.iter().map(|x| if x.is_null() { String::new() } else { js_string(x) }).collect::<Vec<_>>().join(",")
        }
        Value::Object(_) => "[object Object]".into(),
        other => other.to_string(),
    }
}
