//! Stopping what we started: by pid, by the process tree under a pid, or by the process group
//! a helper created. Never by name, so a test can never hit a user's own gateway or node.
//!
//! The peer's scripts start the Gateway and the TypeScript node host with `setsid`, in their own
//! session, so they outlive a test that is killed before its destructors run (nextest's timeout
//! kills the test's process group, which they are not in). [`Reaper`] closes that gap: a tiny
//! shell loop, in a session of its own, that watches the owning process and stops the peer's
//! process tree by pid (the peer's own `proc.sh`) once the owner is gone.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::procfs;

/// Sends `signal` to one pid; a process that is already gone is not an error.
pub fn signal_pid(pid: i32, signal: Signal) {
    let _ = kill(Pid::from_raw(pid), signal);
}

/// TERMs every process of the child's tree, waits up to `grace` for the child to exit, then
/// KILLs the tree and reaps the child. Returns the child's exit code when it exited on its own.
///
/// The tree is taken before the first signal, so grandchildren that outlive their parent (the
/// TypeScript host runs two processes) are still stopped.
pub fn stop_tree(child: &mut Child, grace: Duration) -> Option<i32> {
    let pids = procfs::tree(child.id() as i32);
    for p in &pids {
        signal_pid(*p, Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in &pids {
        signal_pid(*p, Signal::SIGKILL);
    }
    child.wait().ok().and_then(|s| s.code())
}

/// KILLs the child's tree and reaps it, for destructors: fast, and nothing is left to measure.
pub fn kill_tree(child: &mut Child) {
    if matches!(child.try_wait(), Ok(None)) {
        for p in procfs::tree(child.id() as i32) {
            signal_pid(p, Signal::SIGKILL);
        }
    }
    let _ = child.wait();
}

/// Stops a detached peer process tree (started with `setsid` by a peer script) once this
/// process dies, if nothing stopped it before. Dropping the reaper ends its watch.
pub struct Reaper {
    child: Child,
}

impl Reaper {
    /// Watches this process on behalf of the peer process whose pid a peer script writes to
    /// `pid_file`; `proc_sh` is the peer's `proc.sh`, whose `stop_tree` stops a tree by pid.
    ///
    /// The pid is read when this process is gone, not now, so the reaper can be started before
    /// the script (a test killed while the Gateway is still starting leaks nothing either) and
    /// keeps covering a gateway restarted in place under the same pid file. A script's `stop`
    /// removes the pid file, which leaves the reaper nothing to do.
    pub fn watch_pid_file(proc_sh: &Path, pid_file: &Path) -> std::io::Result<Reaper> {
        const LOOP: &str = r#"source "$1"; owner="$2"; pid_file="$3"
while kill -0 "$owner" 2>/dev/null; do sleep 1; done
if [ -f "$pid_file" ]; then stop_tree "$(cat "$pid_file")"; fi"#;
        // `setsid` makes the loop the leader of a new session and process group (it is not a
        // group leader when spawned, so setsid(1) does not fork and the pid is the loop's):
        // the signal that kills our process group does not reach it, and Drop can stop it by
        // the group it created.
        let child = Command::new("setsid")
            .args(["bash", "-c", LOOP, "reaper"])
            .arg(proc_sh)
            .arg(std::process::id().to_string())
            .arg(pid_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Reaper { child })
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        // The group the reaper created (the loop and its `sleep`), and the loop by pid in case it
        // has not reached setsid(2) yet.
        let _ = kill(Pid::from_raw(-(self.child.id() as i32)), Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
