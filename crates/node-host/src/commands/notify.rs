//! `system.notify`: a desktop notification on this host through `notify-send`, as upstream's
//! bundled `linux-node` plugin sends it (node-commands.md A11).
//!
//! Advertised only when `plugins.entries.linux-node.config.notify.enabled` is not false (and
//! that plugin config is valid) and `notify-send` is on the node's PATH at start-up, as
//! upstream decides once per process. Title and body are trimmed; both empty is refused;
//! `priority` maps to `--urgency` (`passive` → low, `timeSensitive` → critical, else normal).
//! `notify-send` gets 10 s; its failure text (stderr, else stdout, whitespace collapsed, at
//! most 300 UTF-16 units) comes back as `NOTIFICATIONS_UNAVAILABLE: …`.

use std::process::Stdio;
use std::time::Duration;

use openclaw_protocol::node::InvokeError;
use serde_json::{json, Value};

use crate::invoke::{Command, InvokeContext};
use crate::params::{js_whitespace, FromParams, Params};

/// How long `notify-send` may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest failure detail, in UTF-16 units.
const MAX_DETAIL_UTF16: usize = 300;

/// Sends a notification with `notify-send`.
#[derive(Clone)]
pub struct SystemNotify;

/// `{title?, body?, priority?}` (`sound` and `delivery` are accepted and unused, as upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyParams {
    /// The title, trimmed (empty when absent or not a string).
    pub title: String,
    /// The body, trimmed.
    pub body: String,
    /// `notify-send --urgency`.
    pub urgency: &'static str,
}

impl FromParams for NotifyParams {
    // Upstream reads a missing or malformed paramsJSON as `{}` (then: empty notification).
    const OPTIONAL: bool = true;

    fn from_params(params: Params) -> Result<Self, InvokeError> {
        let text = |key| params.str(key).map(|s| s.trim_matches(js_whitespace).to_string()).unwrap_or_default();
        let urgency = match params.str("priority") {
            Some("passive") => "low",
            Some("timeSensitive") => "critical",
            _ => "normal",
        };
        Ok(NotifyParams { title: text("title"), body: text("body"), urgency })
    }
}

impl Command for SystemNotify {
    const NAME: &'static str = "system.notify";
    // Upstream's command has no capability of its own; `system` is advertised anyway.
    const CAP: &'static str = "system";
    type Params = NotifyParams;

    async fn run(&self, cx: InvokeContext, params: NotifyParams) -> Result<Value, InvokeError> {
        let thrown = |m: String| InvokeError::invalid_request(format!("Error: {m}"));
        let Some(notify_send) = crate::path_env::find_executable("notify-send", &cx.env.path) else {
            return Err(thrown("NOTIFICATIONS_UNAVAILABLE: notify-send not found".into()));
        };
        if params.title.is_empty() && params.body.is_empty() {
            return Err(thrown("INVALID_REQUEST: empty notification".into()));
        }
        let child = tokio::process::Command::new(&notify_send)
            .args(["--urgency", params.urgency, "--", &params.title, &params.body])
            .env("PATH", &cx.env.path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| thrown(format!("NOTIFICATIONS_UNAVAILABLE: {e}")))?;
        let out = match tokio::time::timeout(TIMEOUT, child.wait_with_output()).await {
            Err(_) => return Err(thrown("NOTIFICATIONS_UNAVAILABLE: command timed out".into())),
            Ok(Err(e)) => return Err(thrown(format!("NOTIFICATIONS_UNAVAILABLE: {e}"))),
            Ok(Ok(out)) => out,
        };
        if !out.status.success() {
            let detail = failure_detail(&out.stderr, &out.stdout, out.status.code());
            return Err(thrown(format!("NOTIFICATIONS_UNAVAILABLE: {detail}")));
        }
        Ok(json!({"ok": true}))
    }
}

/// What a failed tool said: stderr, else stdout, trimmed, whitespace runs collapsed to one
/// space, cut at 300 UTF-16 units (never inside a surrogate pair); else `exit N`.
fn failure_detail(stderr: &[u8], stdout: &[u8], code: Option<i32>) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    let stdout = String::from_utf8_lossy(stdout);
    let detail = match stderr.trim_matches(js_whitespace) {
        "" => stdout.trim_matches(js_whitespace).to_string(),
        s => s.to_string(),
    };
    if detail.is_empty() {
        return format!("exit {}", code.map_or_else(|| "unknown".to_string(), |c| c.to_string()));
    }
    let collapsed = detail.split(js_whitespace).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
    let mut out = String::new();
    let mut units = 0;
    for c in collapsed.chars() {
        units += c.len_utf16();
        if units > MAX_DETAIL_UTF16 {
            break;
        }
        out.push(c);
    }
    out
}

