//! The PATH the node host gives its commands, bootstrapped at start-up as upstream's node host
//! does (`ensureNodePathEnv`).
//!
//! Upstream's node host rewrites its own PATH before serving: the directory of its runtime and
//! `/usr/bin`, `/bin` go first, and well-known user tool directories (Homebrew, pnpm, npm's
//! prefix, mise shims, `~/.local/bin`, bun, yarn) that exist go last, without duplicates. Every
//! command inherits that PATH and resolves executables through it, so the same `python3` is an
//! allowlist hit on one node host and a miss on the other unless both order PATH alike (the
//! differential harness found `python3` resolving to a pyenv shim on ours and to
//! `/usr/bin/python3` upstream). The marker `OPENCLAW_PATH_BOOTSTRAPPED=1` is set so that a
//! node host started from a command of another does not bootstrap twice, as upstream.

use std::path::{Path, PathBuf};

/// The environment variable that says PATH was already bootstrapped.
pub const BOOTSTRAP_MARKER: &str = "OPENCLAW_PATH_BOOTSTRAPPED";

/// What the bootstrap reads: the process environment, the home directory, this binary, and
/// whether a path is a directory (so tests need no real filesystem layout).
pub struct PathInputs<'a> {
    /// A process environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The home directory.
    pub home: PathBuf,
    /// This executable (upstream: its runtime's executable).
    pub exe: Option<PathBuf>,
    /// Whether `path` is an existing directory.
    pub is_dir: &'a dyn Fn(&Path) -> bool,
}

/// `true`, `1`, `yes` or `on`, trimmed and case-insensitive: upstream's truthy env values.
fn truthy(value: Option<String>) -> bool {
    value.is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"))
}

/// An absolute, non-`/proc` package-manager root (`PNPM_HOME`, `NPM_CONFIG_PREFIX`),
/// lexically normalised. Upstream also refuses one inside the working directory; the node
/// host runs from its service directory, so that rule is not reproduced.
fn trusted_root(value: Option<String>) -> Option<PathBuf> {
    let trimmed = value?.trim().to_string();
    let path = Path::new(&trimmed);
    if !path.is_absolute() {
        return None;
    }
    let normalized: PathBuf = path.components().collect();
    (!normalized.starts_with("/proc")).then_some(normalized)
}

/// The bootstrapped PATH, or `None` when the marker says it was done already (then PATH is
/// used as it is).
pub fn bootstrap(inputs: &PathInputs<'_>) -> Option<String> {
    let env = inputs.env;
    if truthy(env(BOOTSTRAP_MARKER)) {
        return None;
    }
    let existing = env("PATH").unwrap_or_default();
    let parts: Vec<&str> = existing.split(':').map(str::trim).filter(|p| !p.is_empty()).collect();
    let known = |dir: &Path| parts.iter().any(|p| Path::new(p) == dir) || (inputs.is_dir)(dir);
    let home = &inputs.home;

    let mut prepend: Vec<PathBuf> = Vec::new();
    if let Some(dir) = inputs.exe.as_deref().and_then(Path::parent) {
        prepend.push(dir.to_path_buf());
    }
    prepend.extend(["/usr/bin", "/bin"].map(PathBuf::from));

    let mut append: Vec<PathBuf> = vec![
        home.join(".linuxbrew/bin"),
        home.join(".linuxbrew/sbin"),
        "/home/linuxbrew/.linuxbrew/bin".into(),
        "/home/linuxbrew/.linuxbrew/sbin".into(),
        "/opt/homebrew/bin".into(),
        "/usr/local/bin".into(),
    ];
    if let Some(pnpm) = trusted_root(env("PNPM_HOME")) {
        append.push(pnpm.clone());
        append.push(pnpm.join("bin"));
    }
    if let Some(prefix) = trusted_root(env("NPM_CONFIG_PREFIX")) {
        append.push(prefix.join("bin"));
    }
    let mise_data = match (env("MISE_DATA_DIR"), env("XDG_DATA_HOME")) {
        (Some(dir), _) => PathBuf::from(dir),
        (None, Some(xdg)) => Path::new(&xdg).join("mise"),
        (None, None) => home.join(".local/share/mise"),
    };
    let mise_shims = mise_data.join("shims");
    if known(&mise_shims) {
        append.push(mise_shims);
    }
    if let Some(xdg_bin) = env("XDG_BIN_HOME") {
        append.push(xdg_bin.into());
    }
    for dir in [".local/bin", ".npm-global/bin", ".local/share/pnpm/bin", ".local/share/pnpm", ".bun/bin", ".yarn/bin"]
    {
        append.push(home.join(dir));
    }

    let mut merged: Vec<String> = Vec::new();
    let candidates = prepend
        .iter()
        .filter(|d| known(d))
        .map(|d| d.to_string_lossy().into_owned())
        .chain(parts.iter().map(|p| p.to_string()))
        .chain(append.iter().filter(|d| known(d)).map(|d| d.to_string_lossy().into_owned()));
    for entry in candidates {
        let entry = entry.trim().to_string();
        if !entry.is_empty() && !merged.contains(&entry) {
            merged.push(entry);
        }
    }
    Some(merged.join(":"))
}

/// The first executable file `name` in the `:`-separated `path` (what an `execvp` of the bare
/// name would run; for the helpers the node itself runs: `notify-send`, `du`).
pub fn find_executable(name: &str, path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn run(vars: &[(&str, &str)], dirs: &[&str]) -> Option<String> {
        let vars: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let dirs: Vec<PathBuf> = dirs.iter().map(PathBuf::from).collect();
        let env = move |k: &str| vars.get(k).cloned();
        let is_dir = move |p: &Path| dirs.iter().any(|d| d == p);
        bootstrap(&PathInputs {
            env: &env,
            home: "/home/u".into(),
            exe: Some("/opt/oc/bin/openclaw".into()),
            is_dir: &is_dir,
        })
    }

    /// Rule (upstream `ensureOpenClawCliOnPath`): the binary's directory, `/usr/bin` and `/bin`
    /// go first (moved, not repeated), existing user tool directories last, nothing twice.
    #[test]
    fn system_directories_first_user_tools_last() {
        let path = run(
            &[("PATH", "/root/.pyenv/shims:/usr/local/bin:/usr/bin:/bin")],
            &["/opt/oc/bin", "/usr/bin", "/bin", "/home/u/.local/bin", "/usr/local/bin"],
        );
        assert_eq!(
            path.as_deref(),
            Some("/opt/oc/bin:/usr/bin:/bin:/root/.pyenv/shims:/usr/local/bin:/home/u/.local/bin")
        );
    }

    /// Rule: a directory that neither exists nor is on PATH is not added; the marker turns the
    /// bootstrap off; `PNPM_HOME` must be absolute and outside `/proc`.
    #[test]
    fn only_known_directories_and_only_once() {
        assert_eq!(run(&[("PATH", "/x")], &[]).as_deref(), Some("/x"));
        assert_eq!(run(&[("PATH", "/x"), (BOOTSTRAP_MARKER, " Yes ")], &["/usr/bin"]), None);
        assert_eq!(
            run(&[("PATH", "/x"), ("PNPM_HOME", "/home/u/pnpm")], &["/home/u/pnpm"]).as_deref(),
            Some("/x:/home/u/pnpm")
        );
        assert_eq!(run(&[("PATH", "/x"), ("PNPM_HOME", "rel/pnpm")], &["rel/pnpm"]).as_deref(), Some("/x"));
        assert_eq!(run(&[("PATH", "/x"), ("PNPM_HOME", "/proc/1")], &["/proc/1"]).as_deref(), Some("/x"));
    }
}
