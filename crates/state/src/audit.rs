//! The local exec audit trail: one row per `system.run` decision, in our own table
//! `node_exec_audit` of the state database (the TypeScript host ignores it).
//!
//! It records what was asked and what happened (decision, reason, argv, cwd, exit code,
//! duration, requester), never environment values or output, and keeps only the newest
//! [`MAX_ROWS`] rows so it cannot grow without bound.

use rusqlite::params;
use serde::Serialize;

use crate::db::{StateDb, StateError};

/// Rows kept; older ones are deleted as new ones arrive.
pub const MAX_ROWS: i64 = 10_000;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS node_exec_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at_ms INTEGER NOT NULL,
  invoke_id TEXT,
  decision TEXT NOT NULL,
  reason TEXT,
  argv_json TEXT NOT NULL,
  cwd TEXT,
  exit_code INTEGER,
  timed_out INTEGER,
  duration_ms INTEGER,
  requester_json TEXT NOT NULL
) STRICT;";

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// When the decision was taken (ms since the epoch), the order `audit` lists records in.
    pub at_ms: i64,
    /// The gateway's invoke id, so a record can be matched to the operator's request.
    pub invoke_id: Option<String>,
    /// `allowed`, `denied` or `rejected` (malformed request).
    pub decision: String,
    /// Why it was denied or rejected (`allowlist-miss`, …); `None` when allowed.
    pub reason: Option<String>,
    /// The command as requested, so a reviewer sees what would have run.
    pub argv: Vec<String>,
    /// The requested working directory, if any.
    pub cwd: Option<String>,
    /// The exit code, once an allowed command finished (`None` if killed by a signal).
    pub exit_code: Option<i32>,
    /// Whether the node host killed it at its timeout.
    pub timed_out: Option<bool>,
    /// How long it ran, for allowed commands.
    pub duration_ms: Option<i64>,
    /// `sessionKey`, `agentId`, `runId` as the gateway forwarded them.
    pub requester: serde_json::Value,
}

impl StateDb {
    /// Appends a record and trims the table to [`MAX_ROWS`].
    ///
    /// One row per `system.run`, so every statement here is prepared once per connection and
    /// reused (`prepare_cached`): parsing the SQL again for every command was most of the cost
    /// of a row. A cached `CREATE TABLE IF NOT EXISTS` is a no-op while the table exists, and
    /// SQLite re-prepares it by itself if the schema changes.
    pub fn append_audit(&mut self, r: &AuditRecord) -> Result<(), StateError> {
        self.connection()
            .prepare_cached(SCHEMA)
            .and_then(|mut create| create.execute([]))
            .map_err(|e| self.sql_error(e))?;
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO node_exec_audit (at_ms, invoke_id, decision, reason, argv_json, cwd, exit_code, timed_out, duration_ms, requester_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .and_then(|mut insert| {
                insert.execute(params![
                    r.at_ms,
                    r.invoke_id,
                    r.decision,
                    r.reason,
                    serde_json::to_string(&r.argv).expect("serialisable"),
                    r.cwd,
                    r.exit_code,
                    r.timed_out.map(i64::from),
                    r.duration_ms,
                    r.requester.to_string(),
                ])
            })
            .map_err(|e| crate::db::sql(tx, e))?;
            tx.prepare_cached("DELETE FROM node_exec_audit WHERE id <= (SELECT MAX(id) FROM node_exec_audit) - ?1")
                .and_then(|mut trim| trim.execute([MAX_ROWS]))
                .map_err(|e| crate::db::sql(tx, e))?;
            Ok(())
        })
    }

    /// The newest `limit` records, newest first. An absent table is an empty trail.
    pub fn audit_records(&self, limit: u32) -> Result<Vec<AuditRecord>, StateError> {
        let exists: i64 = self
            .connection()
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'node_exec_audit'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.sql_error(e))?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .connection()
            .prepare(
                "SELECT at_ms, invoke_id, decision, reason, argv_json, cwd, exit_code, timed_out, duration_ms, requester_json
                 FROM node_exec_audit ORDER BY id DESC LIMIT ?1",
            )
            .map_err(|e| self.sql_error(e))?;
        let rows = stmt
            .query_map([limit], |row| {
                let argv: String = row.get(4)?;
                let requester: String = row.get(9)?;
                Ok(AuditRecord {
                    at_ms: row.get(0)?,
                    invoke_id: row.get(1)?,
                    decision: row.get(2)?,
                    reason: row.get(3)?,
                    argv: serde_json::from_str(&argv).unwrap_or_default(),
                    cwd: row.get(5)?,
                    exit_code: row.get(6)?,
                    timed_out: row.get::<_, Option<i64>>(7)?.map(|v| v != 0),
                    duration_ms: row.get(8)?,
                    requester: serde_json::from_str(&requester).unwrap_or(serde_json::Value::Null),
                })
            })
            .map_err(|e| self.sql_error(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.sql_error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StatePaths;

    #[test]
    fn appends_reads_newest_first_and_stays_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = StatePaths { state_dir: tmp.path().join("oc"), config_path: tmp.path().join("oc/openclaw.json") };
        let mut db = StateDb::open(&paths).unwrap();
        assert!(db.audit_records(10).unwrap().is_empty());
        let rec = |i: i64| AuditRecord {
            at_ms: i,
            invoke_id: Some(format!("inv-{i}")),
            decision: if i % 2 == 0 { "allowed".into() } else { "denied".into() },
            reason: None,
            argv: vec!["echo".into(), i.to_string()],
            cwd: Some("/tmp".into()),
            exit_code: Some(0),
            timed_out: Some(false),
            duration_ms: Some(3),
            requester: serde_json::json!({"sessionKey": "node"}),
        };
        for i in 0..5 {
            db.append_audit(&rec(i)).unwrap();
        }
        let got = db.audit_records(3).unwrap();
        assert_eq!(got.iter().map(|r| r.at_ms).collect::<Vec<_>>(), [4, 3, 2]);
        assert_eq!(got[0], rec(4));
        // The bound: ids beyond MAX_ROWS back are deleted.
        db.connection()
            .execute("UPDATE sqlite_sequence SET seq = seq + ?1 WHERE name = 'node_exec_audit'", [MAX_ROWS])
            .unwrap();
        db.append_audit(&rec(99)).unwrap();
        assert_eq!(db.audit_records(100).unwrap().len(), 1);
    }

    #[test]
    fn a_full_database_is_an_error_not_a_silent_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = StatePaths { state_dir: tmp.path().join("oc"), config_path: tmp.path().join("oc/openclaw.json") };
        let mut db = StateDb::open(&paths).unwrap();
        let big = AuditRecord {
            at_ms: 1,
            invoke_id: None,
            decision: "allowed".into(),
            reason: Some("x".repeat(64 * 1024)),
            argv: vec!["true".into()],
            cwd: None,
            exit_code: Some(0),
            timed_out: None,
            duration_ms: None,
            requester: serde_json::json!({}),
        };
        db.append_audit(&big).unwrap();
        // SQLite's own "disk full": no page may be added beyond what the file has now.
        let pages: i64 = db.connection().query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        db.connection().query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(())).unwrap();
        let err = db.append_audit(&big).unwrap_err();
        assert!(err.to_string().contains("full"), "{err}");
    }
}
