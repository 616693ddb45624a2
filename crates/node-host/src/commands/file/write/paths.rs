//! How `file.write` resolves its target, computes its write binding and creates missing
//! parents (upstream's `handleFileWrite` and `file-write-path.ts`; `file.write` in
//! `../shared/spec/node-commands.md` A3–A8): Node's `path.posix` arithmetic, fs-safe's
//! `resolveAbsolutePathForWrite` (a forward `lstat` walk that refuses any symlink) and
//! `canonicalPathFromExistingAncestor`, the write binding (`captureWriteBinding`), and Node's
//! recursive `mkdir`.
//!
//! Errors upstream throws from here reach the caller as `INVALID_REQUEST` with `String(err)`;
//! they are returned as [`Thrown`] holding that text.

use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use nix::libc;
use openclaw_exec::node_errno;
use serde_json::{json, Map, Value};

use super::super::{posix_normalize, FsFailure, Identity};

/// An error upstream throws: its `String(err)` (`Error: …`, `FsSafeError: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thrown(pub String);

impl Thrown {
    /// `String(err)` of Node's error for `syscall` on `path`.
    pub fn os(error: std::io::Error, syscall: &'static str, path: &str) -> Self {
        Thrown(FsFailure::os(error, syscall, path).to_string())
    }
}

/// Node's `err.message` of an fs error (`ENOENT: no such file or directory, mkdir '/x'`).
pub fn node_message(error: &std::io::Error, syscall: &str, path: &str) -> String {
    node_errno::fs_error_text(error, syscall, Path::new(path))
}

/// fs-safe's `formatErrorDetail`: control characters (C0, DEL, C1) and the two Unicode line
/// separators as `\uXXXX`, as fs-safe sanitises the errors of its path walk.
pub fn escape_detail(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let n = c as u32;
        if n < 0x20 || (0x7f..=0x9f).contains(&n) || n == 0x2028 || n == 0x2029 {
            out.push_str(&format!("\\u{n:04x}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// Node's `path.posix.dirname`.
pub fn dirname(path: &str) -> &str {
    let bytes = path.as_bytes();
    if bytes.is_empty() {
        return ".";
    }
    let has_root = bytes[0] == b'/';
    let mut end = None;
    let mut matched_slash = true;
    for i in (1..bytes.len()).rev() {
        if bytes[i] == b'/' {
            if !matched_slash {
                end = Some(i);
                break;
            }
        } else {
            matched_slash = false;
        }
    }
    match end {
        None if has_root => "/",
        None => ".",
        Some(1) if has_root => "//",
        Some(e) => &path[..e],
    }
}

/// Node's `path.posix.basename` (without an extension argument).
pub fn basename(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

/// Node's `path.resolve` of an absolute path: normalised, without a trailing `/`.
pub fn resolve(path: &str) -> String {
    let normalized = posix_normalize(path);
    match normalized.strip_suffix('/') {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => normalized,
    }
}

fn segments(resolved: &str) -> Vec<&str> {
    resolved.split('/').filter(|s| !s.is_empty()).collect()
}

/// Node's `path.posix.relative` between two absolute paths.
pub fn relative(from: &str, to: &str) -> String {
    let (from, to) = (resolve(from), resolve(to));
    let (f, t) = (segments(&from), segments(&to));
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; f.len() - common];
    parts.extend_from_slice(&t[common..]);
    parts.join("/")
}

/// Node's `path.posix.join` of an absolute base and a relative suffix.
pub fn join(base: &str, rest: &str) -> String {
    posix_normalize(&format!("{base}/{rest}"))
}

/// Why [`resolve_for_write`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveFailure {
    /// fs-safe's `symlink` error, with the canonical path it carries (its `cause`), if any.
    Symlink(Option<String>),
    /// Anything else, which upstream rethrows.
    Thrown(Thrown),
}

/// What `resolveAbsolutePathForWrite` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteTarget {
    /// The normalised path (a trailing `/` kept).
    pub path: String,
    /// `dirname` of it.
    pub parent_dir: String,
    /// Whether `stat` of the parent succeeded (a file counts).
    pub parent_exists: bool,
}

fn is_not_found(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR))
}

