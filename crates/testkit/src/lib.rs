//! The processes our integration tests and benchmarks drive, started and stopped in one place.
//!
//! Two programs need the same processes: the `openclaw` integration tests (`crates/cli/tests`)
//! and the benchmarks (`bench/`). Both start the real peer from `shared/peer` (the Node.js
//! Gateway and the TypeScript node host, through the peer's own scripts) and our own binaries
//! (`openclaw gateway run`, `openclaw node run`). Keeping one implementation here means a fix to
//! readiness detection, restart-in-place or clean-up reaches both.
//!
//! - [`peer`]: where the peer lives, installing it once, and the loud
//!   `interop: SKIPPED (<reason>)` line when it cannot be installed.
//! - [`peer_gateway`] and [`ts_node`]: the real Gateway and the TypeScript node host.
//! - [`ours`]: our gateway, our node host and our operator CLI as child processes. The binary
//!   is always passed in by the caller, because only an integration test knows
//!   `env!("CARGO_BIN_EXE_openclaw")` and the benchmark finds it next to itself.
//! - [`process`] and [`procfs`]: stopping what was started, by pid or by the process group it
//!   created, never by name; a reaper stops the peer's detached processes when the test or
//!   benchmark that started them dies without running its destructors (a nextest timeout).
//! - [`relay_nodes`]: both node hosts against a gateway the caller runs itself (a scripted
//!   relay), with a prepared `openclaw.json` and the same `PATH`.
//! - [`wait`]: polling helpers and ANSI stripping for log files.
//! - [`faults`]: network namespaces with nft drops and small tmpfs mounts for the fault
//!   suite, each a guard that removes what it made.
//! - [`sshd`]: an OpenSSH server inside a namespace of a [`faults::netns::NetPair`], with
//!   keys, known_hosts and a login profile generated per test, for SSH-verified pairing.
//! - [`operator`]: one operator request through our client, for tests that need a method the
//!   peer's CLI does not expose quickly.
//!
//! Lifecycle calls come in two shapes: `try_*` returns [`Error`] (the benchmark reports it and
//! carries on), and the short name panics with the same message, which is what a test wants.
//! [`OurGateway`] and [`OurNode`] are built only through `try_*`, because the caller binds its
//! binary there (`crates/cli/tests/support` wraps them into `start` / `spawn`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod faults;
pub mod operator;
pub mod ours;
pub mod peer;
pub mod peer_gateway;
pub mod process;
pub mod procfs;
pub mod relay;
pub mod relay_nodes;
pub mod sshd;
pub mod ts_node;
pub mod wait;

pub use nix::sys::signal::Signal;
pub use operator::operator_call;
pub use ours::{Launch, OurGateway, OurNode};
pub use peer::{peer_available, Peer, PeerUnavailable};
pub use peer_gateway::PeerGateway;
pub use ts_node::TsNode;
pub use wait::{strip_ansi, wait_for_value, wait_until};

use std::path::PathBuf;

/// Why a process could not be started, restarted or read. The messages name the script or
/// binary and carry its output, because that output is the only clue when a peer misbehaves.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A program could not be run at all (missing `bash`, bad path).
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program or script.
        program: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The peer's `install.sh` failed (usually: the npm registry is unreachable).
    #[error("peer install failed: {stderr}")]
    PeerInstall {
        /// What the installer wrote on stderr.
        stderr: String,
    },
    /// The peer scripts are not where `OPENCLAW_SHARED_DIR` (or the default) says.
    #[error("the peer scripts are missing at {}; set OPENCLAW_SHARED_DIR to the shared/ directory", .0.display())]
    PeerScriptsMissing(PathBuf),
    /// A peer script exited unsuccessfully.
    #[error("{script} failed: {stderr}")]
    Script {
        /// The script and its verb, e.g. `gateway.sh start`.
        script: String,
        /// What it wrote on stderr.
        stderr: String,
    },
    /// A peer script succeeded but printed something we cannot parse.
    #[error("unexpected {script} output: {stdout}")]
    ScriptOutput {
        /// The script and its verb.
        script: String,
        /// What it printed.
        stdout: String,
    },
    /// A process did not become ready in time, or exited first; carries its log.
    #[error("{what}: {log}")]
    NotReady {
        /// What was waited for.
        what: String,
        /// The end of the process's log.
        log: String,
    },
    /// A file the process layout depends on could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Error {
        Error::Io { path: path.as_ref().display().to_string(), source }
    }
}

/// The result of a lifecycle call.
pub type Result<T, E = Error> = std::result::Result<T, E>;
