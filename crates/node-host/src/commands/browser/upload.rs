//! `browser.proxy.upload.v1`: files the gateway sends for a page's file chooser, staged as
//! private copies on this node (`nodehost.md` §7.2).
//!
//! The upload envelope is accepted only for `POST /hooks/file-chooser` with a body that does
//! not name `paths` (the gateway's own paths mean nothing here); the staged paths are put in
//! instead. Limits as upstream: 256 files, 10 MiB each, 16 MiB per request; at most 64 staged
//! uploads and 256 MiB kept, each kept 24 hours. Directories are 0700 and files 0600, under
//! `<openclaw tmp>/uploads/.proxy-uploads/upload-*/<i>/<name>`, marked so that cleanup only
//! ever removes what this code made.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine;
use serde_json::Value;

use super::files::{MAX_FILES, MAX_FILE_BYTES, MAX_TOTAL_FILE_BYTES};

/// The staging root under the upload dir.
pub const STAGING_ROOT: &str = ".proxy-uploads";
const PREFIX: &str = "upload-";
const MARKER_NAME: &str = ".openclaw-browser-proxy-upload-v1";
const MARKER_CONTENT: &str = "openclaw-browser-proxy-upload-v1\n";
/// How long a staged upload is kept.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// The most bytes kept staged.
pub const MAX_RETAINED_BYTES: u64 = 256 * 1024 * 1024;
/// The most staged uploads kept.
pub const MAX_RETAINED_DIRECTORIES: usize = 64;
const MAX_NAME_BYTES: usize = 180;

