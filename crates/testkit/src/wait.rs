//! Polling helpers for tests that wait on another process, and ANSI stripping for the peer's
//! coloured logs. They panic on timeout because a test that waits forever tells nobody anything.

use std::time::{Duration, Instant};

/// Polls `cond` every 200 ms until it holds; panics naming `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

/// Polls `f` every 500 ms until it yields a value; panics naming `what` after `timeout`.
pub fn wait_for_value<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Removes ANSI colour codes, so the real Gateway's log lines can be matched by their text.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The last `n` lines of a log file (empty when it does not exist yet), for error messages.
pub fn log_tail(path: &std::path::Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_ansi_keeps_the_text() {
        assert_eq!(strip_ansi("\u{1b}[32m[gateway]\u{1b}[0m ready"), "[gateway] ready");
        assert_eq!(strip_ansi("plain [x] text"), "plain [x] text");
    }

    #[test]
    fn log_tail_takes_the_last_lines() {
        let dir = std::env::temp_dir().join(format!("testkit-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("a.log");
        std::fs::write(&log, "1\n2\n3\n").unwrap();
        assert_eq!(log_tail(&log, 2), "2\n3");
        assert_eq!(log_tail(&dir.join("missing.log"), 2), "");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
