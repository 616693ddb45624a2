//! `dir.list`: one page of a directory's entries, sorted as upstream's Node sorts them
//! (`handleDirList`; the shared node-side rules and the `dir.list` row of
//! `../shared/spec/node-commands.md` A3–A8).
//!
//! Upstream lists in a child Node process that changes into the directory, re-checks that its
//! real path and identity are still the authorized ones (exit 78 otherwise), and reads the
//! entries there. We give the same guarantee without a child: the directory is opened once
//! (`O_DIRECTORY`, following symlinks as `chdir` does), the descriptor's real path and
//! `fstat` identity are checked, and the entries are read and `lstat`ed through that
//! descriptor, so a directory swapped after the check is never the one listed. The outcomes
//! are upstream's: an identity change is `CANONICAL_PATH_CHANGED`, any other failure is the
//! re-run directory check's error or `READ_ERROR "list failed"`.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, Mode};
use openclaw_protocol::node::InvokeError;
use serde_json::{json, Map, Value};

use super::collate::sort_key;
use super::{
    classify_safe_read, flag, js_number, mime, params_object, payload, read_absolute_path,
    resolve_bound_read_directory, stat_required_directory, FileError, FsFailure, Identity,
};
use crate::invoke::{Command, InvokeContext};
use crate::offload::{off_thread_within, Lane};
use crate::params::{js_whitespace, FromParams, Params};

/// Lists one page of a directory.
#[derive(Clone)]
pub struct DirList;

/// The raw params object (upstream reads each field itself, uncoerced).
#[derive(Debug, Clone)]
pub struct DirListParams(pub Map<String, Value>);

impl FromParams for DirListParams {
    /// A missing `paramsJSON` is `{}`.
    const OPTIONAL: bool = true;

    fn from_params(params: Params) -> Result<Self, InvokeError> {
        params_object(params.value(), true).map(DirListParams)
    }
}

/// The default page size.
pub const DEFAULT_MAX_ENTRIES: u64 = 200;
/// The largest page.
pub const HARD_MAX_ENTRIES: u64 = 5000;
/// Upstream's listing child may take this long before it is killed (a failure).
const LIST_TIMEOUT: Duration = Duration::from_secs(60);
/// Upstream's listing child may print this much before it is killed (a failure).
const MAX_OUTPUT_BYTES: usize = 8_388_608;

impl Command for DirList {
    const NAME: &'static str = "dir.list";
    const CAP: &'static str = "file";
    type Params = DirListParams;

    async fn run(&self, _cx: InvokeContext, params: DirListParams) -> Result<Value, InvokeError> {
        // Upstream's child has 60 s; past that the listing failed (the stat re-check decides
        // what is reported).
        let p = params.0;
        let resolved = off_thread_within(Lane::Lookup, "dir.list", Duration::from_secs(10), move || prepare(&p)).await;
        let prepared = match resolved {
            Ok(Ok(prepared)) => prepared,
            Ok(Err(done)) => return Ok(done),
            Err(e) => return Err(InvokeError::unavailable(e.to_string())),
        };
        let Prepared { canonical, identity, offset, max_entries } = prepared;
        let (c, id) = (canonical.clone(), identity);
        let listed =
            off_thread_within(Lane::Lookup, "dir.list", LIST_TIMEOUT, move || list_page(&c, &id, offset, max_entries))
                .await
                .unwrap_or(Err(ListFailure::Failed));
        let c = canonical.clone();
        off_thread_within(Lane::Lookup, "dir.list", Duration::from_secs(10), move || {
            payload(finish(&c, &identity, offset, max_entries, listed))
        })
        .await
        .map_err(|e| InvokeError::unavailable(e.to_string()))
    }
}

/// What the page needs once the path is resolved and bound.
struct Prepared {
    canonical: String,
    identity: Identity,
    offset: f64,
    max_entries: u64,
}

/// `dir.list`'s error codes (`classifyFsError`).
pub fn classify(failure: &FsFailure) -> &'static str {
    classify_safe_read(failure).unwrap_or(match failure.errno_name().as_deref() {
        Some("ENOENT") => "NOT_FOUND",
        Some("EACCES" | "EPERM") => "PERMISSION_DENIED",
        _ => "READ_ERROR",
    })
}

