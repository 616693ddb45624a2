//! Our own supervisor for machines without an init system (containers, CI, minimal boxes).
//!
//! `install` writes `<stateDir>/service/definition.json` and the secrets to
//! `<stateDir>/service/node.env` (both 0600). `start` launches `openclaw node supervise` as a
//! detached session leader; it runs `node run`, copies its output into
//! `<stateDir>/service/logs/node.log` (rotated at 5 MiB, three old files kept), restarts it
//! with backoff (1 s doubling to 30 s, reset after a minute of uptime) when it dies, and stops
//! for good when it exits 78, or exits 1 after reporting a terminal refusal (bad credentials:
//! restarting cannot help) or five times in a row at start-up. Its state is in
//! `supervisor.json`, so `status` can say what happened without asking a live process.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use openclaw_state::node_status::{ConnectionState, NodeHostStatus};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::OpenOptionsExt;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::definition::ServiceDefinition;
use crate::{
    remove_file, write_file, InstalledService, Runtime, ServiceError, ServiceLabel, ServiceManager, StartOutcome,
    SupervisorKind,
};

/// Log rotation threshold.
const LOG_LIMIT: u64 = 5 * 1024 * 1024;
/// Rotated files kept (`node.log.1` … `node.log.3`).
const LOG_KEEP: u32 = 3;
/// Consecutive quick exit-1s after which a start-up failure is considered permanent.
const QUICK_EXIT_1_LIMIT: u32 = 5;

/// The pidfile supervisor's files.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `<stateDir>/service`, holding everything below.
    pub dir: PathBuf,
}

impl Layout {
    /// `<stateDir>/service`.
    pub fn new(state_dir: &Path) -> Self {
        Layout { dir: state_dir.join("service") }
    }
    /// `definition.json`: what to run.
    pub fn definition(&self) -> PathBuf {
        self.dir.join("definition.json")
    }
    /// `node.env`: secret environment values, kept out of the definition (mode 0600).
    pub fn secrets(&self) -> PathBuf {
        self.dir.join("node.env")
    }
    /// `supervisor.pid`: the supervisor's pid, locked (`flock`) for its whole life so a stale
    /// file is never mistaken for a running supervisor.
    pub fn pid(&self) -> PathBuf {
        self.dir.join("supervisor.pid")
    }
    /// `supervisor.json`: see [`SupervisorState`].
    pub fn state(&self) -> PathBuf {
        self.dir.join("supervisor.json")
    }
    /// `logs/node.log`: the node's output, rotated by the supervisor.
    pub fn log(&self) -> PathBuf {
        self.dir.join("logs").join("node.log")
    }
}

/// `definition.json`: what to run (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredDefinition {
    /// The file format version, for future migrations.
    pub version: u32,
    /// The node command line.
    pub program_arguments: Vec<String>,
    /// Non-secret environment, in install order.
    pub environment: Vec<(String, String)>,
    /// When `install` wrote it.
    pub installed_at_ms: i64,
}

/// `supervisor.json`: what the supervisor is doing and what happened last.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupervisorState {
    /// The supervisor process that writes this file.
    pub supervisor_pid: u32,
    /// When it started, so a reader can tell a fresh supervisor from a long-running one.
    pub supervisor_started_at_ms: i64,
    /// `running`, `backoff`, `stopped`, `gave-up`.
    pub state: String,
    /// The node process, while one runs.
    pub child_pid: Option<u32>,
    /// When the current node process started.
    pub child_started_at_ms: Option<i64>,
    /// Node restarts since the supervisor started.
    pub restarts: u32,
    /// Exit code of the last node process, when it exited normally.
    pub last_exit_code: Option<i32>,
    /// Signal that ended the last node process, when one did.
    pub last_exit_signal: Option<i32>,
    /// When the last node process ended.
    pub last_exit_at_ms: Option<i64>,
    /// Why it stopped for good, or why the last run ended.
    pub reason: Option<String>,
    /// When the supervisor last wrote this file.
    pub updated_at_ms: i64,
}

