//! Which gateway to dial: flags, the saved endpoint, an operator URL and the
//! plaintext-WebSocket rule (`nodehost.md` §1.3, §4).
//!
//! Every client resolves its target into one [`Endpoint`] before dialing, so the node host
//! (`node run` flags + the saved row, [`resolve_endpoint`]) and the operator (`--url`,
//! [`endpoint_from_url`]) agree on defaults, IPv6 bracketing, pin normalisation and on which
//! hosts count as loopback or private.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use openclaw_protocol::tls::normalize_fingerprint;
use openclaw_state::SavedGateway;

/// Default gateway host: a gateway binds loopback unless told otherwise.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Default gateway port, the one upstream's gateway listens on out of the box.
pub const DEFAULT_PORT: u16 = 18789;

/// The endpoint flags of `node run` (and later `node install`), as typed.
#[derive(Debug, Clone, Default)]
pub struct EndpointFlags {
    /// `--host`.
    pub host: Option<String>,
    /// `--port`, unparsed so a bad value gets upstream's message.
    pub port: Option<String>,
    /// `Some(true)` for `--tls`, `Some(false)` for `--no-tls`.
    pub tls: Option<bool>,
    /// `--tls-fingerprint`, in any form [`normalize_fingerprint`] accepts.
    pub tls_fingerprint: Option<String>,
    /// `--context-path`, the URL path a reverse proxy serves the gateway under.
    pub context_path: Option<String>,
}

/// A fully resolved gateway endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or IP literal (IPv6 with or without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// `wss://` when set; then [`tls_fingerprint`](Self::tls_fingerprint) decides the trust.
    pub tls: bool,
    /// Normalised lowercase hex SHA-256 pin.
    pub tls_fingerprint: Option<String>,
    /// Always starts with `/` when present.
    pub context_path: Option<String>,
}

/// A flag combination or value that cannot work. Messages are upstream's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointError {
    /// `--port` is not a number from 1 to 65535.
    #[error("Invalid --port. Use a port number from 1 to 65535, for example 18789.")]
    InvalidPort,
    /// `--tls-fingerprint` (or the saved pin) is not a SHA-256 fingerprint.
    #[error("Invalid TLS fingerprint; expected a SHA-256 certificate fingerprint.")]
    InvalidFingerprint,
    /// A pin only means something over TLS.
    #[error("--no-tls cannot be combined with --tls-fingerprint")]
    NoTlsWithFingerprint,
}

/// Resolves the endpoint of this run from the flags, the saved gateway and the config's
/// `gateway.tls.enabled`, following upstream's rules: flags win; a changed host or port
/// drops the saved TLS pin and context path, since they described another server.
pub fn resolve_endpoint(
    flags: &EndpointFlags,
    saved: Option<&SavedGateway>,
    config_tls_enabled: Option<bool>,
) -> Result<Endpoint, EndpointError> {
    let baseline_host = saved.and_then(|s| s.host.clone()).unwrap_or_else(|| DEFAULT_HOST.to_string());
    let baseline_port = saved.and_then(|s| s.port).and_then(|p| u16::try_from(p).ok()).unwrap_or(DEFAULT_PORT);
    let host = flags
        .host
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(String::from)
        .unwrap_or(baseline_host.clone());
    let port = match &flags.port {
        Some(p) => parse_port(p).ok_or(EndpointError::InvalidPort)?,
        None => baseline_port,
    };
    let changed = host != baseline_host || port != baseline_port;

    if flags.tls == Some(false) && flags.tls_fingerprint.is_some() {
        return Err(EndpointError::NoTlsWithFingerprint);
    }
    let fingerprint = match (flags.tls, &flags.tls_fingerprint) {
        (Some(false), _) => None,
        (_, Some(fp)) => Some(normalize_fingerprint(fp).map_err(|_| EndpointError::InvalidFingerprint)?),
        _ if changed => None,
        _ => saved
            .and_then(|s| s.tls_fingerprint.as_deref())
            .map(normalize_fingerprint)
            .transpose()
            .map_err(|_| EndpointError::InvalidFingerprint)?,
    };
    let tls = match flags.tls {
        Some(explicit) => explicit,
        None if fingerprint.is_some() => true,
        None if changed => config_tls_enabled.unwrap_or(false),
        None => saved.and_then(|s| s.tls).or(config_tls_enabled).unwrap_or(false),
    };
    let context_path = match flags.context_path.as_deref() {
        Some(p) if !p.trim().is_empty() => Some(p.trim().to_string()),
        Some(_) => None,
        None if changed => None,
        None => saved.and_then(|s| s.context_path.clone()),
    }
    .map(|p| if p.starts_with('/') { p } else { format!("/{p}") });
    Ok(Endpoint { host, port, tls, tls_fingerprint: fingerprint, context_path })
}

