//! Per-tab console messages, page errors and network requests, collected from CDP events
//! (the buffers behind `GET /console`, `/errors` and `/requests`).
//!
//! Upstream keeps the same three buffers per Playwright page (`ensurePageState`): console 500
//! entries, errors 200, requests 500, every text cut at 2048 UTF-16 units, requests numbered
//! `r1, r2, …`. We fill them from `Runtime.consoleAPICalled`, `Runtime.exceptionThrown` and
//! the `Network.*` events of each page's flat session, attached before the page runs so early
//! messages are not lost.

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use serde_json::{json, Map, Value};

const MAX_CONSOLE: usize = 500;
const MAX_ERRORS: usize = 200;
const MAX_REQUESTS: usize = 500;
const MAX_TEXT: usize = 2048;

/// Cuts `s` at [`MAX_TEXT`] characters (upstream `truncateObservedPageText`).
fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// `new Date().toISOString()`: UTC with milliseconds and a `Z`.
pub fn iso_now() -> String {
    let d = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    iso_from_millis(d.as_millis() as i64)
}

fn iso_from_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The three buffers of one tab.
#[derive(Debug, Default)]
pub struct PageLog {
    console: VecDeque<Value>,
    errors: VecDeque<Value>,
    requests: VecDeque<(String, Map<String, Value>)>,
    by_request_id: HashMap<String, String>,
    next_request: u64,
}

/// Playwright's text of one console argument: strings as is, other primitives by value,
/// objects by their description.
fn arg_text(arg: &Value) -> String {
    match arg.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(v @ (Value::Number(_) | Value::Bool(_) | Value::Null))
            if arg.get("type").is_some_and(|t| t != "object") =>
        {
            v.to_string()
        }
        _ => arg
            .get("unserializableValue")
            .or_else(|| arg.get("description"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| match arg.get("type").and_then(Value::as_str) {
                Some("undefined") => "undefined".into(),
                Some("object") if arg.get("subtype").and_then(Value::as_str) == Some("null") => "null".into(),
                Some(t) => t.to_string(),
                None => String::new(),
            }),
    }
}

fn top_frame(stack: Option<&Value>) -> Value {
    let frame = stack.and_then(|s| s.get("callFrames")).and_then(|f| f.get(0));
    json!({
        "url": cut(frame.and_then(|f| f.get("url")).and_then(Value::as_str).unwrap_or("")),
        "lineNumber": frame.and_then(|f| f.get("lineNumber")).and_then(Value::as_i64).unwrap_or(0),
        "columnNumber": frame.and_then(|f| f.get("columnNumber")).and_then(Value::as_i64).unwrap_or(0),
    })
}

impl PageLog {
    /// Feeds one CDP event of this tab's session; unrelated events are ignored.
    pub fn on_event(&mut self, method: &str, p: &Value) {
        match method {
            "Runtime.consoleAPICalled" => {
                let kind = p.get("type").and_then(Value::as_str).unwrap_or("log");
                let text: Vec<String> =
                    p.get("args").and_then(Value::as_array).into_iter().flatten().map(arg_text).collect();
                push(
                    &mut self.console,
                    MAX_CONSOLE,
                    json!({"type": cut(kind), "text": cut(&text.join(" ")), "timestamp": iso_now(), "location": top_frame(p.get("stackTrace"))}),
                );
            }
            "Runtime.exceptionThrown" => {
                let d = p.get("exceptionDetails").cloned().unwrap_or(Value::Null);
                let exc = d.get("exception");
                let name = exc.and_then(|e| e.get("className")).and_then(Value::as_str).map(str::to_string);
                let desc = exc.and_then(|e| e.get("description")).and_then(Value::as_str).map(str::to_string);
                let message = match (&desc, &name) {
                    (Some(desc), name) => {
                        let first = desc.lines().next().unwrap_or("");
                        match name {
                            Some(n) => first.strip_prefix(&format!("{n}: ")).unwrap_or(first).to_string(),
                            None => first.to_string(),
                        }
                    }
                    (None, _) => exc
                        .and_then(|e| e.get("value"))
                        .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
                        .or_else(|| d.get("text").and_then(Value::as_str).map(str::to_string))
                        .unwrap_or_default(),
                };
                let mut e = Map::new();
                e.insert("message".into(), json!(cut(&message)));
                if let Some(n) = name {
                    e.insert("name".into(), json!(cut(&n)));
                }
                if let Some(s) = desc {
                    e.insert("stack".into(), json!(cut(&s)));
                }
                e.insert("timestamp".into(), json!(iso_now()));
                push(&mut self.errors, MAX_ERRORS, Value::Object(e));
            }
            "Network.requestWillBeSent" => {
                let rid = p.get("requestId").and_then(Value::as_str).unwrap_or("").to_string();
                if let Some(redirect) = p.get("redirectResponse") {
                    self.on_response(&rid, redirect);
                }
                self.next_request += 1;
                let id = format!("r{}", self.next_request);
                let req = p.get("request");
                let mut rec = Map::new();
                rec.insert("id".into(), json!(id));
                rec.insert("timestamp".into(), json!(iso_now()));
                rec.insert(
                    "method".into(),
                    json!(req.and_then(|r| r.get("method")).and_then(Value::as_str).unwrap_or("GET")),
                );
                rec.insert(
                    "url".into(),
                    json!(cut(req.and_then(|r| r.get("url")).and_then(Value::as_str).unwrap_or(""))),
                );
                rec.insert(
                    "resourceType".into(),
                    json!(p.get("type").and_then(Value::as_str).unwrap_or("other").to_ascii_lowercase()),
                );
                self.by_request_id.insert(rid, id.clone());
                self.requests.push_back((id, rec));
                while self.requests.len() > MAX_REQUESTS {
                    if let Some((old, _)) = self.requests.pop_front() {
                        self.by_request_id.retain(|_, v| *v != old);
                    }
                }
            }
            "Network.responseReceived" => {
                let rid = p.get("requestId").and_then(Value::as_str).unwrap_or("");
                if let Some(resp) = p.get("response") {
                    self.on_response(rid, resp);
                }
            }
            "Network.loadingFailed" => {
                let rid = p.get("requestId").and_then(Value::as_str).unwrap_or("");
                if let Some(rec) = self.record(rid) {
                    if let Some(t) = p.get("errorText").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                        rec.insert("failureText".into(), json!(cut(t)));
                    }
                    rec.insert("ok".into(), json!(false));
                }
            }
            _ => {}
        }
    }

    fn record(&mut self, request_id: &str) -> Option<&mut Map<String, Value>> {
        let id = self.by_request_id.get(request_id)?;
        self.requests.iter_mut().rev().find(|(i, _)| i == id).map(|(_, r)| r)
    }

    fn on_response(&mut self, request_id: &str, resp: &Value) {
        if let Some(rec) = self.record(request_id) {
            let status = resp.get("status").and_then(Value::as_i64).unwrap_or(0);
            rec.insert("status".into(), json!(status));
            rec.insert("ok".into(), json!(status == 0 || (200..300).contains(&status)));
        }
    }

    /// Console messages at or above `level` (upstream's priorities: debug 0, log/info 1,
    /// warn/warning 2, error 3; unknown levels count as 1).
    pub fn console(&self, level: Option<&str>) -> Vec<Value> {
        let prio = |l: &str| match l {
            "error" => 3,
            "warn" | "warning" => 2,
            "debug" => 0,
            _ => 1,
        };
        match level {
            None => self.console.iter().cloned().collect(),
            Some(l) => {
                let min = prio(l);
                self.console.iter().filter(|m| prio(m["type"].as_str().unwrap_or("")) >= min).cloned().collect()
            }
        }
    }

    /// The page errors, optionally clearing the buffer.
    pub fn errors(&mut self, clear: bool) -> Vec<Value> {
        let out = self.errors.iter().cloned().collect();
        if clear {
            self.errors.clear();
        }
        out
    }

    /// The requests whose URL or resource type contains `filter`, optionally clearing.
    pub fn requests(&mut self, filter: Option<&str>, clear: bool) -> Vec<Value> {
        let f = filter.map(str::trim).filter(|f| !f.is_empty());
        let out = self
            .requests
            .iter()
            .filter(|(_, r)| match f {
                None => true,
                Some(f) => {
                    r["url"].as_str().unwrap_or("").contains(f) || r["resourceType"].as_str().unwrap_or("").contains(f)
                }
            })
            .map(|(_, r)| Value::Object(r.clone()))
            .collect();
        if clear {
            self.requests.clear();
            self.by_request_id.clear();
        }
        out
    }
}

