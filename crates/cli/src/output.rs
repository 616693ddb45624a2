//! Everything the commands print with, in one place: the aligned [`table`], the two wordings of
//! elapsed time ([`Elapsed`]), the failure path of operator commands with its `--json`
//! envelope ([`Failure`], [`finish`]), the terminal approver of `nodes run`, and the log setup.
//!
//! Printed text is part of the CLI's interface (tests and scripts match it), so each helper is
//! split into a pure function that builds the text, pinned by the unit tests below, and a thin
//! wrapper that writes it.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use openclaw_operator::run::{Approver, Decision};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// A command failure: the message, and the exit code (1 unless a command's own code).
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) String, pub(crate) u8);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string(), 1)
    }
}

/// upstream's failure envelope for `--json`, so scripts get JSON on stdout whatever happened.
pub(crate) fn failure_envelope(message: &str) -> Value {
    json!({"ok": false, "error": {"type": "cli_error", "message": message}})
}

/// Ends an operator command: its own exit code on success; on failure the message as
/// `openclaw: <message>` on stderr, or as the [`failure_envelope`] on stdout with `--json`.
pub(crate) fn finish(json_mode: bool, r: Result<ExitCode, Failure>) -> ExitCode {
    match r {
        Ok(code) => code,
        Err(Failure(message, code)) => {
            if json_mode {
                println!("{}", failure_envelope(&message));
            } else {
                eprintln!("openclaw: {message}");
            }
            ExitCode::from(code)
        }
    }
}

/// Prints a gateway answer as indented JSON (what `--json` and the raw verbs print).
pub(crate) fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("serialisable"));
}

/// Reads a gateway answer through its shared shape in `openclaw_protocol::methods`. An answer
/// that does not fit the shape (a field of the wrong type) fails the command with a message
/// naming the method; absent and `null` fields read as their defaults.
pub(crate) fn read<T: DeserializeOwned>(method: &str, answer: &Value) -> Result<T, Failure> {
    T::deserialize(answer).map_err(|e| Failure(format!("unexpected answer to {method}: {e}"), 1))
}

/// Method params (an `openclaw_protocol::methods` shape) as the request's JSON.
pub(crate) fn params(shape: impl Serialize) -> Value {
    serde_json::to_value(shape).expect("method params serialise")
}

/// A cell for an optional field the gateway may leave out (a name, an IP): its text or "".
pub(crate) fn text(field: &Option<String>) -> &str {
    field.as_deref().unwrap_or("")
}

/// Strings joined with ", " for a table cell.
pub(crate) fn joined(items: &[String]) -> String {
    items.join(", ")
}

/// The string at `k`, or "" (for the free-form payloads that stay JSON: the exec approvals
/// snapshot and the run plan).
pub(crate) fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The array at `k`, or an empty one.
pub(crate) fn list(v: &Value, k: &str) -> Vec<Value> {
    v.get(k).and_then(Value::as_array).cloned().unwrap_or_default()
}

/// The lines of a table: rows as columns aligned under a header, two spaces apart, with no
/// trailing blanks. Every row has at most as many cells as the header.
pub(crate) fn table_lines(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    // Padded by hand: a `{:<w$}` width above u16::MAX (a 100,000-character node name) panics.
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i].saturating_sub(c.chars().count()))))
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    std::iter::once(line(&header)).chain(rows.iter().map(|r| line(r))).collect()
}

/// Prints rows as aligned columns under a header (see [`table_lines`]).
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    for l in table_lines(header, rows) {
        println!("{l}");
    }
}

/// Time elapsed since a past instant, in whole seconds (an instant in the future counts as
/// now). Two wordings exist and both are kept as they are, because each is already printed
/// and relied upon: [`Elapsed::rounded_ago`] in the operator tables (devices, nodes,
/// approvals) and [`Elapsed::two_units`] in `node status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed {
    secs: u64,
}

impl Elapsed {
    /// From `at_ms` to `now_ms` (Unix milliseconds).
    pub(crate) fn between(at_ms: i64, now_ms: i64) -> Self {
        Elapsed { secs: ((now_ms - at_ms).max(0) / 1000) as u64 }
    }

    /// From `at_ms` to the current time.
    pub(crate) fn since(at_ms: i64) -> Self {
        Self::between(at_ms, openclaw_state::now_ms())
    }

