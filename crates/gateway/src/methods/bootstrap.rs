//! `device.pair.setupCode`: setup codes and join URLs, how a new device pairs in one step
//! (`docs/upstream-facts/gateway-onboarding.md` §1).
//!
//! The code carries the gateway URL a device should dial, resolved as upstream does: the
//! request's or the config's public URL, then `gateway.remote.url`, then the address the
//! gateway listens on unless that is loopback. Plaintext `ws://` is allowed only for hosts on
//! the local network, and a mobile code for a plaintext URL is downgraded to limited access.
//! Admin only, and not advertised in `hello-ok` (as upstream).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;

use openclaw_protocol::setup_code::{normalize_gateway_url, SetupPayload};
use openclaw_protocol::tls::normalize_fingerprint;
use openclaw_protocol::{ErrorCode, ErrorShape};
use serde_json::{json, Value};

use super::{invalid, obj, Access, Call, Handler, Method};
use crate::pairing::{BootstrapProfile, SCOPE_ADMIN};
use crate::schema::{opt, string, Shape};
use crate::{AuthMode, Shared};

/// The setup-code methods.
pub(super) const METHODS: &[Method] = &[Method {
    name: "device.pair.setupCode",
    access: Access::Operator(SCOPE_ADMIN),
    handler: Handler::Sync(setup_code),
}];

/// Methods served but left out of `hello-ok.features.methods`, as upstream leaves them out.
pub(super) const UNADVERTISED: &[&str] = &["device.pair.setupCode"];

fn setup_code(call: &Call<'_>) -> Result<Value, ErrorShape> {
    static SHAPE: LazyLock<Shape> = LazyLock::new(|| {
        obj(vec![
            opt("publicUrl", string()),
            opt("preferRemoteUrl", Shape::Bool),
            opt("includeQr", Shape::Bool),
            opt("bootstrapProfile", Shape::Enum(&["limited", "node", "voice-node"])),
            opt("joinUrl", Shape::Bool),
        ])
    });
    call.check(&SHAPE)?;
    let p = call.params;
    let join = p["joinUrl"] == json!(true);
    let requested = p["bootstrapProfile"].as_str();
    if join && requested.is_some_and(|r| r != "node") {
        return Err(invalid("Join URLs require bootstrapProfile=node."));
    }
    let prefer_remote = p["preferRemoteUrl"] == json!(true);
    let request_public_url = p["publicUrl"].as_str();
    let shared = call.shared;
    let auth = match &shared.config.auth {
        AuthMode::Token(_) => "token",
        AuthMode::Password(_) => "password",
        AuthMode::None => {
            return Err(invalid(
                "Pairing setup requires gateway.auth.mode \"token\" or \"password\"; current mode is \"none\".",
            ))
        }
    };
    let public_url = request_public_url
        .or(if prefer_remote { None } else { shared.config.pairing_public_url.as_deref() })
        .filter(|u| !u.trim().is_empty());
    let (url, source) = resolve_url(shared, public_url, prefer_remote).map_err(invalid)?;
    if let Some(problem) = cleartext_problem(&url, source) {
        return Err(invalid(problem));
    }
    let mut profile = match (join, requested) {
        (true, _) | (_, Some("node")) => BootstrapProfile::Node,
        (_, Some("voice-node")) => BootstrapProfile::VoiceNode,
        (_, Some(_)) => BootstrapProfile::Limited,
        (_, None) => BootstrapProfile::MobileFull,
    };
    let downgraded = profile == BootstrapProfile::MobileFull && !full_access_url(&url);
    if downgraded {
        profile = BootstrapProfile::Limited;
    }
    let tls_fingerprint = match (url.starts_with("wss://"), source) {
        (true, s) if s.starts_with("gateway.bind=") => shared.tls_fingerprint.clone(),
        (true, "gateway.remote.url") => match shared.config.remote_url.as_ref().and_then(|(_, pin)| pin.as_deref()) {
            Some(pin) => Some(normalize_fingerprint(pin).map_err(|_| invalid("Gateway TLS fingerprint is invalid."))?),
            None => None,
        },
        _ => None,
    };
    // Checked before a token is issued, so a refusal leaves nothing behind.
    let join_base = if join { Some(join_base_url(&url)?) } else { None };

    let now = openclaw_state::now_ms();
    let mut pairing = shared.pairing();
    let token = pairing.issue_bootstrap(profile, now).map_err(|e| unavailable(&e.to_string()))?;
    let payload = SetupPayload {
        url: url.clone(),
        urls: None,
        bootstrap_token: token.token.clone(),
        expires_at_ms: Some(token.expires_at_ms() as u64),
        tls_fingerprint,
    };
    let join_url = match join_base {
        Some(base) => {
            let code = pairing
                .register_join_code(&payload, token.expires_at_ms(), now)
                .map_err(|e| unavailable(&e.to_string()))?;
            Some(format!("{}/j/{code}", base.trim_end_matches('/')))
        }
        None => None,
    };
    drop(pairing);
    tracing::info!("device pairing setup code issued setup={} access={}", token.setup_id, profile.access());
    let mut result = json!({
        "setupId": token.setup_id,
        "expiresAtMs": token.expires_at_ms(),
        "setupCode": payload.encode(),
    });
    if let Some(join_url) = join_url {
        result["joinUrl"] = json!(join_url);
    }
    if p["includeQr"] != json!(false) {
        if let Some(qr) = super::qr_png::data_url(&payload.encode()) {
            result["qrDataUrl"] = json!(qr);
        }
    }
    result["gatewayUrl"] = json!(url);
    result["auth"] = json!(auth);
    result["urlSource"] = json!(if request_public_url.is_some() { "request.publicUrl" } else { source });
    result["access"] = json!(profile.access());
    if downgraded {
        result["accessDowngraded"] = json!(true);
    }
    Ok(result)
}

