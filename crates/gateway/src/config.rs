//! How a gateway is configured: where it listens, how clients authenticate, and which pairing
//! requests it approves on its own.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use openclaw_state::config::OpenClawConfig;

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

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| format!("invalid CIDR {s:?}: bad address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => {
                p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("invalid CIDR {s:?}: bad prefix"))?
            }
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
    /// Cadence of WebSocket pings (a pong must follow within the same time).
    pub ping_interval: Duration,
    /// Never lock out loopback clients after failed authentications (upstream's default).
    pub rate_limit_exempt_loopback: bool,
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
            rate_limit_exempt_loopback: true,
        }
    }

    /// Applies the pairing settings of `openclaw.json` (`gateway.nodes.pairing.*`).
    pub fn apply_config_file(&mut self, config: &OpenClawConfig) -> Result<(), String> {
        if let Some(local) = config.get_bool("gateway.nodes.pairing.autoApproveLocal") {
            self.auto_approve_local = local;
        }
        if let Some(list) = config.get("gateway.nodes.pairing.autoApproveCidrs") {
            let items = list.as_array().ok_or("gateway.nodes.pairing.autoApproveCidrs must be a list of CIDRs")?;
            self.auto_approve_cidrs = items
                .iter()
                .map(|v| v.as_str().ok_or_else(|| "autoApproveCidrs entries must be strings".to_string())?.parse())
                .collect::<Result<_, _>>()?;
        }
        Ok(())
    }
}

/// Resolves `--bind`: `loopback` (127.0.0.1), `lan` (all IPv4 interfaces) or an IP address.
pub fn bind_address(bind: &str) -> Result<IpAddr, String> {
    match bind {
        "loopback" => Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "lan" => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        other => other.parse().map_err(|_| format!("invalid --bind {other:?}: use loopback, lan or an IP address")),
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
}
