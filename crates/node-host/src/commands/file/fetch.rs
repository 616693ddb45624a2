//! `file.fetch`: one regular file's content, base64 in the result, with its canonical path,
//! size, SHA-256, MIME type and filesystem identity (upstream's `handleFileFetch`; the shared
//! node-side rules and the `file.fetch` row of `../shared/spec/node-commands.md` A3–A8).
//!
//! Upstream's steps, in order: the path must be absolute; a `transport` other than
//! `"binary"` is refused, and a binary `maxBytes` must be a positive safe integer (not
//! capped); the unary `maxBytes` is clamped (default 8 MiB, at most 16 MiB, floored); a
//! `rootPath` must be absolute too and is itself never a symlink redirect. The path is
//! resolved to its real path (not found is `file not found`; `ENOTDIR` is a read error here)
//! and opened through fs-safe's root: its directory, or the `rootPath` with the path walked
//! under the root's symlink policy ([`super::open`]). Hard-linked files are refused, and
//! FIFOs, sockets and devices read as directories (`IS_DIRECTORY "path is a directory"`).
//! Only then are `expectedCanonicalPath` (**after** opening, unlike `file.stat`) and
//! `expectedBinding` checked against the opened file, the size against `maxBytes`, and the
//! content read from that same descriptor.
//!
//! Binary transport streams the file over the invoke's duplex channel. This node has no
//! duplex transport, so a binary fetch that passes every check answers as upstream does when
//! the invoke carries no duplex IO: `INVALID_PARAMS "binary file.fetch requires duplex IO and
//! an authorized filesystem binding"`. (Upstream's node host offers duplex IO to every
//! `file.fetch` and would instead wait for the gateway's stream `start`.)
//!
//! Params are the parsed `paramsJSON` as it is: JSON `null` throws as upstream's handler does
//! reading `params.path`; arrays and numbers have no fields; a missing `paramsJSON` is `{}`.

use std::io::Read;

use base64::Engine;
use openclaw_protocol::node::InvokeError;
use serde_json::{json, Map, Value};

use super::open::{basename, dirname, open_file_in_root, relative, Symlinks};
use super::{
    check_existing_binding, classify_safe_read, flag, mime, params_object, payload, read_absolute_path,
    reject_canonical_path_change, resolve_canonical_read_path, sha256_hex, FileError, FsFailure, Identity,
};
use crate::invoke::{Command, InvokeContext};
use crate::offload::{off_thread, Lane};
use crate::params::{FromParams, Params};

/// The unary `maxBytes` when none (or a non-positive one) is given.
pub const DEFAULT_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// The largest unary `maxBytes`.
pub const HARD_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Reads one file and returns it base64-encoded.
#[derive(Clone)]
pub struct FileFetch;

/// The params object as upstream reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchParams(pub Map<String, Value>);

/// What upstream's handler throws on reading `params.path` of `null`.
fn null_params() -> InvokeError {
    InvokeError::invalid_request("TypeError: Cannot read properties of null (reading 'path')".to_string())
}

impl FromParams for FetchParams {
    /// A missing `paramsJSON` is `{}` (the literal `null` is refused in [`Self::check_raw`]).
    const OPTIONAL: bool = true;

    fn from_params(params: Params) -> Result<Self, InvokeError> {
        // A missing paramsJSON decodes to `null` here; it means `{}`.
        params_object(params.value(), false).map(FetchParams)
    }

    /// `paramsJSON` that parses to `null` throws, as upstream reads `params.path` of it.
    fn check_raw(raw: &str) -> Result<(), InvokeError> {
        if raw.trim_matches([' ', '\t', '\n', '\r']) == "null" {
            return Err(null_params());
        }
        Ok(())
    }
}

impl Command for FileFetch {
    const NAME: &'static str = "file.fetch";
    const CAP: &'static str = "file";
    type Params = FetchParams;

    async fn run(&self, _cx: InvokeContext, params: FetchParams) -> Result<Value, InvokeError> {
        off_thread(Lane::Lookup, "file.fetch", move || payload(fetch(&params.0)))
            .await
            .map_err(|e| InvokeError::unavailable(e.to_string()))
    }
}

