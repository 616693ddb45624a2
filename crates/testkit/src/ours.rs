//! Our own binary as child processes: `openclaw gateway run`, `openclaw node run` and the
//! operator CLI. Every function takes the binary's path, because only the caller knows it (an
//! integration test has `env!("CARGO_BIN_EXE_openclaw")`, the benchmark looks next to itself).
//!
//! Children inherit the caller's process group, so a test killed by nextest's timeout takes them
//! with it; their handles stop them by pid on drop otherwise. Credentials in the caller's
//! environment (`OPENCLAW_GATEWAY_TOKEN`, `OPENCLAW_GATEWAY_PASSWORD`) and `RUST_LOG` are removed,
//! so what a test passes is all the process sees.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::process::{kill_tree, signal_pid, stop_tree};
use crate::wait::log_tail;
use crate::{Error, Result};

/// How often our gateway's stdout is polled for its `listening` line.
const POLL: Duration = Duration::from_millis(5);

/// `openclaw node run` with `OPENCLAW_STATE_DIR=state_dir` and a clean environment, without
/// its arguments or stdio (the benchmark pipes stderr, tests write it to a file).
pub fn node_command(bin: &Path, state_dir: &Path) -> Command {
    let mut c = Command::new(bin);
    c.args(["node", "run"])
        .env("OPENCLAW_STATE_DIR", state_dir)
        .env_remove("OPENCLAW_GATEWAY_TOKEN")
        .env_remove("OPENCLAW_GATEWAY_PASSWORD")
        .env_remove("RUST_LOG");
    c
}

/// Our gateway (`openclaw gateway run`) on a loopback port with token auth, stopped on drop.
/// Its stdout (the "listening" line, the TLS fingerprint) and stderr (the log) go to files
/// beside its state dir.
pub struct OurGateway {
    bin: PathBuf,
    child: Option<Child>,
    /// Its port: free when started, the same one after [`restart`](Self::restart).
    pub port: u16,
    /// The shared token it accepts (fresh per gateway).
    pub token: String,
    /// Its `OPENCLAW_STATE_DIR`.
    pub state_dir: PathBuf,
    /// Its log (stderr), appended to across restarts.
    pub log: PathBuf,
    /// What it printed on stdout in its current run.
    pub stdout: PathBuf,
    args: Vec<String>,
    launch: Launch,
}

/// How a process is launched beyond its arguments: a wrapper it runs under (the fault suite's
/// `ip netns exec <ns>`, which execs in place so the pid stays the program's) and extra
/// environment.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Program and arguments put before ours.
    pub wrapper: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

