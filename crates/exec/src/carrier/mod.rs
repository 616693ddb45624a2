//! Command carriers and dispatch wrappers as upstream's risk analysis reads them
//! (`exec.md` §3.3, §4.4, §4.8): commands that run another command given in their own argv
//! (`env`, `sudo`, `doas`, `command`, `builtin`, `exec`, `xargs`, `find -exec`, `nice`, …).
//!
//! Two checks walk these: inline-eval detection looks *through* them (`sudo python3 -c …` is
//! still `python3 -c`), and shell-payload segments that are carriers are prompt-only (never
//! satisfied by the allowlist, whatever it says about the carrier itself), because the command
//! they run is not the segment's executable. Every parser here follows upstream's option
//! tables; a shape it does not recognise is "not unwrapped" (inline-eval detection then looks
//! no further, and a dispatch wrapper it cannot read is blocked), as upstream does.

pub use crate::wrappers::{
    is_dispatch_wrapper, is_shell_wrapper_executable, normalize_executable_token as normalize_executable,
    unwrap_dispatch_wrapper, Unwrap as DispatchUnwrap,
};
use crate::wrappers::{is_env_assignment_token as is_env_assignment, parse_env_prelude};

/// The argv without leading `NAME=value` words.
pub fn strip_leading_assignments(argv: &[String]) -> &[String] {
    let skip = argv.iter().take_while(|a| is_env_assignment(a)).count();
    &argv[skip..]
}

/// `name` and `name=value` split at the first `=`.
pub(crate) fn option_name(token: &str) -> &str {
    token.split_once('=').map_or(token, |(name, _)| name)
}

mod options;

use options::{DOAS_OPTIONS, EXEC_OPTIONS, SUDO_OPTIONS};

/// The command `env` carries (`-S` payloads split and re-read), or `None`.
fn env_carried_argv(argv: &[String]) -> Option<Vec<String>> {
    let prelude = parse_env_prelude(argv, 0)?;
    Some(prelude.split_argv.unwrap_or_else(|| argv[prelude.command_index..].to_vec()))
}

/// `env -S '…'`: the split-string option as written (`-S`, `-s`, `--split-string`), when env
/// carries its command that way (`detectEnvSplitStringFlag`).
fn env_split_string_flag(argv: &[String]) -> Option<String> {
    if normalize_executable(argv.first()?) != "env" {
        return None;
    }
    let prelude = parse_env_prelude(argv, 0)?;
    prelude.split_argv.as_ref()?;
    for token in argv.get(1..prelude.command_index).unwrap_or_default() {
        let token = token.trim();
        if token == "-S" || token == "-s" || token == "--split-string" {
            return Some(token.to_string());
        }
        if token.starts_with("--split-string=") || (token.starts_with("-S") && token.len() > 2) {
            return Some(if token.starts_with("--") { "--split-string" } else { "-S" }.to_string());
        }
        if token.starts_with('-') && !token.starts_with("--") {
            for option in token[1..].chars() {
                if option == 'S' {
                    return Some("-S".into());
                }
                if option == 's' {
                    return Some("-s".into());
                }
            }
        }
    }
    None
}

/// The command a carrier runs: `env` (with `-S`), `command`/`builtin` (`-p` only), `sudo`,
/// `doas`, and `exec` when `include_exec`; `None` when argv is not such a carrier or does not
/// run a command.
pub fn carried_argv(argv: &[String], include_exec: bool) -> Option<Vec<String>> {
    let name = normalize_executable(argv.first()?);
    match name.as_str() {
        "env" => env_carried_argv(argv),
        "command" | "builtin" => {
            for (index, token) in argv.iter().enumerate().skip(1) {
                if token == "--" {
                    return Some(argv[index + 1..].to_vec());
                }
                if !token.starts_with('-') {
                    return Some(argv[index..].to_vec());
                }
                if option_name(token) != "-p" {
                    return None;
                }
            }
            None
        }
        "sudo" | "doas" => {
            let (options, sudo) = if name == "sudo" { (&SUDO_OPTIONS, true) } else { (&DOAS_OPTIONS, false) };
            let strip = |rest: &[String]| {
                let rest = if sudo { strip_leading_assignments(rest) } else { rest };
                (!rest.is_empty()).then(|| rest.to_vec())
            };
            let mut index = 1;
            while let Some(token) = argv.get(index) {
                if token == "--" {
                    return strip(&argv[index + 1..]);
                }
                if !token.starts_with('-') {
                    return strip(&argv[index..]);
                }
                let parsed = options.parse(token)?;
                if options.consumes_next(&parsed)? {
                    index += 1;
                }
                index += 1;
            }
            None
        }
        "exec" if include_exec => {
            let mut index = 1;
            while let Some(token) = argv.get(index) {
                if token == "--" {
                    return Some(argv[index + 1..].to_vec());
                }
                if !token.starts_with('-') {
                    return Some(argv[index..].to_vec());
                }
                let parsed = EXEC_OPTIONS.parse(token)?;
                if EXEC_OPTIONS.consumes_next(&parsed) == Some(true) {
                    index += 1;
                }
                index += 1;
            }
            None
        }
        _ => None,
    }
}

