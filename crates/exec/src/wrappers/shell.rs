//! Shell wrappers (`sh -c …`, `cmd /c …`, `pwsh`): finding the shell behind dispatch
//! wrappers and multiplexers, reading its inline payload, and the startup forms (login,
//! interactive, init files, AutoRun) that keep approval from binding that payload.
//!
//! A shell wrapper's payload is the command's meaning, so the rawCommand binding, the
//! allow-always persistence and the policy segments all read it through this one file; a
//! form it cannot read is reported as blocked rather than guessed at.

use std::path::{Path, PathBuf};

use super::env_prelude::env_uses_modifiers;
use super::trust::dispatch_trust_plan;
use super::{normalize_executable_token, unwrap_dispatch_wrapper, Unwrap, MAX_WRAPPER_DEPTH, POSIX_SHELLS};

/// Shells whose startup files run before any inline command, so approval never binds them.
const OPAQUE_STARTUP_SHELLS: &[&str] = &["csh", "osh", "tcsh"];

/// Inline-command flags of POSIX shells (short clusters containing `c` count too).
pub(crate) const POSIX_INLINE_FLAGS: &[&str] = &["-lc", "-c", "--command", "--commands", "--cmdline"];

/// Nushell's inline-command flags: the POSIX ones and `-e`/`--execute`.
const NUSHELL_INLINE_FLAGS: &[&str] = &["-lc", "-c", "--command", "--commands", "--cmdline", "-e", "--execute"];

/// Nushell options that load startup configuration.
const NUSHELL_STARTUP_OPTIONS: &[&str] = &["--config", "--env-config", "--plugin-config", "--plugins"];

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
pub(crate) fn parse_combined_command_flag(token: &str) -> Option<(Option<String>, usize)> {
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
pub(crate) fn posix_option_width(token: &str) -> usize {
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

/// Shell options that load startup code: a shell given one runs no script operand of its own.
const STARTUP_FILE_OPTIONS: &[&str] = &["--rcfile", "--init-file", "--startup-file"];

/// The script a parseable shell runs directly (`bash -e tool.sh arg`), with its index in argv:
/// the operand after the options, `~` expanded and made absolute against `cwd` (lexically, as
/// `path.resolve`). `None` for an inline command (`-c`, or a short cluster with `c` or `C`),
/// stdin (`-s`), a startup file option, an opaque or unknown shell, or no operand. Both the
/// allowlist (which matches the script's path) and allow-always (which remembers it) read
/// the script from here (`resolveShellWrapperScriptCandidatePath`).
pub fn shell_script_operand(argv: &[String], cwd: &Path, home: Option<&Path>) -> Option<(usize, PathBuf)> {
    let name = normalize_executable_token(argv.first()?);
    if !crate::shell::PARSEABLE_SHELLS.contains(&name.as_str()) {
        return None;
    }
    let cluster_with = |token: &str, c: char| {
        token.len() > 1
            && token.starts_with('-')
            && !token[1..].contains('-')
            && token[1..].to_ascii_lowercase().contains(c)
    };
    let mut i = 1;
    while let Some(token) = argv.get(i).map(|t| t.trim()) {
        if token.is_empty() {
            i += 1;
            continue;
        }
        if token == "--" {
            i += 1;
            break;
        }
        if POSIX_INLINE_FLAGS.contains(&token) || cluster_with(token, 'c') || cluster_with(token, 's') {
            return None;
        }
        if STARTUP_FILE_OPTIONS.iter().any(|o| token == *o || token.strip_prefix(o).is_some_and(|r| r.starts_with('=')))
        {
            return None;
        }
        if ["-c", "--command", "-o", "-O", "+O", "+o"].contains(&token) {
            i += 2;
        } else if token.starts_with('-') || token.starts_with('+') {
            i += posix_option_width(token);
        } else {
            break;
        }
    }
    let operand = argv.get(i)?.trim();
    if operand.is_empty() {
        return None;
    }
    let expanded = match (operand.strip_prefix('~'), home) {
        (Some(rest), Some(home)) => format!("{}{rest}", home.display()),
        _ => operand.to_string(),
    };
    Some((i, crate::lexical_path::resolve_lexically(cwd, expanded)))
}

/// The inline command of a POSIX-style shell argv and the index of its token
/// (`resolveInlineCommandMatch` with combined `-c` clusters).
pub(crate) fn posix_inline_command(argv: &[String], flags: &[&str]) -> (Option<String>, Option<usize>) {
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
}
