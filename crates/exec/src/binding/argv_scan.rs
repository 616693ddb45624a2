//! The argv grammar the mutable-operand rules read (`exec.md` §3.3, §6.1): executable-name
//! normalisation, option tokens, dispatch wrappers, shell multiplexers, package-manager exec
//! forms, shell-style splitting and the POSIX shell inline-command scan.
//!
//! Upstream's binding rules look through these layers with their own small grammars, and
//! which argv index a binding names depends on exactly where each layer's options end, so
//! these follow upstream token by token rather than reusing the looser classification in
//! `command`/`allowlist`. Anything outside a wrapper's grammar makes it *blocked*, which for
//! binding means "not looked through": the rules then see the wrapper itself.

/// `normalizeExecutableToken`: the lower-cased basename (either separator), without a Windows
/// executable suffix.
pub fn normalize_executable_token(token: &str) -> String {
    let trimmed = token.trim_end_matches(['/', '\\']);
    let base = trimmed.rsplit(['/', '\\']).next().unwrap_or(trimmed);
    let base = if base.is_empty() { token } else { base };
    let lower = base.trim().to_lowercase();
    for suffix in [".exe", ".cmd", ".bat", ".com"] {
        if let Some(stripped) = lower.strip_suffix(suffix) {
            return stripped.to_string();
        }
    }
    lower
}

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

/// `NAME=value` as `env` and shells read it (the value may not span lines).
pub fn is_env_assignment(token: &str) -> bool {
    let Some((name, value)) = token.split_once('=') else { return false };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !value.contains(['\n', '\r', '\u{2028}', '\u{2029}'])
}

/// Shell-style word splitting with quotes and backslashes; `None` for an unterminated quote
/// or a trailing backslash. A `#` at a word start ends the input.
pub fn split_shell_args(raw: &str) -> Option<Vec<String>> {
    let mut tokens = Vec::new();
    let mut buf = String::new();
    let (mut single, mut double, mut escaped) = (false, false, false);
    let mut chars = raw.chars().peekable();
    while let Some(ch) = chars.next() {
        if escaped {
            buf.push(ch);
            escaped = false;
        } else if !single && !double && ch == '\\' {
            escaped = true;
        } else if single {
            if ch == '\'' {
                single = false;
            } else {
                buf.push(ch);
            }
        } else if double {
            if ch == '\\' && chars.peek().is_some_and(|n| matches!(n, '\\' | '"' | '$' | '`' | '\n' | '\r')) {
                buf.push(chars.next().unwrap_or_default());
            } else if ch == '"' {
                double = false;
            } else {
                buf.push(ch);
            }
        } else if ch == '\'' {
            single = true;
        } else if ch == '"' {
            double = true;
        } else if ch == '#' && buf.is_empty() {
            break;
        } else if ch.is_whitespace() {
            if !buf.is_empty() {
                tokens.push(std::mem::take(&mut buf));
            }
        } else {
            buf.push(ch);
        }
    }
    if escaped || single || double {
        return None;
    }
    if !buf.is_empty() {
        tokens.push(buf);
    }
    Some(tokens)
}

/// What a wrapper layer does with an argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unwrap {
    /// argv[0] is not a wrapper of this layer.
    NotWrapper,
    /// A wrapper whose use cannot be looked through.
    Blocked(String),
    /// A wrapper, and the argv it runs.
    Unwrapped(String, Vec<String>),
}

/// What a wrapper's scanner does with one of its tokens.
enum Directive {
    Continue,
    ConsumeNext,
    Stop,
    Invalid,
}

/// Scans a wrapper's options (`scanWrapperInvocation`): the command starts after them (or
/// after `adjust` moves past an operand such as `timeout`'s duration).
fn scan_wrapper(
    argv: &[String],
    separator: bool,
    mut on_token: impl FnMut(&str, &str) -> Directive,
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
            Directive::Stop => break,
            Directive::Invalid => return None,
            Directive::ConsumeNext => expects_value = true,
            Directive::Continue => {}
        }
        idx += 1;
    }
    if expects_value {
        return None;
    }
    let command_index = adjust(idx, argv)?;
    (command_index < argv.len()).then(|| argv[command_index..].to_vec())
}

/// A wrapper whose options are all dash options, `--` ending them.
fn scan_dash_options(
    argv: &[String],
    on_flag: impl Fn(&str, &str) -> Directive,
    adjust: impl Fn(usize, &[String]) -> Option<usize>,
) -> Option<Vec<String>> {
    scan_wrapper(
        argv,
        true,
        |token, lower| {
            if !token.starts_with('-') || token == "-" {
                return Directive::Stop;
            }
            on_flag(split_option(lower).0, lower)
        },
        adjust,
    )
}

