//! Which file an approval must be bound to, and which commands cannot be bound at all
//! (`exec.md` §6.1, §5.4 C1).
//!
//! An approval is given for a command as the plan shows it. When what runs depends on a file
//! the user could change after approval (an interpreter's script, a shell script, a writable
//! executable run by path), the plan pins that one file by real path and SHA-256, and the run
//! re-checks it. When what runs depends on something one file hash cannot pin (a shell
//! payload with `;`, `|`, `&`, `<` or `>`, inline code passed to an interpreter, options that
//! load more code or change directory, a startup file), the approval is refused up front:
//! approving it would approve whatever those inputs become later.
//!
//! The rules, their order and every refusal message are upstream's
//! (`resolveMutableFileOperandSnapshotSync`); each rule is a function named after it so the
//! unit tests can name the rule they check.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::argv_scan::{
    is_interpreter_like, normalize_executable_token, normalize_package_manager_token, option_flag,
    posix_inline_command_index, posix_option_width, split_option, split_shell_args, unwrap_dispatch,
    unwrap_package_manager_exec, unwrap_shell_multiplexer, Unwrap, PARSEABLE_SHELLS,
    PNPM_CASE_SENSITIVE_OPTIONS_WITH_VALUE, PNPM_DLX_OPTIONS_WITH_VALUE, PNPM_FLAG_OPTIONS, PNPM_OPTIONS_WITH_VALUE,
    POSIX_SHELLS,
};

/// The script operand an approval is bound to: `{argvIndex, path, sha256}` in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperandSnapshot {
    /// Which argv entry names the file.
    pub argv_index: usize,
    /// Its real path.
    pub path: PathBuf,
    /// SHA-256 of its contents, lower-case hex.
    pub sha256: String,
}

impl OperandSnapshot {
    /// The plan's `mutableFileOperand` object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"argvIndex": self.argv_index, "path": self.path.to_string_lossy(), "sha256": self.sha256})
    }
}

/// Why an approval cannot be bound to this command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingRefused {
    /// `env -C dir` / `env --chdir`: the directory the command runs in is not the plan's cwd.
    #[error("SYSTEM_RUN_DENIED: approval cannot safely bind dispatch cwd options")]
    DispatchCwdOption,
    /// A shell reading startup files (`--rcfile`, `-i`, `-s`, …).
    #[error("SYSTEM_RUN_DENIED: approval cannot safely bind shell startup files")]
    ShellStartupFiles,
    /// `BASH_ENV`/`ENV` in the node's environment or the argv make a shell load a file first.
    #[error("SYSTEM_RUN_DENIED: approval cannot safely bind shell startup environment")]
    ShellStartupEnvironment,
    /// bun/deno/php options that load more code or change directory.
    #[error("SYSTEM_RUN_DENIED: approval cannot safely bind runtime code-loading or cwd options")]
    RuntimeCodeLoading,
    /// An interpreter or runtime whose program is not one file (inline eval, `|` in a shell
    /// payload, a missing path, …). The prepare reply adds upstream's guidance to this one.
    #[error("SYSTEM_RUN_DENIED: approval cannot safely bind this interpreter/runtime command")]
    UnsupportedShape,
    /// The operand is blank.
    #[error("SYSTEM_RUN_DENIED: approval requires a stable script operand")]
    StableOperand,
    /// The operand does not exist.
    #[error("SYSTEM_RUN_DENIED: approval requires an existing script operand")]
    ExistingOperand,
    /// The operand is not a regular file.
    #[error("SYSTEM_RUN_DENIED: approval requires a file script operand")]
    FileOperand,
    /// The operand cannot be read.
    #[error("SYSTEM_RUN_DENIED: approval requires a readable script operand")]
    ReadableOperand,
}

/// The guidance upstream's prepare reply appends to [`BindingRefused::UnsupportedShape`].
pub const UNSUPPORTED_SHAPE_GUIDANCE: &str = "No approval request was created for this attempt; this is not a user denial. Retry a supported single executable with an absolute path through the normal approval flow. This node approval path cannot bind script/interpreter payloads nested in its shell wrapper.";

