//! TLS client configuration: normal WebPKI validation, or a SHA-256 pin alone (`protocol.md` §10).
//!
//! With a pin, CA and hostname checks are off (the gateway's certificate is usually
//! self-signed) and the leaf certificate's SHA-256 must equal the pin exactly; the handshake
//! signature is still verified, so a server must hold the pinned certificate's key. A
//! mismatch aborts the handshake before any HTTP or WebSocket byte is sent.
//!
//! A pinned verifier also records the fingerprint it refused in a `PinProbe`, so
//! [`crate::connection::dial`] can report [`crate::DialError::FingerprintMismatch`] as a
//! variant instead of recognising rustls' error text.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

/// The message of a pin mismatch, as upstream words it (also the rustls error the verifier
/// aborts with, so the TLS alert the server sees is unchanged).
pub const FINGERPRINT_MISMATCH: &str = "gateway tls fingerprint mismatch";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the client config for a gateway connection.
///
/// Without a pin, the WebPKI roots are trusted, plus the PEM bundle named by
/// `NODE_EXTRA_CA_CERTS` (the variable Node users already set for private CAs).
pub fn client_config(pin: Option<&str>) -> Result<ClientConfig, TlsConfigError> {
    client_config_with_probe(pin).map(|(config, _)| config)
}

/// [`client_config`], plus the probe of the pinned verifier when there is a pin.
pub(crate) fn client_config_with_probe(pin: Option<&str>) -> Result<(ClientConfig, Option<PinProbe>), TlsConfigError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsConfigError::Provider)?;
    let out = match pin {
        Some(pin) => {
            let probe = PinProbe::default();
            let config = builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                    pin: pin.to_string(),
                    algorithms: provider().signature_verification_algorithms,
                    probe: probe.clone(),
                }))
                .with_no_client_auth();
            (config, Some(probe))
        }
        None => {
            let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(extra) = std::env::var_os("NODE_EXTRA_CA_CERTS").filter(|v| !v.is_empty()) {
                let path = PathBuf::from(&extra);
                let unreadable = |source| TlsConfigError::ExtraCaUnreadable { path: path.clone(), source };
                for cert in CertificateDer::pem_file_iter(&path).map_err(unreadable)? {
                    roots.add(cert.map_err(unreadable)?).map_err(TlsConfigError::ExtraCaRejected)?;
                }
            }
            (builder.with_root_certificates(roots).with_no_client_auth(), None)
        }
    };
    Ok(out)
}

/// Why no TLS client configuration could be built. Nothing was sent yet.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// The crypto provider supports none of the safe protocol versions (a build problem).
    #[error("{0}")]
    Provider(#[source] rustls::Error),
    /// The PEM bundle named by `NODE_EXTRA_CA_CERTS` cannot be read or parsed.
    #[error("NODE_EXTRA_CA_CERTS {}: {source}", .path.display())]
    ExtraCaUnreadable {
        /// The bundle's path, as set.
        path: PathBuf,
        /// What went wrong reading it.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate of that bundle is not a usable trust anchor.
    #[error("NODE_EXTRA_CA_CERTS: {0}")]
    ExtraCaRejected(#[source] rustls::Error),
}

/// What a pinned verifier saw when it refused a certificate: the presented certificate's
/// SHA-256. Shared between the verifier and the dialer of one connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct PinProbe(Arc<OnceLock<String>>);

impl PinProbe {
    /// The refused certificate's fingerprint, if the pin check failed.
    pub(crate) fn mismatch(&self) -> Option<String> {
        self.0.get().cloned()
    }
}

/// Accepts exactly the certificate whose DER SHA-256 equals the pin.
#[derive(Debug)]
struct PinnedVerifier {
    pin: String,
    algorithms: WebPkiSupportedAlgorithms,
    probe: PinProbe,
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
            let _ = self.probe.0.set(actual);
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
