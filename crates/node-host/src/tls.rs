//! TLS client configuration: normal WebPKI validation, or a SHA-256 pin alone (`protocol.md` §10).
//!
//! With a pin, CA and hostname checks are off (the gateway's certificate is usually
//! self-signed) and the leaf certificate's SHA-256 must equal the pin exactly; the handshake
//! signature is still verified, so a server must hold the pinned certificate's key. A
//! mismatch aborts the handshake before any HTTP or WebSocket byte is sent.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

/// The message of a pin mismatch, as upstream words it.
pub const FINGERPRINT_MISMATCH: &str = "gateway tls fingerprint mismatch";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the client config for a gateway connection.
///
/// Without a pin, the WebPKI roots are trusted, plus the PEM bundle named by
/// `NODE_EXTRA_CA_CERTS` (the variable Node users already set for private CAs).
pub fn client_config(pin: Option<&str>) -> Result<ClientConfig, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = match pin {
        Some(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                pin: pin.to_string(),
                algorithms: provider().signature_verification_algorithms,
            }))
            .with_no_client_auth(),
        None => {
            let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(extra) = std::env::var_os("NODE_EXTRA_CA_CERTS").filter(|v| !v.is_empty()) {
                let certs = CertificateDer::pem_file_iter(&extra)
                    .map_err(|e| format!("NODE_EXTRA_CA_CERTS {}: {e}", extra.to_string_lossy()))?;
                for cert in certs {
                    let cert = cert.map_err(|e| format!("NODE_EXTRA_CA_CERTS {}: {e}", extra.to_string_lossy()))?;
                    roots.add(cert).map_err(|e| format!("NODE_EXTRA_CA_CERTS: {e}"))?;
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(config)
}

/// Accepts exactly the certificate whose DER SHA-256 equals the pin.
#[derive(Debug)]
struct PinnedVerifier {
    pin: String,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual = openclaw_protocol::device_auth::hex(&Sha256::digest(end_entity.as_ref()));
        if actual == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(FINGERPRINT_MISMATCH.into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
