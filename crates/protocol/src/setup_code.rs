//! Pairing setup codes: what `node run --pair`, `openclaw connect` and a gateway's join URL
//! carry to onboard a node in one step (`nodehost.md` §1.4, `onboarding.md`).
//!
//! A setup code is the base64url (no padding) of a JSON object `{url, urls?, bootstrapToken,
//! expiresAtMs?, tlsFingerprint?}`, optionally written as `oc-pair://<code>`. A join URL's
//! body is the same object as plain JSON. Decoding checks what upstream checks, in its order,
//! and fails with its three messages; the bootstrap token is a secret and never printed
//! (`Debug` redacts it).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::tls::normalize_fingerprint;

/// The most gateway URLs a setup code may list.
pub const MAX_URLS: usize = 8;
/// The URL form of a setup code (the prefix is matched case-insensitively).
pub const URL_PREFIX: &str = "oc-pair://";

/// A decoded, validated setup code.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupPayload {
    /// The gateway's primary URL, `ws(s)://host[:port][/path]` in normalised form.
    pub url: String,
    /// Every URL to try, in order (1 to [`MAX_URLS`]); absent means just `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// The single-use token the gateway pairs the node with.
    pub bootstrap_token: String,
    /// When the code stops working (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
    /// The certificate pin of `url` (lowercase hex SHA-256); applies to that URL only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_fingerprint: Option<String>,
}

impl std::fmt::Debug for SetupPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupPayload")
            .field("url", &self.url)
            .field("urls", &self.urls)
            .field("bootstrap_token", &"<redacted>")
            .field("expires_at_ms", &self.expires_at_ms)
            .field("tls_fingerprint", &self.tls_fingerprint)
            .finish()
    }
}

/// Why a setup code was refused. The messages are upstream's, word for word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SetupCodeError {
    /// Not base64url of JSON.
    #[error("Invalid pairing setup code or URL.")]
    Malformed,
    /// JSON, but not a valid payload.
    #[error("Invalid pairing setup payload.")]
    InvalidPayload,
    /// `expiresAtMs` is not in the future.
    #[error("Pairing setup code has expired.")]
    Expired,
}

impl SetupPayload {
    /// Every URL to try, in order: `urls`, else `url` alone.
    pub fn candidates(&self) -> Vec<String> {
        self.urls.clone().unwrap_or_else(|| vec![self.url.clone()])
    }

    /// The setup code (base64url of the JSON, no padding), as `openclaw qr` prints it.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_string(self).expect("a setup payload serialises"))
    }

    /// Decodes `oc-pair://<code>` or a bare code, checked as upstream checks it at `now_ms`.
    pub fn decode(input: &str, now_ms: i64) -> Result<SetupPayload, SetupCodeError> {
        let trimmed = input.trim();
        let code = match trimmed.get(..URL_PREFIX.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(URL_PREFIX) => &trimmed[URL_PREFIX.len()..],
            _ => trimmed,
        };
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(SetupCodeError::Malformed);
        }
        // Node's base64url decoder ignores a dangling sixth bit group; so does this.
        let bytes = decode_lenient(code).ok_or(SetupCodeError::Malformed)?;
        let text = String::from_utf8_lossy(&bytes);
        let value: Value = serde_json::from_str(&text).map_err(|_| SetupCodeError::Malformed)?;
        Self::from_json(&value, now_ms)
    }

    /// Checks a payload already parsed from JSON (a join URL's body), as [`Self::decode`]
    /// checks the decoded code.
    pub fn from_json(value: &Value, now_ms: i64) -> Result<SetupPayload, SetupCodeError> {
        let Value::Object(object) = value else { return Err(SetupCodeError::InvalidPayload) };
        let invalid = SetupCodeError::InvalidPayload;
        let url = trimmed_string(object, "url").ok_or(invalid)?;
        let bootstrap_token = trimmed_string(object, "bootstrapToken").ok_or(invalid)?;
        if !is_normalized_ws_url(&url) {
            return Err(invalid);
        }
        let urls = match object.get("urls") {
            None => None,
            Some(Value::Array(list)) if (1..=MAX_URLS).contains(&list.len()) => Some(
                list.iter()
                    .map(|u| u.as_str().filter(|u| is_normalized_ws_url(u)).map(String::from))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(invalid)?,
            ),
            Some(_) => return Err(invalid),
        };
        let expires_at_ms = match object.get("expiresAtMs") {
            None => None,
            Some(v) => {
                let ms = safe_non_negative_integer(v).ok_or(invalid)?;
                // A safe integer (below 2^53) always fits an i64.
                if ms as i64 <= now_ms {
                    return Err(SetupCodeError::Expired);
                }
                Some(ms)
            }
        };
        let tls_fingerprint = match object.get("tlsFingerprint") {
            None => None,
            Some(Value::String(f)) => Some(normalize_fingerprint(f).map_err(|_| invalid)?),
            Some(_) => return Err(invalid),
        };
        Ok(SetupPayload { url, urls, bootstrap_token, expires_at_ms, tls_fingerprint })
    }
}