/// Stages the upload of a file-chooser request; returns the body with the staged `paths`
/// and the directory to discard if the route fails. Blocking (file writes).
pub fn stage(
    upload_dir: &Path,
    method: &str,
    path: &str,
    body: Option<&Value>,
    upload: &Value,
) -> Result<(Value, PathBuf), String> {
    if !(method == "POST" && path == "/hooks/file-chooser") {
        return Err("INVALID_REQUEST: browser proxy upload requires the file chooser route".into());
    }
    let mut body = match body.and_then(Value::as_object) {
        Some(b) if !b.contains_key("paths") => b.clone(),
        _ => return Err("INVALID_REQUEST: browser proxy upload body must omit paths".into()),
    };
    let files = match upload.as_object() {
        Some(u) if u.get("envelope").and_then(Value::as_str) == Some("browser-upload-v1") => {
            u.get("files").and_then(Value::as_array).filter(|f| !f.is_empty())
        }
        _ => None,
    }
    .ok_or("INVALID_REQUEST: invalid browser proxy upload envelope")?;
    if files.len() > MAX_FILES {
        return Err("browser proxy request exceeds 256 file limit".into());
    }
    let mut decoded = Vec::with_capacity(files.len());
    let mut total = 0u64;
    for file in files {
        let bytes = decode_file(file, total)?;
        total += bytes.len() as u64;
        decoded.push((file["name"].as_str().unwrap_or_default().to_string(), bytes));
    }
    let root = upload_dir.join(STAGING_ROOT);
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&root).map_err(|e| e.to_string())?;
    let retained = cleanup(&root, SystemTime::now());
    let retained_bytes: u64 = retained.iter().map(|(_, b, _)| b).sum();
    if retained.len() >= MAX_RETAINED_DIRECTORIES
        || retained_bytes + total + MARKER_CONTENT.len() as u64 > MAX_RETAINED_BYTES
    {
        return Err("RESOURCE_EXHAUSTED: browser proxy upload staging limit reached".into());
    }
    let dir = root.join(format!("{PREFIX}{}", uuid::Uuid::new_v4().simple()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(|e| e.to_string())?;
    let written = (|| -> std::io::Result<Vec<String>> {
        write_new(&dir.join(MARKER_NAME), MARKER_CONTENT.as_bytes())?;
        let mut paths = Vec::with_capacity(decoded.len());
        for (i, (name, bytes)) in decoded.iter().enumerate() {
            let sub = dir.join(i.to_string());
            std::fs::DirBuilder::new().mode(0o700).create(&sub)?;
            let target = sub.join(sanitize_name(name));
            write_new(&target, bytes)?;
            paths.push(target.to_string_lossy().into_owned());
        }
        Ok(paths)
    })();
    match written {
        Ok(paths) => {
            body.insert("paths".into(), Value::from(paths));
            Ok((Value::Object(body), dir))
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            Err(e.to_string())
        }
    }
}

fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

/// One `{name, contentBase64}`: canonical base64 within the size limits.
fn decode_file(file: &Value, total: u64) -> Result<Vec<u8>, String> {
    let invalid = || "INVALID_REQUEST: invalid browser proxy upload file".to_string();
    let name = file.get("name").and_then(Value::as_str).filter(|n| !n.trim().is_empty()).ok_or_else(invalid)?;
    let _ = name;
    let content = file.get("contentBase64").and_then(Value::as_str).ok_or_else(invalid)?;
    if content.len() as u64 > MAX_FILE_BYTES.div_ceil(3) * 4 {
        return Err(invalid());
    }
    if content.len() % 4 != 0 {
        return Err("INVALID_REQUEST: invalid browser proxy upload encoding".into());
    }
    let padding = content.bytes().rev().take_while(|b| *b == b'=').count().min(2) as u64;
    let estimated = content.len() as u64 / 4 * 3 - padding;
    limits(estimated, total + estimated)?;
    let engine = base64::engine::general_purpose::STANDARD;
    let bytes =
        engine.decode(content).map_err(|_| "INVALID_REQUEST: invalid browser proxy upload encoding".to_string())?;
    if engine.encode(&bytes) != content {
        return Err("INVALID_REQUEST: invalid browser proxy upload encoding".into());
    }
    limits(bytes.len() as u64, total + bytes.len() as u64)?;
    Ok(bytes)
}

fn limits(file: u64, total: u64) -> Result<(), String> {
    if file > MAX_FILE_BYTES {
        return Err("browser proxy file exceeds 10 MiB limit".into());
    }
    if total > MAX_TOTAL_FILE_BYTES {
        return Err("browser proxy files exceed 16 MiB aggregate limit".into());
    }
    Ok(())
}

/// A file name safe to create: the last path component, control and reserved characters
/// (and `!`, `%`) replaced by `_`, at most 180 bytes, no trailing dots or spaces; `upload`
/// when nothing is left.
pub fn sanitize_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let replaced: String = base
        .chars()
        .map(|c| {
            let bad = (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) || "<>:\"/\\|?*!%".contains(c);
            if bad {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut end = replaced.len().min(MAX_NAME_BYTES);
    while !replaced.is_char_boundary(end) {
        end -= 1;
    }
    let bounded = replaced[..end].trim_end_matches(|c: char| c == '.' || c.is_whitespace()).trim_start();
    if bounded.is_empty() || bounded == "." || bounded == ".." {
        "upload".into()
    } else {
        bounded.to_string()
    }
}

/// Removes expired staged uploads and, beyond the caps, the oldest; returns what is kept as
/// (dir, bytes, mtime). Only directories this code marked, owned by this user, are touched.
pub fn cleanup(root: &Path, now: SystemTime) -> Vec<(PathBuf, u64, SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    let uid = nix::unistd::getuid().as_raw();
    let mut kept = Vec::new();
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let dir = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&dir) else { continue };
        let ours = meta.is_dir()
            && meta.uid() == uid
            && entry.file_name().to_string_lossy().starts_with(PREFIX)
            && std::fs::read_to_string(dir.join(MARKER_NAME)).is_ok_and(|m| m == MARKER_CONTENT);
        if !ours {
            continue;
        }
        let mtime = meta.modified().unwrap_or(now);
        if now.duration_since(mtime).unwrap_or_default() >= RETENTION {
            let _ = std::fs::remove_dir_all(&dir);
            continue;
        }
        kept.push((dir.clone(), dir_bytes(&dir), mtime));
    }
    kept.sort_by_key(|(_, _, m)| *m);
    let mut total: u64 = kept.iter().map(|(_, b, _)| b).sum();
    while kept.len() > MAX_RETAINED_DIRECTORIES || total > MAX_RETAINED_BYTES {
        let (dir, bytes, _) = kept.remove(0);
        total -= bytes;
        let _ = std::fs::remove_dir_all(dir);
    }
    kept
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn envelope(files: Value) -> Value {
        json!({"envelope": "browser-upload-v1", "files": files})
    }

    #[test]
    fn uploads_are_staged_privately_and_paths_injected() {
        let dir = tempfile::tempdir().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(b"hello");
        let upload = envelope(json!([{"name": "../evil/a b.txt", "contentBase64": b64}]));
        let (body, staged) =
            stage(dir.path(), "POST", "/hooks/file-chooser", Some(&json!({"ref": "e3"})), &upload).unwrap();
        assert_eq!(body["ref"], "e3");
        let path = body["paths"][0].as_str().unwrap();
        assert!(path.starts_with(&staged.to_string_lossy().into_owned()) && path.ends_with("/0/a b.txt"), "{path}");
        assert_eq!(std::fs::read(path).unwrap(), b"hello");
        assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&staged).unwrap().permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn bad_uploads_are_refused_with_upstreams_texts() {
        let dir = tempfile::tempdir().unwrap();
        let good = envelope(json!([{"name": "a", "contentBase64": "aGk="}]));
        let e = |method: &str, path: &str, body: Value, upload: &Value| {
            stage(dir.path(), method, path, Some(&body), upload).unwrap_err()
        };
        assert_eq!(
            e("POST", "/act", json!({}), &good),
            "INVALID_REQUEST: browser proxy upload requires the file chooser route"
        );
        assert_eq!(
            e("POST", "/hooks/file-chooser", json!({"paths": []}), &good),
            "INVALID_REQUEST: browser proxy upload body must omit paths"
        );
        assert_eq!(
            e("POST", "/hooks/file-chooser", json!({}), &json!({"envelope": "x"})),
            "INVALID_REQUEST: invalid browser proxy upload envelope"
        );
        let bad = envelope(json!([{"name": "a", "contentBase64": "aGk"}]));
        assert_eq!(
            e("POST", "/hooks/file-chooser", json!({}), &bad),
            "INVALID_REQUEST: invalid browser proxy upload encoding"
        );
        let unnamed = envelope(json!([{"name": " ", "contentBase64": "aGk="}]));
        assert_eq!(
            e("POST", "/hooks/file-chooser", json!({}), &unnamed),
            "INVALID_REQUEST: invalid browser proxy upload file"
        );
        assert_eq!(sanitize_name("..."), "upload");
        assert_eq!(sanitize_name("a:b?.pdf. "), "a_b_.pdf");
    }

    #[test]
    fn staging_is_capped_and_cleanup_touches_only_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(STAGING_ROOT);
        let upload = envelope(json!([{"name": "a", "contentBase64": "aGk="}]));
        for _ in 0..MAX_RETAINED_DIRECTORIES {
            stage(dir.path(), "POST", "/hooks/file-chooser", Some(&json!({})), &upload).unwrap();
        }
        let full = stage(dir.path(), "POST", "/hooks/file-chooser", Some(&json!({})), &upload).unwrap_err();
        assert_eq!(full, "RESOURCE_EXHAUSTED: browser proxy upload staging limit reached");
        std::fs::create_dir(root.join("upload-foreign")).unwrap();
        let later = SystemTime::now() + RETENTION + Duration::from_secs(1);
        assert!(cleanup(&root, later).is_empty());
        let left: Vec<_> = std::fs::read_dir(&root).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("upload-foreign")], "unmarked directories are not ours");
    }
}
