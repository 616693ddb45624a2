//! `file.write`: write base64 content to an absolute path, as upstream's file-transfer plugin
//! serves it (`handleFileWrite`, summarised in `../shared/spec/node-commands.md` A3–A8; the
//! differential test `crates/cli/tests/interop_file_write.rs` pins the details).
//!
//! A call runs in three shapes. A **preflight** (`preflightOnly`) resolves and checks
//! everything and reports the canonical target and a write binding (upstream's
//! `captureWriteBinding`): the nearest existing ancestor directory, plus the target file when
//! it exists. The gateway authorises that, then sends the **bound** call carrying the binding
//! (`writeBoundTarget`): an existing target is rewritten in place through a descriptor whose
//! identity was checked, a new one is created beneath the anchor's descriptor, so anything
//! swapped in between is refused as `CANONICAL_PATH_CHANGED`. Without a binding, the
//! **unbound** write (fs-safe's `root(parentDir).write`, or `.create` without `overwrite`)
//! stages a `.fs-safe-<uuid>.tmp` sibling and renames it into place.
//!
//! Validation (the checks `handleFileWrite` makes before touching the filesystem) happens
//! while the params are decoded: the content is decoded once, its base64 text dropped, so at
//! most the text and the bytes are ever held together. The rest runs off the runtime thread
//! ([`Lane::Lookup`]).

mod paths;
mod publish;
pub mod strict_base64;

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use openclaw_protocol::node::InvokeError;
use serde_json::{json, Map, Value};

use self::paths::{
    basename, canonical_for_symlink_error, canonical_from_existing_ancestor, capture_write_binding, mkdir_recursive,
    node_message, relative, resolve_for_write, ResolveFailure, Thrown,
};
use super::{
    identity_changed, read_path_binding, reject_canonical_path_change, sha256_hex, Binding, FileError, FsFailure,
    Identity, Outcome, SYMLINK_REJECTED_WRITE,
};
use crate::invoke::{Command, InvokeContext};
use crate::offload::{off_thread_within, Lane};
use crate::params::{FromParams, Params};

/// The largest decoded content upstream accepts (16 MiB).
pub const MAX_CONTENT_BYTES: usize = 16 * 1024 * 1024;

/// How long a write may take before the invoke gives up on it: writing and syncing 16 MiB on
/// a slow disk takes far longer than a lookup, and giving up early would report a failure
/// for a write that still completes.
const WRITE_BOUND: Duration = Duration::from_secs(120);

/// Writes one file (cap `file`).
#[derive(Clone)]
pub struct FileWrite;

/// A validated request: everything the filesystem steps need, the content decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRequest {
    /// `path` as sent (absolute, without NUL).
    pub path: String,
    /// The decoded content.
    pub bytes: Vec<u8>,
    /// `overwrite === true`.
    pub overwrite: bool,
    /// `createParents === true`.
    pub create_parents: bool,
    /// `followSymlinks === true`.
    pub follow_symlinks: bool,
    /// `preflightOnly === true`.
    pub preflight_only: bool,
    /// `rejectHardlinks === true`.
    pub reject_hardlinks: bool,
    /// `expectedSha256` when a non-empty string.
    pub expected_sha256: Option<String>,
    /// `expectedCanonicalPath` as sent.
    pub expected_canonical_path: Option<Value>,
    /// `expectedBinding` as sent (`null` included: it counts as supplied).
    pub expected_binding: Option<Value>,
}

/// The params after validation: a request to carry out, or the in-result refusal of invalid ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteParams {
    /// Valid: write.
    Ready(Box<WriteRequest>),
    /// Invalid path or content: this result, with no filesystem access.
    Refused(FileError),
}

impl FromParams for WriteParams {
    /// Upstream reads a missing `paramsJSON` as `{}` (and `null` with optional chaining).
    const OPTIONAL: bool = true;

    fn from_params(params: Params) -> Result<Self, InvokeError> {
        let mut fields = match params.into_value() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Ok(match validate(&mut fields) {
            Ok(request) => WriteParams::Ready(Box::new(request)),
            Err(refusal) => WriteParams::Refused(refusal),
        })
    }
}

