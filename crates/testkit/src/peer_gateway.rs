//! The real Gateway, started by the peer's `gateway.sh` in `$OPENCLAW_PEER_DIR/run/<name>`, and
//! stopped by its recorded pid when its handle drops (or by its [`Reaper`] when the process that
//! started it dies first).
//!
//! Restarting in place is written here and nowhere else: `gateway.sh start` would wipe the
//! state and pick a new token, but the reconnect tests and the reconnect benchmark need the same
//! port, home and token, so the gateway is relaunched the way `gateway.sh` launches it.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::Reaper;
use crate::wait::{log_tail, strip_ansi, wait_for_value};
use crate::{operator_call, Error, Launch, Peer, Result};

/// How often the log is polled for the readiness line after a restart.
const POLL: Duration = Duration::from_millis(5);

/// A real Gateway on loopback with token auth; stopped on drop.
pub struct PeerGateway {
    peer: Peer,
    /// Its `gateway.sh` name (the run directory's name).
    pub name: String,
    /// Started with `--tls`.
    pub tls: bool,
    /// Its loopback port.
    pub port: u16,
    /// The shared token it accepts.
    pub token: String,
    /// Its HOME (`<run_dir>/home`, config in `.openclaw/`).
    pub home: PathBuf,
    /// `$OPENCLAW_PEER_DIR/run/<name>`: pid file and `gateway.log`.
    pub run_dir: PathBuf,
    _reaper: Option<Reaper>,
}

impl PeerGateway {
    /// Starts a gateway for a test, named `rs-<name>-<pid>` so parallel test binaries never
    /// share one; `flags` are `--no-local-auto-approve` and/or `--tls`.
    ///
    /// # Panics
    /// When the peer is not installed (call [`crate::peer_available`] first) or it fails to start.
    pub fn start(name: &str, flags: &[&str]) -> PeerGateway {
        let name = format!("rs-{name}-{}", std::process::id());
        PeerGateway::try_start(Peer::installed(), &name, flags).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a gateway named exactly `name` (`gateway.sh start`) and waits until it is ready.
    pub fn try_start(peer: &Peer, name: &str, flags: &[&str]) -> Result<PeerGateway> {
        PeerGateway::try_start_with(peer, name, flags, &Launch::default())
    }

    /// [`try_start`](Self::try_start) with `gateway.sh` run under `launch`'s wrapper (e.g.
    /// `ip netns exec <ns>`: the script, its port probe and the gateway all run inside that
    /// namespace, on its loopback) and with `launch`'s extra environment (e.g. `PATH`,
    /// `PEER_EXTRA_CONFIG`). [`url`](Self::url) and [`call`](Self::call) then work only from
    /// inside that namespace.
    pub fn try_start_with(peer: &Peer, name: &str, flags: &[&str], launch: &Launch) -> Result<PeerGateway> {
        // Watching starts before the script, so a gateway that is still starting is covered too.
        let reaper = Reaper::watch_pid_file(&peer.proc_sh(), &peer.run_dir(name).join("pid")).ok();
        let mut args = vec!["start", name];
        args.extend_from_slice(flags);
        let run = || -> Result<std::process::Output> {
            if launch.wrapper.is_empty() && launch.env.is_empty() {
                return peer.run_script("gateway.sh", &args);
            }
            let mut command = match launch.wrapper.split_first() {
                Some((program, rest)) => {
                    let mut c = Command::new(program);
                    c.args(rest).arg("bash");
                    c
                }
                None => Command::new("bash"),
            };
            command.arg(peer.scripts.join("gateway.sh")).args(&args).stdin(std::process::Stdio::null());
            for (k, v) in &launch.env {
                command.env(k, v);
            }
            let out = command.output().map_err(|source| Error::Spawn { program: "gateway.sh".into(), source })?;
            if out.status.success() {
                Ok(out)
            } else {
                Err(Error::Script {
                    script: "gateway.sh start".into(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                })
            }
        };
        let out = run().inspect_err(|_| {
            // A gateway that started but never became ready is still running: stop it by pid.
            let _ = peer.script("gateway.sh").args(["stop", name]).status();
        })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        // "<port> <token> <home> <pid>"
        let fields: Vec<&str> = stdout.split_whitespace().collect();
        let parsed = match fields[..] {
            [port, token, home, _pid, ..] => port.parse::<u16>().ok().zip(Some((token, PathBuf::from(home)))),
            _ => None,
        };
        let Some((port, (token, home))) = parsed.filter(|(_, (_, home))| home.parent().is_some()) else {
            let _ = peer.script("gateway.sh").args(["stop", name]).status();
            return Err(Error::ScriptOutput { script: "gateway.sh".into(), stdout });
        };
        Ok(PeerGateway {
            peer: peer.clone(),
            run_dir: home.parent().expect("checked above").to_path_buf(),
            name: name.to_string(),
            tls: flags.contains(&"--tls"),
            port,
            token: token.to_string(),
            home,
            _reaper: reaper,
        })
    }

    /// The gateway's process id (the root of its process tree), from its pid file.
    pub fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.run_dir.join("pid")).ok()?.trim().parse().ok()
    }