/// `clampMaxEntries`: not a positive number → 200; else `min(floor(x), 5000)` (so 0.5 → 0).
pub fn clamp_max_entries(value: Option<&Value>) -> u64 {
    match value.and_then(Value::as_f64) {
        Some(x) if x > 0.0 => (x.floor() as u64).min(HARD_MAX_ENTRIES),
        _ => DEFAULT_MAX_ENTRIES,
    }
}

/// `parsePageOffset`: a string that trims to `[+-]?digits` naming a safe integer ≥ 0, else 0.
pub fn parse_page_offset(value: Option<&Value>) -> f64 {
    let Some(text) = value.and_then(Value::as_str) else { return 0.0 };
    let t = text.trim_matches(js_whitespace);
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return 0.0;
    }
    // `Number(text)`: the nearest double, then it must be a safe integer.
    let parsed: f64 = digits.parse().unwrap_or(f64::INFINITY);
    if parsed > 9_007_199_254_740_991.0 || t.starts_with('-') && parsed != 0.0 {
        return 0.0;
    }
    parsed
}

/// Steps 1–3: the path, the clamps, the bound directory, and the preflight answer.
fn prepare(params: &Map<String, Value>) -> Result<Prepared, Value> {
    let requested = read_absolute_path(params.get("path")).map_err(|e| e.to_json())?;
    let max_entries = clamp_max_entries(params.get("maxEntries"));
    let offset = parse_page_offset(params.get("pageToken"));
    let (canonical, identity) =
        resolve_bound_read_directory(params, &requested, classify, "path not found").map_err(|e| e.to_json())?;
    if flag(params, "preflightOnly") {
        let mut out = Map::new();
        out.insert("ok".into(), json!(true));
        out.insert("path".into(), json!(canonical));
        out.insert("entries".into(), json!([]));
        out.insert("truncated".into(), json!(false));
        out.insert("preflight".into(), json!(true));
        out.insert("binding".into(), identity.existing_binding());
        return Err(Value::Object(out));
    }
    Ok(Prepared { canonical, identity, offset, max_entries })
}

/// How the listing failed, as upstream's parent sees its child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFailure {
    /// Exit 78: the directory at the path is no longer the authorized one.
    IdentityChanged,
    /// Anything else (an unreadable directory, an entry gone before its `lstat`, too much
    /// output, the timeout).
    Failed,
}

/// One listed entry, as upstream's child reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedEntry {
    /// The name as Node decodes it (invalid UTF-8 becomes U+FFFD).
    pub name: String,
    /// `lstat(name).isDirectory()`.
    pub is_dir: bool,
    /// `lstat(name).size`.
    pub size: f64,
    /// `lstat(name).mtimeMs`.
    pub mtime_ms: f64,
}

/// A page and the directory's entry count.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The entries of the page, in order.
    pub entries: Vec<ListedEntry>,
    /// How many entries the directory has.
    pub total: usize,
}

/// Opens `canonical` as upstream's child enters it (`chdir` follows symlinks) and checks that
/// it is still the authorized directory: same real path, same identity. The descriptor is
/// what everything after reads, so nothing swapped in later is seen.
pub fn open_bound_directory(canonical: &str, identity: &Identity) -> Result<OwnedFd, ListFailure> {
    let fd = nix::fcntl::open(
        canonical,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        Mode::empty(),
    )
    .map_err(|_| ListFailure::Failed)?;
    let st = fstat(&fd).map_err(|_| ListFailure::Failed)?;
    // A removed directory has no path: upstream's `realpath(".")` throws (exit 1).
    if st.st_nlink == 0 {
        return Err(ListFailure::Failed);
    }
    let real = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|_| ListFailure::Failed)?;
    if real.as_os_str().as_bytes() != canonical.as_bytes() {
        return Err(ListFailure::IdentityChanged);
    }
    if st.st_dev != identity.device || st.st_ino != identity.inode {
        return Err(ListFailure::IdentityChanged);
    }
    Ok(fd)
}

/// The entry names of the directory open at `fd` (without `.` and `..`), in the order Node's
/// `readdir` returns them (libuv sorts by bytes), with their raw bytes.
pub fn read_names(fd: &OwnedFd) -> nix::Result<Vec<(Vec<u8>, String)>> {
    let dup = fd.as_fd().try_clone_to_owned().map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(0)))?;
    let mut dir = nix::dir::Dir::from_fd(dup)?;
    let mut names = Vec::new();
    for entry in dir.iter() {
        let entry = entry?;
        let bytes = entry.file_name().to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        names.push((bytes.to_vec(), String::from_utf8_lossy(bytes).into_owned()));
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(names)
}

