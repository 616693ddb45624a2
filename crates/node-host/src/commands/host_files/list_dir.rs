//! `fs.listDir`: the directories in one absolute directory of this host, for the Control UI's
//! directory picker (node-commands.md A1). Upstream gates it by pairing and the gateway's
//! `operator.admin` scope only; the node applies no policy of its own.
//!
//! The listing is upstream's: directories only (a symlink counts when it points at one),
//! hidden ones (a leading `.`) last and marked, each group in JavaScript string order
//! (UTF-16 code units), `parent` left out at `/`, `home` from `HOME` as Node's `os.homedir()`.
//! Failures read as upstream's thrown errors: `Error: ENOENT: no such file or directory,
//! scandir '/x'`.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use openclaw_protocol::node::InvokeError;
use serde_json::{json, Value};

use crate::invoke::{Command, InvokeContext};
use crate::offload::{off_thread, Lane};
use crate::params::{thrown_invalid_request, FromParams, Params};

use super::{js_path_resolve, node_home, thrown};

/// Lists the directories of one absolute path (the home directory by default).
#[derive(Clone)]
pub struct ListDir;

/// `{path?}`: absent or empty means the home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListDirParams {
    /// The requested path, as sent (`None` when absent or empty).
    pub path: Option<String>,
}

impl FromParams for ListDirParams {
    fn from_params(params: Params) -> Result<Self, InvokeError> {
        match params.value() {
            // Upstream reads `params.path` of whatever JSON.parse returned.
            Value::Null => Err(thrown("TypeError: Cannot read properties of null (reading 'path')")),
            Value::Object(map) => match map.get("path") {
                None => Ok(ListDirParams { path: None }),
                Some(Value::String(s)) => Ok(ListDirParams { path: (!s.is_empty()).then(|| s.clone()) }),
                Some(_) => Err(thrown_invalid_request("path must be a string")),
            },
            _ => Ok(ListDirParams { path: None }),
        }
    }
}

impl Command for ListDir {
    const NAME: &'static str = "fs.listDir";
    const CAP: &'static str = "system";
    type Params = ListDirParams;

    async fn run(&self, _cx: InvokeContext, params: ListDirParams) -> Result<Value, InvokeError> {
        off_thread(Lane::Lookup, "listing a directory", move || list(params.path.as_deref()))
            .await
            .map_err(|e| InvokeError::unavailable(e.to_string()))?
    }
}

/// One listed directory.
struct Entry {
    name: String,
    path: String,
    hidden: bool,
}

/// JavaScript's `<` on strings: UTF-16 code units, not code points.
fn js_order(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

fn list(requested: Option<&str>) -> Result<Value, InvokeError> {
    let home = node_home();
    let requested = requested.map(str::to_string).unwrap_or_else(|| home.clone());
    if !requested.starts_with('/') {
        return Err(thrown("Error: fs.listDir path must be absolute"));
    }
    let resolved = js_path_resolve(&requested);
    let dir = std::fs::read_dir(&resolved).map_err(|e| {
        thrown(&format!("Error: {}", openclaw_exec::node_errno::fs_error_text(&e, "scandir", Path::new(&resolved))))
    })?;
    let mut entries = Vec::new();
    for dirent in dir {
        let Ok(dirent) = dirent else { continue };
        let name = dirent.file_name().to_string_lossy().into_owned();
        let path = PathBuf::from(&resolved).join(dirent.file_name());
        let is_dir = match dirent.file_type() {
            Ok(t) if t.is_symlink() => std::fs::metadata(&path).is_ok_and(|m| m.is_dir()),
            Ok(t) => t.is_dir(),
            Err(_) => false,
        };
        if is_dir {
            let hidden = name.starts_with('.');
            entries.push(Entry { path: join_display(&resolved, &name), name, hidden });
        }
    }
    entries.sort_by(|a, b| a.hidden.cmp(&b.hidden).then_with(|| js_order(&a.name, &b.name)));
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            let mut v = json!({"name": e.name, "path": e.path});
            if e.hidden {
                v["hidden"] = json!(true);
            }
            v
        })
        .collect();
    // Upstream's field order: path, parent (not at `/`), home, entries.
    let mut out = serde_json::Map::new();
    out.insert("path".into(), json!(resolved));
    let parent = parent_of(&resolved);
    if parent != resolved {
        out.insert("parent".into(), json!(parent));
    }
    out.insert("home".into(), json!(home));
    out.insert("entries".into(), Value::Array(entries));
    Ok(Value::Object(out))
}

/// `path.join(dir, name)` for a resolved directory and one entry name.
fn join_display(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// `path.dirname` of a resolved absolute path.
fn parent_of(resolved: &str) -> String {
    match resolved.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => resolved[..i].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(path: Option<&str>) -> Result<Value, InvokeError> {
        list(path)
    }

    /// Rule (A1): directories only, symlinks to directories included, hidden last and
    /// marked, JavaScript string order, `parent` absent at `/`.
    #[test]
    fn lists_directories_as_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for d in ["b", "a", "B", ".hidden", "\u{1F600}", "\u{FF21}"] {
            std::fs::create_dir(root.join(d)).unwrap();
        }
        std::fs::write(root.join("file"), "").unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("link-to-dir")).unwrap();
        std::os::unix::fs::symlink(root.join("file"), root.join("link-to-file")).unwrap();
        std::os::unix::fs::symlink(root.join("missing"), root.join("dangling")).unwrap();
        let out = run(Some(&format!("{}/./a/..", root.display()))).unwrap();
        let names: Vec<&str> = out["entries"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
        // U+1F600 is a surrogate pair (0xD83D…), which sorts before U+FF21 in UTF-16.
        assert_eq!(names, ["B", "a", "b", "link-to-dir", "\u{1F600}", "\u{FF21}", ".hidden"]);
        assert_eq!(out["path"], json!(root.to_string_lossy()));
        assert_eq!(out["entries"][6]["hidden"], json!(true));
        assert!(out["entries"][0].get("hidden").is_none());
        assert_eq!(out["parent"], json!(root.parent().unwrap().to_string_lossy()));
        assert!(run(Some("/")).unwrap().get("parent").is_none());
    }

    /// Rule (A1): upstream's thrown errors, byte for byte.
    #[test]
    fn errors_read_as_upstream() {
        assert_eq!(run(Some("rel")).unwrap_err().message, "Error: fs.listDir path must be absolute");
        assert_eq!(
            run(Some("/nonexistent-dir/x/../y")).unwrap_err().message,
            "Error: ENOENT: no such file or directory, scandir '/nonexistent-dir/y'"
        );
        assert_eq!(
            run(Some("/etc/passwd")).unwrap_err().message,
            "Error: ENOTDIR: not a directory, scandir '/etc/passwd'"
        );
        let params = |v: Value| ListDirParams::from_params(Params::new(v));
        assert_eq!(params(json!({"path": 1})).unwrap_err().message, "Error: INVALID_REQUEST: path must be a string");
        assert_eq!(params(json!({"path": ""})).unwrap(), ListDirParams { path: None });
        assert_eq!(params(json!([])).unwrap(), ListDirParams { path: None });
        assert!(params(Value::Null).unwrap_err().message.starts_with("TypeError: Cannot read properties of null"));
    }
}
