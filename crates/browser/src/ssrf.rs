//! The navigation SSRF guard (spec/browser.md §2.1, upstream `navigation-guard.ts`).
//!
//! A model drives this browser, so every URL it opens or navigates to is checked before the
//! browser sees it, and the final URL is checked again after redirects: only `http:`, `https:`
//! and `about:blank`; no URL credentials; host names resolved and private, loopback,
//! link-local and other special addresses refused unless `browser.ssrfPolicy` allows them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tokio_tungstenite::tungstenite::http::Uri;

use crate::error::RouteError;
use crate::settings::SsrfPolicy;

/// Upstream's stable message for a blocked destination.
pub const NAVIGATION_BLOCKED: &str = "browser navigation blocked by policy";
const CREDENTIALS_BLOCKED: &str = "Navigation blocked: URL-embedded credentials are not supported for page navigation. Set HTTP Basic auth with `openclaw browser set credentials <username> <password>` or use an authenticated browser profile.";
const STRICT_HOSTNAME: &str = "Navigation blocked: strict browser SSRF policy requires an IP-literal URL because browser DNS rebinding protections are unavailable for hostname-based navigation";

/// True for addresses a page must not reach by default: loopback, RFC 1918, CGNAT, link-local,
/// unspecified, multicast, broadcast, documentation/benchmark/reserved ranges, IPv6 ULA and
/// link-local, and IPv4-mapped forms of all of them.
pub fn is_blocked_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_blocked_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_blocked_v4(v4);
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64 64:ff9b::/96 (may embed private v4)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1)
                || (s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible ::a.b.c.d
        }
    }
}

fn is_blocked_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_multicast()
        || v4.is_broadcast()
        || v4.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF 192.0.0/24
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240 // reserved
}

fn hostname_allowed(host: &str, policy: &SsrfPolicy) -> bool {
    policy.allowed_hostnames.iter().any(|p| match p.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() && host.ends_with(suffix) && host[..host.len() - suffix.len()].ends_with('.')
        }
        None => p == host,
    })
}

/// Checks a URL before the browser is sent to it. Errors are upstream's: 400 with
/// `reason: navigation_blocked`, or 500 when the name does not resolve.
pub async fn assert_navigation_allowed(raw: &str, policy: &SsrfPolicy) -> Result<(), RouteError> {
    let url = raw.trim();
    if url.is_empty() {
        return Err(RouteError::navigation_blocked("url is required"));
    }
    if url == "about:blank" {
        return Ok(());
    }
    let invalid = || {
        RouteError::navigation_blocked(format!(
            "Invalid URL: {}",
            if url.contains('@') { "[redacted credential-bearing URL]" } else { url }
        ))
    };
    let Some((scheme, _)) = url.split_once(':') else { return Err(invalid()) };
    let scheme_lc = scheme.to_ascii_lowercase();
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
        return Err(invalid());
    }
    if scheme_lc != "http" && scheme_lc != "https" {
        return Err(RouteError::navigation_blocked(format!(
            "Navigation blocked: unsupported protocol \"{scheme_lc}:\""
        )));
    }
    let uri: Uri = url.parse().map_err(|_| invalid())?;
    let authority = uri.authority().ok_or_else(invalid)?;
    if authority.as_str().contains('@') {
        return Err(RouteError::navigation_blocked(CREDENTIALS_BLOCKED));
    }
    let host =
        authority.host().trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return Err(invalid());
    }
    let literal = host.parse::<IpAddr>().ok();
    let allowlisted = hostname_allowed(&host, policy);
    if policy.allow_private_network {
        return Ok(());
    }
    if policy.strict && literal.is_none() && !allowlisted {
        return Err(RouteError::navigation_blocked(STRICT_HOSTNAME));
    }
    if allowlisted {
        return Ok(());
    }
    if host == "localhost" || host.ends_with(".localhost") || host == "metadata.google.internal" {
        return Err(RouteError::navigation_blocked(NAVIGATION_BLOCKED));
    }
    let addrs: Vec<IpAddr> = match literal {
        Some(ip) => vec![ip],
        None => {
            let port = authority.port_u16().unwrap_or(if scheme_lc == "https" { 443 } else { 80 });
            match tokio::net::lookup_host((host.as_str(), port)).await {
                Ok(it) => it.map(|sa| sa.ip()).collect(),
                Err(_) => Vec::new(),
            }
        }
    };
    if addrs.is_empty() {
        return Err(RouteError::internal(format!("Unable to resolve hostname: {host}")));
    }
    if addrs.into_iter().any(is_blocked_ip) {
        return Err(RouteError::navigation_blocked(NAVIGATION_BLOCKED));
    }
    Ok(())
}

/// The post-navigation check of a page's final URL: only network URLs and `about:blank` are
/// checked, so browser error pages (`chrome-error://`) pass, as upstream.
pub async fn assert_result_allowed(url: &str, policy: &SsrfPolicy) -> Result<(), RouteError> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("http:") || lower.starts_with("https:") || lower == "about:blank" {
        assert_navigation_allowed(url, policy).await
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn default_policy_blocks_private_and_loopback() {
        let p = SsrfPolicy::default();
        rt().block_on(async {
            for url in [
                "http://127.0.0.1:8080/",
                "http://10.1.2.3/",
                "http://[::1]/",
                "http://localhost/",
                "http://169.254.169.254/",
            ] {
                let e = assert_navigation_allowed(url, &p).await.unwrap_err();
                assert_eq!(
                    (e.status, e.message.as_str(), e.reason),
                    (400, NAVIGATION_BLOCKED, Some("navigation_blocked")),
                    "{url}"
                );
            }
            assert!(assert_navigation_allowed("about:blank", &p).await.is_ok());
            assert!(assert_navigation_allowed("http://93.184.215.14/", &p).await.is_ok());
        });
    }

    #[test]
    fn upstream_texts() {
        let p = SsrfPolicy::default();
        rt().block_on(async {
            let e = assert_navigation_allowed("file:///etc/passwd", &p).await.unwrap_err();
            assert_eq!(e.message, "Navigation blocked: unsupported protocol \"file:\"");
            let e = assert_navigation_allowed("http://u:p@93.184.215.14/", &p).await.unwrap_err();
            assert!(e.message.starts_with("Navigation blocked: URL-embedded credentials"));
            let e = assert_navigation_allowed("  ", &p).await.unwrap_err();
            assert_eq!(e.message, "url is required");
            let strict = SsrfPolicy { strict: true, ..Default::default() };
            let e = assert_navigation_allowed("http://example.com/", &strict).await.unwrap_err();
            assert_eq!(e.message, STRICT_HOSTNAME);
        });
    }

    #[test]
    fn policy_allows() {
        rt().block_on(async {
            let open = SsrfPolicy { allow_private_network: true, ..Default::default() };
            assert!(assert_navigation_allowed("http://127.0.0.1:1/", &open).await.is_ok());
            let listed = SsrfPolicy { allowed_hostnames: vec!["*.corp.test".into()], ..Default::default() };
            assert!(assert_navigation_allowed("http://a.corp.test/", &listed).await.is_ok());
            assert!(assert_result_allowed("chrome-error://chromewebdata/", &SsrfPolicy::default()).await.is_ok());
        });
    }

    #[test]
    fn special_ranges() {
        for ip in ["100.64.0.1", "0.1.2.3", "::ffff:192.168.1.1", "fd00::1", "fe80::1", "240.0.0.1"] {
            assert!(is_blocked_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2606:4700::1111"] {
            assert!(!is_blocked_ip(ip.parse().unwrap()), "{ip}");
        }
    }
}
