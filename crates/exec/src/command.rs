//! The command model: argv, its display text, and shell-wrapper payloads (`exec.md` §3.1).
//!
//! What a wrapper carries is decided in [`crate::wrappers`]; this module only decides which
//! texts may stand for the argv (`rawCommand`) and which payload the policy analyses.

use crate::wrappers;

/// POSIX shells upstream recognises as wrappers.
pub use crate::wrappers::POSIX_SHELLS;

/// `formatExecCommand`: arguments joined by spaces; an empty argument is `""`, an argument with
/// whitespace or `"` is quoted with inner `"` escaped (backslashes are left alone).
pub fn format_command(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.is_empty() {
                "\"\"".to_string()
            } else if a.chars().any(|c| c.is_whitespace() || c == '"') {
                format!("\"{}\"", a.replace('"', "\\\""))
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether argv runs a shell (after dispatch wrappers), with or without an inline command.
pub fn is_shell_wrapper(argv: &[String]) -> bool {
    wrappers::is_shell_wrapper_invocation(argv)
}

/// A `rawCommand` that does not describe `command`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("INVALID_REQUEST: rawCommand does not match command")]
pub struct RawCommandMismatch;

/// The command as the request describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRequest {
    /// The argv as sent (after `String()` coercion).
    pub argv: Vec<String>,
    /// `format_command(argv)`.
    pub command_text: String,
    /// The trusted inline shell script, if any.
    pub shell_payload: Option<String>,
    /// The payload, trimmed, when it alone describes the run (no `env` with modifiers before
    /// the shell, no positional arguments after the payload): what `rawCommand` may name
    /// instead of the command text, and what a plan shows as `commandPreview`.
    pub preview: Option<String>,
}

/// Checks `rawCommand` against argv (`resolveSystemRunCommandRequest`). A non-empty,
/// trimmed `rawCommand` must equal the command text, or the *preview*: the shell payload, when
/// one may be bound and nothing else shapes the run (no `env` with modifiers before the shell,
/// no positional arguments after the payload). Login and interactive shells have no bindable
/// payload, except `sh -lc` when `rawCommand` names its payload or its argv.
pub fn resolve_command(argv: Vec<String>, raw_command: Option<&str>) -> Result<CommandRequest, RawCommandMismatch> {
    let command_text = format_command(&argv);
    let raw = raw_command.map(str::trim).filter(|r| !r.is_empty());
    let rawless = wrappers::extract_shell_wrapper_command(&argv, None);
    let resolved = match (&rawless.command, raw) {
        (None, Some(_)) => wrappers::extract_shell_wrapper_command(&argv, raw),
        _ => rawless,
    };
    let shaped_by_more_than_payload = wrappers::has_trailing_positional_argv(&argv)
        || (resolved.is_wrapper && wrappers::has_env_manipulation_before_shell_wrapper(&argv));
    let preview = resolved.command.as_deref().filter(|_| !shaped_by_more_than_payload).map(|p| p.trim().to_string());
    if let Some(raw) = raw {
        if raw != command_text && preview.as_deref() != Some(raw) {
            return Err(RawCommandMismatch);
        }
    }
    Ok(CommandRequest { argv, command_text, shell_payload: resolved.command, preview })
}

/// JavaScript's `String(value)` for JSON values, which upstream applies to argv and `bins`
/// entries (`null` inside an array becomes the empty string, as `Array.prototype.join` does).
pub fn js_string(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Array(a) => {
            a.iter().map(|x| if x.is_null() { String::new() } else { js_string(x) }).collect::<Vec<_>>().join(",")
        }
        serde_json::Value::Object(_) => "[object Object]".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn format_vectors() {
        assert_eq!(format_command(&v(&["echo", "a b", ""])), r#"echo "a b" """#);
        assert_eq!(format_command(&v(&["/bin/sh", "-lc", "echo hi"])), r#"/bin/sh -lc "echo hi""#);
        assert_eq!(format_command(&v(&["echo", "say \"hi\"", "a\\b"])), r#"echo "say \"hi\"" a\b"#);
    }

    #[test]
    fn raw_command_and_payload_vectors() {
        assert_eq!(resolve_command(v(&["ls", "-la"]), Some("ls  -la")), Err(RawCommandMismatch));
        assert!(resolve_command(v(&["ls", "-la"]), Some(" ls -la ")).is_ok());
        assert_eq!(resolve_command(v(&["/bin/sh", "-lc", "echo hi"]), None).unwrap().shell_payload, None);
        assert_eq!(
            resolve_command(v(&["/bin/sh", "-lc", "echo hi"]), Some(r#"/bin/sh -lc "echo hi""#))
                .unwrap()
                .shell_payload
                .as_deref(),
            Some("echo hi")
        );
        assert_eq!(resolve_command(v(&["bash", "-lc", "ls"]), None).unwrap().shell_payload, None);
        assert_eq!(
            resolve_command(v(&["/bin/sh", "-c", "ls | wc -l"]), None).unwrap().shell_payload.as_deref(),
            Some("ls | wc -l")
        );
        assert_eq!(
            resolve_command(v(&["env", "FOO=1", "bash", "-c", "echo $FOO"]), None).unwrap().shell_payload.as_deref(),
            Some("echo $FOO")
        );
        // rawCommand may name the payload instead of the full text.
        assert!(resolve_command(v(&["/bin/sh", "-c", "ls | wc -l"]), Some("ls | wc -l")).is_ok());
    }

    #[test]
    fn shell_wrapper_detection() {
        assert!(is_shell_wrapper(&v(&["bash", "script.sh"])));
        assert!(is_shell_wrapper(&v(&["nice", "-n", "5", "/bin/sh", "-c", "ls"])));
        assert!(is_shell_wrapper(&v(&["timeout", "5", "sh", "-c", "ls"])));
        assert!(!is_shell_wrapper(&v(&["ls", "-la"])));
        assert!(!is_shell_wrapper(&v(&["env", "ls"])));
    }

    /// Rule (§3.1): rawCommand may name the payload only when the payload alone describes the
    /// run: found through dispatch wrappers (any option grammar they accept), never for a
    /// login/interactive shell (bar `sh -lc`), never behind `env` with modifiers, never with
    /// positional arguments after it, never behind `command`/`exec` (not dispatch wrappers).
    #[test]
    fn raw_command_preview_rules() {
        let ok = |argv: &[&str], raw: &str| resolve_command(v(argv), Some(raw)).is_ok();
        assert!(!ok(&["bash", "-lc", "echo hi"], "echo hi"), "login-shell payload is not a preview");
        assert!(!ok(&["bash", "-l", "-c", "echo hi"], "echo hi"));
        assert!(!ok(&["bash", "-ic", "echo hi"], "echo hi"));
        assert!(ok(&["sh", "-lc", "echo hi"], "echo hi"), "the legacy sh -lc form");
        assert!(ok(&["timeout", "-s", "TERM", "5", "bash", "--command", "ls"], "ls"));
        assert!(!ok(&["timeout", "-sTERM", "5", "bash", "--command", "ls"], "ls"), "blocked timeout form");
        assert!(ok(&["env", "--", "sh", "-c", "ls"], "ls"));
        assert!(!ok(&["env", "FOO=1", "sh", "-c", "ls"], "ls"), "env with modifiers before the shell");
        assert!(!ok(&["sh", "-c", "echo $0", "x"], "echo $0"), "positional argv after the payload");
        assert!(!ok(&["command", "sh", "-c", "ls"], "ls"), "command is not a dispatch wrapper");
        assert!(!ok(&["exec", "sh", "-c", "ls"], "ls"));
        let env_shell = resolve_command(v(&["env", "FOO=1", "sh", "-c", "ls", "argv0"]), None).unwrap();
        assert_eq!((env_shell.shell_payload.as_deref(), env_shell.preview), (Some("ls"), None));
        assert_eq!(resolve_command(v(&["command", "sh", "-c", "ls"]), None).unwrap().shell_payload, None);
        assert_eq!(
            resolve_command(v(&["nice", "-n", "5", "sh", "-c", "ls"]), None).unwrap().shell_payload.as_deref(),
            Some("ls")
        );
        assert_eq!(
            resolve_command(v(&["env", "FOO=1", "sh", "-c", "ls"]), None).unwrap().shell_payload.as_deref(),
            Some("ls"),
            "the payload is still analysed; it just cannot stand for the argv"
        );
    }
}
