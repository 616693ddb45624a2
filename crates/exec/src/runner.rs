//! The process runner (`exec.md` §5.5).
//!
//! A command runs directly (no shell) in its own session and process group, with stdin at EOF,
//! the environment it is given and nothing else. Output is captured up to 200,000 bytes in
//! total (arrival order); the rest is read and discarded, so a command that prints gigabytes
//! costs the node no memory. A timeout sends SIGTERM to the group, waits 300 ms, then SIGKILLs
//! it; cancellation does the same. The result maps exactly onto upstream's payload.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};

/// Total bytes of stdout + stderr kept.
pub const OUTPUT_CAP: usize = 200_000;
/// Appended when output was dropped.
pub const TRUNCATED_SUFFIX: &str = "\n... (truncated)";
/// Grace between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_millis(300);
/// How long to keep draining pipes that descendants hold open after the child exited.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The program and its arguments (`argv[0]` is resolved on the child's PATH).
    pub argv: Vec<String>,
    /// The working directory (`None`: the node's own).
    pub cwd: Option<PathBuf>,
    /// The child's complete environment (nothing else is inherited).
    pub env: BTreeMap<String, String>,
    /// `None`: no node-side deadline.
    pub timeout: Option<Duration>,
}

/// The `system.run` success payload, field order as upstream serialises it. Operators read it
/// back leniently (absent fields take their defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RunResult {
    /// The exit code (124 after a timeout); absent when a signal ended it or it never started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The node-side deadline killed it.
    pub timed_out: bool,
    /// Exit code 0 and not timed out.
    pub success: bool,
    /// Captured stdout (capped, lossily decoded).
    pub stdout: String,
    /// Captured stderr (capped, lossily decoded).
    pub stderr: String,
    /// Why it could not be launched or captured; `None` once the process ran.
    pub error: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// It ran (or failed to launch): reply with this payload.
    Finished(RunResult),
    /// Cancelled: the process group was killed; no reply is due.
    Cancelled,
}

/// Head capture shared by both streams.
struct Capture {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    dropped: bool,
}

impl Capture {
    fn push(&mut self, is_stderr: bool, chunk: &[u8]) {
        let room = OUTPUT_CAP - (self.stdout.len() + self.stderr.len());
        let take = chunk.len().min(room);
        let target = if is_stderr { &mut self.stderr } else { &mut self.stdout };
        target.extend_from_slice(&chunk[..take]);
        if take < chunk.len() {
            self.dropped = true;
        }
    }
}

/// Decodes kept bytes, dropping an incomplete UTF-8 sequence at the cut.
fn decode(mut bytes: Vec<u8>) -> String {
    if let Err(e) = std::str::from_utf8(&bytes) {
        if e.error_len().is_none() {
            bytes.truncate(e.valid_up_to());
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn kill_group(pgid: i32, signal: Signal) {
    let _ = killpg(Pid::from_raw(pgid), signal);
}

/// Runs the command to completion, timeout or cancellation.
pub async fn run(spec: RunSpec, mut cancel: watch::Receiver<bool>) -> RunOutcome {
    let Some((program, args)) = spec.argv.split_first() else {
        return RunOutcome::Finished(launch_failure("command required".into()));
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).env_clear().envs(&spec.env).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    // SAFETY: setsid is async-signal-safe. The child leads its own session and process group,
    // so a timeout or cancel can kill everything it started with one killpg.
    unsafe {
        cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(std::io::Error::from));
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return RunOutcome::Finished(launch_failure(describe_spawn_error(&e, spec.cwd.as_ref()))),
    };
    drop(child.stdin.take()); // EOF at once
    let pgid = child.id().map(|p| p as i32).unwrap_or(0);

    let (tx, mut chunks) = mpsc::channel::<(bool, Vec<u8>)>(16);
    for (is_stderr, stream) in [
        (false, child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>)),
        (true, child.stderr.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>)),
    ] {
        let Some(mut stream) = stream else { continue };
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 || tx.send((is_stderr, buf[..n].to_vec())).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);

    let mut capture = Capture { stdout: Vec::new(), stderr: Vec::new(), dropped: false };
    let deadline = spec.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut timed_out = false;
    let status = loop {
        tokio::select! {
            Some((is_stderr, chunk)) = chunks.recv() => capture.push(is_stderr, &chunk),
            status = child.wait() => break status,
            _ = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() && !timed_out => {
                timed_out = true;
                terminate(pgid, &mut child).await;
            }
            _ = cancelled(&mut cancel) => {
                terminate(pgid, &mut child).await;
                return RunOutcome::Cancelled;
            }
        }
    };
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            return RunOutcome::Finished(launch_failure(format!(
                "Command failed during launch or output capture ({e})"
            )))
        }
    };
    if status.code() != Some(0) {
        // Whatever the command left running in its group goes with it.
        kill_group(pgid, Signal::SIGKILL);
    }
    // Drain what is left in the pipes (descendants may hold them open): at most 1 s.
    let drain_until = tokio::time::Instant::now() + DRAIN_LIMIT;
    while let Ok(Some((is_stderr, chunk))) = tokio::time::timeout_at(drain_until, chunks.recv()).await {
        capture.push(is_stderr, &chunk);
    }

    let mut stdout = decode(capture.stdout);
    let mut stderr = decode(capture.stderr);
    if capture.dropped {
        if stderr.trim().is_empty() {
            stdout.push_str(TRUNCATED_SUFFIX);
        } else {
            stderr.push_str(TRUNCATED_SUFFIX);
        }
    }
    let mut exit_code = status.code();
    if timed_out && matches!(exit_code, None | Some(0)) {
        exit_code = Some(124);
    }
    RunOutcome::Finished(RunResult {
        exit_code,
        timed_out,
        success: exit_code == Some(0) && !timed_out,
        stdout,
        stderr,
        error: None,
    })
}

