//! Dispatch wrappers, command carriers and shell wrappers: the one analysis of what an argv
//! really runs (`exec.md` §3.2, §3.3, §5.3).
//!
//! Every check that needs to look "through" a wrapper uses this module, so they all agree on
//! where a wrapper's own options end and its command begins: the rawCommand/payload binding
//! (`command`), executable resolution and policy blocking (`allowlist`), the env-assignment
//! refusal (`env_assignment_keys`) and the executable identity binding (`identity`).
//!
//! The rules are upstream's, wrapper by wrapper. Each wrapper has a small option grammar;
//! anything outside it makes the wrapper *blocked* (policy can never look through it), which
//! is the fail-closed direction. Three layers exist because upstream has three:
//! - dispatch wrappers (`env`, `nice`, `timeout`, …; [`unwrap_dispatch_wrapper`]), the only
//!   layer that shell-wrapper detection and env-assignment extraction look through;
//! - shell argv carriers (`command`, `builtin`, `exec`) and shell multiplexers (`busybox`,
//!   `toybox`), which executable resolution also looks through ([`exec_wrapper_trust_plan`]);
//! - shell wrappers (`sh -c …`) whose inline payload is the command's meaning
//!   ([`extract_shell_wrapper_command`]).

/// POSIX shells recognised as wrappers.
pub const POSIX_SHELLS: &[&str] =
    &["ash", "bash", "csh", "dash", "elvish", "fish", "ksh", "mksh", "nu", "osh", "sh", "tcsh", "xonsh", "yash", "zsh"];

/// How many wrappers deep any analysis looks; one more is blocked.
pub const MAX_WRAPPER_DEPTH: usize = 4;

/// `env -S` payloads nest at most this deep.
const MAX_ENV_SPLIT_DEPTH: usize = 32;

/// Shells whose startup files run before any inline command, so approval never binds them.
const OPAQUE_STARTUP_SHELLS: &[&str] = &["csh", "osh", "tcsh"];

/// Inline-command flags of POSIX shells (short clusters containing `c` count too).
const POSIX_INLINE_FLAGS: &[&str] = &["-lc", "-c", "--command", "--commands", "--cmdline"];

/// Nushell's inline-command flags: the POSIX ones and `-e`/`--execute`.
const NUSHELL_INLINE_FLAGS: &[&str] = &["-lc", "-c", "--command", "--commands", "--cmdline", "-e", "--execute"];

/// Nushell options that load startup configuration.
const NUSHELL_STARTUP_OPTIONS: &[&str] = &["--config", "--env-config", "--plugin-config", "--plugins"];

/// Lower-cased basename (the shorter of the POSIX and Windows readings) without a Windows
/// executable suffix: the name wrappers and shells are recognised by.
pub fn normalize_executable_token(token: &str) -> String {
    let trimmed = token.trim();
    let without_trailing = trimmed.trim_end_matches(['/', '\\']);
    let source = if without_trailing.is_empty() { trimmed } else { without_trailing };
    let base = source.rsplit(['/', '\\']).next().unwrap_or(source).to_lowercase();
    for suffix in [".exe", ".cmd", ".bat", ".com"] {
        if let Some(stripped) = base.strip_suffix(suffix) {
            return stripped.to_string();
        }
    }
    base
}

/// `NAME=value` where NAME is a portable variable name and the value has no line break (the
/// upstream pattern's `.` does not match line terminators).
pub fn is_env_assignment_token(token: &str) -> bool {
    let Some((name, value)) = token.split_once('=') else { return false };
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !value.contains(['\n', '\r', '\u{2028}', '\u{2029}'])
}

/// `--name=value` → (`--name`, Some(`value`)); anything without `=` is all name.
fn split_inline_option(token: &str) -> (&str, Option<&str>) {
    match token.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (token, None),
    }
}

/// Splits a shell-like string into words (quotes and backslashes as a POSIX shell reads them,
/// a `#` starting a word ends the input); `None` for an unterminated quote or escape.
pub fn split_shell_args(raw: &str) -> Option<Vec<String>> {
    let mut tokens = Vec::new();
    let mut buf = String::new();
    let (mut in_single, mut in_double, mut escaped) = (false, false, false);
    let chars: Vec<char> = raw.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        if escaped {
            buf.push(ch);
            escaped = false;
            continue;
        }
        if !in_single && !in_double && ch == '\\' {
            escaped = true;
            continue;
        }
        if in_single {
            if ch == '\'' {
                in_single = false;
            } else {
                buf.push(ch);
            }
            continue;
        }
        if in_double {
            let next = chars.get(i).copied();
            if ch == '\\' && next.is_some_and(|n| matches!(n, '\\' | '"' | '$' | '`' | '\n' | '\r')) {
                buf.push(next.unwrap_or_default());
                i += 1;
                continue;
            }
            if ch == '"' {
                in_double = false;
            } else {
                buf.push(ch);
            }
            continue;
        }
        match ch {
            '\'' => in_single = true,
            '"' => in_double = true,
            '#' if buf.is_empty() => break,
            c if c.is_whitespace() => {
                if !buf.is_empty() {
                    tokens.push(std::mem::take(&mut buf));
                }
            }
            c => buf.push(c),
        }
    }
    if escaped || in_single || in_double {
        return None;
    }
    if !buf.is_empty() {
        tokens.push(buf);
    }
    Some(tokens)
}

/// One option parsed from a carrier's option token.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CarrierOption {
    name: String,
    inline_value: Option<String>,
}