/// Whether the node advertises `system.notify`: the `linux-node` plugin config allows it
/// (absent means yes; a config upstream's strict schema would reject turns it off) and
/// `notify-send` is on `path`.
pub fn available(config: &openclaw_state::config::OpenClawConfig, path: &str) -> bool {
    notify_enabled(config.get("plugins.entries.linux-node.config"))
        && crate::path_env::find_executable("notify-send", path).is_some()
}

/// `notify.enabled` of a `linux-node` plugin config under upstream's strict schema: only the
/// keys `notify`, `camera` and `location`, each an object with at most a boolean `enabled`.
fn notify_enabled(plugin_config: Option<&Value>) -> bool {
    let Some(config) = plugin_config else { return true };
    let Some(map) = config.as_object() else { return false };
    let mut notify = true;
    for (key, capability) in map {
        if !["notify", "camera", "location"].contains(&key.as_str()) {
            return false;
        }
        let Some(fields) = capability.as_object() else { return false };
        for (field, value) in fields {
            match (field.as_str(), value) {
                ("enabled", Value::Bool(b)) => {
                    if key == "notify" {
                        notify = *b;
                    }
                }
                _ => return false,
            }
        }
    }
    notify
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_as_upstream_reads_them() {
        let p = |v: Value| NotifyParams::from_params(Params::new(v)).unwrap();
        assert_eq!(
            p(json!({"title": " Build ", "body": "Done\n", "priority": "timeSensitive"})),
            NotifyParams { title: "Build".into(), body: "Done".into(), urgency: "critical" }
        );
        assert_eq!(p(json!({"title": 5, "priority": "passive"})).urgency, "low");
        assert_eq!(p(json!({"title": 5, "priority": "passive"})).title, "");
        assert_eq!(p(Value::Null).urgency, "normal");
        assert_eq!(p(json!([1])).title, "");
    }

    #[test]
    fn failure_detail_as_upstream_formats_it() {
        assert_eq!(failure_detail(b"  no\n\tdbus  here \n", b"ignored", Some(1)), "no dbus here");
        assert_eq!(failure_detail(b"", b" out ", Some(1)), "out");
        assert_eq!(failure_detail(b"", b"", Some(3)), "exit 3");
        assert_eq!(failure_detail(b"", b"", None), "exit unknown");
        let long = "😀".repeat(200);
        assert_eq!(failure_detail(long.as_bytes(), b"", Some(1)).chars().count(), 150, "300 units, pairs kept whole");
    }

    #[test]
    fn the_plugin_config_is_read_strictly() {
        assert!(notify_enabled(None));
        assert!(notify_enabled(Some(&json!({}))));
        assert!(!notify_enabled(Some(&json!({"notify": {"enabled": false}}))));
        assert!(notify_enabled(Some(&json!({"notify": {"enabled": true}, "camera": {}}))));
        assert!(!notify_enabled(Some(&json!({"notify": {"enabled": "yes"}}))), "not a boolean");
        assert!(!notify_enabled(Some(&json!({"nope": {}}))), "unknown key");
        assert!(!notify_enabled(Some(&json!({"notify": {"enabled": true, "x": 1}}))));
    }

    #[tokio::test]
    async fn runs_notify_send_and_reports_its_failure() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let script = format!(
            "#!/bin/sh\nprintf '%s|' \"$@\" >> {}\n[ \"$4\" = fail ] && {{ echo 'Cannot  connect\n to bus' >&2; exit 1; }}\nexit 0\n",
            log.display()
        );
        let tool = dir.path().join("notify-send");
        std::fs::write(&tool, script).unwrap();
        std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let path = format!("{}:/usr/bin:/bin", dir.path().display());
        let cx = InvokeContext::detached(&path);
        let params = |t: &str, b: &str| NotifyParams { title: t.into(), body: b.into(), urgency: "low" };
        assert_eq!(SystemNotify.run(cx.clone(), params("T", "")).await.unwrap(), json!({"ok": true}));
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "--urgency|low|--|T||");
        let err = SystemNotify.run(cx.clone(), params("fail", "b")).await.unwrap_err();
        assert_eq!(err.message, "Error: NOTIFICATIONS_UNAVAILABLE: Cannot connect to bus");
        let err = SystemNotify.run(cx, params("", "")).await.unwrap_err();
        assert_eq!(err.message, "Error: INVALID_REQUEST: empty notification");
        let none = InvokeContext::detached("/nonexistent");
        assert_eq!(
            SystemNotify.run(none, params("a", "b")).await.unwrap_err().message,
            "Error: NOTIFICATIONS_UNAVAILABLE: notify-send not found"
        );
    }
}