impl SupervisorState {
    fn read(path: &Path) -> Option<Self> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }

    fn write(&mut self, path: &Path) {
        self.updated_at_ms = openclaw_state::now_ms();
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        // Best effort: a full disk must not kill the supervisor.
        let _ = write_file(path, text.as_bytes(), 0o600);
    }
}

fn alive(pid: u32) -> bool {
    pid > 0 && kill(Pid::from_raw(pid as i32), None).is_ok()
}

/// The live supervisor's pid. A supervisor holds an exclusive `flock` on its pidfile for its
/// whole life, so a stale file (after a crash or reboot, its pid reused by something else) is
/// never mistaken for a running supervisor, and nothing unrelated is ever signalled.
pub fn live_supervisor(layout: &Layout) -> Option<u32> {
    let file = std::fs::File::open(layout.pid()).ok()?;
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_free) => None,
        Err((_, Errno::EWOULDBLOCK)) => std::fs::read_to_string(layout.pid()).ok()?.trim().parse().ok(),
        Err(_) => None,
    }
}

/// Whether `pid` is a node host (`… node run …`), checked before signalling a recorded child.
fn is_node_host(pid: u32) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => {
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.windows(2).any(|w| w[0] == b"node" && w[1] == b"run")
        }
        // No /proc (macOS): the supervisor is alive and recorded it moments ago.
        Err(_) => alive(pid),
    }
}