/// Parses `--long[=v]` or a short cluster `-abc` against a carrier's option sets; `None` when
/// any part is unknown (the carrier is then not understood, which blocks it).
fn parse_carrier_option(token: &str, standalone: &[&str], with_value: &[&str]) -> Option<Vec<CarrierOption>> {
    if token.starts_with("--") {
        let (name, value) = split_inline_option(token);
        return (standalone.contains(&name) || with_value.contains(&name))
            .then(|| vec![CarrierOption { name: name.to_string(), inline_value: value.map(str::to_string) }]);
    }
    let mut chars = token.char_indices().skip(1);
    if !token.starts_with('-') || !token[1..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    let mut options = Vec::new();
    for (at, c) in chars.by_ref() {
        let name = format!("-{c}");
        if with_value.contains(&name.as_str()) {
            let rest = &token[at + c.len_utf8()..];
            options.push(CarrierOption { name, inline_value: (!rest.is_empty()).then(|| rest.to_string()) });
            return Some(options);
        }
        if !standalone.contains(&name.as_str()) {
            return None;
        }
        options.push(CarrierOption { name, inline_value: None });
    }
    (!options.is_empty()).then_some(options)
}

/// Whether the parsed options leave the next argv entry as their value.
fn consumes_next_value(options: &[CarrierOption], with_value: &[&str]) -> bool {
    let mut consumes = false;
    for o in options {
        if with_value.contains(&o.name.as_str()) {
            consumes = o.inline_value.is_none();
        }
    }
    consumes
}

const ENV_WITH_VALUE: &[&str] = &[
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
const ENV_SPLIT_STRING: &[&str] = &["-S", "-s", "--split-string"];
const ENV_STANDALONE: &[&str] = &["-0", "-i", "--ignore-environment", "--null"];

/// What precedes the command in an `env` invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvPrelude {
    /// Names assigned with `NAME=value` (before the command, in order; not those inside `-S`).
    pub assignment_keys: Vec<String>,
    /// Index of the carried command in the argv (after `-S`'s payload when there is one).
    pub command_index: usize,
    /// The argv rebuilt from an `env -S '…'` split string and what follows it.
    pub split_argv: Option<Vec<String>>,
    /// Options or assignments change the command's environment (`env` is then not transparent).
    pub uses_modifiers: bool,
}

/// Parses the options and assignments of an `env` invocation (`parseEnvInvocationPrelude`);
/// `None` when argv is not `env`, has an unknown option or an empty argument, or carries no
/// command.
pub fn parse_env_prelude(argv: &[String], depth: usize) -> Option<EnvPrelude> {
    if depth > MAX_ENV_SPLIT_DEPTH || normalize_executable_token(argv.first()?) != "env" {
        return None;
    }
    let mut uses_modifiers = false;
    let mut assignment_keys = Vec::new();
    let mut index = 1;
    while index < argv.len() {
        let token = argv[index].as_str();
        if token.is_empty() {
            return None;
        }
        if is_env_assignment_token(token) {
            uses_modifiers = true;
            if let Some((key, _)) = token.split_once('=') {
                assignment_keys.push(key.to_string());
            }
            index += 1;
            continue;
        }
        if token == "--" || token == "-" {
            return (index + 1 < argv.len()).then(|| EnvPrelude {
                assignment_keys,
                command_index: index + 1,
                split_argv: None,
                uses_modifiers,
            });
        }
        if token.starts_with('-') {
            let options = parse_carrier_option(token, ENV_STANDALONE, ENV_WITH_VALUE)?;
            uses_modifiers = true;
            if let Some(split) = options.iter().find(|o| ENV_SPLIT_STRING.contains(&o.name.as_str())) {
                let payload_index = if split.inline_value.is_none() { index + 1 } else { index };
                let payload = split.inline_value.clone().or_else(|| argv.get(payload_index).cloned())?;
                let trailing = argv.get(payload_index + 1..).unwrap_or_default();
                let split_argv = resolve_env_split_payload(&payload, trailing, depth)?;
                return Some(EnvPrelude {
                    assignment_keys,
                    command_index: payload_index + 1,
                    split_argv: Some(split_argv),
                    uses_modifiers,
                });
            }
            if consumes_next_value(&options, ENV_WITH_VALUE) {
                index += 1;
            }
            index += 1;
            continue;
        }
        return Some(EnvPrelude { assignment_keys, command_index: index, split_argv: None, uses_modifiers });
    }
    None
}

/// The argv an `env -S` split string carries (itself parsed as a further `env` prelude).
fn resolve_env_split_payload(payload: &str, trailing: &[String], depth: usize) -> Option<Vec<String>> {
    let inner = split_shell_args(payload).filter(|t| !t.is_empty())?;
    let carried: Vec<String> = inner.into_iter().chain(trailing.iter().cloned()).collect();
    let mut as_env = vec!["env".to_string()];
    as_env.extend(carried.iter().cloned());
    Some(env_carried_argv(&as_env, depth + 1).unwrap_or(carried))
}

/// The command behind an `env` carrier.
fn env_carried_argv(argv: &[String], depth: usize) -> Option<Vec<String>> {
    let parsed = parse_env_prelude(argv, depth)?;
    Some(parsed.split_argv.unwrap_or_else(|| argv[parsed.command_index..].to_vec()))
}

/// `env` with options or assignments (or one this module cannot parse).
fn env_uses_modifiers(argv: &[String]) -> bool {
    match parse_env_prelude(argv, 0) {
        Some(p) => p.uses_modifiers,
        None => argv.first().is_some_and(|a| normalize_executable_token(a) == "env"),
    }
}

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
    /// argv[0] is not a wrapper of this layer.
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
fn is_semantic_usage(wrapper: &str, argv: &[String]) -> bool {
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

/// A wrapper that was looked through, with the argv it was invoked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapperInvocation {
    /// Its normalised name (`nice`, `env`, `command`, `busybox`, …).
    pub wrapper: String,
    /// The argv starting at the wrapper.
    pub source_argv: Vec<String>,
}

/// What an argv runs once its wrappers are looked through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPlan {
    /// The argv left after the wrappers (at a blocked wrapper: the argv starting there).
    pub argv: Vec<String>,
    /// The argv policy matches on (differs from `argv` only behind a shell multiplexer).
    pub policy_argv: Vec<String>,
    /// The wrappers looked through, outermost first.
    pub wrapper_chain: Vec<String>,
    /// The same wrappers with their argv.
    pub invocations: Vec<WrapperInvocation>,
    /// A wrapper could not be looked through, or the chain was deeper than four.
    pub policy_blocked: bool,
    /// The wrapper that blocked.
    pub blocked_wrapper: Option<String>,
}

