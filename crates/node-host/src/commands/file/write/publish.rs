//! Putting `file.write`'s bytes on disk (upstream's `writeBoundTarget` and fs-safe's
//! `root(dir).write`/`.create`; `file.write` in `../shared/spec/node-commands.md` A3–A8): the
//! unbound write as fs-safe stages it (a `.fs-safe-<uuid>.tmp` sibling, `fchmod`, `fsync`, then
//! a rename over the target or a publish that never replaces), the bound overwrite in place
//! through the descriptor whose identity was checked, and the bound create beneath the verified
//! anchor directory's descriptor.
//!
//! Every step after the first open works on descriptors (`openat`, `renameat2`, `fstat`), so a
//! directory swapped for a symlink mid-way is never followed: what was checked is what is
//! written. Failures are [`FsFailure`]s, which the command maps to upstream's results.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileExt, MetadataExt};

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, renameat2, AtFlags, OFlag, RenameFlags};
use nix::libc;
use nix::sys::stat::{fchmod, fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{linkat, unlinkat, UnlinkatFlags};

use super::super::{FsFailure, Identity};
use super::paths::{join, node_message};

/// What a finished write reports: the path it names now, and the file's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The real path of the written file.
    pub path: String,
    /// Its identity (a replace makes a new inode).
    pub identity: Identity,
}

fn io(e: Errno) -> std::io::Error {
    std::io::Error::from(e)
}

/// fs-safe's `normalizePinnedWriteError`: a failure while staging or publishing is
/// `file not found` (ENOENT/ENOTDIR) or `<what> (<CODE>)`.
fn pinned(e: std::io::Error) -> FsFailure {
    let errno = e.raw_os_error().unwrap_or(libc::EIO);
    if matches!(errno, libc::ENOENT | libc::ENOTDIR) {
        return FsFailure::Safe("not-found", "file not found".into());
    }
    let code = openclaw_exec::node_errno::name(errno);
    let what = match errno {
        libc::EACCES | libc::EPERM => "permission denied",
        libc::EROFS => "read-only filesystem",
        libc::ENOSPC => "no space left on device",
        _ => "filesystem write failed",
    };
    FsFailure::Safe("invalid-path", format!("{what} ({code})"))
}

/// The `~` of fs-safe's root-relative paths: a relative path of exactly `~` (or starting
/// `~/`) names the real home directory, which must lie inside the root. Returns the path
/// relative to `root_real`.
pub fn expand_home(relative: &str, root_real: &str) -> Result<String, FsFailure> {
    let rest = match relative {
        "~" => "",
        r => match r.strip_prefix("~/") {
            Some(rest) => rest,
            None => return Ok(relative.to_string()),
        },
    };
    let raw = std::env::var("HOME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("USERPROFILE").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "/".to_string());
    let home = std::fs::canonicalize(&raw).map(|p| p.to_string_lossy().into_owned()).unwrap_or(raw);
    let expanded = if rest.is_empty() { home } else { format!("{}/{rest}", home.trim_end_matches('/')) };
    let prefix = if root_real.ends_with('/') { root_real.to_string() } else { format!("{root_real}/") };
    match expanded.strip_prefix(&prefix) {
        Some(inside) if !inside.is_empty() => Ok(inside.to_string()),
        _ if expanded == root_real => Err(FsFailure::Safe("not-file", "not a file".into())),
        _ => Err(FsFailure::Safe("outside-workspace", "file is outside workspace root".into())),
    }
}

/// Opens `root_real` as a directory descriptor, refusing a symlink in its place.
pub fn open_root(root_real: &str) -> std::io::Result<OwnedFd> {
    nix::fcntl::open(
        root_real,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io)
}

/// The directory `relative` names beneath `root` (descriptor-relative, never following a
/// symlink), creating missing ones (mode 0777 less the umask) when `create` is set.
fn open_beneath(root: &OwnedFd, relative: &str, create: bool) -> Result<OwnedFd, FsFailure> {
    let mut dir = root.try_clone().map_err(pinned)?;
    for part in relative.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return Err(FsFailure::Safe("outside-workspace", "file is outside workspace root".into()));
        }
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let next = match openat(dir.as_fd(), part, flags, Mode::empty()) {
            Err(Errno::ENOENT) if create => match mkdirat(dir.as_fd(), part, Mode::from_bits_truncate(0o777)) {
                Ok(()) | Err(Errno::EEXIST) => openat(dir.as_fd(), part, flags, Mode::empty()),
                Err(e) => Err(e),
            },
            other => other,
        };
        dir = next.map_err(|e| match e {
            Errno::ELOOP => FsFailure::Safe("symlink", "symlink path component not allowed".into()),
            Errno::ENOTDIR => FsFailure::Safe("not-file", "directory component must be a directory".into()),
            e => pinned(io(e)),
        })?;
    }
    Ok(dir)
}