const PACKAGE_MANAGERS: &[&str] = &["corepack", "npm", "npx", "pnpm", "yarn"];
const GENERIC_SCRIPT_RUNNERS: &[&str] = &["esno", "jiti", "ts-node", "ts-node-esm", "tsx", "vite-node"];
const OPAQUE_SCRIPT_RUNNERS: &[&str] = &["busybox", "toybox"];
const SHELLS_WITH_PLUS_OPTIONS: &[&str] = &["ash", "bash", "dash", "ksh", "mksh", "osh", "sh", "yash", "zsh"];
const SHELL_OPTIONS_WITH_VALUE: &[&str] = &["--init-file", "--rcfile", "--startup-script", "-O", "-o", "+O", "+o"];
const SHELL_CODE_LOADING_OPTIONS: &[&str] = &["--init-file", "--rcfile", "--startup-script"];
const BUN_SUBCOMMANDS: &[&str] = &[
    "add",
    "audit",
    "completions",
    "create",
    "exec",
    "help",
    "init",
    "install",
    "link",
    "outdated",
    "patch",
    "pm",
    "publish",
    "remove",
    "repl",
    "run",
    "test",
    "unlink",
    "update",
    "upgrade",
    "x",
];
const BUN_OPTIONS_WITH_VALUE: &[&str] = &[
    "--backend",
    "--bunfig",
    "--conditions",
    "--config",
    "--console-depth",
    "--cwd",
    "--define",
    "--elide-lines",
    "--env-file",
    "--extension-order",
    "--filter",
    "--hot",
    "--inspect",
    "--inspect-brk",
    "--inspect-wait",
    "--install",
    "--jsx-factory",
    "--jsx-fragment",
    "--jsx-import-source",
    "--loader",
    "--origin",
    "--port",
    "--preload",
    "--smol",
    "--tsconfig-override",
    "-c",
    "-e",
    "-p",
    "-r",
];
const BUN_UNBINDABLE_OPTIONS: &[&str] =
    &["--bunfig", "--config", "--cwd", "--env-file", "--loader", "--preload", "--tsconfig-override", "-r"];
const DENO_RUN_OPTIONS_WITH_VALUE: &[&str] = &[
    "--cached-only",
    "--cert",
    "--config",
    "--env-file",
    "--ext",
    "--harmony-import-attributes",
    "--import-map",
    "--inspect",
    "--inspect-brk",
    "--inspect-wait",
    "--location",
    "--log-level",
    "--lock",
    "--node-modules-dir",
    "--no-check",
    "--preload",
    "--reload",
    "--seed",
    "--strace-ops",
    "--unstable-bare-node-builtins",
    "--v8-flags",
    "--watch",
    "--watch-exclude",
    "-L",
];
const DENO_UNBINDABLE_OPTIONS: &[&str] =
    &["--config", "--env-file", "--import-map", "--lock", "--node-modules-dir", "--preload"];
const NODE_OPTIONS_WITH_FILE_VALUE: &[&str] =
    &["--env-file", "--env-file-if-exists", "-r", "--experimental-loader", "--import", "--loader", "--require"];

fn trimmed(argv: &[String], index: usize) -> &str {
    argv.get(index).map(|a| a.trim()).unwrap_or_default()
}

/// `path.resolve(cwd, p)`: `p` against `cwd`, `.` and `..` removed lexically.
fn resolve_lexically(cwd: &Path, p: &str) -> PathBuf {
    let joined = cwd.join(p);
    let mut out = PathBuf::from("/");
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(c) => out.push(c),
            _ => {}
        }
    }
    out
}

fn is_existing_file(raw: &str, cwd: &Path) -> bool {
    !raw.is_empty() && std::fs::metadata(resolve_lexically(cwd, raw)).is_ok_and(|m| m.is_file())
}

/// `./x`, `/x`, `a/b`: a token that names a path, not a command looked up on PATH.
fn is_explicit_path(token: &str) -> bool {
    token.starts_with('.') || token.starts_with('/') || token.starts_with('\\') || token.contains(['/', '\\'])
}

/// An explicit path, or a name with an extension (`tool.ts`).
fn looks_like_path(token: &str) -> bool {
    is_explicit_path(token) || token.char_indices().any(|(i, c)| c == '.' && i > 0)
}

/// argv with dispatch wrappers, shell multiplexers and package-manager exec forms removed,
/// the index its argv[0] had in the original, and whether busybox/toybox was looked through.
struct Unwrapped {
    argv: Vec<String>,
    base_index: isize,
    opaque_multiplexer: bool,
}

