//! Dispatch wrappers (`env`, `nice`, `timeout`, `flock`, …): which ones exist, the option
//! grammar of each transparent one, and one step of unwrapping.
//!
//! This is the innermost layer of the wrapper analysis and the only one that shell-wrapper
//! detection and env-assignment extraction look through, so it stands alone; the trust plan
//! ([`super::exec_wrapper_trust_plan`]) builds on it. Each wrapper's grammar is upstream's;
//! anything outside it makes the wrapper blocked, the fail-closed direction.

use super::env_prelude::{env_carried_argv, env_uses_modifiers, parse_env_prelude};
use super::normalize_executable_token;
use super::options::split_inline_option;
use super::MAX_WRAPPER_DEPTH;

/// What one argv token means to a wrapper's option scanner.
enum Scan {
    /// The wrapper's options end here; this token starts what follows them.
    Stop,
    /// An option the wrapper understands.
    Continue,
    /// An option whose value is the next token.
    ConsumeNext,
    /// An option outside the wrapper's grammar: the wrapper is not understood.
    Invalid,
}

/// Scans a wrapper's options (empty tokens are skipped, `--` ends them) and returns the
/// carried argv, `None` when the grammar is violated or nothing is carried.
fn scan_wrapper(
    argv: &[String],
    separator: bool,
    mut on_token: impl FnMut(&str, &str) -> Scan,
    adjust: impl Fn(usize, &[String]) -> Option<usize>,
) -> Option<Vec<String>> {
    let mut idx = 1;
    let mut expects_value = false;
    while idx < argv.len() {
        let token = argv[idx].trim();
        if token.is_empty() {
            idx += 1;
            continue;
        }
        if expects_value {
            expects_value = false;
            idx += 1;
            continue;
        }
        if separator && token == "--" {
            idx += 1;
            break;
        }
        match on_token(token, &token.to_lowercase()) {
            Scan::Stop => break,
            Scan::Invalid => return None,
            Scan::ConsumeNext => expects_value = true,
            Scan::Continue => {}
        }
        idx += 1;
    }
    if expects_value {
        return None;
    }
    let command_index = adjust(idx, argv)?;
    (command_index < argv.len()).then(|| argv[command_index..].to_vec())
}

fn same_index(idx: usize, _: &[String]) -> Option<usize> {
    Some(idx)
}

/// A wrapper whose options all start with `-`: `on_flag(flag, lower)` judges each one.
fn scan_dash_options(
    argv: &[String],
    on_flag: impl Fn(&str, &str) -> Scan,
    adjust: impl Fn(usize, &[String]) -> Option<usize>,
) -> Option<Vec<String>> {
    scan_wrapper(
        argv,
        true,
        |token, lower| {
            if !token.starts_with('-') || token == "-" {
                return Scan::Stop;
            }
            on_flag(split_inline_option(lower).0, lower)
        },
        adjust,
    )
}

/// An option with a value: attached (`-n5`, `--x=5`) continues, bare consumes the next token.
fn value_option(flag: &str, lower: &str) -> Scan {
    if lower != flag || lower.contains('=') {
        Scan::Continue
    } else {
        Scan::ConsumeNext
    }
}

fn unwrap_nice(argv: &[String]) -> Option<Vec<String>> {
    scan_dash_options(
        argv,
        |flag, lower| {
            if lower.len() > 1 && lower[1..].chars().all(|c| c.is_ascii_digit()) {
                Scan::Continue
            } else if ["-n", "--adjustment", "--priority"].contains(&flag) {
                value_option(flag, lower)
            } else if lower.starts_with("-n") && lower.len() > 2 {
                Scan::Continue
            } else {
                Scan::Invalid
            }
        },
        same_index,
    )
}

fn unwrap_caffeinate(argv: &[String]) -> Option<Vec<String>> {
    scan_dash_options(
        argv,
        |flag, lower| match flag {
            "-d" | "-i" | "-m" | "-s" | "-u" => Scan::Continue,
            "-t" | "-w" => value_option(flag, lower),
            _ => Scan::Invalid,
        },
        same_index,
    )
}

