//! Test support: `openclaw-testkit` bound to this crate's `openclaw` binary.
//!
//! The processes themselves (the real peer, our gateway and node host) are started and stopped
//! by the shared test kit, which the benchmarks use too. What only an integration test of this
//! crate knows, the path in `CARGO_BIN_EXE_openclaw`, is passed in here, so the test files keep
//! calling `OurNode::spawn(state, args, env)` and `our_cli(url, token, state, args)`.

#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

#[allow(unused_imports)]
pub use openclaw_testkit::{
    operator_call, peer_available, strip_ansi, wait_for_value, wait_until, PeerGateway, Signal, TsNode,
};
use openclaw_testkit::{ours, Peer};
use serde_json::Value;

/// Our `openclaw` binary.
pub fn openclaw_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_openclaw"))
}

/// `shared/peer`, from `OPENCLAW_SHARED_DIR` or beside the repository.
pub fn peer_scripts() -> PathBuf {
    openclaw_testkit::peer::scripts_dir().unwrap_or_else(|e| panic!("{e}"))
}

/// Our node host ([`ours::OurNode`]) started from this crate's binary.
pub struct OurNode(ours::OurNode);

impl OurNode {
    /// Starts `openclaw node run <args>` with `OPENCLAW_STATE_DIR=state_dir` and extra env.
    pub fn spawn(state_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> OurNode {
        OurNode(ours::OurNode::try_spawn(&openclaw_bin(), state_dir, args, env).expect("spawn our node"))
    }

    /// Starts `openclaw connect <args>` with `OPENCLAW_STATE_DIR=state_dir`.
    pub fn connect(state_dir: &Path, args: &[&str]) -> OurNode {
        OurNode(ours::OurNode::try_spawn_connect(&openclaw_bin(), state_dir, args, &[]).expect("spawn our connect"))
    }
}

impl Deref for OurNode {
    type Target = ours::OurNode;
    fn deref(&self) -> &ours::OurNode {
        &self.0
    }
}

impl DerefMut for OurNode {
    fn deref_mut(&mut self) -> &mut ours::OurNode {
        &mut self.0
    }
}

/// Our gateway ([`ours::OurGateway`]) started from this crate's binary.
pub struct OurGateway(ours::OurGateway);

impl OurGateway {
    /// Starts a gateway with token auth on a free port; `args` are extra `gateway run` flags.
    pub fn start(state_dir: &Path, args: &[&str]) -> OurGateway {
        OurGateway(ours::OurGateway::try_start(&openclaw_bin(), state_dir, args).unwrap_or_else(|e| panic!("{e}")))
    }

    /// [`start`](Self::start) on `port` with extra environment (a config file to read).
    pub fn start_at(state_dir: &Path, port: u16, args: &[&str], env: &[(&str, &str)]) -> OurGateway {
        let launch = ours::Launch::with_env(env);
        OurGateway(
            ours::OurGateway::try_start_at(&openclaw_bin(), state_dir, port, args, launch)
                .unwrap_or_else(|e| panic!("{e}")),
        )
    }
}

impl Deref for OurGateway {
    type Target = ours::OurGateway;
    fn deref(&self) -> &ours::OurGateway {
        &self.0
    }
}

impl DerefMut for OurGateway {
    fn deref_mut(&mut self) -> &mut ours::OurGateway {
        &mut self.0
    }
}

/// Our node's identity, read with `openclaw node identity --json`.
pub fn our_identity(state_dir: &Path) -> Value {
    ours::our_identity(&openclaw_bin(), state_dir)
}

/// Runs our operator CLI against any gateway.
pub fn our_cli(url: &str, token: &str, state_dir: &Path, args: &[&str]) -> std::process::Output {
    ours::our_cli(&openclaw_bin(), url, token, state_dir, args)
}

/// [`our_cli`] with `--json`, asserting success and parsing stdout.
pub fn our_cli_json(url: &str, token: &str, state_dir: &Path, args: &[&str]) -> Value {
    ours::our_cli_json(&openclaw_bin(), url, token, state_dir, args)
}

/// Runs our CLI with `args` under `script(1)` (a terminal) and types `answer` after 1.5 s.
pub fn our_cli_on_tty(url: &str, token: &str, state_dir: &Path, args: &[&str], answer: &str) -> std::process::Output {
    ours::our_cli_on_tty(&openclaw_bin(), url, token, state_dir, args, answer)
}

/// Runs `openclaw nodes run` under `script(1)` and types `answer` at the approval prompt.
pub fn our_nodes_run_on_tty(
    url: &str,
    token: &str,
    state_dir: &Path,
    node: &str,
    answer: &str,
    argv: &str,
) -> std::process::Output {
    ours::our_nodes_run_on_tty(&openclaw_bin(), url, token, state_dir, node, answer, argv)
}

/// The real TypeScript node host pointed at any gateway by port and token (here: ours).
pub fn ts_node_against(port: u16, token: &str, name: &str, display: &str) -> openclaw_testkit::Result<TsNode> {
    TsNode::start_against(Peer::installed(), port, token, name, display)
}

/// The comparable part of a `node.invoke` answer through the real Gateway: the payload, or the
/// node's error (its `details.nodeError` when the gateway wrapped one).
pub fn invoke_outcome(res: &Value) -> Value {
    if res["ok"] == true {
        return res["payload"].clone();
    }
    let error = if res["error"].is_object() { &res["error"] } else { res };
    let node_error = &error["details"]["nodeError"];
    let source = if node_error.is_object() { node_error } else { error };
    assert!(source["code"].is_string(), "unexpected answer shape: {res}");
    serde_json::json!({"error": {"code": source["code"], "message": source["message"]}})
}

/// A loopback port nothing listens on right now: for a gateway the test starts later, or a
/// browser profile's CDP port, so tests running side by side never share one (a node host
/// attaches to whatever Chromium already serves its CDP port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
