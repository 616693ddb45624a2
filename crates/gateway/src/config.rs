//! How a gateway is configured: where it listens, how clients authenticate, and which pairing
//! requests it approves on its own.
//!
//! [`GatewayConfig::resolve`] is the one place that decides which of the command line, the
//! environment and `openclaw.json` wins for each setting. It lives here rather than in the
//! binary so the precedence rules are a pure function with unit tests: the caller hands in the
//! parsed flags, the loaded file and an environment lookup, and nothing here reads the process
//! environment or the disk.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use openclaw_state::config::{OpenClawConfig, SecretError, SecretResolver};

/// The default gateway port (`ws://127.0.0.1:18789`).
pub const DEFAULT_PORT: u16 = 18789;

/// Shared-secret authentication of the gateway (`gateway.auth.mode`).
#[derive(Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// Anyone who can reach the port may connect (device pairing still applies to nodes).
    None,
    /// Clients present `auth.token`.
    Token(String),
    /// Clients present `auth.password`.
    Password(String),
}

impl std::fmt::Debug for AuthMode {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl AuthMode {
    /// `none`, `token` or `password`, as in `hello-ok.auth.method`.
    pub fn name(&self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Token(_) => "token",
            AuthMode::Password(_) => "password",
        }
    }
}

/// Where the TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// A self-signed certificate generated once and kept under `<stateDir>/gateway/tls/`.
    SelfSigned,
    /// PEM files supplied by the user.
    Files {
        /// The certificate chain (PEM).
        cert: PathBuf,
        /// Its private key (PEM).
        key: PathBuf,
    },
}

/// An IPv4 or IPv6 network in CIDR notation (`gateway.nodes.pairing.autoApproveCidrs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// A CIDR that does not parse; `reason` says which half is wrong so the user knows what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR {input:?}: {reason}")]
pub struct InvalidCidr {
    /// The text as given (trimmed).
    pub input: String,
    /// `bad address` or `bad prefix`.
    pub reason: &'static str,
}

impl FromStr for Cidr {
    type Err = InvalidCidr;

    fn from_str(s: &str) -> Result<Self, InvalidCidr> {
        let s = s.trim();
        let invalid = |reason| InvalidCidr { input: s.to_string(), reason };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| invalid("bad address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| invalid("bad prefix"))?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }
}

impl Cidr {
    /// Whether `ip` lies inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n) as u128, 32, self.prefix) == masked(u32::from(a) as u128, 32, self.prefix)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), 128, self.prefix) == masked(u128::from(a), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn masked(v: u128, bits: u32, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    v >> (bits - u32::from(prefix))
}

/// Everything a running gateway needs to know.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// Shared-secret authentication.
    pub auth: AuthMode,
    /// TLS, when set.
    pub tls: Option<TlsSource>,
    /// The gateway's state directory (its database and generated certificate live here).
    pub state_dir: PathBuf,
    /// Approve device pairing of direct loopback clients without an operator
    /// (`gateway.nodes.pairing.autoApproveLocal`, on by default).
    pub auto_approve_local: bool,
    /// Approve fresh, scopeless node pairing requests from these networks.
    pub auto_approve_cidrs: Vec<Cidr>,
    /// Cadence of `tick` events.
    pub tick_interval: Duration,
    /// How long a client has from the WebSocket upgrade to a successful `connect`.
    pub handshake_timeout: Duration,
    /// Cadence of WebSocket pings (upstream: 25 s).
    pub ping_interval: Duration,
    /// How long after a ping its pong may take before the peer is dropped (upstream: 25 s).
    pub pong_timeout: Duration,
    /// Never lock out loopback clients after failed authentications (upstream's default).
    pub rate_limit_exempt_loopback: bool,
    /// `gateway.nodes.commands.allow` / `.deny`: the node command policy's additions and
    /// removals ([`crate::pairing::allowlist`]).
    pub node_commands: crate::pairing::NodeCommandsConfig,
    /// `plugins.entries.file-transfer.config`: the file commands' path policy
    /// ([`crate::file_transfer`]).
    pub file_transfer: Option<serde_json::Value>,
    /// Where setup codes send devices (`plugins.entries.device-pair.config.publicUrl`), for a
    /// gateway that is reached through another address than the one it listens on.
    pub pairing_public_url: Option<String>,
    /// `gateway.remote.url` and `gateway.remote.tlsFingerprint`: the gateway's published
    /// address and pin, the setup codes' second choice after `pairing_public_url`.
    pub remote_url: Option<(String, Option<String>)>,
    /// `gateway.nodes.pairing.sshVerify`: approve fresh node requests from the local network
    /// by reading the node's identity back over SSH (on by default, as upstream;
    /// [`crate::pairing::ssh_verify`]).
    pub ssh_verify: crate::pairing::ssh_verify::SshVerifyConfig,
}

impl GatewayConfig {
    /// Loopback on the default port, token auth with `token`, defaults everywhere else.
    pub fn new(state_dir: PathBuf, auth: AuthMode) -> Self {
        GatewayConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
            auth,
            tls: None,
            state_dir,
            auto_approve_local: true,
            auto_approve_cidrs: Vec::new(),
            tick_interval: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(15),
            ping_interval: Duration::from_secs(25),
            pong_timeout: Duration::from_secs(25),
            rate_limit_exempt_loopback: true,
            node_commands: crate::pairing::NodeCommandsConfig::default(),
            file_transfer: None,
            pairing_public_url: None,
            remote_url: None,
            ssh_verify: Default::default(),
        }
    }

