//! The rules that refuse a binding outright: options that change directory or load code
//! (`env -C`, shell startup files and `BASH_ENV`, bun/deno/php, perl/ruby flags), shell
//! payloads that are more than one fixed command, and `pnpm dlx` forms that cannot be read.
//!
//! Apart from locating the operand because each is a reason an approval would approve
//! whatever those inputs become later; each is a function named after its rule so the tests
//! can name the rule they check.

use std::collections::BTreeMap;
use std::path::Path;

use super::super::argv_scan::{
    normalize_executable_token, normalize_package_manager_token, option_flag, split_option, split_shell_args,
    PNPM_CASE_SENSITIVE_OPTIONS_WITH_VALUE, PNPM_DLX_OPTIONS_WITH_VALUE, PNPM_FLAG_OPTIONS, PNPM_OPTIONS_WITH_VALUE,
    POSIX_SHELLS,
};
use super::locate::{
    is_existing_file, is_explicit_path, is_mutable_script_runner, resolve_lexically, trimmed, unwrap_for_operand,
};
use super::tables::*;
use super::{is_likely_script, mutable_operand_index, path_looks_mutable};

/// Rule: `env -C dir` / `env --chdir=dir` changes the directory the plan pinned.
pub fn has_dispatch_cwd_option(argv: &[String]) -> bool {
    if normalize_executable_token(argv.first().map(String::as_str).unwrap_or_default()) != "env" {
        return false;
    }
    for token in &argv[1..] {
        let lower = token.trim().to_lowercase();
        if lower == "-c" || lower.starts_with("-c=") || lower == "--chdir" || lower.starts_with("--chdir=") {
            return true;
        }
        if !lower.starts_with('-') && !lower.contains('=') {
            return false;
        }
    }
    false
}

/// Rule: a shell that reads startup files or stdin (`--rcfile`, `--init-file`, `-s`,
/// `--stdin`, `-i`, `--interactive`) runs code besides its script.
pub fn has_shell_code_loading_option(argv: &[String], executable: &str) -> bool {
    if !POSIX_SHELLS.contains(&executable) {
        return false;
    }
    for token in argv.iter().skip(1) {
        if token == "--" {
            return false;
        }
        if SHELL_CODE_LOADING_OPTIONS.contains(&option_flag(token).as_str()) || token == "-s" || token == "--stdin" {
            return true;
        }
        let interactive_cluster =
            token.strip_prefix('-').is_some_and(|rest| rest.split('-').next().is_some_and(|head| head.contains('i')));
        if token == "--interactive" || token == "-i" || (interactive_cluster && !token.contains('=')) {
            return true;
        }
    }
    false
}

/// Rule: `BASH_ENV`/`ENV` (in the node's environment or as an argv assignment) make a shell
/// source a file before its command.
pub fn has_shell_startup_environment(argv: &[String], executable: &str, node_env: &BTreeMap<String, String>) -> bool {
    if !POSIX_SHELLS.contains(&executable) {
        return false;
    }
    let set = |key: &str| node_env.get(key).is_some_and(|v| !v.trim().is_empty());
    set("BASH_ENV")
        || set("ENV")
        || argv.iter().any(|t| {
            let t = t.trim();
            t.starts_with("BASH_ENV=") || t.starts_with("ENV=")
        })
}

/// Rule: bun (`--preload`, `--cwd`, `-r`, …), deno (`--config`, `--import-map`, …) and php
/// (`-c`, `-d`, `--php-ini`) options that load code or configuration or change directory.
pub fn has_unbindable_runtime_option(argv: &[String], executable: &str) -> bool {
    let listed = |options: &[&str]| argv.iter().skip(1).any(|t| options.contains(&option_flag(t).as_str()));
    match executable {
        "bun" => listed(BUN_UNBINDABLE_OPTIONS),
        "deno" => listed(DENO_UNBINDABLE_OPTIONS),
        "php" => argv.iter().skip(1).any(|t| {
            let lower = t.trim().to_lowercase();
            lower == "-c"
                || lower.starts_with("-c=")
                || lower == "--php-ini"
                || lower.starts_with("--php-ini=")
                || lower.starts_with("-d")
        }),
        _ => false,
    }
}

/// Rule: perl `-I`, `-M`, `-m`, `-S` (anywhere before `--`) load modules or search PATH.
pub fn has_perl_unsafe_flag(argv: &[String]) -> bool {
    let mut after_separator = false;
    for token in argv.iter().skip(1).map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if after_separator {
            return false;
        }
        if token == "--" {
            after_separator = true;
            continue;
        }
        if token == "-S" || ["-I", "-M", "-m"].iter().any(|f| token.starts_with(f)) {
            return true;
        }
    }
    false
}

