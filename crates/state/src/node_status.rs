//! `<stateDir>/node-host-status.json`: what the running node host last reported about its
//! connection, so `openclaw node status` can say "connected since …" or show the last error
//! whichever supervisor runs it. Written atomically (temp file + rename), mode 0600, and never
//! containing a secret.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::paths::StatePaths;

/// File name inside the state dir.
pub const FILE_NAME: &str = "node-host-status.json";

/// The connection state of a node host process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionState {
    /// Dialling or handshaking.
    Connecting,
    /// hello-ok received; serving invokes.
    Connected,
    /// Waiting for `openclaw devices approve`.
    PairingPending,
    /// Between attempts (after a failure or a close).
    Disconnected,
    /// Exited on a terminal error (bad credentials).
    Failed,
    /// Exited on a signal.
    Stopped,
}

/// One status report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeHostStatus {
    /// The node host process.
    pub pid: u32,
    /// `ws(s)://host:port/path`.
    pub gateway: String,
    /// Where the connection stands, for `node status` to report without asking the process.
    pub state: ConnectionState,
    /// When `state` began.
    pub since_ms: i64,
    /// Last time the node was connected (kept across disconnects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_connected_ms: Option<i64>,
    /// The most recent failure, e.g. a close reason or a refusal detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The pending device-pairing request, while pairing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing_request_id: Option<String>,
    /// When the node host last wrote this row; an old value means it stopped reporting.
    pub updated_at_ms: i64,
}

impl NodeHostStatus {
    /// The file for a state dir.
    pub fn path(paths: &StatePaths) -> PathBuf {
        paths.join(FILE_NAME)
    }

    /// Reads the last report; `None` when absent or unreadable.
    pub fn read(path: &Path) -> Option<Self> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }

    /// Replaces the file atomically.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(serde_json::to_string_pretty(self).expect("serialisable").as_bytes())?;
        f.write_all(b"\n")?;
        drop(f);
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn round_trips_privately() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let s = NodeHostStatus {
            pid: 7,
            gateway: "ws://127.0.0.1:1".into(),
            state: ConnectionState::PairingPending,
            since_ms: 1,
            last_connected_ms: None,
            last_error: Some("pairing required".into()),
            pairing_request_id: Some("r".into()),
            updated_at_ms: 2,
        };
        s.write(&path).unwrap();
        assert_eq!(NodeHostStatus::read(&path), Some(s));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(std::fs::read_to_string(&path).unwrap().contains("\"state\": \"pairing-pending\""));
    }
}
