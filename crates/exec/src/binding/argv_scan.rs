//! The argv grammar the mutable-operand rules read (`exec.md` §3.3, §6.1) besides the
//! wrappers themselves: option tokens, package-manager exec forms (`npx`, `npm exec`, `pnpm
//! dlx`/`exec`/`node`, `yarn exec`/`dlx`), the POSIX shell inline-command scan and the
//! interpreter-like executables.
//!
//! Upstream's binding rules look through these layers with their own small grammars, and
//! which argv index a binding names depends on exactly where each layer's options end, so
//! these follow upstream token by token. Dispatch wrappers, shell multiplexers, shell-style
//! splitting and the executable trust plan are the crate's one wrapper analysis
//! ([`crate::wrappers`]), re-exported here for the binding rules.

pub use crate::wrappers::{
    exec_wrapper_trust_plan, normalize_executable_token, split_shell_args, unwrap_dispatch_wrapper as unwrap_dispatch,
    unwrap_shell_multiplexer, Unwrap,
};

/// `name[=value]` of an option token.
pub fn split_option(token: &str) -> (&str, Option<&str>) {
    match token.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (token, None),
    }
}

/// The lower-cased, trimmed option name of a token (`--RCFILE=x` → `--rcfile`).
pub fn option_flag(token: &str) -> String {
    split_option(token).0.trim().to_lowercase()
}

/// Shell names upstream treats as wrappers (POSIX-like, `cmd`, PowerShell).
pub const POSIX_SHELLS: &[&str] =
    &["ash", "bash", "csh", "dash", "elvish", "fish", "ksh", "mksh", "nu", "osh", "sh", "tcsh", "xonsh", "yash", "zsh"];
/// POSIX shells whose argv grammar upstream parses.
pub const PARSEABLE_SHELLS: &[&str] = &["ash", "bash", "dash", "fish", "ksh", "mksh", "sh", "yash", "zsh"];

/// An option grammar of a package manager's exec form.
pub struct PmOptions {
    /// Options taking a value (compared lower-cased).
    pub with_value: &'static [&'static str],
    /// Options taking a value, compared as written.
    pub case_sensitive_with_value: &'static [&'static str],
    /// Flags.
    pub flags: &'static [&'static str],
}

/// pnpm's global options taking a value.
pub const PNPM_OPTIONS_WITH_VALUE: &[&str] =
    &["--config", "--dir", "--filter", "--reporter", "--stream", "--test-pattern", "--workspace-concurrency"];
/// pnpm's options taking a value, compared as written.
pub const PNPM_CASE_SENSITIVE_OPTIONS_WITH_VALUE: &[&str] = &["-C"];
/// pnpm's flags.
pub const PNPM_FLAG_OPTIONS: &[&str] =
    &["--aggregate-output", "--color", "--parallel", "--recursive", "--silent", "--workspace-root", "-r", "-s", "-w"];
/// `pnpm dlx`'s options taking a value.
pub const PNPM_DLX_OPTIONS_WITH_VALUE: &[&str] = &["--allow-build", "--package", "-p"];
const PNPM_EXEC_WITH_VALUE: &[&str] = &[
    "--config",
    "--dir",
    "--filter",
    "--reporter",
    "--stream",
    "--test-pattern",
    "--workspace-concurrency",
    "--allow-build",
    "--package",
    "-p",
];
const NPM_EXEC_OPTIONS_WITH_VALUE: &[&str] =
    &["--cache", "--loglevel", "--package", "--prefix", "--script-shell", "--userconfig", "--workspace", "-p", "-w"];
const NPM_EXEC_FLAG_OPTIONS: &[&str] = &["--no", "--quiet", "--ws", "--workspaces", "--yes", "-q", "-y"];
const NPM_EXEC: PmOptions = PmOptions {
    with_value: NPM_EXEC_OPTIONS_WITH_VALUE,
    case_sensitive_with_value: &["-C"],
    flags: NPM_EXEC_FLAG_OPTIONS,
};
const NPM_DIRECT: PmOptions =
    PmOptions { with_value: NPM_EXEC_OPTIONS_WITH_VALUE, case_sensitive_with_value: &[], flags: NPM_EXEC_FLAG_OPTIONS };
const PNPM_EXEC: PmOptions = PmOptions {
    with_value: PNPM_EXEC_WITH_VALUE,
    case_sensitive_with_value: PNPM_CASE_SENSITIVE_OPTIONS_WITH_VALUE,
    flags: PNPM_FLAG_OPTIONS,
};
const PNPM_DLX: PmOptions =
    PmOptions { with_value: PNPM_EXEC_WITH_VALUE, case_sensitive_with_value: &[], flags: PNPM_FLAG_OPTIONS };
