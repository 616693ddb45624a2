//! The processes a benchmark drives: a gateway (ours or the real one, measured through the same
//! interface) and node hosts (ours or the TypeScript one) whose stderr lines are timestamped as
//! they arrive, so start → connected is measured from the line, not from a poll.
//!
//! Starting, restarting in place and stopping are `openclaw-testkit`'s, shared with the
//! integration tests; this module only adds what the benchmark needs on top.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use openclaw_testkit::ours::{self, OurGateway};
use openclaw_testkit::process::stop_tree;
use openclaw_testkit::{Peer, PeerGateway};

/// How long a stopped process tree gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Ours or the real Gateway.
enum Server {
    Real(PeerGateway),
    Ours(OurGateway),
}

/// A gateway on loopback with a shared token; stopped on drop.
pub struct Gateway {
    server: Server,
    /// How the tables name it (`ours`, `real Gateway`).
    pub label: &'static str,
    /// Its loopback port (the same after a restart in place).
    pub port: u16,
    /// The shared token it accepts.
    pub token: String,
}

impl Gateway {
    /// Starts the real Gateway (`gateway.sh start <name>`; silent approval of loopback devices)
    /// and waits until it is ready.
    pub fn start_real(peer: &Peer, name: &str) -> Result<Gateway> {
        let gw = PeerGateway::try_start(peer, name, &[])?;
        Ok(Gateway { label: "real Gateway", port: gw.port, token: gw.token.clone(), server: Server::Real(gw) })
    }

    /// Starts our gateway (`openclaw gateway run --port 0 --token …`) with a fresh state dir.
    pub fn start_ours(bin: &Path, state_dir: &Path) -> Result<Gateway> {
        let gw = OurGateway::try_start(bin, state_dir, &[])?;
        Ok(Gateway { label: "ours", port: gw.port, token: gw.token.clone(), server: Server::Ours(gw) })
    }

    /// The last lines of the gateway's log.
    pub fn log_tail(&self) -> String {
        match &self.server {
            Server::Real(gw) => gw.log_tail(),
            Server::Ours(gw) => gw.log_tail(),
        }
    }

    /// `ws://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The gateway's process id (the root of its process tree).
    pub fn pid(&self) -> Option<i32> {
        match &self.server {
            Server::Real(gw) => gw.pid(),
            Server::Ours(gw) => gw.pid(),
        }
    }

    /// Stops it (by pid) and starts it again on the same port with the same state and token;
    /// returns the moment it was seen ready (the real Gateway's `[gateway] ready` log line,
    /// our gateway's `listening` line).
    pub fn restart_in_place(&mut self) -> Result<Instant> {
        Ok(match &mut self.server {
            Server::Real(gw) => gw.try_restart_in_place()?,
            Server::Ours(gw) => gw.try_restart()?,
        })
    }

    /// Stops the gateway and its whole process tree, by pid.
    pub fn stop(&mut self) {
        match &mut self.server {
            Server::Real(gw) => gw.stop(),
            Server::Ours(gw) => {
                gw.stop();
            }
        }
    }
}

/// Which node host, with its own state.
pub enum HostKind {
    /// Our `openclaw node run` with `OPENCLAW_STATE_DIR`.
    Ours {
        /// Our `openclaw` binary.
        bin: PathBuf,
        /// Its `OPENCLAW_STATE_DIR`.
        state_dir: PathBuf,
    },
    /// The TypeScript `openclaw node run` with its own HOME.
    Ts {
        /// The installed peer.
        peer: Peer,
        /// Its HOME (state in `.openclaw/`).
        home: PathBuf,
    },
}

/// A node host implementation to measure.
pub struct Host {
    /// How the tables and progress lines name it.
    pub label: &'static str,
    /// Which implementation, with its state.
    pub kind: HostKind,
}

impl Host {
    /// The `node run` command against the gateway on loopback `port`.
    pub fn command(&self, port: u16, token: &str) -> Command {
        let port = port.to_string();
        match &self.kind {
            HostKind::Ours { bin, state_dir } => {
                let mut c = ours::node_command(bin, state_dir);
                c.args(["--host", "127.0.0.1", "--port", &port, "--display-name", "bench-rust"])
                    .env("OPENCLAW_GATEWAY_TOKEN", token);
                c
            }
            HostKind::Ts { peer, home } => {
                let mut c = peer.openclaw();
                c.args(["node", "run", "--host", "127.0.0.1", "--port", &port, "--display-name", "bench-ts"])
                    .env("HOME", home)
                    .env("OPENCLAW_GATEWAY_TOKEN", token)
                    .env_remove("OPENCLAW_GATEWAY_PASSWORD")
                    .env_remove("OPENCLAW_STATE_DIR");
                c
            }
        }
    }

    /// Its node id (= device id), from `openclaw node identity --json` on its state.
    pub fn node_id(&self) -> Result<String> {
        let mut c = match &self.kind {
            HostKind::Ours { bin, state_dir } => {
                let mut c = Command::new(bin);
                c.env("OPENCLAW_STATE_DIR", state_dir);
                c
            }
            HostKind::Ts { peer, home } => {
                let mut c = peer.openclaw();
                c.env("HOME", home).env_remove("OPENCLAW_STATE_DIR");
                c
            }
        };
        let out = c.args(["node", "identity", "--json"]).stdin(Stdio::null()).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| l.starts_with('{')).with_context(|| {
            format!("{}: no identity JSON: {text}{}", self.label, String::from_utf8_lossy(&out.stderr))
        })?;
        let v: serde_json::Value = serde_json::from_str(line)?;
        v["deviceId"].as_str().map(String::from).context("identity without deviceId")
    }

    /// Spawns it; its stderr lines are timestamped as they arrive.
    pub fn spawn(&self, port: u16, token: &str) -> Result<Running> {
        let mut cmd = self.command(port, token);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let spawned = Instant::now();
        let mut child = cmd.spawn().with_context(|| format!("spawn {} node host", self.label))?;
        let stderr = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send((Instant::now(), line));
            }
        });
        Ok(Running { child: Some(child), lines, spawned, log: Vec::new() })
    }
}

/// A running node host; stopped (whole process tree) on drop.
pub struct Running {
    child: Option<Child>,
    lines: mpsc::Receiver<(Instant, String)>,
    /// Just before `spawn()`.
    pub spawned: Instant,
    /// Every line seen so far (for error messages).
    log: Vec<String>,
}

impl Running {
    /// Waits for the next stderr line containing `needle`; returns when it arrived.
    pub fn wait_line(&mut self, needle: &str, timeout: Duration) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) => {
                    let hit = line.contains(needle);
                    self.log.push(line);
                    if hit {
                        return Ok(at);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("no {needle:?} within {timeout:?}; log:\n{}", self.log_tail())
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("node host exited before {needle:?}; log:\n{}", self.log_tail())
                }
            }
        }
    }

    /// Waits for `gateway connected`; returns the time since spawn.
    pub fn wait_connected(&mut self, timeout: Duration) -> Result<Duration> {
        let at = self.wait_line("gateway connected", timeout)?;
        Ok(at.duration_since(self.spawned))
    }

    /// Forgets the lines received so far.
    pub fn drain(&mut self) {
        while let Ok((_, line)) = self.lines.try_recv() {
            self.log.push(line);
        }
    }

    fn log_tail(&self) -> String {
        self.log[self.log.len().saturating_sub(20)..].join("\n")
    }

    /// The root process id.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// Stops the whole process tree (the TypeScript host runs two processes).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_tree(&mut c, STOP_GRACE);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}
