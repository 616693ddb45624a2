//! MIME types of files, as the file-transfer plugin names them (the `file.fetch` and
//! `dir.list` rows of `../shared/spec/node-commands.md` A3–A8): by extension (the plugin's own
//! table, `mimeFromExtension`, used alone by `dir.list`), and for `file.fetch` by content
//! first ([`for_fetch`]).
//!
//! `file.fetch` asks upstream's media library (`detectMime`) with the fetched bytes and the
//! opened path: the content is sniffed by the npm package `file-type` (ported in
//! [`file_type`], which lists what it leaves out), the result normalised (lower case, no
//! parameters, synonyms folded: APNG is PNG, `application/xml` is `text/xml`), and then:
//! a bare ZIP takes the extension's type only when that names a ZIP container (DOCX, …), an
//! `application/octet-stream` sniff takes a specific non-image extension type, anything else
//! sniffed wins, and with nothing sniffed the extension decides. An audio extension whose
//! video twin was sniffed (`.m4a` read as `video/mp4`) keeps the audio type. With neither, a
//! text heuristic on the first 8 KiB picks `text/plain` or `application/octet-stream`.
//!
//! So magic beats extension and the extension is trusted when there is no magic: PNG bytes
//! named `.txt` are `image/png`, text named `.png` is `image/png`.

mod file_type;

/// The plugin's extension table (lower-case extension without the dot → MIME type).
const BY_EXTENSION: &[(&str, &str)] = &[
    ("avif", "image/avif"),
    ("heic", "image/heic"),
    ("heif", "image/heif"),
    ("bmp", "image/bmp"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("svg", "image/svg+xml"),
    ("webp", "image/webp"),
    ("gif", "image/gif"),
    ("aiff", "audio/aiff"),
    ("aif", "audio/aiff"),
    ("aifc", "audio/aiff"),
    ("ogg", "audio/ogg"),
    ("oga", "audio/ogg"),
    ("mp3", "audio/mpeg"),
    ("m2a", "audio/mpeg"),
    ("wav", "audio/wav"),
    ("flac", "audio/flac"),
    ("aac", "audio/aac"),
    ("amr", "audio/amr"),
    ("opus", "audio/opus"),
    ("webm", "video/webm"),
    ("m4a", "audio/x-m4a"),
    ("m4b", "audio/mp4"),
    ("caf", "audio/x-caf"),
    ("avi", "video/x-msvideo"),
    ("m4v", "video/x-m4v"),
    ("mp4", "video/mp4"),
    ("mkv", "video/x-matroska"),
    ("flv", "video/x-flv"),
    ("wmv", "video/x-ms-wmv"),
    ("mov", "video/quicktime"),
    ("pdf", "application/pdf"),
    ("json", "application/json"),
    ("yaml", "application/yaml"),
    ("yml", "application/yaml"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tar", "application/x-tar"),
    ("7z", "application/x-7z-compressed"),
    ("rar", "application/vnd.rar"),
    ("doc", "application/msword"),
    ("xls", "application/vnd.ms-excel"),
    ("ppt", "application/vnd.ms-powerpoint"),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    ("csv", "text/csv"),
    ("txt", "text/plain"),
    ("cfg", "text/plain"),
    ("conf", "text/plain"),
    ("env", "text/plain"),
    ("ini", "text/plain"),
    ("log", "text/plain"),
    ("md", "text/markdown"),
    ("html", "text/html"),
    ("htm", "text/html"),
    ("xml", "text/xml"),
    ("css", "text/css"),
    ("js", "text/javascript"),
    ("tsv", "text/tab-separated-values"),
];

/// Node's `path.extname` of a file name: from the last `.` unless that is the name's first
/// character, or the name is `..` (`.bashrc` → none, `..x` → `.x`, `a.` → `.`).
fn extname(name: &str) -> Option<&str> {
    let dot = name.rfind('.')?;
    (dot > 0 && name != "..").then(|| &name[dot..])
}

/// The last segment of a path, split at `/` and `\` and past a drive prefix (`C:`), as the
/// plugin takes POSIX then Windows basenames; `.` and `..` name nothing.
fn basename(path: &str) -> &str {
    let last = path.trim_end_matches(['/', '\\']).rsplit(['/', '\\']).next().unwrap_or_default();
    let last = match last.as_bytes() {
        [d, b':', ..] if d.is_ascii_alphabetic() => &last[2..],
        _ => last,
    };
    if last == "." || last == ".." {
        ""
    } else {
        last
    }
}

/// The MIME type the plugin's table gives the extension of `path`'s last segment.
pub fn by_extension(path: &str) -> Option<&'static str> {
    let ext = extname(basename(path))?.trim_start_matches('.').to_lowercase();
    BY_EXTENSION.iter().find(|(e, _)| *e == ext).map(|(_, m)| *m)
}

/// `dir.list`'s MIME type for a file entry: the extension's, else `application/octet-stream`.
pub fn for_listing(name: &str) -> &'static str {
    by_extension(name).unwrap_or("application/octet-stream")
}

