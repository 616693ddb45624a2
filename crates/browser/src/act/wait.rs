//! `wait`: a sleep, then each given condition in upstream's order (text, text gone, selector,
//! URL, load state, predicate), each polled every 100 ms up to the wait timeout (default
//! 20000 ms, 500..120000).

use std::time::Duration;

use serde_json::json;

use super::request::WaitFor;
use super::script::clamp_timeout;
use super::Page;
use crate::error::RouteError;

/// Playwright's URL glob: `**` any text, `*` any text without `/`, `{a,b}` alternatives; a
/// pattern without wildcards must equal the URL.
pub(super) fn url_glob_matches(pattern: &str, url: &str) -> bool {
    if let (Some(open), Some(close)) = (pattern.find('{'), pattern.find('}')) {
        if open < close {
            let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
            return pattern[open + 1..close].split(',').any(|alt| url_glob_matches(&format!("{head}{alt}{tail}"), url));
        }
    }
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p {
            [] => s.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| go(rest, &s[i..])),
            [b'*', rest @ ..] => (0..=s.len()).take_while(|i| *i == 0 || s[i - 1] != b'/').any(|i| go(rest, &s[i..])),
            [c, rest @ ..] => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), url.as_bytes())
}

fn js(s: &str) -> String {
    json!(s).to_string()
}

fn timeout_error(api: &str, ms: u64, log: Option<String>) -> RouteError {
    let mut m = format!("TimeoutError: {api}: Timeout {ms}ms exceeded.");
    if let Some(l) = log {
        m.push_str(&format!("\nCall log:\n  - {l}"));
    }
    RouteError::new(500, m)
}

/// Visible text of the page, whitespace-collapsed and lower-cased, includes the needle.
fn text_expr(needle: &str) -> String {
    let n = js(&needle.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase());
    format!("(document.body ? document.body.innerText : '').replace(/\\s+/g, ' ').toLowerCase().includes({n})")
}

impl Page<'_> {
    async fn poll(&self, expr: &str, timeout: Duration) -> Result<bool, RouteError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.truthy(expr).await? == Some(true) {
                return Ok(true);
            }
            if tokio::time::Instant::now() + Duration::from_millis(100) > deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs a `wait` action.
    pub(super) async fn wait_for(&self, w: &WaitFor) -> Result<(), RouteError> {
        let ms = clamp_timeout(w.timeout_ms, 20_000);
        let t = Duration::from_millis(ms);
        if let Some(d) = w.time_ms {
            tokio::time::sleep(Duration::from_millis(d)).await;
        }
        if let Some(text) = &w.text {
            if !self.poll(&text_expr(text), t).await? {
                let log = format!("waiting for getByText({}).first() to be visible", js(text));
                return Err(timeout_error("locator.waitFor", ms, Some(log)));
            }
        }
        if let Some(text) = &w.text_gone {
            if !self.poll(&format!("!({})", text_expr(text)), t).await? {
                let log = format!("waiting for getByText({}).first() to be hidden", js(text));
                return Err(timeout_error("locator.waitFor", ms, Some(log)));
            }
        }
        if let Some(sel) = &w.selector {
            let expr = format!(
                "(() => {{ const el = document.querySelector({}); if (!el) return false; const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden'; }})()",
                js(sel)
            );
            if !self.poll(&expr, t).await? {
                let log = format!("waiting for locator({}).first() to be visible", js(sel));
                return Err(timeout_error("locator.waitFor", ms, Some(log)));
            }
        }
        if let Some(pattern) = &w.url {
            let deadline = tokio::time::Instant::now() + t;
            loop {
                let href = crate::page::eval_string(self.live, self.session, "location.href").await;
                if href.is_some_and(|h| url_glob_matches(pattern, &h)) {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(timeout_error(
                        "page.waitForURL",
                        ms,
                        Some(format!("waiting for navigation to {}", js(pattern))),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        if let Some(state) = &w.load_state {
            let expr = if state == "domcontentloaded" {
                "document.readyState !== 'loading'"
            } else {
                "document.readyState === 'complete'"
            };
            if !self.poll(expr, t).await? {
                return Err(timeout_error("page.waitForLoadState", ms, None));
            }
            if state == "networkidle" {
                // Approximation: Playwright waits for 500 ms without network activity.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        if let Some(f) = &w.r#fn {
            let deadline = tokio::time::Instant::now() + t;
            loop {
                if self.evaluate_fn(f, None, Some(ms)).await?.is_some_and(|v| truthy_json(&v)) {
                    break;
                }
                if tokio::time::Instant::now() + Duration::from_millis(100) > deadline {
                    return Err(timeout_error("page.waitForFunction", ms, None));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }
}

/// JavaScript truthiness of a JSON value.
fn truthy_json(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        serde_json::Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_globs() {
        assert!(url_glob_matches("**/done", "http://h/a/b/done"));
        assert!(url_glob_matches("http://h/*/done", "http://h/a/done"));
        assert!(!url_glob_matches("http://h/*/done", "http://h/a/b/done"));
        assert!(url_glob_matches("http://h/{a,b}", "http://h/b"));
        assert!(url_glob_matches("http://h/x", "http://h/x"));
        assert!(!url_glob_matches("http://h/x", "http://h/xy"));
        assert!(truthy_json(&json!("x")) && !truthy_json(&json!(0)) && truthy_json(&json!({})));
    }
}