    /// `gateway.log` in the run directory.
    pub fn log(&self) -> PathBuf {
        self.run_dir.join("gateway.log")
    }

    /// The last 20 lines of its log, for error messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log(), 20)
    }

    /// `ws://127.0.0.1:<port>` (the gateway speaks TLS only when started with `--tls`).
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The certificate fingerprint of a `--tls` gateway.
    pub fn tls_fingerprint(&self) -> String {
        std::fs::read_to_string(self.home.join("tls-fingerprint")).expect("tls-fingerprint").trim().to_string()
    }

    /// Stops the gateway and its process tree (`gateway.sh stop`: by its recorded pid).
    pub fn stop(&self) {
        let _ = self.peer.script("gateway.sh").args(["stop", &self.name]).status();
    }

    /// Restarts in place for a test.
    ///
    /// # Panics
    /// When it is not ready again within 90 s.
    pub fn restart_in_place(&self) {
        self.try_restart_in_place().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Stops it and starts it again on the same port, home and token, the way `gateway.sh`
    /// starts it; returns the moment its `[gateway] ready` log line was seen.
    pub fn try_restart_in_place(&self) -> Result<Instant> {
        self.stop();
        let log = self.log();
        let script = format!(
            "source '{env}'; cd '{run}'; HOME='{home}' OPENCLAW_GATEWAY_TOKEN='{tok}' setsid openclaw gateway run --allow-unconfigured --auth token --token '{tok}' --port {port} --bind loopback > '{log}' 2>&1 < /dev/null & echo $! > '{run}/pid'",
            env = self.peer.scripts.join("env.sh").display(),
            run = self.run_dir.display(),
            home = self.home.display(),
            tok = self.token,
            port = self.port,
            log = log.display(),
        );
        let status = Command::new("bash")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::null())
            .status()
            .map_err(|source| Error::Spawn { program: "bash".into(), source })?;
        if !status.success() {
            return Err(Error::Script { script: "restarting the real Gateway".into(), stderr: status.to_string() });
        }
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if strip_ansi(&text).lines().any(|l| l.ends_with("[gateway] ready")) {
                return Ok(Instant::now());
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    what: "real Gateway not ready 90 s after restart".into(),
                    log: self.log_tail(),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Runs the real operator CLI (`cli.sh`) against this gateway; returns stdout.
    ///
    /// # Panics
    /// When the CLI fails, with its stderr and stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.peer.script("cli.sh").arg(&self.name).args(args).output().expect("run cli.sh");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "cli {args:?} failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
        stdout
    }

    /// Runs the CLI with `--json` output and parses it (the CLI may print banners first).
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

    /// Approves every pending node command-surface request of `node_id`, waiting up to 30 s for
    /// the first one (the node files it right after it connects).
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

    /// The peer this gateway belongs to (for starting TypeScript nodes against it).
    pub fn peer(&self) -> &Peer {
        &self.peer
    }
}

impl Drop for PeerGateway {
    fn drop(&mut self) {
        self.stop();
    }
}
