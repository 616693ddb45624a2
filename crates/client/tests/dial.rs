//! `dial` against a real local TLS WebSocket server: the pin decides, and each failure comes
//! back as its own [`DialError`] variant (callers match it instead of reading its text).

use std::sync::Arc;

use openclaw_client::connection::{dial, DialError};
use openclaw_client::endpoint::Endpoint;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

/// A TLS WebSocket server on loopback with a fresh self-signed certificate; returns its port
/// and the certificate's SHA-256.
async fn tls_ws_server() -> (u16, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
    let der = CertificateDer::from(cert.der().to_vec());
    let fingerprint = openclaw_protocol::device_auth::hex(&Sha256::digest(der.as_ref()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let _ = tokio_tungstenite::accept_async(tls).await;
                }
            });
        }
    });
    (port, fingerprint)
}

fn endpoint(port: u16, pin: &str) -> Endpoint {
    Endpoint { host: "127.0.0.1".into(), port, tls: true, tls_fingerprint: Some(pin.into()), context_path: None }
}

#[tokio::test]
async fn the_pinned_certificate_is_accepted() {
    let (port, fingerprint) = tls_ws_server().await;
    dial(&endpoint(port, &fingerprint)).await.expect("pinned certificate accepted");
}

#[tokio::test]
async fn another_certificate_is_a_fingerprint_mismatch() {
    let (port, fingerprint) = tls_ws_server().await;
    let pin = "ab".repeat(32);
    match dial(&endpoint(port, &pin)).await {
        Err(e @ DialError::FingerprintMismatch { .. }) => {
            assert_eq!(
                e.to_string(),
                format!("gateway tls fingerprint mismatch (expected sha256 {pin}); refusing to connect")
            );
            let DialError::FingerprintMismatch { expected, actual } = e else { unreachable!() };
            assert_eq!((expected, actual), (pin, fingerprint));
        }
        other => panic!("expected a fingerprint mismatch, got {:?}", other.map(|_| "a connection")),
    }
}

#[tokio::test]
async fn a_closed_port_is_unreachable_and_plaintext_to_tls_fails_the_upgrade() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let plain = Endpoint { tls: false, tls_fingerprint: None, ..endpoint(port, "") };
    match dial(&plain).await {
        Err(DialError::Unreachable { url, .. }) => assert_eq!(url, format!("ws://127.0.0.1:{port}")),
        other => panic!("expected unreachable, got {:?}", other.map(|_| "a connection")),
    }
    let (port, _) = tls_ws_server().await;
    let plain = Endpoint { tls: false, tls_fingerprint: None, ..endpoint(port, "") };
    assert!(matches!(dial(&plain).await, Err(DialError::Upgrade { .. })));
}