fn at(index: usize, _: &[String]) -> Option<usize> {
    Some(index)
}

fn value_option(flag: &str, lower: &str) -> Directive {
    if lower != flag || lower.contains('=') {
        Directive::Continue
    } else {
        Directive::ConsumeNext
    }
}

fn equals_or_next(lower: &str) -> Directive {
    if lower.contains('=') {
        Directive::Continue
    } else {
        Directive::ConsumeNext
    }
}

const ENV_OPTIONS_WITH_VALUE: &[&str] = &[
    "-C",
    "-P",
    "-S",
    "-s",
    "-u",
    "--argv0",
    "--block-signal",
    "--chdir",
    "--default-signal",
    "--ignore-signal",
    "--split-string",
    "--unset",
];
const ENV_SPLIT_STRING_OPTIONS: &[&str] = &["-S", "-s", "--split-string"];
const ENV_STANDALONE_OPTIONS: &[&str] = &["-0", "-i", "--ignore-environment", "--null"];
const MAX_ENV_SPLIT_DEPTH: usize = 32;

/// One option of a carrier's option token (`-iu NAME` is two).
struct CarrierOption<'a> {
    name: String,
    inline_value: Option<&'a str>,
}

/// Parses a carrier's option token against its grammar; `None` for an unknown option.
fn parse_carrier_option<'a>(
    token: &'a str,
    standalone: &[&str],
    with_value: &[&str],
) -> Option<Vec<CarrierOption<'a>>> {
    if token.starts_with("--") {
        let (name, value) = split_option(token);
        return (standalone.contains(&name) || with_value.contains(&name))
            .then(|| vec![CarrierOption { name: name.to_string(), inline_value: value }]);
    }
    let mut chars = token.char_indices().skip(1);
    if !token.starts_with('-') || !token[1..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    let mut options = Vec::new();
    for (i, c) in chars.by_ref() {
        let name = format!("-{c}");
        if with_value.contains(&name.as_str()) {
            let rest = &token[i + c.len_utf8()..];
            options.push(CarrierOption { name, inline_value: (!rest.is_empty()).then_some(rest) });
            return Some(options);
        }
        if !standalone.contains(&name.as_str()) {
            return None;
        }
        options.push(CarrierOption { name, inline_value: None });
    }
    (!options.is_empty()).then_some(options)
}

/// The argv `env` runs (`env -S 'a b' c` → `a b c`), or `None` when its prelude is outside
/// the grammar.
fn unwrap_env(argv: &[String], depth: usize) -> Option<Vec<String>> {
    parse_env(argv, depth).map(|(argv, _)| argv)
}

/// [`unwrap_env`], and whether `env` changes the environment on the way (assignments or
/// options): such a use is not transparent.
fn parse_env(argv: &[String], depth: usize) -> Option<(Vec<String>, bool)> {
    if depth > MAX_ENV_SPLIT_DEPTH || normalize_executable_token(argv.first()?) != "env" {
        return None;
    }
    let mut modifiers = false;
    let mut index = 1;
    while index < argv.len() {
        let token = argv[index].as_str();
        if token.is_empty() {
            return None;
        }
        if is_env_assignment(token) {
            modifiers = true;
            index += 1;
            continue;
        }
        if token == "--" || token == "-" {
            return (index + 1 < argv.len()).then(|| (argv[index + 1..].to_vec(), modifiers));
        }
        if token.starts_with('-') {
            let options = parse_carrier_option(token, ENV_STANDALONE_OPTIONS, ENV_OPTIONS_WITH_VALUE)?;
            modifiers = true;
            if let Some(split) = options.iter().find(|o| ENV_SPLIT_STRING_OPTIONS.contains(&o.name.as_str())) {
                let payload_index = if split.inline_value.is_none() { index + 1 } else { index };
                let payload = split.inline_value.or_else(|| argv.get(payload_index).map(String::as_str))?;
                let mut carried = split_shell_args(payload).filter(|a| !a.is_empty())?;
                carried.extend(argv.iter().skip(payload_index + 1).cloned());
                let mut nested = vec!["env".to_string()];
                nested.extend(carried.iter().cloned());
                return Some((unwrap_env(&nested, depth + 1).unwrap_or(carried), true));
            }
            let consumes = options.iter().fold(false, |acc, o| {
                if ENV_OPTIONS_WITH_VALUE.contains(&o.name.as_str()) {
                    o.inline_value.is_none()
                } else {
                    acc
                }
            });
            index += if consumes { 2 } else { 1 };
            continue;
        }
        return Some((argv[index..].to_vec(), modifiers));
    }
    None
}