/// Resolves once `cancel` is set; never, if its sender is gone without cancelling.
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    loop {
        if *cancel.borrow_and_update() {
            return;
        }
        if cancel.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// SIGTERM the group, wait up to 300 ms, then SIGKILL it.
async fn terminate(pgid: i32, child: &mut tokio::process::Child) {
    kill_group(pgid, Signal::SIGTERM);
    if tokio::time::timeout(KILL_GRACE, child.wait()).await.is_err() {
        kill_group(pgid, Signal::SIGKILL);
        let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
    } else {
        // The leader is gone; make sure nothing it started survives.
        kill_group(pgid, Signal::SIGKILL);
    }
}

fn launch_failure(error: String) -> RunResult {
    RunResult {
        exit_code: None,
        timed_out: false,
        success: false,
        stdout: String::new(),
        stderr: String::new(),
        error: Some(error),
    }
}

fn describe_spawn_error(e: &std::io::Error, cwd: Option<&PathBuf>) -> String {
    let code = match e.kind() {
        std::io::ErrorKind::NotFound => "ENOENT".to_string(),
        std::io::ErrorKind::PermissionDenied => "EACCES".to_string(),
        _ => e.raw_os_error().map(|c| format!("errno {c}")).unwrap_or_else(|| e.to_string()),
    };
    let sanitized = format!("Command failed during launch or output capture ({code})");
    if let Some(cwd) = cwd {
        match std::fs::metadata(cwd) {
            Err(_) => {
                return format!(
                    "node exec working directory does not exist on the node host: {} (os reported: {sanitized})",
                    cwd.display()
                )
            }
            Ok(m) if !m.is_dir() => {
                return format!(
                    "node exec working directory is not a directory on the node host: {} (os reported: {sanitized})",
                    cwd.display()
                )
            }
            _ => {}
        }
    }
    sanitized
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(argv: &[&str], timeout_ms: Option<u64>) -> RunSpec {
        let env: BTreeMap<String, String> = [("PATH".to_string(), "/usr/bin:/bin".to_string())].into();
        RunSpec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            cwd: None,
            env,
            timeout: timeout_ms.map(Duration::from_millis),
        }
    }

    fn never() -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        std::mem::forget(tx);
        rx
    }

    async fn finished(s: RunSpec) -> RunResult {
        match run(s, never()).await {
            RunOutcome::Finished(r) => r,
            RunOutcome::Cancelled => panic!("not cancelled"),
        }
    }

    #[tokio::test]
    async fn exit_codes_output_and_payload_shape() {
        let r = finished(spec(&["sh", "-c", "echo out; echo err >&2; exit 3"], None)).await;
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"exitCode":3,"timedOut":false,"success":false,"stdout":"out\n","stderr":"err\n","error":null}"#
        );
        let ok = finished(spec(&["true"], None)).await;
        assert!(ok.success && ok.exit_code == Some(0));
        let stdin_eof = finished(spec(&["cat"], Some(5000))).await;
        assert!(stdin_eof.success, "stdin is at EOF, so cat ends");
    }

    #[tokio::test]
    async fn missing_binary_and_cwd_are_results_not_errors() {
        let r = finished(spec(&["definitely-not-a-binary-xyz"], None)).await;
        assert_eq!((r.success, r.exit_code), (false, None));
        assert_eq!(r.error.as_deref(), Some("Command failed during launch or output capture (ENOENT)"));
        assert!(serde_json::to_string(&r).unwrap().starts_with(r#"{"timedOut":false"#), "no exitCode key");
        let mut s = spec(&["true"], None);
        s.cwd = Some("/nonexistent-dir-xyz".into());
        let r = finished(s).await;
        assert!(r
            .error
            .unwrap()
            .starts_with("node exec working directory does not exist on the node host: /nonexistent-dir-xyz"));
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let started = std::time::Instant::now();
        // The grandchild would keep the pipe open for 30 s if the group survived.
        let r = finished(spec(&["sh", "-c", "sleep 30 & sleep 30"], Some(200))).await;
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert_eq!((r.timed_out, r.exit_code, r.success), (true, Some(124), false));
        // A command ignoring SIGTERM is SIGKILLed after the grace.
        let r = finished(spec(&["sh", "-c", "trap '' TERM; sleep 30"], Some(100))).await;
        assert!(r.timed_out && r.exit_code == Some(124));
    }

    #[tokio::test]
    async fn output_is_capped_with_the_upstream_suffix() {
        let r = finished(spec(&["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a"], None)).await;
        assert_eq!(r.stdout.len(), OUTPUT_CAP + TRUNCATED_SUFFIX.len());
        assert!(r.stdout.ends_with(TRUNCATED_SUFFIX));
        // Both streams share the cap in arrival order; the suffix goes to a non-empty stderr.
        let r = finished(spec(&["sh", "-c", "echo oops >&2; sleep 0.2; head -c 300000 /dev/zero | tr '\\0' a"], None))
            .await;
        assert_eq!(r.stderr, format!("oops\n{TRUNCATED_SUFFIX}"));
        assert_eq!(r.stdout.len(), OUTPUT_CAP - "oops\n".len());
    }

    #[tokio::test]
    async fn cancel_kills_and_reports_no_result() {
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(run(spec(&["sleep", "30"], None), rx));
        tokio::time::sleep(Duration::from_millis(100)).await;
        tx.send(true).unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(3), task).await.unwrap().unwrap();
        assert_eq!(outcome, RunOutcome::Cancelled);
    }
}
