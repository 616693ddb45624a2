//! The SQLite state database, `<stateDir>/state/openclaw.sqlite` (`nodehost.md` §2.2–2.5).
//!
//! Same tables, same row formats as the TypeScript node host 2026.9.6. We create only the
//! tables the node host uses (STRICT, `user_version` left at 0); the TS CLI reads such a
//! database and migrates it in place, and we read a full TS database (WAL, v18) unchanged.
//! Writes run in `BEGIN IMMEDIATE` transactions with a 5 s busy timeout, matching the TS
//! side's lock discipline closely enough for both to share one file.

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use openclaw_protocol::device_auth::{DeviceIdentity, IdentityError};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::paths::StatePaths;

/// Key of the node host's config row in `config_machine_state`.
pub const NODE_HOST_CONFIG_KEY: &str = "nodeHost.config";
/// Key of this machine's identity row in `device_identities`.
pub const PRIMARY_IDENTITY_KEY: &str = "primary";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS config_machine_state (
  state_key TEXT NOT NULL PRIMARY KEY,
  value_json TEXT NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS device_identities (
  identity_key TEXT NOT NULL PRIMARY KEY,
  device_id TEXT NOT NULL,
  public_key_pem TEXT NOT NULL,
  private_key_pem TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS idx_device_identities_device ON device_identities (device_id, updated_at_ms DESC);
CREATE TABLE IF NOT EXISTS device_auth_tokens (
  device_id TEXT NOT NULL,
  role TEXT NOT NULL,
  token TEXT NOT NULL,
  scopes_json TEXT NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (device_id, role)
) STRICT;
CREATE INDEX IF NOT EXISTS idx_device_auth_tokens_updated ON device_auth_tokens (updated_at_ms DESC, device_id, role);
";

/// Failures reading or writing state. Messages name the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A filesystem operation on the state dir failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing (`read`, `rename`, …): the message's verb.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// SQLite refused (locked past the busy timeout, corrupt, read-only, …).
    #[error("state database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's reason.
        #[source]
        source: rusqlite::Error,
    },
    /// A row exists but does not have the shape the TS node host writes.
    #[error("invalid node-host SQLite row: {0}")]
    InvalidRow(String),
    /// The stored device identity is unusable; refusing to silently replace it.
    #[error("SQLite contains an invalid persisted device identity \"primary\" ({0}). Remove the row or restore a backup before connecting this node.")]
    InvalidIdentity(IdentityError),
    /// A legacy file exists but could not be understood; left in place, nothing imported.
    #[error("cannot import legacy state file {path}: {reason}")]
    Legacy {
        /// The legacy file, left untouched.
        path: PathBuf,
        /// What in it could not be understood.
        reason: String,
    },
}

/// `nodeHost.config`: the successor of `node.json`. Field order is the TS write order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeHostConfig {
    /// Always 1.
    pub version: u32,
    /// The client instance id (`client.instanceId`); a UUID unless `--node-id` set it.
    pub node_id: String,
    /// The persisted display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The endpoint of the last `node run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<SavedGateway>,
    /// macOS `device.apps` sharing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_apps_sharing: Option<bool>,
    /// The saved `--commands` allowlist, sorted and unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
    /// Keys a newer version wrote; kept so rewriting the row loses nothing.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `nodeHost.config.gateway`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedGateway {
    /// `--host` of the last run; the next run's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `--port` of the last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Whether the last run used TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    /// The pinned certificate fingerprint, so a restart keeps trusting the same gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_fingerprint: Option<String>,
    /// The WebSocket URL's path, for a gateway served under a sub-path (e.g. behind a proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_path: Option<String>,
    /// Cloudflare Access SecretRefs, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudflare_access: Option<Value>,
}

impl SavedGateway {
    /// True when every field is unset (then `gateway` is omitted from the row).
    pub fn is_empty(&self) -> bool {
        self == &SavedGateway::default()
    }
}

impl NodeHostConfig {
    /// A fresh config with a random node id.
    pub fn new() -> Self {
        NodeHostConfig {
            version: 1,
            node_id: uuid::Uuid::new_v4().to_string(),
            display_name: None,
            gateway: None,
            installed_apps_sharing: None,
            commands: None,
            extra: Map::new(),
        }
    }