/// A staged sibling file: removed on drop unless published.
struct Staged<'a> {
    dir: &'a OwnedFd,
    name: String,
    file: File,
    published: bool,
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if !self.published {
            let _ = unlinkat(self.dir.as_fd(), self.name.as_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// Writes `bytes` to a new `.fs-safe-<uuid v4>.tmp` in `dir` with permission bits `mode`
/// (set by `fchmod`, so the umask does not apply), synced.
fn stage<'a>(dir: &'a OwnedFd, bytes: &[u8], mode: u32) -> Result<Staged<'a>, FsFailure> {
    let name = format!(".fs-safe-{}.tmp", uuid::Uuid::new_v4());
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(dir.as_fd(), name.as_str(), flags, Mode::from_bits_truncate(0o600)).map_err(|e| pinned(io(e)))?;
    let mut staged = Staged { dir, name, file: File::from(fd), published: false };
    fchmod(staged.file.as_fd(), Mode::from_bits_truncate(mode)).map_err(|e| pinned(io(e)))?;
    staged.file.write_all(bytes).map_err(pinned)?;
    match staged.file.sync_all() {
        Err(e) if e.raw_os_error() != Some(libc::EPERM) => return Err(pinned(e)),
        _ => {}
    }
    Ok(staged)
}

/// Publishes `staged` as `name` in its directory: over whatever is there (`replace`), or only
/// if nothing is (`renameat2(RENAME_NOREPLACE)`, else `link` + `unlink` where the filesystem
/// lacks it); then syncs the directory. An existing name is fs-safe's `already-exists`.
fn publish(mut staged: Staged<'_>, name: &str, replace: bool) -> Result<File, FsFailure> {
    let dir = staged.dir.as_fd();
    let done = if replace {
        renameat(dir, staged.name.as_str(), dir, name)
    } else {
        match renameat2(dir, staged.name.as_str(), dir, name, RenameFlags::RENAME_NOREPLACE) {
            Err(Errno::EINVAL | Errno::ENOSYS | Errno::ENOTSUP) => {
                linkat(dir, staged.name.as_str(), dir, name, AtFlags::empty()).map(|()| {
                    let _ = unlinkat(dir, staged.name.as_str(), UnlinkatFlags::NoRemoveDir);
                })
            }
            other => other,
        }
    };
    match done {
        Ok(()) => staged.published = true,
        Err(Errno::EEXIST) if !replace => {
            return Err(FsFailure::Safe("already-exists", "file already exists".into()));
        }
        Err(e) => return Err(pinned(io(e))),
    }
    // Best effort, as upstream: the rename is done either way.
    let _ = nix::unistd::fsync(dir);
    let file = staged.file.try_clone().map_err(pinned)?;
    Ok(file)
}