impl Launch {
    /// No wrapper, just these extra environment variables.
    pub fn with_env(env: &[(&str, &str)]) -> Launch {
        Launch { wrapper: Vec::new(), env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    fn command(&self, bin: &Path) -> Command {
        let mut c = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }
}

impl OurGateway {
    /// Starts `bin gateway run --port 0 --token <fresh>` plus `args`, and waits until it listens.
    pub fn try_start(bin: &Path, state_dir: &Path, args: &[&str]) -> Result<OurGateway> {
        Self::try_start_with(bin, state_dir, args, Launch::default())
    }

    /// [`try_start`](Self::try_start) under a wrapper and with extra environment (kept across
    /// restarts).
    pub fn try_start_with(bin: &Path, state_dir: &Path, args: &[&str], launch: Launch) -> Result<OurGateway> {
        Self::try_start_at(bin, state_dir, 0, args, launch)
    }

    /// [`try_start_with`](Self::try_start_with) on a given port, for a test that must write
    /// the gateway's own URL into its config before it starts (a setup code's `publicUrl`).
    pub fn try_start_at(bin: &Path, state_dir: &Path, port: u16, args: &[&str], launch: Launch) -> Result<OurGateway> {
        let mut gw = OurGateway {
            bin: bin.to_path_buf(),
            child: None,
            port,
            token: format!("tok-{}", uuid::Uuid::new_v4().simple()),
            state_dir: state_dir.to_path_buf(),
            log: state_dir.with_extension("gateway.log"),
            stdout: PathBuf::new(),
            args: args.iter().map(|s| s.to_string()).collect(),
            launch,
        };
        gw.spawn()?;
        Ok(gw)
    }

    /// Spawns the process and waits up to 20 s for `gateway listening on <addr>:<port>`;
    /// returns the moment it was seen.
    fn spawn(&mut self) -> Result<Instant> {
        std::fs::create_dir_all(&self.state_dir).map_err(|e| Error::io(&self.state_dir, e))?;
        let out_path = self.state_dir.with_extension(format!("{}.out", uuid::Uuid::new_v4().simple()));
        self.stdout = out_path.clone();
        let stdout = std::fs::File::create(&out_path).map_err(|e| Error::io(&out_path, e))?;
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| Error::io(&self.log, e))?;
        let child = self
            .launch
            .command(&self.bin)
            .args(["gateway", "run", "--port", &self.port.to_string(), "--token", &self.token])
            .args(&self.args)
            .env("OPENCLAW_STATE_DIR", &self.state_dir)
            .env_remove("OPENCLAW_GATEWAY_TOKEN")
            .env_remove("OPENCLAW_GATEWAY_PASSWORD")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|source| Error::Spawn { program: self.bin.display().to_string(), source })?;
        let child = self.child.insert(child);
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
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::NotReady { what: format!("our gateway exited ({status})"), log: self.log_tail() });
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady { what: "our gateway did not start".into(), log: self.log_text() });
            }
            std::thread::sleep(POLL);
        }
    }

    /// `ws://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Its process id while it runs.
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last 20 lines of the log, for error messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log, 20)
    }

    /// SIGTERM (to its process tree), wait up to 10 s, then SIGKILL; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        stop_tree(&mut child, Duration::from_secs(10))
    }

    /// Restarts it for a test.
    ///
    /// # Panics
    /// When it does not listen again within 20 s.
    pub fn restart(&mut self) {
        self.try_restart().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Stops it and starts it again on the same port with the same state and token; returns
    /// the moment its `listening` line was seen.
    pub fn try_restart(&mut self) -> Result<Instant> {
        self.stop();
        self.spawn()
    }

    /// Runs our operator CLI against this gateway with `--url` and `--token`.
    pub fn cli(&self, state_dir: &Path, args: &[&str]) -> Output {
        our_cli(&self.bin, &self.url(), &self.token, state_dir, args)
    }

    /// Like [`cli`](Self::cli) with `--json`, asserting success and parsing stdout.
    pub fn cli_json(&self, state_dir: &Path, args: &[&str]) -> Value {
        our_cli_json(&self.bin, &self.url(), &self.token, state_dir, args)
    }
}

impl Drop for OurGateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_tree(&mut child);
        }
    }
}

/// Our node host as a child process, stderr captured to a file beside its state dir.
pub struct OurNode {
    child: Child,
    /// Its log (stderr).
    pub log: PathBuf,
    /// Its `OPENCLAW_STATE_DIR`.
    pub state_dir: PathBuf,
}

