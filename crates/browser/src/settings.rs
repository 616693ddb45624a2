//! The node's `browser.*` settings from `openclaw.json`, resolved once (spec/browser.md §2.2).
//!
//! Upstream resolves the raw config into a "resolved browser config" plus one profile per name
//! (`config.ts#resolveBrowserConfig` / `resolveProfile`); the routes then read only the resolved
//! form. We do the same here so every default (profile list, CDP ports, headless source, SSRF
//! policy) is decided in one place and the route code never looks at raw JSON.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The name upstream gives the managed profile; it owns CDP port 18800 by default.
pub const DEFAULT_PROFILE: &str = "openclaw";
/// The first port of upstream's managed CDP range (gateway port 18789 + 2 + 9).
pub const DEFAULT_CDP_PORT: u16 = 18800;
/// The profile colour upstream writes into Chromium's preferences and reports in status.
pub const DEFAULT_COLOR: &str = "#FF4500";
/// The environment variable that overrides the headless mode (upstream `BROWSER_HEADLESS_ENV_KEY`).
pub const HEADLESS_ENV: &str = "OPENCLAW_BROWSER_HEADLESS";

/// Why `browser.*` could not be read. Each variant names the key, so an operator can fix the
/// file without guessing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A key holds a value of the wrong JSON type.
    #[error("{key} must be {expected}")]
    WrongType {
        /// The dotted config key, e.g. `browser.profiles.work.cdpPort`.
        key: String,
        /// What the key must hold, e.g. `a boolean`.
        expected: &'static str,
    },
    /// A key has the right type but a value upstream refuses too.
    #[error("{key} is invalid: {reason}")]
    Invalid {
        /// The dotted config key.
        key: String,
        /// What is wrong with it and how to fix it.
        reason: String,
    },
}

/// How a profile reaches its browser (upstream `driver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// A Chromium the node launches and drives over CDP (the only one implemented here).
    OpenClaw,
    /// The user's own Chrome through Chrome MCP (built-in profile `user`).
    ExistingSession,
    /// The OpenClaw Chrome extension relay (built-in profile `chrome`).
    Extension,
}

impl Driver {
    /// The wire spelling used in status and `/profiles`.
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::OpenClaw => "openclaw",
            Driver::ExistingSession => "existing-session",
            Driver::Extension => "extension",
        }
    }
}

/// One resolved profile (`browser.profiles.<name>` plus upstream's built-in defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The profile's name, as requested in `?profile=`.
    pub name: String,
    /// How the profile reaches its browser.
    pub driver: Driver,
    /// The CDP port (18800 for `openclaw`), or the extension relay port.
    pub cdp_port: u16,
    /// `http://127.0.0.1:<cdpPort>` for local profiles, or the configured `cdpUrl`.
    pub cdp_url: String,
    /// Whether `cdp_url` points at this machine (only such profiles are launched).
    pub cdp_is_loopback: bool,
    /// The configured headless flag and where it came from (`profile`, `config`, `default`).
    pub headless: Option<(bool, &'static str)>,
    /// A per-profile executable override.
    pub executable_path: Option<PathBuf>,
    /// Attach to an already running browser instead of launching one.
    pub attach_only: bool,
    /// The colour reported in status.
    pub color: String,
    /// A configured user data directory (existing-session profiles).
    pub user_data_dir: Option<PathBuf>,
}

impl Profile {
    /// True for profiles this crate launches and owns (upstream `isLocalManagedProfile`).
    pub fn is_local_managed(&self) -> bool {
        self.driver == Driver::OpenClaw && self.cdp_is_loopback && !self.attach_only
    }
}

