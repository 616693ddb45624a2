//! Locating the file a command runs (`resolveMutableFileOperandIndex`): a shell's script, an
//! interpreter's or runner's script, or a writable executable run by path, seen through
//! dispatch wrappers, shell multiplexers and package-manager exec forms.
//!
//! Apart from the refusal rules ([`super::requires_stable_binding`] and its kin) because this
//! answers "which argv entry", not "may this be bound"; the argv and path helpers both use
//! live here.

use std::path::Path;

use super::super::argv_scan::{
    is_interpreter_like, normalize_executable_token, option_flag, posix_inline_command_index, posix_option_width,
    split_option, unwrap_dispatch, unwrap_package_manager_exec, unwrap_shell_multiplexer, Unwrap, PARSEABLE_SHELLS,
    POSIX_SHELLS,
};
use super::tables::*;
use super::{has_perl_unsafe_flag, has_ruby_unsafe_flag, path_looks_mutable};

pub(super) fn trimmed(argv: &[String], index: usize) -> &str {
    argv.get(index).map(|a| a.trim()).unwrap_or_default()
}

pub(super) use crate::lexical_path::resolve_lexically;

pub(super) fn is_existing_file(raw: &str, cwd: &Path) -> bool {
    !raw.is_empty() && std::fs::metadata(resolve_lexically(cwd, raw)).is_ok_and(|m| m.is_file())
}

/// `./x`, `/x`, `a/b`: a token that names a path, not a command looked up on PATH.
pub(super) fn is_explicit_path(token: &str) -> bool {
    token.starts_with('.') || token.starts_with('/') || token.starts_with('\\') || token.contains(['/', '\\'])
}

/// An explicit path, or a name with an extension (`tool.ts`).
pub(super) fn looks_like_path(token: &str) -> bool {
    is_explicit_path(token) || token.char_indices().any(|(i, c)| c == '.' && i > 0)
}

/// argv with dispatch wrappers, shell multiplexers and package-manager exec forms removed,
/// the index its argv[0] had in the original, and whether busybox/toybox was looked through.
pub(super) struct Unwrapped {
    pub(super) argv: Vec<String>,
    pub(super) base_index: isize,
    pub(super) opaque_multiplexer: bool,
}

pub(super) fn unwrap_for_operand(argv: &[String]) -> Unwrapped {
    let mut current = argv.to_vec();
    let mut base_index = 0isize;
    let mut opaque_multiplexer = false;
    // Every layer consumes at least its own argv[0]; the bound only guards `env -S` payloads
    // that rebuild a longer argv.
    for _ in 0..64 {
        let next = match unwrap_dispatch(&current) {
            Unwrap::Unwrapped { argv: inner, .. } => Some(inner),
            _ => match unwrap_shell_multiplexer(&current) {
                Unwrap::Unwrapped { wrapper, argv: inner } => {
                    opaque_multiplexer |= OPAQUE_SCRIPT_RUNNERS.contains(&wrapper.as_str());
                    Some(inner)
                }
                _ => unwrap_package_manager_exec(&current),
            },
        };
        let Some(next) = next else { break };
        base_index += current.len() as isize - next.len() as isize;
        current = next;
    }
    Unwrapped { argv: current, base_index, opaque_multiplexer }
}

pub(super) fn offset(base: isize, index: usize) -> Option<usize> {
    usize::try_from(base + index as isize).ok()
}

pub(super) fn is_mutable_script_runner(executable: &str) -> bool {
    GENERIC_SCRIPT_RUNNERS.contains(&executable)
        || OPAQUE_SCRIPT_RUNNERS.contains(&executable)
        || is_interpreter_like(executable)
}

fn is_argv1_interpreter(executable: &str) -> bool {
    if ["node", "nodejs", "perl", "php", "ruby"].contains(&executable) {
        return true;
    }
    executable.strip_prefix("python").is_some_and(|rest| {
        rest.is_empty() || rest.split('.').all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
    })
}

/// The script of a POSIX shell run without an inline command (`sh -e script.sh`): the first
/// operand after its options; `None` for `-c`, `-s`, `-` (stdin) or no operand.
fn shell_script_index(argv: &[String], executable: &str) -> Option<usize> {
    let plus = SHELLS_WITH_PLUS_OPTIONS.contains(&executable);
    let is_option = |t: &str| t.starts_with('-') || (plus && t.starts_with('+'));
    if posix_inline_command_index(argv, is_option).is_some() {
        return None;
    }
    let mut after_separator = false;
    let mut i = 1;
    while i < argv.len() {
        let token = argv[i].trim();
        if token.is_empty() {
            i += 1;
            continue;
        }
        if token == "-" || (!after_separator && token == "-s") {
            return None;
        }
        if !after_separator && token == "--" {
            after_separator = true;
            i += 1;
            continue;
        }
        if !after_separator && is_option(token) {
            if SHELL_OPTIONS_WITH_VALUE.contains(&option_flag(token).as_str()) {
                i += if token.contains('=') { 1 } else { 2 };
            } else {
                i += posix_option_width(token);
            }
            continue;
        }
        return Some(i);
    }
    None
}