/// A string field, trimmed, when it is a non-blank string.
fn trimmed_string(object: &Map<String, Value>, key: &str) -> Option<String> {
    object.get(key)?.as_str().map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

/// `Number.isSafeInteger(n) && n >= 0`.
fn safe_non_negative_integer(value: &Value) -> Option<u64> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    let n = value.as_f64()?;
    (n.fract() == 0.0 && (0.0..=MAX_SAFE).contains(&n)).then_some(n as u64)
}

/// base64url without padding, tolerating the trailing bits Node tolerates (a code whose length
/// is 1 mod 4 loses its last character, as Node's decoder drops it).
fn decode_lenient(code: &str) -> Option<Vec<u8>> {
    let usable = if code.len() % 4 == 1 { &code[..code.len() - 1] } else { code };
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
    .decode(usable)
    .ok()
}

/// Whether `url` is a `ws://` or `wss://` URL exactly as the WHATWG URL parser would print it
/// back: lowercase scheme and host, no credentials, no default port, no bare `/` path, no
/// query or fragment. Upstream requires `normalizeUrl(url) === url`; this is that test for
/// the URLs a gateway writes (host names, dotted IPv4, bracketed IPv6).
pub fn is_normalized_ws_url(url: &str) -> bool {
    let (rest, default_port) = match (url.strip_prefix("ws://"), url.strip_prefix("wss://")) {
        (Some(rest), _) => (rest, "80"),
        (_, Some(rest)) => (rest, "443"),
        _ => return false,
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    // Dot segments, also percent-encoded ones, are resolved away by the URL parser.
    let dot_segment = |s: &str| matches!(s.to_ascii_lowercase().replace("%2e", ".").as_str(), "." | "..");
    if path == "/" || !path.bytes().all(is_path_byte) || path.split('/').any(dot_segment) {
        return false;
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, tail)) => {
                // The parser prints an embedded IPv4 part in hex: a dotted one is not normalised.
                if addr.contains('.') || !addr.parse::<std::net::Ipv6Addr>().is_ok_and(|a| a.to_string() == addr) {
                    return false;
                }
                match tail {
                    "" => (addr, None),
                    _ => match tail.strip_prefix(':') {
                        Some(port) => (addr, Some(port)),
                        None => return false,
                    },
                }
            }
            None => return false,
        },
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && !(port.len() > 1 && port.starts_with('0'))
            && port.parse::<u16>().is_ok()
            && port != default_port;
        if !valid {
            return false;
        }
    }
    if authority.starts_with('[') {
        return true;
    }
    let host_chars = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.' || b == b'_';
    if host.is_empty() || !host.bytes().all(host_chars) {
        return false;
    }
    // A host whose last label is numeric is an IPv4 address to the URL parser, printed back
    // as a dotted quad: only the canonical form is unchanged.
    let last = host.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.to_string() == host);
    }
    true
}