/// Dispatch wrappers only (`resolveDispatchWrapperTrustPlan`).
fn dispatch_trust_plan(argv: &[String], max_depth: usize) -> TrustPlan {
    let mut plan = TrustPlan {
        argv: argv.to_vec(),
        policy_argv: argv.to_vec(),
        wrapper_chain: Vec::new(),
        invocations: Vec::new(),
        policy_blocked: false,
        blocked_wrapper: None,
    };
    let block = |mut plan: TrustPlan, wrapper: String| {
        plan.policy_blocked = true;
        plan.blocked_wrapper = Some(wrapper);
        plan
    };
    for _ in 0..max_depth {
        match unwrap_dispatch_wrapper(&plan.argv) {
            Unwrap::Blocked(w) => return block(plan, w),
            Unwrap::Unwrapped { wrapper, argv } if !argv.is_empty() => {
                plan.wrapper_chain.push(wrapper.clone());
                plan.invocations.push(WrapperInvocation { wrapper: wrapper.clone(), source_argv: plan.argv.clone() });
                if is_semantic_usage(&wrapper, &plan.argv) {
                    return block(plan, wrapper);
                }
                plan.argv = argv;
            }
            _ => break,
        }
    }
    if plan.wrapper_chain.len() >= max_depth {
        if let Unwrap::Blocked(w) | Unwrap::Unwrapped { wrapper: w, .. } = unwrap_dispatch_wrapper(&plan.argv) {
            return block(plan, w);
        }
    }
    plan
}

/// The argv behind `command`/`builtin` (no query options; `-p` is handled by the caller).
fn command_builtin_carried(argv: &[String]) -> Option<Vec<String>> {
    for (index, token) in argv.iter().enumerate().skip(1) {
        if token == "--" {
            return Some(argv[index + 1..].to_vec());
        }
        if !token.starts_with('-') {
            return Some(argv[index..].to_vec());
        }
        if split_inline_option(token).0 != "-p" {
            return None;
        }
    }
    None
}

/// The argv behind the shell's `exec` (options `-c`, `-l`, `-a NAME`).
fn exec_carried(argv: &[String]) -> Option<Vec<String>> {
    let mut index = 1;
    while index < argv.len() {
        let token = argv[index].as_str();
        if token == "--" {
            return Some(argv[index + 1..].to_vec());
        }
        if !token.starts_with('-') {
            return Some(argv[index..].to_vec());
        }
        let options = parse_carrier_option(token, &["-c", "-l"], &["-a"])?;
        if consumes_next_value(&options, &["-a"]) {
            index += 1;
        }
        index += 1;
    }
    None
}

/// `command -p …` (or a cluster with `p`): the default PATH, not the node's: blocked.
fn command_uses_default_path(argv: &[String]) -> bool {
    if argv.first().map(|a| a.trim()) != Some("command") {
        return false;
    }
    for token in argv.iter().skip(1).map(|t| t.trim()) {
        if token == "--" || !token.starts_with('-') {
            return false;
        }
        if token.len() > 1 && !token[1..].starts_with('-') && token[1..].split('-').next().unwrap_or("").contains('p') {
            return true;
        }
    }
    false
}

/// `command`, `builtin` and `exec` as argv[0] (exact names: these are shell builtins).
fn unwrap_shell_argv_carrier(argv: &[String]) -> Unwrap {
    let Some(token0) = argv.first().map(|a| a.trim()) else { return Unwrap::NotWrapper };
    if !["builtin", "command", "exec"].contains(&token0) {
        return Unwrap::NotWrapper;
    }
    if command_uses_default_path(argv) {
        return Unwrap::Blocked(token0.to_string());
    }
    let carried = if token0 == "exec" { exec_carried(argv) } else { command_builtin_carried(argv) };
    match carried.filter(|c| !c.is_empty()) {
        Some(argv) => Unwrap::Unwrapped { wrapper: token0.to_string(), argv },
        None => Unwrap::Blocked(token0.to_string()),
    }
}

/// Whether a token names a shell wrapper (POSIX shells, `cmd`, `powershell`, `pwsh`).
pub fn is_shell_wrapper_executable(token: &str) -> bool {
    let name = normalize_executable_token(token);
    POSIX_SHELLS.contains(&name.as_str()) || ["cmd", "powershell", "pwsh"].contains(&name.as_str())
}