fn parse_port(text: &str) -> Option<u16> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse::<u16>().ok().filter(|p| *p >= 1)
}

impl Endpoint {
    /// `ws(s)://host:port/context`, with IPv6 hosts bracketed.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}{}", self.port, self.context_path.as_deref().unwrap_or(""))
    }

    /// The form persisted in `nodeHost.config.gateway`. Cloudflare Access settings of the
    /// previous row are kept only when the endpoint is unchanged.
    pub fn to_saved(&self, previous: Option<&SavedGateway>) -> SavedGateway {
        let same =
            previous.is_some_and(|p| p.host.as_deref() == Some(&self.host) && p.port == Some(u32::from(self.port)));
        SavedGateway {
            host: Some(self.host.clone()),
            port: Some(u32::from(self.port)),
            tls: Some(self.tls),
            tls_fingerprint: self.tls_fingerprint.clone(),
            context_path: self.context_path.clone(),
            cloudflare_access: if same { previous.and_then(|p| p.cloudflare_access.clone()) } else { None },
        }
    }

    /// Refuses plaintext `ws://` to anything but loopback and private networks, so neither
    /// credentials nor commands cross the internet unencrypted. `allow_insecure_private` is
    /// `OPENCLAW_ALLOW_INSECURE_PRIVATE_WS=1`, which also admits any hostname (never a public IP).
    pub fn check_plaintext_policy(&self, allow_insecure_private: bool) -> Result<(), PlaintextRefused> {
        if self.tls || is_plaintext_allowed(&self.host, allow_insecure_private) {
            return Ok(());
        }
        Err(PlaintextRefused {
            hostname: bare_host(&self.host).to_ascii_lowercase(),
            break_glass_hint: !allow_insecure_private,
        })
    }
}

/// Plaintext `ws://` to a host outside loopback and private networks was refused. The message
/// is upstream's, including how to get a safe connection instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SECURITY ERROR: Cannot connect to \"{hostname}\" over plaintext ws://. Both credentials and chat data would be exposed to network interception. Use wss:// for remote URLs. Safe defaults: keep gateway.bind=loopback and connect via SSH tunnel (ssh -N -L 18789:127.0.0.1:18789 user@gateway-host), or use Tailscale Serve/Funnel. {}Run `openclaw doctor --fix` for guidance.", if *.break_glass_hint { "Break-glass (trusted private networks only): set OPENCLAW_ALLOW_INSECURE_PRIVATE_WS=1. " } else { "" })]
pub struct PlaintextRefused {
    /// The refused host, lowercased and without brackets.
    pub hostname: String,
    /// Whether to mention the break-glass variable (not when it is already set).
    pub break_glass_hint: bool,
}

/// An operator's `--url` that cannot be dialed. Messages are what the CLI prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not `ws://` or `wss://`, no host, or a bad port.
    #[error("invalid gateway URL {url:?}: expected ws://host:port or wss://host:port")]
    Invalid {
        /// The URL as given.
        url: String,
    },
    /// `--tls-fingerprint` is not a SHA-256 fingerprint.
    #[error("Invalid TLS fingerprint; expected a SHA-256 certificate fingerprint.")]
    InvalidFingerprint,
    /// A pin was given for a plaintext URL.
    #[error("gateway tls fingerprint requires wss:// gateway url")]
    FingerprintNeedsTls,
}

