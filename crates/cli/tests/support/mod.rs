//! Test support: the real OpenClaw peer (`shared/peer/`) and our node host as child processes.
//!
//! Every process started here is stopped by pid when its handle drops, so a failing assert
//! never leaves a gateway or node behind. Everything listens on 127.0.0.1 only.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use nix::sys::signal::Signal;
use serde_json::Value;

/// `shared/peer`, from `OPENCLAW_SHARED_DIR` or beside the repository.
pub fn peer_scripts() -> PathBuf {
    let shared = std::env::var_os("OPENCLAW_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let peer = shared.join("peer");
    assert!(
        peer.join("gateway.sh").exists(),
        "the peer scripts are missing at {}; set OPENCLAW_SHARED_DIR to the shared/ directory",
        peer.display()
    );
    peer
}

/// Installs the peer once per test binary. `false` (after printing the loud skip line) only
/// when the installer fails, i.e. the npm registry cannot be reached.
pub fn peer_available() -> bool {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let result = INSTALLED.get_or_init(|| {
        let out = Command::new("bash")
            .arg(peer_scripts().join("install.sh"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run install.sh: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let cause = stderr
                .lines()
                .find(|l| l.to_ascii_lowercase().contains("error"))
                .or_else(|| stderr.lines().last())
                .unwrap_or("no output");
            Err(format!("peer install failed: {}", cause.trim()))
        }
    });
    match result {
        Ok(()) => true,
        Err(reason) => {
            // Loud on purpose: visible in the test output and in CI logs.
            let line = format!("interop: SKIPPED ({reason})");
            println!("{line}");
            eprintln!("{line}");
            false
        }
    }
}

/// Our `openclaw` binary.
pub fn openclaw_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_openclaw"))
}

/// A real Gateway started by `gateway.sh`, stopped on drop.
pub struct PeerGateway {
    pub name: String,
    /// Started with `--tls`.
    pub tls: bool,
    pub port: u16,
    pub token: String,
    pub home: PathBuf,
    pub run_dir: PathBuf,
}

impl PeerGateway {
    /// Starts a gateway; `flags` are `--no-local-auto-approve` and/or `--tls`.
    pub fn start(name: &str, flags: &[&str]) -> PeerGateway {
        let name = format!("rs-{name}-{}", std::process::id());
        let out = Command::new("bash")
            .arg(peer_scripts().join("gateway.sh"))
            .args(["start", &name])
            .args(flags)
            .stdin(Stdio::null())
            .output()
            .expect("run gateway.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "gateway.sh start failed: {}", String::from_utf8_lossy(&out.stderr));
        let fields: Vec<&str> = stdout.split_whitespace().collect();
        assert!(fields.len() >= 4, "unexpected gateway.sh output: {stdout}");
        let home = PathBuf::from(fields[2]);
        PeerGateway {
            run_dir: home.parent().expect("run dir").to_path_buf(),
            name,
            tls: flags.contains(&"--tls"),
            port: fields[0].parse().expect("port"),
            token: fields[1].to_string(),
            home,
        }
    }

    /// The certificate fingerprint of a `--tls` gateway.
    pub fn tls_fingerprint(&self) -> String {
        std::fs::read_to_string(self.home.join("tls-fingerprint")).expect("tls-fingerprint").trim().to_string()
    }

    /// Stops the gateway process (by its recorded pid).
    pub fn stop(&self) {
        let _ = Command::new("bash").arg(peer_scripts().join("gateway.sh")).args(["stop", &self.name]).status();
    }

    /// Starts the gateway again on the same port, home and token (`gateway.sh start` would
    /// wipe its state and pick a new token), and waits until it is ready.
    pub fn restart_in_place(&self) {
        self.stop();
        let log = self.run_dir.join("gateway.log");
        let script = format!(
            "source '{env}'; cd '{run}'; HOME='{home}' OPENCLAW_GATEWAY_TOKEN='{tok}' setsid openclaw gateway run --allow-unconfigured --auth token --token '{tok}' --port {port} --bind loopback > '{log}' 2>&1 < /dev/null & echo $! > '{run}/pid'",
            env = peer_scripts().join("env.sh").display(),
            run = self.run_dir.display(),
            home = self.home.display(),
            tok = self.token,
            port = self.port,
            log = log.display(),
        );
        let status = Command::new("bash").arg("-c").arg(script).status().expect("restart gateway");
        assert!(status.success());
        wait_until(Duration::from_secs(90), "gateway ready after restart", || {
            std::fs::read_to_string(&log)
                .map(|t| strip_ansi(&t).lines().any(|l| l.ends_with("[gateway] ready")))
                .unwrap_or(false)
        });
    }

    /// Runs the real operator CLI against this gateway; returns stdout, panics on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("bash")
            .arg(peer_scripts().join("cli.sh"))
            .arg(&self.name)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run cli.sh");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "cli {args:?} failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
        stdout
    }

    /// Runs the CLI with `--json` output and parses it.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        let start = out.find(['{', '[']).unwrap_or_else(|| panic!("no JSON in CLI output: {out}"));
        serde_json::from_str(&out[start..]).unwrap_or_else(|e| panic!("bad JSON from CLI ({e}): {out}"))
    }

    /// `node.invoke` through the gateway (the CLI refuses some commands; `gateway call` does not).
    pub fn invoke(&self, node_id: &str, command: &str, params: Value) -> Value {
        self.call(
            "node.invoke",
            serde_json::json!({
                "nodeId": node_id, "command": command, "params": params,
                "idempotencyKey": uuid::Uuid::new_v4().to_string(),
            }),
        )
    }

    /// Any gateway method, through our Rust operator client (milliseconds, where the peer's
    /// `gateway call` takes seconds). Returns the payload, or `{"ok":false,"error":…}`.
    pub fn call(&self, method: &str, params: Value) -> Value {
        if self.tls {
            let url = format!("wss://127.0.0.1:{}", self.port);
            operator_call(&url, Some(&self.tls_fingerprint()), &self.token, method, params)
        } else {
            operator_call(&format!("ws://127.0.0.1:{}", self.port), None, &self.token, method, params)
        }
    }

    /// Approves every pending node command-surface request of `node_id`.
    pub fn approve_node_surface(&self, node_id: &str) {
        let pending = wait_for_value(Duration::from_secs(30), "pending node surface request", || {
            let list = self.cli_json(&["nodes", "pending", "--json"]);
            let ids: Vec<String> = list
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["nodeId"] == node_id)
                .filter_map(|r| r["requestId"].as_str().map(String::from))
                .collect();
            (!ids.is_empty()).then_some(ids)
        });
        for id in pending {
            self.cli(&["nodes", "approve", &id]);
        }
    }
}

