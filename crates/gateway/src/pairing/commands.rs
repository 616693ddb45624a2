//! Which commands a node may have (upstream's `node-command-policy`), and the scopes an
//! operator needs to approve a surface (`node-pairing-authz`).
//!
//! Two allowlists come from one computation ([`allowlist`]), as upstream's:
//! - the **pairing** allowlist decides what a connecting node's declared commands may put on
//!   its (pending) surface: the platform's defaults with the desktop-host commands and the
//!   dangerous built-ins admitted, so an operator can approve them;
//! - the **runtime** allowlist decides what an invoke may run: the platform's defaults minus
//!   the desktop-host commands (`system.run`, `fs.listDir`, `browser.proxy`, …), which count
//!   only once approved on the node's surface, minus dangerous built-ins.
//!
//! Both add the bundled plugins' commands (ollama's and linux-node's defaults) and
//! `gateway.nodes.commands.allow`, withhold dangerous plugin commands (the file-transfer
//! commands) unless `allow` names them, and remove `gateway.nodes.commands.deny` (which always
//! wins) and the worker-private commands. The platform is normalised as upstream does: a
//! `platform` that its `deviceFamily` does not confirm is "unknown".

use std::collections::BTreeSet;

use super::{SCOPE_ADMIN, SCOPE_PAIRING, SCOPE_WRITE};

/// `gateway.nodes.commands` of `openclaw.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeCommandsConfig {
    /// `allow`: commands added to every node's allowlist, dangerous ones included.
    pub allow: Vec<String>,
    /// `deny`: commands removed from every node's allowlist, whatever else says.
    pub deny: Vec<String>,
}

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

const SYSTEM_RUN: &[&str] = &["system.run.prepare", "system.run", "system.which"];
const EXEC_APPROVALS: &[&str] = &["system.execApprovals.get", "system.execApprovals.set"];
const HOST_FILE_COMMANDS: &[&str] = &["fs.listDir", "terminal.upload"];
const BROWSER_PROXY: &[&str] = &["browser.proxy", "browser.proxy.upload.v1"];
const MCP_TOOLS_CALL: &str = "mcp.tools.call.v1";
const CLAUDE_RUN: &str = "agent.cli.claude.run.v1";
const NOTIFY: &str = "system.notify";
const DESKTOP_STREAM: &str = "desktop.stream";
const DEVICE_APPS: &str = "device.apps";

const CAMERA: &[&str] = &["camera.list"];
const MAC_CAMERA: &[&str] = &["camera.ptz.status"];
const LOCATION: &[&str] = &["location.get"];
const NOTIFICATIONS: &[&str] = &["notifications.list"];
const DEVICE: &[&str] = &["device.info", "device.status"];
const CONTACTS: &[&str] = &["contacts.search"];
const CALENDAR: &[&str] = &["calendar.events"];
const CALL_LOG: &[&str] = &["callLog.search"];
const REMINDERS: &[&str] = &["reminders.list"];
const PHOTOS: &[&str] = &["photos.latest"];
const MOTION: &[&str] = &["motion.activity", "motion.pedometer"];
const MOBILE_UI: &[&str] = &["mobile.ui.observe", "mobile.ui.act"];
const SCREEN: &[&str] = &["screen.snapshot"];
const COMPUTER: &[&str] = &["computer.act"];
const TALK_PTT: &[&str] = &["talk.ptt.start", "talk.ptt.stop", "talk.ptt.cancel", "talk.ptt.once"];
const WATCH_RELAY: &[&str] = &["watch.status", "watch.notify"];

/// Built-in commands withheld by default everywhere (`DEFAULT_DANGEROUS_NODE_COMMANDS`).
const DANGEROUS_BUILTINS: &[&str] = &[
    "camera.snap",
    "camera.clip",
    "camera.ptz.control",
    "screen.record",
    "contacts.add",
    "calendar.add",
    "reminders.add",
    "sms.send",
    "sms.search",
    "health.summary",
];

/// Commands only the gateway's own workers use; never on an allowlist.
const WORKER_PRIVATE: &[&str] = &[
    "worker.bundle.install.v1",
    "worker.launch.v1",
    "worker.status.v1",
    "worker.cancel.v1",
    "worker.environment.stop.v1",
    "worker.workspace.exec.v1",
    "worker.workspace.prepare.v1",
    "worker.workspace.retain.v1",
    "worker.desktop.stream.v1",
    "worker.desktop.launch.v1",
    "worker.desktop.computer.v1",
    "worker.portal.stream.v1",
];