/// `handleFileWrite`'s checks in order: the path, then the content's presence, structure, size
/// and canonical form. The content is taken out of `fields` and dropped once decoded.
fn validate(fields: &mut Map<String, Value>) -> Result<WriteRequest, FileError> {
    let flag = |fields: &Map<String, Value>, key: &str| fields.get(key) == Some(&Value::Bool(true));
    let path = fields.get("path").and_then(Value::as_str).unwrap_or_default().to_string();
    if path.is_empty() {
        return Err(FileError::new("INVALID_PATH", "path is required"));
    }
    if path.contains('\0') {
        return Err(FileError::new("INVALID_PATH", "path must not contain NUL bytes"));
    }
    if !path.starts_with('/') {
        return Err(FileError::new("INVALID_PATH", "path must be absolute"));
    }
    let Some(Value::String(content)) = fields.remove("contentBase64").filter(Value::is_string) else {
        return Err(FileError::new("INVALID_BASE64", "contentBase64 is required"));
    };
    let invalid = || FileError::new("INVALID_BASE64", "contentBase64 is not valid base64");
    let size = strict_base64::inspect(&content).ok_or_else(invalid)?;
    if size > MAX_CONTENT_BYTES {
        return Err(FileError::new(
            "FILE_TOO_LARGE",
            format!("decoded content is {size} bytes; maximum is {MAX_CONTENT_BYTES} bytes (16 MB)"),
        ));
    }
    let bytes = strict_base64::decode(&content, size).ok_or_else(invalid)?;
    drop(content);
    Ok(WriteRequest {
        path,
        bytes,
        overwrite: flag(fields, "overwrite"),
        create_parents: flag(fields, "createParents"),
        follow_symlinks: flag(fields, "followSymlinks"),
        preflight_only: flag(fields, "preflightOnly"),
        reject_hardlinks: flag(fields, "rejectHardlinks"),
        expected_sha256: fields
            .get("expectedSha256")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from),
        expected_canonical_path: fields.remove("expectedCanonicalPath"),
        expected_binding: fields.remove("expectedBinding"),
    })
}

impl Command for FileWrite {
    const NAME: &'static str = "file.write";
    const CAP: &'static str = "file";
    type Params = WriteParams;

    async fn run(&self, _cx: InvokeContext, params: WriteParams) -> Result<Value, InvokeError> {
        let request = match params {
            WriteParams::Refused(refusal) => return Ok(refusal.to_json()),
            WriteParams::Ready(request) => request,
        };
        off_thread_within(Lane::Lookup, "writing a file", WRITE_BOUND, move || handle(*request))
            .await
            .map_err(|e| InvokeError::unavailable(e.to_string()))?
    }
}

/// Why the steps stopped: an in-result failure, or what upstream throws.
enum Stop {
    Result(FileError),
    Thrown(Thrown),
}

impl From<FileError> for Stop {
    fn from(e: FileError) -> Self {
        Stop::Result(e)
    }
}

impl From<Thrown> for Stop {
    fn from(t: Thrown) -> Self {
        Stop::Thrown(t)
    }
}

/// Runs the filesystem steps of a validated request.
pub fn handle(request: WriteRequest) -> Outcome {
    match steps(&request) {
        Ok(payload) => Ok(payload),
        Err(Stop::Result(e)) => Ok(e.to_json()),
        Err(Stop::Thrown(Thrown(text))) => Err(InvokeError::invalid_request(text)),
    }
}

/// The write variant of the symlink refusal, with the canonical path when one is known.
fn symlink_redirect(canonical: Option<String>) -> Stop {
    Stop::Result(FileError {
        code: "SYMLINK_REDIRECT",
        message: SYMLINK_REJECTED_WRITE.into(),
        canonical_path: canonical,
    })
}

/// `resolveAbsolutePathForWrite` as the handler calls it: a symlink refusal is a result,
/// anything else is thrown.
fn resolve_or_stop(path: &str, follow: bool) -> Result<paths::WriteTarget, Stop> {
    resolve_for_write(path, follow).map_err(|failure| match failure {
        ResolveFailure::Symlink(cause) => symlink_redirect(canonical_for_symlink_error(cause, path)),
        ResolveFailure::Thrown(t) => Stop::Thrown(t),
    })
}

/// `writeFsSafeError`: fs-safe's refusals as results naming the lexical target.
fn write_fs_safe_error(code: &str, message: &str, target: &str) -> FileError {
    match code {
        "symlink" => FileError::new(
            "SYMLINK_TARGET_DENIED",
            format!("path is a symlink; refusing to write through it: {target}"),
        ),
        "not-file" => FileError::new("IS_DIRECTORY", format!("path resolves to a directory: {target}")),
        "already-exists" => {
            FileError::new("EXISTS_NO_OVERWRITE", format!("file already exists and overwrite is false: {target}"))
        }
        _ => FileError::at("WRITE_ERROR", message, target),
    }
}