/// `busybox sh …` / `toybox sh …`: the applet must be a shell, or the multiplexer is blocked.
pub fn unwrap_shell_multiplexer(argv: &[String]) -> Unwrap {
    let Some(token0) = argv.first().map(|a| a.trim()).filter(|t| !t.is_empty()) else { return Unwrap::NotWrapper };
    let wrapper = normalize_executable_token(token0);
    if wrapper != "busybox" && wrapper != "toybox" {
        return Unwrap::NotWrapper;
    }
    let applet_index = if argv.get(1).map(|a| a.trim()) == Some("--") { 2 } else { 1 };
    match argv.get(applet_index).map(|a| a.trim()) {
        Some(applet) if !applet.is_empty() && is_shell_wrapper_executable(applet) => {
            Unwrap::Unwrapped { wrapper, argv: argv[applet_index..].to_vec() }
        }
        _ => Unwrap::Blocked(wrapper),
    }
}

/// Everything executable resolution looks through (`resolveExecWrapperTrustPlan`): dispatch
/// wrappers, then the shell carriers `command`/`builtin`/`exec`, then shell multiplexers, at
/// most four in all; a fifth wrapper of any kind is blocked.
pub fn exec_wrapper_trust_plan(argv: &[String]) -> TrustPlan {
    let max = MAX_WRAPPER_DEPTH;
    let mut current = argv.to_vec();
    let mut policy_argv = argv.to_vec();
    let mut saw_multiplexer = false;
    let mut chain: Vec<String> = Vec::new();
    let mut invocations: Vec<WrapperInvocation> = Vec::new();
    let blocked = |argv: Vec<String>, policy_argv: Vec<String>, chain, invocations, wrapper: String| TrustPlan {
        argv,
        policy_argv,
        wrapper_chain: chain,
        invocations,
        policy_blocked: true,
        blocked_wrapper: Some(wrapper),
    };
    for _ in 0..max {
        let dispatch = dispatch_trust_plan(&current, max - chain.len());
        invocations.extend(dispatch.invocations);
        if dispatch.policy_blocked {
            let at = dispatch.argv.clone();
            let wrapper = dispatch.blocked_wrapper.unwrap_or_else(|| current.first().cloned().unwrap_or_default());
            return blocked(at.clone(), at, chain, invocations, wrapper);
        }
        if !dispatch.wrapper_chain.is_empty() {
            chain.extend(dispatch.wrapper_chain);
            current = dispatch.argv;
            if !saw_multiplexer {
                policy_argv = current.clone();
            }
            if chain.len() >= max {
                break;
            }
            continue;
        }
        match unwrap_shell_argv_carrier(&current) {
            Unwrap::Blocked(w) => return blocked(current, policy_argv, chain, invocations, w),
            Unwrap::Unwrapped { wrapper, argv } => {
                chain.push(wrapper.clone());
                invocations.push(WrapperInvocation { wrapper, source_argv: current.clone() });
                current = argv;
                if !saw_multiplexer {
                    policy_argv = current.clone();
                }
                if chain.len() >= max {
                    break;
                }
                continue;
            }
            Unwrap::NotWrapper => {}
        }
        match unwrap_shell_multiplexer(&current) {
            Unwrap::Blocked(w) => return blocked(current, policy_argv, chain, invocations, w),
            Unwrap::Unwrapped { wrapper, argv } => {
                chain.push(wrapper.clone());
                invocations.push(WrapperInvocation { wrapper, source_argv: current.clone() });
                if !saw_multiplexer {
                    policy_argv = current.clone();
                    saw_multiplexer = true;
                }
                current = argv;
                if chain.len() >= max {
                    break;
                }
                continue;
            }
            Unwrap::NotWrapper => {}
        }
        break;
    }
    if chain.len() >= max {
        for overflow in
            [unwrap_dispatch_wrapper(&current), unwrap_shell_argv_carrier(&current), unwrap_shell_multiplexer(&current)]
        {
            if let Unwrap::Blocked(w) | Unwrap::Unwrapped { wrapper: w, .. } = overflow {
                return blocked(current, policy_argv, chain, invocations, w);
            }
        }
    }
    TrustPlan {
        argv: current,
        policy_argv,
        wrapper_chain: chain,
        invocations,
        policy_blocked: false,
        blocked_wrapper: None,
    }
}

/// The argv starting at the shell, looking through up to four dispatch wrappers and shell
/// multiplexers (not `command`/`exec`), and whether an `env` with modifiers was passed on the
/// way (`resolveShellWrapperCandidate`). `None` at a blocked wrapper.
fn shell_candidate(argv: &[String], depth: usize, env_seen: bool) -> Option<(Vec<String>, bool)> {
    if depth > MAX_WRAPPER_DEPTH || argv.first().map(|a| a.trim()).is_none_or(str::is_empty) {
        return None;
    }
    match unwrap_dispatch_wrapper(argv) {
        Unwrap::Blocked(_) => return None,
        Unwrap::Unwrapped { wrapper, argv: inner } => {
            let env_here = wrapper == "env" && env_uses_modifiers(argv);
            return shell_candidate(&inner, depth + 1, env_seen || env_here);
        }
        Unwrap::NotWrapper => {}
    }
    match unwrap_shell_multiplexer(argv) {
        Unwrap::Blocked(_) => None,
        Unwrap::Unwrapped { argv: inner, .. } => shell_candidate(&inner, depth + 1, env_seen),
        Unwrap::NotWrapper => Some((argv.to_vec(), env_seen)),
    }
}

/// Whether argv runs a shell (after dispatch wrappers), with or without an inline command: the
/// env overrides of such a run are filtered to terminal and locale settings.
pub fn is_shell_wrapper_invocation(argv: &[String]) -> bool {
    shell_candidate(argv, 0, false).is_some_and(|(a, _)| is_shell_wrapper_executable(&a[0]))
}

/// The family of a shell wrapper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShellKind {
    Posix,
    Cmd,
    PowerShell,
}

