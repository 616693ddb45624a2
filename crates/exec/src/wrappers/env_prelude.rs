//! The `env` prelude: the options and `NAME=value` assignments before `env`'s command, and
//! `env -S '…'` split strings with the shell-like word splitting they need.
//!
//! `env` is the one dispatch wrapper whose grammar needs a file of its own: its assignments
//! feed the env-override refusal ([`super::env_assignment_keys`]), its options decide whether
//! it changes what runs (a semantic use, which blocks the trust plan), and `-S` can carry a
//! whole further `env` invocation, parsed recursively up to a fixed depth.

use super::options::{consumes_next_value, parse_carrier_option};
use super::{is_env_assignment_token, normalize_executable_token};

/// `env -S` payloads nest at most this deep.
const MAX_ENV_SPLIT_DEPTH: usize = 32;

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
pub(super) fn env_carried_argv(argv: &[String], depth: usize) -> Option<Vec<String>> {
    let parsed = parse_env_prelude(argv, depth)?;
    Some(parsed.split_argv.unwrap_or_else(|| argv[parsed.command_index..].to_vec()))
}

/// `env` with options or assignments (or one this module cannot parse).
pub(super) fn env_uses_modifiers(argv: &[String]) -> bool {
    match parse_env_prelude(argv, 0) {
        Some(p) => p.uses_modifiers,
        None => argv.first().is_some_and(|a| normalize_executable_token(a) == "env"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn split_shell_args_reads_quotes() {
        assert_eq!(split_shell_args(r#"a 'b c' "d \"e\"" f\ g"#), Some(v(&["a", "b c", "d \"e\"", "f g"])));
        assert_eq!(split_shell_args("a #b"), Some(v(&["a"])));
        assert_eq!(split_shell_args("'open"), None);
    }
}
