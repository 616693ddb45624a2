//! SSH-verified pairing end to end, as on a real LAN: our gateway in one network namespace, our
//! node host and Debian's sshd in another, joined by a veth pair (`10.213.0.1` ↔ `10.213.0.2`,
//! addresses that exist only inside the two namespaces, so they cannot collide with the host's
//! or another test's). The node dials the gateway over the veth; its request comes from a
//! private address, so the gateway logs in to `root@10.213.0.2:22` with the test's key and
//! runs `sh -lc 'openclaw node identity --json'`, which the test's login profile points at our
//! binary and at a state directory of the test's choosing.
//!
//! - the identity matches: approved as `ssh-verified` with no operator action, and the node's
//!   next retry (a second later, `wait_then_retry`) is its session;
//! - the identity reported over SSH is another state directory's: not approved, the request
//!   stays pending, and the mismatch cools the request down (no second login);
//! - `sshVerify: false`: no SSH connection is ever made.
//!
//! Namespaces need root, and sshd must be installed (`scripts/ssh-deps`, run by
//! `./scripts/test`); without them these tests print `ssh-verify: SKIPPED (<reason>)`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use openclaw_operator::{ConnectOptions, OperatorClient, OPERATOR_SCOPES};
use openclaw_testkit::faults::netns::{NetPair, GATEWAY_ADDR, NODE_ADDR};
use openclaw_testkit::sshd::{self, NsSshd};
use openclaw_testkit::{ours, Launch};
use serde_json::{json, Value};
use support::openclaw_bin;

/// One test's namespaces, sshd and gateway. Fields drop in order: gateway, sshd, namespaces,
/// then the directory.
struct Rig {
    gw: ours::OurGateway,
    sshd: NsSshd,
    net: NetPair,
    /// Holds `openclaw` (a symlink to the binary under test) for the remote login's PATH.
    bin_dir: PathBuf,
    /// Where the gateway's `ssh` wrapper writes every command line it was given.
    ssh_argv_log: PathBuf,
    dir: tempfile::TempDir,
}

