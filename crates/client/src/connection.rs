//! The byte pipe to a gateway: dial (TCP, TLS, WebSocket upgrade) and read protocol frames.
//!
//! [`dial`] is the only way a client opens a connection, so a node and an operator trust a
//! gateway the same way (WebPKI or a pin, see [`crate::tls`]) and fail with the same
//! [`DialError`]s. [`next_frame`] is the deadline-bounded read both the handshake and a
//! session use while they wait for one specific answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use openclaw_protocol::Frame;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::debug;

use crate::endpoint::{bare_host, Endpoint};
use crate::tls::{TlsConfigError, FINGERPRINT_MISMATCH};

/// Largest message we accept from a gateway. Above its advertised `maxPayload` (25 MiB): the
/// real Gateway answers a 15 MiB `file.fetch` with one ~42 MB message (the payload as an object
/// and again as `payloadJSON`), and a client that refused it would lose the connection.
pub const MAX_PAYLOAD: usize = 64 * 1024 * 1024;

/// A WebSocket to the gateway over plain TCP or TLS; what [`dial`] returns and every session
/// runs on.
pub type Ws = WebSocketStream<Box<dyn Io>>;

/// A byte stream we can run WebSocket over: plain TCP or TLS, boxed so [`Ws`] is one type.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Why [`dial`] produced no WebSocket. Callers branch on the kind (a pin mismatch is never
/// worth a blind retry); the messages are the ones users already see in logs and the CLI.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The TCP connection failed (refused, unreachable, DNS).
    #[error("{url}: {source}")]
    Unreachable {
        /// The endpoint's URL.
        url: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// TLS could not be set up or its handshake failed for a reason other than the pin.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The gateway's certificate does not have the pinned SHA-256; nothing was sent to it.
    #[error("{FINGERPRINT_MISMATCH} (expected sha256 {expected}); refusing to connect")]
    FingerprintMismatch {
        /// The pin we required (normalised hex).
        expected: String,
        /// The SHA-256 of the certificate the server presented.
        actual: String,
    },
    /// TCP (and TLS) worked but the HTTP upgrade to WebSocket did not (wrong path, a proxy).
    #[error("WebSocket upgrade at {url}: {source}")]
    Upgrade {
        /// The endpoint's URL.
        url: String,
        /// The upgrade failure.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
}

/// The TLS half of [`DialError`], kept apart so its causes stay typed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// No client configuration (for example an unreadable `NODE_EXTRA_CA_CERTS`).
    #[error(transparent)]
    Config(#[from] TlsConfigError),
    /// The host cannot be a TLS server name.
    #[error("invalid TLS server name {host}: {source}")]
    ServerName {
        /// The endpoint's host.
        host: String,
        /// Why rustls refused it.
        #[source]
        source: rustls::pki_types::InvalidDnsNameError,
    },
    /// The TLS handshake failed (untrusted certificate, protocol error, reset).
    #[error("TLS handshake with {url}: {source}")]
    Handshake {
        /// The endpoint's URL.
        url: String,
        /// The handshake error.
        #[source]
        source: std::io::Error,
    },
}

/// Opens TCP (+TLS, verified or pinned) and performs the WebSocket upgrade. The caller bounds
/// it with its own timeout, since the node and the operator budget differently.
pub async fn dial(endpoint: &Endpoint) -> Result<Ws, DialError> {
    let url = endpoint.url();
    let tcp = TcpStream::connect((bare_host(&endpoint.host), endpoint.port))
        .await
        .map_err(|source| DialError::Unreachable { url: url.clone(), source })?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = if endpoint.tls {
        let (config, probe) =
            crate::tls::client_config_with_probe(endpoint.tls_fingerprint.as_deref()).map_err(TlsError::from)?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls::pki_types::ServerName::try_from(bare_host(&endpoint.host).to_string())
            .map_err(|source| TlsError::ServerName { host: endpoint.host.clone(), source })?;
        match connector.connect(name, tcp).await {
            Ok(tls) => Box::new(tls),
            Err(source) => {
                return Err(match probe.and_then(|p| p.mismatch()) {
                    Some(actual) => DialError::FingerprintMismatch {
                        expected: endpoint.tls_fingerprint.clone().unwrap_or_default(),
                        actual,
                    },
                    None => TlsError::Handshake { url: url.clone(), source }.into(),
                })
            }
        }
    } else {
        Box::new(tcp)
    };
    let config = WebSocketConfig::default().max_message_size(Some(MAX_PAYLOAD)).max_frame_size(Some(MAX_PAYLOAD));
    let (ws, _response) = tokio_tungstenite::client_async_with_config(url.as_str(), io, Some(config))
        .await
        .map_err(|source| DialError::Upgrade { url: url.clone(), source: Box::new(source) })?;
    Ok(ws)
}

/// Why [`next_frame`] returned no frame. Kept apart from each caller's own error so the node
/// (which logs close codes) and the operator (which prints them) can word it their way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The deadline passed.
    Timeout,
    /// The stream ended without a close frame.
    Lost,
    /// The peer closed; `None` when its close frame carried no code.
    Closed(Option<(u16, String)>),
    /// The WebSocket failed (protocol error, reset).
    Transport(String),
}