fn unwrap_for_operand(argv: &[String]) -> Unwrapped {
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

fn offset(base: isize, index: usize) -> Option<usize> {
    usize::try_from(base + index as isize).ok()
}

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

fn is_mutable_script_runner(executable: &str) -> bool {
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
/// shell's script, an interpreter's script (node/perl/php/python/ruby take argv[1]; bun,
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

/// The binding target of a command (`resolveSystemRunMutableFileOperandTarget`): the argv
/// index of the file to pin, `None` when there is nothing to pin, or why it cannot be bound.
/// `node_env` is the node's own environment (for `BASH_ENV`/`ENV`).
pub fn operand_target(
    argv: &[String],
    cwd: &Path,
    shell_payload: Option<&str>,
    node_env: &BTreeMap<String, String>,
) -> Result<Option<usize>, BindingRefused> {
    if has_dispatch_cwd_option(argv) {
        return Err(BindingRefused::DispatchCwdOption);
    }
    let unwrapped = unwrap_for_operand(argv);
    let executable = normalize_executable_token(unwrapped.argv.first().map(String::as_str).unwrap_or_default());
    if has_shell_code_loading_option(&unwrapped.argv, &executable) {
        return Err(BindingRefused::ShellStartupFiles);
    }
    if has_shell_startup_environment(argv, &executable, node_env) {
        return Err(BindingRefused::ShellStartupEnvironment);
    }
    if has_unbindable_runtime_option(&unwrapped.argv, &executable) {
        return Err(BindingRefused::RuntimeCodeLoading);
    }
    match mutable_operand_index(argv, cwd) {
        None if requires_stable_binding(argv, cwd, shell_payload) => Err(BindingRefused::UnsupportedShape),
        None => Ok(None),
        Some(i) if trimmed(argv, i).is_empty() => Err(BindingRefused::StableOperand),
        Some(i) => Ok(Some(i)),
    }
}

/// The snapshot of the file a command's approval must be bound to
/// (`resolveMutableFileOperandSnapshotSync`), `None` when nothing needs pinning.
pub fn operand_snapshot(
    argv: &[String],
    cwd: &Path,
    shell_payload: Option<&str>,
    node_env: &BTreeMap<String, String>,
) -> Result<Option<OperandSnapshot>, BindingRefused> {
    let Some(index) = operand_target(argv, cwd, shell_payload, node_env)? else { return Ok(None) };
    let operand = trimmed(argv, index);
    if operand.is_empty() {
        return Err(BindingRefused::StableOperand);
    }
    snapshot_file(index, &resolve_lexically(cwd, operand)).map(Some)
}

/// Pins a file by real path and content hash.
pub fn snapshot_file(argv_index: usize, path: &Path) -> Result<OperandSnapshot, BindingRefused> {
    let real = std::fs::canonicalize(path).map_err(|_| BindingRefused::ExistingOperand)?;
    let meta = std::fs::metadata(&real).map_err(|_| BindingRefused::ExistingOperand)?;
    if !meta.is_file() {
        return Err(BindingRefused::FileOperand);
    }
    let sha256 = super::file_sha256(&real).ok_or(BindingRefused::ReadableOperand)?;
    Ok(OperandSnapshot { argv_index, path: real, sha256 })
}

/// The run-time recheck (`revalidateApprovedMutableFileOperand`): the argv entry the plan
/// named must still resolve, from the run's cwd, to the pinned real path with the pinned hash.
pub fn operand_unchanged(snapshot: &OperandSnapshot, argv: &[String], cwd: &Path) -> bool {
    let operand = trimmed(argv, snapshot.argv_index);
    if operand.is_empty() {
        return false;
    }
    let Ok(real) = std::fs::canonicalize(resolve_lexically(cwd, operand)) else { return false };
    real == snapshot.path && super::file_sha256(&real).as_deref() == Some(snapshot.sha256.as_str())
}

/// Whether the current user could change `path` (write access, or ownership).
fn is_mutable(path: &Path) -> bool {
    if nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_ok() {
        return true;
    }
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).is_ok_and(|m| m.uid() == nix::unistd::getuid().as_raw())
}

/// A symlink on the way to `path` that sits in a directory the user can change (or a
/// component that cannot be inspected).
pub fn has_mutable_symlink_component(path: &Path) -> bool {
    let mut cursor = PathBuf::from("/");
    let mut components = vec![cursor.clone()];
    for component in path.components() {
        if let Component::Normal(c) = component {
            cursor.push(c);
            components.push(cursor.clone());
        }
    }
    components.iter().any(|component| match std::fs::symlink_metadata(component) {
        Ok(m) => m.file_type().is_symlink() && component.parent().is_some_and(is_mutable),
        Err(_) => true,
    })
}

/// Rule: a path the user could swap: writable itself, in a writable directory, or reached
/// through a symlink in one (before or after resolving it).
pub fn path_looks_mutable(path: &Path) -> bool {
    let dir_mutable = |p: &Path| p.parent().is_some_and(is_mutable);
    if is_mutable(path) || dir_mutable(path) || has_mutable_symlink_component(path) {
        return true;
    }
    let Ok(real) = std::fs::canonicalize(path) else { return true };
    is_mutable(&real) || dir_mutable(&real) || has_mutable_symlink_component(&real)
}

const BINARY_MAGICS: &[u32] = &[
    0x7F45_4C46,
    0xFEED_FACE,
    0xCEFA_EDFE,
    0xFEED_FACF,
    0xCFFA_EDFE,
    0xCAFE_BABE,
    0xBEBA_FECA,
    0xCAFE_BABF,
    0xBFBA_FECA,
];

/// Rule: anything but a known binary executable (ELF, Mach-O, PE) counts as a script: a
/// shebang, text, an empty or unreadable file.
pub fn is_likely_script(path: &Path) -> bool {
    use std::io::Read;
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return true;
    }
    let mut header = Vec::with_capacity(1024);
    let Ok(file) = std::fs::File::open(path) else { return true };
    if file.take(1024).read_to_end(&mut header).is_err() {
        return true;
    }
    if header.is_empty() || header.starts_with(b"#!") {
        return true;
    }
    let be32 = |at: usize| header.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if be32(0).is_some_and(|m| BINARY_MAGICS.contains(&m)) {
        return false;
    }
    if header.len() < 64 || header[0..2] != *b"MZ" {
        return true;
    }
    let pe = u32::from_le_bytes([header[60], header[61], header[62], header[63]]) as usize;
    !(pe <= header.len() - 4 && be32(pe) == Some(0x5045_0000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    /// A scratch directory with a script, a module and a text file.
    fn scratch() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        for name in ["run.sh", "tool.py", "app.js", "lib.js", "mod.ts", "data.txt"] {
            std::fs::write(dir.path().join(name), format!("# {name}\n")).unwrap();
        }
        let cwd = std::fs::canonicalize(dir.path()).unwrap();
        (dir, cwd)
    }

    fn target(argv: &[&str], cwd: &Path, payload: Option<&str>) -> Result<Option<usize>, BindingRefused> {
        operand_target(&v(argv), cwd, payload, &BTreeMap::new())
    }

    #[test]
    fn rule_shell_script_is_bound_by_hash() {
        let (_d, cwd) = scratch();
        let snap = operand_snapshot(&v(&["/bin/sh", "run.sh"]), &cwd, None, &BTreeMap::new()).unwrap().unwrap();
        assert_eq!(snap.argv_index, 1);
        assert_eq!(snap.path, cwd.join("run.sh"));
        assert_eq!(Some(snap.sha256.clone()), super::super::file_sha256(&cwd.join("run.sh")));
        assert_eq!(target(&["bash", "-e", "-o", "pipefail", "run.sh", "x"], &cwd, None), Ok(Some(4)));
        assert_eq!(target(&["bash", "--", "run.sh"], &cwd, None), Ok(Some(2)));
        assert_eq!(target(&["nice", "-n", "5", "sh", "run.sh"], &cwd, None), Ok(Some(4)), "behind a dispatch wrapper");
        assert_eq!(
            operand_snapshot(&v(&["sh", "missing.sh"]), &cwd, None, &BTreeMap::new()),
            Err(BindingRefused::ExistingOperand)
        );
        assert_eq!(
            operand_snapshot(&v(&["sh", "."]), &cwd, None, &BTreeMap::new()),
            Err(BindingRefused::FileOperand),
            "a directory is no script"
        );
        assert_eq!(target(&["csh", "run.sh"], &cwd, None), Ok(None), "opaque shells have no parseable operand");
    }

    #[test]
    fn rule_interpreter_script_operands() {
        let (_d, cwd) = scratch();
        assert_eq!(target(&["python3", "tool.py", "a"], &cwd, None), Ok(Some(1)), "argv[1] interpreters");
        assert_eq!(target(&["/usr/bin/python3.12", "tool.py"], &cwd, None), Ok(Some(1)));
        assert_eq!(target(&["node", "--", "app.js"], &cwd, None), Ok(Some(2)), "generic: the one existing file");
        assert_eq!(target(&["python3", "-u", "tool.py"], &cwd, None), Ok(Some(2)));
        assert_eq!(target(&["tsx", "mod.ts"], &cwd, None), Ok(Some(1)), "script runners");
        assert_eq!(target(&["npx", "tsx", "mod.ts"], &cwd, None), Ok(Some(2)), "package-manager exec forms");
        assert_eq!(target(&["deno", "run", "--allow-read", "mod.ts"], &cwd, None), Ok(Some(3)));
        assert_eq!(target(&["bun", "run", "app.js"], &cwd, None), Ok(Some(2)));
        assert_eq!(target(&["bun", "./app.js"], &cwd, None), Ok(Some(1)));
        assert_eq!(
            target(&["python3", "-u", "tool.py", "data.txt"], &cwd, None),
            Err(BindingRefused::UnsupportedShape),
            "two existing files: which one runs is not knowable"
        );
    }

    #[test]
    fn rule_interpreter_inline_eval_is_unbindable() {
        let (_d, cwd) = scratch();
        for argv in [
            &["perl", "-E", "say 1"][..],
            &["python3", "-c", "print(1)"],
            &["node", "-e", "1"],
            &["python3"],
            &["ruby", "-e", "p 1"],
            &["busybox", "sh", "run.sh"],
            &["node", "--require", "lib.js", "app.js"],
        ] {
            assert_eq!(target(argv, &cwd, None), Err(BindingRefused::UnsupportedShape), "{argv:?}");
        }
        assert_eq!(target(&["ls", "-la"], &cwd, None), Ok(None), "a plain command needs no binding");
    }

    #[test]
    fn rule_shell_payload_needs_stable_binding() {
        let (_d, cwd) = scratch();
        for payload in ["ls | wc -l", "ls; rm x", "ls && ls", "cat < data.txt", "ls > out", "sleep 1 &"] {
            assert!(shell_payload_needs_stable_binding(payload, &cwd), "{payload}");
            assert_eq!(target(&["/bin/sh", "-c", payload], &cwd, Some(payload)), Err(BindingRefused::UnsupportedShape));
        }
        for payload in ["python3 tool.py", ". ./run.sh", "source run.sh", "./run.sh", "run.sh", "node -e 1"] {
            assert!(shell_payload_needs_stable_binding(payload, &cwd), "{payload}");
        }
        assert!(!shell_payload_needs_stable_binding("ls -la", &cwd));
        assert!(!shell_payload_needs_stable_binding("echo 'a b'", &cwd));
        assert_eq!(target(&["/bin/sh", "-c", "ls -la"], &cwd, Some("ls -la")), Ok(None));
    }

    #[test]
    fn rule_dispatch_cwd_options() {
        let (_d, cwd) = scratch();
        assert_eq!(target(&["env", "-C", "/tmp", "ls"], &cwd, None), Err(BindingRefused::DispatchCwdOption));
        assert_eq!(target(&["env", "--chdir=/tmp", "ls"], &cwd, None), Err(BindingRefused::DispatchCwdOption));
        assert_eq!(target(&["env", "A=1", "ls", "-C"], &cwd, None), Ok(None), "after the command it is the command's");
    }

    #[test]
    fn rule_shell_startup_files_and_environment() {
        let (_d, cwd) = scratch();
        for argv in
            [&["bash", "--rcfile", "x", "run.sh"][..], &["bash", "-i", "run.sh"], &["sh", "-s"], &["bash", "-xi"]]
        {
            assert_eq!(target(argv, &cwd, None), Err(BindingRefused::ShellStartupFiles), "{argv:?}");
        }
        assert_eq!(
            target(&["env", "BASH_ENV=/tmp/x", "bash", "run.sh"], &cwd, None),
            Err(BindingRefused::ShellStartupEnvironment)
        );
        let env = BTreeMap::from([("ENV".to_string(), "/tmp/x".to_string())]);
        assert_eq!(
            operand_target(&v(&["sh", "run.sh"]), &cwd, None, &env),
            Err(BindingRefused::ShellStartupEnvironment)
        );
        assert_eq!(operand_target(&v(&["ls"]), &cwd, None, &env), Ok(None), "only shells read it");
    }

    #[test]
    fn rule_unbindable_runtime_options() {
        let (_d, cwd) = scratch();
        for argv in [
            &["bun", "--preload", "lib.js", "app.js"][..],
            &["bun", "--cwd=/tmp", "app.js"],
            &["deno", "run", "--import-map", "m.json", "mod.ts"],
            &["php", "-d", "x=1", "tool.php"],
            &["php", "-c", "php.ini", "tool.php"],
        ] {
            assert_eq!(target(argv, &cwd, None), Err(BindingRefused::RuntimeCodeLoading), "{argv:?}");
        }
    }

    #[test]
    fn rule_perl_and_ruby_unsafe_flags() {
        assert!(has_perl_unsafe_flag(&v(&["perl", "-Ilib", "x.pl"])));
        assert!(has_perl_unsafe_flag(&v(&["perl", "-MPOSIX", "x.pl"])));
        assert!(!has_perl_unsafe_flag(&v(&["perl", "--", "-I"])));
        assert!(has_ruby_unsafe_flag(&v(&["ruby", "-rjson", "x.rb"])));
        assert!(has_ruby_unsafe_flag(&v(&["ruby", "--chdir=/tmp", "x.rb"])));
        assert!(!has_ruby_unsafe_flag(&v(&["ruby", "-w", "x.rb"])));
        let (_d, cwd) = scratch();
        std::fs::write(cwd.join("x.rb"), "p 1").unwrap();
        assert_eq!(target(&["ruby", "x.rb"], &cwd, None), Ok(Some(1)));
        assert_eq!(target(&["ruby", "-rjson", "x.rb"], &cwd, None), Err(BindingRefused::UnsupportedShape));
    }

    #[test]
    fn rule_pnpm_dlx_fail_closed() {
        let (_d, cwd) = scratch();
        assert!(pnpm_dlx_needs_fail_closed(&v(&["pnpm", "--unknown", "dlx", "tsx"]), &cwd));
        assert!(pnpm_dlx_needs_fail_closed(&v(&["pnpm", "dlx", "tsx", "mod.ts"]), &cwd));
        assert!(!pnpm_dlx_needs_fail_closed(&v(&["pnpm", "dlx", "-c", "x"]), &cwd));
        assert!(!pnpm_dlx_needs_fail_closed(&v(&["pnpm", "install"]), &cwd));
    }

    #[test]
    fn rule_missing_explicit_path_is_unbindable() {
        let (_d, cwd) = scratch();
        assert_eq!(target(&["./nope"], &cwd, None), Err(BindingRefused::UnsupportedShape));
    }

    #[test]
    fn rule_writable_executable_by_path_and_script_detection() {
        let (_d, cwd) = scratch();
        // We own the scratch directory, so an executable in it is mutable.
        assert_eq!(target(&["./run.sh"], &cwd, None), Ok(Some(0)));
        assert!(path_looks_mutable(&cwd.join("run.sh")));
        assert!(is_likely_script(&cwd.join("run.sh")));
        let elf = cwd.join("bin");
        std::fs::write(&elf, b"\x7fELF\x02\x01\x01\0rest").unwrap();
        assert!(!is_likely_script(&elf));
    }

    #[test]
    fn rule_run_time_recheck() {
        let (_d, cwd) = scratch();
        let argv = v(&["/bin/sh", "run.sh"]);
        let snap = operand_snapshot(&argv, &cwd, None, &BTreeMap::new()).unwrap().unwrap();
        assert!(operand_unchanged(&snap, &argv, &cwd));
        assert!(!operand_unchanged(&snap, &v(&["/bin/sh", "tool.py"]), &cwd), "another file at the index");
        assert!(!operand_unchanged(&snap, &v(&["/bin/sh"]), &cwd), "no operand");
        std::fs::write(cwd.join("run.sh"), "echo changed\n").unwrap();
        assert!(!operand_unchanged(&snap, &argv, &cwd), "contents changed");
    }
}