    /// Applies the node settings of `openclaw.json` (`gateway.nodes.pairing.*` including
    /// `sshVerify`,
    /// `gateway.nodes.commands.allow` / `.deny`).
    pub fn apply_config_file(&mut self, config: &OpenClawConfig) -> Result<(), GatewayConfigError> {
        self.file_transfer = config.get("plugins.entries.file-transfer.config").cloned();
        self.pairing_public_url = config
            .get_str("plugins.entries.device-pair.config.publicUrl")
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(String::from);
        self.remote_url = config
            .get_str("gateway.remote.url")
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| (u.to_string(), config.get_str("gateway.remote.tlsFingerprint").map(String::from)));
        for (key, list) in [("allow", &mut self.node_commands.allow), ("deny", &mut self.node_commands.deny)] {
            if let Some(value) = config.get(&format!("gateway.nodes.commands.{key}")) {
                let items = value.as_array().ok_or(GatewayConfigError::NodeCommandsNotStrings(key))?;
                *list = items
                    .iter()
                    .map(|v| v.as_str().map(String::from).ok_or(GatewayConfigError::NodeCommandsNotStrings(key)))
                    .collect::<Result<_, _>>()?;
            }
        }
        if let Some(local) = config.get_bool("gateway.nodes.pairing.autoApproveLocal") {
            self.auto_approve_local = local;
        }
        if let Some(list) = config.get("gateway.nodes.pairing.autoApproveCidrs") {
            let items = list.as_array().ok_or(GatewayConfigError::CidrsNotAList)?;
            self.auto_approve_cidrs = items
                .iter()
                .map(|v| Ok(v.as_str().ok_or(GatewayConfigError::CidrNotAString)?.parse::<Cidr>()?))
                .collect::<Result<_, GatewayConfigError>>()?;
        }
        if let Some(value) = config.get("gateway.nodes.pairing.sshVerify") {
            self.ssh_verify = crate::pairing::ssh_verify::SshVerifyConfig::from_json(value)?;
        }
        Ok(())
    }

    /// Builds the configuration of `gateway run` from its flags, `openclaw.json` and the
    /// environment (read only through `env`, so callers and tests control it).
    ///
    /// Precedence, per setting:
    /// - token: `flags.token`, else `OPENCLAW_GATEWAY_TOKEN` (trimmed, ignored when blank), else
    ///   `gateway.auth.token` (a SecretInput, resolved through `env`); likewise the password with
    ///   `OPENCLAW_GATEWAY_PASSWORD` and `gateway.auth.password`. A configured secret that cannot be
    ///   resolved is an error even when another secret or mode would win: it fails closed.
    /// - auth mode: `flags.auth`, else `gateway.auth.mode`, else token when a token is known, else
    ///   password when a password is; a mode without its secret is an error, and so is no
    ///   secret at all (`none` must be asked for).
    /// - listen address: `flags.bind` and `flags.port` only (the file's `gateway.port` is for
    ///   clients).
    /// - TLS: `flags.tls_cert` + `flags.tls_key` serve those files, else `flags.tls` a generated
    ///   self-signed certificate, else plain ws://; `gateway.tls.enabled` is not consulted.
    /// - pairing: `gateway.nodes.pairing.*`, then `flags.no_local_auto_approve` turns local
    ///   auto-approval off whatever the file says.
    ///
    /// Errors come in that order too: secrets, auth mode, `--bind`, then the pairing settings.
    pub fn resolve(
        flags: &GatewayRunFlags,
        file: &OpenClawConfig,
        env: &dyn Fn(&str) -> Option<String>,
        state_dir: PathBuf,
    ) -> Result<Self, GatewayConfigError> {
        let env_secret = |k: &str| env(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        // A blank secret flag would be a gateway that accepts an empty secret: refuse it.
        let flag_secret = |value: &Option<String>, flag: &'static str| match value.as_deref().map(str::trim) {
            Some("") => Err(GatewayConfigError::BlankSecret(flag)),
            other => Ok(other.map(String::from)),
        };
        let (flag_token, flag_password) =
            (flag_secret(&flags.token, "--token")?, flag_secret(&flags.password, "--password")?);
        let token = match flag_token.or_else(|| env_secret("OPENCLAW_GATEWAY_TOKEN")) {
            Some(t) => Some(t),
            None => config_secret(file, env, "gateway.auth.token")?,
        };
        let password = match flag_password.or_else(|| env_secret("OPENCLAW_GATEWAY_PASSWORD")) {
            Some(p) => Some(p),
            None => config_secret(file, env, "gateway.auth.password")?,
        };
        let kind = flags.auth.or(match file.get_str("gateway.auth.mode") {
            Some("none") => Some(AuthKind::None),
            Some("password") => Some(AuthKind::Password),
            Some("token") => Some(AuthKind::Token),
            _ => None,
        });
        let auth = match (kind, token, password) {
            (Some(AuthKind::None), _, _) => AuthMode::None,
            (Some(AuthKind::Token) | None, Some(t), _) => AuthMode::Token(t),
            (Some(AuthKind::Password), _, Some(p)) | (None, None, Some(p)) => AuthMode::Password(p),
            (Some(AuthKind::Token), None, _) => return Err(GatewayConfigError::TokenMissing),
            (Some(AuthKind::Password), _, None) => return Err(GatewayConfigError::PasswordMissing),
            (None, None, None) => return Err(GatewayConfigError::NoAuth),
        };
        let ip = bind_address(&flags.bind)?;
        let mut config = GatewayConfig::new(state_dir, auth);
        config.listen = SocketAddr::new(ip, flags.port);
        config.apply_config_file(file)?;
        if flags.no_local_auto_approve {
            config.auto_approve_local = false;
        }
        config.tls = match (&flags.tls_cert, &flags.tls_key) {
            (Some(cert), Some(key)) => Some(TlsSource::Files { cert: cert.clone(), key: key.clone() }),
            _ if flags.tls => Some(TlsSource::SelfSigned),
            _ => None,
        };
        Ok(config)
    }
}

