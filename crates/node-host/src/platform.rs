//! What the node host reports about this machine beyond the shared `connect.client` fields.
//!
//! `platform` and `deviceFamily` are signed by every client, so they live in
//! `openclaw_client::platform` (re-exported here); the hardware model and the default display
//! name only a node sends.

pub use openclaw_client::platform::{DEVICE_FAMILY, PLATFORM};

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
