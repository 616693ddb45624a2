//! Paths as upstream's `path.resolve` makes them: joined to a base and cleaned of `.`, `..` and
//! repeated slashes without touching the filesystem, so a rule or a remembered pattern names
//! `/work/script.sh`, never `/work/./script.sh`.

use std::path::{Component, Path, PathBuf};

/// `path.resolve(base, p)`: `p` against `base` (ignored when `p` is absolute), `.` and `..`
/// removed lexically (`..` at the root stays at the root).
pub fn resolve_lexically(base: &Path, p: impl AsRef<Path>) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in base.join(p).components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(c) => out.push(c),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rule (`path.resolve`): lexical, relative to the base, `..` clamped at the root.
    #[test]
    fn resolves_as_node_path_resolve() {
        let r = |base: &str, p: &str| resolve_lexically(Path::new(base), p).to_string_lossy().into_owned();
        assert_eq!(r("/work/main", "./script.sh"), "/work/main/script.sh");
        assert_eq!(r("/work/main", "../x//y/./z"), "/work/x/y/z");
        assert_eq!(r("/work", "/etc/../../bin"), "/bin");
        assert_eq!(r("/", ".."), "/");
    }
}
