//! Executable identity binding (`exec.md` §5.4 step B6): before an approved, fallback,
//! allowlist or auto-reviewed run, every wrapper a segment passes through and its final
//! executable are pinned by real path (and by content hash when the current user could
//! rewrite them), so what was judged is what starts.
//!
//! It is a pure function of the segments, the cwd and the PATH (plus the filesystem it
//! reads), and the binding can be re-checked before the run ([`ExecutableBinding::revalidate`]).
//!
//! The rules are upstream's (`prepareSystemRunExecutableIdentityBinding`): a wrapper that
//! does not resolve to a file is a refusal (`caffeinate` and `sandbox-exec` on Linux, the
//! shell builtins `command`/`builtin`/`exec` given as argv); inside a shell payload, the
//! builtins `command`/`builtin` and a leading `exec` are the shell's own and are skipped. A
//! final executable that does not resolve is not bound here (the run fails or the
//! allowlist refuses it on its own).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use std::collections::HashMap;

use crate::allowlist::{self, Resolution};
use crate::wrappers;

/// Why an executable could not be bound (the messages are upstream's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// A wrapper (or a shell builtin given as argv) resolves to no executable file.
    #[error("SYSTEM_RUN_DENIED: approval requires a resolved executable")]
    Unresolved,
    /// The executable vanished or changed between resolution and binding (or before the run).
    #[error("SYSTEM_RUN_DENIED: approval script operand changed before execution")]
    Changed,
    /// A writable executable could not be found for hashing.
    #[error("SYSTEM_RUN_DENIED: approval requires an existing script operand")]
    Missing,
    /// A writable executable is not a regular file.
    #[error("SYSTEM_RUN_DENIED: approval requires a file script operand")]
    NotAFile,
    /// A writable executable could not be read for hashing.
    #[error("SYSTEM_RUN_DENIED: approval requires a readable script operand")]
    Unreadable,
}

/// One executable an approved run will start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutableIdentity {
    /// The argv it was bound for (a wrapper: just its name; the final command: its argv).
    pub argv: Vec<String>,
    /// Where it was found (before symlinks are resolved).
    pub invocation_path: PathBuf,
    /// Its real path.
    pub real_path: PathBuf,
    /// Its content hash, when the current user could modify it (or a directory on the way).
    pub sha256: Option<String>,
}

/// The executables of a run, in the order they start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutableBinding {
    /// Every bound executable.
    pub executables: Vec<ExecutableIdentity>,
}

impl ExecutableBinding {
    /// Checks that every bound executable still resolves, from `cwd` through `path`, to the
    /// same file at the same place with the same content (`exec.md` §5.4 C1: a binary swapped
    /// or shadowed on PATH between approval and run is refused).
    pub fn revalidate(&self, cwd: Option<&Path>, path: &str, home: Option<&Path>) -> Result<(), IdentityError> {
        for e in &self.executables {
            let name = e.argv.first().cloned().unwrap_or_default();
            let now = pin(&allowlist::resolve(&[name], cwd, path, home), cwd).map_err(|_| IdentityError::Changed)?;
            let Some(now) = now else { return Err(IdentityError::Changed) };
            if now.real_path != e.real_path || now.invocation_path != e.invocation_path {
                return Err(IdentityError::Changed);
            }
            if e.sha256.is_some() {
                let current = now.sha256.or_else(|| file_sha256(&now.real_path).ok());
                if current != e.sha256 {
                    return Err(IdentityError::Changed);
                }
            }
        }
        Ok(())
    }
}

/// Whether the current user may write `p` (or owns it).
fn is_mutable_by_current_user(p: &Path) -> bool {
    nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok()
        || std::fs::metadata(p).is_ok_and(|m| m.uid() == nix::unistd::getuid().as_raw())
}

/// A symlink on the way to `p` that sits in a directory the user may modify (or a
/// component that cannot be examined).
fn has_mutable_symlink_component(p: &Path) -> bool {
    let absolute = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(p) };
    absolute.ancestors().any(|component| match std::fs::symlink_metadata(component) {
        Ok(m) => m.file_type().is_symlink() && component.parent().is_some_and(is_mutable_by_current_user),
        Err(_) => true,
    })
}

