//! Locating the state directory and config file exactly as upstream does (`nodehost.md` §2.1).

use std::path::{Path, PathBuf};

/// The resolved locations of the state directory and the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatePaths {
    /// `OPENCLAW_STATE_DIR`, else `~/.openclaw` (or a legacy `~/.clawdbot` that exists).
    pub state_dir: PathBuf,
    /// `OPENCLAW_CONFIG_PATH`, else `<stateDir>/openclaw.json` (or legacy `clawdbot.json`).
    pub config_path: PathBuf,
}

impl StatePaths {
    /// Resolves from the process environment.
    pub fn from_env() -> Self {
        Self::resolve(|k| std::env::var(k).ok())
    }

    /// Resolves with an explicit environment lookup (testable without touching the process env).
    pub fn resolve(env: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty() && v != "undefined" && v != "null");
        let os_home = get("HOME").or_else(|| get("USERPROFILE")).map(PathBuf::from);
        let expand = |v: &str| -> PathBuf {
            match (v.strip_prefix('~'), &os_home) {
                (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
                    home.join(rest.trim_start_matches('/'))
                }
                _ => PathBuf::from(v),
            }
        };
        let home = get("OPENCLAW_HOME")
            .map(|h| expand(&h))
            .or_else(|| os_home.clone())
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."));
        let state_dir = match get("OPENCLAW_STATE_DIR") {
            Some(dir) => expand(&dir),
            None => current_or_legacy(home.join(".openclaw"), home.join(".clawdbot")),
        };
        let config_path = match get("OPENCLAW_CONFIG_PATH") {
            Some(p) => expand(&p),
            None => current_or_legacy(state_dir.join("openclaw.json"), state_dir.join("clawdbot.json")),
        };
        StatePaths { state_dir, config_path }
    }

    /// `<stateDir>/state/openclaw.sqlite`.
    pub fn database(&self) -> PathBuf {
        self.state_dir.join("state").join("openclaw.sqlite")
    }

    /// A path inside the state dir.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.state_dir.join(rel)
    }
}

/// The current name, unless only the pre-rename (clawdbot) one exists.
fn current_or_legacy(current: PathBuf, legacy: PathBuf) -> PathBuf {
    if !current.exists() && legacy.exists() {
        legacy
    } else {
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(pairs: &[(&str, &str)]) -> StatePaths {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        StatePaths::resolve(|k| map.get(k).cloned())
    }

    #[test]
    fn state_dir_precedence() {
        let p = resolve(&[("HOME", "/nonexistent-home"), ("OPENCLAW_STATE_DIR", "/x")]);
        assert_eq!(p.database(), PathBuf::from("/x/state/openclaw.sqlite"));
        assert_eq!(p.config_path, PathBuf::from("/x/openclaw.json"));
        let p = resolve(&[("HOME", "/nonexistent-home"), ("OPENCLAW_HOME", "/h")]);
        assert_eq!(p.state_dir, PathBuf::from("/h/.openclaw"));
        let p =
            resolve(&[("HOME", "/nonexistent-home"), ("OPENCLAW_STATE_DIR", "~/s"), ("OPENCLAW_HOME", "undefined")]);
        assert_eq!(p.state_dir, PathBuf::from("/nonexistent-home/s"));
        let p = resolve(&[("HOME", "/nonexistent-home"), ("OPENCLAW_CONFIG_PATH", "/etc/oc.json")]);
        assert_eq!(p.config_path, PathBuf::from("/etc/oc.json"));
    }

    #[test]
    fn legacy_clawdbot_dir_is_used_only_when_it_alone_exists() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".clawdbot")).unwrap();
        let h = home.path().to_str().unwrap();
        assert_eq!(resolve(&[("HOME", h)]).state_dir, home.path().join(".clawdbot"));
        std::fs::create_dir(home.path().join(".openclaw")).unwrap();
        assert_eq!(resolve(&[("HOME", h)]).state_dir, home.path().join(".openclaw"));
    }
}