/// Parses `ws://host:port[/path]` or `wss://…` into an endpoint (port defaults to
/// [`DEFAULT_PORT`]). This is how an operator names a gateway; a node uses [`resolve_endpoint`].
pub fn endpoint_from_url(url: &str, tls_fingerprint: Option<&str>) -> Result<Endpoint, UrlError> {
    let bad = || UrlError::Invalid { url: url.to_string() };
    let (tls, rest) = if let Some(r) = url.strip_prefix("wss://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("ws://") {
        (false, r)
    } else {
        return Err(bad());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').ok_or_else(bad)?;
        let host = format!("[{}]", &v6[..end]);
        let port = v6[end + 1..].strip_prefix(':');
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?,
        None => DEFAULT_PORT,
    };
    let tls_fingerprint = match tls_fingerprint {
        Some(f) => Some(normalize_fingerprint(f).map_err(|_| UrlError::InvalidFingerprint)?),
        None => None,
    };
    if tls_fingerprint.is_some() && !tls {
        return Err(UrlError::FingerprintNeedsTls);
    }
    Ok(Endpoint { host, port, tls, tls_fingerprint, context_path: path.filter(|p| *p != "/").map(String::from) })
}

/// A setup code's URL (`ws(s)://host[:port][/path]`, already checked as normalised) as an
/// endpoint. Unlike an operator's `--url`, a URL without a port means the scheme's default
/// port (80 for `ws`, 443 for `wss`), as upstream's URL parser reads it.
pub fn endpoint_from_setup_url(url: &str, tls_fingerprint: Option<&str>) -> Result<Endpoint, UrlError> {
    let mut endpoint = endpoint_from_url(url, tls_fingerprint)?;
    let authority = url.split_once("://").map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    let explicit_port = authority.rsplit_once(':').is_some_and(|(_, port)| !port.contains(']'));
    if !explicit_port {
        endpoint.port = if endpoint.tls { 443 } else { 80 };
    }
    Ok(endpoint)
}

/// The host without IPv6 brackets or surrounding whitespace: the form sockets, TLS server
/// names and the IP rules need.
pub fn bare_host(host: &str) -> &str {
    host.trim().trim_start_matches('[').trim_end_matches(']')
}

/// The plaintext rule on a bare host name (`nodehost.md` §4), exposed so callers can decide
/// before building an [`Endpoint`].
pub fn is_plaintext_allowed(host: &str, allow_insecure_private: bool) -> bool {
    let h = bare_host(host).to_ascii_lowercase();
    let no_dots = h.trim_end_matches('.');
    if no_dots == "localhost" {
        return true;
    }
    if let Some(ip) = parse_canonical_ip(&h) {
        return is_private_ip(ip);
    }
    if no_dots.ends_with(".local") || no_dots.ends_with(".ts.net") {
        return true;
    }
    allow_insecure_private
}

/// Only canonical literals count as IPs: dotted-quad IPv4 (so `127.1` is a hostname) or IPv6.
fn parse_canonical_ip(h: &str) -> Option<IpAddr> {
    if h.contains(':') {
        let v6: Ipv6Addr = h.parse().ok()?;
        return Some(match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        });
    }
    let parts: Vec<&str> = h.split('.').collect();
    if parts.len() != 4 || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    h.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            o[0] == 127
                || o[0] == 10
                || (o[0] == 172 && (16..=31).contains(&o[1]))
                || (o[0] == 192 && o[1] == 168)
                || (o[0] == 169 && o[1] == 254)
                || (o[0] == 100 && (64..=127).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6 == Ipv6Addr::LOCALHOST
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfec0
        }
    }
}