const YARN: PmOptions =
    PmOptions { with_value: &["--cwd"], case_sensitive_with_value: &[], flags: &["--immutable", "--silent", "-s"] };
const YARN_DLX: PmOptions =
    PmOptions { with_value: &["--package", "-p"], case_sensitive_with_value: &[], flags: &["--quiet", "-q"] };

/// What a `--` does while looking for a package manager's first operand.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Terminator {
    Skip,
    Reject,
    Stop,
}

/// The index of the first operand after a package manager's options; `None` for an unknown
/// option.
fn first_operand(argv: &[String], start: usize, options: &PmOptions, terminator: Terminator) -> Option<usize> {
    let mut idx = start;
    while idx < argv.len() {
        let token = argv[idx].trim();
        if token.is_empty() {
            idx += 1;
            continue;
        }
        if token == "--" {
            match terminator {
                Terminator::Reject => return None,
                Terminator::Stop => return (idx + 1 < argv.len()).then_some(idx + 1),
                Terminator::Skip => {
                    idx += 1;
                    continue;
                }
            }
        }
        if !token.starts_with('-') {
            return Some(idx);
        }
        let name = split_option(token).0;
        let flag = name.trim().to_lowercase();
        if options.case_sensitive_with_value.contains(&name) || options.with_value.contains(&flag.as_str()) {
            idx += if token.contains('=') { 1 } else { 2 };
        } else if options.flags.contains(&flag.as_str()) {
            idx += 1;
        } else {
            return None;
        }
    }
    None
}

/// `normalizePackageManagerExecToken`: the executable name without a `.js`/`.cjs`/`.mjs` suffix.
pub fn normalize_package_manager_token(token: &str) -> String {
    let name = normalize_executable_token(token);
    for suffix in [".cjs", ".mjs", ".js"] {
        if name.len() > suffix.len() && name.ends_with(suffix) {
            return name[..name.len() - suffix.len()].to_string();
        }
    }
    name
}

fn strip_leading_separator(tail: &[String]) -> &[String] {
    if tail.first().is_some_and(|t| t == "--") {
        &tail[1..]
    } else {
        tail
    }
}

/// The argv a package manager's exec form runs (`npm exec -- tool`, `npx tool`, `pnpm dlx
/// tool`, `pnpm node x.js`, `yarn exec tool`), or `None`.
pub fn unwrap_package_manager_exec(argv: &[String]) -> Option<Vec<String>> {
    match normalize_package_manager_token(argv.first()?).as_str() {
        "npm" => {
            let idx = first_operand(argv, 1, &NPM_EXEC, Terminator::Reject)?;
            if !["exec", "x"].contains(&argv[idx].trim()) {
                return None;
            }
            let tail = &argv[idx + 1..];
            if tail.first().is_some_and(|t| t == "--") {
                return (tail.len() > 1).then(|| tail[1..].to_vec());
            }
            first_operand(argv, idx + 1, &NPM_DIRECT, Terminator::Reject).map(|i| argv[i..].to_vec())
        }
        "npx" | "bunx" => first_operand(argv, 1, &NPM_DIRECT, Terminator::Reject).map(|i| argv[i..].to_vec()),
        "pnpm" => {
            let idx = first_operand(argv, 1, &PNPM_EXEC, Terminator::Skip)?;
            match argv[idx].trim() {
                "exec" => {
                    let tail = strip_leading_separator(&argv[idx + 1..]);
                    let first = tail.first().map(|t| option_flag(t)).unwrap_or_default();
                    (first != "-c" && first != "--shell-mode" && !tail.is_empty()).then(|| tail.to_vec())
                }
                "dlx" => first_operand(argv, idx + 1, &PNPM_DLX, Terminator::Stop).map(|i| argv[i..].to_vec()),
                "node" => {
                    let mut out = vec!["node".to_string()];
                    out.extend(strip_leading_separator(&argv[idx + 1..]).iter().cloned());
                    Some(out)
                }
                _ => None,
            }
        }
        "yarn" => {
            let idx = first_operand(argv, 1, &YARN, Terminator::Skip)?;
            match argv[idx].trim() {
                "exec" => {
                    let tail = strip_leading_separator(&argv[idx + 1..]);
                    (!tail.is_empty()).then(|| tail.to_vec())
                }
                "dlx" => first_operand(argv, idx + 1, &YARN_DLX, Terminator::Stop).map(|i| argv[i..].to_vec()),
                _ => None,
            }
        }
        _ => None,
    }
}

// How many argv tokens a POSIX shell option takes while scanning (`-o name` is two): the
// shell-wrapper analysis's rule, shared so both scans agree.
pub(crate) use crate::wrappers::posix_option_width;

