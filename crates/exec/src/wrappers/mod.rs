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
//!
//! One file per concern: `dispatch` (the wrappers and their grammars), `env_prelude` (`env`'s
//! options, assignments and `-S` split strings), `options` (the option grammar `env` and
//! `exec` share), `trust` (trust plans) and `shell` (shell wrappers and their payloads). This
//! file keeps the names every layer shares and re-exports the public API, so callers name
//! `crate::wrappers::…` only.

mod dispatch;
mod env_prelude;
mod options;
mod shell;
mod trust;

pub use dispatch::{
    env_assignment_keys, is_dispatch_wrapper, unwrap_dispatch_wrapper, Unwrap, BLOCKED_WRAPPERS, TRANSPARENT_WRAPPERS,
};
pub use env_prelude::{parse_env_prelude, split_shell_args, EnvPrelude};
pub use shell::{
    extract_shell_wrapper_command, has_env_manipulation_before_shell_wrapper, has_trailing_positional_argv,
    is_blocked_shell_wrapper_command, is_shell_wrapper_executable, is_shell_wrapper_invocation, shell_script_operand,
    shell_transport_argv, unwrap_shell_multiplexer, ShellCommand,
};
pub(crate) use shell::{parse_combined_command_flag, posix_inline_command, posix_option_width, POSIX_INLINE_FLAGS};
pub use trust::{exec_wrapper_trust_plan, TrustPlan, WrapperInvocation};

/// POSIX shells recognised as wrappers.
pub const POSIX_SHELLS: &[&str] =
    &["ash", "bash", "csh", "dash", "elvish", "fish", "ksh", "mksh", "nu", "osh", "sh", "tcsh", "xonsh", "yash", "zsh"];

/// How many wrappers deep any analysis looks; one more is blocked.
pub const MAX_WRAPPER_DEPTH: usize = 4;

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
