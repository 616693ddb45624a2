//! The gateway's SQLite database, `<stateDir>/state/gateway.sqlite`.
//!
//! Pairing state is small and read on every connect, so it lives in memory
//! ([`crate::pairing::Pairing`]) and this store is its write-through journal: one JSON row
//! per record, keyed by kind and id, reloaded at start. Exec events reported by nodes, and the
//! gateway's file-transfer decisions, are appended to a bounded audit table. The file is 0600 in 0700 directories because it holds
//! device tokens.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Most exec events kept; older ones are dropped as new ones arrive.
pub const MAX_EXEC_EVENTS: i64 = 10_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS gateway_records (
  kind TEXT NOT NULL,
  record_key TEXT NOT NULL,
  value_json TEXT NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (kind, record_key)
) STRICT;
CREATE TABLE IF NOT EXISTS gateway_exec_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_ms INTEGER NOT NULL,
  node_id TEXT NOT NULL,
  event TEXT NOT NULL,
  payload_json TEXT NOT NULL
) STRICT;
";

/// Record kinds in `gateway_records`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A paired device (with its device tokens).
    Device,
    /// A pending device-pairing request.
    DeviceRequest,
    /// A node's approved command surface.
    Node,
    /// A pending node command-surface request.
    NodeRequest,
    /// A file-transfer literal grant an operator's `allow-always` saved
    /// ([`crate::file_transfer`]).
    FileTransferGrant,
    /// An unexpired bootstrap token of a setup code ([`crate::pairing::BootstrapToken`]).
    BootstrapToken,
    /// An unredeemed join code and the setup payload it serves.
    JoinCode,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Device => "device",
            Kind::DeviceRequest => "device-request",
            Kind::Node => "node",
            Kind::NodeRequest => "node-request",
            Kind::FileTransferGrant => "file-transfer-grant",
            Kind::BootstrapToken => "bootstrap-token",
            Kind::JoinCode => "join-code",
        }
    }

    /// The fields every row of this kind carries, because this gateway always writes them.
    ///
    /// The record types double as wire types, and those read the real Gateway's output
    /// leniently (absent or null becomes a default). Our own journal must not be read that
    /// way: a row missing `requiredApproveScopes` would load as `[]` and let a mere
    /// `operator.pairing` caller approve an admin surface. A row without one of these was
    /// damaged or edited by hand, and loading fails closed instead.
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            Kind::Device => {
                &["deviceId", "publicKey", "role", "roles", "scopes", "createdAtMs", "approvedAtMs", "approvedVia"]
            }
            Kind::DeviceRequest => {
                &["requestId", "deviceId", "publicKey", "role", "roles", "scopes", "silent", "isRepair", "ts"]
            }
            Kind::Node => &["nodeId", "caps", "commands", "createdAtMs", "approvedAtMs"],
            Kind::NodeRequest => &["requestId", "nodeId", "caps", "commands", "requiredApproveScopes", "ts"],
            Kind::FileTransferGrant => &["nodeId", "command", "requestedPath", "canonicalPath"],
            Kind::BootstrapToken => &["token", "setupId", "profile", "issuedAtMs"],
            Kind::JoinCode => &["code", "payload", "expiresAtMs"],
        }
    }
}

/// A store operation failed; the message names the database file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state directory or database could not be created or opened.
    #[error(transparent)]
    State(#[from] openclaw_state::StateError),
    /// SQLite refused.
    #[error("gateway database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A row could not be decoded (the database was edited or written by a newer version).
    #[error("gateway database {path}: invalid {kind} record {key}: {reason}")]
    InvalidRecord {
        /// The database file.
        path: PathBuf,
        /// The record kind (`device`, `node`, …).
        kind: &'static str,
        /// The record's key.
        key: String,
        /// Why it could not be decoded.
        reason: String,
    },
}

/// One exec event as stored in the audit table (the `audit.list` item shape).
pub use openclaw_protocol::methods::AuditEvent as ExecEventRecord;

/// The open database.
pub struct GatewayStore {
    conn: Connection,
    path: PathBuf,
}

