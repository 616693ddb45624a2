//! Launching and stopping the managed Chromium (spec/browser.md §2.1, upstream `chrome.ts`).
//!
//! Upstream spawns Chromium itself with a fixed argument list, a per-profile user data
//! directory and a fixed CDP port, then polls `/json/version` until the child answers. We do the
//! same, plus one thing upstream cannot do from Node: **no orphan Chromium ever**. The child
//! runs in its own process group and gets `PR_SET_PDEATHSIG = SIGKILL`, so a SIGKILLed node host
//! takes its browser down with it, and [`RunningBrowser::stop`] (and `Drop`) signal the whole
//! group, renderers and GPU helpers included.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use crate::cdp::{http_json, CdpClient};
use crate::detect::Executable;
use crate::settings::{BrowserSettings, Profile};

/// How long Chromium gets to answer `/json/version` after spawn (upstream's local launch
/// timeout, 15 s: a cold first start on a busy 2-core box takes several seconds).
pub const LAUNCH_HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the browser WebSocket gets once HTTP answers (upstream `localCdpReadyTimeoutMs`).
pub const CDP_READY_TIMEOUT: Duration = Duration::from_secs(8);
/// How much of Chromium's stderr is kept for launch errors.
const STDERR_TAIL: usize = 4096;

/// Why Chromium could not be launched. The messages follow upstream's texts where it has one.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// Something else listens on the profile's CDP port.
    #[error("PortInUseError: Port {0} is already in use.")]
    PortInUse(u16),
    /// A live Chromium holds the profile's `SingletonLock`.
    #[error(
        "Cannot start browser profile \"{profile}\": {reason}. Close the browser using this profile and check its lock before retrying."
    )]
    ProfileLocked {
        /// The profile name.
        profile: String,
        /// Who holds the lock.
        reason: String,
    },
    /// The profile name cannot be used as a directory name.
    #[error("Browser profile \"{0}\" cannot launch: its name is not usable as a directory name")]
    BadProfileName(String),
    /// Spawning failed (missing or non-executable file, no memory, …).
    #[error("Failed to spawn {exe}: {reason}")]
    Spawn {
        /// The executable.
        exe: String,
        /// The OS error.
        reason: String,
    },
    /// Chromium did not bring CDP up in time, or exited first.
    #[error("Failed to start Chrome CDP on port {port} for profile \"{profile}\". {detail}")]
    CdpNotReady {
        /// The CDP port.
        port: u16,
        /// The profile name.
        profile: String,
        /// What was observed, with Chromium's stderr tail.
        detail: String,
    },
    /// Creating the user data directory failed.
    #[error("Cannot create browser user data directory {path}: {reason}")]
    UserDataDir {
        /// The directory.
        path: String,
        /// The OS error.
        reason: String,
    },
}

/// `<stateDir>/browser/<profile>/user-data`, upstream's managed user data directory.
pub fn user_data_dir(state_dir: &Path, profile: &str) -> PathBuf {
    state_dir.join("browser").join(profile).join("user-data")
}

/// Upstream's exact launch arguments (`buildOpenClawChromeLaunchArgs`), Linux flavour.
pub fn launch_args(settings: &BrowserSettings, profile: &Profile, user_data_dir: &Path, headless: bool) -> Vec<String> {
    let mut args = vec![
        format!("--remote-debugging-port={}", profile.cdp_port),
        format!("--user-data-dir={}", user_data_dir.display()),
        "--no-first-run".into(),
        "--no-default-browser-check".into(),
        "--disable-sync".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-features=Translate,MediaRouter".into(),
        "--disable-session-crashed-bubble".into(),
        "--hide-crash-restore-bubble".into(),
        "--password-store=basic".into(),
    ];
    if headless {
        args.push("--headless=new".into());
        args.push("--disable-gpu".into());
    }
    if settings.no_sandbox {
        args.push("--no-sandbox".into());
    }
    if cfg!(target_os = "linux") {
        args.push("--disable-dev-shm-usage".into());
    }
    let sets_proxy = settings.extra_args.iter().any(|a| {
        let a = a.trim();
        ["--proxy-server", "--proxy-pac-url", "--proxy-auto-detect", "--no-proxy-server"]
            .iter()
            .any(|f| a == *f || a.starts_with(&format!("{f}=")))
    });
    if !sets_proxy {
        args.push("--no-proxy-server".into());
    }
    args.extend(settings.extra_args.iter().cloned());
    args
}