/// The success payload: `{ok, path, size, sha256, overwritten, binding, rejectHardlinks?}`.
fn written(path: &str, size: usize, sha256: &str, overwritten: bool, binding: Value, reject_hardlinks: bool) -> Value {
    let mut m = Map::new();
    m.insert("ok".into(), json!(true));
    m.insert("path".into(), json!(path));
    m.insert("size".into(), json!(size));
    m.insert("sha256".into(), json!(sha256));
    m.insert("overwritten".into(), json!(overwritten));
    m.insert("binding".into(), binding);
    if reject_hardlinks {
        m.insert("rejectHardlinks".into(), json!(true));
    }
    Value::Object(m)
}

/// The integrity check against the new content (upstream's `expectedSha256` comparison, made
/// after the target checks, or before them in a preflight that must create parents).
fn check_sha256(request: &WriteRequest, computed: &str, target: &str) -> Result<(), FileError> {
    match &request.expected_sha256 {
        Some(expected) if expected.to_lowercase() != computed => Err(FileError::at(
            "INTEGRITY_FAILURE",
            format!("sha256 mismatch: expected {}, got {computed}", expected.to_lowercase()),
            target,
        )),
        _ => Ok(()),
    }
}

/// Resolution, target checks, preflight answer and write, in the step order of upstream's
/// `handleFileWrite`.
fn steps(request: &WriteRequest) -> Result<Value, Stop> {
    let follow = request.follow_symlinks;
    let resolved = resolve_or_stop(&request.path, follow)?;
    let target = resolved.path.as_str();
    let canonical = canonical_from_existing_ancestor(target)?;
    reject_canonical_path_change(request.expected_canonical_path.as_ref(), &canonical)?;
    let binding = match &request.expected_binding {
        None => None,
        Some(value) => match read_path_binding(value) {
            Some(b @ Binding::Write { .. }) => Some(b),
            _ => return Err(identity_changed(&canonical).into()),
        },
    };
    let size = request.bytes.len();
    if !resolved.parent_exists {
        if !request.create_parents {
            let message = format!("parent directory does not exist: {}", resolved.parent_dir);
            return Err(FileError::new("PARENT_NOT_FOUND", message).into());
        }
        if request.preflight_only {
            let sha256 = sha256_hex(&request.bytes);
            check_sha256(request, &sha256, target)?;
            let binding = capture_write_binding(&canonical, None)?;
            return Ok(written(&canonical, size, &sha256, false, binding, request.reject_hardlinks));
        }
        if binding.is_none() {
            mkdir_recursive(&resolved.parent_dir).map_err(|message| {
                FileError::new("WRITE_ERROR", format!("failed to create parent directories: {message}"))
            })?;
        }
    }
    resolve_or_stop(target, follow)?;
    let existing = match std::fs::symlink_metadata(target) {
        Ok(meta) => {
            if meta.file_type().is_symlink() {
                let message = format!("path is a symlink; refusing to write through it: {target}");
                return Err(FileError::new("SYMLINK_TARGET_DENIED", message).into());
            }
            if meta.is_dir() {
                return Err(FileError::new("IS_DIRECTORY", format!("path resolves to a directory: {target}")).into());
            }
            if !request.overwrite {
                let message = format!("file already exists and overwrite is false: {target}");
                return Err(FileError::new("EXISTS_NO_OVERWRITE", message).into());
            }
            if request.reject_hardlinks && meta.nlink() > 1 {
                return Err(
                    FileError::new("HARDLINK_TARGET_DENIED", "refusing to overwrite a file with hard links").into()
                );
            }
            Some(Identity::of(&meta))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            let message = node_message(&e, "lstat", target);
            return Err(if message.to_lowercase().contains("permission") {
                FileError::new("PERMISSION_DENIED", format!("permission denied: {target}"))
            } else {
                FileError::new("WRITE_ERROR", format!("unexpected stat error: {message}"))
            }
            .into());
        }
    };
    let overwritten = existing.is_some();
    let sha256 = sha256_hex(&request.bytes);
    check_sha256(request, &sha256, target)?;
    if request.preflight_only {
        let binding = capture_write_binding(&canonical, existing)?;
        return Ok(written(&canonical, size, &sha256, overwritten, binding, request.reject_hardlinks));
    }
    let (path, overwritten, identity) = match binding {
        Some(Binding::Write { anchor_path, anchor_device, anchor_inode, target: pair }) => match pair {
            Some((device, inode)) if !device.is_empty() && !inode.is_empty() => {
                let identity = bound_overwrite(request, &canonical, (&device, &inode))?;
                (canonical.clone(), true, identity)
            }
            _ => {
                let w = bound_create(request, &canonical, &anchor_path, (&anchor_device, &anchor_inode))?;
                (w.path, false, w.identity)
            }
        },
        _ => {
            let w = unbound_write(request, target, &resolved.parent_dir)?;
            (w.path, overwritten, w.identity)
        }
    };
    Ok(written(&path, size, &sha256, overwritten, identity.existing_binding(), false))
}