/// The first operand after options (`options_with_value` take the next token); with
/// `must_exist`, only when it names an existing file.
fn first_operand_index(
    argv: &[String],
    start: usize,
    options_with_value: &[&str],
    must_exist: Option<&Path>,
) -> Option<usize> {
    let accept = |i: usize, token: &str| match must_exist {
        Some(cwd) => is_existing_file(token, cwd).then_some(i),
        None => Some(i),
    };
    let mut after_separator = false;
    let mut i = start;
    while i < argv.len() {
        let token = argv[i].trim();
        if token.is_empty() {
            i += 1;
            continue;
        }
        if after_separator {
            return accept(i, token);
        }
        if token == "--" {
            after_separator = true;
            i += 1;
            continue;
        }
        if token == "-" {
            return None;
        }
        if token.starts_with('-') {
            i += if !token.contains('=') && options_with_value.contains(&token) { 2 } else { 1 };
            continue;
        }
        return accept(i, token);
    }
    None
}

/// A generic interpreter's script: the one operand naming an existing file; `None` when
/// there are several, none, or a file-loading option (node `--require x.js`) names one.
fn generic_script_index(argv: &[String], cwd: &Path, file_options: &[&str]) -> Option<usize> {
    let mut after_separator = false;
    let mut hits = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let token = argv[i].trim();
        if token.is_empty() {
            i += 1;
            continue;
        }
        if after_separator {
            if is_existing_file(token, cwd) {
                hits.push(i);
            }
        } else if token == "--" {
            after_separator = true;
        } else if token == "-" {
            return None;
        } else if token.starts_with('-') {
            let (name, inline) = split_option(token);
            if file_options.contains(&name.trim().to_lowercase().as_str()) {
                let inline = inline.filter(|v| !v.is_empty());
                if inline.is_some_and(|v| is_existing_file(v, cwd)) {
                    return None;
                }
                let next = trimmed(argv, i + 1);
                if inline.is_none() && !next.is_empty() && is_existing_file(next, cwd) {
                    return None;
                }
            }
        } else if is_existing_file(token, cwd) {
            hits.push(i);
        }
        i += 1;
    }
    (hits.len() == 1).then(|| hits[0])
}

fn bun_script_index(argv: &[String], cwd: &Path) -> Option<usize> {
    let direct = first_operand_index(argv, 1, BUN_OPTIONS_WITH_VALUE, None)?;
    let token = trimmed(argv, direct);
    if token == "run" {
        return first_operand_index(argv, direct + 1, BUN_OPTIONS_WITH_VALUE, Some(cwd));
    }
    (!BUN_SUBCOMMANDS.contains(&token) && looks_like_path(token)).then_some(direct)
}

fn deno_script_index(argv: &[String], cwd: &Path) -> Option<usize> {
    if trimmed(argv, 1) != "run" {
        return None;
    }
    first_operand_index(argv, 2, DENO_RUN_OPTIONS_WITH_VALUE, Some(cwd))
}

/// A writable executable run by path (`./tool`, `/home/u/bin/tool`): index of argv[0].
fn direct_executable_index(argv: &[String], cwd: &Path) -> Option<usize> {
    let unwrapped = unwrap_for_operand(argv);
    let executable = trimmed(&unwrapped.argv, 0);
    if PACKAGE_MANAGERS.contains(&normalize_executable_token(executable).as_str())
        || !is_explicit_path(executable)
        || !is_existing_file(executable, cwd)
    {
        return None;
    }
    path_looks_mutable(&resolve_lexically(cwd, executable)).then(|| offset(unwrapped.base_index, 0)).flatten()
}

/// Which argv entry is the file the command runs (`resolveMutableFileOperandIndex`): a
/// shell's script, an interpreter's script (node/perl/php/python/ruby take argv\[1\]; bun,
/// deno, tsx and other runners their one existing file operand), or a writable executable.
pub fn mutable_operand_index(argv: &[String], cwd: &Path) -> Option<usize> {
    let unwrapped = unwrap_for_operand(argv);
    let executable = normalize_executable_token(unwrapped.argv.first().map(String::as_str).unwrap_or_default());
    let exe = executable.as_str();
    if exe.is_empty() || unwrapped.opaque_multiplexer || OPAQUE_SCRIPT_RUNNERS.contains(&exe) {
        return None;
    }
    let base = unwrapped.base_index;
    let inner = &unwrapped.argv;
    if POSIX_SHELLS.contains(&exe) {
        if !PARSEABLE_SHELLS.contains(&exe) {
            return None;
        }
        return shell_script_index(inner, exe).and_then(|i| offset(base, i));
    }
    if is_argv1_interpreter(exe) {
        let operand = trimmed(inner, 1);
        if !operand.is_empty() && operand != "-" && !operand.starts_with('-') {
            return offset(base, 1);
        }
    }
    if exe == "bun" {
        if let Some(i) = bun_script_index(inner, cwd) {
            return offset(base, i);
        }
    }
    if exe == "deno" {
        if let Some(i) = deno_script_index(inner, cwd) {
            return offset(base, i);
        }
    }
    if (exe == "ruby" && has_ruby_unsafe_flag(inner)) || (exe == "perl" && has_perl_unsafe_flag(inner)) {
        return None;
    }
    if !is_mutable_script_runner(exe) {
        return direct_executable_index(argv, cwd);
    }
    let file_options: &[&str] = if exe == "node" || exe == "nodejs" { NODE_OPTIONS_WITH_FILE_VALUE } else { &[] };
    generic_script_index(inner, cwd, file_options).and_then(|i| offset(base, i))
}