fn shell_kind(base: &str) -> Option<ShellKind> {
    if POSIX_SHELLS.contains(&base) {
        Some(ShellKind::Posix)
    } else if base == "cmd" {
        Some(ShellKind::Cmd)
    } else if base == "powershell" || base == "pwsh" {
        Some(ShellKind::PowerShell)
    } else {
        None
    }
}

/// Number of `o`/`O` in a short cluster: options whose values are separate arguments.
fn count_value_option_chars(token: &str) -> usize {
    token.chars().skip(1).filter(|c| *c == 'o' || *c == 'O').count()
}

/// A short cluster containing `c` (`-xc`, `-ec`): its attached command (`-c'ls'`-style
/// suffixes that are not plain letters) or the count of separate values before the command.
fn parse_combined_command_flag(token: &str) -> Option<(Option<String>, usize)> {
    let bytes = token.as_bytes();
    if bytes.len() < 2 || bytes[0] != b'-' || bytes[1] == b'-' {
        return None;
    }
    let option_chars = &token[1..];
    let c_at = option_chars.find('c')?;
    if option_chars.contains('-') {
        return None;
    }
    let suffix = &option_chars[c_at + 1..];
    if !suffix.is_empty() && !suffix.chars().all(|c| c.is_ascii_alphabetic()) {
        return Some((Some(suffix.to_string()), 0));
    }
    Some((None, count_value_option_chars(token)))
}

/// How many argv entries a POSIX shell option takes while scanning for the inline command.
fn posix_option_width(token: &str) -> usize {
    let bytes = token.as_bytes();
    let combined =
        if bytes.len() < 2 || (bytes[0] != b'-' && bytes[0] != b'+') || bytes[1] == b'-' || token[1..].contains('-') {
            0
        } else {
            count_value_option_chars(token)
        };
    if combined > 0 {
        1 + combined
    } else if ["--init-file", "--rcfile", "-O", "-o", "+O", "+o"].contains(&token) {
        2
    } else {
        1
    }
}

/// The inline command of a POSIX-style shell argv and the index of its token
/// (`resolveInlineCommandMatch` with combined `-c` clusters).
fn posix_inline_command(argv: &[String], flags: &[&str]) -> (Option<String>, Option<usize>) {
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
        if flags.contains(&token) {
            let command = argv.get(i + 1).map(|c| c.trim()).filter(|c| !c.is_empty()).map(str::to_string);
            return (command, (i + 1 < argv.len()).then_some(i + 1));
        }
        if let Some((attached, separate)) = parse_combined_command_flag(token) {
            if let Some(attached) = attached {
                let attached = attached.trim();
                return ((!attached.is_empty()).then(|| attached.to_string()), Some(i));
            }
            let at = i + 1 + separate;
            let command = argv.get(at).map(|c| c.trim()).filter(|c| !c.is_empty()).map(str::to_string);
            return (command, Some(at));
        }
        if !token.starts_with('-') && !token.starts_with('+') {
            break;
        }
        i += posix_option_width(token);
    }
    (None, None)
}

fn is_nushell_inline_boundary(arg: &str) -> bool {
    let lower = arg.trim().to_lowercase();
    if NUSHELL_INLINE_FLAGS.contains(&lower.as_str()) {
        return true;
    }
    lower.split_once('=').is_some_and(|(flag, _)| flag.starts_with("--") && NUSHELL_INLINE_FLAGS.contains(&flag))
}

fn nushell_startup_option_before_command(argv: &[String]) -> bool {
    for arg in argv.iter().skip(1) {
        let token = arg.trim().to_lowercase();
        if token.is_empty() || token == "--" || is_nushell_inline_boundary(&token) {
            return false;
        }
        if NUSHELL_STARTUP_OPTIONS.iter().any(|o| token == *o || token.starts_with(&format!("{o}="))) {
            return true;
        }
    }
    false
}

fn nushell_attached_command(argv: &[String]) -> Option<String> {
    for arg in argv.iter().skip(1).map(|a| a.trim()) {
        if arg.is_empty() || arg == "--" {
            return None;
        }
        if let Some((flag, value)) = arg.split_once('=') {
            let flag = flag.to_lowercase();
            if flag.starts_with("--") && NUSHELL_INLINE_FLAGS.contains(&flag.as_str()) {
                return Some(value.to_string());
            }
        }
    }
    None
}

fn nushell_attached_index(argv: &[String]) -> Option<Option<usize>> {
    for (i, arg) in argv.iter().enumerate().skip(1) {
        let arg = arg.trim();
        if arg.is_empty() || arg == "--" {
            return Some(None);
        }
        if let Some((flag, _)) = arg.split_once('=') {
            let flag = flag.to_lowercase();
            if flag.starts_with("--") && NUSHELL_INLINE_FLAGS.contains(&flag.as_str()) {
                return Some(Some(i));
            }
        }
    }
    None
}

/// `cmd /c …` or `/k …`: the rest of argv joined.
fn cmd_inline_command(argv: &[String]) -> Option<String> {
    let idx = argv.iter().position(|a| matches!(a.trim().to_lowercase().as_str(), "/c" | "/k" | "-c" | "-k"))?;
    let command = argv[idx + 1..].join(" ");
    let command = command.trim();
    (!command.is_empty()).then(|| command.to_string())
}