/// Whether `identity` is the one a binding names (decimal strings, compared exactly).
fn same_identity(identity: &Identity, (device, inode): (&str, &str)) -> bool {
    identity.device.to_string() == device && identity.inode.to_string() == inode
}

/// Upstream's `writeBoundTarget` with a target pair: open the canonical target read-write,
/// check on the descriptor that it is the bound regular file, rewrite it in place and sync.
fn bound_overwrite(request: &WriteRequest, canonical: &str, expected: (&str, &str)) -> Result<Identity, Stop> {
    let file = publish::open_bound_target(canonical).map_err(|_| identity_changed(canonical))?;
    let meta = file.metadata().map_err(|e| Thrown::os(e, "fstat", canonical))?;
    let identity = Identity::of(&meta);
    if !meta.is_file() || !same_identity(&identity, expected) {
        return Err(identity_changed(canonical).into());
    }
    if request.reject_hardlinks && meta.nlink() > 1 {
        return Err(FileError::new("HARDLINK_TARGET_DENIED", "refusing to overwrite a file with hard links").into());
    }
    publish::overwrite_in_place(&file, &request.bytes).map_err(Thrown)?;
    Ok(identity)
}

/// Upstream's `writeBoundTarget` without a target pair (`openBoundWriteRoot`, then
/// `create`): the anchor must still be the bound directory (checked on its descriptor), the
/// target must lie beneath it, and is created there exclusively.
fn bound_create(
    request: &WriteRequest,
    canonical: &str,
    anchor_path: &str,
    expected: (&str, &str),
) -> Result<publish::Written, Stop> {
    let changed = || Stop::from(identity_changed(canonical));
    let anchor_real = std::fs::canonicalize(anchor_path).map_err(|_| changed())?.to_string_lossy().into_owned();
    let anchor = publish::open_root(&anchor_real).map_err(|_| changed())?;
    let meta = nix::sys::stat::fstat(anchor.as_fd()).map_err(|_| changed())?;
    let identity = Identity { device: meta.st_dev, inode: meta.st_ino };
    if !same_identity(&identity, expected) {
        return Err(changed());
    }
    let rel = relative(&anchor_real, canonical);
    if rel.is_empty() || rel.starts_with('/') || rel == ".." || rel.starts_with("../") {
        return Err(FileError::new("WRITE_ERROR", "write target is outside the authorized anchor").into());
    }
    publish::create_beneath(&anchor, &anchor_real, &rel, &request.bytes).map_err(|failure| match failure {
        FsFailure::Safe("already-exists", _) => changed(),
        FsFailure::Safe(code, message) => write_fs_safe_error(code, &message, canonical).into(),
        os => FileError::new("WRITE_ERROR", format!("failed to write file: {os}")).into(),
    })
}

