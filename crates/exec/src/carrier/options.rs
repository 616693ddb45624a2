//! Option tables of the command carriers (`env`, `sudo`, `doas`, `exec`) and the `env`
//! prelude with `-S` (split-string) payloads, as upstream reads them: a carrier with an
//! option not in its table carries nothing (detection stops, the segment stays a carrier).

use super::{is_env_assignment, normalize_executable, option_name};

/// One option of a carrier's option word (`-u root`, `-uroot`, `--user=root`, `-nE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CarrierOption {
    name: String,
    inline_value: Option<String>,
}

/// The option tables of one carrier.
pub(super) struct CarrierOptions {
    standalone: &'static [&'static str],
    with_value: &'static [&'static str],
    non_executing: &'static [&'static str],
}

impl CarrierOptions {
    fn known(&self, name: &str) -> bool {
        self.standalone.contains(&name) || self.with_value.contains(&name) || self.non_executing.contains(&name)
    }

    /// The options of one word, or `None` when any of them is unknown.
    pub(super) fn parse(&self, token: &str) -> Option<Vec<CarrierOption>> {
        if token.starts_with("--") {
            let (name, value) = match token.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (token, None),
            };
            return self.known(name).then(|| vec![CarrierOption { name: name.to_string(), inline_value: value }]);
        }
        let chars = token.char_indices().skip(1);
        if !token.starts_with('-') || !token[1..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return None;
        }
        let mut options = Vec::new();
        for (at, c) in chars {
            let name = format!("-{c}");
            if self.with_value.contains(&name.as_str()) {
                let rest = &token[at + c.len_utf8()..];
                options.push(CarrierOption { name, inline_value: (!rest.is_empty()).then(|| rest.to_string()) });
                return Some(options);
            }
            if self.standalone.contains(&name.as_str()) || self.non_executing.contains(&name.as_str()) {
                options.push(CarrierOption { name, inline_value: None });
                continue;
            }
            return None;
        }
        (!options.is_empty()).then_some(options)
    }

    /// Whether the next word is the value of the last option; `None` for an option that
    /// makes the carrier not execute anything (`sudo -l`).
    pub(super) fn consumes_next(&self, options: &[CarrierOption]) -> Option<bool> {
        let mut consumes = false;
        for option in options {
            if self.non_executing.contains(&option.name.as_str()) {
                return None;
            }
            if self.with_value.contains(&option.name.as_str()) {
                consumes = option.inline_value.is_none();
            }
        }
        Some(consumes)
    }
}

pub(super) const ENV_OPTIONS: CarrierOptions = CarrierOptions {
    standalone: &["-0", "-i", "--ignore-environment", "--null"],
    with_value: &[
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
    ],
    non_executing: &[],
};
const ENV_SPLIT_STRING: &[&str] = &["-S", "-s", "--split-string"];
pub(super) const SUDO_OPTIONS: CarrierOptions = CarrierOptions {
    standalone: &[
        "-A",
        "-B",
        "-b",
        "-E",
        "-H",
        "-i",
        "-k",
        "-N",
        "-n",
        "-P",
        "-S",
        "-s",
        "--askpass",
        "--background",
        "--bell",
        "--login",
        "--no-update",
        "--non-interactive",
        "--preserve-env",
        "--preserve-groups",
        "--reset-home",
        "--reset-timestamp",
        "--set-home",
        "--shell",
        "--stdin",
    ],
    with_value: &[
        "-C",
        "-D",
        "-g",
        "-h",
        "-p",
        "-R",
        "-T",
        "-U",
        "-u",
        "--chdir",
        "--chroot",
        "--close-from",
        "--command-timeout",
        "--group",
        "--host",
        "--other-user",
        "--prompt",
        "--role",
        "--type",
        "--user",
    ],
    non_executing: &[
        "-K",
        "-l",
        "-V",
        "-v",
        "-e",
        "--edit",
        "--help",
        "--list",
        "--remove-timestamp",
        "--validate",
        "--version",
    ],
};
pub(super) const DOAS_OPTIONS: CarrierOptions =
    CarrierOptions { standalone: &["-L", "-n", "-s"], with_value: &["-a", "-C", "-u"], non_executing: &[] };
pub(super) const EXEC_OPTIONS: CarrierOptions =
    CarrierOptions { standalone: &["-c", "-l"], with_value: &["-a"], non_executing: &[] };

/// How deep `env -S` payloads may nest.
const MAX_ENV_SPLIT_DEPTH: usize = 32;