fn push(q: &mut VecDeque<Value>, cap: usize, v: Value) {
    q.push_back(v);
    while q.len() > cap {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso_from_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_from_millis(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso_from_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn console_errors_requests() {
        let mut log = PageLog::default();
        log.on_event(
            "Runtime.consoleAPICalled",
            &json!({"type": "warning", "args": [{"type": "string", "value": "hi"}, {"type": "number", "value": 3}, {"type": "object", "description": "Object"}],
                    "stackTrace": {"callFrames": [{"url": "http://a/x.js", "lineNumber": 4, "columnNumber": 2}]}}),
        );
        log.on_event("Runtime.consoleAPICalled", &json!({"type": "debug", "args": []}));
        let all = log.console(None);
        assert_eq!(all[0]["text"], "hi 3 Object");
        assert_eq!(all[0]["location"], json!({"url": "http://a/x.js", "lineNumber": 4, "columnNumber": 2}));
        assert_eq!(log.console(Some("warn")).len(), 1);
        log.on_event(
            "Runtime.exceptionThrown",
            &json!({"exceptionDetails": {"text": "Uncaught", "exception": {"className": "TypeError", "description": "TypeError: x is not a function\n    at a.js:1"}}}),
        );
        let e = log.errors(true);
        assert_eq!((e[0]["message"].as_str(), e[0]["name"].as_str()), (Some("x is not a function"), Some("TypeError")));
        assert!(log.errors(false).is_empty());
        log.on_event(
            "Network.requestWillBeSent",
            &json!({"requestId": "9", "type": "Document", "request": {"method": "GET", "url": "http://a/"}}),
        );
        log.on_event(
            "Network.requestWillBeSent",
            &json!({"requestId": "10", "type": "Fetch", "request": {"method": "POST", "url": "http://a/missing"}}),
        );
        log.on_event("Network.responseReceived", &json!({"requestId": "9", "response": {"status": 200}}));
        log.on_event("Network.loadingFailed", &json!({"requestId": "10", "errorText": "net::ERR_CONNECTION_REFUSED"}));
        let r = log.requests(None, false);
        assert_eq!(r[0]["id"], "r1");
        assert_eq!(
            (r[0]["status"].as_i64(), r[0]["ok"].as_bool(), r[0]["resourceType"].as_str()),
            (Some(200), Some(true), Some("document"))
        );
        assert_eq!(
            (r[1]["failureText"].as_str(), r[1]["ok"].as_bool()),
            (Some("net::ERR_CONNECTION_REFUSED"), Some(false))
        );
        assert_eq!(log.requests(Some("fetch"), true).len(), 1);
        assert!(log.requests(None, false).is_empty());
    }
}
