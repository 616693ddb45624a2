//! The file-transfer commands (`file.stat`, `file.fetch`, `dir.list`, `dir.fetch`,
//! `file.write`), as upstream's bundled `file-transfer` plugin serves them on a node host
//! (`../shared/spec/node-commands.md` A3–A8; the step order and every text come from the
//! plugin's handlers in `extensions/file-transfer/src/node-host/`, which each command's module
//! names).
//!
//! The node has no policy of its own: the gateway decides which paths a caller may touch, on
//! the canonical path and filesystem identity the node reports in a preflight call, and then
//! makes the real call bound to them (`expectedCanonicalPath`, `expectedBinding`). So every
//! command resolves its path the same way, reports the same binding, and re-checks both at the
//! moment it opens the file: a path swapped for a symlink between preflight and the real call
//! is refused (`CANONICAL_PATH_CHANGED`), never followed.
//!
//! Filesystem failures are results, not errors: `{ok:false, code, message, canonicalPath?}`
//! inside a successful invoke, with upstream's codes and texts (which differ per command for
//! the same errno, so each command passes its own [`Classify`]). Only what upstream throws
//! (malformed params, a few resolution errors of `file.write`) is an invoke error.
//!
//! This module holds what all five share: params reading, the read-path resolution
//! ([`resolve_canonical_read_path`]), bindings ([`Identity`], [`read_path_binding`]), the
//! directory check ([`resolve_bound_read_directory`]), JavaScript number output, MIME
//! types ([`mime`]), and JavaScript's `localeCompare` order for file names ([`collate`]).

/// `localeCompare` order, shared with the gateway (it checks `dir.fetch` entries in this order).
pub use openclaw_file_transfer::collate;
pub mod fetch;
pub mod fetch_dir;
pub mod list;
pub mod mime;
pub mod open;
pub mod stat;
pub mod write;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use openclaw_exec::node_errno;
use openclaw_protocol::node::InvokeError;
use serde_json::{json, Map, Value};

/// What a command returns: its payload (success or an in-result failure), or an invoke error
/// for what upstream throws.
pub type Outcome = Result<Value, InvokeError>;

/// An error from a filesystem step, as upstream's code sees it: one of its fs-safe library's
/// errors (by code, with its message), or an OS error with Node's rendering of it.
#[derive(Debug)]
pub enum FsFailure {
    /// An fs-safe error: its code (`not-found`, `symlink`, `not-file`, `hardlink`,
    /// `too-large`, `device-path`, `outside-workspace`, …) and message.
    Safe(&'static str, String),
    /// An OS error from a call (`syscall`) on a path: renders as Node's
    /// `Error: ENOENT: no such file or directory, stat '/x'`.
    Os {
        /// The OS error.
        error: std::io::Error,
        /// The call that failed (`stat`, `open`, `realpath`, …).
        syscall: &'static str,
        /// The path it was given.
        path: String,
    },
}

impl FsFailure {
    /// An OS error of `syscall` on `path`.
    pub fn os(error: std::io::Error, syscall: &'static str, path: impl Into<String>) -> Self {
        FsFailure::Os { error, syscall, path: path.into() }
    }

    /// The errno name of an OS error (`ENOENT`), if it is one.
    pub fn errno_name(&self) -> Option<String> {
        match self {
            FsFailure::Os { error, .. } => error.raw_os_error().map(node_errno::name),
            FsFailure::Safe(..) => None,
        }
    }

    /// The fs-safe code, if it is one.
    pub fn safe_code(&self) -> Option<&'static str> {
        match self {
            FsFailure::Safe(code, _) => Some(code),
            FsFailure::Os { .. } => None,
        }
    }
}

/// `String(err)` of the error in upstream: `FsSafeError: <message>` or
/// `Error: <CODE>: <description>, <syscall> '<path>'`.
impl std::fmt::Display for FsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FsFailure::Safe(_, message) => write!(f, "FsSafeError: {message}"),
            FsFailure::Os { error, syscall, path } => {
                write!(f, "Error: {}", node_errno::fs_error_text(error, syscall, Path::new(path)))
            }
        }
    }
}

/// A command's mapping from a failure to a result code (upstream's `classifyError` of each
/// command; they differ, e.g. `ENOTDIR` is `NOT_FOUND` only for `file.stat`).
pub type Classify = fn(&FsFailure) -> &'static str;

/// The codes every read command gives fs-safe's own errors (`classifyFsSafeReadError`), or
/// `None` to fall through to the command's errno rules.
pub fn classify_safe_read(failure: &FsFailure) -> Option<&'static str> {
    match failure.safe_code()? {
        "not-found" => Some("NOT_FOUND"),
        "symlink" => Some("SYMLINK_REDIRECT"),
        "invalid-path" => Some("INVALID_PATH"),
        _ => None,
    }
}