/// A Chromium this crate launched. Dropping it kills the whole process group.
#[derive(Debug)]
pub struct RunningBrowser {
    /// The browser process id (also its process group id).
    pub pid: u32,
    /// What was launched.
    pub exe: Executable,
    /// The profile's user data directory.
    pub user_data_dir: PathBuf,
    /// The CDP port it listens on.
    pub cdp_port: u16,
    /// Whether it runs headless, and why (`headlessSource`).
    pub headless: (bool, &'static str),
    /// The browser target's WebSocket URL from `/json/version`.
    pub browser_ws_url: String,
    child: Option<Child>,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
}

/// Everything [`launch`] needs.
pub struct LaunchRequest<'a> {
    /// The resolved settings (arguments, sandbox, extra args).
    pub settings: &'a BrowserSettings,
    /// The profile to launch.
    pub profile: &'a Profile,
    /// The executable to run.
    pub exe: Executable,
    /// The node's state directory (the user data lives below it).
    pub state_dir: &'a Path,
    /// Headless or not, and the `headlessSource`.
    pub headless: (bool, &'static str),
}

fn port_in_use(port: u16) -> bool {
    matches!(std::net::TcpListener::bind(("127.0.0.1", port)), Err(e) if e.kind() == ErrorKind::AddrInUse)
}

fn pid_alive(pid: i32) -> bool {
    // A zombie still answers signal 0, but holds nothing: a Chromium killed with its node
    // (the parent-death signal) stays a zombie until init reaps it, and a node restarted by
    // its supervisor must be able to launch the browser again at once.
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st == "Z")))
        .unwrap_or(false);
    pid > 0 && !zombie && !matches!(nix::sys::signal::kill(Pid::from_raw(pid), None), Err(nix::errno::Errno::ESRCH))
}