/// The unbound write at the end of upstream's `handleFileWrite`: the parent directory as an
/// fs-safe root (thrown when it is gone), then the staged write of the target's name in it.
fn unbound_write(request: &WriteRequest, target: &str, parent_dir: &str) -> Result<publish::Written, Stop> {
    let not_found = || Stop::Thrown(Thrown("FsSafeError: root dir not found".into()));
    let is_not_found = |e: &std::io::Error| matches!(e.raw_os_error(), Some(nix::libc::ENOENT | nix::libc::ENOTDIR));
    let root_real = match std::fs::canonicalize(parent_dir) {
        Ok(p) => p.to_string_lossy().into_owned(),
        Err(e) if is_not_found(&e) => return Err(not_found()),
        Err(e) => return Err(Thrown::os(e, "realpath", parent_dir).into()),
    };
    match std::fs::metadata(&root_real) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(Stop::Thrown(Thrown("FsSafeError: root dir is not a directory".into()))),
        Err(e) if is_not_found(&e) => return Err(not_found()),
        Err(e) => return Err(Thrown::os(e, "stat", &root_real).into()),
    }
    let name = basename(target);
    publish::write_in_root(&root_real, name, &request.bytes, request.overwrite).map_err(|failure| match failure {
        FsFailure::Safe(code, message) => write_fs_safe_error(code, &message, target).into(),
        FsFailure::Os { error, syscall, path } => {
            let message = node_message(&error, syscall, &path);
            let lower = message.to_lowercase();
            if lower.contains("permission") || lower.contains("access") {
                FileError::new("PERMISSION_DENIED", format!("permission denied writing to: {parent_dir}")).into()
            } else {
                FileError::new("WRITE_ERROR", format!("failed to write file: {message}")).into()
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> WriteParams {
        WriteParams::from_params(Params::new(v)).unwrap()
    }

    fn refused(v: Value) -> (String, String) {
        match params(v) {
            WriteParams::Refused(e) => (e.code.to_string(), e.message),
            WriteParams::Ready(r) => panic!("accepted: {r:?}"),
        }
    }

    /// Rule (validation order): the path is checked before the content, with `file.write`'s
    /// own texts.
    #[test]
    fn validation_order_and_texts() {
        assert_eq!(refused(Value::Null), ("INVALID_PATH".into(), "path is required".into()));
        assert_eq!(refused(json!({"path": 1})), ("INVALID_PATH".into(), "path is required".into()));
        assert_eq!(refused(json!({"path": "/a\u{0}"})).1, "path must not contain NUL bytes");
        assert_eq!(refused(json!({"path": "a", "contentBase64": "!"})).1, "path must be absolute");
        assert_eq!(refused(json!({"path": "/a"})), ("INVALID_BASE64".into(), "contentBase64 is required".into()));
        assert_eq!(refused(json!({"path": "/a", "contentBase64": 5})).1, "contentBase64 is required");
        assert_eq!(refused(json!({"path": "/a", "contentBase64": "aGl="})).1, "contentBase64 is not valid base64");
        let big = "A".repeat(MAX_CONTENT_BYTES / 3 * 4 + 3);
        assert_eq!(
            refused(json!({"path": "/a", "contentBase64": big})),
            ("FILE_TOO_LARGE".into(), "decoded content is 16777217 bytes; maximum is 16777216 bytes (16 MB)".into())
        );
    }

    /// Rule (how `handleFileWrite` reads its params): flags only by a literal `true`; an empty
    /// `expectedSha256` is ignored; `expectedBinding: null` counts as supplied.
    #[test]
    fn params_are_read_as_upstream() {
        let WriteParams::Ready(r) = params(json!({"path": "/a", "contentBase64": "aGk=", "overwrite": "true",
            "createParents": true, "expectedSha256": "", "expectedBinding": null}))
        else {
            panic!("refused")
        };
        assert_eq!(r.bytes, b"hi");
        assert!(!r.overwrite && r.create_parents);
        assert_eq!(r.expected_sha256, None);
        assert_eq!(r.expected_binding, Some(Value::Null));
    }

    fn write(v: Value) -> Value {
        let WriteParams::Ready(r) = params(v) else { panic!("refused") };
        handle(*r).unwrap()
    }

    /// Rule (preflight, then `writeBoundTarget`): a preflight reports the write binding; the bound
    /// call with it rewrites the same inode; a stale binding is refused.
    #[test]
    fn preflight_then_bound_write() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path().canonicalize().unwrap().to_string_lossy().into_owned();
        let f = format!("{r}/f");
        std::fs::write(&f, "old content").unwrap();
        let pre = write(json!({"path": f, "contentBase64": "aGk=", "overwrite": true, "preflightOnly": true}));
        assert_eq!(pre["overwritten"], json!(true));
        assert_eq!(pre["binding"]["kind"], json!("write"));
        assert_eq!(std::fs::read(&f).unwrap(), b"old content", "a preflight writes nothing");
        let ino = std::fs::metadata(&f).unwrap().ino();
        let bound =
            write(json!({"path": f, "contentBase64": "aGk=", "overwrite": true, "expectedBinding": pre["binding"]}));
        assert_eq!(bound["binding"]["inode"], json!(ino.to_string()));
        assert_eq!(std::fs::read(&f).unwrap(), b"hi");
        std::fs::rename(&f, format!("{r}/f.old")).unwrap();
        std::fs::write(&f, "other").unwrap();
        let stale =
            write(json!({"path": f, "contentBase64": "aGk=", "overwrite": true, "expectedBinding": pre["binding"]}));
        assert_eq!(stale["code"], json!("CANONICAL_PATH_CHANGED"));
    }
}