    /// One rounded-down unit with "ago": `just now` (under 10 s), `42s ago` (under 2 min),
    /// `5m ago` (under 2 h), `3h ago` (under 2 days), `4d ago`.
    pub(crate) fn rounded_ago(self) -> String {
        let secs = self.secs;
        match secs {
            0..=9 => "just now".into(),
            10..=119 => format!("{secs}s ago"),
            120..=7199 => format!("{}m ago", secs / 60),
            7200..=172_799 => format!("{}h ago", secs / 3600),
            _ => format!("{}d ago", secs / 86_400),
        }
    }

    /// The two largest units, no suffix: `42s`, `5m 3s`, `3h 4m`, `2d 1h` (uptime).
    pub(crate) fn two_units(self) -> String {
        match self.secs {
            s if s < 60 => format!("{s}s"),
            s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
            s if s < 86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
            s => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        }
    }

    /// [`Elapsed::two_units`] followed by " ago" (`connected since 5m 3s ago`).
    pub(crate) fn two_units_ago(self) -> String {
        format!("{} ago", self.two_units())
    }
}

/// A table cell for an optional timestamp: [`Elapsed::rounded_ago`] until now, or `-`.
pub(crate) fn age_cell(at_ms: Option<i64>) -> String {
    match at_ms {
        Some(ms) => Elapsed::since(ms).rounded_ago(),
        None => "-".into(),
    }
}

/// Whether stdin and stderr are both a terminal: only then can anyone answer a prompt.
pub(crate) fn terminal_can_prompt() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks on the terminal about one gateway plugin approval prompt (`title`, `description`):
/// `allow-once`, `allow-always` (when offered) or `deny`; end of input denies. Blocking: call
/// it off the async threads.
pub(crate) fn ask_plugin_prompt(title: &str, description: &str, always: bool) -> &'static str {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "Approval required: {title}");
    for line in description.lines() {
        let _ = writeln!(err, "  {line}");
    }
    match read_choice(always) {
        Decision::AllowOnce => "allow-once",
        Decision::AllowAlways => "allow-always",
        Decision::Deny => "deny",
    }
}

/// Reads `[o]nce / [a]lways / [d]eny` from stdin until a valid answer; end of input denies.
fn read_choice(always: bool) -> Decision {
    let mut err = std::io::stderr();
    let choices = if always { "[o]nce / [a]lways / [d]eny" } else { "[o]nce / [d]eny" };
    let stdin = std::io::stdin();
    loop {
        let _ = write!(err, "Allow? {choices}: ");
        let _ = err.flush();
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => return Decision::Deny,
            Ok(_) => {}
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "o" | "once" | "y" | "yes" => return Decision::AllowOnce,
            "a" | "always" if always => return Decision::AllowAlways,
            "d" | "deny" | "n" | "no" => return Decision::Deny,
            _ => continue,
        }
    }
}

/// Asks on the controlling terminal whether `nodes run` may go ahead when the node requires an
/// approval; without a terminal on both stdin and stderr, nobody can approve.
pub(crate) struct TerminalApprover;

impl Approver for TerminalApprover {
    fn decide(&mut self, node: &str, plan: &Value, allowed: &[String]) -> Option<Decision> {
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            return None;
        }
        let always = allowed.iter().any(|d| d == "allow-always");
        let mut err = std::io::stderr();
        let _ = writeln!(err, "Approval required on node {node}:");
        let _ = writeln!(err, "  command: {}", s(plan, "commandText"));
        if let Some(cwd) = plan.get("cwd").and_then(Value::as_str) {
            let _ = writeln!(err, "  cwd:     {cwd}");
        }
        Some(read_choice(always))
    }
}

