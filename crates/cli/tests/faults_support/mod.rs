//! The fault suite's rig: our gateway and node host started for one test (on loopback, or in a
//! pair of network namespaces), an operator that can reach the gateway from inside its
//! namespace, and commands that leave a unique token in a file so a test can count what ran.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use openclaw_operator::{ClientError, ConnectOptions, OperatorClient, OPERATOR_SCOPES};
use openclaw_testkit::faults::netns::{NetPair, GATEWAY_ADDR, PAIR_CIDR};
use openclaw_testkit::faults::FaultError;
use openclaw_testkit::process::signal_pid;
use openclaw_testkit::{ours, Launch, Signal};
use serde_json::{json, Value};

use crate::support::openclaw_bin;

/// The gateway's tick in the suite (the node's tick watchdog is twice this).
pub const TICK_MS: &str = "2000";
/// The gateway's ping cadence in the suite.
pub const PING_MS: &str = "3000";

/// What the operator heard for one command: the `node.invoke` payload, or the error as
/// `CODE: message`.
pub type Outcome = Result<Value, String>;

/// Polls `cond` every 100 ms for up to `timeout`; whether it came true.
pub fn poll(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A namespace pair, or `None` after printing `faults: SKIPPED (<reason>)`.
pub fn netns_or_skip() -> Option<NetPair> {
    if let Err(reason) = openclaw_testkit::faults::preflight() {
        openclaw_testkit::faults::print_skip(&reason);
        return None;
    }
    Some(NetPair::create().expect("network namespaces (preflight passed)"))
}

/// SIGCONT on drop, so a stopped gateway never outlives a failed assertion.
pub struct ContinueOnDrop(pub i32);

impl Drop for ContinueOnDrop {
    fn drop(&mut self) {
        signal_pid(self.0, Signal::SIGCONT);
    }
}

/// How many lines of `path` are exactly `token`.
pub fn count(path: &Path, token: &str) -> usize {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter(|l| *l == token).count()
}

/// Whether a `node.invoke` of `system.run` reported a command that ran to exit 0.
fn succeeded(outcome: &Outcome) -> bool {
    match outcome {
        Ok(v) => {
            let exit = v.pointer("/payload/exitCode").and_then(Value::as_i64);
            v["ok"] != json!(false) && exit.is_none_or(|c| c == 0)
        }
        Err(_) => false,
    }
}

/// A batch of commands, each appending its own token to `out` (and its shell's pid to `pids`).
pub struct Scripts {
    /// The token file.
    pub out: PathBuf,
    pids: PathBuf,
    gate: PathBuf,
    tokens: Vec<String>,
}

impl Scripts {
    /// `n` commands with fresh tokens.
    pub fn new(dir: &Path, n: usize) -> Scripts {
        Scripts::new_named(dir, "cmd", n)
    }

    /// `n` commands whose tokens start with `name`.
    pub fn new_named(dir: &Path, name: &str, n: usize) -> Scripts {
        let run = uuid::Uuid::new_v4().simple().to_string();
        Scripts {
            out: dir.join(format!("{name}.tokens")),
            pids: dir.join(format!("{name}.pids")),
            gate: dir.join(format!("{name}.go")),
            tokens: (0..n).map(|i| format!("{name}-{i}-{}", &run[..8])).collect(),
        }
    }

    /// The tokens, in command order.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Commands that record their token and pid, wait for the gate, then print `bytes` bytes:
    /// results that are all produced at the moment the test chooses.
    pub fn gated_big_output(&self, bytes: usize) -> Vec<String> {
        self.tokens
            .iter()
            .map(|t| {
                format!(
                    "echo {t} >> '{}'; echo $$ >> '{}'; while [ ! -e '{}' ]; do sleep 0.05; done; head -c {bytes} /dev/zero | tr '\\0' a",
                    self.out.display(),
                    self.pids.display(),
                    self.gate.display()
                )
            })
            .collect()
    }

    /// Commands that only record their token.
    pub fn quick(&self) -> Vec<String> {
        self.tokens.iter().map(|t| format!("echo {t} >> '{}'", self.out.display())).collect()
    }

    /// Waits until every command has started (its token is in the file).
    pub fn wait_all_started(&self, timeout: Duration) {
        let all = poll(timeout, || self.tokens.iter().all(|t| count(&self.out, t) >= 1));
        let started = self.tokens.iter().filter(|t| count(&self.out, t) >= 1).count();
        assert!(all, "only {started} of {} commands started within {timeout:?}", self.tokens.len());
    }

    /// Lets gated commands finish.
    pub fn open_gate(&self) {
        std::fs::write(&self.gate, b"go").unwrap();
    }

    /// SIGKILLs the process groups of commands that are still running (their shells wrote
    /// their pids), for commands orphaned by a killed node.
    pub fn kill_leftovers(&self) {
        for pid in std::fs::read_to_string(&self.pids).unwrap_or_default().lines().filter_map(|l| l.parse::<i32>().ok())
        {
            signal_pid(-pid, Signal::SIGKILL);
            signal_pid(pid, Signal::SIGKILL);
        }
    }

    /// No token appears twice.
    pub fn assert_ran_at_most_once(&self) {
        for t in &self.tokens {
            let n = count(&self.out, t);
            assert!(n <= 1, "{t} ran {n} times");
        }
    }

    /// Every command ran exactly once and the operator got its successful result: nothing run
    /// twice, nothing that ran reported as failed or lost, nothing reported that did not run.
    pub fn assert_each_ran_once_and_reported(&self, outcomes: &[Outcome]) {
        assert_eq!(outcomes.len(), self.tokens.len());
        self.assert_ran_at_most_once();
        let mut problems = Vec::new();
        for (t, o) in self.tokens.iter().zip(outcomes) {
            let ran = count(&self.out, t) == 1;
            match (ran, succeeded(o)) {
                (true, true) => {}
                (true, false) => problems.push(format!("{t} ran but the operator got {}", brief(o))),
                (false, true) => problems.push(format!("{t} reported success but never ran")),
                (false, false) => problems.push(format!("{t} never ran; operator got {}", brief(o))),
            }
        }
        assert!(
            problems.is_empty(),
            "{} of {} commands lost or misreported:\n{}",
            problems.len(),
            self.tokens.len(),
            problems.join("\n")
        );
    }
}

fn brief(o: &Outcome) -> String {
    match o {
        Ok(v) => {
            let mut s = v.to_string();
            s.truncate(200);
            format!("ok {s}")
        }
        Err(e) => format!("error {e}"),
    }
}

/// An operator of the gateway, reaching it from inside the gateway's namespace when there is
/// one (a local CLI client on loopback keeps its scopes). Each call runs on its own thread.
#[derive(Clone)]
pub struct Op {
    ns: Option<String>,
    url: String,
    token: String,
}

async fn connect(url: &str, token: &str) -> OperatorClient {
    let opts = ConnectOptions {
        endpoint: openclaw_operator::client::endpoint_from_url(url, None).unwrap(),
        token: Some(token.to_string()),
        password: None,
        device_token: None,
        identity: None,
        scopes: OPERATOR_SCOPES.iter().map(|s| s.to_string()).collect(),
        timeout: Duration::from_secs(20),
        caps: Vec::new(),
    };
    OperatorClient::connect(&opts).await.unwrap_or_else(|e| panic!("operator connect: {e}"))
}

fn describe(e: ClientError) -> String {
    match e.shape() {
        Some(s) => format!("{}: {}", s.code, s.message),
        None => e.to_string(),
    }
}

async fn run_script(op: &OperatorClient, node: &str, script: &str, timeout_ms: u64) -> Outcome {
    let request = json!({
        "nodeId": node,
        "command": "system.run",
        "idempotencyKey": uuid::Uuid::new_v4().to_string(),
        "timeoutMs": timeout_ms,
        "params": {"command": ["sh", "-c", script], "timeoutMs": timeout_ms},
    });
    op.request_with_timeout("node.invoke", request, Duration::from_millis(timeout_ms + 30_000)).await.map_err(describe)
}

impl Op {
    fn block_on<T: Send + 'static>(
        &self,
        f: impl FnOnce(String, String) -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
    ) -> JoinHandle<Result<T, FaultError>> {
        let (url, token) = (self.url.clone(), self.token.clone());
        NetPair::spawn_in(self.ns.as_deref(), move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(f(url, token))
        })
    }

    /// One request; the gateway's refusal as `Err("CODE: message")`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        let method = method.to_string();
        let handle = self.block_on(move |url, token| {
            Box::pin(async move {
                let op = connect(&url, &token).await;
                let r = op.request_with_timeout(&method, params, Duration::from_secs(30)).await.map_err(describe);
                op.close().await;
                r
            })
        });
        match handle.join() {
            Ok(r) => r.expect("enter the gateway's namespace"),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Runs every script through `node.invoke` at once, on a background thread.
    pub fn invoke_many_bg(
        &self,
        node: &str,
        scripts: Vec<String>,
        timeout_ms: u64,
    ) -> JoinHandle<Result<Vec<Outcome>, FaultError>> {
        let node = node.to_string();
        self.block_on(move |url, token| {
            Box::pin(async move {
                let op = connect(&url, &token).await;
                let calls = scripts.iter().map(|s| run_script(&op, &node, s, timeout_ms));
                let r = futures_join_all(calls).await;
                op.close().await;
                r
            })
        })
    }

    /// [`invoke_many_bg`](Self::invoke_many_bg), waited for.
    pub fn invoke_many(&self, node: &str, scripts: Vec<String>, timeout_ms: u64) -> Vec<Outcome> {
        match self.invoke_many_bg(node, scripts, timeout_ms).join() {
            Ok(r) => r.expect("enter the gateway's namespace"),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Whether `node.list` shows the node connected.
    pub fn node_connected(&self, node: &str) -> bool {
        let Ok(list) = self.call("node.list", json!({})) else { return false };
        list["nodes"].as_array().into_iter().flatten().any(|n| n["nodeId"] == node && n["connected"] == true)
    }

    /// `system.which sh` within `timeout`.
    pub fn which(&self, node: &str, timeout: Duration) -> Result<Value, String> {
        self.call(
            "node.invoke",
            json!({"nodeId": node, "command": "system.which", "params": {"bins": ["sh"]},
                "timeoutMs": timeout.as_millis() as u64, "idempotencyKey": uuid::Uuid::new_v4().to_string()}),
        )
    }

    /// Approves the node's command surface and waits until it answers `system.which`.
    pub fn make_invokable(&self, node: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(list) = self.call("node.pair.list", json!({})) {
                for p in list["pending"].as_array().into_iter().flatten().filter(|p| p["nodeId"] == node) {
                    let _ = self.call("node.pair.approve", json!({"requestId": p["requestId"]}));
                }
            }
            match self.which(node, Duration::from_secs(10)) {
                Ok(_) => return,
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("node {node} not invokable within {timeout:?}: {last}");
    }
}

/// `futures::future::join_all` without the dependency: the calls run concurrently on the
/// current-thread runtime as local tasks.
async fn futures_join_all<F: std::future::Future<Output = Outcome>>(calls: impl Iterator<Item = F>) -> Vec<Outcome> {
    let calls: Vec<_> = calls.map(Box::pin).collect();
    let mut results: Vec<Option<Outcome>> = (0..calls.len()).map(|_| None).collect();
    let mut calls: Vec<_> = calls.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, slot) in calls.iter_mut().enumerate() {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(|r| r.expect("every call finished")).collect()
}

/// One test's gateway, node host and operator.
pub struct Rig {
    /// The node host (restartable with [`restart_node`](Self::restart_node)).
    pub node: ours::OurNode,
    /// Our gateway.
    pub gw: ours::OurGateway,
    /// The node's device id.
    pub node_id: String,
    /// The operator.
    pub op: Op,
    /// Scratch space (token files).
    pub dir: PathBuf,
    node_state: PathBuf,
    node_args: Vec<String>,
    node_launch: Launch,
    _tmp: tempfile::TempDir,
}

fn test_env() -> Vec<(String, String)> {
    vec![
        ("OPENCLAW_TEST_TICK_INTERVAL_MS".into(), TICK_MS.into()),
        ("OPENCLAW_TEST_PING_INTERVAL_MS".into(), PING_MS.into()),
    ]
}

impl Rig {
    /// Gateway and node on loopback.
    pub fn start_local(label: &str, gw_args: &[&str]) -> Rig {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("node");
        Rig::start(label, tmp, &state, gw_args, None)
    }

    /// Gateway and node on loopback, the node's state dir at `node_state`.
    pub fn start_local_with_state(label: &str, tmp: tempfile::TempDir, node_state: &Path) -> Rig {
        Rig::start(label, tmp, node_state, &[], None)
    }

    /// The gateway in the pair's gateway namespace (all its interfaces: the loopback there for
    /// the operator, the veth for the node), the node in the node namespace dialling it over
    /// the veth; the pair's network is a trusted pairing CIDR.
    pub fn start_in_netns(net: &NetPair, label: &str) -> Rig {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("node");
        Rig::start(label, tmp, &state, &["--bind", "lan"], Some(net))
    }

    fn start(label: &str, tmp: tempfile::TempDir, node_state: &Path, gw_args: &[&str], net: Option<&NetPair>) -> Rig {
        let dir = tmp.path().to_path_buf();
        let gw_state = dir.join("gw");
        std::fs::create_dir_all(&gw_state).unwrap();
        let mut gw_launch = Launch { wrapper: Vec::new(), env: test_env() };
        let mut node_launch = Launch { wrapper: Vec::new(), env: Vec::new() };
        if let Some(net) = net {
            std::fs::write(
                gw_state.join("openclaw.json"),
                json!({"gateway": {"nodes": {"pairing": {"autoApproveCidrs": [PAIR_CIDR]}}}}).to_string(),
            )
            .unwrap();
            gw_launch.wrapper = NetPair::wrapper(&net.gw_ns);
            node_launch.wrapper = NetPair::wrapper(&net.node_ns);
            node_launch.env.push(("OPENCLAW_ALLOW_INSECURE_PRIVATE_WS".into(), "1".into()));
        }
        let gw = ours::OurGateway::try_start_with(&openclaw_bin(), &gw_state, gw_args, gw_launch)
            .unwrap_or_else(|e| panic!("{e}"));
        node_launch.env.push(("OPENCLAW_GATEWAY_TOKEN".into(), gw.token.clone()));
        let host = if net.is_some() { GATEWAY_ADDR } else { "127.0.0.1" };
        let node_args: Vec<String> =
            ["--host", host, "--port", &gw.port.to_string(), "--display-name", &format!("fault-{label}")]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let args: Vec<&str> = node_args.iter().map(String::as_str).collect();
        let mut node = ours::OurNode::try_spawn_with(&openclaw_bin(), node_state, &args, &node_launch)
            .unwrap_or_else(|e| panic!("{e}"));
        node.wait_for_log("gateway connected", 1, Duration::from_secs(30));
        let node_id = ours::our_identity(&openclaw_bin(), node_state)["deviceId"].as_str().unwrap().to_string();
        let op = Op { ns: net.map(|n| n.gw_ns.clone()), url: gw.url(), token: gw.token.clone() };
        op.make_invokable(&node_id, Duration::from_secs(60));
        Rig { node, gw, node_id, op, dir, node_state: node_state.to_path_buf(), node_args, node_launch, _tmp: tmp }
    }

    /// Starts the node again (same state, same flags) after it died or was stopped.
    pub fn restart_node(&mut self) {
        let args: Vec<&str> = self.node_args.iter().map(String::as_str).collect();
        let node = ours::OurNode::try_spawn_with(&openclaw_bin(), &self.node_state, &args, &self.node_launch)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut old = std::mem::replace(&mut self.node, node);
        if old.is_running() {
            old.stop();
        }
        self.node.wait_for_log("gateway connected", 1, Duration::from_secs(30));
    }

    /// Waits until the node answers `system.which` through the gateway again.
    pub fn wait_reconnected(&self, timeout: Duration) {
        let ok = poll(timeout, || self.op.which(&self.node_id, Duration::from_secs(3)).is_ok());
        assert!(ok, "the node was not invokable again within {timeout:?}:\n{}", self.node_log_tail());
    }

    /// `system.which` answers within `bound` (the "next system.which within 3 s").
    pub fn assert_which_within(&self, bound: Duration) {
        let t = Instant::now();
        let r = self.op.which(&self.node_id, bound + Duration::from_secs(5));
        let took = t.elapsed();
        assert!(r.is_ok(), "system.which failed: {r:?}");
        assert!(took <= bound + Duration::from_secs(1), "system.which took {took:?} (bound {bound:?})");
    }

    /// How many sessions the node has seen end so far: each end is logged as `node host gateway
    /// closed (…)` and followed by `node host gateway connecting: …` (whatever the reason,
    /// a tick timeout or a write that could not progress).
    pub fn sessions_ended(&self) -> usize {
        let log = self.node.log_text();
        let connecting = log.matches("node host gateway connecting:").count().saturating_sub(1);
        log.matches("node host gateway closed").count().max(connecting)
    }

    /// The last 40 lines of the node's log.
    pub fn node_log_tail(&self) -> String {
        let text = self.node.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Rows in the node's local audit trail (`openclaw node audit --json`).
    pub fn audit_rows(&self) -> usize {
        let out = Command::new(openclaw_bin())
            .args(["node", "audit", "--json", "--limit", "10000"])
            .env("OPENCLAW_STATE_DIR", &self.node_state)
            .output()
            .unwrap();
        assert!(out.status.success(), "node audit: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).ok().and_then(|v| v.as_array().map(Vec::len)).unwrap_or(0)
    }

    /// Our operator CLI against the gateway (loopback rigs only).
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.gw.cli(&self.dir.join("operator"), args)
    }

    /// [`cli`](Self::cli) with `--json`, parsed.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        self.gw.cli_json(&self.dir.join("operator"), args)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // The node first, so nothing is left inside a namespace the test is about to delete.
        if self.node.is_running() {
            self.node.signal(Signal::SIGKILL);
            let _ = self.node.wait_exit(Duration::from_secs(10));
        }
        self.gw.stop();
    }
}
