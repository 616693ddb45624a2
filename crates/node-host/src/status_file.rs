//! Publishes the connection state to `<stateDir>/node-host-status.json` for `node status`.

use std::path::PathBuf;
use std::sync::Mutex;

use openclaw_state::node_status::{ConnectionState, NodeHostStatus};
use tracing::debug;

use crate::services::lock_recovering;

/// Writes a status report on every state change. Failures to write are logged at debug level
/// and otherwise ignored: reporting must never take the node down.
pub struct StatusReporter {
    path: Option<PathBuf>,
    current: Mutex<NodeHostStatus>,
}

impl StatusReporter {
    /// A reporter writing to `path` (`None`: keep state in memory only).
    pub fn new(path: Option<PathBuf>, gateway: String) -> Self {
        let now = openclaw_state::now_ms();
        StatusReporter {
            path,
            current: Mutex::new(NodeHostStatus {
                pid: std::process::id(),
                gateway,
                state: ConnectionState::Connecting,
                since_ms: now,
                last_connected_ms: None,
                last_error: None,
                pairing_request_id: None,
                updated_at_ms: now,
            }),
        }
    }

    /// Records a new state; `error` replaces the last error when given.
    pub fn set(&self, state: ConnectionState, error: Option<String>) {
        let mut s = lock_recovering(&self.current);
        let now = openclaw_state::now_ms();
        if s.state != state {
            s.state = state;
            s.since_ms = now;
        }
        if state == ConnectionState::Connected {
            s.last_connected_ms = Some(now);
            s.pairing_request_id = None;
        }
        if error.is_some() {
            s.last_error = error;
        }
        s.updated_at_ms = now;
        if let Some(path) = &self.path {
            if let Err(e) = s.write(path) {
                debug!("cannot write {}: {e}", path.display());
            }
        }
    }

    /// Reports `gateway` as the gateway dialled from now on (a setup code's next URL).
    pub fn set_gateway(&self, gateway: String) {
        lock_recovering(&self.current).gateway = gateway;
    }

    /// Records a pending device-pairing request.
    pub fn pairing(&self, request_id: &str) {
        {
            let mut s = lock_recovering(&self.current);
            s.pairing_request_id = Some(request_id.to_string());
        }
        self.set(ConnectionState::PairingPending, Some(format!("device pairing required (requestId {request_id})")));
    }

    /// The latest report.
    pub fn snapshot(&self) -> NodeHostStatus {
        lock_recovering(&self.current).clone()
    }
}
