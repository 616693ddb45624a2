//! Where browser downloads land, and which `path` a caller may ask for (upstream `paths.ts`,
//! `routes/output-paths.ts` and the `pathScope(...).writable` rule of `@openclaw/fs-safe`).
//!
//! A model picks the `path` of `/download` and `/wait/download`, so the file must never land
//! outside the downloads directory: not through `..`, not through an absolute path elsewhere,
//! not through a symlinked directory or file, not over a hard-linked file. Everything here is
//! synchronous filesystem work; callers run it off the async runtime thread.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The label upstream's download routes give their root in path errors.
pub const DOWNLOADS_SCOPE: &str = "downloads directory";

/// The shared OpenClaw temp root: `/tmp/openclaw` when it is a directory of ours that others
/// cannot write (created 0700 when missing), else `<tmp>/openclaw-<uid>`, as upstream's
/// `resolvePreferredOpenClawTmpDir` picks it.
pub fn openclaw_tmp_dir() -> PathBuf {
    let uid = nix::unistd::getuid().as_raw();
    let usable = |dir: &Path| {
        let _ = std::fs::DirBuilder::new().mode(0o700).create(dir);
        std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o022 == 0)
    };
    let preferred = PathBuf::from("/tmp/openclaw");
    if usable(&preferred) {
        return preferred;
    }
    let fallback = std::env::temp_dir().join(format!("openclaw-{uid}"));
    let _ = usable(&fallback);
    fallback
}

/// Upstream's `DEFAULT_DOWNLOAD_DIR`: `<openclaw tmp>/downloads`.
pub fn default_downloads_dir() -> PathBuf {
    openclaw_tmp_dir().join("downloads")
}

/// Creates `dir` (and its parents) as a private directory (0700) if it does not exist, and
/// refuses a symlink or a non-directory in its place.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!("{} is not a directory", dir.display())));
    }
    Ok(())
}

/// `path.resolve(root, raw)` without touching the filesystem: an absolute `raw` replaces the
/// root, `.` and `..` are folded lexically.
fn lexical_resolve(root: &Path, raw: &str) -> PathBuf {
    let joined = root.join(raw);
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

fn invalid(scope: &str) -> String {
    format!("Invalid path: must stay within {scope}")
}

/// Where `requested` (relative to `root`, or absolute) may be written inside `root`, by
/// upstream's rules: the path must be strictly inside the root; the root must be a real
/// directory; the parent directory must already exist, must not be a symlink and must
/// resolve inside the root; an existing target must be a regular, non-symlink file with a
/// single link. Errors are upstream's texts (`path is required`,
/// `Invalid path: must stay within <scope>`).
pub fn resolve_writable(root: &Path, requested: &str, scope: &str) -> Result<PathBuf, String> {
    let raw = requested.trim();
    if raw.is_empty() {
        return Err("path is required".into());
    }
    if raw.contains('\0') {
        return Err(invalid(scope));
    }
    let root = std::path::absolute(root).map_err(|_| invalid(scope))?;
    let root = lexical_resolve(&root, ".");
    let target = lexical_resolve(&root, raw);
    if target == root || !target.starts_with(&root) {
        return Err(invalid(scope));
    }
    let root_meta = std::fs::symlink_metadata(&root).map_err(|_| invalid(scope))?;
    if !root_meta.is_dir() {
        return Err(invalid(scope));
    }
    let root_real = std::fs::canonicalize(&root).map_err(|_| invalid(scope))?;
    let parent = target.parent().ok_or_else(|| invalid(scope))?;
    let parent_meta = std::fs::symlink_metadata(parent).map_err(|_| invalid(scope))?;
    if !parent_meta.is_dir() {
        return Err(invalid(scope));
    }
    let parent_real = std::fs::canonicalize(parent).map_err(|_| invalid(scope))?;
    if !parent_real.starts_with(&root_real) {
        return Err(invalid(scope));
    }
    match std::fs::symlink_metadata(&target) {
        Ok(m) => {
            if !m.is_file() || m.nlink() > 1 {
                return Err(invalid(scope));
            }
            let real = std::fs::canonicalize(&target).map_err(|_| invalid(scope))?;
            if !real.starts_with(&root_real) || real == root_real {
                return Err(invalid(scope));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(_) => return Err(invalid(scope)),
    }
    Ok(target)
}

/// Characters upstream's `sanitizeUntrustedFileName` drops: C0 and C1 controls and the
/// characters Windows forbids in file names.
fn forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*')
}

const RESERVED_DEVICE_NAMES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2",
    "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// `CON.txt` → `CON_.txt`: a Windows device stem gets a `_`, so the name is portable.
fn suffix_reserved(name: &str) -> String {
    let stem_end = name.find('.').unwrap_or(name.len());
    let stem = name[..stem_end].trim_end_matches([' ', '.']);
    if RESERVED_DEVICE_NAMES.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        format!("{}_{}", &name[..stem_end], &name[stem_end..])
    } else {
        name.to_string()
    }
}

fn truncate_utf16(s: &str, limit: usize) -> String {
    let mut units = 0;
    s.chars()
        .take_while(|c| {
            units += c.len_utf16();
            units <= limit
        })
        .collect()
}

fn sanitize_candidate(name: &str) -> Option<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return None;
    }
    // The last path segment of either separator style, as `path.basename` would take it.
    let base = trimmed.rsplit(['/', '\\']).next().unwrap_or(trimmed);
    let base = match base.as_bytes() {
        [d, b':', ..] if d.is_ascii_alphabetic() => &base[2..],
        _ => base,
    };
    let cleaned: String = base.chars().filter(|c| !forbidden(*c)).collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return None;
    }
    // At most 200 UTF-16 code units, never splitting a surrogate pair; the device-name
    // suffix is applied last and must fit too.
    let base = truncate_utf16(cleaned, 200);
    let safe = suffix_reserved(&base);
    if safe.encode_utf16().count() > 200 {
        return Some(suffix_reserved(&truncate_utf16(cleaned, 199)));
    }
    Some(safe)
}