/// A node command a bundled plugin registers, as upstream's plugin registry reports it.
struct PluginCommand {
    command: &'static str,
    /// Withheld unless `gateway.nodes.commands.allow` names it.
    dangerous: bool,
    /// Allowed by default on these platforms (when not dangerous).
    default_platforms: &'static [&'static str],
}

/// The node commands of upstream's bundled plugins: file-transfer (all dangerous), ollama
/// (default on desktops) and linux-node (camera listing and location by default on Linux,
/// camera capture dangerous).
const PLUGIN_COMMANDS: &[PluginCommand] = &[
    PluginCommand { command: "file.stat", dangerous: true, default_platforms: &[] },
    PluginCommand { command: "file.fetch", dangerous: true, default_platforms: &[] },
    PluginCommand { command: "dir.list", dangerous: true, default_platforms: &[] },
    PluginCommand { command: "dir.fetch", dangerous: true, default_platforms: &[] },
    PluginCommand { command: "file.create", dangerous: true, default_platforms: &[] },
    PluginCommand { command: "file.write", dangerous: true, default_platforms: &[] },
    PluginCommand { command: "workspace.memory", dangerous: true, default_platforms: &[] },
    PluginCommand { command: "workspace.skills", dangerous: true, default_platforms: &[] },
    PluginCommand { command: "ollama.models", dangerous: false, default_platforms: &["macos", "linux", "windows"] },
    PluginCommand { command: "ollama.chat", dangerous: false, default_platforms: &["macos", "linux", "windows"] },
    PluginCommand { command: "camera.list", dangerous: false, default_platforms: &["linux"] },
    PluginCommand { command: "location.get", dangerous: false, default_platforms: &["linux"] },
    PluginCommand { command: "camera.snap", dangerous: true, default_platforms: &[] },
    PluginCommand { command: "camera.clip", dangerous: true, default_platforms: &[] },
];

/// Whether `command` is one of the built-ins withheld unless `gateway.nodes.commands.allow`
/// names it (the rejection text says so).
pub fn is_dangerous_builtin(command: &str) -> bool {
    DANGEROUS_BUILTINS.contains(&command)
}

/// Whether `command` is one the gateway's own workers use, which `node.invoke` never sends.
pub fn is_worker_private(command: &str) -> bool {
    WORKER_PRIVATE.contains(&command.trim())
}

/// The commands only a desktop host's operator approval makes effective.
fn desktop_host(command: &str) -> bool {
    SYSTEM_RUN.contains(&command)
        || EXEC_APPROVALS.contains(&command)
        || HOST_FILE_COMMANDS.contains(&command)
        || BROWSER_PROXY.contains(&command)
        || [MCP_TOOLS_CALL, CLAUDE_RUN, DESKTOP_STREAM].contains(&command)
        || SCREEN.contains(&command)
}

/// The built-in defaults of a normalised platform id.
fn platform_defaults(platform: &str) -> Vec<&'static str> {
    let system: Vec<&str> =
        [SYSTEM_RUN, EXEC_APPROVALS, HOST_FILE_COMMANDS, &[NOTIFY], BROWSER_PROXY, &[MCP_TOOLS_CALL, CLAUDE_RUN]]
            .concat();
    let desktop_screen: Vec<&str> = [SCREEN, &[DESKTOP_STREAM]].concat();
    let parts: Vec<&[&str]> = match platform {
        "ios" => vec![CAMERA, LOCATION, DEVICE, CONTACTS, CALENDAR, REMINDERS, PHOTOS, MOTION, &[NOTIFY]],
        "watchos" => vec![DEVICE, &[NOTIFY]],
        "android" => vec![
            CAMERA,
            LOCATION,
            NOTIFICATIONS,
            &["notifications.actions"],
            &[NOTIFY],
            DEVICE,
            &["device.permissions", "device.health", DEVICE_APPS],
            CONTACTS,
            CALENDAR,
            CALL_LOG,
            REMINDERS,
            PHOTOS,
            MOTION,
            MOBILE_UI,
        ],
        "macos" => vec![
            CAMERA,
            MAC_CAMERA,
            LOCATION,
            DEVICE,
            &[DEVICE_APPS],
            CONTACTS,
            CALENDAR,
            REMINDERS,
            PHOTOS,
            MOTION,
            &system,
            &desktop_screen,
            COMPUTER,
        ],
        "linux" => vec![&system, &desktop_screen, COMPUTER],
        "windows" => vec![CAMERA, LOCATION, DEVICE, &system, &desktop_screen, COMPUTER],
        _ => vec![CAMERA, LOCATION, &[NOTIFY]],
    };
    parts.concat()
}

