//! Opening the file a read command reports on, as upstream's fs-safe library does it
//! (`openRootFile` for `file.stat`, `root(dir).open(rel)` for `file.fetch`; both commands are
//! summarised in `../shared/spec/node-commands.md` A3–A8).
//!
//! Both refuse the POSIX device paths that never end (`/dev/zero`, `/dev/fd/…`, …), then pin
//! the target: `lstat` (no symlink, the wanted type), `open` with
//! `O_RDONLY|O_NOFOLLOW|O_NONBLOCK` (a FIFO cannot block the open, a symlink swapped in
//! cannot be followed), `fstat` on the descriptor (same type, same device and inode as the
//! `lstat`), `lstat` again and the real path again (still the same object, still inside the
//! directory it was opened from). Everything the command reports afterwards (identity, size,
//! content) comes from that descriptor, so a path swapped between the checks and the read is
//! caught by the identity comparison and never read.
//!
//! `file.fetch`'s `root().open` also refuses hard-linked files and, with a `rootPath`, walks
//! the relative path component by component under the root's symlink policy
//! ([`resolve_in_root`]).
//!
//! The two library functions report the same races with different errors (the pinned open
//! passes OS errors through, the root open turns some into its own codes); [`Errors`] picks
//! which, so each command classifies them as upstream does.

use std::fs::{File, Metadata};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::{posix_normalize, FsFailure, Identity};

/// What the command needs the target to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory (`file.stat` on a directory).
    Directory,
}

/// Which library function's error reporting to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errors {
    /// `openRootFile` (`file.stat`): OS errors as they are.
    Pinned,
    /// `root().open` (`file.fetch`): a missing file is `not-found`, a symlink met by `open`
    /// is `symlink`, a directory met by `open` is `not-file`, hard links are refused.
    Root,
}

/// The symlink policy of `root().open` with a `rootPath`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symlinks {
    /// Any symlink component is refused (`followSymlinks` false).
    Reject,
    /// Parent symlinks are followed while they stay inside the root; a final one is refused.
    FollowParentsWithinRoot,
}

/// A pinned target: the descriptor, its `fstat`, and the real path observed after opening.
#[derive(Debug)]
pub struct Opened {
    /// The open descriptor: everything reported is read from it.
    pub file: File,
    /// `fstat` of the descriptor.
    pub meta: Metadata,
    /// The real path re-observed after the open.
    pub real_path: String,
}

fn safe(code: &'static str, message: impl Into<String>) -> FsFailure {
    FsFailure::Safe(code, message.into())
}

fn errno(e: &std::io::Error) -> Option<i32> {
    e.raw_os_error()
}

fn is_not_found(e: &std::io::Error) -> bool {
    matches!(errno(e), Some(nix::libc::ENOENT | nix::libc::ENOTDIR))
}

/// fs-safe's POSIX blocklist: device files that never end or alias another descriptor.
pub fn is_unsafe_device_path(path: &str) -> bool {
    let p = posix_normalize(path);
    const BLOCKED: [&str; 9] = [
        "/dev/zero",
        "/dev/random",
        "/dev/urandom",
        "/dev/full",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/tty",
        "/dev/console",
    ];
    if BLOCKED.contains(&p.as_str()) || p == "/dev/fd" || p.starts_with("/dev/fd/") {
        return true;
    }
    // `/proc/(self|thread-self|<digits>)/fd` and below.
    let Some(rest) = p.strip_prefix("/proc/") else { return false };
    let Some((who, tail)) = rest.split_once('/') else { return false };
    let who_ok = who == "self" || who == "thread-self" || (!who.is_empty() && who.bytes().all(|b| b.is_ascii_digit()));
    who_ok && (tail == "fd" || tail.starts_with("fd/"))
}

fn is_kind(meta: &Metadata, kind: Kind) -> bool {
    !meta.file_type().is_symlink()
        && match kind {
            Kind::File => meta.is_file(),
            Kind::Directory => meta.is_dir(),
        }
}

fn identity_changed() -> FsFailure {
    safe("path-mismatch", "file identity changed or could not be verified")
}

fn lstat(path: &str) -> std::io::Result<Metadata> {
    std::fs::symlink_metadata(path)
}

fn realpath(path: &str) -> std::io::Result<String> {
    std::fs::canonicalize(path).map(|p| p.to_string_lossy().into_owned())
}