fn unavailable(message: &str) -> ErrorShape {
    tracing::error!("device.pair.setupCode failed on gateway state: {message}");
    ErrorShape::new(ErrorCode::Unavailable, "gateway state unavailable; retry shortly")
}

/// The URL devices should dial and where it came from (`urlSource`).
fn resolve_url(
    shared: &Shared,
    public_url: Option<&str>,
    prefer_remote: bool,
) -> Result<(String, &'static str), &'static str> {
    let config = &shared.config;
    let scheme = if config.tls.is_some() { "wss" } else { "ws" };
    if let Some(raw) = public_url {
        let url = normalize_gateway_url(raw, scheme).ok_or("Configured publicUrl is invalid.")?;
        return Ok((url, "plugins.entries.device-pair.config.publicUrl"));
    }
    let remote = match &config.remote_url {
        Some((raw, _)) => Some(normalize_gateway_url(raw, scheme).ok_or("Configured gateway.remote.url is invalid.")?),
        None => None,
    };
    if let (true, Some(url)) = (prefer_remote, &remote) {
        return Ok((url.clone(), "gateway.remote.url"));
    }
    if let Some(url) = remote {
        return Ok((url, "gateway.remote.url"));
    }
    let port = config.listen.port();
    let ip = config.listen.ip();
    if ip.is_unspecified() {
        let host = private_lan_ipv4().ok_or("gateway.bind=lan set, but no private LAN IP was found.")?;
        return Ok((format!("{scheme}://{host}:{port}"), "gateway.bind=lan"));
    }
    if !ip.is_loopback() {
        let host = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        return Ok((format!("{scheme}://{host}:{port}"), "gateway.bind=custom"));
    }
    Err("Gateway is only bound to loopback. Set gateway.bind=lan, enable tailscale serve, or configure plugins.entries.device-pair.config.publicUrl.")
}

/// The first private (RFC 1918) IPv4 address of an interface that is up, which a gateway
/// listening on every interface advertises.
fn private_lan_ipv4() -> Option<Ipv4Addr> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    addrs
        .filter(|a| a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP))
        .filter_map(|a| a.address.and_then(|s| s.as_sockaddr_in().map(|v4| v4.ip())))
        .find(|ip| ip.is_private())
}

/// The host of a normalised `ws(s)://` URL, without brackets.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    }
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// Whether a mobile code for `url` may keep full access: TLS, or plaintext on this machine.
fn full_access_url(url: &str) -> bool {
    url.starts_with("wss://") || is_loopback_host(url_host(url))
}

/// Why a `ws://` URL may not be put in a code: only local-network hosts may be dialled in
/// plaintext. `None` when it may.
fn cleartext_problem(url: &str, source: &str) -> Option<String> {
    if url.starts_with("wss://") {
        return None;
    }
    let host = url_host(url).trim_end_matches('.');
    let host = host.split('%').next().unwrap_or("");
    let private = match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        Ok(IpAddr::V6(v6)) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xffc0) == 0xfe80 || (first & 0xfe00) == 0xfc00
        }
        Err(_) => host == "localhost" || host.ends_with(".local") || host == "10.0.2.2",
    };
    (!private).then(|| {
        format!(
            "Tailscale and public mobile pairing require a secure gateway URL (wss://) or Tailscale Serve/Funnel. \
             Resolved source: {source}. Fix: use a private LAN address, prefer gateway.tailscale.mode=serve, or set \
             gateway.remote.url / plugins.entries.device-pair.config.publicUrl to a wss:// URL. ws:// is only valid \
             for localhost, private LAN addresses, .local hosts, or the Android emulator."
        )
    })
}

/// Where a join URL points: the gateway's URL over HTTPS, or over HTTP on loopback.
fn join_base_url(url: &str) -> Result<String, ErrorShape> {
    if let Some(rest) = url.strip_prefix("wss://") {
        return Ok(format!("https://{rest}"));
    }
    match url.strip_prefix("ws://") {
        Some(rest) if is_loopback_host(url_host(url)) => Ok(format!("http://{rest}")),
        _ => Err(ErrorShape::new(
            ErrorCode::Unavailable,
            // Upstream answers with the thrown error as text, `Error: ` and all.
            "Error: Join URLs require a TLS gateway endpoint, except for loopback. Use the setup code directly for plaintext LAN pairing.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_only_on_the_local_network() {
        for ok in [
            "ws://127.0.0.1:1",
            "ws://10.1.2.3:1",
            "ws://192.168.1.2",
            "ws://box.local",
            "ws://[fd00::1]:1",
            "wss://x.com",
        ] {
            assert_eq!(cleartext_problem(ok, "s"), None, "{ok}");
        }
        for bad in ["ws://8.8.8.8:1", "ws://gw.example.com", "ws://100.64.0.1:1"] {
            assert!(cleartext_problem(bad, "s").unwrap().contains("Resolved source: s."), "{bad}");
        }
        assert!(full_access_url("ws://localhost:1") && full_access_url("wss://x") && !full_access_url("ws://10.0.0.1"));
    }

    #[test]
    fn join_urls_need_tls_or_loopback() {
        assert_eq!(join_base_url("ws://127.0.0.1:18789").unwrap(), "http://127.0.0.1:18789");
        assert_eq!(join_base_url("wss://gw.example.com/base").unwrap(), "https://gw.example.com/base");
        assert_eq!(join_base_url("ws://10.0.0.2:1").unwrap_err().code, "UNAVAILABLE");
    }
}