const BLOCKED_DISPATCH_WRAPPERS: &[&str] = &[
    // Darwin/BSD-only wrappers are blocked on Linux.
    "arch",
    "xcrun",
    "script",
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
    "xvfb-run",
];

/// `unwrapKnownDispatchWrapperInvocation` on Linux: `env`, `nice`, `timeout` and the like
/// with their option grammars; privilege, namespace and scheduling wrappers are blocked.
pub fn unwrap_dispatch(argv: &[String]) -> Unwrap {
    let Some(token0) = argv.first().map(|t| t.trim()).filter(|t| !t.is_empty()) else { return Unwrap::NotWrapper };
    let wrapper = normalize_executable_token(token0);
    let unwrapped = match wrapper.as_str() {
        "env" => unwrap_env(argv, 0),
        "nice" => scan_dash_options(
            argv,
            |flag, lower| {
                if lower.len() > 1 && lower[1..].chars().all(|c| c.is_ascii_digit()) {
                    Directive::Continue
                } else if ["-n", "--adjustment", "--priority"].contains(&flag) {
                    value_option(flag, lower)
                } else if lower.starts_with("-n") && lower.len() > 2 {
                    Directive::Continue
                } else {
                    Directive::Invalid
                }
            },
            at,
        ),
        "caffeinate" => scan_dash_options(
            argv,
            |flag, lower| match flag {
                "-d" | "-i" | "-m" | "-s" | "-u" => Directive::Continue,
                "-t" | "-w" => value_option(flag, lower),
                _ => Directive::Invalid,
            },
            at,
        ),
        "nohup" => scan_wrapper(
            argv,
            true,
            |token, lower| {
                if !token.starts_with('-') || token == "-" {
                    Directive::Stop
                } else if lower == "--help" || lower == "--version" {
                    Directive::Continue
                } else {
                    Directive::Invalid
                }
            },
            at,
        ),
        "sandbox-exec" => scan_dash_options(
            argv,
            |flag, lower| {
                if ["-f", "-p", "-d"].contains(&flag) {
                    value_option(flag, lower)
                } else {
                    Directive::Invalid
                }
            },
            at,
        ),
        "stdbuf" => scan_dash_options(
            argv,
            |flag, lower| {
                if ["-i", "--input", "-o", "--output", "-e", "--error"].contains(&flag) {
                    equals_or_next(lower)
                } else {
                    Directive::Invalid
                }
            },
            at,
        ),
        "time" => scan_dash_options(
            argv,
            |flag, lower| {
                const FLAGS: &[&str] = &[
                    "-a",
                    "--append",
                    "-h",
                    "--help",
                    "-l",
                    "-p",
                    "-q",
                    "--quiet",
                    "-v",
                    "--verbose",
                    "-V",
                    "--version",
                ];
                if FLAGS.contains(&flag) {
                    Directive::Continue
                } else if ["-f", "--format", "-o", "--output"].contains(&flag) {
                    equals_or_next(lower)
                } else {
                    Directive::Invalid
                }
            },
            at,
        ),
        "timeout" => scan_dash_options(
            argv,
            |flag, lower| {
                if ["--foreground", "--preserve-status", "-v", "--verbose"].contains(&flag) {
                    Directive::Continue
                } else if ["-k", "--kill-after", "-s", "--signal"].contains(&flag) {
                    equals_or_next(lower)
                } else {
                    Directive::Invalid
                }
            },
            |idx, argv| (idx + 1 < argv.len()).then_some(idx + 1),
        ),
        "flock" => scan_wrapper(
            argv,
            true,
            |token, lower| {
                if !token.starts_with('-') || token == "-" {
                    return Directive::Stop;
                }
                let (name, value) = split_option(token);
                let lower_flag = split_option(lower).0;
                const LONG_FLAGS: &[&str] =
                    &["--close", "--exclusive", "--nb", "--no-fork", "--nonblock", "--shared", "--verbose"];
                if LONG_FLAGS.contains(&lower_flag) {
                    Directive::Continue
                } else if ["--conflict-exit-code", "--timeout", "--wait"].contains(&lower_flag) {
                    if value.is_some() {
                        Directive::Continue
                    } else {
                        Directive::ConsumeNext
                    }
                } else if token.len() > 1 && token[1..].chars().all(|c| "eFnsxo".contains(c))
                    || ["-e", "-F", "-n", "-o", "-s", "-x"].contains(&name)
                {
                    Directive::Continue
                } else if ["-E", "-w"].contains(&name) {
                    if value.is_some() || token != name {
                        Directive::Continue
                    } else {
                        Directive::ConsumeNext
                    }
                } else {
                    Directive::Invalid
                }
            },
            |idx, argv| {
                let wrapped = argv.get(idx + 1).map(|t| t.trim()).unwrap_or_default();
                (!wrapped.is_empty() && (!wrapped.starts_with('-') || wrapped == "-")).then_some(idx + 1)
            },
        ),
        name if BLOCKED_DISPATCH_WRAPPERS.contains(&name) => None,
        _ => return Unwrap::NotWrapper,
    };
    match unwrapped {
        Some(argv) => Unwrap::Unwrapped(wrapper, argv),
        None => Unwrap::Blocked(wrapper),
    }
}