/// A shared-secret mode asked for by name (`--auth`, `gateway.auth.mode`), before its secret
/// is known; [`GatewayConfig::resolve`] pairs it with a secret to make an [`AuthMode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// Accept any client that can reach the port.
    None,
    /// Require the shared token.
    Token,
    /// Require the shared password.
    Password,
}

/// The command line of `gateway run`, as plain data so that [`GatewayConfig::resolve`] does not
/// depend on the argument parser (the binary maps its clap struct onto this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRunFlags {
    /// `--port`.
    pub port: u16,
    /// `--bind`: `loopback`, `lan` or an IP address.
    pub bind: String,
    /// `--auth`, when given.
    pub auth: Option<AuthKind>,
    /// `--token`.
    pub token: Option<String>,
    /// `--password`.
    pub password: Option<String>,
    /// `--tls`.
    pub tls: bool,
    /// `--tls-cert` (the parser requires `--tls-key` with it).
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    pub tls_key: Option<PathBuf>,
    /// `--no-local-auto-approve`.
    pub no_local_auto_approve: bool,
}

impl Default for GatewayRunFlags {
    /// What `gateway run` means with no flags: loopback on the default port.
    fn default() -> Self {
        GatewayRunFlags {
            port: DEFAULT_PORT,
            bind: "loopback".to_string(),
            auth: None,
            token: None,
            password: None,
            tls: false,
            tls_cert: None,
            tls_key: None,
            no_local_auto_approve: false,
        }
    }
}