/// An in-result failure: `{ok:false, code, message, canonicalPath?}` in that key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// `NOT_FOUND`, `SYMLINK_REDIRECT`, …
    pub code: &'static str,
    /// Upstream's text.
    pub message: String,
    /// The canonical path, where upstream reports one.
    pub canonical_path: Option<String>,
}

impl FileError {
    /// A failure without a canonical path.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        FileError { code, message: message.into(), canonical_path: None }
    }

    /// A failure reporting `canonical_path`.
    pub fn at(code: &'static str, message: impl Into<String>, canonical_path: impl Into<String>) -> Self {
        FileError { code, message: message.into(), canonical_path: Some(canonical_path.into()) }
    }

    /// The payload.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("ok".into(), json!(false));
        m.insert("code".into(), json!(self.code));
        m.insert("message".into(), json!(self.message));
        if let Some(c) = &self.canonical_path {
            m.insert("canonicalPath".into(), json!(c));
        }
        Value::Object(m)
    }
}

/// The payload of a command whose steps return `Result<Value, FileError>`.
pub fn payload(result: Result<Value, FileError>) -> Value {
    result.unwrap_or_else(|e| e.to_json())
}

/// The read commands' symlink refusal (the write variant names `allowWritePaths`).
pub const SYMLINK_REJECTED_READ: &str = "path traverses a symlink; refusing because followSymlinks=false (set \
     plugins.entries.file-transfer.config.nodes.<node>.followSymlinks=true to allow, or update allowReadPaths to the \
     canonical path)";

/// The write commands' symlink refusal.
pub const SYMLINK_REJECTED_WRITE: &str = "path traverses a symlink; refusing because followSymlinks=false (set \
     plugins.entries.file-transfer.config.nodes.<node>.followSymlinks=true to allow, or update allowWritePaths to the \
     canonical path)";

/// The params of a file command as upstream reads them: a missing `paramsJSON` is `{}`; JSON
/// `null` throws where upstream reads `params.path` of it (`null_throws`); any other value
/// (an array, a number) has no fields.
pub fn params_object(params: &Value, null_throws: bool) -> Result<Map<String, Value>, InvokeError> {
    match params {
        Value::Object(m) => Ok(m.clone()),
        Value::Null if null_throws => {
            Err(InvokeError::invalid_request("TypeError: Cannot read properties of null (reading 'path')".to_string()))
        }
        _ => Ok(Map::new()),
    }
}

/// A flag upstream tests with `=== true`.
pub fn flag(params: &Map<String, Value>, key: &str) -> bool {
    params.get(key) == Some(&Value::Bool(true))
}

/// `readAbsolutePath` of the read commands: a non-empty string without NUL that starts with `/`.
pub fn read_absolute_path(value: Option<&Value>) -> Result<String, FileError> {
    let Some(path) = value.and_then(Value::as_str).filter(|p| !p.is_empty()) else {
        return Err(FileError::new("INVALID_PATH", "path required"));
    };
    if path.contains('\0') {
        return Err(FileError::new("INVALID_PATH", "path contains NUL byte"));
    }
    if !path.starts_with('/') {
        return Err(FileError::new("INVALID_PATH", "path must be absolute"));
    }
    Ok(path.to_string())
}

/// Node's `path.posix.normalize` of an absolute path: repeated `/` and `.` segments dropped,
/// `..` taken lexically (never above `/`), a trailing `/` kept.
pub fn posix_normalize(path: &str) -> String {
    let trailing = path.len() > 1 && path.ends_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if trailing && out != "/" {
        out.push('/');
    }
    out
}

/// fs-safe's `resolveAbsolutePathForRead`: the real path of the lexically normalised path; with
/// symlinks refused, any difference between the two (a symlink anywhere, an aliased
/// ancestor, even a trailing `/`) is a `symlink` failure carrying the real path.
pub fn resolve_absolute_path_for_read(path: &str, follow: bool) -> Result<String, (FsFailure, Option<String>)> {
    let normalized = posix_normalize(path);
    let canonical = match std::fs::canonicalize(&normalized) {
        Ok(c) => c.to_string_lossy().into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err((FsFailure::Safe("not-found", "path not found".into()), None))
        }
        Err(e) => return Err((FsFailure::os(e, "realpath", normalized), None)),
    };
    if !follow && canonical != normalized {
        return Err((FsFailure::Safe("symlink", "path traverses a symlink".into()), Some(canonical)));
    }
    Ok(canonical)
}