/// Upstream's `normalizeDeviceMetadataForPolicy`: trimmed, accents stripped (NFKD without
/// combining marks, approximated here by dropping the marks of decomposed Latin letters),
/// lower-cased.
fn normalize_metadata(value: Option<&str>) -> String {
    let trimmed = value.unwrap_or("").trim();
    trimmed.chars().filter(|c| !('\u{300}'..='\u{36f}').contains(c)).collect::<String>().to_lowercase()
}

fn family_matches(platform: &str, family: &str) -> bool {
    match platform {
        "ios" => family.is_empty() || ["iphone", "ipad", "ios"].contains(&family),
        "watchos" => family == "apple watch" || family == "watchos",
        "android" => family.is_empty() || family == "android",
        "macos" => family == "mac",
        "windows" => family == "windows",
        "linux" => family == "linux",
        _ => false,
    }
}

/// `<name> <major>[.<minor>[.<patch>]]` with an optional suffix rule, as upstream's native labels.
fn versioned_label(platform: &str, names: &[&str], allow_sdk: bool) -> bool {
    names.iter().any(|name| {
        let Some(rest) = platform.strip_prefix(name).and_then(|r| r.strip_prefix(' ')) else { return false };
        let (version, suffix) = match rest.split_once(' ') {
            Some((v, s)) => (v, Some(s)),
            None => (rest, None),
        };
        let parts: Vec<&str> = version.split('.').collect();
        let version_ok = (1..=3).contains(&parts.len())
            && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        let suffix_ok = match suffix {
            None => true,
            Some(s) => {
                allow_sdk
                    && parts.len() == 1
                    && s.strip_prefix("(sdk ")
                        .and_then(|s| s.strip_suffix(')'))
                        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            }
        };
        version_ok && suffix_ok
    })
}

/// Upstream's `normalizePlatformId`: an exact platform id its family confirms, a native label
/// (`macOS 15.1` with family `Mac`), else, with no platform at all, a family token; anything
/// else is `unknown`.
pub fn normalize_platform_id(platform: &str, device_family: Option<&str>) -> &'static str {
    let raw = normalize_metadata(Some(platform));
    let family = normalize_metadata(device_family);
    const IDS: &[&str] = &["ios", "watchos", "android", "macos", "windows", "linux"];
    if let Some(id) = IDS.iter().find(|id| **id == raw) {
        return if family_matches(id, &family) { id } else { "unknown" };
    }
    if versioned_label(&raw, &["ios", "ipados"], false) {
        return if ["iphone", "ipad", "ios"].contains(&family.as_str()) { "ios" } else { "unknown" };
    }
    if versioned_label(&raw, &["watchos"], false) {
        return if family == "apple watch" || family == "watchos" { "watchos" } else { "unknown" };
    }
    if versioned_label(&raw, &["macos"], false) {
        return if family == "mac" { "macos" } else { "unknown" };
    }
    if versioned_label(&raw, &["android"], true) {
        return if family == "android" { "android" } else { "unknown" };
    }
    if !raw.is_empty() {
        return "unknown";
    }
    const TOKENS: &[(&str, &[&str])] = &[
        ("ios", &["iphone", "ipad", "ios"]),
        ("watchos", &["apple watch", "watchos"]),
        ("android", &["android"]),
        ("macos", &["mac"]),
        ("windows", &["windows"]),
        ("linux", &["linux"]),
    ];
    TOKENS.iter().find(|(_, tokens)| tokens.iter().any(|t| family.contains(t))).map_or("unknown", |(id, _)| id)
}