/// Whether the file at `p` could be swapped or rewritten by the current user, through itself,
/// its directory or a symlink on the way (checked for the path and for its real path).
fn looks_mutable(p: &Path) -> bool {
    let writable = |p: &Path| {
        is_mutable_by_current_user(p)
            || p.parent().is_some_and(is_mutable_by_current_user)
            || has_mutable_symlink_component(p)
    };
    if writable(p) {
        return true;
    }
    match std::fs::canonicalize(p) {
        Ok(real) => writable(&real),
        Err(_) => true,
    }
}

fn file_sha256(p: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(p)?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// Where a name resolves and what it is, before it is tied to an argv.
#[derive(Debug, Clone)]
struct Pinned {
    invocation_path: PathBuf,
    real_path: PathBuf,
    sha256: Option<String>,
}

/// Pins one resolved executable (`None` when it did not resolve).
fn pin(res: &Resolution, cwd: Option<&Path>) -> Result<Option<Pinned>, IdentityError> {
    let Some(resolved) = res.resolved_real_path.as_ref().or(res.resolved_path.as_ref()) else { return Ok(None) };
    let found = res.resolved_path.clone().unwrap_or_else(|| resolved.clone());
    let invocation_path = if found.is_absolute() {
        found
    } else {
        cwd.map(Path::to_path_buf).or_else(|| std::env::current_dir().ok()).unwrap_or_default().join(found)
    };
    let real_path = std::fs::canonicalize(resolved).map_err(|_| IdentityError::Changed)?;
    let sha256 = if looks_mutable(resolved) {
        let meta = std::fs::metadata(&real_path).map_err(|_| IdentityError::Missing)?;
        if !meta.is_file() {
            return Err(IdentityError::NotAFile);
        }
        Some(file_sha256(&real_path).map_err(|_| IdentityError::Unreadable)?)
    } else {
        None
    };
    Ok(Some(Pinned { invocation_path, real_path, sha256 }))
}

/// Binds every wrapper and final executable of `segments` (each segment's argv as given).
/// `in_shell` says the segments come from a shell payload, where `command`/`builtin` (and a
/// leading `exec`) are builtins of the shell that runs them rather than programs.
///
/// Each distinct executable name is resolved and hashed once per call: a payload of 20,000
/// `true && …` segments costs one lookup, not 20,000 (the decision has a time bound).
pub fn bind_executables(
    segments: &[Vec<String>],
    in_shell: bool,
    cwd: Option<&Path>,
    path: &str,
    home: Option<&Path>,
) -> Result<ExecutableBinding, IdentityError> {
    let mut pinned: HashMap<String, Option<Pinned>> = HashMap::new();
    let mut lookup = |name: &str| -> Result<Option<Pinned>, IdentityError> {
        if let Some(hit) = pinned.get(name) {
            return Ok(hit.clone());
        }
        let res = allowlist::resolve(&[name.to_string()], cwd, path, home);
        let found = pin(&res, cwd)?;
        pinned.insert(name.to_string(), found.clone());
        Ok(found)
    };
    let mut binding = ExecutableBinding::default();
    let mut push = |argv: Vec<String>, p: Pinned| {
        let identity =
            ExecutableIdentity { argv, invocation_path: p.invocation_path, real_path: p.real_path, sha256: p.sha256 };
        if !binding.executables.contains(&identity) {
            binding.executables.push(identity);
        }
    };
    for argv in segments {
        let non_empty: Vec<String> = argv.iter().filter(|a| !a.is_empty()).cloned().collect();
        let plan = wrappers::exec_wrapper_trust_plan(&non_empty);
        let mut shell_position = in_shell;
        for invocation in &plan.invocations {
            let wrapper = invocation.wrapper.as_str();
            if shell_position && matches!(wrapper, "builtin" | "command" | "exec") {
                if wrapper == "exec" {
                    shell_position = false;
                }
                continue;
            }
            shell_position = false;
            let name = invocation.source_argv.first().cloned().unwrap_or_default();
            let found = lookup(&name)?.ok_or(IdentityError::Unresolved)?;
            push(vec![name], found);
        }
        if let Some(exe) = plan.argv.first() {
            if let Some(found) = lookup(exe)? {
                push(plan.argv.clone(), found);
            }
        }
    }
    Ok(binding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

    fn bind(segments: &[&[&str]], in_shell: bool) -> Result<ExecutableBinding, IdentityError> {
        let segments: Vec<Vec<String>> = segments.iter().map(|s| v(s)).collect();
        bind_executables(&segments, in_shell, Some(Path::new("/tmp")), PATH, None)
    }

    /// Rule (B6): every wrapper of a segment must resolve to an executable file; `caffeinate`
    /// (macOS only) and the builtins `command`/`exec` given as argv do not, so the approval
    /// cannot bind and the run is refused.
    #[test]
    fn every_wrapper_must_resolve() {
        assert_eq!(bind(&[&["caffeinate", "ls"]], false), Err(IdentityError::Unresolved));
        assert_eq!(bind(&[&["nice", "sandbox-exec", "-p", "x", "ls"]], false), Err(IdentityError::Unresolved));
        assert_eq!(
            bind(&[&["caffeinate", "ls"]], false).unwrap_err().to_string(),
            "SYSTEM_RUN_DENIED: approval requires a resolved executable"
        );
        if allowlist::resolve(&v(&["command"]), None, PATH, None).resolved_path.is_none() {
            assert_eq!(bind(&[&["command", "ls"]], false), Err(IdentityError::Unresolved));
        }
        let ok = bind(&[&["nice", "-n", "5", "ls", "-l"]], false).unwrap();
        assert_eq!(ok.executables.len(), 2, "the wrapper and the command");
        assert_eq!(ok.executables[1].argv, ["ls", "-l"]);
        assert!(ok.revalidate(Some(Path::new("/tmp")), PATH, None).is_ok());
    }

    /// Rule (B6): inside a shell payload `command`/`builtin` and a leading `exec` are the
    /// shell's builtins and are skipped; after another wrapper they are programs again.
    #[test]
    fn shell_builtin_carriers_are_skipped_in_command_position() {
        let ok = bind(&[&["command", "exec", "ls"]], true).unwrap();
        assert_eq!(ok.executables.len(), 1);
        if allowlist::resolve(&v(&["command"]), None, PATH, None).resolved_path.is_none() {
            assert_eq!(bind(&[&["nice", "command", "ls"]], true), Err(IdentityError::Unresolved));
            assert_eq!(bind(&[&["exec", "command", "ls"]], true), Err(IdentityError::Unresolved));
        }
    }

    /// Rule (B6): a final executable that does not resolve is left unbound (no refusal here).
    #[test]
    fn unresolved_final_executable_is_not_bound() {
        let ok = bind(&[&["no-such-binary-for-sure"], &["cd", "/tmp"]], true).unwrap();
        assert!(ok.executables.is_empty());
    }

    /// A bound executable that changes content afterwards fails revalidation.
    #[test]
    fn revalidation_notices_a_rewritten_executable() {
        let dir = std::env::temp_dir().join(format!("identity-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("tool");
        std::fs::write(&exe, "#!/bin/sh\necho one\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let segments = vec![vec![exe.to_string_lossy().into_owned()]];
        let binding = bind_executables(&segments, false, Some(&dir), PATH, None).unwrap();
        assert!(binding.executables[0].sha256.is_some(), "a file the user may write is hashed");
        assert!(binding.revalidate(Some(&dir), PATH, None).is_ok());
        std::fs::write(&exe, "#!/bin/sh\necho two\n").unwrap();
        assert_eq!(binding.revalidate(Some(&dir), PATH, None), Err(IdentityError::Changed));
        // A binary that shadows the bound one on PATH is a change too.
        let shadow = dir.join("shadow");
        std::fs::create_dir_all(&shadow).unwrap();
        std::fs::write(shadow.join("ls"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(shadow.join("ls"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let ls = bind_executables(&[vec!["ls".to_string()]], false, Some(&dir), PATH, None).unwrap();
        let shadowed = format!("{}:{PATH}", shadow.display());
        assert_eq!(ls.revalidate(Some(&dir), &shadowed, None), Err(IdentityError::Changed));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