/// `file.fetch`'s `classifyFsError`.
pub fn classify(failure: &FsFailure) -> &'static str {
    match failure.safe_code() {
        Some("too-large") => return "FILE_TOO_LARGE",
        Some("not-file") => return "IS_DIRECTORY",
        _ => {}
    }
    classify_safe_read(failure).unwrap_or(match failure.errno_name().as_deref() {
        Some("ENOENT") => "NOT_FOUND",
        Some("EACCES" | "EPERM") => "PERMISSION_DENIED",
        Some("EISDIR") => "IS_DIRECTORY",
        _ => "READ_ERROR",
    })
}

/// The byte budget: `Err` for a refused transport or binary budget, `Ok((max, binary))`.
fn budget(params: &Map<String, Value>) -> Result<(u64, bool), FileError> {
    let max = params.get("maxBytes");
    match params.get("transport") {
        None => {}
        Some(Value::String(t)) if t == "binary" => {
            return match max.and_then(Value::as_f64) {
                Some(n) if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER && n > 0.0 => Ok((n as u64, true)),
                _ => Err(FileError::new(
                    "INVALID_PARAMS",
                    "Error: binary file.fetch maxBytes must be a positive safe integer",
                )),
            };
        }
        Some(_) => {
            return Err(FileError::new(
                "INVALID_PARAMS",
                "Error: file.fetch transport must be \"binary\" when supplied",
            ))
        }
    }
    Ok(match max.and_then(Value::as_f64) {
        Some(n) if n.is_finite() && n > 0.0 => ((n.floor() as u64).min(HARD_MAX_BYTES), false),
        _ => (DEFAULT_MAX_BYTES, false),
    })
}

