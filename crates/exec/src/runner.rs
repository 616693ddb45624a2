//! The process runner (`exec.md` §5.5).
//!
//! A command runs directly (no shell) in its own session and process group, with stdin at EOF,
//! the environment it is given and nothing else. Output is captured up to 200,000 bytes in
//! total (arrival order); the rest is read and discarded, so a command that prints gigabytes
//! costs the node no memory. A timeout sends SIGTERM to the group, waits 300 ms, then SIGKILLs
//! it; cancellation does the same. The result maps exactly onto upstream's payload.
//!
//! After the command exits, its pipes are read the way upstream reads them (descendants may
//! hold them open): until they close, or 100 ms pass without output, or 1 s after the exit,
//! whichever comes first; later output is lost. The one exception is upstream's too: with a
//! timeout set and exit code 0 the pipes are read until they close or the deadline passes,
//! and a deadline reached that way is a timeout (exit code 124).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::launch_error;

/// Total bytes of stdout + stderr kept.
pub const OUTPUT_CAP: usize = 200_000;
/// Appended when output was dropped.
pub const TRUNCATED_SUFFIX: &str = "\n... (truncated)";
/// Grace between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_millis(300);
/// After the exit, reading stops once the pipes were quiet this long (upstream's
/// `EXIT_STDIO_GRACE_MS`).
const EXIT_IDLE_GRACE: Duration = Duration::from_millis(100);
/// After the exit, reading stops this long after it at the latest (`EXIT_STDIO_MAX_DRAIN_MS`).
const EXIT_DRAIN_LIMIT: Duration = Duration::from_secs(1);
/// How often a dying process group is polled during the kill grace.
const GROUP_POLL: Duration = Duration::from_millis(25);

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
#[derive(Default)]
struct Capture {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Bytes of stdout were dropped at the cap.
    stdout_dropped: bool,
    /// Bytes of stderr were dropped at the cap.
    stderr_dropped: bool,
}

impl Capture {
    fn push(&mut self, is_stderr: bool, chunk: &[u8]) {
        let room = OUTPUT_CAP - (self.stdout.len() + self.stderr.len());
        let take = chunk.len().min(room);
        let (target, dropped) = if is_stderr {
            (&mut self.stderr, &mut self.stderr_dropped)
        } else {
            (&mut self.stdout, &mut self.stdout_dropped)
        };
        target.extend_from_slice(&chunk[..take]);
        if take < chunk.len() {
            *dropped = true;
        }
    }
}