/// Logs to stderr: one plain line per event, or full records when RUST_LOG is set.
pub(crate) fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let verbose = std::env::var_os("RUST_LOG").is_some();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false);
    if verbose {
        builder.with_target(true).init();
    } else {
        // One plain line per state change, like the reference host.
        builder.without_time().with_target(false).with_level(false).init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(row: &[&str]) -> Vec<String> {
        row.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn table_aligns_columns_two_spaces_apart_without_trailing_blanks() {
        let rows = vec![cells(&["a-long-request", "dev", ""]), cells(&["r2", "a device name", "x"])];
        assert_eq!(
            table_lines(&["Request", "Device", "IP"], &rows),
            vec!["Request         Device         IP", "a-long-request  dev", "r2              a device name  x",]
        );
    }

    #[test]
    fn table_counts_characters_not_bytes_in_cells() {
        let rows = vec![cells(&["paired · connected", "é"]), cells(&["x", "y"])];
        assert_eq!(
            table_lines(&["Status", "N"], &rows),
            vec!["Status              N", "paired · connected  é", "x                   y"]
        );
    }

    /// A cell wider than `u16::MAX` (a hostile node name) once panicked in `{:<w$}`.
    #[test]
    fn table_with_a_huge_cell_pads_instead_of_panicking() {
        let huge = "a".repeat(100_000);
        let lines = table_lines(&["Node", "ID"], &[cells(&[&huge, "x"]), cells(&["b", "y"])]);
        assert_eq!(lines[2], format!("b{}  y", " ".repeat(99_999)));
        assert_eq!(lines[1], format!("{huge}  x"));
    }

    #[test]
    fn table_of_no_rows_is_its_header() {
        assert_eq!(table_lines(&["Node", "ID", "IP", "Last Seen"], &[]), vec!["Node  ID  IP  Last Seen"]);
    }

    #[test]
    fn rounded_ago_uses_one_unit() {
        let at = 1_000_000_000;
        let ago = |secs: i64| Elapsed::between(at, at + secs * 1000).rounded_ago();
        let expected = [
            (-5, "just now"),
            (0, "just now"),
            (9, "just now"),
            (10, "10s ago"),
            (119, "119s ago"),
            (120, "2m ago"),
            (7199, "119m ago"),
            (7200, "2h ago"),
            (172_799, "47h ago"),
            (172_800, "2d ago"),
            (10 * 86_400 + 5, "10d ago"),
        ];
        for (secs, text) in expected {
            assert_eq!(ago(secs), text, "{secs}s");
        }
        // Milliseconds are rounded down.
        assert_eq!(Elapsed::between(0, 10_999).rounded_ago(), "10s ago");
        assert_eq!(Elapsed::between(0, 9_999).rounded_ago(), "just now");
    }

    #[test]
    fn two_units_keeps_the_two_largest_units() {
        let at = 1_000_000_000;
        let up = |secs: i64| Elapsed::between(at, at + secs * 1000);
        let expected = [
            (-5, "0s"),
            (0, "0s"),
            (59, "59s"),
            (60, "1m 0s"),
            (3599, "59m 59s"),
            (3600, "1h 0m"),
            (86_399, "23h 59m"),
            (86_400, "1d 0h"),
            (3 * 86_400 + 7 * 3600 + 59, "3d 7h"),
        ];
        for (secs, text) in expected {
            assert_eq!(up(secs).two_units(), text, "{secs}s");
        }
        assert_eq!(up(62).two_units_ago(), "1m 2s ago");
    }

    #[test]
    fn age_cell_of_nothing_is_a_dash() {
        assert_eq!(age_cell(None), "-");
        assert_eq!(age_cell(Some(openclaw_state::now_ms())), "just now");
    }

    #[test]
    fn json_failure_envelope_has_upstream_shape() {
        assert_eq!(
            failure_envelope("Unknown node: x").to_string(),
            r#"{"ok":false,"error":{"type":"cli_error","message":"Unknown node: x"}}"#
        );
    }

    #[test]
    fn failures_from_errors_exit_1_with_the_error_text() {
        let Failure(message, code) = Failure::from(std::io::Error::other("disk on fire"));
        assert_eq!((message.as_str(), code), ("disk on fire", 1));
    }

    #[test]
    fn json_field_helpers_default_to_empty() {
        let v = json!({"name": "n1", "caps": ["a", 3, "b"], "n": 5});
        assert_eq!(s(&v, "name"), "n1");
        assert_eq!(s(&v, "n"), "");
        assert_eq!(s(&v, "missing"), "");
        assert!(list(&v, "name").is_empty());
        assert_eq!(list(&v, "caps").len(), 3);
    }

    #[test]
    fn typed_reads_default_absent_fields_and_name_the_method_when_a_shape_does_not_fit() {
        use openclaw_protocol::methods::NodeList;
        let Ok(list) = read::<NodeList>("node.list", &json!({"nodes": [{"nodeId": "n", "caps": null}]})) else {
            panic!("absent and null fields read as defaults");
        };
        assert_eq!(list.nodes[0].node_id, "n");
        assert!(list.nodes[0].caps.is_empty());
        let Err(Failure(message, code)) = read::<NodeList>("node.list", &json!({"nodes": [{"nodeId": 5}]})) else {
            panic!("a number is not a node id");
        };
        assert!(message.starts_with("unexpected answer to node.list: "), "{message}");
        assert_eq!(code, 1);
        assert_eq!(joined(&["a".into(), "b".into()]), "a, b");
    }
}