/// The prelude of an `env` invocation: where the command starts, whether env changes
/// anything (assignments, options), and the argv rebuilt from `-S`, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvPrelude {
    /// Index of the command in the argv.
    pub command_index: usize,
    /// Names assigned (`NAME=value`).
    pub assignment_keys: Vec<String>,
    /// Options or assignments were given.
    pub uses_modifiers: bool,
    /// The command carried by `-S`/`--split-string`, split as a shell would.
    pub split_argv: Option<Vec<String>>,
    /// The `-S`-family option as written (`-S`, `-s`, `--split-string`), when one was used.
    pub split_flag: Option<String>,
}

/// Parses `env [options] [NAME=value…] command…`; `None` when it is not env, has an unknown
/// option, or carries no command.
pub fn parse_env_prelude(argv: &[String]) -> Option<EnvPrelude> {
    parse_env_prelude_at(argv, 0)
}

fn parse_env_prelude_at(argv: &[String], depth: usize) -> Option<EnvPrelude> {
    if depth > MAX_ENV_SPLIT_DEPTH || normalize_executable(argv.first()?) != "env" {
        return None;
    }
    let mut prelude = EnvPrelude {
        command_index: 0,
        assignment_keys: Vec::new(),
        uses_modifiers: false,
        split_argv: None,
        split_flag: None,
    };
    let mut index = 1;
    while index < argv.len() {
        let token = &argv[index];
        if token.is_empty() {
            return None;
        }
        if is_env_assignment(token) {
            prelude.uses_modifiers = true;
            prelude.assignment_keys.push(option_name(token).to_string());
            index += 1;
            continue;
        }
        if token == "--" || token == "-" {
            prelude.command_index = index + 1;
            return (index + 1 < argv.len()).then_some(prelude);
        }
        if token.starts_with('-') {
            let options = ENV_OPTIONS.parse(token)?;
            prelude.uses_modifiers = true;
            if let Some(split) = options.iter().find(|o| ENV_SPLIT_STRING.contains(&o.name.as_str())) {
                let payload_index = if split.inline_value.is_some() { index } else { index + 1 };
                let payload = split.inline_value.clone().or_else(|| argv.get(payload_index).cloned())?;
                let trailing = argv.get(payload_index + 1..).unwrap_or_default();
                let split_argv = env_split_payload(&payload, trailing, depth)?;
                prelude.command_index = payload_index + 1;
                prelude.split_argv = Some(split_argv);
                prelude.split_flag = Some(split_flag_as_written(token));
                return Some(prelude);
            }
            if ENV_OPTIONS.consumes_next(&options) == Some(true) {
                index += 1;
            }
            index += 1;
            continue;
        }
        prelude.command_index = index;
        return Some(prelude);
    }
    None
}

/// `-S`, `-s` or `--split-string` for an option word that carries one.
fn split_flag_as_written(token: &str) -> String {
    if token.starts_with("--") {
        return "--split-string".into();
    }
    match token.chars().skip(1).find(|c| *c == 'S' || *c == 's') {
        Some('s') => "-s".into(),
        _ => "-S".into(),
    }
}

fn env_split_payload(payload: &str, trailing: &[String], depth: usize) -> Option<Vec<String>> {
    let mut carried = split_shell_args(payload).filter(|a| !a.is_empty())?;
    carried.extend(trailing.iter().cloned());
    let mut as_env = vec!["env".to_string()];
    as_env.extend(carried.iter().cloned());
    Some(env_carried_argv(&as_env, depth + 1).unwrap_or(carried))
}

pub(super) fn env_carried_argv(argv: &[String], depth: usize) -> Option<Vec<String>> {
    let prelude = parse_env_prelude_at(argv, depth)?;
    Some(prelude.split_argv.unwrap_or_else(|| argv[prelude.command_index..].to_vec()))
}

/// Splits a string into words the way a shell would for literal text (quotes and
/// backslashes; `#` at a word start ends it); `None` for an unterminated quote or escape.
pub fn split_shell_args(raw: &str) -> Option<Vec<String>> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let (mut single, mut double, mut escaped) = (false, false, false);
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if escaped {
            word.push(c);
            escaped = false;
        } else if single {
            if c == '\'' {
                single = false;
            } else {
                word.push(c);
            }
        } else if double {
            if c == '\\' && chars.peek().is_some_and(|n| matches!(n, '\\' | '"' | '$' | '`' | '\n' | '\r')) {
                word.push(chars.next().expect("peeked"));
            } else if c == '"' {
                double = false;
            } else {
                word.push(c);
            }
        } else if c == '\\' {
            escaped = true;
        } else if c == '\'' {
            single = true;
        } else if c == '"' {
            double = true;
        } else if c == '#' && word.is_empty() {
            break;
        } else if c.is_whitespace() {
            if !word.is_empty() {
                tokens.push(std::mem::take(&mut word));
            }
        } else {
            word.push(c);
        }
    }
    if escaped || single || double {
        return None;
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    Some(tokens)
}
