//! The text of a `system.run` result whose command could not be launched (`exec.md` §5.5).
//!
//! Upstream spawns through Node (libuv) and reports the error's `code` in
//! `Command failed during launch or output capture (<code>)`: the libuv name of the errno
//! (`ENOTDIR`, `E2BIG`, ...), `Unknown system error -<n>` for an errno libuv has no name for,
//! or Node's own `ERR_INVALID_ARG_VALUE` when an argument or the environment cannot be passed
//! at all. The names are data ([`crate::node_errno`]), so they live apart from the runner.
//!
//! Two refusals happen before any spawn, in upstream's order: a NUL byte in an argument after
//! `argv[0]` (execa's own message, which names the argument), then an empty or NUL-carrying
//! program, or a NUL in an environment key or value (Node's `ERR_INVALID_ARG_VALUE`).

use std::collections::BTreeMap;
use std::path::Path;

/// The sanitised launch failure text for a Node error `code`.
pub fn launch_failure_text(code: &str) -> String {
    format!("Command failed during launch or output capture ({code})")
}

/// Node's `code` for a spawn that failed with `errno` (positive, as the OS reports it).
pub fn node_error_code(errno: i32) -> String {
    crate::node_errno::name(errno)
}

/// What upstream refuses before spawning, as the result's `error` text (before the cwd
/// clarification), or `None` when the command can be handed to the OS.
pub fn refuse_before_spawn(argv: &[String], env: &BTreeMap<String, String>) -> Option<String> {
    if let Some(arg) = argv.iter().skip(1).find(|a| a.contains('\0')) {
        return Some(format!("Arguments cannot contain null bytes (\"\\0\"): {arg}"));
    }
    let program_unusable = argv.first().is_none_or(|p| p.is_empty() || p.contains('\0'));
    let env_unusable = env.iter().any(|(k, v)| k.contains('\0') || v.contains('\0'));
    (program_unusable || env_unusable).then(|| launch_failure_text("ERR_INVALID_ARG_VALUE"))
}

/// The `error` text for a spawn that failed with `error` (an errno from the OS), clarified for
/// the working directory as upstream's `clarifyNodeExecCwdSpawnError` does.
pub fn describe_spawn_error(error: &std::io::Error, cwd: Option<&Path>) -> String {
    let code = error.raw_os_error().map(node_error_code);
    let message = match &code {
        Some(code) => launch_failure_text(code),
        None => launch_failure_text("ERR_INVALID_ARG_VALUE"),
    };
    clarify_cwd(message, code.as_deref(), cwd)
}

/// Rewrites a launch failure that comes from a missing or non-directory `cwd`: only for the
/// codes `ENOENT` and `ENOTDIR` (or none), and only when `stat(cwd)` says so itself.
pub fn clarify_cwd(message: String, code: Option<&str>, cwd: Option<&Path>) -> String {
    let Some(cwd) = cwd else { return message };
    if code.is_some_and(|c| c != "ENOENT" && c != "ENOTDIR") {
        return message;
    }
    let reason = match std::fs::metadata(cwd) {
        Ok(m) if m.is_dir() => return message,
        Ok(_) => "is not a directory",
        Err(e) => match e.raw_os_error() {
            Some(ENOTDIR) => "is not a directory",
            Some(ENOENT) if code == Some("ENOTDIR") => "is not a directory",
            Some(ENOENT) => "does not exist",
            _ => return message,
        },
    };
    format!("node exec working directory {reason} on the node host: {} (os reported: {message})", cwd.display())
}

const ENOENT: i32 = 2;
const ENOTDIR: i32 = 20;

#[cfg(test)]
mod tests {
    use super::*;

    /// Rule (issue 11, Node's `err.code`): a launch error names its errno as Node does
    /// (`ENOENT`, `ENOTDIR`, `E2BIG`), never a number.
    #[test]
    fn errno_is_reported_by_its_node_name() {
        assert_eq!(node_error_code(20), "ENOTDIR");
        assert_eq!(node_error_code(7), "E2BIG");
        assert_eq!(node_error_code(8), "ENOEXEC");
        assert_eq!(node_error_code(40), "ELOOP");
        assert_eq!(node_error_code(36), "ENAMETOOLONG");
        assert_eq!(node_error_code(26), "ETXTBSY");
        assert_eq!(node_error_code(10), "Unknown system error -10", "ECHILD has no libuv name");
        let e = std::io::Error::from_raw_os_error(20);
        assert_eq!(describe_spawn_error(&e, None), "Command failed during launch or output capture (ENOTDIR)");
    }

    #[test]
    fn nul_bytes_and_an_empty_program_are_refused_before_spawn_in_upstream_order() {
        let env = BTreeMap::new();
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            refuse_before_spawn(&argv(&["a\0b", "c\0d"]), &env).unwrap(),
            "Arguments cannot contain null bytes (\"\\0\"): c\0d",
            "the arguments are checked before the program"
        );
        let invalid = "Command failed during launch or output capture (ERR_INVALID_ARG_VALUE)";
        assert_eq!(refuse_before_spawn(&argv(&[""]), &env).unwrap(), invalid);
        assert_eq!(refuse_before_spawn(&argv(&["a\0b"]), &env).unwrap(), invalid);
        let bad_env: BTreeMap<String, String> = [("X".to_string(), "a\0b".to_string())].into();
        assert_eq!(refuse_before_spawn(&argv(&["echo"]), &bad_env).unwrap(), invalid);
        assert_eq!(refuse_before_spawn(&argv(&["echo", ""]), &env), None);
    }

    #[test]
    fn cwd_clarification_only_for_enoent_and_enotdir_that_stat_confirms() {
        let msg = || launch_failure_text("ENOENT");
        assert_eq!(
            clarify_cwd(msg(), Some("ENOENT"), Some(Path::new("/nonexistent-xyz"))),
            "node exec working directory does not exist on the node host: /nonexistent-xyz \
             (os reported: Command failed during launch or output capture (ENOENT))"
        );
        assert!(clarify_cwd(msg(), Some("ENOENT"), Some(Path::new("/etc/passwd")))
            .starts_with("node exec working directory is not a directory on the node host: /etc/passwd"));
        assert!(clarify_cwd(msg(), Some("ENOTDIR"), Some(Path::new("/etc/passwd/x")))
            .starts_with("node exec working directory is not a directory on the node host: /etc/passwd/x"));
        assert_eq!(clarify_cwd(msg(), Some("EACCES"), Some(Path::new("/nonexistent-xyz"))), msg());
        assert_eq!(clarify_cwd(msg(), Some("ENOENT"), Some(Path::new("/tmp"))), msg(), "an existing directory");
        // No code (execa's own refusal): the cwd is still checked.
        assert!(clarify_cwd("x".into(), None, Some(Path::new("/nonexistent-xyz"))).contains("does not exist"));
    }
}