/// The inline payload of a shell argv (argv[0] is the shell). PowerShell's payload is not
/// extracted: its command is then bound by the full argv only, the stricter reading.
fn shell_payload(argv: &[String], kind: ShellKind, base: &str) -> Option<String> {
    match kind {
        ShellKind::Posix if OPAQUE_STARTUP_SHELLS.contains(&base) => None,
        ShellKind::Posix if base == "nu" => {
            if nushell_startup_option_before_command(argv) {
                return None;
            }
            if let Some(attached) = nushell_attached_command(argv) {
                let attached = attached.trim();
                return (!attached.is_empty()).then(|| attached.to_string());
            }
            posix_inline_command(argv, NUSHELL_INLINE_FLAGS).0
        }
        ShellKind::Posix => posix_inline_command(argv, POSIX_INLINE_FLAGS).0,
        ShellKind::Cmd => cmd_inline_command(argv),
        ShellKind::PowerShell => None,
    }
}

/// A short option cluster (`-il`) that contains `option`.
fn is_posix_short_option(token: &str, option: char) -> bool {
    let bytes = token.as_bytes();
    bytes.len() >= 2 && bytes[0] == b'-' && bytes[1] != b'-' && !token[1..].contains('-') && token[1..].contains(option)
}

/// Whether a startup mode (`is_mode`) is requested before the inline command flag.
fn posix_startup_before_command(argv: &[String], flags: &[&str], is_mode: impl Fn(&str) -> bool) -> bool {
    let mut seen = false;
    let mut i = 1;
    while i < argv.len() {
        let token = argv[i].trim();
        if token.is_empty() {
            i += 1;
            continue;
        }
        if token == "--" {
            return false;
        }
        if is_mode(token) {
            seen = true;
        }
        if flags.contains(&token) || parse_combined_command_flag(token).is_some() {
            return seen;
        }
        if !token.starts_with('-') && !token.starts_with('+') {
            return false;
        }
        i += posix_option_width(token);
    }
    false
}

fn posix_login_before_command(argv: &[String], flags: &[&str]) -> bool {
    posix_startup_before_command(argv, flags, |t| t == "--login" || is_posix_short_option(t, 'l'))
}

fn posix_interactive_before_command(argv: &[String], flags: &[&str]) -> bool {
    posix_startup_before_command(argv, flags, |t| t == "--interactive" || is_posix_short_option(t, 'i'))
}

fn nushell_mode_before_command(argv: &[String], is_mode: impl Fn(&str) -> bool) -> bool {
    let mut seen = false;
    for arg in argv.iter().skip(1).map(|a| a.trim()) {
        if arg.is_empty() || arg == "--" {
            return false;
        }
        if is_mode(arg) {
            seen = true;
        }
        if is_nushell_inline_boundary(arg) {
            return seen;
        }
        if !arg.starts_with('-') && !arg.starts_with('+') {
            return false;
        }
    }
    false
}

fn nushell_short_option(arg: &str, option: char) -> bool {
    let lower = arg.to_lowercase();
    lower.len() >= 2 && lower.starts_with('-') && !lower.starts_with("--") && lower[1..].contains(option)
}

/// fish `-C`/`--init-command` runs code before the inline command.
fn fish_init_command(argv: &[String]) -> bool {
    for token in argv.iter().skip(1).map(|t| t.trim()) {
        if token.is_empty() {
            continue;
        }
        if token == "--" {
            return false;
        }
        if token.starts_with("-C") || token == "--init-command" || token.starts_with("--init-command=") {
            return true;
        }
        if !token.starts_with('-') && !token.starts_with('+') {
            return false;
        }
    }
    false
}

/// fish `-cCOMMAND`: never rebound.
fn fish_attached_command(argv: &[String]) -> bool {
    for token in argv.iter().skip(1).map(|t| t.trim()) {
        if token.is_empty() {
            continue;
        }
        if token == "--" {
            return false;
        }
        if token.starts_with("-c") && token != "-c" {
            return true;
        }
        if !token.starts_with('-') && !token.starts_with('+') {
            return false;
        }
    }
    false
}

/// `sh -lc …` exactly: the gateway's own Linux transport, whose payload may be bound.
fn is_legacy_sh_login_form(argv: &[String], base: &str) -> bool {
    base == "sh" && argv.get(1).map(|a| a.trim()) == Some("-lc")
}

/// Login or interactive startup (or fish/nu startup code) runs before the payload, so only the
/// full argv describes the command.
fn startup_requires_full_argv(argv: &[String], kind: ShellKind, base: &str, include_legacy_login: bool) -> bool {
    if kind != ShellKind::Posix {
        return false;
    }
    if base == "fish" && fish_init_command(argv) {
        return true;
    }
    if base == "nu" {
        return nushell_mode_before_command(argv, |a| {
            a.eq_ignore_ascii_case("--login") || nushell_short_option(a, 'l')
        }) || nushell_mode_before_command(argv, |a| {
            a.eq_ignore_ascii_case("--interactive") || nushell_short_option(a, 'i')
        });
    }
    if posix_login_before_command(argv, POSIX_INLINE_FLAGS) {
        return include_legacy_login || !is_legacy_sh_login_form(argv, base);
    }
    posix_interactive_before_command(argv, POSIX_INLINE_FLAGS)
}

/// How a shell-wrapper argv reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    /// argv (after dispatch wrappers) runs a shell with an inline command.
    pub is_wrapper: bool,
    /// The inline command, when it may stand for the argv (`None` for login/interactive forms
    /// and other startup code, unless `rawCommand` names the legacy `sh -lc` form).
    pub command: Option<String>,
}