impl GatewayStore {
    /// Opens (creating) `<stateDir>/state/gateway.sqlite`, private like the node's database.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        openclaw_state::db::create_private_dir(state_dir)?;
        let path = state_dir.join("state").join("gateway.sqlite");
        let conn = openclaw_state::db::open_private_database(&path)?;
        let store = GatewayStore { conn, path };
        store.conn.execute_batch(SCHEMA).map_err(|e| store.err(e))?;
        Ok(store)
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: self.path.clone(), source }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every record of one kind.
    pub fn load<T: DeserializeOwned>(&self, kind: Kind) -> Result<Vec<T>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT record_key, value_json FROM gateway_records WHERE kind = ?1 ORDER BY updated_at_ms")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![kind.as_str()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, json) = row.map_err(|e| self.err(e))?;
            let invalid = |reason: String| StoreError::InvalidRecord {
                path: self.path.clone(),
                kind: kind.as_str(),
                key: key.clone(),
                reason,
            };
            let raw: serde_json::Value = serde_json::from_str(&json).map_err(|e| invalid(e.to_string()))?;
            if let Some(missing) =
                kind.required_fields().iter().find(|f| raw.get(**f).is_none_or(serde_json::Value::is_null))
            {
                return Err(invalid(format!("missing field `{missing}`")));
            }
            out.push(serde_json::from_value(raw).map_err(|e| invalid(e.to_string()))?);
        }
        Ok(out)
    }

    /// Inserts or replaces one record.
    pub fn put<T: Serialize>(&self, kind: Kind, key: &str, value: &T) -> Result<(), StoreError> {
        let json = serde_json::to_string(value).expect("records serialise");
        self.conn
            .execute(
                "INSERT INTO gateway_records (kind, record_key, value_json, updated_at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (kind, record_key) DO UPDATE SET value_json = excluded.value_json, updated_at_ms = excluded.updated_at_ms",
                params![kind.as_str(), key, json, openclaw_state::now_ms()],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Deletes one record (absent is fine).
    pub fn delete(&self, kind: Kind, key: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM gateway_records WHERE kind = ?1 AND record_key = ?2", params![kind.as_str(), key])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Appends an exec event, dropping the oldest beyond [`MAX_EXEC_EVENTS`].
    ///
    /// Every `system.run` sends one, so the insert and the trim are one transaction (one
    /// commit, not two) and their statements are prepared once per connection.
    pub fn append_exec_event(&self, node_id: &str, event: &str, payload: &Value) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        tx.prepare_cached(
            "INSERT INTO gateway_exec_events (ts_ms, node_id, event, payload_json) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut insert| insert.execute(params![openclaw_state::now_ms(), node_id, event, payload.to_string()]))
        .map_err(|e| self.err(e))?;
        tx.prepare_cached("DELETE FROM gateway_exec_events WHERE id <= (SELECT MAX(id) FROM gateway_exec_events) - ?1")
            .and_then(|mut trim| trim.execute(params![MAX_EXEC_EVENTS]))
            .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))
    }

    /// The newest `limit` exec events, newest first.
    pub fn exec_events(&self, limit: u32) -> Result<Vec<ExecEventRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT ts_ms, node_id, event, payload_json FROM gateway_exec_events ORDER BY id DESC LIMIT ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![limit], |r| {
                Ok(ExecEventRecord {
                    ts_ms: r.get(0)?,
                    node_id: r.get(1)?,
                    event: r.get(2)?,
                    payload: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or(Value::Null),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn records_round_trip_and_events_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let store = GatewayStore::open(&state).unwrap();
        assert_eq!(fs::metadata(store.path()).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o700);
        // A database someone loosened is tightened again on open.
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();
        let store = GatewayStore::open(&state).unwrap();
        assert_eq!(fs::metadata(store.path()).unwrap().permissions().mode() & 0o777, 0o600);
        let device = |x: i64| {
            let mut d = serde_json::json!({"x": x});
            for f in Kind::Device.required_fields() {
                d[*f] = serde_json::json!("v");
            }
            d
        };
        store.put(Kind::Device, "a", &device(1)).unwrap();
        store.put(Kind::Device, "a", &device(2)).unwrap();
        store.put(Kind::Node, "a", &serde_json::json!({"y":1})).unwrap();
        let devices: Vec<Value> = store.load(Kind::Device).unwrap();
        assert_eq!(devices, vec![device(2)]);
        store.delete(Kind::Device, "a").unwrap();
        assert!(store.load::<Value>(Kind::Device).unwrap().is_empty());
        store.append_exec_event("n", "exec.finished", &serde_json::json!({"exitCode":0})).unwrap();
        let events = store.exec_events(10).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].payload["exitCode"], 0);
    }

    /// A journal row missing a field this gateway always writes fails the load instead of
    /// reading as a default (the record types read the wire leniently).
    #[test]
    fn rows_missing_required_fields_fail_closed() {
        let dir = tempfile::tempdir().unwrap();
        let store = GatewayStore::open(dir.path()).unwrap();
        let row = serde_json::json!({
            "requestId": "r1", "nodeId": "n1", "caps": ["system"], "commands": ["system.run"],
            "requiredApproveScopes": ["operator.admin"], "ts": 1
        });
        store.put(Kind::NodeRequest, "n1", &row).unwrap();
        assert_eq!(store.load::<Value>(Kind::NodeRequest).unwrap().len(), 1);
        for field in ["requiredApproveScopes", "commands", "nodeId"] {
            for damaged in [serde_json::json!(null), serde_json::json!("absent")] {
                let mut bad = row.clone();
                if damaged == "absent" {
                    bad.as_object_mut().unwrap().remove(field);
                } else {
                    bad[field] = damaged;
                }
                store.put(Kind::NodeRequest, "n1", &bad).unwrap();
                let err = store.load::<openclaw_protocol::methods::PendingNode>(Kind::NodeRequest).unwrap_err();
                assert!(err.to_string().contains(&format!("missing field `{field}`")), "{err}");
            }
        }
    }
}