/// Checks `SingletonLock` (a symlink `<host>-<pid>`): a live holder refuses the launch; a dead
/// holder on this host leaves stale `Singleton*` files, which are removed so Chromium does not
/// refuse to start ("profile in use").
fn check_singleton_lock(dir: &Path, profile: &str) -> Result<(), LaunchError> {
    let lock = dir.join("SingletonLock");
    let Ok(target) = std::fs::read_link(&lock) else { return Ok(()) };
    let target = target.to_string_lossy().to_string();
    let Some((host, pid)) = target.rsplit_once('-') else { return Ok(()) };
    let pid: i32 = pid.parse().unwrap_or(0);
    let our_host = nix::unistd::gethostname().map(|h| h.to_string_lossy().to_string()).unwrap_or_default();
    if host != our_host {
        return Err(LaunchError::ProfileLocked {
            profile: profile.into(),
            reason: format!("its profile lock belongs to host {host:?}"),
        });
    }
    if pid_alive(pid) {
        return Err(LaunchError::ProfileLocked {
            profile: profile.into(),
            reason: "Chromium still holds its profile lock".into(),
        });
    }
    for name in ["SingletonLock", "SingletonSocket", "SingletonCookie"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    tracing::warn!(profile, "removed stale Chromium Singleton* locks (pid {pid} is gone)");
    Ok(())
}

/// Environment variables upstream removes so the managed browser never inherits a proxy.
const PROXY_ENV: &[&str] =
    &["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"];

/// Spawns Chromium for `req.profile` and waits until its CDP endpoint answers.
///
/// Refuses when the CDP port is taken or a live Chromium holds the profile lock. The child is
/// a process-group leader with a parent-death SIGKILL, its stdout is discarded and the tail of
/// its stderr is kept for the error message.
pub async fn launch(req: LaunchRequest<'_>) -> Result<RunningBrowser, LaunchError> {
    let name = &req.profile.name;
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(LaunchError::BadProfileName(name.clone()));
    }
    if port_in_use(req.profile.cdp_port) {
        return Err(LaunchError::PortInUse(req.profile.cdp_port));
    }
    let dir = user_data_dir(req.state_dir, name);
    std::fs::create_dir_all(&dir)
        .map_err(|e| LaunchError::UserDataDir { path: dir.display().to_string(), reason: e.to_string() })?;
    check_singleton_lock(&dir, name)?;

    let args = launch_args(req.settings, req.profile, &dir, req.headless.0);
    let mut cmd = Command::new(&req.exe.path);
    cmd.args(&args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    for k in PROXY_ENV {
        cmd.env_remove(k);
    }
    if let Some(home) = std::env::var_os("HOME") {
        cmd.env("HOME", home);
    }
    let chromium_state = std::env::temp_dir().join("openclaw").join(".chromium");
    for k in ["XDG_CONFIG_HOME", "XDG_CACHE_HOME"] {
        if std::env::var_os(k).is_none() {
            cmd.env(k, &chromium_state);
        }
    }
    cmd.process_group(0);
    cmd.kill_on_drop(true);
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed. It makes three raw syscalls (prctl, getppid, open/write/close on a
    // static C string) and allocates nothing, takes no locks, and touches no parent state
    // except the `parent` pid copied by value.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            // The parent may have died between fork and prctl; the death signal would then
            // never come, so give up now rather than run as an orphan.
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::other("parent exited before exec"));
            }
            // Upstream raises the browser's OOM score so the kernel picks Chromium, not the
            // node host, under memory pressure. Best effort.
            if let Ok(fd) = nix::fcntl::open(
                c"/proc/self/oom_score_adj",
                nix::fcntl::OFlag::O_WRONLY,
                nix::sys::stat::Mode::empty(),
            ) {
                let _ = nix::unistd::write(&fd, b"1000");
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| LaunchError::Spawn { exe: req.exe.path.display().to_string(), reason: e.to_string() })?;
    let pid = child.id().unwrap_or(0);
    let stderr_tail = Arc::new(Mutex::new(Vec::new()));
    if let Some(mut err) = child.stderr.take() {
        let tail = stderr_tail.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                t.extend_from_slice(&buf[..n]);
                if t.len() > STDERR_TAIL {
                    let cut = t.len() - STDERR_TAIL;
                    t.drain(..cut);
                }
            }
        });
    }
    let mut running = RunningBrowser {
        pid,
        exe: req.exe.clone(),
        user_data_dir: dir,
        cdp_port: req.profile.cdp_port,
        headless: req.headless,
        browser_ws_url: String::new(),
        child: Some(child),
        stderr_tail,
    };
    tracing::info!(pid, profile = %name, port = req.profile.cdp_port, "managed Chromium spawned");

    let authority = format!("127.0.0.1:{}", req.profile.cdp_port);
    let deadline = Instant::now() + LAUNCH_HTTP_TIMEOUT;
    let not_ready = |running: &RunningBrowser, what: String| LaunchError::CdpNotReady {
        port: req.profile.cdp_port,
        profile: name.clone(),
        detail: format!("{what}{}", running.stderr_hint()),
    };
    loop {
        if let Some(status) = running.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            let err = not_ready(&running, format!("Chromium exited before CDP came up ({status})."));
            running.kill_group_now();
            return Err(err);
        }
        if let Ok(v) = http_json(&authority, "GET", "/json/version", Duration::from_millis(1500)).await {
            if let Some(ws) = v.get("webSocketDebuggerUrl").and_then(Value::as_str) {
                running.browser_ws_url = ws.to_string();
                break;
            }
        }
        if Instant::now() >= deadline {
            let err = not_ready(
                &running,
                format!(
                    "CDP HTTP endpoint http://{authority}/json/version did not answer within {}ms.",
                    LAUNCH_HTTP_TIMEOUT.as_millis()
                ),
            );
            running.stop(None).await;
            return Err(err);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(running)
}