/// `resolveAbsolutePathForWrite(path, {symlinks})` for an absolute path without NUL.
pub fn resolve_for_write(path: &str, follow: bool) -> Result<WriteTarget, ResolveFailure> {
    let normalized = posix_normalize(path);
    let parent_dir = dirname(&normalized).to_string();
    let parent_exists = std::fs::metadata(&parent_dir).is_ok();
    if !follow {
        walk_refusing_symlinks(&normalized)?;
    }
    let canonical = canonical_from_existing_ancestor(&normalized).map_err(ResolveFailure::Thrown)?;
    if !follow && canonical != normalized {
        return Err(ResolveFailure::Symlink(Some(canonical)));
    }
    Ok(WriteTarget { path: normalized, parent_dir, parent_exists })
}

/// fs-safe's `resolveRootPath` from `/` with `rejectSymlinks`: `lstat` each component in
/// turn; a symlink anywhere is refused, an existing non-directory before the last component
/// is `Path component is not a directory`, a missing component ends the checks. A trailing
/// `/` adds a `.` component, so the named entry must then be a directory.
fn walk_refusing_symlinks(normalized: &str) -> Result<(), ResolveFailure> {
    let thrown = |text: String| ResolveFailure::Thrown(Thrown(escape_detail(&text)));
    let relative = normalized.strip_prefix('/').unwrap_or(normalized);
    let mut parts = segments(relative);
    if relative.ends_with('/') {
        parts.push(".");
    }
    let mut cursor = String::from("/");
    for (index, part) in parts.iter().enumerate() {
        let last = index + 1 == parts.len();
        if *part == "." {
            continue;
        }
        cursor = join(&cursor, part);
        let meta = match std::fs::symlink_metadata(&cursor) {
            Ok(meta) => meta,
            Err(e) if is_not_found(&e) => break,
            Err(e) => return Err(thrown(FsFailure::os(e, "lstat", cursor).to_string())),
        };
        if meta.file_type().is_symlink() {
            if !last {
                // fs-safe resolves the link before refusing it; only an unexpected failure
                // to resolve it escapes as itself.
                if let Err(e) = std::fs::canonicalize(&cursor) {
                    let symlink_like = matches!(
                        e.raw_os_error(),
                        Some(libc::ELOOP | libc::EINVAL | libc::ENOTSUP | libc::ENOENT | libc::ENOTDIR)
                    );
                    if !symlink_like {
                        return Err(thrown(FsFailure::os(e, "realpath", cursor).to_string()));
                    }
                }
            }
            return Err(ResolveFailure::Symlink(None));
        }
        if !last && !meta.is_dir() {
            return Err(thrown(format!("Error: Path component is not a directory: {cursor}")));
        }
    }
    let resolved = resolve(normalized);
    match std::fs::metadata(&resolved) {
        Err(e) if !is_not_found(&e) => Err(thrown(FsFailure::os(e, "stat", resolved).to_string())),
        _ => Ok(()),
    }
}

/// `canonicalPathFromExistingAncestor`: the real path of the nearest ancestor that exists
/// (by `lstat`; the lexical one if `realpath` fails) plus the missing rest. An `lstat`
/// failure other than `ENOENT` is thrown.
pub fn canonical_from_existing_ancestor(path: &str) -> Result<String, Thrown> {
    let resolved = resolve(path);
    let mut current = resolved.clone();
    let ancestor = loop {
        match std::fs::symlink_metadata(&current) {
            Ok(_) => break current,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let parent = dirname(&current).to_string();
                if parent == current {
                    return Ok(resolved);
                }
                current = parent;
            }
            Err(e) => return Err(Thrown::os(e, "lstat", &current)),
        }
    };
    let canonical_ancestor =
        std::fs::canonicalize(&ancestor).map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|_| ancestor.clone());
    let rest = relative(&ancestor, path);
    Ok(if rest.is_empty() { canonical_ancestor } else { join(&canonical_ancestor, &rest) })
}