/// Decodes one stream's kept bytes as upstream's `trimTruncatedUtf8Boundary` does: only a
/// stream cut at the cap loses its tail, and only the up-to-3 bytes that make the rest valid
/// UTF-8 (a character split by the cut); anything else invalid decodes to U+FFFD.
fn decode(mut bytes: Vec<u8>, cut_at_cap: bool) -> String {
    if cut_at_cap && !bytes.is_empty() {
        if let Some(removed) = (0..=3.min(bytes.len())).find(|r| std::str::from_utf8(&bytes[..bytes.len() - r]).is_ok())
        {
            bytes.truncate(bytes.len() - removed);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn kill_group(pgid: i32, signal: Signal) {
    // Never our own group: killpg(0) would signal the node itself.
    if pgid > 0 {
        let _ = killpg(Pid::from_raw(pgid), signal);
    }
}

/// Runs the command to completion, timeout or cancellation.
pub async fn run(spec: RunSpec, mut cancel: watch::Receiver<bool>) -> RunOutcome {
    if let Some(refused) = launch_error::refuse_before_spawn(&spec.argv, &spec.env) {
        let code = refused.starts_with("Command failed").then_some("ERR_INVALID_ARG_VALUE");
        return RunOutcome::Finished(launch_failure(launch_error::clarify_cwd(refused, code, spec.cwd.as_deref())));
    }
    let Some((program, args)) = spec.argv.split_first() else {
        return RunOutcome::Finished(launch_failure("command required".into()));
    };
    // The child's stdio are socket pairs, as libuv gives Node's children: programs can tell
    // (bash reads ~/.bashrc when its stdin is a socket), so pipes would change what they print.
    let stdio = match [StdioSocket::new(), StdioSocket::new(), StdioSocket::new()] {
        [Ok(stdin), Ok(stdout), Ok(stderr)] => [stdin, stdout, stderr],
        [Err(e), ..] | [_, Err(e), _] | [.., Err(e)] => {
            return RunOutcome::Finished(launch_failure(launch_error::describe_spawn_error(&e, None)))
        }
    };
    let [stdin, stdout, stderr] = stdio;
    // The spawn takes the child's ends and closes them once the child has its copies (ours
    // must be the only ones left, or EOF never comes); it runs off the runtime thread.
    let child_stdio = [stdin.child, stdout.child, stderr.child];
    let started =
        crate::spawn::spawn_off_thread(program.clone(), args.to_vec(), spec.env.clone(), spec.cwd.clone(), child_stdio)
            .await;
    let mut child = match started {
        Ok(child) => child,
        Err(e) => {
            return RunOutcome::Finished(launch_failure(launch_error::describe_spawn_error(&e, spec.cwd.as_deref())))
        }
    };
    drop(stdin.ours); // EOF at once
    let pgid = child.process_group();

    let (tx, mut chunks) = mpsc::channel::<(bool, Vec<u8>)>(16);
    let mut readers = Vec::new();
    for (is_stderr, stream) in [(false, stdout.ours), (true, stderr.ours)] {
        let Ok(mut stream) = tokio::net::UnixStream::from_std(stream) else { continue };
        let tx = tx.clone();
        readers.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 || tx.send((is_stderr, buf[..n].to_vec())).await.is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    // Dropping the readers closes our ends of the pipes, as upstream destroys its streams.
    let _close_pipes = AbortOnDrop(readers);

    let mut capture = Capture::default();
    let deadline = spec.timeout.map(|t| Instant::now() + t);
    let mut timed_out = false;
    let mut group_term_sent = None;
    let status = loop {
        tokio::select! {
            Some((is_stderr, chunk)) = chunks.recv() => capture.push(is_stderr, &chunk),
            status = child.wait() => break status,
            _ = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() && !timed_out => {
                timed_out = true;
                group_term_sent = terminate(pgid, &mut child).await;
            }
            _ = cancelled(&mut cancel) => {
                terminate(pgid, &mut child).await;
                // Nothing is reported: whatever the command started goes at once.
                kill_group(pgid, Signal::SIGKILL);
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
    match (deadline, timed_out, status.code()) {
        (Some(deadline), false, Some(0)) => {
            // Exit 0 under a deadline: the pipes are read until they close or it passes.
            loop {
                tokio::select! {
                    chunk = chunks.recv() => match chunk {
                        Some((is_stderr, chunk)) => capture.push(is_stderr, &chunk),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(deadline) => {
                        timed_out = true;
                        kill_group(pgid, Signal::SIGTERM);
                        group_term_sent = Some(Instant::now());
                        break;
                    }
                    _ = cancelled(&mut cancel) => {
                        kill_group(pgid, Signal::SIGKILL);
                        return RunOutcome::Cancelled;
                    }
                }
            }
        }
        (_, _, Some(0)) => {}
        _ if !timed_out => {
            // Whatever the command left running in its group goes with it.
            kill_group(pgid, Signal::SIGTERM);
            group_term_sent = Some(Instant::now());
        }
        _ => {}
    }
    // Reading and the group's kill grace run side by side, as upstream's timers do.
    tokio::join!(drain_after_exit(&mut chunks, &mut capture), async {
        if let Some(sent) = group_term_sent {
            settle_group(pgid, sent).await;
        }
    });

    let mut stdout = decode(capture.stdout, capture.stdout_dropped);
    let mut stderr = decode(capture.stderr, capture.stderr_dropped);
    if capture.stdout_dropped || capture.stderr_dropped {
        if js_trim(&stderr).is_empty() {
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

/// JavaScript's `String.prototype.trim`: its whitespace is Unicode `Zs`, the ASCII controls
/// TAB to CR, U+FEFF and the line separators; unlike Rust's `trim` it keeps U+0085 and drops
/// U+FEFF. Upstream trims output with it (which stream gets the truncation suffix, and the
/// `exec.finished` output).
pub fn js_trim(s: &str) -> &str {
    fn is_js_space(c: char) -> bool {
        matches!(
            c,
            '\u{9}'..='\u{d}'
                | ' '
                | '\u{a0}'
                | '\u{1680}'
                | '\u{2000}'..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
        )
    }
    s.trim_matches(is_js_space)
}

/// One of the child's stdio streams: a connected socket pair.
struct StdioSocket {
    /// The child's end.
    child: std::os::fd::OwnedFd,
    /// The node's end (non-blocking, for the reader).
    ours: std::os::unix::net::UnixStream,
}

impl StdioSocket {
    fn new() -> std::io::Result<StdioSocket> {
        let (ours, child) = std::os::unix::net::UnixStream::pair()?;
        ours.set_nonblocking(true)?;
        Ok(StdioSocket { child: std::os::fd::OwnedFd::from(child), ours })
    }
}

/// Aborts the pipe readers when dropped, closing the read ends.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for reader in &self.0 {
            reader.abort();
        }
    }
}

/// Reads what the pipes still deliver after the exit: until they close, are quiet for
/// [`EXIT_IDLE_GRACE`], or [`EXIT_DRAIN_LIMIT`] has passed.
async fn drain_after_exit(chunks: &mut mpsc::Receiver<(bool, Vec<u8>)>, capture: &mut Capture) {
    let limit = Instant::now() + EXIT_DRAIN_LIMIT;
    loop {
        let quiet_until = (Instant::now() + EXIT_IDLE_GRACE).min(limit);
        match tokio::time::timeout_at(quiet_until, chunks.recv()).await {
            Ok(Some((is_stderr, chunk))) => capture.push(is_stderr, &chunk),
            Ok(None) | Err(_) => return,
        }
    }
}

/// Gives a group that was sent SIGTERM at `sent` the rest of the kill grace to die (polled),
/// then SIGKILLs what is left, as upstream's termination controller does.
async fn settle_group(pgid: i32, sent: Instant) {
    let until = sent + KILL_GRACE;
    while pgid > 0 && killpg(Pid::from_raw(pgid), None).is_ok() {
        if Instant::now() >= until {
            kill_group(pgid, Signal::SIGKILL);
            return;
        }
        tokio::time::sleep(GROUP_POLL.min(until - Instant::now())).await;
    }
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

/// SIGTERM the group and give the leader the kill grace; SIGKILL the group if it is still
/// there. Returns when the SIGTERM went out if the leader exited within the grace: the rest of
/// the group then gets the rest of the grace ([`settle_group`]), as upstream polls the whole
/// group before it SIGKILLs.
async fn terminate(pgid: i32, child: &mut crate::spawn::Child) -> Option<Instant> {
    let sent = Instant::now();
    kill_group(pgid, Signal::SIGTERM);
    if tokio::time::timeout(KILL_GRACE, child.wait()).await.is_err() {
        kill_group(pgid, Signal::SIGKILL);
        let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
        None
    } else {
        Some(sent)
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

    /// Rule (exec.md §5.5): a missing binary or cwd is a failed result with the errno's name,
    /// not an invoke error.
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

    /// Rule (issue 11, upstream's quiet period): after the command exits its pipes are read
    /// until 100 ms pass without output; what a background child writes later is not kept.
    #[tokio::test]
    async fn after_exit_the_pipes_are_read_until_quiet_for_100ms() {
        // Output within the quiet period keeps the reading alive; output after it is lost.
        let r =
            finished(spec(&["sh", "-c", "(sleep 0.05; echo soon; sleep 0.05; echo soon2) & echo early"], None)).await;
        assert_eq!(r.stdout, "early\nsoon\nsoon2\n");
        let r = finished(spec(&["sh", "-c", "(sleep 0.4; echo late) & echo early"], None)).await;
        assert_eq!(r.stdout, "early\n", "a background child's output after the quiet period is not kept");
        let r = finished(spec(&["sh", "-c", "(sleep 0.4; echo late) & echo early; exit 3"], None)).await;
        assert_eq!((r.exit_code, r.stdout.as_str()), (Some(3), "early\n"));
    }

    #[tokio::test]
    async fn exit_zero_under_a_deadline_reads_until_the_pipes_close_or_it_times_out() {
        let r = finished(spec(&["sh", "-c", "(sleep 0.4; echo late) & echo early"], Some(3000))).await;
        assert_eq!((r.stdout.as_str(), r.timed_out, r.exit_code), ("early\nlate\n", false, Some(0)));
        let started = std::time::Instant::now();
        let r = finished(spec(&["sh", "-c", "sleep 30 & echo early"], Some(300))).await;
        assert_eq!((r.stdout.as_str(), r.timed_out, r.exit_code, r.success), ("early\n", true, Some(124), false));
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    /// Rule (issue 11, Node's streaming UTF-8 decoder): a character split by the output cap is
    /// dropped, not replaced by U+FFFD; other invalid bytes decode lossily as Node's do.
    #[tokio::test]
    async fn a_character_split_at_the_cap_is_dropped_and_other_invalid_bytes_decode_lossily() {
        // Cut at the cap in the middle of a euro sign: its two kept bytes go.
        let r =
            finished(spec(&["sh", "-c", "head -c 199999 /dev/zero | tr '\\0' a; printf '\\342\\202\\254xyz'"], None))
                .await;
        assert_eq!(r.stdout, format!("{}{TRUNCATED_SUFFIX}", "a".repeat(199_999)));
        // Not cut: an incomplete character at the end is U+FFFD, as upstream decodes it.
        let r = finished(spec(&["sh", "-c", "printf 'ab\\342\\202'"], None)).await;
        assert_eq!(r.stdout, "ab\u{FFFD}");
        assert_eq!(decode(b"ab\xe2\x82".to_vec(), true), "ab", "the split character goes");
        assert_eq!(decode(b"ab\xe2\x82".to_vec(), false), "ab\u{FFFD}", "only a stream cut at the cap is trimmed");
        assert_eq!(decode(b"ab\xffc\xe2\x82".to_vec(), true), "ab\u{FFFD}c\u{FFFD}", "at most 3 bytes are trimmed");
        assert_eq!(decode(b"ab\xffcd\xe2".to_vec(), true), "ab\u{FFFD}cd\u{FFFD}", "invalid before the cut: kept");
    }

    #[tokio::test]
    async fn the_childs_stdio_are_sockets_as_under_node() {
        let r = finished(spec(&["sh", "-c", "readlink /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2"], None)).await;
        let kinds: Vec<bool> = r.stdout.lines().map(|l| l.starts_with("socket:[")).collect();
        assert_eq!(kinds, [true, true, true], "{}", r.stdout);
    }

    #[test]
    fn js_trim_is_javascripts_trim() {
        assert_eq!(js_trim("\u{feff} a \u{3000}\n"), "a");
        assert_eq!(js_trim("\u{85}a\u{85}"), "\u{85}a\u{85}", "NEL is not JavaScript whitespace");
    }

    /// Rule (issue 11, Node's `err.code`): every launch failure is reported by its errno name.
    #[tokio::test]
    async fn launch_errors_use_node_error_names() {
        let r = finished(spec(&["/etc/passwd/x"], None)).await;
        assert_eq!(r.error.as_deref(), Some("Command failed during launch or output capture (ENOTDIR)"));
        let mut s = spec(&["true"], None);
        s.cwd = Some("/etc/passwd".into());
        assert!(finished(s).await.error.unwrap().starts_with(
            "node exec working directory is not a directory on the node host: /etc/passwd (os reported: \
             Command failed during launch or output capture (ENOTDIR))"
        ));
        let r = finished(spec(&["echo", "a\0b"], None)).await;
        assert_eq!(r.error.as_deref(), Some("Arguments cannot contain null bytes (\"\\0\"): a\0b"));
    }

    #[tokio::test]
    async fn a_timed_out_group_gets_the_kill_grace_before_sigkill() {
        // The leader dies at SIGTERM; its child traps TERM and still prints within the grace.
        let script = "sh -c 'trap \"sleep 0.05; echo bye; exit 0\" TERM; sleep 5 & wait' & sleep 5";
        let r = finished(spec(&["sh", "-c", script], Some(300))).await;
        assert_eq!((r.timed_out, r.exit_code), (true, Some(124)));
        assert_eq!(r.stdout, "bye\n", "a TERM handler gets to run before the group is SIGKILLed");
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