impl OurNode {
    /// Starts `bin node run <args>` with `OPENCLAW_STATE_DIR=state_dir` and extra env.
    pub fn try_spawn(bin: &Path, state_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<OurNode> {
        let launch = Launch::with_env(env);
        Self::try_spawn_with(bin, state_dir, args, &launch)
    }

    /// [`try_spawn`](Self::try_spawn) under a wrapper (e.g. inside a network namespace).
    pub fn try_spawn_with(bin: &Path, state_dir: &Path, args: &[&str], launch: &Launch) -> Result<OurNode> {
        Self::spawn_verb(bin, &["node", "run"], state_dir, args, launch)
    }

    /// `bin connect <args>` (one-step onboarding, then the node in the foreground), as
    /// [`try_spawn`](Self::try_spawn) starts `node run`.
    pub fn try_spawn_connect(bin: &Path, state_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<OurNode> {
        let launch = Launch::with_env(env);
        Self::spawn_verb(bin, &["connect"], state_dir, args, &launch)
    }

    fn spawn_verb(bin: &Path, verb: &[&str], state_dir: &Path, args: &[&str], launch: &Launch) -> Result<OurNode> {
        let parent = state_dir.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let log = state_dir.with_extension(format!("{}.log", uuid::Uuid::new_v4().simple()));
        let file = std::fs::File::create(&log).map_err(|e| Error::io(&log, e))?;
        let mut cmd = launch.command(bin);
        cmd.args(verb)
            .env("OPENCLAW_STATE_DIR", state_dir)
            .env_remove("OPENCLAW_GATEWAY_TOKEN")
            .env_remove("OPENCLAW_GATEWAY_PASSWORD")
            .env_remove("RUST_LOG");
        for (k, v) in &launch.env {
            cmd.env(k, v);
        }
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(file);
        let child = cmd.spawn().map_err(|source| Error::Spawn { program: bin.display().to_string(), source })?;
        Ok(OurNode { child, log, state_dir: state_dir.to_path_buf() })
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle` `count` times; panics with the log otherwise,
    /// or as soon as the node exits.
    pub fn wait_for_log(&mut self, needle: &str, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log_text().matches(needle).count() >= count {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("our node exited ({status}) before logging {needle:?}:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {needle:?} x{count}:\n{}", self.log_text());
    }

    /// Waits for the process to exit and returns its code; panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("our node did not exit within {timeout:?}:\n{}", self.log_text());
    }

    /// Sends a signal by pid.
    pub fn signal(&self, sig: Signal) {
        signal_pid(self.child.id() as i32, sig);
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then the exit code (within 10 s).
    pub fn stop(&mut self) -> Option<i32> {
        self.signal(Signal::SIGTERM);
        self.wait_exit(Duration::from_secs(10))
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for OurNode {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Our node's identity (`deviceId` …), read with `openclaw node identity --json`.
pub fn our_identity(bin: &Path, state_dir: &Path) -> Value {
    let out = Command::new(bin)
        .args(["node", "identity", "--json"])
        .env("OPENCLAW_STATE_DIR", state_dir)
        .output()
        .expect("node identity");
    assert!(out.status.success(), "node identity failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("identity JSON")
}

/// Runs our operator CLI against any gateway. The gateway flags go right after the command
/// group, so they never land after a `--`.
pub fn our_cli(bin: &Path, url: &str, token: &str, state_dir: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(&args[..1])
        .args(["--url", url, "--token", token])
        .args(&args[1..])
        .env("OPENCLAW_STATE_DIR", state_dir)
        .env_remove("OPENCLAW_GATEWAY_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run our CLI")
}

/// [`our_cli`] with `--json`, asserting success and parsing stdout.
pub fn our_cli_json(bin: &Path, url: &str, token: &str, state_dir: &Path, args: &[&str]) -> Value {
    let mut all: Vec<&str> = vec![args[0], "--json"];
    all.extend_from_slice(&args[1..]);
    let out = our_cli(bin, url, token, state_dir, &all);
    assert!(
        out.status.success(),
        "openclaw {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs `openclaw nodes run` under `script(1)`, so it has a terminal and asks for approval,
/// and types `answer` (e.g. `"o\n"`) at the prompt; `argv` is the command line after `--`.
pub fn our_cli_on_tty(bin: &Path, url: &str, token: &str, state_dir: &Path, args: &[&str], answer: &str) -> Output {
    use std::io::Write;
    let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
    let mut words = vec![quote(&bin.to_string_lossy()), quote(args[0])];
    words.extend(["--url", url, "--token", token].iter().map(|a| quote(a)));
    words.extend(args[1..].iter().map(|a| quote(a)));
    let mut child = Command::new("script")
        .args(["-qec", &words.join(" "), "/dev/null"])
        .env("OPENCLAW_STATE_DIR", state_dir)
        .env_remove("OPENCLAW_GATEWAY_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) is needed for the terminal approval tests");
    // Type the answer once the prompt is up.
    std::thread::sleep(Duration::from_millis(1500));
    child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `openclaw nodes run` under `script(1)` and types `answer` at the approval prompt.
pub fn our_nodes_run_on_tty(
    bin: &Path,
    url: &str,
    token: &str,
    state_dir: &Path,
    node: &str,
    answer: &str,
    argv: &str,
) -> Output {
    use std::io::Write;
    let cmd = format!("{} nodes run --node '{node}' --url {url} --token {token} -- {argv}", bin.display());
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("OPENCLAW_STATE_DIR", state_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) is needed for the terminal approval tests");
    // Type the answer once the prompt is up.
    std::thread::sleep(Duration::from_millis(1500));
    child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}