/// `path.dirname` of an absolute, normalised path.
pub fn dirname(path: &str) -> &str {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Whether `candidate` is `root` or below it.
fn inside(root: &str, candidate: &str) -> bool {
    candidate == root || candidate.starts_with(&with_sep(root))
}

fn with_sep(root: &str) -> String {
    if root.ends_with('/') {
        root.to_string()
    } else {
        format!("{root}/")
    }
}

/// `path.join(dir, name)` of an absolute directory and one segment.
fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// `path.resolve` of an absolute path: normalised, without a trailing slash.
fn resolve(path: &str) -> String {
    let p = posix_normalize(path);
    if p.len() > 1 {
        p.trim_end_matches('/').to_string()
    } else {
        p
    }
}

/// The pinning common to both library functions, on an absolute real path `path` inside the
/// directory `root` (whose identity was observed as `root_id`).
fn pin(path: &str, root: &str, root_id: Identity, kind: Kind, errors: Errors) -> Result<Opened, FsFailure> {
    if is_unsafe_device_path(path) {
        return Err(safe("device-path", format!("file reads from unsafe device paths are not allowed: {path}")));
    }
    let pre = match lstat(path) {
        Ok(m) if m.file_type().is_symlink() && errors == Errors::Root => {
            return Err(safe("symlink", "symlink not allowed"));
        }
        Ok(m) if !is_kind(&m, kind) => {
            return Err(safe(
                "not-file",
                if errors == Errors::Root { "not a file" } else { "path does not have the required file type" },
            ))
        }
        Ok(m) => Some(m),
        // The root open lets a failed first look fall through to `open`, which reports it.
        Err(_) if errors == Errors::Root => None,
        Err(e) => return Err(FsFailure::os(e, "lstat", path)),
    };
    let flags = nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(flags).open(path).map_err(|e| {
        if errors == Errors::Pinned {
            return FsFailure::os(e, "open", path);
        }
        match errno(&e) {
            Some(nix::libc::ENOENT | nix::libc::ENOTDIR) => safe("not-found", "file not found"),
            Some(nix::libc::ELOOP | nix::libc::EINVAL | nix::libc::ENOTSUP) => safe("symlink", "symlink open blocked"),
            Some(nix::libc::EISDIR) => safe("not-file", "not a file"),
            _ => FsFailure::os(e, "open", path),
        }
    })?;
    let meta = file.metadata().map_err(|e| FsFailure::os(e, "fstat", path))?;
    if !is_kind(&meta, kind) {
        return Err(safe("not-file", "not a file"));
    }
    let id = Identity::of(&meta);
    if pre.as_ref().is_some_and(|p| Identity::of(p) != id) {
        return Err(identity_changed());
    }
    let reject_hardlinks = errors == Errors::Root;
    let hardlinked = |m: &Metadata| reject_hardlinks && m.is_file() && m.nlink() > 1;
    if hardlinked(&meta) {
        return Err(safe("hardlink", "hardlinked path not allowed"));
    }
    let not_found = |e: std::io::Error, call| {
        if is_not_found(&e) {
            safe("not-found", "file not found")
        } else {
            FsFailure::os(e, call, path)
        }
    };
    // The root is still the directory it was.
    match lstat(root) {
        Ok(m) if m.is_dir() && Identity::of(&m) == root_id => {}
        _ => return Err(safe("path-mismatch", "root path changed during operation")),
    }
    // The path still names the opened object, and its real path stays inside the root.
    let again = lstat(path).map_err(|e| not_found(e, "lstat"))?;
    if again.file_type().is_symlink() {
        return Err(match errors {
            Errors::Root => safe("symlink", "symlink not allowed"),
            Errors::Pinned => safe("not-file", "path does not have the required file type"),
        });
    }
    if Identity::of(&again) != id {
        return Err(identity_changed());
    }
    if hardlinked(&again) {
        return Err(safe("hardlink", "hardlinked path not allowed"));
    }
    let real_path = realpath(path).map_err(|e| not_found(e, "realpath"))?;
    if !inside(root, &real_path) {
        return Err(safe("outside-workspace", "file is outside workspace root"));
    }
    let real = lstat(&real_path).map_err(|e| not_found(e, "lstat"))?;
    if Identity::of(&real) != id {
        return Err(identity_changed());
    }
    match lstat(root) {
        Ok(m) if m.is_dir() && Identity::of(&m) == root_id => {}
        _ => return Err(safe("path-mismatch", "root path changed during operation")),
    }
    Ok(Opened { file, meta, real_path })
}

/// The observed identity of a root directory: `lstat`, a directory and not a symlink.
fn observe_root(root: &str) -> Result<Identity, FsFailure> {
    match lstat(root) {
        Ok(m) if m.is_dir() => Ok(Identity::of(&m)),
        Ok(_) => Err(safe("path-mismatch", "canonical root directory identity changed or could not be verified")),
        Err(e) => Err(FsFailure::os(e, "lstat", root)),
    }
}

/// `openRootFile({absolutePath: canonical, rootPath: dirname(canonical), allowedType,
/// rejectHardlinks: false})` of `file.stat`: `canonical` is a real path.
pub fn open_metadata_target(canonical: &str, kind: Kind) -> Result<Opened, FsFailure> {
    let root = dirname(canonical);
    let root_id = observe_root(root)?;
    if canonical != "/" {
        match lstat(canonical) {
            Ok(m) if m.file_type().is_symlink() => return Err(safe("symlink", "symlink path component not allowed")),
            Err(e) if !is_not_found(&e) => return Err(FsFailure::os(e, "lstat", canonical)),
            _ => {}
        }
    }
    if is_unsafe_device_path(canonical) {
        // A validation failure without an error object.
        return Err(safe("validation", "unsafe device path"));
    }
    pin(canonical, root, root_id, kind, Errors::Pinned)
}

/// fs-safe's `root(dir)`: the directory's real path and identity.
fn root_context(dir: &str) -> Result<(String, Identity), FsFailure> {
    let real = realpath(dir).map_err(|e| {
        if is_not_found(&e) {
            safe("not-found", "root dir not found")
        } else {
            FsFailure::os(e, "realpath", dir)
        }
    })?;
    let meta = std::fs::metadata(&real).map_err(|e| FsFailure::os(e, "stat", &*real))?;
    if !meta.is_dir() {
        return Err(safe("invalid-path", "root dir is not a directory"));
    }
    Ok((real, Identity::of(&meta)))
}

fn outside_workspace() -> FsFailure {
    safe("outside-workspace", "file is outside workspace root")
}

/// fs-safe's home expansion of a root-relative path (`~`, `~/…`): the real home directory.
fn expand_home(relative: &str) -> Option<String> {
    let rest = if relative == "~" { "" } else { relative.strip_prefix("~/")? };
    let home = std::env::var("HOME").ok().filter(|h| !h.is_empty()).unwrap_or_default();
    let home = realpath(&home).unwrap_or(home);
    Some(if relative == "~" { home } else { format!("{}{rest}", with_sep(&home)) })
}

/// Where a symlink met mid-walk leads: its real path, or for a dangling one the real path of
/// the target's nearest existing ancestor plus the rest.
fn symlink_hop(link: &str) -> Result<String, FsFailure> {
    match realpath(link) {
        Ok(p) => Ok(p),
        Err(e) if matches!(errno(&e), Some(nix::libc::ELOOP | nix::libc::EINVAL | nix::libc::ENOTSUP)) => {
            Err(safe("symlink", "symlink path could not be resolved"))
        }
        Err(e) if is_not_found(&e) => {
            let target = std::fs::read_link(link).map_err(|_| outside_workspace())?;
            let target = target.to_string_lossy();
            let lexical = if target.starts_with('/') {
                posix_normalize(&target)
            } else {
                posix_normalize(&format!("{}/{target}", dirname(link)))
            };
            let mut existing = resolve(&lexical);
            let mut rest: Vec<String> = Vec::new();
            loop {
                if let Ok(real) = realpath(&existing) {
                    let mut out = real;
                    for seg in rest.iter().rev() {
                        out = join(&out, seg);
                    }
                    return Ok(out);
                }
                if existing == "/" {
                    return Err(outside_workspace());
                }
                let name = existing.rsplit('/').next().unwrap_or_default().to_string();
                rest.push(name);
                existing = dirname(&existing).to_string();
            }
        }
        Err(_) => Err(outside_workspace()),
    }
}

/// `resolvePathInRoot`'s walk: the canonical path `relative` names under `root` (a real
/// path), component by component under the symlink policy. Anything that leaves the root,
/// or a non-directory in the middle, is `outside-workspace`; a refused symlink is `symlink`.
pub fn resolve_in_root(root: &str, relative: &str, symlinks: Symlinks) -> Result<String, FsFailure> {
    let expanded = expand_home(relative);
    let raw = match &expanded {
        Some(abs) => abs.clone(),
        None => format!("{}{relative}", with_sep(root)),
    };
    let resolved = resolve(&raw);
    if is_unsafe_device_path(&resolved) {
        return Err(safe("device-path", format!("file reads from unsafe device paths are not allowed: {resolved}")));
    }
    let relative_raw = if raw == root {
        String::new()
    } else if let Some(r) = raw.strip_prefix(&with_sep(root)) {
        r.to_string()
    } else {
        return Err(outside_workspace());
    };
    let mut segments: Vec<&str> = relative_raw.split('/').filter(|s| !s.is_empty()).collect();
    if relative_raw.ends_with('/') {
        segments.push(".");
    }
    let final_index = segments.iter().rposition(|s| *s != ".");
    let (reject_symlinks, reject_final) = match symlinks {
        Symlinks::Reject => (true, false),
        Symlinks::FollowParentsWithinRoot => (false, true),
    };
    let mut lexical = root.to_string();
    let mut canonical = root.to_string();
    let mut missing = 0usize;
    let mut preserve_final = false;
    let checked = |p: String| if inside(root, &p) { Ok(p) } else { Err(outside_workspace()) };
    for (idx, segment) in segments.iter().enumerate() {
        let is_last = idx + 1 == segments.len();
        match *segment {
            "." => continue,
            ".." => {
                lexical = dirname(&lexical).to_string();
                canonical = checked(dirname(&canonical).to_string())?;
                missing = missing.saturating_sub(1);
                continue;
            }
            _ => {}
        }
        lexical = join(&lexical, segment);
        if missing > 0 {
            canonical = checked(join(&canonical, segment))?;
            missing += 1;
            continue;
        }
        let meta = match lstat(&lexical) {
            Ok(m) => m,
            Err(e) if is_not_found(&e) => {
                canonical = checked(join(&canonical, segment))?;
                missing = 1;
                continue;
            }
            Err(e) if errno(&e) == Some(nix::libc::ENAMETOOLONG) => {
                return Err(safe("invalid-path", "relative path is too long"))
            }
            Err(_) => return Err(outside_workspace()),
        };
        let is_symlink = meta.file_type().is_symlink();
        if !is_symlink && !is_last && !meta.is_dir() {
            return Err(outside_workspace());
        }
        if is_symlink && ((reject_final && Some(idx) == final_index) || (reject_symlinks && is_last)) {
            return Err(safe("symlink", "symlink path component not allowed"));
        }
        if !is_symlink || is_last {
            // A final symlink is kept as it is (the open refuses it).
            preserve_final = is_symlink;
            canonical = checked(join(&canonical, segment))?;
            if preserve_final {
                break;
            }
            continue;
        }
        let hop = symlink_hop(&lexical)?;
        let hop = checked(hop)?;
        canonical = hop.clone();
        lexical = hop.clone();
        if reject_symlinks {
            return Err(safe("symlink", "symlink path component not allowed"));
        }
        if !is_last {
            match std::fs::metadata(&hop) {
                Ok(m) if m.is_dir() => {}
                _ => return Err(outside_workspace()),
            }
        }
    }
    let kind = if preserve_final { lstat(&canonical) } else { std::fs::metadata(&canonical) };
    if let Err(e) = kind {
        if !is_not_found(&e) {
            return Err(outside_workspace());
        }
    }
    checked(canonical)
}

/// `root(dir).open(relative, {symlinks})` of `file.fetch`: resolve under the root, then pin
/// the regular file (hard links refused).
pub fn open_file_in_root(dir: &str, relative: &str, symlinks: Symlinks) -> Result<Opened, FsFailure> {
    let (root, root_id) = root_context(dir)?;
    match lstat(&root) {
        Ok(m) if m.is_dir() && Identity::of(&m) == root_id => {}
        _ => return Err(safe("path-mismatch", "root path changed during operation")),
    }
    let resolved = resolve_in_root(&root, relative, symlinks)?;
    pin(&resolved, &root, root_id, Kind::File, Errors::Root)
}

/// Node's `path.relative(from, to)` for absolute POSIX paths.
pub fn relative(from: &str, to: &str) -> String {
    let split = |p: &str| -> Vec<String> {
        posix_normalize(p).split('/').filter(|s| !s.is_empty()).map(String::from).collect()
    };
    let (a, b) = (split(from), split(to));
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_string(); a.len() - common];
    parts.extend(b[common..].iter().cloned());
    parts.join("/")
}

