//! `openclaw connect <target>`: from what the user pasted to a checked [`SetupPayload`]
//! (`onboarding.md`; upstream's `resolveConnectTarget` and `fetchJoinPayload`).
//!
//! A target that is an `http(s)://` URL is a gateway's join URL, `…/j/<22-character code>`,
//! fetched once with a plain `GET` (the gateway deletes the code as it answers). Anything
//! else is a setup code (`oc-pair://…` or bare). Plain `http` is only for loopback, since
//! the answer is a pairing secret; `https` is verified like a `wss://` gateway without a pin
//! (WebPKI roots plus `NODE_EXTRA_CA_CERTS`). No redirect is followed, the answer may not
//! exceed 24 KiB and the whole fetch 15 s, as upstream. Failures carry upstream's messages,
//! and none of them contains the token.

use std::sync::Arc;
use std::time::Duration;

use openclaw_protocol::setup_code::{SetupCodeError, SetupPayload};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::endpoint::{bare_host, is_loopback};

/// How long the whole fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest join answer body read.
pub const MAX_BODY_BYTES: usize = 24 * 1024;
/// The largest response head (status line and headers) read.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The length of a join code.
const CODE_LEN: usize = 22;

/// Why a connect target gave no setup payload. Messages are upstream's.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The target is neither a URL nor a valid setup code.
    #[error(transparent)]
    SetupCode(#[from] SetupCodeError),
    /// An http(s) URL whose path does not end in `/j/<code>`, or with credentials, a query or
    /// a fragment.
    #[error("Join URL must end with the exact /j/<shortcode> form.")]
    NotAJoinUrl,
    /// `http://` to something other than loopback.
    #[error("Plain HTTP join URLs are allowed only for loopback gateways.")]
    PlainHttp,
    /// The gateway answered, but not with JSON and a 2xx status.
    #[error("Gateway join code was not found or has expired.")]
    NotFound,
    /// A 2xx JSON answer that is not UTF-8 JSON.
    #[error("Gateway returned an invalid pairing payload.")]
    InvalidBody,
    /// Anything else (network, TLS, timeout, redirect, oversized body, a payload that fails
    /// the setup-code checks): upstream says only this; the cause is kept for the debug log.
    #[error("Could not fetch the Gateway join payload securely.")]
    Unfetchable(String),
}

/// A parsed join URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinUrl {
    /// `https` rather than `http`.
    pub tls: bool,
    /// Host as written (IPv6 with brackets), lowercased: the `Host` header's host.
    pub host: String,
    /// TCP port (80 or 443 when the URL has none).
    pub port: u16,
    /// Whether the URL named the port (then the `Host` header does too).
    pub explicit_port: bool,
    /// The path, ending in `/j/<code>`.
    pub path: String,
}

impl JoinUrl {
    /// `None` when `target` is not an `http(s)` URL at all (then it is a setup code);
    /// otherwise the URL or why it cannot be a join URL.
    pub fn parse(target: &str) -> Option<Result<JoinUrl, JoinError>> {
        let target = target.trim();
        let scheme_end = target.find("://")?;
        let tls = match target[..scheme_end].to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        Some(Self::parse_rest(&target[scheme_end + 3..], tls))
    }