/// `time -o FILE`: writes a file, so not a transparent use.
fn time_writes_output_file(argv: &[String]) -> bool {
    let mut expects_value = false;
    for token in argv.iter().skip(1).map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if expects_value {
            expects_value = false;
            continue;
        }
        if token == "--" || !token.starts_with('-') || token == "-" {
            return false;
        }
        let lower = token.to_lowercase();
        let flag = split_option(&lower).0;
        if flag == "-o" || flag == "--output" {
            return true;
        }
        if ["-f", "--format"].contains(&flag) && !lower.contains('=') {
            expects_value = true;
        }
    }
    false
}

/// A dispatch wrapper used for more than dispatch (`env` with assignments or options, `time
/// -o`): policy cannot look through it.
fn is_semantic_dispatch_use(wrapper: &str, argv: &[String]) -> bool {
    match wrapper {
        "env" => parse_env(argv, 0).is_none_or(|(_, modifiers)| modifiers),
        "time" => time_writes_output_file(argv),
        _ => false,
    }
}

/// `builtin`/`command`/`exec` in front of a command (upstream's shell argv carriers);
/// `command -p` (default PATH search) is blocked.
fn unwrap_shell_argv_carrier(argv: &[String]) -> Unwrap {
    let Some(token0) = argv.first().map(|t| t.trim()).filter(|t| ["builtin", "command", "exec"].contains(t)) else {
        return Unwrap::NotWrapper;
    };
    let wrapper = token0.to_string();
    if token0 == "command" {
        for token in argv.iter().skip(1).map(|t| t.trim()) {
            if token == "--" || !token.starts_with('-') {
                break;
            }
            if token[1..].split('-').next().is_some_and(|head| head.contains('p')) {
                return Unwrap::Blocked(wrapper);
            }
        }
    }
    let mut index = 1;
    while index < argv.len() {
        let token = argv[index].as_str();
        if token == "--" {
            index += 1;
            break;
        }
        if !token.starts_with('-') {
            break;
        }
        if wrapper == "exec" {
            let Some(options) = parse_carrier_option(token, &["-c", "-l"], &["-a"]) else {
                return Unwrap::Blocked(wrapper);
            };
            let consumes =
                options.iter().fold(false, |acc, o| if o.name == "-a" { o.inline_value.is_none() } else { acc });
            index += if consumes { 2 } else { 1 };
        } else {
            // `command -v`/`-V` only describe; any other option is outside the grammar.
            if split_option(token).0 != "-p" {
                return Unwrap::Blocked(wrapper);
            }
            index += 1;
        }
    }
    if index >= argv.len() {
        return Unwrap::Blocked(wrapper);
    }
    Unwrap::Unwrapped(wrapper, argv[index..].to_vec())
}

