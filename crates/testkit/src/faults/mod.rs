//! What the fault suite (`crates/cli/tests/faults.rs`) needs beyond processes: network
//! namespaces joined by a veth pair with nft drops ([`netns`]), a small tmpfs to fill up
//! ([`tmpfs`]), and a check that the machine can do all this ([`preflight`]).
//!
//! Every resource is a guard that removes what it created on drop, also when the test panics.
//! A test killed before its destructors run (nextest's timeout) is covered by a watcher, a
//! shell loop in a session of its own that runs the same clean-up once the test process is gone
//! ([`CleanupWatch`]). Names are unique per run (`ocf<pid>x<n>`), so tests run in parallel
//! and a leftover of a crashed run never collides with a new one; [`preflight`] sweeps
//! leftovers whose owning process is dead.

pub mod netns;
pub mod tmpfs;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Prefix of every namespace and mount the suite creates; the owner's pid follows it.
pub const NAME_PREFIX: &str = "ocf";

/// Why the fault suite cannot run here; the test prints `faults: SKIPPED (<reason>)`.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// Namespaces, nft and mounts need root (CAP_NET_ADMIN and CAP_SYS_ADMIN).
    #[error("not running as root (network namespaces, nft and mounts need it)")]
    NotRoot,
    /// A tool is missing; `scripts/fault-deps` installs it on Debian.
    #[error("`{0}` is not installed (scripts/fault-deps installs iproute2 and nftables)")]
    MissingTool(&'static str),
    /// The kernel or the sandbox refused a probe.
    #[error("{what} is not available here: {detail}")]
    Refused {
        /// The capability probed (`network namespaces`, `nft in a namespace`, `tmpfs mounts`).
        what: &'static str,
        /// What the tool said.
        detail: String,
    },
}

/// Checks, once per test, that root, `ip`, `nft`, network namespaces, nft inside a namespace
/// and tmpfs mounts all work, by creating (and removing) one of each; also sweeps leftovers of
/// dead runs. `Err` carries the reason to print in the SKIPPED line.
pub fn preflight() -> Result<(), Unavailable> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Unavailable::NotRoot);
    }
    for tool in ["ip", "nft", "mount", "umount"] {
        if !tool_exists(tool) {
            return Err(Unavailable::MissingTool(tool));
        }
    }
    sweep_leftovers();
    let probe = netns::NetPair::create()
        .map_err(|e| Unavailable::Refused { what: "network namespaces with a veth pair", detail: e.to_string() })?;
    probe
        .drop_link()
        .map_err(|e| Unavailable::Refused { what: "nft in a network namespace", detail: e.to_string() })?;
    drop(probe);
    let dir = std::env::temp_dir().join(format!("{}-probe-{}", NAME_PREFIX, std::process::id()));
    let fs = tmpfs::SmallTmpfs::mount(&dir, 64 * 1024)
        .map_err(|e| Unavailable::Refused { what: "tmpfs mounts", detail: e.to_string() })?;
    drop(fs);
    let _ = std::fs::remove_dir(&dir);
    Ok(())
}

/// Prints the loud skip line (stdout and stderr, so it shows with and without capture).
pub fn print_skip(reason: &Unavailable) {
    println!("faults: SKIPPED ({reason})");
    eprintln!("faults: SKIPPED ({reason})");
}

fn tool_exists(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A fresh name `ocf<pid>x<n>`: short enough for interface and namespace names, unique per
/// process and call, and carrying the owner's pid for [`sweep_leftovers`].
pub fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{NAME_PREFIX}{}x{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The pid a name made by [`unique_name`] carries.
fn owner_pid(name: &str) -> Option<i32> {
    name.strip_prefix(NAME_PREFIX)?.split('x').next()?.parse().ok()
}

fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None::<Signal>).is_ok()
}

/// Removes namespaces and tmpfs mounts of this suite whose owning process is dead (a run
/// killed with SIGKILL before its watcher could act, or a machine where the watcher was
/// killed too). Only names made by [`unique_name`] are touched.
pub fn sweep_leftovers() {
    if let Ok(out) = Command::new("ip").args(["netns", "list"]).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if owner_pid(name).is_some_and(|p| !alive(p)) {
                let _ = Command::new("ip").args(["netns", "del", name]).status();
            }
        }
    }
    if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
        for line in mounts.lines() {
            let mut f = line.split_whitespace();
            let (Some(source), Some(target), Some("tmpfs")) = (f.next(), f.next(), f.next()) else { continue };
            if owner_pid(source).is_some_and(|p| !alive(p)) {
                let _ = Command::new("umount").args(["-l", target]).status();
            }
        }
    }
}

/// Runs a clean-up script once this process is gone, unless dropped first: the safety net for
/// a test killed before its destructors run.
pub struct CleanupWatch {
    child: std::process::Child,
}

impl CleanupWatch {
    /// Watches this process; `script` (bash) runs after it has exited.
    pub fn start(script: &str) -> std::io::Result<CleanupWatch> {
        const LOOP: &str = r#"owner="$1"; shift
while kill -0 "$owner" 2>/dev/null; do sleep 1; done
eval "$1""#;
        // `setsid`: a session and process group of its own, so the signal that kills the
        // test's process group does not reach it; Drop stops it by that group.
        let child = Command::new("setsid")
            .args(["bash", "-c", LOOP, "faults-cleanup"])
            .arg(std::process::id().to_string())
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(CleanupWatch { child })
    }
}

impl Drop for CleanupWatch {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(-(self.child.id() as i32)), Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command to completion; its stderr becomes the error.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<(), FaultError> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| FaultError::Spawn { program: program.to_string(), source })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(FaultError::Failed {
            command: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// A fault could not be set up or removed.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The tool could not be run at all.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// `ip`, `nft`, `mount` …
        program: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The tool ran and refused.
    #[error("`{command}` failed: {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// Entering a namespace or touching a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was attempted.
        what: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
}