/// Which allowlist to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowlistKind {
    /// What a connecting node may put on its surface (desktop-host commands and dangerous
    /// built-ins admitted, for an operator to approve).
    Pairing,
    /// What an invoke may run now.
    Runtime,
}

/// A node as the policy sees it.
pub struct NodeFacts<'a> {
    /// `client.platform`.
    pub platform: &'a str,
    /// `client.deviceFamily`.
    pub device_family: Option<&'a str>,
    /// The node's `caps`.
    pub caps: &'a [String],
    /// Its commands (the declared ones for a connecting node, the effective ones of a session).
    pub commands: &'a [String],
    /// The commands approved on its surface, when known.
    pub approved: Option<&'a [String]>,
}

/// Upstream's `resolveNodeCommandAllowlist` (runtime) / `resolveNodePairingCommandAllowlist`.
pub fn allowlist(config: &NodeCommandsConfig, node: &NodeFacts<'_>, kind: AllowlistKind) -> BTreeSet<String> {
    let platform = normalize_platform_id(node.platform, node.device_family);
    let desktop = matches!(platform, "macos" | "windows" | "linux");
    let base: Vec<&str> = platform_defaults(platform)
        .into_iter()
        .filter(|c| kind == AllowlistKind::Pairing || !desktop || !desktop_host(c))
        .collect();
    let watch_relay: &[&str] =
        if platform == "ios" && normalize_metadata(node.device_family) == "iphone" { WATCH_RELAY } else { &[] };
    let talk = node.caps.iter().any(|c| c.to_lowercase() == "talk")
        || node.commands.iter().any(|c| c.to_lowercase().starts_with("talk."));
    let talk: &[&str] = if talk { TALK_PTT } else { &[] };
    let plugin_defaults: Vec<&str> = if platform == "watchos" {
        Vec::new()
    } else {
        PLUGIN_COMMANDS
            .iter()
            .filter(|p| !p.dangerous && p.default_platforms.contains(&platform))
            .map(|p| p.command)
            .collect()
    };
    let approved: Vec<&str> = if desktop {
        node.approved.unwrap_or(node.commands).iter().map(|c| c.trim()).filter(|c| desktop_host(c)).collect()
    } else {
        Vec::new()
    };
    let dangerous_plugin: BTreeSet<&str> =
        PLUGIN_COMMANDS.iter().filter(|p| p.dangerous && !base.contains(&p.command)).map(|p| p.command).collect();
    let dangerous_builtin: &[&str] = if kind == AllowlistKind::Pairing { &[] } else { DANGEROUS_BUILTINS };
    let mut allow: BTreeSet<String> = base
        .iter()
        .chain(watch_relay)
        .chain(talk)
        .chain(plugin_defaults.iter())
        .chain(approved.iter())
        .copied()
        .chain(config.allow.iter().map(String::as_str))
        .map(str::trim)
        .filter(|c| !c.is_empty() && !dangerous_plugin.contains(c) && !dangerous_builtin.contains(c))
        .map(String::from)
        .collect();
    allow.extend(config.allow.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).map(String::from));
    for denied in config.deny.iter().map(|c| c.trim()) {
        let exempt = kind == AllowlistKind::Pairing && DANGEROUS_BUILTINS.contains(&denied);
        if !denied.is_empty() && !exempt {
            allow.remove(denied);
        }
    }
    for private in WORKER_PRIVATE {
        allow.remove(*private);
    }
    allow
}

/// A node's declared commands as the gateway keeps them: trimmed, unique, in order, without
/// the worker-private ones (`normalizeDeclaredCommands`).
pub fn normalize_declared(commands: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in commands.iter().map(|c| c.trim()) {
        if !c.is_empty() && !WORKER_PRIVATE.contains(&c) && !out.iter().any(|o| o == c) {
            out.push(c.to_string());
        }
    }
    out
}