/// True for `localhost` and loopback IP literals: the hosts where a shared secret cannot be
/// intercepted, so clients may skip the device identity or retry with a stored token.
pub fn is_loopback(host: &str) -> bool {
    let h = bare_host(host).to_ascii_lowercase();
    h.trim_end_matches('.') == "localhost" || parse_canonical_ip(&h).is_some_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

    fn saved() -> SavedGateway {
        SavedGateway {
            host: Some("gw.lan".into()),
            port: Some(443),
            tls: Some(true),
            tls_fingerprint: Some(FP.into()),
            context_path: Some("/oc".into()),
            cloudflare_access: None,
        }
    }

    #[test]
    fn defaults_and_saved_baseline() {
        let e = resolve_endpoint(&EndpointFlags::default(), None, None).unwrap();
        assert_eq!(e.url(), "ws://127.0.0.1:18789");
        let e = resolve_endpoint(&EndpointFlags::default(), Some(&saved()), None).unwrap();
        assert_eq!(e.url(), "wss://gw.lan:443/oc");
        assert_eq!(e.tls_fingerprint.as_deref(), Some(FP));
    }

    #[test]
    fn changed_endpoint_drops_pin_and_context() {
        let flags = EndpointFlags { host: Some("other".into()), ..Default::default() };
        let e = resolve_endpoint(&flags, Some(&saved()), None).unwrap();
        assert_eq!((e.tls, e.tls_fingerprint.clone(), e.context_path.clone()), (false, None, None));
        let e = resolve_endpoint(&flags, Some(&saved()), Some(true)).unwrap();
        assert!(e.tls, "gateway.tls.enabled is the fallback");
        let flags = EndpointFlags { port: Some("443".into()), ..Default::default() };
        assert_eq!(resolve_endpoint(&flags, Some(&saved()), None).unwrap().tls_fingerprint.as_deref(), Some(FP));
        let upper = SavedGateway { tls_fingerprint: Some(format!("SHA256:{}", FP.to_uppercase())), ..saved() };
        let e = resolve_endpoint(&EndpointFlags::default(), Some(&upper), None).unwrap();
        assert_eq!(e.tls_fingerprint.as_deref(), Some(FP), "a saved pin is normalised too");
    }

    #[test]
    fn flag_validation() {
        for bad in ["0", "65536", "abc", "", "-1", "18789x"] {
            let flags = EndpointFlags { port: Some(bad.into()), ..Default::default() };
            assert_eq!(resolve_endpoint(&flags, None, None), Err(EndpointError::InvalidPort), "{bad}");
        }
        let flags = EndpointFlags { tls: Some(false), tls_fingerprint: Some(FP.into()), ..Default::default() };
        assert_eq!(resolve_endpoint(&flags, None, None), Err(EndpointError::NoTlsWithFingerprint));
        let flags = EndpointFlags { tls_fingerprint: Some("nope".into()), ..Default::default() };
        assert_eq!(resolve_endpoint(&flags, None, None), Err(EndpointError::InvalidFingerprint));
        let flags =
            EndpointFlags { tls_fingerprint: Some(format!("SHA256:{}", FP.to_uppercase())), ..Default::default() };
        let e = resolve_endpoint(&flags, None, None).unwrap();
        assert!(e.tls && e.tls_fingerprint.as_deref() == Some(FP));
        let flags = EndpointFlags { context_path: Some("gw".into()), host: Some("::1".into()), ..Default::default() };
        assert_eq!(resolve_endpoint(&flags, None, None).unwrap().url(), "ws://[::1]:18789/gw");
    }

    #[test]
    fn plaintext_policy() {
        for ok in [
            "localhost",
            "localhost.",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.1",
            "192.168.1.5",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "[::1]",
            "fe80::1",
            "fd00::1",
            "fec0::1",
            "::ffff:10.0.0.1",
            "nas.local",
            "box.tailnet.ts.net",
            "NAS.LOCAL.",
        ] {
            assert!(is_plaintext_allowed(ok, false), "{ok}");
        }
        for bad in
            ["gateway.example.com", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:db8::1", "127.1", "::ffff:8.8.8.8"]
        {
            assert!(!is_plaintext_allowed(bad, false), "{bad}");
        }
        assert!(is_plaintext_allowed("gateway.example.com", true));
        assert!(is_plaintext_allowed("127.1", true), "shorthand counts as a hostname");
        assert!(!is_plaintext_allowed("8.8.8.8", true), "public IP literals stay refused");
        let e = Endpoint { host: "8.8.8.8".into(), port: 1, tls: false, tls_fingerprint: None, context_path: None };
        let msg = e.check_plaintext_policy(false).unwrap_err().to_string();
        assert!(msg.starts_with("SECURITY ERROR: Cannot connect to \"8.8.8.8\" over plaintext ws://."));
        assert!(msg.contains("Break-glass"));
        assert_eq!(
            msg,
            "SECURITY ERROR: Cannot connect to \"8.8.8.8\" over plaintext ws://. Both credentials and chat data would be exposed to network interception. Use wss:// for remote URLs. Safe defaults: keep gateway.bind=loopback and connect via SSH tunnel (ssh -N -L 18789:127.0.0.1:18789 user@gateway-host), or use Tailscale Serve/Funnel. Break-glass (trusted private networks only): set OPENCLAW_ALLOW_INSECURE_PRIVATE_WS=1. Run `openclaw doctor --fix` for guidance."
        );
        assert!(!e.check_plaintext_policy(true).unwrap_err().to_string().contains("Break-glass"));
        assert!(Endpoint { tls: true, ..e }.check_plaintext_policy(false).is_ok());
        assert!(is_loopback("127.0.0.2") && is_loopback("[::1]") && is_loopback("localhost"));
        assert!(!is_loopback("10.0.0.1") && !is_loopback("127.1"));
    }

    #[test]
    fn urls() {
        let e = endpoint_from_url("ws://127.0.0.1:1234", None).unwrap();
        assert_eq!((e.host.as_str(), e.port, e.tls), ("127.0.0.1", 1234, false));
        let e = endpoint_from_url("wss://[::1]:9/gw", Some(&"AB".repeat(32))).unwrap();
        assert_eq!((e.host.as_str(), e.port, e.tls, e.context_path.as_deref()), ("[::1]", 9, true, Some("/gw")));
        assert_eq!(e.url(), "wss://[::1]:9/gw");
        assert_eq!(endpoint_from_url("ws://box", None).unwrap().port, 18789);
        // A setup code's URL without a port is the scheme's default port, as upstream reads it.
        assert_eq!(endpoint_from_setup_url("ws://box", None).unwrap().port, 80);
        assert_eq!(endpoint_from_setup_url("wss://[::1]/gw", None).unwrap().port, 443);
        assert_eq!(endpoint_from_setup_url("wss://[::1]:9/gw", None).unwrap().port, 9);
        assert!(endpoint_from_url("http://box", None).is_err());
        assert!(endpoint_from_url("ws://box:0", None).is_err());
        assert!(endpoint_from_url("ws://box:1", Some(&"ab".repeat(32))).is_err());
    }

    #[test]
    fn url_error_messages_are_the_cli_ones() {
        assert_eq!(
            endpoint_from_url("http://box", None).unwrap_err().to_string(),
            "invalid gateway URL \"http://box\": expected ws://host:port or wss://host:port"
        );
        assert_eq!(
            endpoint_from_url("wss://box", Some("nope")).unwrap_err().to_string(),
            "Invalid TLS fingerprint; expected a SHA-256 certificate fingerprint."
        );
        assert_eq!(
            endpoint_from_url("ws://box:1", Some(&"ab".repeat(32))).unwrap_err().to_string(),
            "gateway tls fingerprint requires wss:// gateway url"
        );
    }
}