    /// Parses and validates a row as the TS reader does; any violation is fatal.
    pub fn from_row(json: &str) -> Result<Self, StateError> {
        let bad = |m: &str| StateError::InvalidRow(format!("{NODE_HOST_CONFIG_KEY}: {m}"));
        let cfg: NodeHostConfig = serde_json::from_str(json).map_err(|e| bad(&e.to_string()))?;
        if cfg.version != 1 {
            return Err(bad("version must be 1"));
        }
        if cfg.node_id.is_empty() {
            return Err(bad("nodeId must be a non-empty string"));
        }
        if let Some(gw) = &cfg.gateway {
            for (name, v) in
                [("host", &gw.host), ("tlsFingerprint", &gw.tls_fingerprint), ("contextPath", &gw.context_path)]
            {
                if v.as_deref() == Some("") {
                    return Err(bad(&format!("gateway.{name} must be a non-empty string")));
                }
            }
            if let Some(port) = gw.port {
                if !(1..=65535).contains(&port) {
                    return Err(bad("gateway.port must be an integer from 1 to 65535"));
                }
            }
        }
        if cfg.commands.as_ref().is_some_and(|c| c.iter().any(String::is_empty)) {
            return Err(bad("commands must be non-empty strings"));
        }
        Ok(cfg)
    }

    /// The row text.
    pub fn to_row(&self) -> String {
        serde_json::to_string(self).expect("config serialisation is infallible")
    }
}

impl Default for NodeHostConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// A device token the gateway issued for `(deviceId, role)`.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredDeviceToken {
    /// The secret; never logged.
    pub token: String,
    /// Scopes granted with it.
    pub scopes: Vec<String>,
    /// When it was stored.
    pub updated_at_ms: i64,
}

impl std::fmt::Debug for StoredDeviceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredDeviceToken").field("token", &"<redacted>").field("scopes", &self.scopes).finish()
    }
}

/// An open state database.
pub struct StateDb {
    conn: Connection,
    path: PathBuf,
}

impl StateDb {
    /// Opens (creating if needed) the database: dirs 0700, file 0600, node-host tables present.
    pub fn open(paths: &StatePaths) -> Result<Self, StateError> {
        let path = paths.database();
        create_private_dir(&paths.state_dir)?;
        let conn = open_private_database(&path)?;
        let db = StateDb { conn, path };
        db.conn.execute_batch(SCHEMA).map_err(|e| db.err(e))?;
        Ok(db)
    }

