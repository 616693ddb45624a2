//! Dispatch wrappers (`nice`, `timeout`, `env`, `flock`, …; `exec.md` §3.3) as upstream's
//! risk analysis reads them: each readable wrapper with its own option table, every other one
//! (privilege, namespace, scheduling wrappers, and readable ones in a shape the table does not
//! cover) blocked, so nothing behind it is trusted.

use super::{normalize_executable, option_name, options::env_carried_argv};

/// A dispatch wrapper at the head of an argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchUnwrap {
    /// argv[0] is not a dispatch wrapper.
    NotWrapper,
    /// A dispatch wrapper whose command cannot be read (privilege, namespace or scheduling
    /// wrappers, and readable ones used in a shape upstream does not read).
    Blocked(String),
    /// The wrapper and the command it runs.
    Unwrapped {
        /// The wrapper's normalised name.
        wrapper: String,
        /// The command it runs.
        argv: Vec<String>,
    },
}

/// What one option word tells a wrapper scan.
enum Scan {
    Continue,
    ConsumeNext,
    Stop,
    Invalid,
}

/// Walks a wrapper's options until the command; `adjust` moves from where options ended to
/// where the command is (`timeout DURATION cmd`, `flock FILE cmd`).
fn scan_wrapper(
    argv: &[String],
    double_dash_ends: bool,
    mut on_token: impl FnMut(&str, &str) -> Scan,
    adjust: impl Fn(usize, &[String]) -> Option<usize>,
) -> Option<Vec<String>> {
    let mut index = 1;
    let mut expects_value = false;
    while index < argv.len() {
        let token = argv[index].trim();
        if token.is_empty() {
            index += 1;
            continue;
        }
        if expects_value {
            expects_value = false;
            index += 1;
            continue;
        }
        if double_dash_ends && token == "--" {
            index += 1;
            break;
        }
        match on_token(token, &token.to_lowercase()) {
            Scan::Stop => break,
            Scan::Invalid => return None,
            Scan::ConsumeNext => expects_value = true,
            Scan::Continue => {}
        }
        index += 1;
    }
    if expects_value {
        return None;
    }
    let command = adjust(index, argv)?;
    (command < argv.len()).then(|| argv[command..].to_vec())
}

fn same_index(index: usize, _: &[String]) -> Option<usize> {
    Some(index)
}

/// Options then the command; `on_flag` sees the lower-cased option name and word.
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
            on_flag(option_name(lower), lower)
        },
        adjust,
    )
}

/// A value option: inline (`-n5`, `--adjustment=5`) continues, a bare one takes the next word.
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
        |index, argv| (index + 1 < argv.len()).then_some(index + 1),
    )
}

