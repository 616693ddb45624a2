//! The real TypeScript node host, started by the peer's `ts-node.sh` (which waits for its
//! "gateway connected" line) and stopped by its recorded pid on drop, or by its [`Reaper`] when
//! the process that started it dies first.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::process::Reaper;
use crate::{Error, Peer, PeerGateway, Result};

/// A running TypeScript node host; stopped on drop.
pub struct TsNode {
    peer: Peer,
    /// Its `ts-node.sh` name (`run/node-<name>`).
    pub name: String,
    /// Its HOME; the state dir is `<home>/.openclaw`.
    pub home: PathBuf,
    _reaper: Option<Reaper>,
}

impl TsNode {
    /// The HOME `ts-node.sh` will use for node `name`, next to the gateway's run dir, so a test
    /// can prepare state there before the node starts.
    pub fn home_for(gw: &PeerGateway, name: &str) -> PathBuf {
        gw.run_dir.parent().expect("peer run dir").join(format!("node-{name}")).join("home")
    }

    /// Starts it against the real gateway `gw` and waits until it is connected.
    pub fn start(gw: &PeerGateway, name: &str, display: &str) -> Result<TsNode> {
        TsNode::launch(gw.peer(), name, &gw.name, display, TsNode::home_for(gw, name))
    }

    /// Starts it against any gateway by port and token (e.g. ours): `ts-node.sh` reads both
    /// from a gateway run dir, so one named `ours-<name>` is written for it. The node's HOME
    /// starts empty.
    pub fn start_against(peer: &Peer, port: u16, token: &str, name: &str, display: &str) -> Result<TsNode> {
        let gw_name = format!("ours-{name}");
        let gw_dir = peer.run_dir(&gw_name);
        std::fs::create_dir_all(&gw_dir).map_err(|e| Error::io(&gw_dir, e))?;
        std::fs::write(gw_dir.join("port"), port.to_string()).map_err(|e| Error::io(gw_dir.join("port"), e))?;
        std::fs::write(gw_dir.join("token"), token).map_err(|e| Error::io(gw_dir.join("token"), e))?;
        let home = peer.run_dir(&format!("node-{name}")).join("home");
        let _ = std::fs::remove_dir_all(&home);
        TsNode::launch(peer, name, &gw_name, display, home)
    }

    pub(crate) fn launch(peer: &Peer, name: &str, gw_name: &str, display: &str, home: PathBuf) -> Result<TsNode> {
        let pid_file = peer.run_dir(&format!("node-{name}")).join("pid");
        let reaper = Reaper::watch_pid_file(&peer.proc_sh(), &pid_file).ok();
        let node = TsNode { peer: peer.clone(), name: name.to_string(), home, _reaper: reaper };
        // Even a node that never connected may be running: it is stopped when `node` drops.
        peer.run_script("ts-node.sh", &["start", name, gw_name, display])?;
        Ok(node)
    }

    /// Its process id, from its pid file.
    pub fn pid(&self) -> Option<i32> {
        let pid_file = self.peer.run_dir(&format!("node-{}", self.name)).join("pid");
        std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()
    }

    /// The TS CLI's `node identity --json` on this node's state.
    pub fn identity(&self) -> Value {
        let script = format!(
            "source '{}'; HOME='{}' openclaw node identity --json",
            self.peer.scripts.join("env.sh").display(),
            self.home.display()
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("ts identity");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no identity JSON: {text}"));
        serde_json::from_str(line).expect("identity JSON")
    }

    /// Stops it (`ts-node.sh stop`: by its recorded pid).
    pub fn stop(&self) {
        let _ = self.peer.script("ts-node.sh").args(["stop", &self.name]).status();
    }
}

impl Drop for TsNode {
    fn drop(&mut self) {
        self.stop();
    }
}
