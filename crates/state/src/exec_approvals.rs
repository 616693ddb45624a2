//! The `exec_approvals_config` row (key `current`) of the state database (`exec.md` §1.1).
//!
//! Only `raw_json` is authoritative; the other columns are projections recomputed on every
//! write so the TypeScript tools can list them without parsing. Writes are compare-and-swap
//! on the hash of the raw text the caller read.

use rusqlite::{params, OptionalExtension};
use serde_json::Value;

use crate::db::{StateDb, StateError};

/// The row key.
pub const CONFIG_KEY: &str = "current";

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS exec_approvals_config (
  config_key TEXT NOT NULL PRIMARY KEY,
  raw_json TEXT NOT NULL,
  socket_path TEXT,
  has_socket_token INTEGER NOT NULL,
  default_security TEXT,
  default_ask TEXT,
  default_ask_fallback TEXT,
  auto_allow_skills INTEGER,
  agent_count INTEGER NOT NULL,
  allowlist_count INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT;";

/// A compare-and-swap write lost: someone changed the row since it was read.
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    /// The stored document is no longer the one the caller read: re-read, re-apply, retry.
    #[error("exec approvals changed; reload and retry")]
    Changed,
    /// The database itself failed; retrying will not help.
    #[error(transparent)]
    State(#[from] StateError),
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash of a raw document, or of a missing one.
pub fn hash_of(raw: Option<&str>) -> String {
    match raw {
        Some(raw) => sha256_hex(raw),
        None => format!("missing:{}", sha256_hex("")),
    }
}

impl StateDb {
    /// Every `system.run` reads the document, so both statements are prepared once per
    /// connection (`prepare_cached`); a cached `CREATE TABLE IF NOT EXISTS` is a no-op while
    /// the table exists.
    fn ensure_exec_approvals_table(&self) -> Result<(), StateError> {
        self.connection()
            .prepare_cached(SCHEMA)
            .and_then(|mut create| create.execute([]))
            .map_err(|e| self.sql_error(e))?;
        Ok(())
    }

    /// The raw approvals document, if the row exists.
    pub fn exec_approvals_raw(&self) -> Result<Option<String>, StateError> {
        self.ensure_exec_approvals_table()?;
        self.connection()
            .prepare_cached("SELECT raw_json FROM exec_approvals_config WHERE config_key = ?1")
            .and_then(|mut select| select.query_row([CONFIG_KEY], |r| r.get(0)).optional())
            .map_err(|e| self.sql_error(e))
    }

    /// Writes `raw` if the stored document still hashes to `expected_hash` (see [`hash_of`]);
    /// an unchanged document is not rewritten.
    pub fn write_exec_approvals(&mut self, raw: &str, expected_hash: &str) -> Result<(), CasError> {
        self.ensure_exec_approvals_table()?;
        let doc: Value =
            serde_json::from_str(raw).map_err(|e| StateError::InvalidRow(format!("exec approvals: {e}")))?;
        let result = self.write(|tx| {
            let current: Option<String> = tx
                .query_row("SELECT raw_json FROM exec_approvals_config WHERE config_key = ?1", [CONFIG_KEY], |r| r.get(0))
                .optional()
                .map_err(|e| crate::db::sql(tx, e))?;
            if hash_of(current.as_deref()) != expected_hash {
                return Ok(false);
            }
            if current.as_deref() == Some(raw) {
                return Ok(true);
            }
            let socket = doc.get("socket");
            let defaults = doc.get("defaults");
            let agents = doc.get("agents").and_then(Value::as_object);
            let allowlist_count: usize = agents
                .map(|a| a.values().filter_map(|ag| ag.get("allowlist").and_then(Value::as_array)).map(Vec::len).sum())
                .unwrap_or(0);
            let text = |v: Option<&Value>, k: &str| v.and_then(|v| v.get(k)).and_then(Value::as_str).map(String::from);
            tx.execute(
                "INSERT INTO exec_approvals_config (config_key, raw_json, socket_path, has_socket_token, default_security,
                   default_ask, default_ask_fallback, auto_allow_skills, agent_count, allowlist_count, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT(config_key) DO UPDATE SET raw_json = excluded.raw_json, socket_path = excluded.socket_path,
                   has_socket_token = excluded.has_socket_token, default_security = excluded.default_security,
                   default_ask = excluded.default_ask, default_ask_fallback = excluded.default_ask_fallback,
                   auto_allow_skills = excluded.auto_allow_skills, agent_count = excluded.agent_count,
                   allowlist_count = excluded.allowlist_count, updated_at_ms = excluded.updated_at_ms",
                params![
                    CONFIG_KEY,
                    raw,
                    text(socket, "path"),
                    i64::from(text(socket, "token").is_some()),
                    text(defaults, "security"),
                    text(defaults, "ask"),
                    text(defaults, "askFallback"),
                    defaults.and_then(|d| d.get("autoAllowSkills")).and_then(Value::as_bool).map(i64::from),
                    agents.map(|a| a.len()).unwrap_or(0) as i64,
                    allowlist_count as i64,
                    crate::now_ms(),
                ],
            )
            .map_err(|e| crate::db::sql(tx, e))?;
            Ok(true)
        })?;
        if result {
            Ok(())
        } else {
            Err(CasError::Changed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StatePaths;

    #[test]
    fn compare_and_swap() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = StatePaths { state_dir: tmp.path().join("oc"), config_path: tmp.path().join("oc/openclaw.json") };
        let mut db = StateDb::open(&paths).unwrap();
        assert_eq!(db.exec_approvals_raw().unwrap(), None);
        let missing = hash_of(None);
        assert_eq!(missing, "missing:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let v1 = "{\n  \"version\": 1,\n  \"defaults\": {\"security\": \"allowlist\"},\n  \"agents\": {\"main\": {\"allowlist\": [{\"pattern\": \"/bin/ls\"}]}}\n}\n";
        db.write_exec_approvals(v1, &missing).unwrap();
        assert_eq!(db.exec_approvals_raw().unwrap().as_deref(), Some(v1));
        assert!(matches!(db.write_exec_approvals(v1, &missing), Err(CasError::Changed)), "stale base hash loses");
        let (sec, count): (Option<String>, i64) = db
            .connection()
            .query_row("SELECT default_security, allowlist_count FROM exec_approvals_config", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((sec.as_deref(), count), (Some("allowlist"), 1));
        db.write_exec_approvals("{\"version\": 1}\n", &hash_of(Some(v1))).unwrap();
    }
}
