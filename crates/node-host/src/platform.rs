//! What this machine reports about itself in `connect.client`.
//!
//! `platform` and `deviceFamily` together select the gateway's command allowlist for the node
//! and are pinned at pairing, so they must be stable and match upstream's values exactly.

/// `client.platform`.
#[cfg(target_os = "linux")]
pub const PLATFORM: &str = "linux";
#[cfg(target_os = "macos")]
pub const PLATFORM: &str = "macos";
#[cfg(target_os = "windows")]
pub const PLATFORM: &str = "windows";
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
pub const PLATFORM: &str = std::env::consts::OS;

/// `client.deviceFamily`.
#[cfg(target_os = "linux")]
pub const DEVICE_FAMILY: Option<&str> = Some("Linux");
#[cfg(target_os = "macos")]
pub const DEVICE_FAMILY: Option<&str> = Some("Mac");
#[cfg(target_os = "windows")]
pub const DEVICE_FAMILY: Option<&str> = Some("Windows");
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
pub const DEVICE_FAMILY: Option<&str> = None;

/// The hardware model (Linux: DMI product name or device-tree model), at most 64 characters.
pub fn model_identifier() -> Option<String> {
    DEVICE_FAMILY?;
    ["/sys/devices/virtual/dmi/id/product_name", "/proc/device-tree/model"].iter().find_map(|p| {
        let raw = std::fs::read_to_string(p).ok()?;
        let v: String = raw.trim_matches(|c: char| c == '\0' || c.is_whitespace()).chars().take(64).collect();
        (!v.is_empty()).then_some(v)
    })
}

/// The machine name used as the default display name: the hostname without `.local`.
pub fn machine_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.trim().trim_end_matches(".local").to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "openclaw".into())
}