fn unwrap_time(argv: &[String]) -> Option<Vec<String>> {
    const FLAGS: &[&str] =
        &["-a", "--append", "-h", "--help", "-l", "-p", "-q", "--quiet", "-v", "--verbose", "-V", "--version"];
    scan_dash_options(
        argv,
        |flag, lower| {
            if FLAGS.contains(&flag) {
                Scan::Continue
            } else if ["-f", "--format", "-o", "--output"].contains(&flag) {
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

fn unwrap_caffeinate(argv: &[String]) -> Option<Vec<String>> {
    scan_dash_options(
        argv,
        |flag, lower| {
            if ["-d", "-i", "-m", "-s", "-u"].contains(&flag) {
                Scan::Continue
            } else if ["-t", "-w"].contains(&flag) {
                value_option(flag, lower)
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

fn unwrap_flock(argv: &[String]) -> Option<Vec<String>> {
    scan_wrapper(
        argv,
        true,
        |token, lower| {
            if !token.starts_with('-') || token == "-" {
                return Scan::Stop;
            }
            let name = option_name(token);
            let lower_name = option_name(lower);
            let has_inline = token.contains('=');
            if ["--close", "--exclusive", "--nb", "--no-fork", "--nonblock", "--shared", "--verbose"]
                .contains(&lower_name)
            {
                Scan::Continue
            } else if ["--conflict-exit-code", "--timeout", "--wait"].contains(&lower_name) {
                if has_inline {
                    Scan::Continue
                } else {
                    Scan::ConsumeNext
                }
            } else if (token.len() > 1 && token[1..].chars().all(|c| "eFnsxo".contains(c)))
                || ["-e", "-F", "-n", "-o", "-s", "-x"].contains(&name)
            {
                Scan::Continue
            } else if ["-E", "-w"].contains(&name) {
                if has_inline || token != name {
                    Scan::Continue
                } else {
                    Scan::ConsumeNext
                }
            } else {
                Scan::Invalid
            }
        },
        |index, argv| {
            let command = argv.get(index + 1).map(|a| a.trim()).unwrap_or("");
            (!command.is_empty() && (!command.starts_with('-') || command == "-")).then_some(index + 1)
        },
    )
}

/// Dispatch wrappers by normalised name (Linux: `arch`, `script` and `xcrun` are never
/// unwrapped, so they are blocked like the privilege and namespace wrappers).
const DISPATCH_WRAPPERS: &[&str] = &[
    "arch",
    "caffeinate",
    "bwrap",
    "catchsegv",
    "chrt",
    "chroot",
    "cpulimit",
    "doas",
    "eatmydata",
    "env",
    "firejail",
    "flock",
    "gosu",
    "ionice",
    "linux32",
    "linux64",
    "nice",
    "nsenter",
    "nohup",
    "numactl",
    "pkexec",
    "proot",
    "proxychains",
    "proxychains4",
    "runuser",
    "sandbox-exec",
    "script",
    "setarch",
    "setsid",
    "setpriv",
    "stdbuf",
    "su",
    "sudo",
    "systemd-run",
    "taskset",
    "time",
    "timeout",
    "torify",
    "torsocks",
    "unbuffer",
    "unshare",
    "watch",
    "xcrun",
    "xvfb-run",
];

/// Whether the token names a dispatch wrapper.
pub fn is_dispatch_wrapper(token: &str) -> bool {
    DISPATCH_WRAPPERS.contains(&normalize_executable(token).as_str())
}

/// Reads the dispatch wrapper at the head of argv, if any.
pub fn unwrap_dispatch_wrapper(argv: &[String]) -> DispatchUnwrap {
    let Some(first) = argv.first().map(|a| a.trim()).filter(|a| !a.is_empty()) else {
        return DispatchUnwrap::NotWrapper;
    };
    let wrapper = normalize_executable(first);
    if !DISPATCH_WRAPPERS.contains(&wrapper.as_str()) {
        return DispatchUnwrap::NotWrapper;
    }
    let unwrapped = match wrapper.as_str() {
        "caffeinate" => unwrap_caffeinate(argv),
        "env" => env_carried_argv(argv, 0),
        "flock" => unwrap_flock(argv),
        "nice" => unwrap_nice(argv),
        "nohup" => unwrap_nohup(argv),
        "sandbox-exec" => unwrap_sandbox_exec(argv),
        "stdbuf" => unwrap_stdbuf(argv),
        "time" => unwrap_time(argv),
        "timeout" => unwrap_timeout(argv),
        _ => None,
    };
    match unwrapped {
        Some(argv) => DispatchUnwrap::Unwrapped { wrapper, argv },
        None => DispatchUnwrap::Blocked(wrapper),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    /// Dispatch wrappers: the readable ones unwrap with their option tables; anything else
    /// (privilege wrappers, unknown options, a missing command) is blocked.
    #[test]
    fn dispatch_wrappers_unwrap_or_block() {
        let unwrapped = |a: &[&str]| match unwrap_dispatch_wrapper(&v(a)) {
            DispatchUnwrap::Unwrapped { argv, .. } => Some(argv),
            _ => None,
        };
        assert_eq!(unwrapped(&["nice", "-n", "5", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["nice", "-5", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["timeout", "-s", "KILL", "5", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["timeout", "--signal=KILL", "5", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["flock", "-n", "/tmp/l", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["stdbuf", "-o", "L", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["nohup", "--", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrapped(&["time", "-p", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrap_dispatch_wrapper(&v(&["sudo", "ls"])), DispatchUnwrap::Blocked("sudo".into()));
        assert_eq!(unwrap_dispatch_wrapper(&v(&["nice", "-x", "ls"])), DispatchUnwrap::Blocked("nice".into()));
        assert_eq!(unwrap_dispatch_wrapper(&v(&["timeout", "5"])), DispatchUnwrap::Blocked("timeout".into()));
        assert_eq!(unwrap_dispatch_wrapper(&v(&["ls"])), DispatchUnwrap::NotWrapper);
    }
}