/// Why a gateway configuration cannot be built; each message names the flag, variable or
/// config key to change.
#[derive(Debug, thiserror::Error)]
pub enum GatewayConfigError {
    /// `gateway.auth.token` or `gateway.auth.password` has the wrong shape.
    #[error(transparent)]
    SecretInput(#[from] openclaw_state::config::ConfigError),
    /// A configured secret reference could not be resolved (the message never holds the secret).
    #[error("{key}: {source}")]
    Secret {
        /// The config key holding the reference.
        key: &'static str,
        /// Why it did not resolve.
        source: SecretError,
    },
    /// `--token` or `--password` was given but blank.
    #[error("{0} is blank: pass a non-empty secret, or --auth none to accept any client that can reach the port")]
    BlankSecret(&'static str),
    /// Token mode was asked for and no token is known.
    #[error(
        "gateway auth mode token needs a token: pass --token, set OPENCLAW_GATEWAY_TOKEN, or set gateway.auth.token in openclaw.json"
    )]
    TokenMissing,
    /// Password mode was asked for and no password is known.
    #[error(
        "gateway auth mode password needs a password: pass --password, set OPENCLAW_GATEWAY_PASSWORD, or set gateway.auth.password"
    )]
    PasswordMissing,
    /// No mode and no secret: refusing to serve an open gateway by accident.
    #[error(
        "no gateway auth configured: pass --token (or --password), or --auth none to accept any client that can reach the port"
    )]
    NoAuth,
    /// `--bind` is neither a keyword nor an IP address.
    #[error("invalid --bind {0:?}: use loopback, lan or an IP address")]
    Bind(String),
    /// `gateway.nodes.commands.allow` or `.deny` is not a list of strings.
    #[error("gateway.nodes.commands.{0} must be a list of command names")]
    NodeCommandsNotStrings(&'static str),
    /// `gateway.nodes.pairing.autoApproveCidrs` is not a list.
    #[error("gateway.nodes.pairing.autoApproveCidrs must be a list of CIDRs")]
    CidrsNotAList,
    /// An entry of `autoApproveCidrs` is not a string.
    #[error("autoApproveCidrs entries must be strings")]
    CidrNotAString,
    /// An entry of `autoApproveCidrs` does not parse.
    #[error(transparent)]
    Cidr(#[from] InvalidCidr),
    /// `gateway.nodes.pairing.sshVerify` is malformed.
    #[error(transparent)]
    SshVerify(#[from] crate::pairing::ssh_verify::SshVerifyConfigError),
}

/// Resolves the SecretInput at `key`; `None` when it is absent.
fn config_secret(
    file: &OpenClawConfig,
    env: &dyn Fn(&str) -> Option<String>,
    key: &'static str,
) -> Result<Option<String>, GatewayConfigError> {
    match file.secret_input(key)? {
        None => Ok(None),
        Some(input) => SecretResolver::new(file, env)
            .resolve_input(&input)
            .map(Some)
            .map_err(|source| GatewayConfigError::Secret { key, source }),
    }
}

/// Resolves `--bind`: `loopback` (127.0.0.1), `lan` (all IPv4 interfaces) or an IP address.
pub fn bind_address(bind: &str) -> Result<IpAddr, GatewayConfigError> {
    match bind {
        "loopback" => Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "lan" => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        other => other.parse().map_err(|_| GatewayConfigError::Bind(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_membership() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.1.0.1".parse().unwrap()));
        let host: Cidr = "192.168.1.5".parse().unwrap();
        assert!(host.contains("192.168.1.5".parse().unwrap()));
        assert!(!host.contains("192.168.1.6".parse().unwrap()));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense/8".parse::<Cidr>().is_err());
    }

    #[test]
    fn bind_forms() {
        assert_eq!(bind_address("loopback").unwrap().to_string(), "127.0.0.1");
        assert_eq!(bind_address("lan").unwrap().to_string(), "0.0.0.0");
        assert_eq!(bind_address("::1").unwrap().to_string(), "::1");
        assert!(bind_address("everywhere").is_err());
    }

    #[test]
    fn invalid_cidrs_say_which_half_is_wrong() {
        assert_eq!("10.0.0.0/33".parse::<Cidr>().unwrap_err().to_string(), r#"invalid CIDR "10.0.0.0/33": bad prefix"#);
        assert_eq!(
            " nonsense/8 ".parse::<Cidr>().unwrap_err().to_string(),
            r#"invalid CIDR "nonsense/8": bad address"#
        );
        assert_eq!(
            bind_address("everywhere").unwrap_err().to_string(),
            r#"invalid --bind "everywhere": use loopback, lan or an IP address"#
        );
    }

    use serde_json::json;

    /// An environment holding exactly `vars`.
    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| vars.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone())
    }

    fn resolve(
        flags: &GatewayRunFlags,
        file: serde_json::Value,
        vars: &[(&str, &str)],
    ) -> Result<GatewayConfig, GatewayConfigError> {
        let env = env_of(vars);
        GatewayConfig::resolve(flags, &OpenClawConfig::from_value(file), &env, PathBuf::from("/state"))
    }

    fn flags() -> GatewayRunFlags {
        GatewayRunFlags::default()
    }

    fn secret(mode: &AuthMode) -> &str {
        match mode {
            AuthMode::None => "",
            AuthMode::Token(s) | AuthMode::Password(s) => s,
        }
    }

    #[test]
    fn token_comes_from_the_flag_then_the_env_then_the_file() {
        let file = json!({"gateway": {"auth": {"token": "from-file"}}});
        let env = [("OPENCLAW_GATEWAY_TOKEN", "from-env")];
        let with_flag = GatewayRunFlags { token: Some("from-flag".into()), ..flags() };
        assert_eq!(resolve(&with_flag, file.clone(), &env).unwrap().auth, AuthMode::Token("from-flag".into()));
        assert_eq!(resolve(&flags(), file.clone(), &env).unwrap().auth, AuthMode::Token("from-env".into()));
        assert_eq!(resolve(&flags(), file.clone(), &[]).unwrap().auth, AuthMode::Token("from-file".into()));
        // A blank variable does not count; a padded one is trimmed.
        let blank = [("OPENCLAW_GATEWAY_TOKEN", "  ")];
        assert_eq!(resolve(&flags(), file, &blank).unwrap().auth, AuthMode::Token("from-file".into()));
        let padded = [("OPENCLAW_GATEWAY_TOKEN", " tok \n")];
        assert_eq!(resolve(&flags(), json!({}), &padded).unwrap().auth, AuthMode::Token("tok".into()));
    }

    /// `--token ""` once started a gateway that accepted an empty token.
    #[test]
    fn blank_secret_flags_are_refused_and_padded_ones_trimmed() {
        for (token, password, flag) in [(Some(""), None, "--token"), (None, Some(" \t\n"), "--password")] {
            let f = GatewayRunFlags { token: token.map(String::from), password: password.map(String::from), ..flags() };
            let err = resolve(&f, json!({}), &[("OPENCLAW_GATEWAY_TOKEN", "env")]).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("{flag} is blank: pass a non-empty secret, or --auth none to accept any client that can reach the port")
            );
        }
        // A blank token in the file is no token either.
        let blank_file = resolve(&flags(), json!({"gateway": {"auth": {"token": "  "}}}), &[]);
        assert!(!matches!(blank_file, Ok(GatewayConfig { auth: AuthMode::Token(_), .. })), "{blank_file:?}");
        let padded = GatewayRunFlags { token: Some(" tok ".into()), ..flags() };
        assert_eq!(resolve(&padded, json!({}), &[]).unwrap().auth, AuthMode::Token("tok".into()));
    }

    #[test]
    fn password_comes_from_the_flag_then_the_env_then_the_file() {
        let file = json!({"gateway": {"auth": {"password": "from-file"}}});
        let env = [("OPENCLAW_GATEWAY_PASSWORD", "from-env")];
        let with_flag = GatewayRunFlags { password: Some("from-flag".into()), ..flags() };
        assert_eq!(resolve(&with_flag, file.clone(), &env).unwrap().auth, AuthMode::Password("from-flag".into()));
        assert_eq!(resolve(&flags(), file.clone(), &env).unwrap().auth, AuthMode::Password("from-env".into()));
        assert_eq!(resolve(&flags(), file, &[]).unwrap().auth, AuthMode::Password("from-file".into()));
    }

    #[test]
    fn without_a_mode_a_token_wins_over_a_password() {
        let both = GatewayRunFlags { token: Some("t".into()), password: Some("p".into()), ..flags() };
        assert_eq!(resolve(&both, json!({}), &[]).unwrap().auth, AuthMode::Token("t".into()));
        // Whatever the sources: an env token beats a flag password.
        let password_flag = GatewayRunFlags { password: Some("p".into()), ..flags() };
        let env = [("OPENCLAW_GATEWAY_TOKEN", "t")];
        assert_eq!(resolve(&password_flag, json!({}), &env).unwrap().auth, AuthMode::Token("t".into()));
    }

    #[test]
    fn the_mode_flag_beats_the_file_and_picks_its_secret() {
        let file = json!({"gateway": {"auth": {"mode": "token", "token": "t", "password": "p"}}});
        assert_eq!(resolve(&flags(), file.clone(), &[]).unwrap().auth, AuthMode::Token("t".into()));
        let password = GatewayRunFlags { auth: Some(AuthKind::Password), ..flags() };
        assert_eq!(resolve(&password, file.clone(), &[]).unwrap().auth, AuthMode::Password("p".into()));
        let none = GatewayRunFlags { auth: Some(AuthKind::None), ..flags() };
        assert_eq!(resolve(&none, file, &[]).unwrap().auth, AuthMode::None);
        let file_password = json!({"gateway": {"auth": {"mode": "password", "token": "t", "password": "p"}}});
        assert_eq!(resolve(&flags(), file_password, &[]).unwrap().auth, AuthMode::Password("p".into()));
        let file_none = json!({"gateway": {"auth": {"mode": "none", "token": "t"}}});
        assert_eq!(resolve(&flags(), file_none, &[]).unwrap().auth, AuthMode::None);
        // An unknown mode in the file is as if none were set.
        let file_odd = json!({"gateway": {"auth": {"mode": "trusted-proxy", "password": "p"}}});
        assert_eq!(resolve(&flags(), file_odd, &[]).unwrap().auth, AuthMode::Password("p".into()));
    }

    #[test]
    fn a_mode_without_its_secret_is_refused_with_the_way_out() {
        let token = GatewayRunFlags { auth: Some(AuthKind::Token), password: Some("p".into()), ..flags() };
        assert_eq!(
            resolve(&token, json!({}), &[]).unwrap_err().to_string(),
            "gateway auth mode token needs a token: pass --token, set OPENCLAW_GATEWAY_TOKEN, or set gateway.auth.token in openclaw.json"
        );
        let file = json!({"gateway": {"auth": {"mode": "password"}}});
        let env = [("OPENCLAW_GATEWAY_TOKEN", "t")];
        assert_eq!(
            resolve(&flags(), file, &env).unwrap_err().to_string(),
            "gateway auth mode password needs a password: pass --password, set OPENCLAW_GATEWAY_PASSWORD, or set gateway.auth.password"
        );
        assert_eq!(
            resolve(&flags(), json!({}), &[]).unwrap_err().to_string(),
            "no gateway auth configured: pass --token (or --password), or --auth none to accept any client that can reach the port"
        );
        let none = GatewayRunFlags { auth: Some(AuthKind::None), ..flags() };
        assert_eq!(resolve(&none, json!({}), &[]).unwrap().auth, AuthMode::None);
    }

    #[test]
    fn file_secrets_resolve_through_the_given_env_and_fail_closed() {
        let file = json!({"gateway": {"auth": {"token": {"source": "env", "provider": "default", "id": "GW_TOKEN"}}}});
        let env = [("GW_TOKEN", "from-ref")];
        assert_eq!(secret(&resolve(&flags(), file.clone(), &env).unwrap().auth), "from-ref");
        let err = resolve(&flags(), file.clone(), &[]).unwrap_err();
        assert!(matches!(err, GatewayConfigError::Secret { key: "gateway.auth.token", .. }), "{err:?}");
        assert!(err.to_string().starts_with("gateway.auth.token: secret reference env:default:GW_TOKEN"), "{err}");
        // Resolved even when --auth none or a flag secret would make it unused.
        let none = GatewayRunFlags { auth: Some(AuthKind::None), ..flags() };
        assert!(resolve(&none, file.clone(), &[]).is_err());
        let password = GatewayRunFlags { password: Some("p".into()), ..flags() };
        assert!(resolve(&password, file, &[]).is_err());
        // ... but not when the flag or env already supplied that secret.
        let file = json!({"gateway": {"auth": {"password": {"source": "env", "provider": "default", "id": "NOPE"}}}});
        let env = [("OPENCLAW_GATEWAY_PASSWORD", "p")];
        assert_eq!(resolve(&flags(), file, &env).unwrap().auth, AuthMode::Password("p".into()));
        let bad = json!({"gateway": {"auth": {"token": 42}}});
        let err = resolve(&flags(), bad, &[]).unwrap_err();
        assert!(matches!(err, GatewayConfigError::SecretInput(_)), "{err:?}");
        assert!(err.to_string().starts_with("gateway.auth.token is not a valid secret input"), "{err}");
    }

    #[test]
    fn listen_address_comes_from_bind_and_port_only() {
        let open = GatewayRunFlags { token: Some("t".into()), ..flags() };
        let file = json!({"gateway": {"port": 9999, "bind": "lan"}});
        let config = resolve(&open, file, &[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:18789");
        assert_eq!(config.state_dir, PathBuf::from("/state"));
        let lan = GatewayRunFlags { bind: "lan".into(), port: 4000, ..open.clone() };
        assert_eq!(resolve(&lan, json!({}), &[]).unwrap().listen.to_string(), "0.0.0.0:4000");
        let v6 = GatewayRunFlags { bind: "::1".into(), ..open.clone() };
        assert_eq!(resolve(&v6, json!({}), &[]).unwrap().listen.to_string(), "[::1]:18789");
        // Auth problems are reported before a bad --bind.
        let bad = GatewayRunFlags { bind: "everywhere".into(), ..flags() };
        assert!(matches!(resolve(&bad, json!({}), &[]).unwrap_err(), GatewayConfigError::NoAuth));
        let bad = GatewayRunFlags { bind: "everywhere".into(), ..open };
        assert!(matches!(resolve(&bad, json!({}), &[]).unwrap_err(), GatewayConfigError::Bind(_)));
    }

    #[test]
    fn tls_is_off_unless_asked_for_on_the_command_line() {
        let open = GatewayRunFlags { token: Some("t".into()), ..flags() };
        let file = json!({"gateway": {"tls": {"enabled": true}}});
        assert_eq!(resolve(&open, file, &[]).unwrap().tls, None);
        let tls = GatewayRunFlags { tls: true, ..open.clone() };
        assert_eq!(resolve(&tls, json!({}), &[]).unwrap().tls, Some(TlsSource::SelfSigned));
        let files = GatewayRunFlags { tls_cert: Some("c.pem".into()), tls_key: Some("k.pem".into()), ..open };
        let expected = TlsSource::Files { cert: "c.pem".into(), key: "k.pem".into() };
        assert_eq!(resolve(&files, json!({}), &[]).unwrap().tls, Some(expected.clone()));
        let both = GatewayRunFlags { tls: true, ..files };
        assert_eq!(resolve(&both, json!({}), &[]).unwrap().tls, Some(expected));
    }

    #[test]
    fn pairing_settings_come_from_the_file_and_the_flag_turns_local_approval_off() {
        let open = GatewayRunFlags { token: Some("t".into()), ..flags() };
        let defaults = resolve(&open, json!({}), &[]).unwrap();
        assert!(defaults.auto_approve_local);
        assert!(defaults.auto_approve_cidrs.is_empty());
        let file =
            json!({"gateway": {"nodes": {"pairing": {"autoApproveLocal": false, "autoApproveCidrs": ["10.0.0.0/8"]}}}});
        let config = resolve(&open, file, &[]).unwrap();
        assert!(!config.auto_approve_local);
        assert_eq!(config.auto_approve_cidrs, vec!["10.0.0.0/8".parse::<Cidr>().unwrap()]);
        let off = GatewayRunFlags { no_local_auto_approve: true, ..open.clone() };
        let file = json!({"gateway": {"nodes": {"pairing": {"autoApproveLocal": true}}}});
        assert!(!resolve(&off, file, &[]).unwrap().auto_approve_local);
        let cases = [
            (json!("10.0.0.0/8"), "gateway.nodes.pairing.autoApproveCidrs must be a list of CIDRs"),
            (json!([8]), "autoApproveCidrs entries must be strings"),
            (json!(["10.0.0.0/40"]), r#"invalid CIDR "10.0.0.0/40": bad prefix"#),
        ];
        for (cidrs, message) in cases {
            let file = json!({"gateway": {"nodes": {"pairing": {"autoApproveCidrs": cidrs}}}});
            assert_eq!(resolve(&open, file, &[]).unwrap_err().to_string(), message);
        }
    }
}