/// The unbound write (fs-safe's `root(parentDir).write`, or `.create` without `overwrite`):
/// `name` in the directory `root_real`, replacing an existing regular file (`replace`, keeping
/// its permission bits) or creating a new one (mode 0600). The existing file must be a regular
/// file with one link; it must be readable, as fs-safe opens it to inherit its mode.
pub fn write_in_root(root_real: &str, name: &str, bytes: &[u8], replace: bool) -> Result<Written, FsFailure> {
    let relative = expand_home(name, root_real)?;
    let root = open_root(root_real).map_err(|e| FsFailure::os(e, "open", root_real))?;
    let (dir_part, leaf) = match relative.rfind('/') {
        Some(i) => (&relative[..i], &relative[i + 1..]),
        None => ("", relative.as_str()),
    };
    let dir = open_beneath(&root, dir_part, false)?;
    let mode = match fstatat(dir.as_fd(), leaf, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::ENOENT) => 0o600,
        Err(e) => return Err(pinned(io(e))),
        Ok(st) => {
            let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
            if kind == SFlag::S_IFLNK {
                return Err(FsFailure::Safe("path-alias", "path alias escape blocked".into()));
            }
            if kind != SFlag::S_IFREG {
                return Err(FsFailure::Safe("not-file", "not a file".into()));
            }
            if !replace {
                return Err(FsFailure::Safe("already-exists", "file already exists".into()));
            }
            if st.st_nlink > 1 {
                return Err(FsFailure::Safe("path-alias", "path alias escape blocked".into()));
            }
            let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
            let target = join(root_real, &relative);
            openat(dir.as_fd(), leaf, flags, Mode::empty()).map_err(|e| FsFailure::os(io(e), "open", target))?;
            st.st_mode & 0o777
        }
    };
    let staged = stage(&dir, bytes, mode)?;
    let file = publish(staged, leaf, replace)?;
    let meta = file.metadata().map_err(pinned)?;
    Ok(Written { path: join(root_real, &relative), identity: Identity::of(&meta) })
}

/// The bound create (upstream's `writeBoundTarget` without a target pair): `relative` beneath
/// the anchor directory `anchor` (already verified), its missing parents created inside the
/// anchor, never replacing.
pub fn create_beneath(anchor: &OwnedFd, anchor_real: &str, relative: &str, bytes: &[u8]) -> Result<Written, FsFailure> {
    let relative = expand_home(relative, anchor_real)?;
    let (dir_part, leaf) = match relative.rfind('/') {
        Some(i) => (&relative[..i], &relative[i + 1..]),
        None => ("", relative.as_str()),
    };
    let dir = open_beneath(anchor, dir_part, true)?;
    let staged = stage(&dir, bytes, 0o600)?;
    let file = publish(staged, leaf, false)?;
    let meta = file.metadata().map_err(pinned)?;
    Ok(Written { path: join(anchor_real, &relative), identity: Identity::of(&meta) })
}

/// `String(err)` of a Node `FileHandle` error, which names no path: `Error: EIO: i/o error, write`.
fn handle_error(e: &std::io::Error, syscall: &str) -> String {
    let text = node_message(e, syscall, "");
    format!("Error: {}", text.strip_suffix(" ''").unwrap_or(&text))
}

/// fs-safe's `overwriteFileHandle` on `file` (already verified to be the bound regular file):
/// the new bytes beyond the old size first, then the prefix, then a truncation; on failure the
/// old prefix and size are put back (best effort) and the error is returned as upstream throws
/// it. Then the file is synced. Inode and mode are kept.
pub fn overwrite_in_place(file: &File, bytes: &[u8]) -> Result<(), String> {
    let meta = file.metadata().map_err(|e| handle_error(&e, "fstat"))?;
    let original_size = meta.size();
    let prefix_len = (bytes.len() as u64).min(original_size) as usize;
    let mut original = vec![0u8; prefix_len];
    let mut read = 0;
    while read < prefix_len {
        match file.read_at(&mut original[read..], read as u64) {
            Ok(0) => return Err("FsSafeError: file ended before overwrite rollback preparation completed".into()),
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(handle_error(&e, "read")),
        }
    }
    let mut prefix_started = false;
    let attempt = (|| {
        if bytes.len() as u64 > original_size {
            file.write_all_at(&bytes[prefix_len..], original_size).map_err(|e| handle_error(&e, "write"))?;
        }
        prefix_started = true;
        file.write_all_at(&bytes[..prefix_len], 0).map_err(|e| handle_error(&e, "write"))?;
        if (bytes.len() as u64) < original_size {
            file.set_len(bytes.len() as u64).map_err(|e| handle_error(&e, "ftruncate"))?;
        }
        Ok::<(), String>(())
    })();
    if let Err(e) = attempt {
        if prefix_started {
            let _ = file.write_all_at(&original, 0);
        }
        let _ = file.set_len(original_size);
        return Err(e);
    }
    drop(original);
    file.sync_all().map_err(|e| handle_error(&e, "fsync"))
}