/// `resolveCanonicalReadPath`: the canonical path of `requested`, or the command's failure
/// (its not-found text, the read symlink text with the real path, or `realpath failed: …`).
pub fn resolve_canonical_read_path(
    requested: &str,
    follow: bool,
    classify: Classify,
    not_found_message: &str,
) -> Result<String, FileError> {
    resolve_absolute_path_for_read(requested, follow).map_err(|(failure, canonical)| {
        let code = classify(&failure);
        let message = match code {
            "NOT_FOUND" => not_found_message.to_string(),
            "SYMLINK_REDIRECT" => SYMLINK_REJECTED_READ.to_string(),
            _ => format!("realpath failed: {failure}"),
        };
        FileError { code, message, canonical_path: canonical }
    })
}

/// `rejectCanonicalPathChange`: an `expectedCanonicalPath` string that is not exactly `actual`.
pub fn reject_canonical_path_change(expected: Option<&Value>, actual: &str) -> Result<(), FileError> {
    match expected.and_then(Value::as_str) {
        Some(e) if e != actual => {
            Err(FileError::at("CANONICAL_PATH_CHANGED", "canonical path differs from the authorized target", actual))
        }
        _ => Ok(()),
    }
}

/// A filesystem object's identity: `st_dev` and `st_ino`, reported as decimal strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// `st_dev`.
    pub device: u64,
    /// `st_ino`.
    pub inode: u64,
}

impl Identity {
    /// The identity in `meta`.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        Identity { device: meta.dev(), inode: meta.ino() }
    }

    /// `{kind:"existing", device, inode}`.
    pub fn existing_binding(&self) -> Value {
        json!({"kind": "existing", "device": self.device.to_string(), "inode": self.inode.to_string()})
    }
}

/// A binding a caller sent back (`readPathBinding`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// An existing file or directory.
    Existing {
        /// `device`, as sent.
        device: String,
        /// `inode`, as sent.
        inode: String,
    },
    /// A write target: the nearest existing ancestor directory, and the target when it existed.
    Write {
        /// `anchorPath`.
        anchor_path: String,
        /// `anchorDevice`.
        anchor_device: String,
        /// `anchorInode`.
        anchor_inode: String,
        /// `(targetDevice, targetInode)`, only when both are strings.
        target: Option<(String, String)>,
    },
}

impl Binding {
    /// Whether this is an `existing` binding of `identity`.
    pub fn matches_existing(&self, identity: &Identity) -> bool {
        matches!(self, Binding::Existing { device, inode }
            if *device == identity.device.to_string() && *inode == identity.inode.to_string())
    }
}

/// `readPathBinding`: a valid binding, or `None` (which, when one was supplied at all,
/// fails as a mismatch).
pub fn read_path_binding(value: &Value) -> Option<Binding> {
    let m = value.as_object()?;
    let s = |k: &str| m.get(k).and_then(Value::as_str).map(String::from);
    match m.get("kind").and_then(Value::as_str)? {
        "existing" => Some(Binding::Existing { device: s("device")?, inode: s("inode")? }),
        "write" => {
            // Both target fields strings, or neither.
            let target = match (s("targetDevice"), s("targetInode")) {
                (Some(d), Some(i)) => Some((d, i)),
                (None, None) => None,
                _ => return None,
            };
            Some(Binding::Write {
                anchor_path: s("anchorPath")?,
                anchor_device: s("anchorDevice")?,
                anchor_inode: s("anchorInode")?,
                target,
            })
        }
        _ => None,
    }
}

/// The identity mismatch failure.
pub fn identity_changed(canonical: &str) -> FileError {
    FileError::at("CANONICAL_PATH_CHANGED", "filesystem identity differs from the authorized target", canonical)
}

/// Checks a supplied `expectedBinding` (any value, `null` included, counts as supplied)
/// against `identity` as an `existing` binding.
pub fn check_existing_binding(expected: Option<&Value>, identity: &Identity, canonical: &str) -> Result<(), FileError> {
    match expected {
        None => Ok(()),
        Some(v) if read_path_binding(v).is_some_and(|b| b.matches_existing(identity)) => Ok(()),
        Some(_) => Err(identity_changed(canonical)),
    }
}

/// `statRequiredDirectory`: the identity of the directory at `canonical` (symlinks followed),
/// or `stat failed: …` / `IS_FILE`.
pub fn stat_required_directory(canonical: &str, classify: Classify) -> Result<Identity, FileError> {
    let meta = std::fs::metadata(canonical).map_err(|e| {
        let failure = FsFailure::os(e, "stat", canonical);
        FileError::at(classify(&failure), format!("stat failed: {failure}"), canonical)
    })?;
    if !meta.is_dir() {
        return Err(FileError::at("IS_FILE", "path is not a directory", canonical));
    }
    Ok(Identity::of(&meta))
}

