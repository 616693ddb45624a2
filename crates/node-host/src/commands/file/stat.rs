//! `file.stat`: the canonical path, type, size, modification time and filesystem identity of
//! one file or directory (upstream's `handleFileStat`; the shared node-side rules and the
//! `file.stat` row of `../shared/spec/node-commands.md` A3–A8).
//!
//! Upstream's steps, in order: the path must be absolute; it is resolved to its real path
//! (with `followSymlinks` false any difference, a trailing `/` included, is refused as a
//! symlink redirect); an `expectedCanonicalPath` is checked against it **before** opening;
//! `lstat` refuses anything but a regular file or a directory; the target is opened
//! read-only and pinned ([`super::open::open_metadata_target`]), so stat needs read
//! permission on the target itself; the opened real path must still be the canonical one;
//! an `expectedBinding` must be the descriptor's device and inode. Everything reported comes
//! from `fstat` on that descriptor.
//!
//! Params are the parsed `paramsJSON` when it is an object, else `{}` (`null`, arrays and
//! numbers included), and a missing `paramsJSON` is `{}` too.

use openclaw_protocol::node::InvokeError;
use serde_json::{json, Map, Value};

use super::open::{open_metadata_target, Kind};
use super::{
    check_existing_binding, classify_safe_read, flag, js_number, mtime_ms_from_ns, params_object, payload,
    read_absolute_path, reject_canonical_path_change, resolve_canonical_read_path, FileError, FsFailure, Identity,
};
use crate::invoke::{Command, InvokeContext};
use crate::offload::{off_thread, Lane};
use crate::params::{FromParams, Params};

/// Reports one file's or directory's metadata and identity.
#[derive(Clone)]
pub struct FileStat;

/// The params object as upstream reads it (anything but an object is `{}`).
#[derive(Debug, Clone, PartialEq)]
pub struct StatParams(pub Map<String, Value>);

impl FromParams for StatParams {
    /// A missing `paramsJSON` is `{}`.
    const OPTIONAL: bool = true;

    fn from_params(params: Params) -> Result<Self, InvokeError> {
        params_object(params.value(), false).map(StatParams)
    }
}

impl Command for FileStat {
    const NAME: &'static str = "file.stat";
    const CAP: &'static str = "file";
    type Params = StatParams;

    async fn run(&self, _cx: InvokeContext, params: StatParams) -> Result<Value, InvokeError> {
        off_thread(Lane::Lookup, "file.stat", move || payload(stat(&params.0)))
            .await
            .map_err(|e| InvokeError::unavailable(e.to_string()))
    }
}

/// `file.stat`'s `classifyError`: a missing component (`ENOENT`, `ENOTDIR`) is `NOT_FOUND`.
pub fn classify(failure: &FsFailure) -> &'static str {
    classify_safe_read(failure).unwrap_or(match failure.errno_name().as_deref() {
        Some("ENOENT" | "ENOTDIR") => "NOT_FOUND",
        Some("EACCES" | "EPERM") => "PERMISSION_DENIED",
        _ => "READ_ERROR",
    })
}

/// The command's steps (module doc).
pub fn stat(params: &Map<String, Value>) -> Result<Value, FileError> {
    let requested = read_absolute_path(params.get("path"))?;
    let canonical =
        resolve_canonical_read_path(&requested, flag(params, "followSymlinks"), classify, "path not found")?;
    reject_canonical_path_change(params.get("expectedCanonicalPath"), &canonical)?;
    let metadata_failure =
        |f: FsFailure| FileError::at(classify(&f), "could not read file metadata", canonical.as_str());
    let candidate =
        std::fs::symlink_metadata(&canonical).map_err(|e| metadata_failure(FsFailure::os(e, "lstat", &*canonical)))?;
    let kind = if candidate.is_dir() {
        Kind::Directory
    } else if candidate.is_file() {
        Kind::File
    } else {
        return Err(FileError::at(
            "UNSUPPORTED_FILE_TYPE",
            "only regular files and directories are supported",
            canonical.as_str(),
        ));
    };
    let opened = open_metadata_target(&canonical, kind)
        .map_err(|f| FileError::at(classify(&f), "could not open the metadata target", canonical.as_str()))?;
    reject_canonical_path_change(Some(&json!(canonical)), &opened.real_path)?;
    let meta = opened.file.metadata().map_err(|e| metadata_failure(FsFailure::os(e, "fstat", &*canonical)))?;
    let identity = Identity::of(&meta);
    check_existing_binding(params.get("expectedBinding"), &identity, &canonical)?;
    let mut out = Map::new();
    out.insert("ok".into(), json!(true));
    out.insert("path".into(), json!(opened.real_path));
    out.insert("type".into(), json!(if meta.is_dir() { "directory" } else { "file" }));
    out.insert("size".into(), json!(meta.len()));
    out.insert("mtimeMs".into(), js_number(mtime_ms_from_ns(&meta)));
    out.insert("binding".into(), identity.existing_binding());
    if flag(params, "preflightOnly") {
        out.insert("preflightOnly".into(), json!(true));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(params: Value) -> Value {
        payload(stat(params.as_object().unwrap()))
    }

    /// Rule (`file.stat`'s success result): its shape and key order, preflight adding only
    /// `preflightOnly`.
    #[test]
    fn reports_a_file_as_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().to_string_lossy().into_owned();
        let f = format!("{root}/f.txt");
        std::fs::write(&f, "hello").unwrap();
        let v = run(json!({"path": f, "preflightOnly": true}));
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["ok", "path", "type", "size", "mtimeMs", "binding", "preflightOnly"]);
        assert_eq!(v["size"], 5);
        assert_eq!(v["type"], "file");
        let bound = run(json!({"path": f, "expectedCanonicalPath": f, "expectedBinding": v["binding"]}));
        assert_eq!(bound["ok"], true);
        assert!(bound.get("preflightOnly").is_none());
        let d = run(json!({"path": root}));
        assert_eq!(d["type"], "directory");
    }

    /// Rule (`file.stat`'s `classifyError` over `classifyFsSafeReadError`): file.stat's own
    /// error texts and codes.
    #[test]
    fn errors_as_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().to_string_lossy().into_owned();
        std::fs::write(format!("{root}/f"), "x").unwrap();
        assert_eq!(
            run(json!({"path": format!("{root}/f/x")})),
            json!({"ok": false, "code": "NOT_FOUND", "message": "path not found"}),
            "ENOTDIR is NOT_FOUND for file.stat"
        );
        assert_eq!(run(json!({"path": "rel"}))["message"], "path must be absolute");
        assert_eq!(
            run(json!({"path": "/dev/null"})),
            json!({"ok": false, "code": "UNSUPPORTED_FILE_TYPE",
                   "message": "only regular files and directories are supported", "canonicalPath": "/dev/null"})
        );
        let changed = run(json!({"path": format!("{root}/f"), "expectedCanonicalPath": "/elsewhere"}));
        assert_eq!(changed["code"], "CANONICAL_PATH_CHANGED");
        assert_eq!(changed["message"], "canonical path differs from the authorized target");
        let rebound = run(json!({"path": format!("{root}/f"), "expectedBinding": null}));
        assert_eq!(rebound["message"], "filesystem identity differs from the authorized target");
    }
}