/// `path.basename` of a real path.
pub fn basename(path: &str) -> &str {
    Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rule (`openRootFile` and `root(dir).open(rel)` alike): fs-safe's device path blocklist.
    #[test]
    fn device_paths_are_refused() {
        for p in [
            "/dev/zero",
            "/dev/fd",
            "/dev/fd/3",
            "/proc/self/fd",
            "/proc/12/fd/1",
            "/proc/thread-self/fd/",
            "/dev/./tty",
        ] {
            assert!(is_unsafe_device_path(p), "{p}");
        }
        for p in ["/dev/null", "/proc/self/status", "/proc/12/fdinfo", "/dev/zero2"] {
            assert!(!is_unsafe_device_path(p), "{p}");
        }
    }

    #[test]
    fn paths_as_node() {
        assert_eq!(relative("/a/b", "/a/c/d"), "../c/d");
        assert_eq!(relative("/a", "/a"), "");
        assert_eq!(relative("/", "/x/"), "x");
        assert_eq!(dirname("/a/b"), "/a");
        assert_eq!(dirname("/a"), "/");
        assert_eq!(dirname("/"), "/");
        assert_eq!(basename("/a/b"), "b");
        assert_eq!(join("/", "x"), "/x");
    }

    /// Rule (fs-safe's `root(dir).open(rel)`, `file.fetch` with a `rootPath`): inside a root,
    /// symlinked parents are followed only under the follow policy and only within the root;
    /// a final symlink never.
    #[test]
    fn walks_a_root_as_fs_safe() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().to_string_lossy().into_owned();
        std::fs::create_dir(format!("{root}/d")).unwrap();
        std::fs::write(format!("{root}/d/f"), "x").unwrap();
        std::os::unix::fs::symlink(format!("{root}/d"), format!("{root}/ld")).unwrap();
        std::os::unix::fs::symlink(format!("{root}/d/f"), format!("{root}/lf")).unwrap();
        std::os::unix::fs::symlink("/etc", format!("{root}/out")).unwrap();
        let code = |r: Result<String, FsFailure>| r.map_err(|e| e.safe_code().unwrap_or("os"));
        assert_eq!(code(resolve_in_root(&root, "d/f", Symlinks::Reject)), Ok(format!("{root}/d/f")));
        assert_eq!(code(resolve_in_root(&root, "ld/f", Symlinks::Reject)), Err("symlink"));
        assert_eq!(code(resolve_in_root(&root, "ld/f", Symlinks::FollowParentsWithinRoot)), Ok(format!("{root}/d/f")));
        assert_eq!(code(resolve_in_root(&root, "lf", Symlinks::FollowParentsWithinRoot)), Err("symlink"));
        assert_eq!(
            code(resolve_in_root(&root, "out/hostname", Symlinks::FollowParentsWithinRoot)),
            Err("outside-workspace")
        );
        assert_eq!(code(resolve_in_root(&root, "../x", Symlinks::Reject)), Err("outside-workspace"));
        assert_eq!(code(resolve_in_root(&root, "d/f/x", Symlinks::Reject)), Err("outside-workspace"));
        assert_eq!(code(resolve_in_root(&root, "nope/x", Symlinks::Reject)), Ok(format!("{root}/nope/x")));
        let opened = open_file_in_root(&root, "d/f", Symlinks::Reject).unwrap();
        assert_eq!(opened.real_path, format!("{root}/d/f"));
        std::fs::hard_link(format!("{root}/d/f"), format!("{root}/h")).unwrap();
        assert_eq!(open_file_in_root(&root, "h", Symlinks::Reject).unwrap_err().safe_code(), Some("hardlink"));
        assert_eq!(open_file_in_root(&root, "d", Symlinks::Reject).unwrap_err().safe_code(), Some("not-file"));
        assert_eq!(open_metadata_target(&format!("{root}/h"), Kind::File).unwrap().real_path, format!("{root}/h"));
        assert_eq!(open_metadata_target(&format!("{root}/d"), Kind::Directory).unwrap().real_path, format!("{root}/d"));
    }
}