impl FrameError {
    /// The close code and reason as a node logs them: 1006 for a lost connection and 1005
    /// for a close without a code, as the WebSocket spec names those cases.
    pub fn close_code_and_reason(&self) -> Option<(u16, String)> {
        match self {
            FrameError::Lost => Some((1006, "connection lost".into())),
            FrameError::Closed(None) => Some((1005, String::new())),
            FrameError::Closed(Some((code, reason))) => Some((*code, reason.clone())),
            FrameError::Timeout | FrameError::Transport(_) => None,
        }
    }
}

/// Reads until one parseable frame arrives (garbage is logged and skipped) or the deadline.
pub async fn next_frame(ws: &mut Ws, deadline: Instant) -> Result<Frame, FrameError> {
    loop {
        let msg = match tokio::time::timeout_at(deadline.into(), ws.next()).await {
            Err(_) => return Err(FrameError::Timeout),
            Ok(None) => return Err(FrameError::Lost),
            Ok(Some(Err(e))) => {
                // A gateway that broke the protocol is told why (1007 for invalid UTF-8, …).
                if let Some((code, reason)) = close_code_for(&e) {
                    close(ws, code, reason).await;
                }
                return Err(FrameError::Transport(e.to_string()));
            }
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Text(t) => match Frame::parse(&t) {
                Ok(f) => return Ok(f),
                Err(e) => debug!("ignoring frame: {e}"),
            },
            Message::Close(c) => {
                return Err(FrameError::Closed(c.map(|c| (u16::from(c.code), c.reason.to_string()))));
            }
            _ => {}
        }
    }
}

/// The close code a read error calls for, when the peer broke the WebSocket protocol rather than
/// the link (RFC 6455 §7.4.1): 1007 for a text frame that is not UTF-8, 1009 for a message
/// over our limit, 1002 for other protocol violations. `None` for I/O errors: then there is no
/// one left to tell.
pub fn close_code_for(error: &tokio_tungstenite::tungstenite::Error) -> Option<(u16, &'static str)> {
    use tokio_tungstenite::tungstenite::Error;
    match error {
        Error::Utf8(_) => Some((1007, "invalid UTF-8 in a text frame")),
        Error::Capacity(_) => Some((1009, "message too big")),
        Error::Protocol(_) => Some((1002, "protocol error")),
        _ => None,
    }
}

/// Sends a close frame with `code` and `reason`, waiting at most a second: a peer that does
/// not read any more must not hold up shutdown.
pub async fn close(ws: &mut Ws, code: u16, reason: &str) {
    let frame = CloseFrame { code: CloseCode::from(code), reason: reason.to_string().into() };
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
    use tokio_tungstenite::tungstenite::protocol::Role;

    #[tokio::test(flavor = "current_thread")]
    async fn invalid_utf8_from_the_gateway_is_closed_with_1007() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut ws: Ws = WebSocketStream::from_raw_socket(Box::new(client) as Box<dyn Io>, Role::Client, None).await;
        let mut gateway = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
        let bad = WsFrame::message(vec![b'{', 0xc3, 0x28, b'}'], OpCode::Data(Data::Text), true);
        gateway.send(Message::Frame(bad)).await.unwrap();
        let err = next_frame(&mut ws, Instant::now() + Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(err, FrameError::Transport(_)), "{err:?}");
        let close = loop {
            match tokio::time::timeout(Duration::from_secs(5), gateway.next()).await.expect("a close frame in time") {
                Some(Ok(Message::Close(c))) => break c.expect("with a code"),
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        };
        assert_eq!(u16::from(close.code), 1007);
    }
}