impl Rig {
    /// Namespaces, sshd in the node's namespace, and our gateway in its own namespace with
    /// `gateway.nodes.pairing.sshVerify = ssh_verify` (the string `$KEY` replaced by the client
    /// key's path). `None` after printing the SKIPPED line.
    fn start(ssh_verify: Value) -> Option<Rig> {
        if let Err(reason) = sshd::preflight() {
            sshd::print_skip(&reason);
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let net = NetPair::create().expect("network namespaces (preflight passed)");
        let sshd =
            NsSshd::start(&net.node_ns, NODE_ADDR, "root", &dir.path().join("sshd")).unwrap_or_else(|e| panic!("{e}"));
        let bin_dir = dir.path().join("bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        std::os::unix::fs::symlink(openclaw_bin(), bin_dir.join("openclaw")).unwrap();
        let wrapper_dir = sshd.write_ssh_wrapper(&dir.path().join("gateway-bin")).unwrap();
        let gw_state = dir.path().join("gw");
        std::fs::create_dir_all(&gw_state).unwrap();
        let ssh_verify: Value =
            serde_json::from_str(&ssh_verify.to_string().replace("$KEY", &sshd.client_key.to_string_lossy())).unwrap();
        std::fs::write(
            gw_state.join("openclaw.json"),
            json!({"gateway": {"nodes": {"pairing": {"sshVerify": ssh_verify}}}}).to_string(),
        )
        .unwrap();
        let launch = Launch {
            wrapper: NetPair::wrapper(&net.gw_ns),
            env: vec![("PATH".into(), NsSshd::gateway_path(&wrapper_dir))],
        };
        // All interfaces of its namespace: the veth for the node, the loopback for operators.
        let gw = ours::OurGateway::try_start_with(&openclaw_bin(), &gw_state, &["--bind", "lan"], launch)
            .unwrap_or_else(|e| panic!("{e}"));
        Some(Rig { gw, sshd, net, bin_dir, ssh_argv_log: wrapper_dir.join("ssh-argv.log"), dir })
    }

    /// Our node host in the node's namespace, dialling the gateway over the veth.
    fn spawn_node(&self, state: &Path) -> ours::OurNode {
        let launch = Launch {
            wrapper: NetPair::wrapper(&self.net.node_ns),
            env: vec![
                ("OPENCLAW_GATEWAY_TOKEN".into(), self.gw.token.clone()),
                ("OPENCLAW_ALLOW_INSECURE_PRIVATE_WS".into(), "1".into()),
            ],
        };
        let port = self.gw.port.to_string();
        let args = ["--host", GATEWAY_ADDR, "--port", port.as_str(), "--display-name", "lan-box"];
        ours::OurNode::try_spawn_with(&openclaw_bin(), state, &args, &launch).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Our operator CLI with `--json`, run in the gateway's namespace (a loopback CLI there).
    fn cli_json(&self, args: &[&str]) -> Value {
        let out = NetPair::command(&self.net.gw_ns, &openclaw_bin().to_string_lossy())
            .arg(args[0])
            .args(["--url", &self.gw.url(), "--token", &self.gw.token, "--json"])
            .args(&args[1..])
            .env("OPENCLAW_STATE_DIR", self.dir.path().join("operator"))
            .env_remove("OPENCLAW_GATEWAY_TOKEN")
            .output()
            .unwrap();
        assert!(out.status.success(), "openclaw {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Connects an operator (in the gateway's namespace) and, on a thread, collects the
    /// `device.pair.*` events it hears until a `device.pair.resolved` arrives or `timeout`
    /// passes. Returns once the operator is connected, so no event of a node started afterwards
    /// is missed.
    fn watch_pairing_events(&self, timeout: Duration) -> std::thread::JoinHandle<Vec<(String, Value)>> {
        let (url, token) = (self.gw.url(), self.gw.token.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = NetPair::spawn_in(Some(&self.net.gw_ns), move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let opts = ConnectOptions {
                    endpoint: openclaw_operator::client::endpoint_from_url(&url, None).unwrap(),
                    token: Some(token),
                    password: None,
                    device_token: None,
                    identity: None,
                    scopes: OPERATOR_SCOPES.iter().map(|s| s.to_string()).collect(),
                    timeout: Duration::from_secs(20),
                    caps: Vec::new(),
                };
                let client = OperatorClient::connect(&opts).await.unwrap_or_else(|e| panic!("operator connect: {e}"));
                let mut events = client.take_events().expect("the event stream");
                ready_tx.send(()).unwrap();
                let mut seen = Vec::new();
                let deadline = tokio::time::Instant::now() + timeout;
                while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, events.recv()).await {
                    if ev.event.starts_with("device.pair.") {
                        let resolved = ev.event == "device.pair.resolved";
                        seen.push((ev.event.clone(), ev.payload.clone().unwrap_or(Value::Null)));
                        if resolved {
                            break;
                        }
                    }
                }
                client.close().await;
                seen
            })
        });
        ready_rx.recv_timeout(Duration::from_secs(30)).expect("the operator connected");
        std::thread::spawn(move || match thread.join() {
            Ok(r) => r.expect("entered the gateway's namespace"),
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }

    /// The gateway's log.
    fn gw_log(&self) -> String {
        self.gw.log_text()
    }
}

/// `openclaw node identity --json` of a state directory, creating the identity first by
/// running a node against a port nothing listens on until the identity exists.
fn make_identity(state: &Path) -> Value {
    let mut node = ours::OurNode::try_spawn(&openclaw_bin(), state, &["--host", "127.0.0.1", "--port", "9"], &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = Command::new(openclaw_bin())
            .args(["node", "identity", "--json"])
            .env("OPENCLAW_STATE_DIR", state)
            .output()
            .unwrap();
        if out.status.success() {
            node.stop();
            return serde_json::from_slice(&out.stdout).unwrap();
        }
        assert!(Instant::now() < deadline, "no identity in {}", state.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn device_id(identity: &Value) -> String {
    identity["deviceId"].as_str().unwrap().to_string()
}

/// The identity matches: the node is paired without any operator action, on its first retry.
#[test]
fn a_lan_node_is_paired_over_ssh_without_an_operator() {
    let Some(rig) = Rig::start(json!({"identity": "$KEY"})) else { return };
    let state = rig.dir.path().join("node");
    let identity = make_identity(&state);
    let id = device_id(&identity);
    rig.sshd.set_profile(&rig.bin_dir, &state).unwrap();
    let events = rig.watch_pairing_events(Duration::from_secs(40));

    let started = Instant::now();
    let mut node = rig.spawn_node(&state);
    node.wait_for_log("node host gateway connected", 1, Duration::from_secs(30));
    let took = started.elapsed();
    println!("ssh-verify: node start -> hello-ok in {} ms (one SSH-verified retry)", took.as_millis());
    eprintln!("ssh-verify: node start -> hello-ok in {} ms (one SSH-verified retry)", took.as_millis());

    let listed = rig.cli_json(&["devices", "list"]);
    let paired = listed["paired"].as_array().unwrap();
    assert_eq!(paired.len(), 1, "{listed}");
    assert_eq!(paired[0]["deviceId"], id.as_str());
    assert_eq!(paired[0]["approvedVia"], "ssh-verified", "{listed}");
    assert_eq!(listed["pending"], json!([]), "{listed}");
    // Operators heard the request and its approval.
    let events = events.join().unwrap();
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names, ["device.pair.requested", "device.pair.resolved"], "{events:?}");
    assert_eq!(events[1].1["deviceId"], id.as_str());
    assert_eq!(events[1].1["decision"], "approved");
    assert_eq!(events[1].1["requestId"], events[0].1["requestId"]);

    let log = rig.gw_log();
    let audit = format!(
        "security audit: device pairing ssh-verified auto-approve device={id} ip={NODE_ADDR} sshUser=root client=node-host conn="
    );
    assert!(log.contains(&audit), "no audit line {audit:?} in:\n{log}");
    // Exactly upstream's command line reached ssh (after the wrapper's lookup options).
    let argv = std::fs::read_to_string(&rig.ssh_argv_log).unwrap();
    let expected = format!(
        "-o BatchMode=yes -o ConnectTimeout=5 -o NumberOfPasswordPrompts=0 -o PreferredAuthentications=publickey \
         -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -a -x -o ForwardAgent=no -o ForwardX11=no \
         -o ForwardX11Trusted=no -o ClearAllForwardings=yes -o ExitOnForwardFailure=yes -p 22 -i {} \
         -o IdentitiesOnly=yes -- root@{NODE_ADDR} sh -lc 'openclaw node identity --json'",
        rig.sshd.client_key.display()
    );
    assert_eq!(argv.lines().collect::<Vec<_>>(), [expected.as_str()], "one probe, upstream's options");
    assert_eq!(rig.sshd.accepted_logins(), 1, "{}", rig.sshd.log_text());
    // The node was told to retry soon, and did: well inside the 10 s an operator approval waits.
    let node_log = node.log_text();
    assert!(node_log.contains("the gateway is verifying this device"), "{node_log}");
    assert!(took < Duration::from_secs(9), "paired after {took:?}:\n{node_log}");
    node.stop();
}

/// The identity read over SSH is another state directory's: nothing is approved, the request
/// stays pending for an operator, and the mismatch is not probed again while it cools down.
#[test]
fn a_mismatched_identity_over_ssh_is_not_approved() {
    let Some(rig) = Rig::start(json!({"identity": "$KEY"})) else { return };
    let state = rig.dir.path().join("node");
    let id = device_id(&make_identity(&state));
    let other_state = rig.dir.path().join("other");
    let other = device_id(&make_identity(&other_state));
    assert_ne!(id, other);
    rig.sshd.set_profile(&rig.bin_dir, &other_state).unwrap();

    let mut node = rig.spawn_node(&state);
    let mismatch =
        format!("node pairing ssh-verify did not approve device={id} host={NODE_ADDR} reason=identity-mismatch");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rig.gw_log().contains(&mismatch) {
        assert!(Instant::now() < deadline, "no mismatch line {mismatch:?} in:\n{}", rig.gw_log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let pending_ts = |listed: &Value| -> i64 {
        let pending = listed["pending"].as_array().unwrap();
        assert_eq!(pending.len(), 1, "{listed}");
        assert_eq!(pending[0]["deviceId"], id.as_str());
        assert_eq!(listed["paired"], json!([]), "nothing is paired: {listed}");
        pending[0]["ts"].as_i64().unwrap()
    };
    let first = pending_ts(&rig.cli_json(&["devices", "list"]));
    // The node keeps retrying (each retry refreshes the request) and stays unpaired; the
    // cooldown means no second login.
    let deadline = Instant::now() + Duration::from_secs(25);
    let mut refreshed = first;
    while refreshed == first {
        assert!(Instant::now() < deadline, "the node did not retry within 25 s:\n{}", node.log_text());
        std::thread::sleep(Duration::from_millis(500));
        refreshed = pending_ts(&rig.cli_json(&["devices", "list"]));
    }
    // Time for a second probe to have logged in, had the retry started one.
    std::thread::sleep(Duration::from_secs(2));
    assert!(!node.log_text().contains("node host gateway connected"), "{}", node.log_text());
    assert_eq!(rig.sshd.accepted_logins(), 1, "{}", rig.sshd.log_text());
    assert_eq!(rig.gw_log().matches("node pairing ssh-verify did not approve").count(), 1, "{}", rig.gw_log());
    assert!(!rig.gw_log().contains("ssh-verified auto-approve"), "{}", rig.gw_log());
    node.stop();
}

/// `sshVerify: false`: the request waits for an operator and the gateway never dials SSH.
#[test]
fn ssh_verify_false_turns_it_off() {
    let Some(rig) = Rig::start(json!(false)) else { return };
    let state = rig.dir.path().join("node");
    let id = device_id(&make_identity(&state));
    rig.sshd.set_profile(&rig.bin_dir, &state).unwrap();
    let mut node = rig.spawn_node(&state);
    node.wait_for_log("approve it on the gateway with: openclaw devices approve", 1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    let listed = rig.cli_json(&["devices", "list"]);
    assert_eq!(listed["pending"][0]["deviceId"], id.as_str(), "{listed}");
    assert_eq!(listed["paired"], json!([]), "{listed}");
    assert_eq!(rig.sshd.connections(), 0, "{}", rig.sshd.log_text());
    assert!(!rig.ssh_argv_log.exists(), "ssh was run");
    assert!(!rig.gw_log().contains("ssh-verify"), "{}", rig.gw_log());
    assert!(!node.log_text().contains("the gateway is verifying this device"), "{}", node.log_text());
    node.stop();
}

/// The same set-up against the real Gateway (npm `openclaw@2026.9.6`): it runs in the gateway
/// namespace (its `gateway.sh` binds loopback there; a DNAT rule on the veth keeps the node's
/// source address), with `sshVerify.identity` and the ssh wrapper on its PATH. Our node is
/// approved `ssh-verified` by it, through the same ssh command line ours sends.
///
/// Ignored: the real Gateway does probe the node here (sshd logs a connection from the gateway's
/// address, its log says `node pairing ssh-verify did not approve … reason=probe-failed`, and
/// our node retried a second after the first refusal, as `wait_then_retry` asks), but its
/// `ssh` never goes through the wrapper at the front of its PATH, even with
/// `OPENCLAW_PATH_BOOTSTRAPPED=1`, so ssh checks the host key against `/root/.ssh/known_hosts`
/// and refuses it. Making it pass would mean writing the test's host key into `/root/.ssh`.
/// Run it by hand with `--run-ignored only` to reproduce.
#[test]
#[ignore = "the real Gateway's ssh bypasses a PATH wrapper and would need /root/.ssh/known_hosts"]
fn the_real_gateway_approves_our_node_over_ssh() {
    if let Err(reason) = sshd::preflight() {
        sshd::print_skip(&reason);
        return;
    }
    if !std::path::Path::new("/usr/sbin/nft").exists() && !std::path::Path::new("/sbin/nft").exists() {
        let reason = openclaw_testkit::faults::Unavailable::MissingTool("nft (scripts/fault-deps installs nftables)");
        sshd::print_skip(&reason);
        return;
    }
    if !openclaw_testkit::peer_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let net = NetPair::create().expect("network namespaces (preflight passed)");
    let sshd =
        NsSshd::start(&net.node_ns, NODE_ADDR, "root", &dir.path().join("sshd")).unwrap_or_else(|e| panic!("{e}"));
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(openclaw_bin(), bin_dir.join("openclaw")).unwrap();
    let wrapper_dir = sshd.write_ssh_wrapper(&dir.path().join("gateway-bin")).unwrap();
    let extra = json!({"gateway": {"nodes": {"pairing": {"sshVerify": {"identity": sshd.client_key}}}}});
    let launch = Launch {
        wrapper: NetPair::wrapper(&net.gw_ns),
        env: vec![("PATH".into(), NsSshd::gateway_path(&wrapper_dir)), ("PEER_EXTRA_CONFIG".into(), extra.to_string())],
    };
    let name = format!("rs-sshverify-{}", std::process::id());
    let gw = openclaw_testkit::PeerGateway::try_start_with(
        openclaw_testkit::Peer::installed(),
        &name,
        &["--no-local-auto-approve"],
        &launch,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    net.expose_gateway_loopback_port(gw.port).expect("expose the real Gateway on the veth");
    let call = |method: &'static str| {
        let (url, token) = (gw.url(), gw.token.clone());
        NetPair::run_in(Some(&net.gw_ns), move || {
            openclaw_testkit::operator_call(&url, None, &token, method, json!({}))
        })
        .expect("enter the gateway's namespace")
    };

    let state = dir.path().join("node");
    let id = device_id(&make_identity(&state));
    sshd.set_profile(&bin_dir, &state).unwrap();
    let node_launch = Launch {
        wrapper: NetPair::wrapper(&net.node_ns),
        env: vec![
            ("OPENCLAW_GATEWAY_TOKEN".into(), gw.token.clone()),
            ("OPENCLAW_ALLOW_INSECURE_PRIVATE_WS".into(), "1".into()),
        ],
    };
    let port = gw.port.to_string();
    let args = ["--host", GATEWAY_ADDR, "--port", port.as_str(), "--display-name", "lan-box"];
    let started = Instant::now();
    let mut node =
        ours::OurNode::try_spawn_with(&openclaw_bin(), &state, &args, &node_launch).unwrap_or_else(|e| panic!("{e}"));
    let connected = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if node.log_text().contains("node host gateway connected") {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let took = started.elapsed();
    let gw_log = openclaw_testkit::strip_ansi(&std::fs::read_to_string(gw.log()).unwrap_or_default());
    let gw_path = gw
        .pid()
        .and_then(|pid| std::fs::read(format!("/proc/{pid}/environ")).ok())
        .map(|env| {
            String::from_utf8_lossy(&env).split('\0').filter(|v| v.starts_with("PATH=")).collect::<Vec<_>>().join("")
        })
        .unwrap_or_default();
    assert!(
        connected,
        "our node was not paired by the real Gateway within 60 s\nnode:\n{}\ngateway:\n{}\nsshd:\n{}\nssh wrapper saw: {:?}\ngateway {gw_path}",
        node.log_text(),
        gw_log,
        sshd.log_text(),
        std::fs::read_to_string(wrapper_dir.join("ssh-argv.log")).ok(),
    );
    println!("ssh-verify[real gateway]: node start -> hello-ok in {} ms", took.as_millis());
    eprintln!("ssh-verify[real gateway]: node start -> hello-ok in {} ms", took.as_millis());

    let devices = call("device.pair.list");
    let paired: Vec<&Value> =
        devices["paired"].as_array().into_iter().flatten().filter(|d| d["deviceId"] == id.as_str()).collect();
    assert_eq!(paired.len(), 1, "{devices}");
    assert_eq!(paired[0]["approvedVia"], "ssh-verified", "{devices}");
    let audit =
        format!("security audit: device pairing ssh-verified auto-approve device={id} ip={NODE_ADDR} sshUser=root client=node-host conn=");
    assert!(gw_log.contains(&audit), "no audit line {audit:?} in:\n{gw_log}");
    // Both gateways send ssh the same command line.
    let argv = std::fs::read_to_string(wrapper_dir.join("ssh-argv.log")).unwrap();
    let ours = format!(
        "-o BatchMode=yes -o ConnectTimeout=5 -o NumberOfPasswordPrompts=0 -o PreferredAuthentications=publickey \
         -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -a -x -o ForwardAgent=no -o ForwardX11=no \
         -o ForwardX11Trusted=no -o ClearAllForwardings=yes -o ExitOnForwardFailure=yes -p 22 -i {} \
         -o IdentitiesOnly=yes -- root@{NODE_ADDR} sh -lc 'openclaw node identity --json'",
        sshd.client_key.display()
    );
    assert_eq!(argv.lines().collect::<Vec<_>>(), [ours.as_str()], "the real Gateway's ssh command line");
    // What the real Gateway did with the node's first command surface (auto-approved for an
    // ssh-verified device, per its bundle): reported, for the record.
    let nodes = call("node.pair.list");
    println!("ssh-verify[real gateway]: node.pair.list after pairing: {nodes}");
    node.stop();
    gw.stop();
}