/// `resolveBoundReadDirectory`: resolve, check the expected canonical path, require a
/// directory, check the expected binding; returns the canonical path and its identity.
pub fn resolve_bound_read_directory(
    params: &Map<String, Value>,
    requested: &str,
    classify: Classify,
    not_found_message: &str,
) -> Result<(String, Identity), FileError> {
    let canonical =
        resolve_canonical_read_path(requested, flag(params, "followSymlinks"), classify, not_found_message)?;
    reject_canonical_path_change(params.get("expectedCanonicalPath"), &canonical)?;
    let identity = stat_required_directory(&canonical, classify)?;
    check_existing_binding(params.get("expectedBinding"), &identity, &canonical)?;
    Ok((canonical, identity))
}

/// A JavaScript number as `JSON.stringify` writes it: an integral value without `.0`.
pub fn js_number(n: f64) -> Value {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// `Number(stat.mtimeNs) / 1e6` of a bigint stat (`file.stat`'s `mtimeMs`): the exact
/// nanosecond count rounded to a double, then divided.
pub fn mtime_ms_from_ns(meta: &std::fs::Metadata) -> f64 {
    let ns = meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128;
    (ns as f64) / 1e6
}

/// `stat.mtimeMs` of a number stat (`dir.list`'s `mtime`): seconds × 1e3 + nanoseconds / 1e6
/// in double arithmetic.
pub fn mtime_ms(meta: &std::fs::Metadata) -> f64 {
    meta.mtime() as f64 * 1e3 + meta.mtime_nsec() as f64 / 1e6
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_stat(f: &FsFailure) -> &'static str {
        classify_safe_read(f).unwrap_or(match f.errno_name().as_deref() {
            Some("ENOENT" | "ENOTDIR") => "NOT_FOUND",
            Some("EACCES" | "EPERM") => "PERMISSION_DENIED",
            _ => "READ_ERROR",
        })
    }

    #[test]
    fn normalises_as_node_posix() {
        assert_eq!(posix_normalize("/etc/"), "/etc/");
        assert_eq!(posix_normalize("//a/./b/../c//"), "/a/c/");
        assert_eq!(posix_normalize("/.."), "/");
        assert_eq!(posix_normalize("/"), "/");
        assert_eq!(posix_normalize("/a/link/../b"), "/a/b");
    }

    /// Rule (upstream's `resolveCanonicalReadPath`): any difference between the path and its real
    /// path is a redirect when symlinks are refused, even a trailing slash.
    #[test]
    fn read_paths_resolve_as_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let r = root.to_string_lossy().into_owned();
        std::fs::write(root.join("f"), "x").unwrap();
        std::os::unix::fs::symlink(root.join("f"), root.join("link")).unwrap();
        let resolve = |p: &str, follow| resolve_canonical_read_path(p, follow, classify_stat, "path not found");
        assert_eq!(resolve(&format!("{r}/f"), false).unwrap(), format!("{r}/f"));
        let redirect = resolve(&format!("{r}/link"), false).unwrap_err();
        assert_eq!(redirect, FileError::at("SYMLINK_REDIRECT", SYMLINK_REJECTED_READ, format!("{r}/f")));
        assert_eq!(resolve(&format!("{r}/link"), true).unwrap(), format!("{r}/f"));
        assert_eq!(resolve(&format!("{r}/"), false).unwrap_err().canonical_path, Some(r.clone()));
        assert_eq!(resolve(&format!("{r}/nope"), false).unwrap_err(), FileError::new("NOT_FOUND", "path not found"));
        let enotdir = resolve_canonical_read_path(&format!("{r}/f/x"), false, |_| "READ_ERROR", "nf").unwrap_err();
        assert_eq!(enotdir.message, format!("realpath failed: Error: ENOTDIR: not a directory, realpath '{r}/f/x'"));
        assert_eq!(enotdir.canonical_path, None);
    }

    #[test]
    fn bindings_are_read_as_upstream() {
        let id = Identity { device: 65024, inode: 2 };
        assert_eq!(id.existing_binding(), json!({"kind": "existing", "device": "65024", "inode": "2"}));
        let existing = read_path_binding(&id.existing_binding()).unwrap();
        assert!(existing.matches_existing(&id));
        assert!(read_path_binding(&json!({"kind": "existing", "device": 1, "inode": "2"})).is_none());
        let write = json!({"kind": "write", "anchorPath": "/t", "anchorDevice": "1", "anchorInode": "2"});
        assert!(matches!(read_path_binding(&write), Some(Binding::Write { target: None, .. })));
        let half =
            json!({"kind": "write", "anchorPath": "/t", "anchorDevice": "1", "anchorInode": "2", "targetDevice": "3"});
        assert!(read_path_binding(&half).is_none(), "one target field only");
        assert!(check_existing_binding(Some(&Value::Null), &id, "/").is_err(), "null counts as supplied");
        assert!(check_existing_binding(None, &id, "/").is_ok());
    }

    #[test]
    fn numbers_print_as_javascript() {
        assert_eq!(js_number(1790052463000.0).to_string(), "1790052463000");
        assert_eq!(js_number(1796194136439.542).to_string(), "1796194136439.542");
    }
}