/// The carriers [`carried_argv`] reads.
pub fn is_command_carrier(normalized: &str, include_exec: bool) -> bool {
    matches!(normalized, "sudo" | "doas" | "env" | "command" | "builtin") || (include_exec && normalized == "exec")
}

/// Why a segment is a command carrier (upstream's `command-carrier` risk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierHit {
    /// The carrier (`find`, `xargs`, `sudo`, `env`, …).
    pub command: String,
    /// The option that makes it one (`-exec`, `-S`), when there is one.
    pub flag: Option<String>,
}

/// The command-carrier risks of one argv: `find` with `-exec`/`-execdir`/`-ok`/`-okdir`,
/// `xargs`, a dispatch wrapper whose command cannot be read, and `env -S`.
pub fn command_carriers(argv: &[String]) -> Vec<CarrierHit> {
    let Some(first) = argv.first().filter(|a| !a.is_empty()) else { return Vec::new() };
    let name = normalize_executable(first);
    let mut hits = Vec::new();
    if name == "find" {
        if let Some(flag) = argv.iter().find(|a| ["-exec", "-execdir", "-ok", "-okdir"].contains(&a.as_str())) {
            hits.push(CarrierHit { command: first.clone(), flag: Some(flag.clone()) });
        }
    }
    if name == "xargs" {
        hits.push(CarrierHit { command: name.clone(), flag: None });
    }
    if matches!(unwrap_dispatch_wrapper(argv), DispatchUnwrap::Blocked(_)) {
        hits.push(CarrierHit { command: name.clone(), flag: None });
    }
    if let Some(flag) = env_split_string_flag(argv) {
        hits.push(CarrierHit { command: name, flag: Some(flag) });
    }
    hits
}

/// Whether a shell's argv (from `start`) has an inline-command flag (`-c`, `--command`, a
/// cluster with `c`), as the risk analysis reads it.
fn shell_command_flag(argv: &[String], start: usize) -> bool {
    let shell = normalize_executable(argv.get(start.wrapping_sub(1)).or(argv.first()).map_or("", |s| s.as_str()));
    for token in argv.iter().skip(start) {
        let token = token.trim();
        if token.is_empty() {
            continue;
        }
        if token == "--" {
            break;
        }
        let lower = token.to_lowercase();
        match shell.as_str() {
            "cmd" => {
                if lower == "/c" || lower == "/k" {
                    return true;
                }
            }
            "powershell" | "pwsh" => {
                if ["-c", "-command", "--command", "-encodedcommand", "-enc", "-e", "-f", "-file"]
                    .contains(&lower.as_str())
                {
                    return true;
                }
            }
            _ => {
                if lower == "-c" || lower == "--command" {
                    return true;
                }
                if token.starts_with('-') && !token.starts_with("--") && lower[1..].contains('c') {
                    return true;
                }
            }
        }
    }
    false
}

/// `sudo sh -c …`, `env bash -c …`: the carrier that runs a shell with an inline command.
pub fn shell_wrapper_through_carrier(argv: &[String]) -> Option<String> {
    let name = normalize_executable(argv.first()?);
    if !is_command_carrier(&name, true) {
        return None;
    }
    let carried = carried_argv(argv, true)?;
    if carried.first().is_some_and(|c| is_shell_wrapper_executable(c)) && shell_command_flag(&carried, 1) {
        return Some(name);
    }
    shell_wrapper_through_carrier(&carried).map(|_| name)
}