fn unwrap_nohup(argv: &[String]) -> Option<Vec<String>> {
    scan_wrapper(
        argv,
        true,
        |token, lower| {
            if !token.starts_with('-') || token == "-" {
                Scan::Stop
            } else if lower == "--help" || lower == "--version" {
                Scan::Continue
            } else {
                Scan::Invalid
            }
        },
        same_index,
    )
}

fn unwrap_sandbox_exec(argv: &[String]) -> Option<Vec<String>> {
    scan_dash_options(
        argv,
        |flag, lower| if ["-f", "-p", "-d"].contains(&flag) { value_option(flag, lower) } else { Scan::Invalid },
        same_index,
    )
}

fn unwrap_stdbuf(argv: &[String]) -> Option<Vec<String>> {
    scan_dash_options(
        argv,
        |flag, lower| {
            if !["-i", "--input", "-o", "--output", "-e", "--error"].contains(&flag) {
                Scan::Invalid
            } else if lower.contains('=') {
                Scan::Continue
            } else {
                Scan::ConsumeNext
            }
        },
        same_index,
    )
}

const TIME_FLAGS: &[&str] =
    &["-a", "--append", "-h", "--help", "-l", "-p", "-q", "--quiet", "-v", "--verbose", "-V", "--version"];
const TIME_WITH_VALUE: &[&str] = &["-f", "--format", "-o", "--output"];

fn unwrap_time(argv: &[String]) -> Option<Vec<String>> {
    scan_dash_options(
        argv,
        |flag, lower| {
            if TIME_FLAGS.contains(&flag) {
                Scan::Continue
            } else if TIME_WITH_VALUE.contains(&flag) {
                if lower.contains('=') {
                    Scan::Continue
                } else {
                    Scan::ConsumeNext
                }
            } else {
                Scan::Invalid
            }
        },
        same_index,
    )
}

/// `time -o FILE` writes a file: not a transparent use of `time`.
fn time_writes_output_file(argv: &[String]) -> bool {
    let mut expects_value = false;
    for token in argv.iter().skip(1).map(|t| t.trim()) {
        if token.is_empty() {
            continue;
        }
        if expects_value {
            expects_value = false;
            continue;
        }
        if token == "--" || !token.starts_with('-') || token == "-" {
            return false;
        }
        let lower = token.to_lowercase();
        let flag = split_inline_option(&lower).0;
        if flag == "-o" || flag == "--output" {
            return true;
        }
        if TIME_WITH_VALUE.contains(&flag) && !lower.contains('=') {
            expects_value = true;
        }
    }
    false
}

fn unwrap_flock(argv: &[String]) -> Option<Vec<String>> {
    scan_wrapper(
        argv,
        true,
        |token, lower| {
            if !token.starts_with('-') || token == "-" {
                return Scan::Stop;
            }
            let (name, value) = split_inline_option(token);
            let lower_flag = split_inline_option(lower).0;
            if ["--close", "--exclusive", "--nb", "--no-fork", "--nonblock", "--shared", "--verbose"]
                .contains(&lower_flag)
            {
                return Scan::Continue;
            }
            if ["--conflict-exit-code", "--timeout", "--wait"].contains(&lower_flag) {
                return if value.is_some() { Scan::Continue } else { Scan::ConsumeNext };
            }
            if token.len() > 1 && token[1..].chars().all(|c| "eFnsxo".contains(c)) {
                return Scan::Continue;
            }
            if ["-e", "-F", "-n", "-o", "-s", "-x"].contains(&name) {
                return Scan::Continue;
            }
            if ["-E", "-w"].contains(&name) {
                return if value.is_some() || token != name { Scan::Continue } else { Scan::ConsumeNext };
            }
            Scan::Invalid
        },
        // The first operand is the lock file; the command follows it.
        |idx, argv| {
            let wrapped = argv.get(idx + 1).map(|a| a.trim()).unwrap_or_default();
            (!wrapped.is_empty() && (!wrapped.starts_with('-') || wrapped == "-")).then_some(idx + 1)
        },
    )
}