/// Rule: ruby `-C`, `-I`, `-r`, `-S`, `--chdir`, `--require` (anywhere before `--`) change
/// directory, load code or search PATH.
pub fn has_ruby_unsafe_flag(argv: &[String]) -> bool {
    let mut after_separator = false;
    for token in argv.iter().skip(1).map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if after_separator {
            return false;
        }
        if token == "--" {
            after_separator = true;
            continue;
        }
        if token == "-S"
            || token == "--chdir"
            || ["-C", "-I", "-r", "--chdir=", "--require="].iter().any(|f| token.starts_with(f))
            || ["-r", "--require"].contains(&token.to_lowercase().as_str())
        {
            return true;
        }
    }
    false
}

/// Rule: a shell payload is bindable only when it is one simple command whose program is
/// fixed: no `;`, `&`, `|`, `<`, `>` anywhere, no script or interpreter operand, no `.` or
/// `source`, and no relative, writable or script-like program path.
pub fn shell_payload_needs_stable_binding(payload: &str, cwd: &Path) -> bool {
    if payload.contains([';', '&', '|', '<', '>']) {
        return true;
    }
    let Some(argv) = split_shell_args(payload).filter(|a| !a.is_empty()) else { return false };
    if mutable_operand_index(&argv, cwd).is_some() || requires_stable_binding(&argv, cwd, None) {
        return true;
    }
    let first = trimmed(&argv, 0);
    if first == "." || first == "source" {
        return true;
    }
    if !is_existing_file(first, cwd) {
        return false;
    }
    if !first.starts_with('/') {
        return true;
    }
    let resolved = resolve_lexically(cwd, first);
    path_looks_mutable(&resolved) || is_likely_script(&resolved)
}

/// Rule: commands with no bindable operand that still cannot be approved as text: an opaque
/// multiplexer, a shell payload that needs a binding, `pnpm dlx` forms upstream cannot read,
/// a path that does not exist, or any interpreter/script runner (its program is inline or
/// not a single file).
pub fn requires_stable_binding(argv: &[String], cwd: &Path, shell_payload: Option<&str>) -> bool {
    let unwrapped = unwrap_for_operand(argv);
    if unwrapped.opaque_multiplexer {
        return true;
    }
    if let Some(payload) = shell_payload {
        return shell_payload_needs_stable_binding(payload, cwd);
    }
    if pnpm_dlx_needs_fail_closed(argv, cwd) {
        return true;
    }
    let direct = trimmed(&unwrapped.argv, 0);
    if is_explicit_path(direct) && !is_existing_file(direct, cwd) {
        return true;
    }
    let executable = normalize_executable_token(unwrapped.argv.first().map(String::as_str).unwrap_or_default());
    !executable.is_empty() && !POSIX_SHELLS.contains(&executable.as_str()) && is_mutable_script_runner(&executable)
}

/// How a pnpm option token advances the scan: by 1 or 2 tokens, or `None` when unknown.
fn pnpm_option_width(token: &str) -> Option<usize> {
    let name = split_option(token).0;
    let flag = name.trim().to_lowercase();
    let value_width = if token.contains('=') { 1 } else { 2 };
    if PNPM_OPTIONS_WITH_VALUE.contains(&flag.as_str())
        || PNPM_DLX_OPTIONS_WITH_VALUE.contains(&flag.as_str())
        || PNPM_CASE_SENSITIVE_OPTIONS_WITH_VALUE.contains(&name)
    {
        Some(value_width)
    } else if PNPM_FLAG_OPTIONS.contains(&flag.as_str()) {
        Some(1)
    } else {
        None
    }
}

/// Rule: `pnpm … dlx …` with options pnpm's grammar here does not know, or whose package
/// command runs a file, cannot be bound.
pub fn pnpm_dlx_needs_fail_closed(argv: &[String], cwd: &Path) -> bool {
    if normalize_package_manager_token(argv.first().map(String::as_str).unwrap_or_default()) != "pnpm" {
        return false;
    }
    let mut idx = 1;
    while idx < argv.len() {
        let token = argv[idx].trim();
        if token.is_empty() || token == "--" {
            idx += 1;
            continue;
        }
        if !token.starts_with('-') {
            return token == "dlx" && pnpm_dlx_tail_needs_fail_closed(&argv[idx + 1..], cwd);
        }
        match pnpm_option_width(token) {
            Some(width) => idx += width,
            None => return true,
        }
    }
    false
}

fn pnpm_dlx_tail_needs_fail_closed(tail: &[String], cwd: &Path) -> bool {
    let mut idx = 0;
    while idx < tail.len() {
        let token = tail[idx].trim();
        if token.is_empty() {
            idx += 1;
            continue;
        }
        if token == "--" {
            return mutable_operand_index(&tail[idx + 1..], cwd).is_some();
        }
        if !token.starts_with('-') {
            return mutable_operand_index(&tail[idx..], cwd).is_some();
        }
        let flag = option_flag(token);
        if flag == "-c" || flag == "--shell-mode" {
            return false;
        }
        match pnpm_option_width(token) {
            Some(width) => idx += width,
            None => return true,
        }
    }
    true
}