/// Opens the bound target read-write as upstream does (`open(path, "r+")`, following
/// symlinks: the identity check on the descriptor is what binds it).
pub fn open_bound_target(path: &str) -> std::io::Result<File> {
    let fd = nix::fcntl::open(path, OFlag::O_RDWR | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty()).map_err(io)?;
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn leftovers(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(".fs-safe-"))
            .collect()
    }

    /// Rule (the unbound write, fs-safe's `write`/`create`): a new file is mode 0600 whatever the
    /// umask; a replace keeps the permission bits (not set-id) and makes a new inode; an exclusive
    /// create refuses an existing name; no temp file is left behind either way.
    #[test]
    fn staged_writes_publish_as_fs_safe() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path().canonicalize().unwrap().to_string_lossy().into_owned();
        let new = write_in_root(&r, "n", b"hi", false).unwrap();
        assert_eq!(new.path, format!("{r}/n"));
        let meta = std::fs::metadata(format!("{r}/n")).unwrap();
        assert_eq!((meta.permissions().mode() & 0o7777, meta.ino()), (0o600, new.identity.inode));
        std::fs::set_permissions(format!("{r}/n"), std::fs::Permissions::from_mode(0o4751)).unwrap();
        let again = write_in_root(&r, "n", b"hello", true).unwrap();
        let meta = std::fs::metadata(format!("{r}/n")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o751);
        assert_ne!(again.identity.inode, new.identity.inode);
        assert_eq!(std::fs::read(format!("{r}/n")).unwrap(), b"hello");
        assert!(matches!(write_in_root(&r, "n", b"x", false), Err(FsFailure::Safe("already-exists", _))));
        std::fs::hard_link(format!("{r}/n"), format!("{r}/h")).unwrap();
        assert!(matches!(write_in_root(&r, "n", b"x", true), Err(FsFailure::Safe("path-alias", _))));
        assert!(leftovers(dir.path()).is_empty());
    }

    /// Rule (`writeBoundTarget`'s `overwriteFileHandle`): the bound overwrite keeps the inode
    /// and mode, for longer and shorter content alike.
    #[test]
    fn overwrites_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello world").unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        let file = open_bound_target(p.to_str().unwrap()).unwrap();
        overwrite_in_place(&file, b"hi").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hi");
        overwrite_in_place(&file, b"a longer text").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"a longer text");
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);
    }

    /// Rule (`writeBoundTarget` without a target pair): the bound create makes missing parents
    /// inside the anchor and never replaces.
    #[test]
    fn creates_beneath_the_anchor() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path().canonicalize().unwrap().to_string_lossy().into_owned();
        let anchor = open_root(&r).unwrap();
        let w = create_beneath(&anchor, &r, "a/b/c", b"x").unwrap();
        assert_eq!(w.path, format!("{r}/a/b/c"));
        assert!(matches!(create_beneath(&anchor, &r, "a/b/c", b"y"), Err(FsFailure::Safe("already-exists", _))));
        assert_eq!(std::fs::read(format!("{r}/a/b/c")).unwrap(), b"x");
        assert!(leftovers(&dir.path().join("a/b")).is_empty());
    }
}
