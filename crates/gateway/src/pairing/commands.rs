//! Which commands a node may have: the desktop allowlist per platform, and the scopes an
//! operator needs to approve a surface (upstream's `node-pairing-authz`).

use super::{SCOPE_ADMIN, SCOPE_PAIRING, SCOPE_WRITE};

/// Commands whose approval on a node needs `operator.admin` (`src/infra/node-pairing-authz.ts`).
const ADMIN_COMMANDS: &[&str] = &[
    "system.run",
    "system.run.prepare",
    "system.which",
    "browser.proxy",
    "browser.proxy.upload.v1",
    "fs.listDir",
    "system.execApprovals.get",
    "system.execApprovals.set",
];

/// The default command allowlist of desktop-class node platforms (Linux, macOS, Windows):
/// declared commands outside it are withheld.
const DESKTOP_COMMANDS: &[&str] = &[
    "system.run.prepare",
    "system.run",
    "system.which",
    "system.execApprovals.get",
    "system.execApprovals.set",
    "fs.listDir",
    "terminal.upload",
    "system.notify",
    "browser.proxy",
    "browser.proxy.upload.v1",
    "mcp.tools.call.v1",
    "agent.cli.claude.run.v1",
    "screen.snapshot",
    "desktop.stream",
    "computer.act",
];

/// The declared commands a node of this platform may have at all. A `platform` whose
/// `deviceFamily` does not match it is "unknown" and gets none of the system commands.
pub fn allowlisted_commands(platform: &str, device_family: Option<&str>, declared: &[String]) -> Vec<String> {
    let family = device_family.unwrap_or("").to_ascii_lowercase();
    let known = matches!(
        (platform.to_ascii_lowercase().as_str(), family.as_str()),
        ("linux", "linux") | ("macos" | "darwin", "mac") | ("windows" | "win32", "windows")
    );
    if !known {
        return Vec::new();
    }
    let mut out: Vec<String> = declared.iter().filter(|c| DESKTOP_COMMANDS.contains(&c.as_str())).cloned().collect();
    out.sort();
    out.dedup();
    out
}

/// The operator scopes needed to approve a node surface with these commands.
pub fn required_approve_scopes(commands: &[String]) -> Vec<String> {
    if commands.iter().any(|c| ADMIN_COMMANDS.contains(&c.as_str())) {
        vec![SCOPE_PAIRING.into(), SCOPE_ADMIN.into()]
    } else if commands.is_empty() {
        vec![SCOPE_PAIRING.into()]
    } else {
        vec![SCOPE_PAIRING.into(), SCOPE_WRITE.into()]
    }
}