/// A gateway URL as a setup code carries it: `ws(s)://host[:port][/path]`, the `http(s)`
/// aliases mapped to their WebSocket schemes, a bare `host[:port]` given `fallback_scheme`,
/// and the default port, a bare `/` path, query and fragment dropped. `None` for anything
/// else (credentials, other schemes, `scheme:` without `//`), and for a form
/// [`is_normalized_ws_url`] would not accept back, so what a gateway puts in a code always
/// decodes. Upstream's `normalizeUrl` for the URLs operators configure.
pub fn normalize_gateway_url(raw: &str, fallback_scheme: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let (scheme, rest) = match raw.split_once("://") {
        Some((scheme, rest)) => {
            let scheme = match scheme.to_ascii_lowercase().as_str() {
                "ws" | "http" => "ws",
                "wss" | "https" => "wss",
                _ => return None,
            };
            (scheme, rest)
        }
        None => {
            // `ws:host` and `foo:/bar` are not host names.
            let lower = raw.to_ascii_lowercase();
            let scheme_like = lower.split_once(':').is_some_and(|(s, tail)| {
                tail.starts_with('/')
                    || (["http", "https", "ws", "wss"].contains(&s) && !tail.bytes().all(|b| b.is_ascii_digit()))
            });
            if scheme_like {
                return None;
            }
            (fallback_scheme, raw.split('/').next().unwrap_or(""))
        }
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    if authority.contains('@') || authority.is_empty() {
        return None;
    }
    let default_port = if scheme == "ws" { ":80" } else { ":443" };
    let authority = authority.to_ascii_lowercase();
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    let path = if path == "/" { "" } else { path };
    let url = format!("{scheme}://{authority}{path}");
    is_normalized_ws_url(&url).then_some(url)
}

/// Path bytes the URL parser keeps as they are.
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@%".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn gateway_urls_are_normalised_or_refused() {
        let n = |raw: &str| normalize_gateway_url(raw, "ws");
        assert_eq!(n("ws://127.0.0.1:18789").as_deref(), Some("ws://127.0.0.1:18789"));
        assert_eq!(n(" WSS://GW.Example.com:443/ ").as_deref(), Some("wss://gw.example.com"));
        assert_eq!(n("https://gw.example.com/base?x=1#f").as_deref(), Some("wss://gw.example.com/base"));
        assert_eq!(n("http://10.0.0.5:80").as_deref(), Some("ws://10.0.0.5"));
        assert_eq!(n("10.0.0.5:18789/ignored").as_deref(), Some("ws://10.0.0.5:18789"));
        assert_eq!(n("gw.lan").as_deref(), Some("ws://gw.lan"));
        for bad in ["", "ftp://x", "ws://user:pw@x", "ws:x", "foo:/bar", "ws://", "ws://bad host", "ws://x:99999"] {
            assert_eq!(n(bad), None, "{bad}");
        }
    }

    fn code(value: Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    /// Upstream's rules and messages (`decodePairingSetupCode`), case by case.
    #[test]
    fn decodes_and_refuses_as_upstream() {
        let good = json!({"url": "ws://127.0.0.1:18789", "bootstrapToken": " tok ", "expiresAtMs": NOW + 1});
        let payload = SetupPayload::decode(&format!("OC-PAIR://{}", code(good.clone())), NOW).unwrap();
        assert_eq!(payload.bootstrap_token, "tok");
        assert_eq!(payload.candidates(), ["ws://127.0.0.1:18789"]);
        assert!(!format!("{payload:?}").contains("tok\""), "Debug redacts the token");
        assert_eq!(SetupPayload::decode(&payload.encode(), NOW).unwrap(), payload);

        let err = |v: Value| SetupPayload::decode(&code(v), NOW).unwrap_err();
        assert_eq!(SetupPayload::decode("not a code!", NOW), Err(SetupCodeError::Malformed));
        assert_eq!(SetupPayload::decode("", NOW), Err(SetupCodeError::Malformed));
        assert_eq!(SetupPayload::decode(&URL_SAFE_NO_PAD.encode("{nope"), NOW), Err(SetupCodeError::Malformed));
        assert_eq!(err(json!([1])), SetupCodeError::InvalidPayload);
        assert_eq!(err(json!({"url": "ws://h:1"})), SetupCodeError::InvalidPayload);
        assert_eq!(err(json!({"url": "ws://h:1", "bootstrapToken": "t", "expiresAtMs": NOW})), SetupCodeError::Expired);
        assert_eq!(
            err(json!({"url": "ws://h:1", "bootstrapToken": "t", "expiresAtMs": 1.5})),
            SetupCodeError::InvalidPayload
        );
        let urls = |urls: Value| json!({"url": "ws://h:1", "bootstrapToken": "t", "urls": urls});
        assert_eq!(err(urls(json!([]))), SetupCodeError::InvalidPayload);
        assert_eq!(err(urls(json!(vec!["ws://h:1"; 9]))), SetupCodeError::InvalidPayload);
        assert_eq!(err(urls(json!(["ws://H:1"]))), SetupCodeError::InvalidPayload);
        assert!(SetupPayload::decode(&code(urls(json!(vec!["ws://h:1"; 8]))), NOW).is_ok());
        let pinned = |f: &str| json!({"url": "wss://h", "bootstrapToken": "t", "tlsFingerprint": f});
        assert_eq!(err(pinned("abc")), SetupCodeError::InvalidPayload);
        let pin = "AB".repeat(32);
        let decoded = SetupPayload::decode(&code(pinned(&format!("sha256:{pin}"))), NOW).unwrap();
        assert_eq!(decoded.tls_fingerprint, Some("ab".repeat(32)));
    }

    /// Only URLs the WHATWG parser prints back unchanged are accepted (`normalizeUrl(url) ===
    /// url`).
    #[test]
    fn urls_must_be_normalized() {
        for good in [
            "ws://127.0.0.1:18789",
            "wss://gw.example.com",
            "wss://gw.example.com:8443/openclaw-gw",
            "ws://[::1]:18789",
            "ws://my-box.local:1/a/b",
        ] {
            assert!(is_normalized_ws_url(good), "{good}");
        }
        for bad in [
            "http://h:1",
            "ws://h:1/",
            "ws://user@h:1",
            "ws://H:1",
            "ws://h:80",
            "wss://h:443",
            "ws://h:01",
            "ws://h:99999",
            "ws://h:1?x=1",
            "ws://h:1#f",
            "ws://127.1:1",
            "ws://[::0:1]:1",
            "ws://h:1/a/../b",
            "ws://h:1/a/%2E%2e/b",
            "ws://[::ffff:1.2.3.4]:1",
            "ws://h:1/a b",
            "ws://",
            "WS://h:1",
        ] {
            assert!(!is_normalized_ws_url(bad), "{bad}");
        }
    }
}