/// `canonicalTargetForSymlinkError`: the error's own canonical path, else the real path of
/// `path`, else its canonical path from the nearest existing ancestor, else none.
pub fn canonical_for_symlink_error(cause: Option<String>, path: &str) -> Option<String> {
    cause
        .or_else(|| std::fs::canonicalize(path).ok().map(|p| p.to_string_lossy().into_owned()))
        .or_else(|| canonical_from_existing_ancestor(path).ok())
}

/// `captureWriteBinding`: `{kind:"write", anchorPath, anchorDevice, anchorInode,
/// targetDevice?, targetInode?}`, the anchor being the nearest existing ancestor directory of
/// `canonical_target` (`stat`, symlinks followed).
pub fn capture_write_binding(canonical_target: &str, target: Option<Identity>) -> Result<Value, Thrown> {
    let mut anchor = dirname(canonical_target).to_string();
    loop {
        match std::fs::metadata(&anchor) {
            Ok(meta) if meta.is_dir() => {
                let id = Identity::of(&meta);
                let mut m = Map::new();
                m.insert("kind".into(), json!("write"));
                m.insert("anchorPath".into(), json!(anchor));
                m.insert("anchorDevice".into(), json!(id.device.to_string()));
                m.insert("anchorInode".into(), json!(id.inode.to_string()));
                if let Some(t) = target {
                    m.insert("targetDevice".into(), json!(t.device.to_string()));
                    m.insert("targetInode".into(), json!(t.inode.to_string()));
                }
                return Ok(Value::Object(m));
            }
            Ok(_) => return Err(Thrown(format!("Error: write anchor is not a directory: {anchor}"))),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let parent = dirname(&anchor).to_string();
                if parent == anchor {
                    return Err(Thrown::os(e, "stat", &anchor));
                }
                anchor = parent;
            }
            Err(e) => return Err(Thrown::os(e, "stat", &anchor)),
        }
    }
}