/// The inline command of a shell wrapper and whether it may be bound as the command's meaning
/// (`extractShellWrapperCommand`). `raw` is the trimmed, non-empty `rawCommand`.
pub fn extract_shell_wrapper_command(argv: &[String], raw: Option<&str>) -> ShellCommand {
    let none = ShellCommand { is_wrapper: false, command: None };
    let Some((candidate, _)) = shell_candidate(argv, 0, false) else { return none };
    let base = normalize_executable_token(&candidate[0]);
    let Some(kind) = shell_kind(&base) else { return none };
    let Some(payload) = shell_payload(&candidate, kind, &base) else { return none };
    let blocked = ShellCommand { is_wrapper: true, command: None };
    if base == "fish" && fish_attached_command(&candidate) {
        return blocked;
    }
    let raw_matches_payload = raw == Some(payload.as_str());
    let raw_matches_argv = raw == Some(crate::command::format_command(&candidate).as_str());
    let legacy_binding = is_legacy_sh_login_form(&candidate, &base) && (raw_matches_payload || raw_matches_argv);
    if startup_requires_full_argv(&candidate, kind, &base, !legacy_binding) {
        return blocked;
    }
    let command = if raw_matches_argv { payload } else { raw.map(str::to_string).unwrap_or(payload) };
    ShellCommand { is_wrapper: true, command: Some(command) }
}

/// Whether a shell wrapper's startup behaviour keeps approval from binding its payload
/// (`isBlockedShellWrapperCommand`): login/interactive startup, csh/tcsh/osh, fish init
/// commands, nu config options, `cmd` without `/d` or with `/k`, and PowerShell (whose
/// payload this port does not bind).
pub fn is_blocked_shell_wrapper_command(argv: &[String], raw: Option<&str>) -> bool {
    let Some((candidate, _)) = shell_candidate(argv, 0, false) else { return false };
    let base = normalize_executable_token(&candidate[0]);
    let Some(kind) = shell_kind(&base) else { return false };
    match kind {
        ShellKind::Cmd if cmd_unreviewed_startup(&candidate) => return true,
        ShellKind::PowerShell => return true,
        ShellKind::Posix
            if (base == "fish" && fish_init_command(&candidate))
                || (base == "nu" && nushell_startup_option_before_command(&candidate))
                || OPAQUE_STARTUP_SHELLS.contains(&base.as_str()) =>
        {
            return true
        }
        _ => {}
    }
    let extracted = extract_shell_wrapper_command(argv, raw.map(str::trim).filter(|r| !r.is_empty()));
    extracted.is_wrapper && extracted.command.is_none()
}

/// `cmd` runs AutoRun commands unless `/d` precedes `/c`; `/k` keeps it open.
fn cmd_unreviewed_startup(argv: &[String]) -> bool {
    let mut autorun_disabled = false;
    for (index, token) in argv.iter().enumerate().skip(1) {
        let token = token.trim().to_lowercase();
        match token.as_str() {
            "" => continue,
            "/d" => autorun_disabled = true,
            "/k" => return true,
            "/c" => return !autorun_disabled || !argv[index + 1..].iter().any(|v| !v.trim().is_empty()),
            "/s" | "/q" | "/a" | "/u" | "/e:on" | "/e:off" | "/f:on" | "/f:off" | "/v:on" | "/v:off" => {}
            t if t.len() >= 4
                && t.len() <= 5
                && t.starts_with("/t:")
                && t[3..].chars().all(|c| c.is_ascii_hexdigit()) => {}
            _ => return true,
        }
    }
    true
}

/// Whether an `env` with options or assignments runs before the shell wrapper (its payload
/// then does not describe the command alone: no preview binding).
pub fn has_env_manipulation_before_shell_wrapper(argv: &[String]) -> bool {
    let Some((candidate, env_seen)) = shell_candidate(argv, 0, false) else { return false };
    let base = normalize_executable_token(&candidate[0]);
    shell_kind(&base).and_then(|kind| shell_payload(&candidate, kind, &base)).is_some() && env_seen
}

/// Whether positional arguments follow the inline command (`sh -c '$0 $1' a b`): the payload
/// alone then does not describe the command.
pub fn has_trailing_positional_argv(argv: &[String]) -> bool {
    let dispatched = dispatch_trust_plan(argv, MAX_WRAPPER_DEPTH).argv;
    let wrapper_argv = match unwrap_shell_multiplexer(&dispatched) {
        Unwrap::Unwrapped { argv, .. } => argv,
        _ => dispatched,
    };
    let Some(token0) = wrapper_argv.first().map(|a| a.trim()).filter(|t| !t.is_empty()) else { return false };
    let base = normalize_executable_token(token0);
    if !POSIX_SHELLS.contains(&base.as_str()) {
        // PowerShell payloads are not extracted, so nothing is previewed for them anyway.
        return false;
    }
    let index = if base == "nu" {
        match nushell_attached_index(&wrapper_argv) {
            Some(found) => found,
            None => posix_inline_command(&wrapper_argv, NUSHELL_INLINE_FLAGS).1,
        }
    } else {
        posix_inline_command(&wrapper_argv, POSIX_INLINE_FLAGS).1
    };
    let Some(index) = index else { return false };
    wrapper_argv.iter().skip(index + 1).any(|a| !a.trim().is_empty())
}

