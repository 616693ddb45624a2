//! Everything under the OpenClaw state directory that the node host reads or writes.
//!
//! - [`paths`]: where the state dir and `openclaw.json` are (env, profiles, legacy names).
//! - [`db`]: the SQLite state database shared with the TypeScript node host, row for row,
//!   so a user can swap implementations without re-pairing.
//! - [`legacy`]: automatic import of the pre-SQLite files (`node.json`, `identity/*.json`).
//! - [`config`]: `openclaw.json` (JSON5) and SecretRef resolution, failing closed.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
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

/// `YYYY-MM-DDTHH:MM:SSZ` for a ms timestamp (civil-from-days, proleptic Gregorian).
pub fn utc_timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps() {
        assert_eq!(super::utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc_timestamp(1_795_240_139_172), "2026-11-21T05:48:59Z");
        assert_eq!(super::utc_timestamp(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