impl RunningBrowser {
    fn stderr_hint(&self) -> String {
        let t = self.stderr_tail.lock().unwrap_or_else(|p| p.into_inner());
        let text = String::from_utf8_lossy(&t);
        let text = text.trim();
        if text.is_empty() {
            String::new()
        } else {
            format!("\nChrome stderr:\n{text}")
        }
    }

    /// True while the browser's main process has not exited.
    pub fn is_alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn kill_group_now(&mut self) {
        if self.pid > 0 {
            let _ = killpg(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
        }
    }

    async fn wait_exit(&mut self, timeout: Duration) -> bool {
        match self.child.as_mut() {
            Some(c) => tokio::time::timeout(timeout, c.wait()).await.is_ok(),
            None => true,
        }
    }

    /// Stops the browser as upstream does: `Browser.close` over CDP (when a client is given),
    /// then SIGTERM, then SIGKILL, each with a few seconds' grace. The whole process group
    /// gets the signals, and a final SIGKILL sweeps helpers that outlived the main process.
    pub async fn stop(&mut self, cdp: Option<&CdpClient>) {
        if self.child.is_none() {
            return;
        }
        let mut exited = false;
        if let Some(c) = cdp {
            if c.send_timeout("Browser.close", json!({}), None, Duration::from_millis(1500)).await.is_ok()
                || c.is_closed()
            {
                exited = self.wait_exit(Duration::from_secs(3)).await;
            }
        }
        if !exited && self.pid > 0 {
            let _ = killpg(Pid::from_raw(self.pid as i32), Signal::SIGTERM);
            exited = self.wait_exit(Duration::from_secs(3)).await;
        }
        self.kill_group_now();
        if !exited {
            let _ = self.wait_exit(Duration::from_secs(5)).await;
        }
        self.child = None;
        tracing::info!(pid = self.pid, "managed Chromium stopped");
    }
}

impl Drop for RunningBrowser {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.kill_group_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn args_are_upstreams() {
        let s = BrowserSettings::from_config(Some(&json!({"noSandbox": true, "extraArgs": ["--lang=en"]}))).unwrap();
        let p = s.profile("openclaw").unwrap();
        let args = launch_args(&s, p, Path::new("/s/browser/openclaw/user-data"), true);
        assert_eq!(
            args,
            [
                "--remote-debugging-port=18800",
                "--user-data-dir=/s/browser/openclaw/user-data",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-sync",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-features=Translate,MediaRouter",
                "--disable-session-crashed-bubble",
                "--hide-crash-restore-bubble",
                "--password-store=basic",
                "--headless=new",
                "--disable-gpu",
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--no-proxy-server",
                "--lang=en",
            ]
        );
        let s = BrowserSettings::from_config(Some(&json!({"extraArgs": ["--proxy-server=http://p:1"]}))).unwrap();
        let args = launch_args(&s, s.profile("openclaw").unwrap(), Path::new("/d"), false);
        assert!(!args.iter().any(|a| a == "--no-proxy-server" || a == "--headless=new" || a == "--no-sandbox"));
    }

    #[test]
    fn stale_lock_is_cleared_and_live_lock_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let host = nix::unistd::gethostname().unwrap().to_string_lossy().to_string();
        // A pid that cannot exist (above pid_max).
        std::os::unix::fs::symlink(format!("{host}-99999999"), dir.path().join("SingletonLock")).unwrap();
        check_singleton_lock(dir.path(), "openclaw").unwrap();
        assert!(std::fs::symlink_metadata(dir.path().join("SingletonLock")).is_err());
        std::os::unix::fs::symlink(format!("{host}-{}", std::process::id()), dir.path().join("SingletonLock")).unwrap();
        let e = check_singleton_lock(dir.path(), "openclaw").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot start browser profile \"openclaw\": Chromium still holds its profile lock. Close the browser using this profile and check its lock before retrying."
        );
    }

    #[test]
    fn port_in_use_is_detected() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(port_in_use(l.local_addr().unwrap().port()));
    }
}
