//! What this machine reports about itself in `connect.client`.
//!
//! `platform` and `deviceFamily` together select the gateway's command allowlist for a node
//! and are covered by the device signature of every client, so they must be stable and match
//! upstream's values exactly. They live here, next to the handshake, so the node host and the
//! operator cannot report different values for the same machine.

/// `client.platform`: the OS name as upstream spells it.
#[cfg(target_os = "linux")]
pub const PLATFORM: &str = "linux";
/// `client.platform`: the OS name as upstream spells it.
#[cfg(target_os = "macos")]
pub const PLATFORM: &str = "macos";
/// `client.platform`: the OS name as upstream spells it.
#[cfg(target_os = "windows")]
pub const PLATFORM: &str = "windows";
/// `client.platform`: the OS name as upstream spells it.
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
pub const PLATFORM: &str = std::env::consts::OS;

/// `client.deviceFamily`: the family upstream's allowlists are keyed by.
#[cfg(target_os = "linux")]
pub const DEVICE_FAMILY: Option<&str> = Some("Linux");
/// `client.deviceFamily`: the family upstream's allowlists are keyed by.
#[cfg(target_os = "macos")]
pub const DEVICE_FAMILY: Option<&str> = Some("Mac");
/// `client.deviceFamily`: the family upstream's allowlists are keyed by.
#[cfg(target_os = "windows")]
pub const DEVICE_FAMILY: Option<&str> = Some("Windows");
/// `client.deviceFamily`: unknown systems send none rather than guess.
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
pub const DEVICE_FAMILY: Option<&str> = None;