/// The navigation SSRF policy (`browser.ssrfPolicy`, spec/browser.md §2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SsrfPolicy {
    /// `dangerouslyAllowPrivateNetwork` or the legacy `allowPrivateNetwork`: private and loopback
    /// addresses are reachable. Off by default, as upstream.
    pub allow_private_network: bool,
    /// Set when either private-network key was given explicitly as `false`: upstream's strict
    /// mode, which also refuses hostname URLs (DNS rebinding cannot be ruled out).
    pub strict: bool,
    /// Host names (or `*.suffix` patterns) exempt from the private-address check.
    pub allowed_hostnames: Vec<String>,
}

/// The node's `browser.*` configuration, resolved with upstream's defaults.
///
/// Built once from `openclaw.json` by the node host and handed to [`crate::BrowserControl`];
/// the routes never read raw JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserSettings {
    enabled: bool,
    /// `browser.evaluateEnabled` (default true): when false, `act` evaluate is refused.
    pub evaluate_enabled: bool,
    /// `browser.headless` as configured (None when absent).
    pub headless: Option<bool>,
    /// `browser.noSandbox`: adds `--no-sandbox` (needed when running as root).
    pub no_sandbox: bool,
    /// `browser.attachOnly`: never launch, only attach.
    pub attach_only: bool,
    /// `browser.executablePath` with `~` expanded.
    pub executable_path: Option<PathBuf>,
    default_profile: String,
    /// Every profile, in upstream's order (configured ones, then the missing built-ins).
    pub profiles: Vec<Profile>,
    /// `browser.extraArgs`, appended to the launch arguments.
    pub extra_args: Vec<String>,
    /// The navigation guard's policy.
    pub ssrf: SsrfPolicy,
}

impl Default for BrowserSettings {
    fn default() -> Self {
        Self::from_config(None).expect("the empty config always resolves")
    }
}

fn key_err(key: &str, expected: &'static str) -> SettingsError {
    SettingsError::WrongType { key: key.to_string(), expected }
}

fn opt_bool(obj: &serde_json::Map<String, Value>, key: &str, path: &str) -> Result<Option<bool>, SettingsError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(key_err(&format!("{path}.{key}"), "a boolean")),
    }
}

fn opt_string(obj: &serde_json::Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, SettingsError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let t = s.trim();
            Ok((!t.is_empty()).then(|| t.to_string()))
        }
        Some(_) => Err(key_err(&format!("{path}.{key}"), "a string")),
    }
}

fn opt_port(obj: &serde_json::Map<String, Value>, key: &str, path: &str) -> Result<Option<u16>, SettingsError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|p| (1..=65535).contains(p))
            .map(|p| Some(p as u16))
            .ok_or_else(|| key_err(&format!("{path}.{key}"), "a port number between 1 and 65535")),
    }
}

/// Expands a leading `~` to `$HOME`, as upstream's `normalizeExecutablePath` does.
fn expand_home(raw: &str) -> PathBuf {
    if raw == "~" {
        return std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(raw));
    }
    if let Some(rest) = raw.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return Path::new(&home).join(rest);
        }
    }
    PathBuf::from(raw)
}

/// Splits `scheme://host:port/...` into (host, port) with the scheme's default port.
fn url_host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        _ => return None,
    };
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        return Some((host.to_ascii_lowercase(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_ascii_lowercase(), p.parse().ok()?)),
        None => Some((authority.to_ascii_lowercase(), default_port)),
    }
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