/// Upstream's executable trust plan, as far as the approval pin reads it: how many wrappers
/// were looked through, and the argv whose argv[0] is the executable. When a dispatch wrapper
/// is blocked (or used semantically, or the chain is too deep), the argv is the blocked one
/// and the wrappers looked through in that same pass are not counted: upstream then pins
/// argv[0] to the blocked wrapper's executable.
pub fn exec_trust_head(argv: &[String]) -> (usize, Vec<String>) {
    const MAX_DEPTH: usize = 4;
    let mut current = argv.to_vec();
    let mut chain = 0;
    for _ in 0..MAX_DEPTH {
        // One pass of dispatch wrappers.
        let mut pass = 0;
        let mut inner = current.clone();
        let budget = MAX_DEPTH - chain;
        for _ in 0..budget {
            match unwrap_dispatch(&inner) {
                Unwrap::Blocked(_) => return (chain, inner),
                Unwrap::Unwrapped(wrapper, next) if !next.is_empty() => {
                    pass += 1;
                    if is_semantic_dispatch_use(&wrapper, &inner) {
                        return (chain, inner);
                    }
                    inner = next;
                }
                _ => break,
            }
        }
        if pass >= budget && !matches!(unwrap_dispatch(&inner), Unwrap::NotWrapper) {
            return (chain, inner);
        }
        if pass > 0 {
            chain += pass;
            current = inner;
            if chain >= MAX_DEPTH {
                break;
            }
            continue;
        }
        let next = match unwrap_shell_argv_carrier(&current) {
            Unwrap::Blocked(_) => return (chain, current),
            Unwrap::Unwrapped(_, next) => next,
            Unwrap::NotWrapper => match unwrap_shell_multiplexer(&current) {
                Unwrap::Blocked(_) => return (chain, current),
                Unwrap::Unwrapped(_, next) => next,
                Unwrap::NotWrapper => break,
            },
        };
        chain += 1;
        current = next;
        if chain >= MAX_DEPTH {
            break;
        }
    }
    if chain >= MAX_DEPTH {
        let overflow = |u: Unwrap| !matches!(u, Unwrap::NotWrapper);
        if overflow(unwrap_dispatch(&current))
            || overflow(unwrap_shell_argv_carrier(&current))
            || overflow(unwrap_shell_multiplexer(&current))
        {
            return (chain, current);
        }
    }
    (chain, current)
}

/// Shell names upstream treats as wrappers (POSIX-like, `cmd`, PowerShell).
pub const POSIX_SHELLS: &[&str] =
    &["ash", "bash", "csh", "dash", "elvish", "fish", "ksh", "mksh", "nu", "osh", "sh", "tcsh", "xonsh", "yash", "zsh"];
/// POSIX shells whose argv grammar upstream parses.
pub const PARSEABLE_SHELLS: &[&str] = &["ash", "bash", "dash", "fish", "ksh", "mksh", "sh", "yash", "zsh"];

/// A shell (POSIX, `cmd` or PowerShell) by name.
pub fn is_shell_wrapper_executable(token: &str) -> bool {
    let name = normalize_executable_token(token);
    POSIX_SHELLS.contains(&name.as_str()) || ["cmd", "powershell", "pwsh"].contains(&name.as_str())
}

/// `busybox sh …` / `toybox sh …`: the shell applet's argv; any other applet is blocked.
pub fn unwrap_shell_multiplexer(argv: &[String]) -> Unwrap {
    let Some(token0) = argv.first().map(|t| t.trim()).filter(|t| !t.is_empty()) else { return Unwrap::NotWrapper };
    let wrapper = normalize_executable_token(token0);
    if wrapper != "busybox" && wrapper != "toybox" {
        return Unwrap::NotWrapper;
    }
    let applet_index = if argv.get(1).is_some_and(|a| a.trim() == "--") { 2 } else { 1 };
    match argv.get(applet_index).map(|a| a.trim()) {
        Some(applet) if !applet.is_empty() && is_shell_wrapper_executable(applet) => {
            Unwrap::Unwrapped(wrapper, argv[applet_index..].to_vec())
        }
        _ => Unwrap::Blocked(wrapper),
    }
}

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

/// The inline-command flags of POSIX shells.
pub const POSIX_INLINE_COMMAND_FLAGS: &[&str] = &["-lc", "-c", "--command", "--commands", "--cmdline"];
const POSIX_OPTIONS_WITH_SEPARATE_VALUES: &[&str] = &["--init-file", "--rcfile", "-O", "-o", "+O", "+o"];

fn count_value_option_chars(token: &str) -> usize {
    token.chars().skip(1).filter(|c| *c == 'o' || *c == 'O').count()
}

/// A combined short-option token holding `c` (`-xc`, `-ecCMD`): the attached command, or how
/// many separate values (`o`/`O`) come before the command.
fn combined_command_flag(token: &str) -> Option<(Option<&str>, usize)> {
    let bytes = token.as_bytes();
    if bytes.len() < 2 || bytes[0] != b'-' || bytes[1] == b'-' {
        return None;
    }
    let options = &token[1..];
    let c_index = options.find('c')?;
    if options.contains('-') {
        return None;
    }
    let suffix = &options[c_index + 1..];
    if !suffix.is_empty() && !suffix.chars().all(|c| c.is_ascii_alphabetic()) {
        return Some((Some(suffix), 0));
    }
    Some((None, count_value_option_chars(token)))
}