/// Node's `fs.mkdir(path, {recursive: true})` (libuv's `MKDirpAsync`): create from the
/// deepest missing ancestor down, mode 0777 less the umask, symlinks followed. The error is
/// Node's `err.message`, naming the component that failed.
pub fn mkdir_recursive(path: &str) -> Result<(), String> {
    let mkdir = |p: &str| std::fs::DirBuilder::new().mode(0o777).create(p);
    let fail = |e: std::io::Error, p: &str| node_message(&e, "mkdir", p);
    let mut stack = vec![path.to_string()];
    while let Some(next) = stack.pop() {
        let err = match mkdir(&next) {
            Ok(()) => continue,
            Err(e) => e,
        };
        match err.raw_os_error() {
            Some(libc::EACCES | libc::ENOSPC | libc::ENOTDIR | libc::EPERM) => return Err(fail(err, &next)),
            Some(libc::ENOENT) => {
                let parent = match next.rfind('/') {
                    Some(i) => next[..i].to_string(),
                    None => next.clone(),
                };
                if parent == next {
                    return Err(fail(std::io::Error::from_raw_os_error(libc::EEXIST), &next));
                }
                stack.push(next);
                stack.push(parent);
            }
            code => {
                // The path exists (or mkdir failed otherwise): only a directory will do.
                let stat = std::fs::metadata(&next);
                if code == Some(libc::EEXIST) && !stack.is_empty() {
                    match stat {
                        Ok(m) if m.is_dir() => continue,
                        _ => return Err(fail(std::io::Error::from_raw_os_error(libc::ENOTDIR), &next)),
                    }
                }
                match stat {
                    Ok(m) if m.is_dir() => continue,
                    Ok(_) => return Err(fail(std::io::Error::from_raw_os_error(libc::EEXIST), &next)),
                    Err(e) => return Err(fail(e, &next)),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_arithmetic_is_nodes() {
        assert_eq!(dirname("/a/b/"), "/a");
        assert_eq!(dirname("/a"), "/");
        assert_eq!(dirname("/"), "/");
        assert_eq!(basename("/a/b/"), "b");
        assert_eq!(basename("/"), "");
        assert_eq!(resolve("/a/b/"), "/a/b");
        assert_eq!(resolve("/"), "/");
        assert_eq!(relative("/a/b", "/a/b/c/d/"), "c/d");
        assert_eq!(relative("/a/b", "/a/x"), "../x");
        assert_eq!(relative("/a", "/a"), "");
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(escape_detail("a\nb\u{2028}"), "a\\u000ab\\u2028");
    }

    /// Rule (fs-safe's `resolveAbsolutePathForWrite`): with symlinks refused, a symlink anywhere
    /// (the last component included) and a trailing `/` on a missing name are symlink refusals; a
    /// file used as a directory is thrown as `Path component is not a directory`; with symlinks
    /// followed the parent's `lstat` error is thrown instead.
    #[test]
    fn write_paths_resolve_as_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path().canonicalize().unwrap().to_string_lossy().into_owned();
        std::fs::write(format!("{r}/f"), "x").unwrap();
        std::fs::create_dir(format!("{r}/d")).unwrap();
        std::os::unix::fs::symlink(format!("{r}/d"), format!("{r}/dl")).unwrap();
        let ok = resolve_for_write(&format!("{r}/d/new"), false).unwrap();
        assert_eq!((ok.parent_dir.as_str(), ok.parent_exists), (format!("{r}/d").as_str(), true));
        assert_eq!(resolve_for_write(&format!("{r}/dl/x"), false), Err(ResolveFailure::Symlink(None)));
        assert_eq!(resolve_for_write(&format!("{r}/dl"), false), Err(ResolveFailure::Symlink(None)));
        assert!(resolve_for_write(&format!("{r}/dl/x"), true).is_ok());
        assert_eq!(
            resolve_for_write(&format!("{r}/new/"), false),
            Err(ResolveFailure::Symlink(Some(format!("{r}/new"))))
        );
        assert_eq!(
            resolve_for_write(&format!("{r}/f/x"), false),
            Err(ResolveFailure::Thrown(Thrown(format!("Error: Path component is not a directory: {r}/f"))))
        );
        assert_eq!(
            resolve_for_write(&format!("{r}/f/x"), true),
            Err(ResolveFailure::Thrown(Thrown(format!("Error: ENOTDIR: not a directory, lstat '{r}/f/x'"))))
        );
        assert_eq!(canonical_from_existing_ancestor(&format!("{r}/dl/a/b/")).unwrap(), format!("{r}/d/a/b"));
    }

    /// Rule (upstream's `captureWriteBinding`): the anchor is the nearest existing ancestor
    /// directory; the target pair only when the target existed.
    #[test]
    fn write_bindings_anchor_at_the_nearest_directory() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path().canonicalize().unwrap().to_string_lossy().into_owned();
        let b = capture_write_binding(&format!("{r}/x/y/z"), None).unwrap();
        assert_eq!(b["anchorPath"], json!(r));
        assert!(b.get("targetDevice").is_none());
        let t = Identity { device: 1, inode: 2 };
        let b = capture_write_binding(&format!("{r}/z"), Some(t)).unwrap();
        assert_eq!((b["targetDevice"].clone(), b["targetInode"].clone()), (json!("1"), json!("2")));
    }

    /// Rule (`createParents` on an unbound write): Node's recursive mkdir reports the component
    /// that failed.
    #[test]
    fn recursive_mkdir_fails_as_node() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path().canonicalize().unwrap().to_string_lossy().into_owned();
        std::os::unix::fs::symlink(format!("{r}/nowhere"), format!("{r}/dang")).unwrap();
        assert_eq!(
            mkdir_recursive(&format!("{r}/dang")),
            Err(format!("ENOENT: no such file or directory, mkdir '{r}/dang'"))
        );
        assert_eq!(mkdir_recursive(&format!("{r}/dang/y")), Err(format!("ENOTDIR: not a directory, mkdir '{r}/dang'")));
        mkdir_recursive(&format!("{r}/a/b/c")).unwrap();
        assert!(Path::new(&format!("{r}/a/b/c")).is_dir());
        mkdir_recursive(&format!("{r}/a/b/c")).unwrap();
    }
}