impl BrowserSettings {
    /// Resolves the `browser` object of `openclaw.json` (None when the key is absent) with
    /// upstream's defaults: enabled, profile `openclaw` on CDP port 18800, built-in `user` and
    /// `chrome` profiles, private networks blocked for navigation.
    pub fn from_config(browser: Option<&Value>) -> Result<Self, SettingsError> {
        let empty = serde_json::Map::new();
        let obj = match browser {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(o)) => o,
            Some(_) => return Err(key_err("browser", "an object")),
        };
        let p = "browser";
        let enabled = opt_bool(obj, "enabled", p)?.unwrap_or(true);
        let evaluate_enabled = opt_bool(obj, "evaluateEnabled", p)?.unwrap_or(true);
        let headless = opt_bool(obj, "headless", p)?;
        let no_sandbox = opt_bool(obj, "noSandbox", p)?.unwrap_or(false);
        let attach_only = opt_bool(obj, "attachOnly", p)?.unwrap_or(false);
        let executable_path = opt_string(obj, "executablePath", p)?.map(|s| expand_home(&s));
        let default_profile = opt_string(obj, "defaultProfile", p)?.unwrap_or_else(|| DEFAULT_PROFILE.to_string());
        let cdp_url = opt_string(obj, "cdpUrl", p)?;
        let legacy_cdp = match &cdp_url {
            Some(u) => Some(url_host_port(u).ok_or_else(|| SettingsError::Invalid {
                key: "browser.cdpUrl".into(),
                reason: format!("{u:?} is not an http(s):// or ws(s):// URL with a host"),
            })?),
            None => None,
        };
        let extra_args = match obj.get("extraArgs") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => {
                a.iter().filter_map(|v| v.as_str()).filter(|s| !s.trim().is_empty()).map(str::to_string).collect()
            }
            Some(_) => return Err(key_err("browser.extraArgs", "an array of strings")),
        };
        let ssrf = match obj.get("ssrfPolicy") {
            None | Some(Value::Null) => SsrfPolicy::default(),
            Some(Value::Object(sp)) => {
                let path = "browser.ssrfPolicy";
                let a = opt_bool(sp, "allowPrivateNetwork", path)?;
                let d = opt_bool(sp, "dangerouslyAllowPrivateNetwork", path)?;
                let allowed_hostnames = match sp.get("allowedHostnames") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(|v| v.as_str())
                        .map(|s| s.trim().trim_end_matches('.').to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect(),
                    Some(_) => return Err(key_err("browser.ssrfPolicy.allowedHostnames", "an array of strings")),
                };
                let allow = a == Some(true) || d == Some(true);
                SsrfPolicy {
                    allow_private_network: allow,
                    strict: (a.is_some() || d.is_some()) && !allow,
                    allowed_hostnames,
                }
            }
            Some(_) => return Err(key_err("browser.ssrfPolicy", "an object")),
        };

        let mut profiles = Vec::new();
        match obj.get("profiles") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (name, raw) in map {
                    profiles.push(resolve_profile(name, raw, headless, attach_only, legacy_cdp.as_ref())?);
                }
            }
            Some(_) => return Err(key_err("browser.profiles", "an object")),
        }
        let has = |profiles: &Vec<Profile>, n: &str| profiles.iter().any(|p| p.name == n);
        if !has(&profiles, DEFAULT_PROFILE) {
            let (host, port) = legacy_cdp.clone().unwrap_or_else(|| ("127.0.0.1".into(), DEFAULT_CDP_PORT));
            let loopback = is_loopback_host(&host);
            profiles.push(Profile {
                name: DEFAULT_PROFILE.into(),
                driver: Driver::OpenClaw,
                cdp_port: port,
                cdp_url: cdp_url.clone().unwrap_or_else(|| format!("http://{host}:{port}")),
                cdp_is_loopback: loopback,
                headless: headless.map(|h| (h, "config")),
                executable_path: None,
                attach_only,
                color: DEFAULT_COLOR.into(),
                user_data_dir: None,
            });
        }
        if !has(&profiles, "user") {
            profiles.push(builtin(ProfileKind::User));
        }
        if !has(&profiles, "chrome") {
            profiles.push(builtin(ProfileKind::Chrome));
        }
        Ok(Self {
            enabled,
            evaluate_enabled,
            headless,
            no_sandbox,
            attach_only,
            executable_path,
            default_profile,
            profiles,
            extra_args,
            ssrf,
        })
    }

    /// `browser.enabled` (default true). When false the node does not advertise `browser.proxy`.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// `browser.defaultProfile` (default `"openclaw"`): used when a request names no profile.
    pub fn default_profile(&self) -> &str {
        &self.default_profile
    }

    /// The profile called `name`, if configured or built in.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// Upstream's headless decision for a launch of `profile`: the request override, then
    /// `OPENCLAW_BROWSER_HEADLESS`, then the profile's or `browser.headless`, then headless on
    /// Linux without `DISPLAY`/`WAYLAND_DISPLAY`, else headed. Returns the `headlessSource`.
    pub fn resolve_headless(&self, profile: &Profile, request: Option<bool>) -> (bool, &'static str) {
        if let Some(h) = request {
            return (h, "request");
        }
        if let Some(h) = std::env::var(HEADLESS_ENV).ok().as_deref().and_then(parse_bool) {
            return (h, "env");
        }
        if let Some((h, source)) = profile.headless {
            return (h, source);
        }
        if cfg!(target_os = "linux") && !has_linux_display() {
            return (true, "linux-display-fallback");
        }
        (false, "default")
    }
}