/// Where a POSIX shell's inline command would be (`-c CMD`, `-xc CMD`, `-cCMD`): the value's
/// argv index, or `None` when there is no inline-command flag. `is_option` says which tokens
/// are options; the scan stops at the first one that is not.
pub fn posix_inline_command_index(argv: &[String], is_option: impl Fn(&str) -> bool) -> Option<usize> {
    let mut i = 1;
    while i < argv.len() {
        let token = argv[i].trim();
        if token.is_empty() {
            i += 1;
            continue;
        }
        if token == "--" {
            break;
        }
        if crate::wrappers::POSIX_INLINE_FLAGS.contains(&token) {
            return (i + 1 < argv.len()).then_some(i + 1);
        }
        if let Some((attached, values)) = crate::wrappers::parse_combined_command_flag(token) {
            return Some(if attached.is_some() { i } else { i + 1 + values });
        }
        if !is_option(token) || (!token.starts_with('-') && !token.starts_with('+')) {
            break;
        }
        i += posix_option_width(token);
    }
    None
}

const INTERPRETER_LIKE_SAFE_BINS: &[&str] = &[
    "ash",
    "awk",
    "bash",
    "busybox",
    "bun",
    "cmd",
    "cmd.exe",
    "cscript",
    "dash",
    "deno",
    "fish",
    "gawk",
    "gsed",
    "ksh",
    "lua",
    "mawk",
    "nawk",
    "node",
    "nodejs",
    "perl",
    "php",
    "powershell",
    "powershell.exe",
    "pypy",
    "pwsh",
    "pwsh.exe",
    "python",
    "python2",
    "python3",
    "ruby",
    "sed",
    "sh",
    "toybox",
    "wscript",
    "zsh",
];

/// `name` followed by digits and at most one `.digits` group (`python3.12`, `node20`).
fn versioned(name: &str, prefix: &str) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else { return false };
    let (major, minor) = match rest.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    digits(major) && minor.is_none_or(digits)
}

/// Executables that interpret scripts or run broad embedded programs.
pub fn is_interpreter_like(raw: &str) -> bool {
    let lower = raw.trim().to_lowercase();
    let base = lower.rsplit(['/', '\\']).next().unwrap_or(&lower);
    let mut name = base.to_string();
    for suffix in [".exe", ".cmd", ".bat", ".com"] {
        if let Some(stripped) = base.strip_suffix(suffix) {
            name = stripped.to_string();
            break;
        }
    }
    !name.is_empty()
        && (INTERPRETER_LIKE_SAFE_BINS.contains(&name.as_str())
            || ["python", "ruby", "perl", "php", "node"].iter().any(|p| versioned(&name, p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn package_manager_exec_forms() {
        let un = |a: &[&str]| unwrap_package_manager_exec(&v(a));
        assert_eq!(un(&["npx", "tsx", "a.ts"]), Some(v(&["tsx", "a.ts"])));
        assert_eq!(un(&["npm", "exec", "--", "tsx", "a.ts"]), Some(v(&["tsx", "a.ts"])));
        assert_eq!(un(&["pnpm", "dlx", "tsx", "a.ts"]), Some(v(&["tsx", "a.ts"])));
        assert_eq!(un(&["pnpm", "node", "a.js"]), Some(v(&["node", "a.js"])));
        assert_eq!(un(&["pnpm", "exec", "-c", "x"]), None);
        assert_eq!(un(&["yarn", "exec", "tsx"]), Some(v(&["tsx"])));
        assert_eq!(un(&["npm", "install"]), None);
    }

    #[test]
    fn shell_splitting_and_inline_command_scan() {
        let opt = |t: &str| t.starts_with('-') || t.starts_with('+');
        assert_eq!(posix_inline_command_index(&v(&["sh", "-c", "ls"]), opt), Some(2));
        assert_eq!(posix_inline_command_index(&v(&["sh", "-o", "errexit", "-c", "ls"]), opt), Some(4));
        assert_eq!(posix_inline_command_index(&v(&["sh", "-xc", "ls"]), opt), Some(2));
        assert_eq!(posix_inline_command_index(&v(&["sh", "script.sh", "-c"]), opt), None);
        assert_eq!(posix_inline_command_index(&v(&["sh", "-c"]), opt), None);
    }

    #[test]
    fn names_and_interpreters() {
        assert_eq!(normalize_executable_token("/usr/bin/Python3.EXE"), "python3");
        assert!(is_interpreter_like("/usr/bin/python3.12"));
        assert!(is_interpreter_like("node20"));
        assert!(!is_interpreter_like("ls"));
    }
}
