//! The command model: argv, its display text, and shell-wrapper payloads (`exec.md` §3).

/// POSIX shells upstream recognises as wrappers.
pub const POSIX_SHELLS: &[&str] =
    &["ash", "bash", "csh", "dash", "elvish", "fish", "ksh", "mksh", "nu", "osh", "sh", "tcsh", "xonsh", "yash", "zsh"];

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

fn basename(arg: &str) -> &str {
    let base = arg.rsplit(['/', '\\']).next().unwrap_or(arg);
    base.strip_suffix(".exe").unwrap_or(base)
}

/// Skips transparent dispatch wrappers (up to four deep) for classification, returning the
/// index of the effective argv[0].
fn skip_dispatch_wrappers(argv: &[String]) -> usize {
    let mut i = 0;
    for _ in 0..4 {
        let Some(first) = argv.get(i) else { return i };
        let name = basename(first);
        if !crate::allowlist::TRANSPARENT_WRAPPERS.contains(&name) {
            return i;
        }
        i += 1;
        // Skip the wrapper's own options and operands.
        match name {
            "env" => {
                while argv.get(i).is_some_and(|a| a.starts_with('-') || (a.contains('=') && !a.starts_with('='))) {
                    i += 1;
                }
            }
            "nice" | "stdbuf" | "time" | "command" | "builtin" | "exec" | "caffeinate" | "nohup" => {
                while let Some(a) = argv.get(i) {
                    if a == "-n" || a == "-o" {
                        i += 2;
                    } else if a.starts_with('-') {
                        i += 1;
                    } else {
                        break;
                    }
                }
            }
            "timeout" | "flock" | "sandbox-exec" => {
                while argv.get(i).is_some_and(|a| a.starts_with('-')) {
                    i += 1;
                }
                i += 1; // duration / lock file / profile
            }
            _ => {}
        }
    }
    i
}

/// Whether argv runs a shell (after transparent wrappers), with or without `-c`.
pub fn is_shell_wrapper(argv: &[String]) -> bool {
    let i = skip_dispatch_wrappers(argv);
    argv.get(i).is_some_and(|a| {
        let name = basename(a);
        POSIX_SHELLS.contains(&name) || ["cmd", "powershell", "pwsh"].contains(&name.to_ascii_lowercase().as_str())
    })
}

/// The inline script of a shell wrapper (`sh -c '…'`), and whether the form is a login or
/// interactive shell (whose payload is not trusted as the command's meaning).
pub fn shell_payload_candidate(argv: &[String]) -> Option<(String, bool)> {
    let start = skip_dispatch_wrappers(argv);
    let shell = argv.get(start)?;
    if !POSIX_SHELLS.contains(&basename(shell)) {
        return None;
    }
    let mut login = false;
    let mut i = start + 1;
    while let Some(arg) = argv.get(i) {
        match arg.as_str() {
            "-c" | "--command" | "--commands" | "--cmdline" => return argv.get(i + 1).map(|p| (p.clone(), login)),
            "--login" | "-l" | "-i" | "--interactive" => login = true,
            a if a.starts_with('-') && !a.starts_with("--") => {
                let flags = &a[1..];
                if flags.contains('l') || flags.contains('i') {
                    login = true;
                }
                if flags.contains('c') {
                    return argv.get(i + 1).map(|p| (p.clone(), login));
                }
            }
            _ => return None,
        }
        i += 1;
    }
    None
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
}

/// Checks `rawCommand` against argv: it must equal the command text or the shell payload. A
/// login/interactive shell's payload counts only when `rawCommand` names it.
pub fn resolve_command(argv: Vec<String>, raw_command: Option<&str>) -> Result<CommandRequest, RawCommandMismatch> {
    let command_text = format_command(&argv);
    let raw = raw_command.map(str::trim).filter(|r| !r.is_empty());
    let candidate = shell_payload_candidate(&argv);
    if let Some(raw) = raw {
        let payload_matches = candidate.as_ref().is_some_and(|(p, _)| p.trim() == raw);
        if raw != command_text && !payload_matches {
            return Err(RawCommandMismatch);
        }
    }
    let shell_payload = match candidate {
        Some((p, false)) => Some(p),
        Some((p, true)) if raw.is_some() => Some(p),
        _ => None,
    };
    Ok(CommandRequest { argv, command_text, shell_payload })
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
}