/// How much of a file the sniffer sees (`FILE_TYPE_SNIFF_MAX_BYTES`).
const SNIFF_MAX_BYTES: usize = 1024 * 1024;
/// How much of a file the text heuristic reads.
const TEXT_SNIFF_MAX_BYTES: usize = 8192;

/// Folds the MIME synonyms upstream's media library treats as one type.
fn normalize(mime: &str) -> Option<String> {
    let cleaned = file_type::js_trim(mime.split(';').next().unwrap_or_default()).to_lowercase();
    if cleaned.is_empty() {
        return None;
    }
    Some(
        match cleaned.as_str() {
            "image/apng" => "image/png",
            "text/yaml" | "application/x-yaml" => "application/yaml",
            "application/xml" => "text/xml",
            "video/vnd.avi" => "video/x-msvideo",
            "video/matroska" => "video/x-matroska",
            other => other,
        }
        .to_string(),
    )
}

/// `sniffMime`: file-type's answer on the first MiB, normalised; when it has none (or
/// throws), CAF audio by its `caff` magic (read as Node's `ascii` decoding does, high bits
/// cleared).
pub fn sniff(buffer: &[u8]) -> Option<String> {
    let head = &buffer[..buffer.len().min(SNIFF_MAX_BYTES)];
    if let Ok(Some(mime)) = file_type::detect(head) {
        if let Some(m) = normalize(mime) {
            return Some(m);
        }
    }
    let caff = buffer.len() >= 4 && buffer[..4].iter().map(|b| b & 0x7F).eq(*b"caff");
    caff.then(|| "audio/x-caf".to_string())
}

/// The ZIP containers whose extension type may replace a bare `application/zip` sniff.
const ZIP_CONTAINERS: &[&str] = &[
    "application/java-archive",
    "application/vnd.android.package-archive",
    "application/vnd.apple.keynote",
    "application/vnd.apple.numbers",
    "application/vnd.apple.pages",
    "application/vnd.google-earth.kmz",
    "application/vnd.ms-excel.sheet.macroenabled.12",
    "application/vnd.ms-excel.template.macroenabled.12",
    "application/vnd.ms-powerpoint.presentation.macroenabled.12",
    "application/vnd.ms-powerpoint.slideshow.macroenabled.12",
    "application/vnd.ms-powerpoint.template.macroenabled.12",
    "application/vnd.ms-visio.drawing",
    "application/vnd.ms-visio.drawing.macroenabled.12",
    "application/vnd.ms-visio.stencil",
    "application/vnd.ms-visio.stencil.macroenabled.12",
    "application/vnd.ms-visio.template",
    "application/vnd.ms-visio.template.macroenabled.12",
    "application/vnd.ms-word.document.macroenabled.12",
    "application/vnd.ms-word.template.macroenabled.12",
    "application/vnd.oasis.opendocument.graphics",
    "application/vnd.oasis.opendocument.graphics-template",
    "application/vnd.oasis.opendocument.presentation",
    "application/vnd.oasis.opendocument.presentation-template",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.spreadsheet-template",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.text-template",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
    "application/vnd.openxmlformats-officedocument.presentationml.template",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
    "application/x-xpinstall",
    "model/3mf",
];

/// The video type an audio extension's content may be sniffed as.
fn video_twin(audio: &str) -> Option<&'static str> {
    match audio {
        "audio/mp4" | "audio/x-m4a" | "audio/m4a" => Some("video/mp4"),
        "audio/webm" => Some("video/webm"),
        _ => None,
    }
}

/// `detectMime({buffer, filePath})` with no header hints: the decision between the sniffed
/// type and the extension's (module doc).
pub fn detect(buffer: &[u8], path: &str) -> Option<String> {
    let ext = by_extension(path);
    let sniffed = sniff(buffer);
    let inferred = match sniffed.as_deref() {
        Some("application/zip") => Some(
            ext.filter(|e| e.ends_with("+zip") || ZIP_CONTAINERS.contains(e)).unwrap_or("application/zip").to_string(),
        ),
        Some("application/octet-stream") => Some(
            ext.filter(|e| *e != "application/octet-stream" && !e.starts_with("image/"))
                .unwrap_or("application/octet-stream")
                .to_string(),
        ),
        Some(s) => Some(s.to_string()),
        None => ext.map(String::from),
    };
    match (ext, inferred) {
        (Some(e), Some(i)) if video_twin(e) == Some(i.as_str()) => Some(e.to_string()),
        (_, inferred) => inferred,
    }
}

/// `isLikelyPlainText`: empty, or the first 8 KiB hold no NUL, decode as strict UTF-8 (a
/// character cut at the 8 KiB mark fails) and have under 1 % control bytes (other than tab,
/// line feed and carriage return).
pub fn is_likely_plain_text(buffer: &[u8]) -> bool {
    if buffer.is_empty() {
        return true;
    }
    let sample = &buffer[..buffer.len().min(TEXT_SNIFF_MAX_BYTES)];
    if sample.contains(&0) || std::str::from_utf8(sample).is_err() {
        return false;
    }
    let control = sample.iter().filter(|b| **b < 0x20 && !matches!(b, 0x09 | 0x0A | 0x0D)).count();
    (control as f64) / (sample.len() as f64) < 0.01
}