/// The argv starting at the shell (dispatch wrappers and multiplexers removed), when argv is a
/// shell wrapper with an inline payload (`resolveShellWrapperTransportArgv`).
pub fn shell_transport_argv(argv: &[String]) -> Option<Vec<String>> {
    let (candidate, _) = shell_candidate(argv, 0, false)?;
    let base = normalize_executable_token(&candidate[0]);
    shell_payload(&candidate, shell_kind(&base)?, &base)?;
    Some(candidate)
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

    /// Rule (§3.3, §4.1): the trust plan looks through dispatch wrappers, `command`/`builtin`/
    /// `exec` and shell multiplexers; blocked wrappers, semantic uses and a fifth level block.
    #[test]
    fn exec_trust_plan_blocks_as_upstream() {
        let plan = exec_wrapper_trust_plan(&v(&["nice", "command", "exec", "-a", "x", "ls", "-l"]));
        assert_eq!(plan.argv, ["ls", "-l"]);
        assert_eq!(plan.wrapper_chain, ["nice", "command", "exec"]);
        assert!(!plan.policy_blocked);
        for blocked in [
            &["sudo", "ls"][..],
            &["setsid", "ls"],
            &["env", "-i", "ls"],
            &["env", "FOO=1", "ls"],
            &["time", "-o", "f", "ls"],
            &["command", "-p", "ls"],
            &["command", "-v", "ls"],
            &["busybox", "ls"],
            &["nice", "nice", "nice", "nice", "nice", "ls"],
            &["nice", "nice", "nice", "nice", "command", "ls"],
            &["timeout", "-sTERM", "5", "ls"],
            &["arch", "ls"],
        ] {
            assert!(exec_wrapper_trust_plan(&v(blocked)).policy_blocked, "{blocked:?}");
        }
        let four = exec_wrapper_trust_plan(&v(&["nice", "nice", "nice", "nice", "ls"]));
        assert!(!four.policy_blocked && four.argv == ["ls"]);
        let busybox = exec_wrapper_trust_plan(&v(&["busybox", "sh", "-c", "ls"]));
        assert_eq!((busybox.argv[0].as_str(), busybox.policy_argv[0].as_str()), ("sh", "busybox"));
    }

    /// Rule (§3.2): shell detection looks through dispatch wrappers only, up to four deep.
    #[test]
    fn shell_wrapper_detection_and_transport() {
        assert!(is_shell_wrapper_invocation(&v(&["bash", "script.sh"])));
        assert!(is_shell_wrapper_invocation(&v(&["nice", "-n", "5", "/bin/sh", "-c", "ls"])));
        assert!(is_shell_wrapper_invocation(&v(&["env", "FOO=1", "sh", "-c", "ls"])));
        assert!(!is_shell_wrapper_invocation(&v(&["command", "sh", "-c", "ls"])));
        assert!(!is_shell_wrapper_invocation(&v(&["sudo", "sh", "-c", "ls"])));
        assert!(!is_shell_wrapper_invocation(&v(&["timeout", "-sTERM", "5", "sh", "-c", "ls"])));
        assert_eq!(
            shell_transport_argv(&v(&["timeout", "-s", "TERM", "5", "bash", "--command", "ls"])),
            Some(v(&["bash", "--command", "ls"]))
        );
        assert_eq!(shell_transport_argv(&v(&["bash", "script.sh"])), None);
    }

    /// Rule (§3.1, §3.2): login/interactive startup keeps the payload unbound, except the
    /// legacy `sh -lc` form when rawCommand names it; csh-family shells never bind.
    #[test]
    fn shell_payload_binding() {
        let cmd = |argv: &[&str], raw: Option<&str>| extract_shell_wrapper_command(&v(argv), raw).command;
        assert_eq!(cmd(&["sh", "-c", "ls"], None).as_deref(), Some("ls"));
        assert_eq!(cmd(&["sh", "-xc", "ls"], None).as_deref(), Some("ls"));
        assert_eq!(cmd(&["sh", "-o", "errexit", "-c", "ls"], None).as_deref(), Some("ls"));
        assert_eq!(cmd(&["bash", "-lc", "ls"], None), None);
        assert_eq!(cmd(&["bash", "-lc", "ls"], Some("ls")), None);
        assert_eq!(cmd(&["bash", "-l", "-c", "ls"], None), None);
        assert_eq!(cmd(&["bash", "-i", "-c", "ls"], None), None);
        assert_eq!(cmd(&["sh", "-lc", "ls"], None), None);
        assert_eq!(cmd(&["sh", "-lc", "ls"], Some("ls")).as_deref(), Some("ls"));
        assert_eq!(cmd(&["sh", "-lc", "ls"], Some("sh -lc ls")).as_deref(), Some("ls"));
        assert_eq!(cmd(&["sh", "-l", "-c", "ls"], Some("ls")), None, "only the exact -lc form");
        assert_eq!(cmd(&["tcsh", "-c", "ls"], None), None);
        assert_eq!(cmd(&["fish", "-cls"], None), None);
        assert!(is_blocked_shell_wrapper_command(&v(&["bash", "-lc", "ls"]), None));
        assert!(!is_blocked_shell_wrapper_command(&v(&["sh", "-c", "ls"]), None));
        assert!(is_blocked_shell_wrapper_command(&v(&["cmd.exe", "/c", "dir"]), None));
        assert!(!is_blocked_shell_wrapper_command(&v(&["cmd.exe", "/d", "/c", "dir"]), None));
        assert!(has_trailing_positional_argv(&v(&["sh", "-c", "echo $0", "x"])));
        assert!(!has_trailing_positional_argv(&v(&["sh", "-c", "echo"])));
        assert!(has_env_manipulation_before_shell_wrapper(&v(&["env", "A=1", "sh", "-c", "x"])));
        assert!(!has_env_manipulation_before_shell_wrapper(&v(&["env", "sh", "-c", "x"])));
    }

    #[test]
    fn split_shell_args_reads_quotes() {
        assert_eq!(split_shell_args(r#"a 'b c' "d \"e\"" f\ g"#), Some(v(&["a", "b c", "d \"e\"", "f g"])));
        assert_eq!(split_shell_args("a #b"), Some(v(&["a"])));
        assert_eq!(split_shell_args("'open"), None);
    }
}