fn unwrap_timeout(argv: &[String]) -> Option<Vec<String>> {
    scan_dash_options(
        argv,
        |flag, lower| {
            if ["--foreground", "--preserve-status", "-v", "--verbose"].contains(&flag) {
                Scan::Continue
            } else if ["-k", "--kill-after", "-s", "--signal"].contains(&flag) {
                if lower.contains('=') {
                    Scan::Continue
                } else {
                    Scan::ConsumeNext
                }
            } else {
                Scan::Invalid
            }
        },
        // The first operand is the duration; the command follows it.
        |idx, argv| (idx + 1 < argv.len()).then_some(idx + 1),
    )
}

/// Wrappers that change privileges, namespaces, scheduling or the terminal: never looked
/// through. (`arch`, `xcrun` and `script` carry a command only on macOS/BSD, so on this
/// platform they are blocked too.)
pub const BLOCKED_WRAPPERS: &[&str] = &[
    "arch",
    "bwrap",
    "catchsegv",
    "chrt",
    "chroot",
    "cpulimit",
    "doas",
    "eatmydata",
    "firejail",
    "gosu",
    "ionice",
    "linux32",
    "linux64",
    "nsenter",
    "numactl",
    "pkexec",
    "proot",
    "proxychains",
    "proxychains4",
    "runuser",
    "script",
    "setarch",
    "setsid",
    "setpriv",
    "su",
    "sudo",
    "systemd-run",
    "taskset",
    "torify",
    "torsocks",
    "unbuffer",
    "unshare",
    "watch",
    "xcrun",
    "xvfb-run",
];

/// Dispatch wrappers that can be looked through when their options are understood.
pub const TRANSPARENT_WRAPPERS: &[&str] =
    &["caffeinate", "env", "flock", "nice", "nohup", "sandbox-exec", "stdbuf", "time", "timeout"];

/// Whether a token names a dispatch wrapper (transparent or blocked).
pub fn is_dispatch_wrapper(token: &str) -> bool {
    let name = normalize_executable_token(token);
    TRANSPARENT_WRAPPERS.contains(&name.as_str()) || BLOCKED_WRAPPERS.contains(&name.as_str())
}

/// One step of unwrapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unwrap {
    /// argv\[0\] is not a wrapper of this layer.
    NotWrapper,
    /// A wrapper that cannot be looked through (its name, or options outside its grammar).
    Blocked(String),
    /// The wrapper and the argv it carries.
    Unwrapped {
        /// The wrapper's normalised name.
        wrapper: String,
        /// What it runs.
        argv: Vec<String>,
    },
}

/// One dispatch wrapper off the front of argv (`unwrapKnownDispatchWrapperInvocation`).
pub fn unwrap_dispatch_wrapper(argv: &[String]) -> Unwrap {
    let Some(token0) = argv.first().map(|a| a.trim()).filter(|t| !t.is_empty()) else { return Unwrap::NotWrapper };
    let wrapper = normalize_executable_token(token0);
    let carried = match wrapper.as_str() {
        "caffeinate" => unwrap_caffeinate(argv),
        "env" => env_carried_argv(argv, 0),
        "flock" => unwrap_flock(argv),
        "nice" => unwrap_nice(argv),
        "nohup" => unwrap_nohup(argv),
        "sandbox-exec" => unwrap_sandbox_exec(argv),
        "stdbuf" => unwrap_stdbuf(argv),
        "time" => unwrap_time(argv),
        "timeout" => unwrap_timeout(argv),
        w if BLOCKED_WRAPPERS.contains(&w) => None,
        _ => return Unwrap::NotWrapper,
    };
    match carried {
        Some(argv) => Unwrap::Unwrapped { wrapper, argv },
        None => Unwrap::Blocked(wrapper),
    }
}

/// A use of a transparent wrapper that changes what runs (`env` with modifiers, `time -o`).
pub(super) fn is_semantic_usage(wrapper: &str, argv: &[String]) -> bool {
    match wrapper {
        "env" => env_uses_modifiers(argv),
        "time" => time_writes_output_file(argv),
        w => !TRANSPARENT_WRAPPERS.contains(&w),
    }
}