/// Upstream's listing child, through the bound descriptor: every name, sorted by
/// `localeCompare`, and the `lstat` of each name of the page.
pub fn list_page(canonical: &str, identity: &Identity, offset: f64, max_entries: u64) -> Result<Page, ListFailure> {
    let fd = open_bound_directory(canonical, identity)?;
    list_open_directory(&fd, offset, max_entries)
}

/// The page of the directory open at `fd`: every name sorted, each name of the page
/// `lstat`ed relative to `fd`.
pub fn list_open_directory(fd: &OwnedFd, offset: f64, max_entries: u64) -> Result<Page, ListFailure> {
    let mut names = read_names(fd).map_err(|_| ListFailure::Failed)?;
    names.sort_by_cached_key(|(_, name)| sort_key(name));
    let total = names.len();
    let start = (offset as usize).min(total);
    let end = ((offset + max_entries as f64) as usize).min(total);
    let mut entries = Vec::with_capacity(end.saturating_sub(start));
    for (_, name) in &names[start..end] {
        // Node stats the decoded name: a name that was not UTF-8 is not found.
        let st = fstatat(fd, OsStr::from_bytes(name.as_bytes()), AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|_| ListFailure::Failed)?;
        entries.push(ListedEntry {
            name: name.clone(),
            is_dir: (st.st_mode & libc_mode::S_IFMT) == libc_mode::S_IFDIR,
            size: st.st_size as f64,
            mtime_ms: st.st_mtime as f64 * 1e3 + st.st_mtime_nsec as f64 / 1e6,
        });
    }
    let page = Page { entries, total };
    if worker_output_len(&page) > MAX_OUTPUT_BYTES {
        return Err(ListFailure::Failed);
    }
    Ok(page)
}

/// The file-type bits of `st_mode`.
mod libc_mode {
    pub const S_IFMT: u32 = 0o170000;
    pub const S_IFDIR: u32 = 0o040000;
}

/// The length of what upstream's child prints for `page` (it is killed past 8 MiB).
fn worker_output_len(page: &Page) -> usize {
    let entries: Vec<Value> = page
        .entries
        .iter()
        .map(|e| {
            json!({"name": e.name, "isDirectory": e.is_dir, "size": js_number(e.size), "mtimeMs": js_number(e.mtime_ms)})
        })
        .collect();
    json!({"entries": entries, "total": page.total}).to_string().len()
}

/// Steps 5–7: the failure answers, or the page.
fn finish(
    canonical: &str,
    identity: &Identity,
    offset: f64,
    max_entries: u64,
    listed: Result<Page, ListFailure>,
) -> Result<Value, FileError> {
    let page = match listed {
        Ok(page) => page,
        Err(ListFailure::IdentityChanged) => {
            return Err(FileError::at(
                "CANONICAL_PATH_CHANGED",
                "canonical path differs from the authorized target",
                canonical,
            ))
        }
        Err(ListFailure::Failed) => {
            stat_required_directory(canonical, classify)?;
            return Err(FileError::at("READ_ERROR", "list failed", canonical));
        }
    };
    let next = offset + max_entries as f64;
    let truncated = next < page.total as f64;
    let entries: Vec<Value> = page
        .entries
        .into_iter()
        .map(|e| {
            let path = if canonical == "/" { format!("/{}", e.name) } else { format!("{canonical}/{}", e.name) };
            let mime_type = if e.is_dir { "inode/directory" } else { mime::for_listing(&e.name) };
            let mut out = Map::new();
            out.insert("name".into(), json!(e.name));
            out.insert("path".into(), json!(path));
            out.insert("size".into(), js_number(if e.is_dir { 0.0 } else { e.size }));
            out.insert("mimeType".into(), json!(mime_type));
            out.insert("isDir".into(), json!(e.is_dir));
            out.insert("mtime".into(), js_number(e.mtime_ms));
            Value::Object(out)
        })
        .collect();
    let mut out = Map::new();
    out.insert("ok".into(), json!(true));
    out.insert("path".into(), json!(canonical));
    out.insert("entries".into(), Value::Array(entries));
    if truncated {
        out.insert("nextPageToken".into(), json!(js_integer_text(next)));
    }
    out.insert("truncated".into(), json!(truncated));
    out.insert("binding".into(), identity.existing_binding());
    Ok(Value::Object(out))
}