/// Reads `KEY=value` lines.
fn read_secrets(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

/// The pidfile supervisor as a [`ServiceManager`].
pub struct PidfileManager {
    /// Where its files are.
    pub layout: Layout,
    /// The `openclaw` binary that runs `node supervise`.
    pub exe: PathBuf,
}

impl PidfileManager {
    /// A manager for a state dir.
    pub fn new(state_dir: &Path, exe: PathBuf) -> Self {
        PidfileManager { layout: Layout::new(state_dir), exe }
    }

    fn stored(&self) -> Option<StoredDefinition> {
        serde_json::from_str(&std::fs::read_to_string(self.layout.definition()).ok()?).ok()
    }

    fn spawn_supervisor(&self) -> Result<(), ServiceError> {
        let mut cmd = std::process::Command::new(&self.exe);
        cmd.args(["node", "supervise", "--service-dir"])
            .arg(&self.layout.dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // SAFETY: setsid is async-signal-safe; it detaches the supervisor from our session so
        // it outlives this command and the terminal.
        unsafe {
            cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(std::io::Error::from));
        }
        // A previous run's state must not be mistaken for this one's.
        remove_file(&self.layout.state())?;
        let mut child = cmd.spawn().map_err(|e| ServiceError::Command {
            command: format!("{} node supervise", self.exe.display()),
            detail: e.to_string(),
        })?;
        let spawned = child.id();
        // Reap it in the background if it exits while we wait (it normally outlives us).
        std::thread::spawn(move || child.wait());
        // Wait until this supervisor has started the node (or already given up on it).
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(st) = SupervisorState::read(&self.layout.state()) {
                if st.supervisor_pid == spawned && (st.child_pid.is_some() || st.state == "gave-up") {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(ServiceError::Unavailable("the supervisor did not start the node host within 10 s; see the log".into()))
    }
}

impl ServiceManager for PidfileManager {
    fn kind(&self) -> SupervisorKind {
        SupervisorKind::Pidfile
    }

    fn label(&self) -> ServiceLabel {
        ServiceLabel {
            label: "pidfile",
            loaded: self.layout.definition().exists(),
            loaded_text: "installed",
            not_loaded_text: "not installed",
        }
    }

    fn install(&self, def: &ServiceDefinition) -> Result<Vec<String>, ServiceError> {
        for (k, v) in &def.secrets {
            if v.contains('\n') || v.contains('\r') {
                return Err(ServiceError::Invalid(format!("{k} cannot contain a newline")));
            }
        }
        openclaw_state::db::create_private_dir(&self.layout.dir)
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        let stored = StoredDefinition {
            version: 1,
            program_arguments: def.program_arguments.clone(),
            environment: def.environment.clone(),
            installed_at_ms: openclaw_state::now_ms(),
        };
        write_file(
            &self.layout.definition(),
            serde_json::to_string_pretty(&stored).expect("serialisable").as_bytes(),
            0o600,
        )?;
        if def.secrets.is_empty() {
            remove_file(&self.layout.secrets())?;
        } else {
            let text: String = def.secrets.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            write_file(&self.layout.secrets(), text.as_bytes(), 0o600)?;
        }
        // Like `systemctl enable` + `restart`: the new definition takes effect now.
        self.stop()?;
        self.spawn_supervisor()?;
        Ok(vec![format!("Installed pidfile service: {}", self.layout.definition().display())])
    }

    fn start(&self) -> Result<StartOutcome, ServiceError> {
        if !self.layout.definition().exists() {
            return Err(ServiceError::NotInstalled("not installed"));
        }
        if live_supervisor(&self.layout).is_some() {
            let st = SupervisorState::read(&self.layout.state());
            return Ok(StartOutcome::AlreadyRunning(st.and_then(|s| s.child_pid)));
        }
        self.spawn_supervisor()?;
        Ok(StartOutcome::Started)
    }

    fn stop(&self) -> Result<(), ServiceError> {
        let Some(pid) = live_supervisor(&self.layout) else { return Ok(()) };
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if !alive(pid) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // It did not stop in time: kill it and the node it was running.
        let child = SupervisorState::read(&self.layout.state()).and_then(|s| s.child_pid);
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        if let Some(child) = child.filter(|c| is_node_host(*c)) {
            let _ = kill(Pid::from_raw(child as i32), Signal::SIGKILL);
        }
        let _ = remove_file(&self.layout.pid());
        Ok(())
    }

    fn restart(&self) -> Result<(), ServiceError> {
        if !self.layout.definition().exists() {
            return Err(ServiceError::NotInstalled("not installed"));
        }
        self.stop()?;
        self.spawn_supervisor()
    }

    fn uninstall(&self) -> Result<Vec<PathBuf>, ServiceError> {
        self.stop()?;
        if !self.layout.dir.exists() {
            return Ok(Vec::new());
        }
        std::fs::remove_dir_all(&self.layout.dir).map_err(|source| ServiceError::Io {
            action: "remove",
            path: self.layout.dir.clone(),
            source,
        })?;
        Ok(vec![self.layout.dir.clone()])
    }

    fn installed(&self) -> Option<InstalledService> {
        let stored = self.stored()?;
        let mut sources: BTreeMap<String, &'static str> =
            stored.environment.iter().map(|(k, _)| (k.clone(), "inline")).collect();
        for (k, _) in read_secrets(&self.layout.secrets()) {
            sources.insert(k, "file");
        }
        Some(InstalledService {
            program_arguments: stored.program_arguments,
            environment: stored.environment.into_iter().collect(),
            environment_value_sources: sources,
            source_path: self.layout.definition(),
            definition_paths: vec![self.layout.definition(), self.layout.secrets()],
        })
    }

    fn runtime(&self) -> Runtime {
        let st = SupervisorState::read(&self.layout.state());
        let supervisor = live_supervisor(&self.layout);
        let Some(st) = st else {
            return Runtime { status: "stopped", ..Default::default() };
        };
        let child_alive = st.child_pid.is_some_and(alive);
        let status = if supervisor.is_some() && child_alive { "running" } else { "stopped" };
        let detail = match (supervisor, st.state.as_str()) {
            (None, "gave-up") => st.reason.clone(),
            (None, "stopped") => Some("stopped (openclaw node stop)".into()),
            (None, _) => Some("the supervisor is not running (killed, or the machine restarted)".into()),
            (Some(_), "backoff") => Some(format!("restarting after: {}", st.reason.clone().unwrap_or_default())),
            _ => None,
        };
        Runtime {
            status,
            pid: if child_alive { st.child_pid } else { None },
            started_at_ms: if child_alive { st.child_started_at_ms } else { None },
            state: Some(st.state.clone()),
            sub_state: None,
            last_exit_status: st.last_exit_code,
            last_exit_reason: st
                .last_exit_signal
                .map(|s| format!("signal {s}"))
                .or_else(|| st.last_exit_code.map(|_| "exited".into())),
            restarts: Some(st.restarts),
            detail,
        }
    }
}

/// A log file that rotates itself.
struct RotatingLog {
    path: PathBuf,
}

impl RotatingLog {
    fn append(&self, line: &str) {
        if std::fs::metadata(&self.path).map(|m| m.len() >= LOG_LIMIT).unwrap_or(false) {
            for i in (1..LOG_KEEP).rev() {
                let _ = std::fs::rename(self.rotated(i), self.rotated(i + 1));
            }
            let _ = std::fs::rename(&self.path, self.rotated(1));
        }
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&self.path) {
            let _ = writeln!(f, "{line}");
        }
    }

    fn rotated(&self, i: u32) -> PathBuf {
        PathBuf::from(format!("{}.{i}", self.path.display()))
    }

    fn supervisor(&self, msg: &str) {
        self.append(&format!("{} [supervisor] {msg}", openclaw_state::utc_timestamp(openclaw_state::now_ms())));
    }
}

/// The supervisor process (`openclaw node supervise`): runs until told to stop or until the
/// node exits with a code after which restarting cannot help. Returns the process exit code.
pub fn supervise(service_dir: &Path) -> i32 {
    let layout = Layout { dir: service_dir.to_path_buf() };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(_) => return 1,
    };
    runtime.block_on(supervise_loop(layout))
}

async fn supervise_loop(layout: Layout) -> i32 {
    use tokio::signal::unix::{signal, SignalKind};
    let log = RotatingLog { path: layout.log() };
    let _ = openclaw_state::db::create_private_dir(&layout.dir.join("logs"));
    let pid_file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(layout.pid())
    {
        Ok(f) => f,
        Err(e) => {
            log.supervisor(&format!("cannot open {}: {e}", layout.pid().display()));
            return 1;
        }
    };
    // Held until this function returns: the lock is what "running" means.
    let mut pid_lock = match Flock::lock(pid_file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err(_) => {
            log.supervisor(&format!(
                "another supervisor (pid {}) is running; exiting",
                live_supervisor(&layout).unwrap_or(0)
            ));
            return 0;
        }
    };
    {
        use std::io::{Seek, SeekFrom};
        let _ = pid_lock.set_len(0);
        let _ = pid_lock.seek(SeekFrom::Start(0));
        let _ = writeln!(*pid_lock, "{}", std::process::id());
    }
    let Some(def) = std::fs::read_to_string(layout.definition())
        .ok()
        .and_then(|t| serde_json::from_str::<StoredDefinition>(&t).ok())
    else {
        log.supervisor("no service definition; run `openclaw node install`");
        return 1;
    };
    let secrets = read_secrets(&layout.secrets());
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return 1;
    };
    let mut st = SupervisorState {
        supervisor_pid: std::process::id(),
        supervisor_started_at_ms: openclaw_state::now_ms(),
        state: "starting".into(),
        ..Default::default()
    };
    let mut backoff = Duration::from_secs(1);
    let mut quick_exit_1 = 0u32;
    let status_file = layout.dir.parent().map(|d| d.join(openclaw_state::node_status::FILE_NAME)).unwrap_or_default();
    let code = 'outer: loop {
        let Some((program, args)) = def.program_arguments.split_first() else {
            log.supervisor("the service definition has no program");
            break 1;
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(def.environment.iter().cloned())
            .envs(secrets.iter().cloned())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                log.supervisor(&format!("cannot start {program}: {e}"));
                st.state = "gave-up".into();
                st.reason = Some(format!("cannot start {program}: {e}"));
                st.write(&layout.state());
                break 1;
            }
        };
        st.state = "running".into();
        st.child_pid = child.id();
        let child_pid = child.id();
        st.child_started_at_ms = Some(openclaw_state::now_ms());
        st.write(&layout.state());
        log.supervisor(&format!("started node host (pid {})", child.id().unwrap_or(0)));
        let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child.stderr.take().map(|s| Box::new(s) as _),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    let _ = tx.send(line);
                }
            });
        }
        drop(tx);
        let mut last_lines: Vec<String> = Vec::new();
        let status = loop {
            tokio::select! {
                Some(line) = lines.recv() => {
                    log.append(&line);
                    last_lines.push(line);
                    if last_lines.len() > 20 {
                        last_lines.remove(0);
                    }
                }
                status = child.wait() => break status,
                _ = term.recv() => break 'outer stop_child(&mut child, &log, &layout, &mut st).await,
                _ = int.recv() => break 'outer stop_child(&mut child, &log, &layout, &mut st).await,
            }
        };
        // Drain what the node printed last.
        while let Ok(Some(line)) = tokio::time::timeout(Duration::from_millis(200), lines.recv()).await {
            log.append(&line);
            last_lines.push(line);
        }
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                log.supervisor(&format!("lost the node host: {e}"));
                break 1;
            }
        };
        use std::os::unix::process::ExitStatusExt;
        st.last_exit_code = status.code();
        st.last_exit_signal = status.signal();
        st.last_exit_at_ms = Some(openclaw_state::now_ms());
        st.child_pid = None;
        let what = match (status.code(), status.signal()) {
            (Some(c), _) => format!("exited with code {c}"),
            (_, Some(s)) => format!("was killed by signal {s}"),
            _ => "ended".into(),
        };
        // Exit 1 is terminal only when the node itself reported a terminal refusal (its status
        // file says "failed"), or when it keeps failing at start-up; a transient start-up error
        // (say, the database busy while another tool migrates it) is retried.
        let quick = started.elapsed() < Duration::from_secs(10);
        quick_exit_1 = if status.code() == Some(1) && quick { quick_exit_1 + 1 } else { 0 };
        let reported_failed = NodeHostStatus::read(&status_file)
            .is_some_and(|s| Some(s.pid) == child_pid && s.state == ConnectionState::Failed);
        let terminal = match status.code() {
            Some(78) => true,
            Some(1) => reported_failed || quick_exit_1 >= QUICK_EXIT_1_LIMIT,
            _ => false,
        };
        if let Some(code) = status.code().filter(|_| terminal) {
            let why = last_lines
                .iter()
                .rev()
                .find(|l| l.contains("detail=") || l.contains("failed") || l.contains("openclaw:"))
                .cloned()
                .unwrap_or_default();
            let reason =
                format!("node host {what}; not restarting (fix the configuration, then `openclaw node start`): {why}");
            log.supervisor(&reason);
            st.state = "gave-up".into();
            st.reason = Some(reason);
            st.write(&layout.state());
            break code;
        }
        if started.elapsed() >= Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        st.restarts += 1;
        st.state = "backoff".into();
        st.reason = Some(format!("node host {what}"));
        st.write(&layout.state());
        log.supervisor(&format!("node host {what}; restarting in {} s", backoff.as_secs()));
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = term.recv() => { st.state = "stopped".into(); st.reason = Some("stopped".into()); st.write(&layout.state()); break 0; }
            _ = int.recv() => { st.state = "stopped".into(); st.reason = Some("stopped".into()); st.write(&layout.state()); break 0; }
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    };
    let _ = remove_file(&layout.pid());
    code
}

/// SIGTERM the node, give it 10 s, then SIGKILL; record the stop.
async fn stop_child(
    child: &mut tokio::process::Child,
    log: &RotatingLog,
    layout: &Layout,
    st: &mut SupervisorState,
) -> i32 {
    log.supervisor("stopping node host");
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
    st.state = "stopped".into();
    st.child_pid = None;
    st.reason = Some("stopped".into());
    st.write(&layout.state());
    log.supervisor("stopped");
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_rotation_keeps_three() {
        let dir = tempfile::tempdir().unwrap();
        let log = RotatingLog { path: dir.path().join("node.log") };
        let big = "x".repeat(1024 * 1024);
        for _ in 0..30 {
            log.append(&big);
        }
        assert!(dir.path().join("node.log.3").exists());
        assert!(!dir.path().join("node.log.4").exists());
        assert!(std::fs::metadata(dir.path().join("node.log")).unwrap().len() <= LOG_LIMIT + big.len() as u64 + 1);
    }
}