/// `sudo eval …`, `command . file`: a carrier that runs a shell builtin that evaluates code.
pub fn carried_shell_builtin(argv: &[String]) -> Option<&'static str> {
    if !is_command_carrier(&normalize_executable(argv.first()?), true) {
        return None;
    }
    let carried = carried_argv(argv, true)?;
    if let Some(nested) = carried_shell_builtin(&carried) {
        return Some(nested);
    }
    match normalize_executable(carried.first()?).as_str() {
        "eval" => Some("eval"),
        "." | "source" => Some("source"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    /// Executable names match by basename, case-insensitively, without `.exe`.
    #[test]
    fn executable_names_normalise() {
        assert_eq!(normalize_executable("/usr/bin/Python3.EXE"), "python3");
        assert_eq!(normalize_executable("C:\\bin\\node.cmd"), "node");
        assert_eq!(normalize_executable("xargs"), "xargs");
    }

    /// Carriers: `env` (assignments, options, `-S`), `sudo`/`doas` options, `command -p`,
    /// `exec -a`; non-executing or unknown options carry nothing.
    #[test]
    fn carriers_read_their_command() {
        assert_eq!(
            carried_argv(&v(&["env", "A=1", "-u", "X", "python3", "-c", "1"]), false),
            Some(v(&["python3", "-c", "1"]))
        );
        assert_eq!(
            carried_argv(&v(&["env", "-S", "A=1 python3 -c 'print(1)'", "x"]), false),
            Some(v(&["python3", "-c", "print(1)", "x"]))
        );
        assert_eq!(carried_argv(&v(&["sudo", "-u", "root", "X=1", "ls"]), false), Some(v(&["ls"])));
        assert_eq!(carried_argv(&v(&["sudo", "-uroot", "ls"]), false), Some(v(&["ls"])));
        assert_eq!(carried_argv(&v(&["sudo", "-l", "ls"]), false), None, "sudo -l runs nothing");
        assert_eq!(carried_argv(&v(&["sudo", "--bogus", "ls"]), false), None);
        assert_eq!(carried_argv(&v(&["command", "-p", "ls"]), false), Some(v(&["ls"])));
        assert_eq!(carried_argv(&v(&["command", "-v", "ls"]), false), None, "a query runs nothing");
        assert_eq!(carried_argv(&v(&["exec", "-a", "x", "ls"]), false), None, "exec only when asked for");
        assert_eq!(carried_argv(&v(&["exec", "-a", "x", "ls"]), true), Some(v(&["ls"])));
    }

    /// Upstream's `command-carrier` risk: `find -exec`, `xargs`, blocked dispatch wrappers and
    /// `env -S` are carriers; `find` without an exec action, `nice ls` and `env ls` are not.
    #[test]
    fn command_carrier_risk() {
        assert_eq!(
            command_carriers(&v(&["find", ".", "-execdir", "rm", "{}", ";"])),
            vec![CarrierHit { command: "find".into(), flag: Some("-execdir".into()) }]
        );
        assert!(!command_carriers(&v(&["xargs", "-0"])).is_empty());
        assert!(!command_carriers(&v(&["/usr/bin/sudo", "ls"])).is_empty());
        assert_eq!(command_carriers(&v(&["env", "-S", "ls -l"]))[0].flag.as_deref(), Some("-S"));
        assert!(command_carriers(&v(&["find", ".", "-name", "x"])).is_empty());
        assert!(command_carriers(&v(&["nice", "ls"])).is_empty());
        assert!(command_carriers(&v(&["env", "ls"])).is_empty());
    }

    /// `shell-wrapper-through-carrier` and carried `eval`/`source`.
    #[test]
    fn carried_shells_and_builtins() {
        assert_eq!(shell_wrapper_through_carrier(&v(&["sudo", "sh", "-c", "ls"])).as_deref(), Some("sudo"));
        assert_eq!(shell_wrapper_through_carrier(&v(&["env", "sudo", "bash", "-lc", "ls"])).as_deref(), Some("env"));
        assert_eq!(shell_wrapper_through_carrier(&v(&["sudo", "sh", "script.sh"])), None);
        assert_eq!(carried_shell_builtin(&v(&["command", "eval", "x"])), Some("eval"));
        assert_eq!(carried_shell_builtin(&v(&["sudo", "env", ".", "f"])), Some("source"));
        assert_eq!(carried_shell_builtin(&v(&["sudo", "ls"])), None);
    }
}