/// `String(n)` of a non-negative integral double below 1e21.
fn js_integer_text(n: f64) -> String {
    format!("{}", n as u128)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rule (upstream's `clampMaxEntries`): maxEntries defaults to 200 unless a positive
    /// number, floors, caps at 5000.
    #[test]
    fn max_entries_clamps_as_upstream() {
        let c = |v: Value| clamp_max_entries(Some(&v));
        assert_eq!(c(json!(0.5)), 0);
        assert_eq!(c(json!(0)), 200);
        assert_eq!(c(json!(-3)), 200);
        assert_eq!(c(json!("10")), 200);
        assert_eq!(c(json!(7.9)), 7);
        assert_eq!(c(json!(1e9)), 5000);
        assert_eq!(clamp_max_entries(None), 200);
    }

    /// Rule (upstream's `parsePageOffset`): pageToken is a trimmed `[+-]?\d+` string naming a
    /// safe integer ≥ 0.
    #[test]
    fn page_tokens_parse_as_upstream() {
        let p = |v: Value| parse_page_offset(Some(&v));
        assert_eq!(p(json!(" 3 ")), 3.0);
        assert_eq!(p(json!("+3")), 3.0);
        assert_eq!(p(json!("003")), 3.0);
        assert_eq!(p(json!("-0")), 0.0);
        assert_eq!(p(json!("-1")), 0.0);
        assert_eq!(p(json!("1.0")), 0.0);
        assert_eq!(p(json!("9007199254740991")), 9007199254740991.0);
        assert_eq!(p(json!("9007199254740992")), 0.0);
        assert_eq!(p(json!(3)), 0.0);
        assert_eq!(p(json!("\u{a0}4\n")), 4.0);
    }

    /// Rule (upstream's list worker and the paging in `handleDirList`): entries are sorted by
    /// localeCompare, the page is a slice, only the page is stat'ed, and truncation and the next
    /// token follow the offset.
    #[test]
    fn pages_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for name in ["b", "A", "a", "_x", "10", "9"] {
            std::fs::write(root.join(name), name).unwrap();
        }
        std::fs::create_dir(root.join("d")).unwrap();
        let canonical = root.to_string_lossy().into_owned();
        let identity = Identity::of(&std::fs::metadata(&root).unwrap());
        let page = list_page(&canonical, &identity, 1.0, 3).unwrap();
        let names: Vec<&str> = page.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["10", "9", "a"]);
        assert_eq!(page.total, 7);
        let out = finish(&canonical, &identity, 1.0, 3, Ok(page)).unwrap();
        assert_eq!(out["nextPageToken"], "4");
        assert_eq!(out["truncated"], true);
        let other = Identity { device: identity.device, inode: identity.inode + 1 };
        assert_eq!(list_page(&canonical, &other, 0.0, 3), Err(ListFailure::IdentityChanged));
    }

    /// Rule (the list worker's re-check, exit 78): the directory checked is the one listed, even
    /// when the path is swapped for another directory (or a symlink) after the check.
    #[test]
    fn lists_the_checked_directory_after_a_swap() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let target = root.join("d");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("original"), "1").unwrap();
        let canonical = target.to_string_lossy().into_owned();
        let identity = Identity::of(&std::fs::metadata(&target).unwrap());
        let fd = open_bound_directory(&canonical, &identity).unwrap();
        std::fs::rename(&target, root.join("moved")).unwrap();
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("impostor"), "2").unwrap();
        let page = list_open_directory(&fd, 0.0, 10).unwrap();
        assert_eq!(page.entries.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["original"]);
        // A fresh check sees the swap: the path's directory is another one.
        assert_eq!(list_page(&canonical, &identity, 0.0, 10), Err(ListFailure::IdentityChanged));
        // A path now a symlink to the original: its real path moved.
        std::fs::remove_dir_all(&target).unwrap();
        std::os::unix::fs::symlink(root.join("moved"), &target).unwrap();
        assert_eq!(list_page(&canonical, &identity, 0.0, 10), Err(ListFailure::IdentityChanged));
    }
}
