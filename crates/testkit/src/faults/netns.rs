//! Two network namespaces joined by a veth pair: the gateway's (`10.213.0.1/30` on `vgw`) and
//! the node's (`10.213.0.2/30` on `vnode`), each with its own loopback. Nothing is added to the
//! machine's own namespace: both ends are created directly inside the namespaces, so the pair
//! cannot collide with the host's interfaces or with another test's pair, and the addresses are
//! reachable only from inside the pair.
//!
//! A half-open link is an nft table in the node's namespace that drops everything on `vnode`
//! in both directions ([`NetPair::drop_link`]); this kernel has no netem, and a drop (unlike a
//! reject) gives neither side a reset, which is exactly what a dead NAT or Wi-Fi looks like.

use std::os::fd::AsFd;
use std::process::Command;

use super::{run, unique_name, CleanupWatch, FaultError};

/// The gateway's address on the pair.
pub const GATEWAY_ADDR: &str = "10.213.0.1";
/// The node's address on the pair.
pub const NODE_ADDR: &str = "10.213.0.2";
/// The pair's network, for `gateway.nodes.pairing.autoApproveCidrs`.
pub const PAIR_CIDR: &str = "10.213.0.0/30";
/// The nft table that makes the link half-open.
const DROP_TABLE: &str = "ocfaults";
/// The nft table that exposes a loopback port of the gateway's namespace on the veth.
const FORWARD_TABLE: &str = "ocforward";

/// Two namespaces and the veth between them, removed on drop.
pub struct NetPair {
    /// The gateway's namespace.
    pub gw_ns: String,
    /// The node's namespace.
    pub node_ns: String,
    _watch: Option<CleanupWatch>,
}

impl NetPair {
    /// Creates both namespaces with unique names, the veth pair, addresses and loopbacks.
    pub fn create() -> Result<NetPair, FaultError> {
        let gw_ns = unique_name();
        let node_ns = unique_name();
        let script = format!("ip netns del {gw_ns} 2>/dev/null; ip netns del {node_ns} 2>/dev/null");
        let watch = CleanupWatch::start(&script).ok();
        // From here on Drop removes whatever exists, also after a partial set-up.
        let pair = NetPair { gw_ns, node_ns, _watch: watch };
        run("ip", &["netns", "add", &pair.gw_ns])?;
        run("ip", &["netns", "add", &pair.node_ns])?;
        run(
            "ip",
            &[
                "link",
                "add",
                "name",
                "vgw",
                "netns",
                &pair.gw_ns,
                "type",
                "veth",
                "peer",
                "name",
                "vnode",
                "netns",
                &pair.node_ns,
            ],
        )?;
        for (ns, dev, addr) in [(&pair.gw_ns, "vgw", GATEWAY_ADDR), (&pair.node_ns, "vnode", NODE_ADDR)] {
            run("ip", &["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", dev])?;
            run("ip", &["-n", ns, "link", "set", dev, "up"])?;
            run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(pair)
    }

    /// `ip netns exec <ns>`: the prefix that starts a program inside `ns` (it execs in place,
    /// so the pid is the program's own).
    pub fn wrapper(ns: &str) -> Vec<String> {
        vec!["ip".into(), "netns".into(), "exec".into(), ns.into()]
    }

    /// Drops every packet on the node's end of the link, both ways: neither side gets a reset
    /// or an error, writes just stop making progress.
    pub fn drop_link(&self) -> Result<(), FaultError> {
        let rules = format!(
            "table inet {DROP_TABLE} {{\n\
             chain input {{ type filter hook input priority -100; iifname \"vnode\" drop; }}\n\
             chain output {{ type filter hook output priority -100; oifname \"vnode\" drop; }}\n\
             }}\n"
        );
        let path = std::env::temp_dir().join(format!("{}.nft", self.node_ns));
        std::fs::write(&path, rules)
            .map_err(|source| FaultError::Io { what: format!("write {}", path.display()), source })?;
        let result = run("ip", &["netns", "exec", &self.node_ns, "nft", "-f", &path.to_string_lossy()]);
        let _ = std::fs::remove_file(&path);
        result
    }

    /// Removes the drop: packets flow again (TCP retransmits what is still outstanding).
    pub fn heal_link(&self) -> Result<(), FaultError> {
        run("ip", &["netns", "exec", &self.node_ns, "nft", "delete", "table", "inet", DROP_TABLE])
    }

    /// Makes a server that listens only on the gateway namespace's loopback (`127.0.0.1:port`,
    /// e.g. the real Gateway, which `shared/peer/gateway.sh` binds to loopback) reachable from
    /// the node namespace at `GATEWAY_ADDR:port`, *keeping the client's source address*: a
    /// DNAT rule on `vgw` plus `route_localnet` on it, both inside the gateway's namespace and
    /// gone with it. A userspace relay would make every client look like loopback; this way the
    /// server sees `NODE_ADDR`, as it would on a LAN.
    pub fn expose_gateway_loopback_port(&self, port: u16) -> Result<(), FaultError> {
        run("ip", &["netns", "exec", &self.gw_ns, "sysctl", "-qw", "net.ipv4.conf.vgw.route_localnet=1"])?;
        let rules = format!(
            "table ip {FORWARD_TABLE} {{\n\
             chain prerouting {{ type nat hook prerouting priority -100; iifname \"vgw\" tcp dport {port} dnat to 127.0.0.1:{port}; }}\n\
             }}\n"
        );
        let path = std::env::temp_dir().join(format!("{}.fwd.nft", self.gw_ns));
        std::fs::write(&path, rules)
            .map_err(|source| FaultError::Io { what: format!("write {}", path.display()), source })?;
        let result = run("ip", &["netns", "exec", &self.gw_ns, "nft", "-f", &path.to_string_lossy()]);
        let _ = std::fs::remove_file(&path);
        result
    }

    /// Runs `f` on a new thread that has entered `ns` (network namespace only: files, pids and
    /// the clock are the test's), e.g. an operator client that reaches the gateway on the
    /// namespace's loopback. `None` runs it on a plain thread.
    pub fn spawn_in<T: Send + 'static>(
        ns: Option<&str>,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<Result<T, FaultError>> {
        let path = ns.map(|ns| format!("/run/netns/{ns}"));
        std::thread::spawn(move || {
            if let Some(path) = path {
                let file = std::fs::File::open(&path)
                    .map_err(|source| FaultError::Io { what: format!("open {path}"), source })?;
                nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| FaultError::Io { what: format!("setns {path}"), source: e.into() })?;
            }
            Ok(f())
        })
    }

    /// [`spawn_in`](Self::spawn_in) and wait for it; a panic in `f` is re-raised here.
    pub fn run_in<T: Send + 'static>(
        ns: Option<&str>,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, FaultError> {
        match Self::spawn_in(ns, f).join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// A command that runs inside `ns`.
    pub fn command(ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        // Deleting a namespace destroys its end of the veth (and with it the peer) and its nft
        // tables once no process is left in it; the tests stop their processes first.
        for ns in [&self.gw_ns, &self.node_ns] {
            let _ = run("ip", &["netns", "del", ns]);
        }
    }
}