    /// Opens an existing database read-only; `None` when there is none. Never creates anything.
    pub fn open_existing_read_only(paths: &StatePaths) -> Result<Option<Self>, StateError> {
        let path = paths.database();
        if !path.exists() {
            return Ok(None);
        }
        let conn =
            Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|source| StateError::Sqlite { path: path.clone(), source })?;
        let db = StateDb { conn, path };
        db.conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| db.err(e))?;
        Ok(Some(db))
    }

    fn err(&self, source: rusqlite::Error) -> StateError {
        StateError::Sqlite { path: self.path.clone(), source }
    }

    /// The underlying connection, for the modules that own other tables.
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn sql_error(&self, source: rusqlite::Error) -> StateError {
        self.err(source)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` inside `BEGIN IMMEDIATE … COMMIT`.
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| StateError::Sqlite { path: path.clone(), source })?;
        let out = f(&tx)?;
        tx.commit().map_err(|source| StateError::Sqlite { path, source })?;
        Ok(out)
    }

    /// Reads `nodeHost.config`, validated.
    pub fn node_config(&self) -> Result<Option<NodeHostConfig>, StateError> {
        read_node_config(&self.conn).map_err(|e| self.err(e))?.map(|j| NodeHostConfig::from_row(&j)).transpose()
    }

    /// Reads, transforms and writes `nodeHost.config` in one transaction (a fresh config with a
    /// random node id when the row is absent). Returns what was written.
    pub fn update_node_config(&mut self, f: impl FnOnce(&mut NodeHostConfig)) -> Result<NodeHostConfig, StateError> {
        self.write(|tx| {
            let row = read_node_config(tx).map_err(|e| sql(tx, e))?;
            let exists = row.is_some();
            let mut cfg = match row {
                Some(json) => NodeHostConfig::from_row(&json)?,
                None => NodeHostConfig::new(),
            };
            let before = cfg.to_row();
            f(&mut cfg);
            if cfg.gateway.as_ref().is_some_and(SavedGateway::is_empty) {
                cfg.gateway = None;
            }
            // Rewriting an identical row would only bump updated_at_ms.
            if cfg.to_row() != before || !exists {
                put_node_config(tx, &cfg)?;
            }
            Ok(cfg)
        })
    }

    /// The `primary` identity, validated; `None` when absent.
    pub fn identity(&self) -> Result<Option<DeviceIdentity>, StateError> {
        read_identity(&self.conn).map_err(|e| self.err(e))?.map(validate_identity).transpose()
    }

    /// The `primary` identity, created (and persisted) on first use.
    pub fn load_or_create_identity(&mut self) -> Result<DeviceIdentity, StateError> {
        // The common case (it exists) needs no write lock.
        if let Some(identity) = self.identity()? {
            return Ok(identity);
        }
        self.write(|tx| {
            if let Some(row) = read_identity(tx).map_err(|e| sql(tx, e))? {
                return validate_identity(row);
            }
            let identity = DeviceIdentity::generate();
            put_identity(tx, &identity)?;
            Ok(identity)
        })
    }

    /// The stored device token for `(deviceId, role)`.
    pub fn device_token(&self, device_id: &str, role: &str) -> Result<Option<StoredDeviceToken>, StateError> {
        let row: Option<(String, String, i64)> = self
            .conn
            .query_row(
                "SELECT token, scopes_json, updated_at_ms FROM device_auth_tokens WHERE device_id = ?1 AND role = ?2",
                params![device_id, role],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        row.map(|(token, scopes_json, updated_at_ms)| {
            let scopes: Vec<String> = serde_json::from_str(&scopes_json).map_err(|_| {
                StateError::InvalidRow("device_auth_tokens.scopes_json must be a JSON string array".into())
            })?;
            Ok(StoredDeviceToken { token, scopes, updated_at_ms })
        })
        .transpose()
    }

    /// Stores (or replaces) the device token for `(deviceId, role)`; scopes sorted and unique.
    pub fn save_device_token(
        &mut self,
        device_id: &str,
        role: &str,
        token: &str,
        scopes: &[String],
    ) -> Result<(), StateError> {
        self.write(|tx| put_device_token(tx, device_id, role, token, scopes))
    }

    /// Forgets the device token for `(deviceId, role)` (after the gateway rejected it).
    pub fn clear_device_token(&mut self, device_id: &str, role: &str) -> Result<(), StateError> {
        self.write(|tx| {
            tx.execute("DELETE FROM device_auth_tokens WHERE device_id = ?1 AND role = ?2", params![device_id, role])
                .map_err(|e| sql(tx, e))?;
            Ok(())
        })
    }
}

pub(crate) fn sql(tx: &rusqlite::Transaction, source: rusqlite::Error) -> StateError {
    StateError::Sqlite { path: tx.path().map(PathBuf::from).unwrap_or_default(), source }
}

fn read_node_config(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value_json FROM config_machine_state WHERE state_key = ?1", [NODE_HOST_CONFIG_KEY], |r| {
        r.get(0)
    })
    .optional()
}

pub(crate) fn put_node_config(tx: &rusqlite::Transaction, cfg: &NodeHostConfig) -> Result<(), StateError> {
    tx.execute(
        "INSERT INTO config_machine_state (state_key, value_json, updated_at_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT(state_key) DO UPDATE SET value_json = excluded.value_json, updated_at_ms = excluded.updated_at_ms",
        params![NODE_HOST_CONFIG_KEY, cfg.to_row(), crate::now_ms()],
    )
    .map_err(|e| sql(tx, e))?;
    Ok(())
}

pub(crate) struct IdentityRow {
    device_id: String,
    public_pem: String,
    private_pem: String,
}

fn read_identity(conn: &Connection) -> rusqlite::Result<Option<IdentityRow>> {
    conn.query_row(
        "SELECT device_id, public_key_pem, private_key_pem FROM device_identities WHERE identity_key = ?1",
        [PRIMARY_IDENTITY_KEY],
        |r| Ok(IdentityRow { device_id: r.get(0)?, public_pem: r.get(1)?, private_pem: r.get(2)? }),
    )
    .optional()
}

pub(crate) fn identity_exists(tx: &rusqlite::Transaction) -> Result<bool, StateError> {
    Ok(read_identity(tx).map_err(|e| sql(tx, e))?.is_some())
}

fn validate_identity(row: IdentityRow) -> Result<DeviceIdentity, StateError> {
    let identity = DeviceIdentity::from_pems(&row.private_pem, &row.public_pem).map_err(StateError::InvalidIdentity)?;
    if row.device_id != identity.device_id() {
        return Err(StateError::InvalidIdentity(IdentityError::DeviceIdMismatch));
    }
    Ok(identity)
}

pub(crate) fn put_identity(tx: &rusqlite::Transaction, identity: &DeviceIdentity) -> Result<(), StateError> {
    let now = crate::now_ms();
    tx.execute(
        "INSERT INTO device_identities (identity_key, device_id, public_key_pem, private_key_pem, created_at_ms, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![PRIMARY_IDENTITY_KEY, identity.device_id(), identity.public_key_pem(), identity.private_key_pem(), now],
    )
    .map_err(|e| sql(tx, e))?;
    Ok(())
}

pub(crate) fn put_device_token(
    tx: &rusqlite::Transaction,
    device_id: &str,
    role: &str,
    token: &str,
    scopes: &[String],
) -> Result<(), StateError> {
    let mut scopes: Vec<String> = scopes.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    scopes.sort();
    scopes.dedup();
    tx.execute(
        "INSERT INTO device_auth_tokens (device_id, role, token, scopes_json, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(device_id, role) DO UPDATE SET token = excluded.token, scopes_json = excluded.scopes_json,
           updated_at_ms = excluded.updated_at_ms",
        params![device_id, role, token, serde_json::to_string(&scopes).expect("infallible"), crate::now_ms()],
    )
    .map_err(|e| sql(tx, e))?;
    Ok(())
}

pub(crate) fn device_token_exists(tx: &rusqlite::Transaction, device_id: &str, role: &str) -> Result<bool, StateError> {
    let n: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM device_auth_tokens WHERE device_id = ?1 AND role = ?2",
            params![device_id, role],
            |r| r.get(0),
        )
        .map_err(|e| sql(tx, e))?;
    Ok(n > 0)
}

/// Opens (creating) an SQLite database that holds secrets: its directory 0700, the file 0600
/// from its first byte (a looser existing file is tightened; SQLite gives the -wal and -shm
/// files the same mode), WAL journal, a 5 s busy timeout. Shared by every store in the state dir.
pub fn open_private_database(path: &Path) -> Result<Connection, StateError> {
    create_private_dir(path.parent().expect("database path has a parent"))?;
    if let Ok(meta) = fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|source| StateError::Io {
                action: "restrict permissions of",
                path: path.to_path_buf(),
                source,
            })?;
        }
    } else {
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|source| StateError::Io { action: "create", path: path.to_path_buf(), source })?;
    }
    let sql = |source| StateError::Sqlite { path: path.to_path_buf(), source };
    let conn = Connection::open(path).map_err(sql)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sql)?;
    conn.pragma_update(None, "journal_mode", "wal").map_err(sql)?;
    // In WAL mode NORMAL never corrupts the database; a power cut can only roll back the last
    // commits (a re-issued device token, a config row rewritten on the next run), and it saves an
    // fsync per commit on every start.
    conn.pragma_update(None, "synchronous", "normal").map_err(sql)?;
    Ok(conn)
}

/// Creates a directory (and parents) and makes sure the leaf is 0700.
pub fn create_private_dir(dir: &Path) -> Result<(), StateError> {
    fs::create_dir_all(dir).map_err(|source| StateError::Io {
        action: "create directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let mode = fs::metadata(dir)
        .map_err(|source| StateError::Io { action: "inspect", path: dir.to_path_buf(), source })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|source| StateError::Io {
            action: "restrict permissions of",
            path: dir.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(dir: &Path) -> StatePaths {
        StatePaths { state_dir: dir.join("oc"), config_path: dir.join("oc/openclaw.json") }
    }

    #[test]
    fn creates_private_files_and_persists_identity() {
        let tmp = tempfile::tempdir().unwrap();
        let p = paths(tmp.path());
        let mut db = StateDb::open(&p).unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p.state_dir), 0o700);
        assert_eq!(mode(&p.state_dir.join("state")), 0o700);
        assert_eq!(mode(&p.database()), 0o600);
        let a = db.load_or_create_identity().unwrap();
        let b = db.load_or_create_identity().unwrap();
        assert_eq!(a.device_id(), b.device_id());
        drop(db);
        let ro = StateDb::open_existing_read_only(&p).unwrap().unwrap();
        assert_eq!(ro.identity().unwrap().unwrap().device_id(), a.device_id());
    }

    #[test]
    fn read_only_open_never_creates() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(StateDb::open_existing_read_only(&paths(tmp.path())).unwrap().is_none());
        assert!(!tmp.path().join("oc").exists());
    }

    #[test]
    fn node_config_row_format_matches_ts() {
        let tmp = tempfile::tempdir().unwrap();
        let mut db = StateDb::open(&paths(tmp.path())).unwrap();
        let cfg = db
            .update_node_config(|c| {
                c.node_id = "0a55b1e2-a658-4bd4-bae9-c15ad5d81172".into();
                c.display_name = Some("Build Box".into());
                c.gateway = Some(SavedGateway {
                    host: Some("127.0.0.1".into()),
                    port: Some(18951),
                    tls: Some(false),
                    ..Default::default()
                });
                c.installed_apps_sharing = Some(false);
            })
            .unwrap();
        assert_eq!(
            cfg.to_row(),
            r#"{"version":1,"nodeId":"0a55b1e2-a658-4bd4-bae9-c15ad5d81172","displayName":"Build Box","gateway":{"host":"127.0.0.1","port":18951,"tls":false},"installedAppsSharing":false}"#
        );
        assert_eq!(db.node_config().unwrap().unwrap(), cfg);
    }

    #[test]
    fn invalid_rows_are_fatal() {
        for bad in [
            r#"{"version":2,"nodeId":"a"}"#,
            r#"{"version":1,"nodeId":""}"#,
            r#"{"version":1,"nodeId":"a","gateway":{"port":0}}"#,
            r#"{"version":1,"nodeId":"a","gateway":{"host":""}}"#,
            r#"{"version":1,"nodeId":"a","gateway":{"tls":"yes"}}"#,
            r#"{"version":1,"nodeId":"a","commands":[""]}"#,
            r#"{"nodeId":"a"}"#,
        ] {
            assert!(NodeHostConfig::from_row(bad).is_err(), "{bad}");
        }
        let keeps_unknown = NodeHostConfig::from_row(r#"{"version":1,"nodeId":"a","future":{"x":1}}"#).unwrap();
        assert!(keeps_unknown.to_row().contains(r#""future":{"x":1}"#));
    }

    #[test]
    fn device_tokens_round_trip_and_clear() {
        let tmp = tempfile::tempdir().unwrap();
        let mut db = StateDb::open(&paths(tmp.path())).unwrap();
        assert!(db.device_token("d", "node").unwrap().is_none());
        db.save_device_token("d", "node", "tok", &["b".into(), "a".into(), "a".into()]).unwrap();
        let t = db.device_token("d", "node").unwrap().unwrap();
        assert_eq!(t.token, "tok");
        assert_eq!(t.scopes, vec!["a", "b"]);
        assert!(!format!("{t:?}").contains("tok\""), "debug output must not show the token");
        db.clear_device_token("d", "node").unwrap();
        assert!(db.device_token("d", "node").unwrap().is_none());
    }

    #[test]
    fn corrupt_identity_is_refused_not_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let mut db = StateDb::open(&paths(tmp.path())).unwrap();
        let id = db.load_or_create_identity().unwrap();
        db.conn.execute("UPDATE device_identities SET device_id = 'ff' WHERE identity_key = 'primary'", []).unwrap();
        assert!(matches!(db.load_or_create_identity(), Err(StateError::InvalidIdentity(_))));
        let pem: String = db.conn.query_row("SELECT public_key_pem FROM device_identities", [], |r| r.get(0)).unwrap();
        assert_eq!(pem, id.public_key_pem(), "the row must not be overwritten");
    }
}