impl Drop for PeerGateway {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Our node host as a child process, stderr captured to a file.
pub struct OurNode {
    child: Child,
    pub log: PathBuf,
    pub state_dir: PathBuf,
}

impl OurNode {
    /// Starts `openclaw node run <args>` with `OPENCLAW_STATE_DIR=state_dir` and extra env.
    pub fn spawn(state_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> OurNode {
        std::fs::create_dir_all(state_dir.parent().expect("parent")).unwrap();
        let log = state_dir.with_extension(format!("{}.log", uuid::Uuid::new_v4().simple()));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(openclaw_bin());
        cmd.args(["node", "run"])
            .args(args)
            .env("OPENCLAW_STATE_DIR", state_dir)
            .env_remove("OPENCLAW_GATEWAY_TOKEN")
            .env_remove("OPENCLAW_GATEWAY_PASSWORD")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        OurNode { child: cmd.spawn().expect("spawn our node"), log, state_dir: state_dir.to_path_buf() }
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until a log line contains `needle` `count` times; panics with the log otherwise.
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

    /// Waits for the process to exit and returns its code.
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
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig);
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then the exit code.
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

/// Our node's device id, read with `openclaw node identity --json`.
pub fn our_identity(state_dir: &Path) -> Value {
    let out = Command::new(openclaw_bin())
        .args(["node", "identity", "--json"])
        .env("OPENCLAW_STATE_DIR", state_dir)
        .output()
        .expect("node identity");
    assert!(out.status.success(), "node identity failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("identity JSON")
}

/// Polls `cond` until true or panics after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

/// Polls `f` until it yields a value or panics after `timeout`.
pub fn wait_for_value<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
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

/// The real TypeScript node host started by `ts-node.sh`, stopped on drop.
pub struct TsNode {
    pub name: String,
    /// Its HOME; the state dir is `<home>/.openclaw`.
    pub home: PathBuf,
}

impl TsNode {
    /// The HOME `ts-node.sh` will use for node `name`, next to the gateway's run dir.
    pub fn home_for(gw: &PeerGateway, name: &str) -> PathBuf {
        gw.run_dir.parent().expect("peer run dir").join(format!("node-{name}")).join("home")
    }

    /// Starts it against `gw` and waits until it logs "gateway connected" (ts-node.sh does).
    pub fn start(gw: &PeerGateway, name: &str, display: &str) -> Result<TsNode, String> {
        let out = Command::new("bash")
            .arg(peer_scripts().join("ts-node.sh"))
            .args(["start", name, &gw.name, display])
            .stdin(Stdio::null())
            .output()
            .expect("run ts-node.sh");
        let node = TsNode { name: name.to_string(), home: TsNode::home_for(gw, name) };
        if out.status.success() {
            Ok(node)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).to_string())
        }
    }

    /// The TS CLI's `node identity --json` on this node's state.
    pub fn identity(&self) -> Value {
        let script = format!(
            "source '{}'; HOME='{}' openclaw node identity --json",
            peer_scripts().join("env.sh").display(),
            self.home.display()
        );
        let out = Command::new("bash").arg("-c").arg(script).stdin(Stdio::null()).output().expect("ts identity");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no identity JSON: {text}"));
        serde_json::from_str(line).expect("identity JSON")
    }

    /// Stops it (by its recorded pid).
    pub fn stop(&self) {
        let _ = Command::new("bash").arg(peer_scripts().join("ts-node.sh")).args(["stop", &self.name]).status();
    }
}

impl Drop for TsNode {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Our gateway (`openclaw gateway run`) as a child process on a free loopback port, stopped
/// on drop. Its stdout (the "listening" line) and stderr (the log) go to files.
pub struct OurGateway {
    child: Option<Child>,
    pub port: u16,
    pub token: String,
    pub state_dir: PathBuf,
    pub log: PathBuf,
    /// What it printed on stdout (the listening line, the TLS fingerprint).
    pub stdout: PathBuf,
    args: Vec<String>,
}

impl OurGateway {
    /// Starts a gateway with token auth on a free port; `args` are extra `gateway run` flags.
    pub fn start(state_dir: &Path, args: &[&str]) -> OurGateway {
        let mut gw = OurGateway {
            child: None,
            port: 0,
            token: format!("tok-{}", uuid::Uuid::new_v4().simple()),
            state_dir: state_dir.to_path_buf(),
            log: state_dir.with_extension("gateway.log"),
            stdout: PathBuf::new(),
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        gw.spawn();
        gw
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(&self.state_dir).unwrap();
        let out_path = self.state_dir.with_extension(format!("{}.out", uuid::Uuid::new_v4().simple()));
        self.stdout = out_path.clone();
        let stdout = std::fs::File::create(&out_path).unwrap();
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(openclaw_bin())
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
            .expect("spawn our gateway");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&out_path).unwrap_or_default();
            let port = text
                .lines()
                .find(|l| l.starts_with("gateway listening on "))
                .and_then(|l| l.split(':').nth(2)?.split_whitespace().next()?.parse::<u16>().ok());
            if let Some(port) = port {
                self.port = port;
                return;
            }
            assert!(Instant::now() < deadline, "our gateway did not start:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `ws://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().ok().and_then(|s| s.code())
    }

    /// Stops it and starts it again on the same port with the same state.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Runs our operator CLI against this gateway with `--url` and `--token`.
    pub fn cli(&self, state_dir: &Path, args: &[&str]) -> std::process::Output {
        our_cli(&self.url(), &self.token, state_dir, args)
    }

    /// Like [`cli`](Self::cli) with `--json`, asserting success and parsing stdout.
    pub fn cli_json(&self, state_dir: &Path, args: &[&str]) -> Value {
        our_cli_json(&self.url(), &self.token, state_dir, args)
    }
}

/// Runs our operator CLI against any gateway. The gateway flags go right after the command
/// group, so they never land after a `--`.
pub fn our_cli(url: &str, token: &str, state_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(openclaw_bin())
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
pub fn our_cli_json(url: &str, token: &str, state_dir: &Path, args: &[&str]) -> Value {
    let mut all: Vec<&str> = vec![args[0], "--json"];
    all.extend_from_slice(&args[1..]);
    let out = our_cli(url, token, state_dir, &all);
    assert!(
        out.status.success(),
        "openclaw {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs `openclaw nodes run` under `script(1)`, so it has a terminal, and types `answer` at
/// the approval prompt.
pub fn our_nodes_run_on_tty(
    url: &str,
    token: &str,
    state_dir: &Path,
    node: &str,
    answer: &str,
    argv: &str,
) -> std::process::Output {
    use std::io::Write;
    let cmd = format!("{} nodes run --node '{node}' --url {url} --token {token} -- {argv}", openclaw_bin().display());
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

impl Drop for OurGateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The real TypeScript node host pointed at any gateway by port and token (here: ours),
/// started through `ts-node.sh` via a run dir that names that port and token.
pub fn ts_node_against(port: u16, token: &str, name: &str, display: &str) -> Result<TsNode, String> {
    let peer_dir = std::env::var_os("OPENCLAW_PEER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/openclaw-peer"));
    let gw_name = format!("ours-{name}");
    let gw_dir = peer_dir.join("run").join(&gw_name);
    std::fs::create_dir_all(&gw_dir).map_err(|e| e.to_string())?;
    std::fs::write(gw_dir.join("port"), port.to_string()).map_err(|e| e.to_string())?;
    std::fs::write(gw_dir.join("token"), token).map_err(|e| e.to_string())?;
    let node_home = peer_dir.join("run").join(format!("node-{name}")).join("home");
    let _ = std::fs::remove_dir_all(&node_home);
    let out = Command::new("bash")
        .arg(peer_scripts().join("ts-node.sh"))
        .args(["start", name, &gw_name, display])
        .stdin(Stdio::null())
        .output()
        .expect("run ts-node.sh");
    let node = TsNode { name: name.to_string(), home: node_home };
    if out.status.success() {
        Ok(node)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// One operator request to the gateway at `url` (loopback, shared token, no device identity:
/// the local CLI's way in). Returns the payload, or `{"ok":false,"error":<ErrorShape>}`.
pub fn operator_call(url: &str, pin: Option<&str>, token: &str, method: &str, params: Value) -> Value {
    use openclaw_operator::{ClientError, ConnectOptions, OperatorClient, OPERATOR_SCOPES};
    let opts = ConnectOptions {
        endpoint: openclaw_operator::client::endpoint_from_url(url, pin).unwrap(),
        token: Some(token.to_string()),
        password: None,
        device_token: None,
        identity: None,
        scopes: OPERATOR_SCOPES.iter().map(|s| s.to_string()).collect(),
        timeout: Duration::from_secs(20),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = OperatorClient::connect(&opts).await.unwrap_or_else(|e| panic!("operator connect: {e}"));
        let answer = client.request_with_timeout(method, params, Duration::from_secs(90)).await;
        client.close().await;
        match answer {
            Ok(v) => v,
            Err(ClientError::Gateway(e)) => serde_json::json!({"ok": false, "error": *e}),
            Err(e) => panic!("{method}: {e}"),
        }
    })
}
