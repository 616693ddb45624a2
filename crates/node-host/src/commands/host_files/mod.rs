//! The host's own file commands that upstream's node host serves itself, outside any plugin
//! (node-commands.md A1, A2): `fs.listDir` (the Control UI's directory picker) and
//! `terminal.upload` (a file dropped on a node terminal, staged in a private temporary
//! directory). Both are in the `system` family; the gateway asks `operator.admin` for them.

pub mod list_dir;
pub mod terminal_upload;

use openclaw_protocol::node::InvokeError;

/// An error as upstream's host reports a thrown one: `INVALID_REQUEST` with `String(err)`
/// (`Error: …`, `TypeError: …`) as the message.
fn thrown(message: &str) -> InvokeError {
    InvokeError::invalid_request(message.to_string())
}

/// Node's `os.homedir()`: `HOME` when set and non-empty, else the account's home directory.
fn node_home() -> String {
    match std::env::var("HOME") {
        Ok(home) if !home.is_empty() => home,
        _ => nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.dir.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// Node's `path.resolve` for an absolute POSIX path: `.` and empty segments dropped, `..`
/// taken lexically (never above `/`), no trailing slash.
fn js_path_resolve(absolute: &str) -> String {
    let normalized = super::file::posix_normalize(absolute);
    match normalized.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed.to_string(),
        _ => normalized,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_as_node_path() {
        assert_eq!(js_path_resolve("/"), "/");
        assert_eq!(js_path_resolve("//a//b/./c/../"), "/a/b");
        assert_eq!(js_path_resolve("/../.."), "/");
    }
}