/// A file name a download may be saved under, from the name the server suggested: path parts,
/// control and non-portable characters removed, at most 200 UTF-16 units, never `.`/`..`,
/// falling back to `fallback`, then `file` (upstream `sanitizeUntrustedFileName`).
pub fn sanitize_file_name(name: &str, fallback: &str) -> String {
    sanitize_candidate(name).or_else(|| sanitize_candidate(fallback)).unwrap_or_else(|| "file".into())
}

/// Moves a finished download from Chromium's staging file to `dest`, as a private file
/// (0600). The rename is atomic; across filesystems the bytes are copied to a private sibling
/// of `dest` first and that is renamed, so `dest` never holds a partial file.
pub fn publish_file(staged: &Path, dest: &Path) -> io::Result<()> {
    std::fs::set_permissions(staged, std::fs::Permissions::from_mode(0o600))?;
    match std::fs::rename(staged, dest) {
        Ok(()) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {}
        Err(e) => return Err(e),
    }
    let dir = dest.parent().ok_or_else(|| io::Error::other("destination has no parent directory"))?;
    let tmp = dir.join(format!(".openclaw-download-{}.part", uuid::Uuid::new_v4()));
    let copy = || -> io::Result<()> {
        let mut src = std::fs::File::open(staged)?;
        let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        io::copy(&mut src, &mut out)?;
        out.sync_all()?;
        std::fs::rename(&tmp, dest)
    };
    if let Err(e) = copy() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let _ = std::fs::remove_file(staged);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_paths_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("downloads");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        let ok = |p: &str| resolve_writable(&root, p, DOWNLOADS_SCOPE);
        assert_eq!(ok("a.txt").unwrap(), root.join("a.txt"));
        assert_eq!(ok("sub/../b.txt").unwrap(), root.join("b.txt"));
        assert_eq!(ok(&root.join("sub/c.txt").display().to_string()).unwrap(), root.join("sub/c.txt"));
        let bad = "Invalid path: must stay within downloads directory";
        for p in ["../x.txt", "/etc/passwd", ".", "sub/..", "missing/x.txt", "sub"] {
            assert_eq!(ok(p).unwrap_err(), bad, "{p}");
        }
        assert_eq!(ok("  ").unwrap_err(), "path is required");
        // A symlinked directory or file inside the root is refused, as is a hard-linked file.
        std::os::unix::fs::symlink(dir.path(), root.join("out")).unwrap();
        assert_eq!(ok("out/x.txt").unwrap_err(), bad);
        std::fs::write(dir.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link.txt")).unwrap();
        assert_eq!(ok("link.txt").unwrap_err(), bad);
        std::fs::hard_link(dir.path().join("secret"), root.join("hard.txt")).unwrap();
        assert_eq!(ok("hard.txt").unwrap_err(), bad);
        std::fs::write(root.join("plain.txt"), b"p").unwrap();
        assert!(ok("plain.txt").is_ok());
        // A missing root is refused rather than created here.
        assert_eq!(resolve_writable(&dir.path().join("nope"), "a", DOWNLOADS_SCOPE).unwrap_err(), bad);
    }

    #[test]
    fn file_names_are_sanitized() {
        assert_eq!(sanitize_file_name("report.pdf", "download.bin"), "report.pdf");
        assert_eq!(sanitize_file_name("../../etc/passwd", "download.bin"), "passwd");
        assert_eq!(sanitize_file_name("C:\\Users\\x\\a<b>.txt", "download.bin"), "ab.txt");
        assert_eq!(sanitize_file_name("..", "download.bin"), "download.bin");
        assert_eq!(sanitize_file_name("  ", "download.bin"), "download.bin");
        assert_eq!(sanitize_file_name("con.txt", "download.bin"), "con_.txt");
        assert_eq!(sanitize_file_name("a\u{7}b", "download.bin"), "ab");
        assert_eq!(sanitize_file_name(&"x".repeat(300), "d").chars().count(), 200);
        assert_eq!(sanitize_file_name("", ""), "file");
    }

    #[test]
    fn published_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let staged = dir.path().join("guid");
        std::fs::write(&staged, b"bytes").unwrap();
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o644)).unwrap();
        let dest = dir.path().join("out.bin");
        publish_file(&staged, &dest).unwrap();
        assert!(!staged.exists());
        assert_eq!(std::fs::read(&dest).unwrap(), b"bytes");
        assert_eq!(std::fs::metadata(&dest).unwrap().mode() & 0o777, 0o600);
    }
}
