//! Files a browser route produced (a screenshot, a PDF, a download), inlined into the result
//! (`nodehost.md` §7.5): the gateway is on another machine and cannot read the path.
//!
//! Exactly the paths the result names are read (`path`, `imagePath`, `download.path`,
//! `downloads[].path`): the gateway checks that the two sets are equal. Bounded as upstream:
//! at most 256 files, 10 MiB each, 16 MiB in all, and a 24 MiB encoded payload.

use std::path::Path;

use base64::Engine;
use serde_json::{json, Value};

/// The most files one result may carry.
pub const MAX_FILES: usize = 256;
/// The largest file.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// The largest sum of files.
pub const MAX_TOTAL_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// The largest payload, as the gateway will count it once it is a JSON string.
pub const MAX_ENCODED_PAYLOAD_BYTES: usize = 24 * 1024 * 1024;

/// The distinct file paths `result` names, in the order upstream visits them.
pub fn referenced_paths(result: &Value) -> Result<Vec<String>, String> {
    let mut paths: Vec<String> = Vec::new();
    let mut visit = |owner: &Value| -> Result<(), String> {
        if let Some(p) = owner.get("path").and_then(Value::as_str).filter(|p| !p.trim().is_empty()) {
            let p = p.trim().to_string();
            if !paths.contains(&p) {
                paths.push(p);
            }
            if paths.len() > MAX_FILES {
                return Err("browser proxy response exceeds 256 file limit".into());
            }
        }
        Ok(())
    };
    let Some(root) = result.as_object() else { return Ok(Vec::new()) };
    visit(result)?;
    if let Some(p) = root.get("imagePath") {
        visit(&json!({"path": p}))?;
    }
    if let Some(download) = root.get("download").filter(|d| d.is_object()) {
        visit(download)?;
    }
    if let Some(downloads) = root.get("downloads").and_then(Value::as_array) {
        for d in downloads.iter().filter(|d| d.is_object()) {
            visit(d)?;
        }
    }
    Ok(paths)
}

/// Reads `paths` into `{path, base64, mimeType}` entries, within the limits. Runs on a
/// blocking thread (files of up to 10 MiB).
pub fn read_files(paths: &[String]) -> Result<Vec<Value>, String> {
    let mut files = Vec::with_capacity(paths.len());
    let mut total = 0u64;
    for path in paths {
        let entry =
            read_one(path, &mut total).map_err(|e| format!("browser proxy file read failed for {path}: Error: {e}"))?;
        files.push(entry);
    }
    Ok(files)
}

fn read_one(path: &str, total: &mut u64) -> Result<Value, String> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file()).ok_or("file not found")?;
    check_limits(meta.len(), *total + meta.len())?;
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    check_limits(bytes.len() as u64, *total + bytes.len() as u64)?;
    *total += bytes.len() as u64;
    let mime = mime_type(&bytes, Path::new(path));
    Ok(json!({"path": path, "base64": base64::engine::general_purpose::STANDARD.encode(&bytes), "mimeType": mime}))
}

fn check_limits(file: u64, total: u64) -> Result<(), String> {
    if file > MAX_FILE_BYTES {
        return Err("browser proxy file exceeds 10 MiB limit".into());
    }
    if total > MAX_TOTAL_FILE_BYTES {
        return Err("browser proxy files exceed 16 MiB aggregate limit".into());
    }
    Ok(())
}

/// The MIME type from the content's magic bytes, else the extension.
pub fn mime_type(bytes: &[u8], path: &Path) -> &'static str {
    let sniffed = match bytes {
        [0x89, b'P', b'N', b'G', ..] => Some("image/png"),
        [0xff, 0xd8, 0xff, ..] => Some("image/jpeg"),
        [b'%', b'P', b'D', b'F', b'-', ..] => Some("application/pdf"),
        [b'G', b'I', b'F', b'8', ..] => Some("image/gif"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        [b'P', b'K', 3, 4, ..] => Some("application/zip"),
        _ => None,
    };
    if let Some(m) = sniffed {
        return m;
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "csv" => "text/csv",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// The payload's size as the gateway counts it: the length of its JSON text as a JSON string
/// (quotes added, `"` and `\` escaped once more).
pub fn encoded_size(serialized: &str) -> usize {
    serialized.len() + 2 + serialized.bytes().filter(|b| *b == b'"' || *b == b'\\').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_referenced_paths_in_order() {
        let result = json!({"path": " /a.png ", "imagePath": "/b.png", "download": {"path": "/a.png"},
            "downloads": [{"path": "/c"}, "x", {"path": ""}], "other": {"path": "/ignored"}});
        assert_eq!(referenced_paths(&result).unwrap(), vec!["/a.png", "/b.png", "/c"]);
        assert!(referenced_paths(&json!([{"path": "/x"}])).unwrap().is_empty());
        let many: Vec<Value> = (0..=MAX_FILES).map(|i| json!({"path": format!("/f{i}")})).collect();
        assert_eq!(
            referenced_paths(&json!({"downloads": many})).unwrap_err(),
            "browser proxy response exceeds 256 file limit"
        );
    }

    #[test]
    fn files_are_read_bounded_and_typed() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("shot.bin");
        std::fs::write(&png, b"\x89PNG\r\n\x1a\nrest").unwrap();
        let files = read_files(&[png.to_string_lossy().into_owned()]).unwrap();
        assert_eq!(files[0]["mimeType"], "image/png");
        assert_eq!(files[0]["base64"], base64::engine::general_purpose::STANDARD.encode(b"\x89PNG\r\n\x1a\nrest"));
        let missing = dir.path().join("nope").to_string_lossy().into_owned();
        assert_eq!(
            read_files(std::slice::from_ref(&missing)).unwrap_err(),
            format!("browser proxy file read failed for {missing}: Error: file not found")
        );
        let big = dir.path().join("big");
        std::fs::File::create(&big).unwrap().set_len(MAX_FILE_BYTES + 1).unwrap();
        assert!(read_files(&[big.to_string_lossy().into_owned()]).unwrap_err().ends_with("exceeds 10 MiB limit"));
        assert_eq!(encoded_size(r#"{"a":"\\"}"#), 10 + 2 + 6, "four quotes and two backslashes, escaped");
    }
}