/// The declared commands a node may put on its surface at pairing, sorted.
pub fn admitted_at_pairing(config: &NodeCommandsConfig, node: &NodeFacts<'_>) -> Vec<String> {
    let allow = allowlist(config, node, AllowlistKind::Pairing);
    let mut out: Vec<String> = normalize_declared(node.commands).into_iter().filter(|c| allow.contains(c)).collect();
    out.sort();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn linux<'a>(declared: &'a [String], approved: Option<&'a [String]>) -> NodeFacts<'a> {
        NodeFacts { platform: "linux", device_family: Some("Linux"), caps: &[], commands: declared, approved }
    }

    /// Rule (node-commands.md §1.4, observed): with no `commands.allow`, the file-transfer
    /// commands are withheld at pairing and everything else a Linux node host declares is
    /// admitted; with them allowed, they are admitted too.
    #[test]
    fn pairing_admits_as_upstream() {
        let declared = v(&[
            "browser.proxy",
            "dir.fetch",
            "dir.list",
            "file.create",
            "file.fetch",
            "file.stat",
            "file.write",
            "fs.listDir",
            "mcp.tools.call.v1",
            "ollama.chat",
            "ollama.models",
            "system.execApprovals.get",
            "system.execApprovals.set",
            "system.notify",
            "system.run",
            "system.run.prepare",
            "system.which",
            "terminal.upload",
            "workspace.memory",
            "workspace.skills",
            "desktop.stream",
            "worker.launch.v1",
        ]);
        let none = NodeCommandsConfig::default();
        let admitted = admitted_at_pairing(&none, &linux(&declared, None));
        assert_eq!(admitted.len(), 13, "{admitted:?}");
        assert!(!admitted
            .iter()
            .any(|c| c.starts_with("file.") || c.starts_with("dir.") || c.starts_with("workspace.")));
        assert!(admitted.contains(&"ollama.chat".to_string()) && admitted.contains(&"desktop.stream".to_string()));
        let allow = NodeCommandsConfig {
            allow: v(&[
                "file.stat",
                "file.fetch",
                "dir.list",
                "dir.fetch",
                "file.write",
                "file.create",
                "workspace.memory",
            ]),
            deny: vec![],
        };
        let admitted = admitted_at_pairing(&allow, &linux(&declared, None));
        assert_eq!(admitted.len(), 20);
        assert!(!admitted.contains(&"workspace.skills".to_string()));
    }

    /// Rule (§1.4): the runtime allowlist needs the desktop-host commands approved; `deny`
    /// always wins; dangerous built-ins need `allow`.
    #[test]
    fn runtime_allows_as_upstream() {
        let declared = v(&["system.run", "system.notify", "fs.listDir", "camera.snap"]);
        let none = NodeCommandsConfig::default();
        let unapproved = allowlist(&none, &linux(&declared, Some(&[])), AllowlistKind::Runtime);
        assert!(unapproved.contains("system.notify") && !unapproved.contains("system.run"));
        let approved = v(&["system.run", "fs.listDir"]);
        let runtime = allowlist(&none, &linux(&declared, Some(&approved)), AllowlistKind::Runtime);
        assert!(runtime.contains("system.run") && runtime.contains("fs.listDir") && !runtime.contains("camera.snap"));
        let deny = NodeCommandsConfig { allow: v(&["camera.snap"]), deny: v(&["system.run", "camera.snap"]) };
        let runtime = allowlist(&deny, &linux(&declared, Some(&approved)), AllowlistKind::Runtime);
        assert!(!runtime.contains("system.run") && !runtime.contains("camera.snap"));
        let pairing = allowlist(&deny, &linux(&declared, None), AllowlistKind::Pairing);
        assert!(pairing.contains("camera.snap"), "deny does not withhold dangerous built-ins at pairing");
    }

    #[test]
    fn platforms_normalise_as_upstream() {
        assert_eq!(normalize_platform_id("linux", Some("Linux")), "linux");
        assert_eq!(normalize_platform_id("linux", None), "unknown");
        assert_eq!(normalize_platform_id("macOS 15.1", Some("Mac")), "macos");
        assert_eq!(normalize_platform_id("Android 14 (SDK 34)", Some("Android")), "android");
        assert_eq!(normalize_platform_id("", Some("Linux box")), "linux");
        assert_eq!(normalize_platform_id("plan9", Some("Linux")), "unknown");
        let unknown = allowlist(
            &NodeCommandsConfig::default(),
            &NodeFacts { platform: "plan9", device_family: None, caps: &[], commands: &[], approved: None },
            AllowlistKind::Runtime,
        );
        assert!(unknown.contains("system.notify") && !unknown.contains("system.run"));
    }
}