    fn parse_rest(rest: &str, tls: bool) -> Result<JoinUrl, JoinError> {
        // Only visible ASCII: what a URL parser would strip or percent-encode (spaces, line
        // breaks, non-ASCII) must not reach the request line.
        if !rest.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(JoinError::NotAJoinUrl);
        }
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if tail.contains(['?', '#']) || authority.contains('@') {
            return Err(JoinError::NotAJoinUrl);
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (addr, after) = v6.split_once(']').ok_or(JoinError::NotAJoinUrl)?;
                if addr.parse::<std::net::Ipv6Addr>().is_err() || !(after.is_empty() || after.starts_with(':')) {
                    return Err(JoinError::NotAJoinUrl);
                }
                (format!("[{}]", addr.to_ascii_lowercase()), after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
                None => (authority.to_ascii_lowercase(), None),
            },
        };
        if host.is_empty() || host == "[]" {
            return Err(JoinError::NotAJoinUrl);
        }
        let explicit_port = port.is_some_and(|p| !p.is_empty());
        let port = match port.filter(|p| !p.is_empty()) {
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or(JoinError::NotAJoinUrl)?,
            None if tls => 443,
            None => 80,
        };
        let code = tail.rsplit_once("/j/").map(|(_, code)| code).unwrap_or("");
        let code_ok =
            code.len() == CODE_LEN && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !code_ok || !tail.ends_with(&format!("/j/{code}")) {
            return Err(JoinError::NotAJoinUrl);
        }
        if !tls && !is_loopback(&host) {
            return Err(JoinError::PlainHttp);
        }
        Ok(JoinUrl { tls, host, port, explicit_port, path: tail.to_string() })
    }

    /// The URL, for messages (it holds no secret: the code is useless once fetched).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let port = if self.explicit_port { format!(":{}", self.port) } else { String::new() };
        format!("{scheme}://{}{port}{}", self.host, self.path)
    }
}

/// Resolves a connect target (a join URL, `oc-pair://…` or a bare setup code) to its checked
/// payload at `now_ms`.
pub async fn resolve_target(target: &str, now_ms: i64) -> Result<SetupPayload, JoinError> {
    match JoinUrl::parse(target) {
        Some(url) => fetch_payload(&url?, now_ms).await,
        None => Ok(SetupPayload::decode(target, now_ms)?),
    }
}

/// Fetches and checks a join URL's payload (single use: the gateway forgets the code).
pub async fn fetch_payload(url: &JoinUrl, now_ms: i64) -> Result<SetupPayload, JoinError> {
    let body = match tokio::time::timeout(FETCH_TIMEOUT, fetch(url)).await {
        Ok(result) => result?,
        Err(_) => return Err(JoinError::Unfetchable(format!("no answer within {} s", FETCH_TIMEOUT.as_secs()))),
    };
    let text = std::str::from_utf8(&body).map_err(|_| JoinError::InvalidBody)?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| JoinError::InvalidBody)?;
    SetupPayload::from_json(&value, now_ms).map_err(|e| JoinError::Unfetchable(e.to_string()))
}

/// One `GET`, over TLS for `https`; the body of a 2xx JSON answer.
async fn fetch(url: &JoinUrl) -> Result<Vec<u8>, JoinError> {
    let unfetchable = |what: &str, e: &dyn std::fmt::Display| JoinError::Unfetchable(format!("{what}: {e}"));
    let tcp = TcpStream::connect((bare_host(&url.host), url.port)).await.map_err(|e| unfetchable("connect", &e))?;
    if !url.tls {
        return exchange(tcp, url).await;
    }
    let config = crate::tls::client_config(None).map_err(|e| unfetchable("tls", &e))?;
    let name = rustls::pki_types::ServerName::try_from(bare_host(&url.host).to_string())
        .map_err(|e| unfetchable("tls server name", &e))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| unfetchable("tls", &e))?;
    exchange(tls, url).await
}