/// True when a Linux display server is reachable (upstream `hasLinuxDisplay`).
pub(crate) fn has_linux_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|k| std::env::var(k).map(|v| !v.trim().is_empty()).unwrap_or(false))
}

/// Upstream's `toBoolean`: `true|1|yes` and `false|0|no`, case-insensitive, trimmed.
pub(crate) fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

enum ProfileKind {
    User,
    Chrome,
}

fn builtin(kind: ProfileKind) -> Profile {
    let (name, driver, attach_only, port) = match kind {
        // The existing-session profile has no CDP port (Chrome MCP); the extension relay listens
        // on control port + 8 (18799) by default.
        ProfileKind::User => ("user", Driver::ExistingSession, true, 0),
        ProfileKind::Chrome => ("chrome", Driver::Extension, false, 18799),
    };
    Profile {
        name: name.into(),
        driver,
        cdp_port: port,
        cdp_url: if port == 0 { String::new() } else { format!("http://127.0.0.1:{port}") },
        cdp_is_loopback: true,
        headless: None,
        executable_path: None,
        attach_only,
        color: DEFAULT_COLOR.into(),
        user_data_dir: None,
    }
}

fn resolve_profile(
    name: &str,
    raw: &Value,
    global_headless: Option<bool>,
    global_attach_only: bool,
    legacy_cdp: Option<&(String, u16)>,
) -> Result<Profile, SettingsError> {
    let path = format!("browser.profiles.{name}");
    let Value::Object(obj) = raw else {
        return Err(SettingsError::WrongType { key: path, expected: "an object" });
    };
    let driver = match opt_string(obj, "driver", &path)?.as_deref() {
        None | Some("openclaw") | Some("clawd") => Driver::OpenClaw,
        Some("existing-session") => Driver::ExistingSession,
        Some("extension") => Driver::Extension,
        Some(other) => {
            return Err(SettingsError::Invalid {
                key: format!("{path}.driver"),
                reason: format!(
                    "unsupported driver {other:?}; use \"openclaw\", \"existing-session\" or \"extension\""
                ),
            })
        }
    };
    let cdp_url = opt_string(obj, "cdpUrl", &path)?;
    let mut cdp_port = opt_port(obj, "cdpPort", &path)?;
    let mut host = "127.0.0.1".to_string();
    if let Some(u) = &cdp_url {
        let (h, p) = url_host_port(u).ok_or_else(|| SettingsError::Invalid {
            key: format!("{path}.cdpUrl"),
            reason: format!("{u:?} is not an http(s):// or ws(s):// URL with a host"),
        })?;
        host = h;
        cdp_port.get_or_insert(p);
    } else if name == DEFAULT_PROFILE {
        if let Some((h, p)) = legacy_cdp {
            host = h.clone();
            cdp_port.get_or_insert(*p);
        }
    }
    let cdp_port = match (cdp_port, driver) {
        (Some(p), _) => p,
        (None, Driver::OpenClaw) if name == DEFAULT_PROFILE => DEFAULT_CDP_PORT,
        (None, Driver::OpenClaw) => {
            return Err(SettingsError::Invalid {
                key: format!("{path}.cdpPort"),
                reason: "an openclaw profile needs cdpPort (e.g. 18801) or cdpUrl".into(),
            })
        }
        (None, Driver::Extension) => 18799,
        (None, Driver::ExistingSession) => 0,
    };
    let headless = match opt_bool(obj, "headless", &path)? {
        Some(h) => Some((h, "profile")),
        None => global_headless.map(|h| (h, "config")),
    };
    Ok(Profile {
        name: name.to_string(),
        driver,
        cdp_port,
        cdp_url: cdp_url.unwrap_or_else(|| format!("http://{host}:{cdp_port}")),
        cdp_is_loopback: is_loopback_host(&host),
        headless,
        executable_path: opt_string(obj, "executablePath", &path)?.map(|s| expand_home(&s)),
        attach_only: opt_bool(obj, "attachOnly", &path)?.unwrap_or(global_attach_only)
            || driver == Driver::ExistingSession,
        color: opt_string(obj, "color", &path)?.unwrap_or_else(|| DEFAULT_COLOR.into()),
        user_data_dir: opt_string(obj, "userDataDir", &path)?.map(|s| expand_home(&s)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_match_upstream() {
        let s = BrowserSettings::from_config(None).unwrap();
        assert!(s.enabled());
        assert_eq!(s.default_profile(), "openclaw");
        let names: Vec<_> = s.profiles.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["openclaw", "user", "chrome"]);
        let o = s.profile("openclaw").unwrap();
        assert_eq!((o.cdp_port, o.cdp_url.as_str()), (18800, "http://127.0.0.1:18800"));
        assert!(o.is_local_managed());
        assert!(!s.ssrf.allow_private_network);
    }

    #[test]
    fn errors_name_the_key() {
        let e = BrowserSettings::from_config(Some(&json!({"noSandbox": "yes"}))).unwrap_err();
        assert_eq!(e.to_string(), "browser.noSandbox must be a boolean");
        let e = BrowserSettings::from_config(Some(&json!({"profiles": {"w": {"cdpPort": 70000}}}))).unwrap_err();
        assert_eq!(e.to_string(), "browser.profiles.w.cdpPort must be a port number between 1 and 65535");
        let e = BrowserSettings::from_config(Some(&json!({"profiles": {"w": {}}}))).unwrap_err();
        assert!(e.to_string().starts_with("browser.profiles.w.cdpPort is invalid"), "{e}");
    }

    #[test]
    fn configured_profiles_come_first_and_ssrf_keys_resolve() {
        let s = BrowserSettings::from_config(Some(&json!({
            "enabled": false, "defaultProfile": "work", "headless": true,
            "profiles": {"work": {"cdpPort": 18801}},
            "ssrfPolicy": {"dangerouslyAllowPrivateNetwork": true}
        })))
        .unwrap();
        assert!(!s.enabled());
        assert_eq!(s.default_profile(), "work");
        assert_eq!(s.profiles[0].name, "work");
        assert_eq!(s.profiles[0].headless, Some((true, "config")));
        assert!(s.ssrf.allow_private_network && !s.ssrf.strict);
        let strict =
            BrowserSettings::from_config(Some(&json!({"ssrfPolicy": {"allowPrivateNetwork": false}}))).unwrap();
        assert!(strict.ssrf.strict);
    }

    #[test]
    fn headless_request_wins_over_config() {
        let s = BrowserSettings::from_config(Some(&json!({"headless": false}))).unwrap();
        let p = s.profile("openclaw").unwrap();
        assert_eq!(s.resolve_headless(p, Some(true)), (true, "request"));
    }
}