/// The command's steps (module doc).
pub fn fetch(params: &Map<String, Value>) -> Result<Value, FileError> {
    let requested = read_absolute_path(params.get("path"))?;
    let (max_bytes, binary) = budget(params)?;
    let follow = flag(params, "followSymlinks");
    let root = match params.get("rootPath") {
        None => None,
        Some(r) => Some(read_absolute_path(Some(r))?),
    };
    let canonical = resolve_canonical_read_path(
        root.as_deref().unwrap_or(&requested),
        root.is_none() && follow,
        classify,
        "file not found",
    )?;
    let opened = match &root {
        Some(_) => {
            let policy = if follow { Symlinks::FollowParentsWithinRoot } else { Symlinks::Reject };
            open_file_in_root(&canonical, &relative(&canonical, &requested), policy)
        }
        None => open_file_in_root(dirname(&canonical), basename(&canonical), Symlinks::Reject),
    }
    .map_err(|f| {
        let code = classify(&f);
        let message =
            if code == "IS_DIRECTORY" { "path is a directory".to_string() } else { format!("open failed: {f}") };
        FileError::at(code, message, canonical.as_str())
    })?;
    let real_path = opened.real_path.clone();
    let read_failed = |f: FsFailure| FileError::at(classify(&f), format!("read failed: {f}"), real_path.as_str());
    reject_canonical_path_change(params.get("expectedCanonicalPath"), &real_path)?;
    let identity_meta = opened.file.metadata().map_err(|e| read_failed(FsFailure::os(e, "fstat", &*real_path)))?;
    let identity = Identity::of(&identity_meta);
    check_existing_binding(params.get("expectedBinding"), &identity, &real_path)?;
    let size = opened.meta.len();
    if size > max_bytes {
        return Err(FileError::at(
            "FILE_TOO_LARGE",
            format!("file size {size} exceeds limit {max_bytes}"),
            real_path.as_str(),
        ));
    }
    let mut out = Map::new();
    out.insert("ok".into(), json!(true));
    out.insert("path".into(), json!(real_path));
    if flag(params, "preflightOnly") {
        out.insert("size".into(), json!(size));
        out.insert("mimeType".into(), json!(""));
        out.insert("base64".into(), json!(""));
        out.insert("sha256".into(), json!(""));
        out.insert("preflightOnly".into(), json!(true));
        out.insert("binding".into(), identity.existing_binding());
        return Ok(Value::Object(out));
    }
    if binary {
        // No duplex IO on this node: upstream's answer for an invoke without it.
        return Err(FileError::new(
            "INVALID_PARAMS",
            "binary file.fetch requires duplex IO and an authorized filesystem binding",
        ));
    }
    // Read from the verified descriptor, at most one byte past the budget.
    let mut content = Vec::with_capacity(size.min(max_bytes) as usize + 1);
    (&opened.file)
        .take(max_bytes + 1)
        .read_to_end(&mut content)
        .map_err(|e| read_failed(FsFailure::os(e, "read", &*real_path)))?;
    if content.len() as u64 > max_bytes {
        return Err(read_failed(FsFailure::Safe(
            "too-large",
            format!("file exceeds limit of {max_bytes} bytes (got at least {})", content.len()),
        )));
    }
    out.insert("size".into(), json!(content.len()));
    out.insert("mimeType".into(), json!(mime::for_fetch(&content, &real_path)));
    // `Value::String`, not `json!`: the macro serialises a copy of the (large) string.
    out.insert("base64".into(), Value::String(base64::engine::general_purpose::STANDARD.encode(&content)));
    out.insert("sha256".into(), json!(sha256_hex(&content)));
    out.insert("binding".into(), identity.existing_binding());
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(params: Value) -> Value {
        payload(fetch(params.as_object().unwrap()))
    }

    /// Rule (`file.fetch`'s success result): its shape, key order and content fields.
    #[test]
    fn fetches_a_file_as_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().to_string_lossy().into_owned();
        let f = format!("{root}/a.txt");
        std::fs::write(&f, "hello").unwrap();
        let v = run(json!({"path": f}));
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["ok", "path", "size", "mimeType", "base64", "sha256", "binding"]);
        assert_eq!(v["base64"], "aGVsbG8=");
        assert_eq!(v["mimeType"], "text/plain");
        assert_eq!(v["sha256"], "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        let pre = run(json!({"path": f, "preflightOnly": true}));
        let keys: Vec<&str> = pre.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["ok", "path", "size", "mimeType", "base64", "sha256", "preflightOnly", "binding"]);
        let bound = run(json!({"path": f, "expectedCanonicalPath": f, "expectedBinding": pre["binding"]}));
        assert_eq!(bound["ok"], true);
    }

    /// Rule (`handleFileFetch`'s params and `classifyFsError`): clamps, transport checks and the
    /// fetch-specific codes.
    #[test]
    fn errors_as_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().to_string_lossy().into_owned();
        let f = format!("{root}/a");
        std::fs::write(&f, "hello").unwrap();
        assert_eq!(
            run(json!({"path": f, "maxBytes": 0.5})),
            json!({"ok": false, "code": "FILE_TOO_LARGE", "message": "file size 5 exceeds limit 0", "canonicalPath": f})
        );
        assert_eq!(run(json!({"path": f, "maxBytes": -1}))["ok"], true, "a non-positive budget is the default");
        assert_eq!(
            run(json!({"path": f, "transport": "x"})),
            json!({"ok": false, "code": "INVALID_PARAMS", "message": "Error: file.fetch transport must be \"binary\" when supplied"})
        );
        assert_eq!(
            run(json!({"path": f, "transport": "binary", "maxBytes": 1.5}))["message"],
            "Error: binary file.fetch maxBytes must be a positive safe integer"
        );
        let binary = run(json!({"path": f, "transport": "binary", "maxBytes": 100}));
        assert_eq!(binary["message"], "binary file.fetch requires duplex IO and an authorized filesystem binding");
        assert_eq!(run(json!({"path": root}))["message"], "path is a directory");
        assert_eq!(run(json!({"path": "/dev/null"}))["code"], "IS_DIRECTORY");
        assert_eq!(
            run(json!({"path": "/dev/zero"}))["message"],
            "open failed: FsSafeError: file reads from unsafe device paths are not allowed: /dev/zero"
        );
        assert_eq!(
            run(json!({"path": format!("{f}/x")}))["message"],
            format!("realpath failed: Error: ENOTDIR: not a directory, realpath '{f}/x'")
        );
        assert_eq!(run(json!({"path": format!("{root}/nope")}))["message"], "file not found");
        std::fs::hard_link(&f, format!("{root}/h")).unwrap();
        assert_eq!(run(json!({"path": f}))["message"], "open failed: FsSafeError: hardlinked path not allowed");
        assert_eq!(run(json!({"path": f, "rootPath": null}))["message"], "path required");
        assert!(FetchParams::check_raw(" null\n").is_err());
    }
}