/// `file.fetch`'s MIME type for the bytes read from `path` (the opened real path).
pub fn for_fetch(buffer: &[u8], path: &str) -> String {
    detect(buffer, path).unwrap_or_else(|| {
        if is_likely_plain_text(buffer) { "text/plain" } else { "application/octet-stream" }.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_as_node_reads_them() {
        assert_eq!(by_extension("/a/b/Photo.JPG"), Some("image/jpeg"));
        assert_eq!(by_extension("a.tar.gz"), Some("application/gzip"));
        assert_eq!(by_extension(".env"), None, "a dot file has no extension");
        assert_eq!(by_extension("x.env"), Some("text/plain"));
        assert_eq!(by_extension("C:\\dir\\notes.md"), Some("text/markdown"));
        assert_eq!(by_extension("main.rs"), None);
        assert_eq!(for_listing("main.rs"), "application/octet-stream");
        assert_eq!(by_extension(".."), None);
        assert_eq!(extname("..x"), Some(".x"));
        assert_eq!(extname("a."), Some("."));
    }

    /// Expands a vector's run-length encoded buffer (`vectors.mjs`).
    fn expand(parts: &serde_json::Value) -> Vec<u8> {
        use base64::Engine;
        let mut out = Vec::new();
        for part in parts.as_array().unwrap() {
            match part[0].as_str().unwrap() {
                "b64" => {
                    out.extend(base64::engine::general_purpose::STANDARD.decode(part[1].as_str().unwrap()).unwrap())
                }
                "run" => {
                    out.extend(std::iter::repeat_n(part[1].as_u64().unwrap() as u8, part[2].as_u64().unwrap() as usize))
                }
                other => panic!("unknown part {other}"),
            }
        }
        out
    }

    /// Rule (`file.fetch`'s MIME type, upstream's `detectFetchedFileMime`): for every sample
    /// buffer, file-type@22.1.0's `fileTypeFromBuffer` (run by the peer's Node in `vectors.mjs`)
    /// and ours give the same raw MIME type, and upstream's `detectMime` and ours the same decision
    /// under each file name.
    #[test]
    fn matches_file_type_and_detect_mime_vectors() {
        let vectors: serde_json::Value = serde_json::from_str(include_str!("mime/vectors.json")).unwrap();
        let mut failures = Vec::new();
        let mut compared = 0;
        for v in vectors.as_array().unwrap() {
            let name = v["name"].as_str().unwrap();
            let data = expand(&v["data"]);
            let ours = match file_type::detect(&data) {
                Ok(Some(m)) => serde_json::json!(m),
                Ok(None) => serde_json::Value::Null,
                Err(_) => serde_json::json!("THROW"),
            };
            compared += 1;
            if ours != v["fileType"] {
                failures.push(format!("{name}: file-type {} ours {ours}", v["fileType"]));
            }
            for (path, expected) in v["detected"].as_object().unwrap() {
                compared += 1;
                let ours = detect(&data, path).map_or(serde_json::Value::Null, serde_json::Value::from);
                if &ours != expected {
                    failures.push(format!("{name} as {path}: detectMime {expected} ours {ours}"));
                }
            }
        }
        assert!(failures.is_empty(), "{} of {compared} differ:\n{}", failures.len(), failures.join("\n"));
        assert!(compared > 2000, "only {compared} vectors");
    }

    /// Rule (upstream's `isLikelyPlainText`): the text heuristic's window, strict UTF-8 and
    /// control ratio.
    #[test]
    fn text_heuristic_as_upstream() {
        assert!(is_likely_plain_text(b""));
        assert!(is_likely_plain_text("héllo\n".as_bytes()));
        assert!(!is_likely_plain_text(b"a\0b"));
        let mut cut = vec![b'a'; 8191];
        cut.extend("é tail".as_bytes());
        assert!(!is_likely_plain_text(&cut), "a character cut at byte 8192 fails the strict decode");
        let mut light = vec![b'a'; 200];
        light.push(1);
        assert!(is_likely_plain_text(&light), "1 control byte in 201 is under 1 %");
        let mut heavy = vec![b'a'; 90];
        heavy.extend([1, 2]);
        assert!(!is_likely_plain_text(&heavy));
        assert!(is_likely_plain_text(b"a\x7f"), "DEL is not counted");
        assert_eq!(for_fetch(b"plain", "/x/notes"), "text/plain");
        assert_eq!(for_fetch(b"plain", "/x/notes.png"), "image/png", "the extension is trusted without magic");
        assert_eq!(for_fetch(&[0xff, 0xfe, 0, 1, 2], "/x/blob"), "application/octet-stream");
    }
}