/// Sends the request and reads the answer.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, url: &JoinUrl) -> Result<Vec<u8>, JoinError> {
    let io = |e: std::io::Error| JoinError::Unfetchable(format!("io: {e}"));
    let host = if url.explicit_port { format!("{}:{}", url.host, url.port) } else { url.host.clone() };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nUser-Agent: openclaw-node/{}\r\nConnection: close\r\n\r\n",
        url.path,
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    stream.flush().await.map_err(io)?;

    let mut buf = Vec::with_capacity(4096);
    let (status, json, body_start, length, chunked) = loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(JoinError::Unfetchable("connection closed before the response head".into()));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(head)) => {
                let header = |name: &str| {
                    response
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
                };
                let json = header("content-type").is_some_and(|t| t.starts_with("application/json"));
                let length = header("content-length").and_then(|l| l.parse::<usize>().ok());
                let chunked = header("transfer-encoding").is_some_and(|t| t.contains("chunked"));
                break (response.code.unwrap_or(0), json, head, length, chunked);
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => {}
            Ok(httparse::Status::Partial) => return Err(JoinError::Unfetchable("response head too large".into())),
            Err(e) => return Err(JoinError::Unfetchable(format!("bad response: {e}"))),
        }
    };
    if (300..400).contains(&status) {
        return Err(JoinError::Unfetchable(format!("redirect ({status}) refused")));
    }
    if !(200..300).contains(&status) || !json {
        return Err(JoinError::NotFound);
    }
    let mut raw = buf.split_off(body_start);
    let too_large = || JoinError::Unfetchable(format!("answer larger than {MAX_BODY_BYTES} bytes"));
    if length.is_some_and(|l| l > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    // Room for the chunk-size lines of the largest body.
    let cap = if chunked { MAX_BODY_BYTES * 2 + 1024 } else { MAX_BODY_BYTES };
    let body = loop {
        match (chunked, length) {
            (true, _) => match dechunk(&raw) {
                Chunked::Complete(body) => break body,
                Chunked::Incomplete => {}
                Chunked::Invalid => return Err(JoinError::Unfetchable("bad chunked encoding".into())),
            },
            (false, Some(l)) if raw.len() >= l => {
                raw.truncate(l);
                break raw;
            }
            _ => {}
        }
        if raw.len() > cap {
            return Err(too_large());
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            if chunked || length.is_some() {
                return Err(JoinError::Unfetchable("connection closed before the end of the answer".into()));
            }
            break raw;
        }
        raw.extend_from_slice(&chunk[..n]);
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(body)
}

/// Where a chunked body stands.
#[derive(Debug, PartialEq, Eq)]
enum Chunked {
    /// The last chunk came: the body.
    Complete(Vec<u8>),
    /// More bytes are needed.
    Incomplete,
    /// Not a chunked encoding, or a chunk larger than any acceptable body.
    Invalid,
}

/// Decodes a chunked body as far as it has arrived.
fn dechunk(mut raw: &[u8]) -> Chunked {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") else { return Chunked::Incomplete };
        let size = std::str::from_utf8(&raw[..line_end])
            .ok()
            .and_then(|line| usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size.filter(|size| *size <= MAX_BODY_BYTES) else { return Chunked::Invalid };
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Chunked::Complete(body);
        }
        if raw.len() < size + 2 {
            return Chunked::Incomplete;
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    const CODE: &str = "abcdefghijABCDEFGHIJ-_";

    /// Upstream's classification: http(s) URLs are join URLs and must have the exact form;
    /// everything else is a setup code.
    #[test]
    fn classifies_targets_as_upstream() {
        assert!(JoinUrl::parse("oc-pair://abc").is_none());
        assert!(JoinUrl::parse("eyJ1cmwiOiJ3cyJ9").is_none());
        let url = JoinUrl::parse(&format!("HTTP://127.0.0.1:8/gw/j/{CODE}")).unwrap().unwrap();
        assert_eq!(url.path, format!("/gw/j/{CODE}"));
        assert_eq!(url.url(), format!("http://127.0.0.1:8/gw/j/{CODE}"));
        let https = JoinUrl::parse(&format!("https://GW.example.com/j/{CODE}")).unwrap().unwrap();
        assert_eq!((https.host.as_str(), https.port, https.tls), ("gw.example.com", 443, true));
        for bad in [
            format!("https://h/j/{CODE}/"),
            format!("https://h/j/{CODE}?x=1"),
            format!("https://h/j/{CODE}#f"),
            format!("https://u:p@h/j/{CODE}"),
            "https://h/j/short".to_string(),
            format!("https://h/x/{CODE}"),
        ] {
            assert!(matches!(JoinUrl::parse(&bad), Some(Err(JoinError::NotAJoinUrl))), "{bad}");
        }
        for hostile in [
            format!("http://127.0.0.1/x\r\nEvil: 1\r\n/j/{CODE}"),
            format!("http://127.0.0.1/a b/j/{CODE}"),
            format!("http://[::1]junk/j/{CODE}"),
            format!("http://[nope]/j/{CODE}"),
        ] {
            assert!(matches!(JoinUrl::parse(&hostile), Some(Err(JoinError::NotAJoinUrl))), "{hostile:?}");
        }
        assert!(matches!(JoinUrl::parse(&format!("http://192.168.1.5/j/{CODE}")), Some(Err(JoinError::PlainHttp))));
        assert!(JoinUrl::parse(&format!("http://localhost./j/{CODE}")).unwrap().is_ok());
        assert!(JoinUrl::parse(&format!("http://[::1]:9/j/{CODE}")).unwrap().is_ok());
    }

    /// Serves one canned answer on loopback and returns the URL to fetch.
    async fn serve(answer: Vec<u8>) -> JoinUrl {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(&answer).await;
        });
        JoinUrl::parse(&format!("http://127.0.0.1:{port}/j/{CODE}")).unwrap().unwrap()
    }

    fn answer(status: &str, content_type: &str, body: &str) -> Vec<u8> {
        format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}", body.len())
            .into_bytes()
    }

    /// Each answer a gateway (or something else) may give, and upstream's message for it.
    #[tokio::test]
    async fn fetches_and_refuses_as_upstream() {
        let now = 1_800_000_000_000i64;
        let payload = format!(r#"{{"url":"ws://127.0.0.1:1","bootstrapToken":"secret","expiresAtMs":{}}}"#, now + 1);
        let ok = serve(answer("200 OK", "application/json; charset=utf-8", &payload)).await;
        assert_eq!(fetch_payload(&ok, now).await.unwrap().bootstrap_token, "secret");

        let chunked = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{payload}\r\n0\r\n\r\n", payload.len());
        assert!(fetch_payload(&serve(chunked.into_bytes()).await, now).await.is_ok());

        let message = |r: Result<SetupPayload, JoinError>| r.unwrap_err().to_string();
        let not_found = answer("404 Not Found", "application/json", r#"{"error":"not_found"}"#);
        assert_eq!(message(fetch_payload(&serve(not_found).await, now).await), JoinError::NotFound.to_string());
        let html = answer("200 OK", "text/html", "<p>hi</p>");
        assert_eq!(message(fetch_payload(&serve(html).await, now).await), JoinError::NotFound.to_string());
        let garbage = answer("200 OK", "application/json", "{nope");
        assert_eq!(message(fetch_payload(&serve(garbage).await, now).await), JoinError::InvalidBody.to_string());
        let expired = answer("200 OK", "application/json", &payload);
        let secure = "Could not fetch the Gateway join payload securely.";
        assert_eq!(message(fetch_payload(&serve(expired).await, now + 5).await), secure);
        let redirect = b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n".to_vec();
        assert_eq!(message(fetch_payload(&serve(redirect).await, now).await), secure);
        let huge = answer("200 OK", "application/json", &" ".repeat(MAX_BODY_BYTES + 1));
        assert_eq!(message(fetch_payload(&serve(huge).await, now).await), secure);
        let unbounded =
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}", " ".repeat(MAX_BODY_BYTES + 10));
        assert_eq!(message(fetch_payload(&serve(unbounded.into_bytes()).await, now).await), secure);
        let overflow = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nx".to_vec();
        assert_eq!(message(fetch_payload(&serve(overflow).await, now).await), secure, "a hostile chunk size");
        let closed = JoinUrl { port: 1, ..serve(Vec::new()).await };
        let err = fetch_payload(&closed, now).await.unwrap_err();
        assert_eq!(err.to_string(), secure);
        assert!(!format!("{err:?}").contains("secret"));
    }
}