/// How many argv tokens a POSIX shell option takes while scanning (`-o name` is two).
pub fn posix_option_width(token: &str) -> usize {
    let bytes = token.as_bytes();
    let combined =
        if bytes.len() < 2 || (bytes[0] != b'-' && bytes[0] != b'+') || bytes[1] == b'-' || token[1..].contains('-') {
            0
        } else {
            count_value_option_chars(token)
        };
    if combined > 0 {
        1 + combined
    } else if POSIX_OPTIONS_WITH_SEPARATE_VALUES.contains(&token) {
        2
    } else {
        1
    }
}

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
        if POSIX_INLINE_COMMAND_FLAGS.contains(&token) {
            return (i + 1 < argv.len()).then_some(i + 1);
        }
        if let Some((attached, values)) = combined_command_flag(token) {
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
    fn dispatch_wrapper_grammars() {
        let un = |a: &[&str]| match unwrap_dispatch(&v(a)) {
            Unwrap::Unwrapped(_, argv) => Some(argv),
            _ => None,
        };
        assert_eq!(un(&["env", "FOO=1", "python3", "x.py"]), Some(v(&["python3", "x.py"])));
        assert_eq!(un(&["env", "-S", "python3 -u", "x.py"]), Some(v(&["python3", "-u", "x.py"])));
        assert_eq!(un(&["env", "--", "ls"]), Some(v(&["ls"])));
        assert_eq!(un(&["nice", "-n", "5", "ls"]), Some(v(&["ls"])));
        assert_eq!(un(&["timeout", "-s", "KILL", "5", "ls"]), Some(v(&["ls"])));
        assert_eq!(un(&["/usr/bin/nohup", "ls"]), Some(v(&["ls"])));
        assert_eq!(unwrap_dispatch(&v(&["sudo", "ls"])), Unwrap::Blocked("sudo".into()));
        assert_eq!(unwrap_dispatch(&v(&["stdbuf", "-oL", "ls"])), Unwrap::Blocked("stdbuf".into()));
        assert_eq!(unwrap_dispatch(&v(&["ls"])), Unwrap::NotWrapper);
    }

    /// What the approval pin sees: the wrappers looked through, and whose argv[0] is pinned.
    #[test]
    fn exec_trust_head_vectors() {
        assert_eq!(exec_trust_head(&v(&["ls", "-la"])), (0, v(&["ls", "-la"])));
        assert_eq!(exec_trust_head(&v(&["env", "--", "echo", "x"])), (1, v(&["echo", "x"])), "env -- is transparent");
        assert_eq!(exec_trust_head(&v(&["env", "A=1", "ls"])), (0, v(&["env", "A=1", "ls"])), "env with assignments");
        assert_eq!(exec_trust_head(&v(&["nice", "timeout", "5", "ls"])), (2, v(&["ls"])));
        assert_eq!(
            exec_trust_head(&v(&["time", "-p", "setsid", "zsh"])),
            (0, v(&["setsid", "zsh"])),
            "blocked in the first pass: nothing counted, the blocked wrapper is the executable"
        );
        assert_eq!(exec_trust_head(&v(&["nice", "nice", "nice", "nice", "nice", "echo"])), (0, v(&["nice", "echo"])));
        assert_eq!(exec_trust_head(&v(&["stdbuf", "-oL", "ls"])), (0, v(&["stdbuf", "-oL", "ls"])));
        assert_eq!(exec_trust_head(&v(&["command", "ls"])), (1, v(&["ls"])));
        assert_eq!(exec_trust_head(&v(&["command", "-p", "ls"])), (0, v(&["command", "-p", "ls"])));
        assert_eq!(exec_trust_head(&v(&["busybox", "sh", "-c", "ls"])), (1, v(&["sh", "-c", "ls"])));
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
        assert_eq!(split_shell_args(r#"a 'b c' "d\"e" f\ g # x"#), Some(v(&["a", "b c", "d\"e", "f g"])));
        assert_eq!(split_shell_args("a 'b"), None);
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
        assert!(is_env_assignment("FOO=a b"));
        assert!(!is_env_assignment("1FOO=x"));
    }
}
