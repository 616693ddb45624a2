//! Which Chromium-family executable to launch (spec/browser.md §2.1, upstream
//! `chrome.executables.ts`).
//!
//! The node advertises `browser.proxy` only when a browser resolves (upstream PR #147446: a node
//! that advertises without an executable breaks otherwise working host automation), so this is
//! a cheap, side-effect-free file-existence walk that can run at every status request.

use std::path::{Path, PathBuf};

use crate::settings::{BrowserSettings, Profile};

/// A resolved browser executable and its upstream `kind`
/// (`chrome|brave|edge|chromium|canary|custom`), reported as `chosenBrowser`/`detectedBrowser`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executable {
    /// The upstream kind string.
    pub kind: &'static str,
    /// The file to spawn.
    pub path: PathBuf,
}

/// Why no executable could be used; the texts are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// `browser.executablePath` (or the profile's) names a missing file.
    #[error("browser.executablePath not found: {0}")]
    ConfiguredMissing(String),
    /// None of the well-known paths exists.
    #[error("No supported browser found (Chrome/Brave/Edge/Chromium on macOS, Linux, or Windows).")]
    NoneFound,
}

/// Upstream's Linux candidates, in order (the first existing file wins).
const LINUX_CANDIDATES: &[(&str, &str)] = &[
    ("chrome", "/usr/bin/google-chrome"),
    ("chrome", "/usr/bin/google-chrome-stable"),
    ("chrome", "/usr/bin/chrome"),
    ("chrome", "/opt/google/chrome/chrome"),
    ("brave", "/usr/bin/brave-browser"),
    ("brave", "/usr/bin/brave-browser-stable"),
    ("brave", "/usr/bin/brave"),
    ("brave", "/snap/bin/brave"),
    ("brave", "/opt/brave.com/brave/brave-browser"),
    ("edge", "/usr/bin/microsoft-edge"),
    ("edge", "/usr/bin/microsoft-edge-stable"),
    ("chromium", "/usr/bin/chromium"),
    ("chromium", "/usr/bin/chromium-browser"),
    ("chromium", "/usr/lib/chromium/chromium"),
    ("chromium", "/usr/lib/chromium-browser/chromium-browser"),
    ("chromium", "/snap/bin/chromium"),
];

fn is_executable_file(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Infers the kind of a configured path from its file name, as upstream does for
/// `executablePath` (anything unrecognised is `custom`).
fn kind_of(path: &Path) -> &'static str {
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.contains("canary") {
        "canary"
    } else if name.contains("brave") {
        "brave"
    } else if name.contains("edge") {
        "edge"
    } else if name.contains("chromium") {
        "chromium"
    } else if name.contains("chrome") {
        "chrome"
    } else {
        "custom"
    }
}

/// Playwright's downloaded Chromium (`$PLAYWRIGHT_BROWSERS_PATH` or `~/.cache/ms-playwright`),
/// upstream's last resort.
fn playwright_candidates() -> Vec<PathBuf> {
    let root = std::env::var_os("PLAYWRIGHT_BROWSERS_PATH")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/ms-playwright")));
    let Some(root) = root else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(&root) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("chromium-")))
        .collect();
    dirs.sort();
    dirs.iter().flat_map(|d| [d.join("chrome-linux64/chrome"), d.join("chrome-linux/chrome")]).collect()
}

/// Resolves the executable for `profile` (its own `executablePath`, else `browser.executablePath`,
/// else the well-known paths), with upstream's error texts.
pub fn resolve_executable(settings: &BrowserSettings, profile: Option<&Profile>) -> Result<Executable, DetectError> {
    let configured = profile.and_then(|p| p.executable_path.clone()).or_else(|| settings.executable_path.clone());
    if let Some(path) = configured {
        if !path.exists() {
            return Err(DetectError::ConfiguredMissing(path.display().to_string()));
        }
        return Ok(Executable { kind: kind_of(&path), path });
    }
    for (kind, p) in LINUX_CANDIDATES {
        let path = Path::new(p);
        if is_executable_file(path) {
            return Ok(Executable { kind, path: path.to_path_buf() });
        }
    }
    playwright_candidates()
        .into_iter()
        .find(|p| is_executable_file(p))
        .map(|path| Executable { kind: "chromium", path })
        .ok_or(DetectError::NoneFound)
}

/// The executable a launch would use: `browser.executablePath` when set (even if missing, so
/// the launch reports it), else the first of upstream's well-known paths that exists.
pub fn detect_executable(settings: &BrowserSettings) -> Option<PathBuf> {
    if let Some(p) = &settings.executable_path {
        return Some(p.clone());
    }
    resolve_executable(settings, None).ok().map(|e| e.path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configured_path_wins_and_missing_is_reported() {
        let s = BrowserSettings::from_config(Some(&json!({"executablePath": "/nonexistent/chromium"}))).unwrap();
        assert_eq!(detect_executable(&s), Some(PathBuf::from("/nonexistent/chromium")));
        assert_eq!(
            resolve_executable(&s, None).unwrap_err().to_string(),
            "browser.executablePath not found: /nonexistent/chromium"
        );
        let s = BrowserSettings::from_config(Some(&json!({"executablePath": "/bin/sh"}))).unwrap();
        assert_eq!(resolve_executable(&s, None).unwrap(), Executable { kind: "custom", path: "/bin/sh".into() });
    }

    #[test]
    fn kinds_from_names() {
        assert_eq!(kind_of(Path::new("/usr/bin/chromium")), "chromium");
        assert_eq!(kind_of(Path::new("/opt/google/chrome/chrome")), "chrome");
        assert_eq!(kind_of(Path::new("/x/Google Chrome Canary")), "canary");
    }
}
