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
//!
//! One file per concern: `tables` (the per-runtime option lists), `locate` (which argv entry
//! is the file), `unbindable` (the rules that refuse a binding) and `pin` (hashing the file
//! and the run-time recheck). This file keeps the refusal type and the two entry points
//! that apply the rules in upstream's order, with the rule tests that drive them; it
//! re-exports the public API, so callers name `crate::binding::mutable_operand::…` only.

mod locate;
mod pin;
mod tables;
mod unbindable;

use std::collections::BTreeMap;
use std::path::Path;

use super::argv_scan::normalize_executable_token;
use locate::{resolve_lexically, trimmed, unwrap_for_operand};

pub use locate::mutable_operand_index;
pub use pin::{
    has_mutable_symlink_component, is_likely_script, operand_unchanged, path_looks_mutable, snapshot_file,
    OperandSnapshot,
};
pub use unbindable::{
    has_dispatch_cwd_option, has_perl_unsafe_flag, has_ruby_unsafe_flag, has_shell_code_loading_option,
    has_shell_startup_environment, has_unbindable_runtime_option, pnpm_dlx_needs_fail_closed, requires_stable_binding,
    shell_payload_needs_stable_binding,
};

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

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

    /// Rule (`resolveMutableFileOperandSnapshot`): a shell running a script is bound to the
    /// script's path and sha256.
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

    /// Rule (`resolveMutableFileOperandSnapshot`): interpreter inline eval has no file to pin
    /// and cannot be approved as a plan.
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

    /// Rule (`resolveMutableFileOperandSnapshot`): a shell payload binds only as one simple
    /// command; `| ; && < > &` make it unbindable.
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