/// Names assigned by `env NAME=…` anywhere in a chain of up to four dispatch wrappers
/// (`nice env X=1 ls`, `env -- env X=1 ls`), sorted and unique: the request is refused when
/// one is a blocked override (`extractEnvAssignmentKeysFromDispatchWrappers`).
pub fn env_assignment_keys(argv: &[String]) -> Vec<String> {
    let mut current = argv.to_vec();
    let mut keys = Vec::new();
    for _ in 0..MAX_WRAPPER_DEPTH {
        let Unwrap::Unwrapped { wrapper, argv: inner } = unwrap_dispatch_wrapper(&current) else { break };
        if inner.is_empty() {
            break;
        }
        if wrapper == "env" {
            if let Some(prelude) = parse_env_prelude(&current, 0) {
                keys.extend(prelude.assignment_keys);
            }
        }
        current = inner;
    }
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn unwrapped(argv: &[&str]) -> Option<Vec<String>> {
        match unwrap_dispatch_wrapper(&v(argv)) {
            Unwrap::Unwrapped { argv, .. } => Some(argv),
            _ => None,
        }
    }

    /// Rule (§3.3): each transparent wrapper's own option grammar decides where its command
    /// starts; an option outside it blocks the wrapper.
    #[test]
    fn dispatch_wrapper_option_grammars() {
        assert_eq!(unwrapped(&["nice", "-n", "5", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["nice", "-5", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["nice", "-n5", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["nice", "-x", "ls"]), None);
        assert_eq!(unwrapped(&["timeout", "5", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["timeout", "-s", "TERM", "5", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["timeout", "--signal=TERM", "5", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["timeout", "-sTERM", "5", "ls"]), None, "attached short value is outside the grammar");
        assert_eq!(unwrapped(&["timeout", "5"]), None);
        assert_eq!(unwrapped(&["flock", "/tmp/l", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["flock", "-w", "3", "/tmp/l", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["stdbuf", "-oL", "ls"]), None);
        assert_eq!(unwrapped(&["stdbuf", "-o", "L", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["nohup", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["nohup", "-x", "ls"]), None);
        assert_eq!(unwrapped(&["time", "-p", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["env", "--", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["env", "-u", "X", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["env", "-S", "FOO=1 ls -la", "x"]), Some(v(&["ls", "-la", "x"])));
        assert_eq!(unwrapped(&["env", "--bogus", "ls"]), None);
        assert_eq!(unwrap_dispatch_wrapper(&v(&["sudo", "ls"])), Unwrap::Blocked("sudo".into()));
        assert_eq!(
            unwrap_dispatch_wrapper(&v(&["/usr/bin/NICE.exe", "ls"])),
            Unwrap::Unwrapped { wrapper: "nice".into(), argv: v(&["ls"]) }
        );
        assert_eq!(unwrap_dispatch_wrapper(&v(&["ls"])), Unwrap::NotWrapper);
    }

    /// Rule (§5.3): env assignments are collected through up to four dispatch wrappers, not
    /// through `command`/`exec` carriers and not from inside `env -S`.
    #[test]
    fn env_assignment_keys_look_through_dispatch_wrappers() {
        assert_eq!(env_assignment_keys(&v(&["env", "LD_PRELOAD=x", "ls"])), ["LD_PRELOAD"]);
        assert_eq!(env_assignment_keys(&v(&["nice", "-n", "5", "env", "PATH=/x", "ls"])), ["PATH"]);
        assert_eq!(env_assignment_keys(&v(&["env", "--", "env", "LD_PRELOAD=x", "ls"])), ["LD_PRELOAD"]);
        assert_eq!(env_assignment_keys(&v(&["timeout", "5", "env", "B=1", "A=2", "B=3", "ls"])), ["A", "B"]);
        assert!(env_assignment_keys(&v(&["command", "env", "LD_PRELOAD=x", "ls"])).is_empty());
        assert!(env_assignment_keys(&v(&["env", "-S", "LD_PRELOAD=x ls"])).is_empty());
        assert!(env_assignment_keys(&v(&["sudo", "env", "LD_PRELOAD=x", "ls"])).is_empty());
        assert!(
            env_assignment_keys(&v(&["nice", "nice", "nice", "nice", "env", "LD_PRELOAD=x", "ls"])).is_empty(),
            "only four wrappers deep"
        );
        assert!(env_assignment_keys(&v(&["env", "A=1\n", "ls"])).is_empty(), "a line break is no assignment");
    }
}
