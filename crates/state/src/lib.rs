//! Everything under the OpenClaw state directory that the node host reads or writes.
//!
//! - [`paths`]: where the state dir and `openclaw.json` are (env, profiles, legacy names).
//! - [`db`]: the SQLite state database shared with the TypeScript node host, row for row,
//!   so a user can swap implementations without re-pairing.
//! - [`legacy`]: automatic import of the pre-SQLite files (`node.json`, `identity/*.json`).
//! - [`config`]: `openclaw.json` (JSON5) and SecretRef resolution, failing closed.

pub mod config;
pub mod db;
pub mod exec_approvals;
pub mod legacy;
pub mod node_status;
pub mod paths;

pub use db::{NodeHostConfig, SavedGateway, StateDb, StateError};
pub use paths::StatePaths;

/// Milliseconds since the Unix epoch, the timestamp unit of every row.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
