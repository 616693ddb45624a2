//! MIME types of files, as the file-transfer plugin names them
//! (`../shared/spec/file-transfer-node.md` §4.3): by extension (the plugin's own table, used
//! alone by `dir.list`), and for `file.fetch` by content first.

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
}
