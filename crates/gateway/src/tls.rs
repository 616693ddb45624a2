//! TLS for `wss://`: a self-signed certificate generated once and kept in the state dir, or
//! user-supplied PEM files. Clients pin the certificate by the SHA-256 of its DER encoding
//! (`--tls-fingerprint`), which [`TlsMaterial::fingerprint`] prints.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::Digest;

use crate::config::TlsSource;

/// A TLS setup problem; the message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing a PEM file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`read`, `write`, …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Certificate generation or rustls configuration failed.
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The certificate chain and key the server presents.
pub struct TlsMaterial {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// Where the certificate lives (for the startup message).
    pub cert_path: PathBuf,
}

impl TlsMaterial {
    /// Loads the configured certificate, generating the self-signed one on first use.
    pub fn load(source: &TlsSource, state_dir: &Path) -> Result<Self, TlsError> {
        let (cert_path, key_path) = match source {
            TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
            TlsSource::SelfSigned => {
                let dir = state_dir.join("gateway").join("tls");
                let cert = dir.join("gateway-cert.pem");
                let key = dir.join("gateway-key.pem");
                if !cert.exists() || !key.exists() {
                    generate(&dir, &cert, &key)?;
                }
                (cert, key)
            }
        };
        let read =
            |p: &Path| fs::read(p).map_err(|source| TlsError::Io { action: "read", path: p.to_path_buf(), source });
        let cert_pem = read(&cert_path)?;
        let key_pem = read(&key_path)?;
        let chain: Vec<CertificateDer<'static>> = rustls_pemfile_certs(&cert_pem, &cert_path)?;
        let key = rustls_pemfile_key(&key_pem, &key_path)?;
        Ok(TlsMaterial { chain, key, cert_path })
    }

    /// Lowercase hex SHA-256 of the leaf certificate's DER: what clients pin.
    pub fn fingerprint(&self) -> String {
        openclaw_protocol::device_auth::hex(&sha2::Sha256::digest(self.chain[0].as_ref()))
    }

    /// A rustls server configuration presenting this certificate.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Setup(e.to_string()))?;
        Ok(Arc::new(config))
    }
}

fn generate(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    openclaw_state::db::create_private_dir(dir).map_err(|e| TlsError::Io {
        action: "create",
        path: dir.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut names = vec!["localhost".to_string()];
    if let Ok(host) = nix::unistd::gethostname() {
        if let Some(h) = host.to_str().filter(|h| !h.is_empty() && *h != "localhost") {
            names.push(h.to_string());
        }
    }
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| TlsError::Setup(e.to_string()))?;
    params.subject_alt_names.push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    params.subject_alt_names.push(rcgen::SanType::IpAddress("::1".parse().unwrap()));
    params.distinguished_name.push(rcgen::DnType::CommonName, "openclaw-gateway");
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Setup(e.to_string()))?;
    let cert = params.self_signed(&key).map_err(|e| TlsError::Setup(e.to_string()))?;
    write_private(key_path, key.serialize_pem().as_bytes())?;
    write_private(cert_path, cert.pem().as_bytes())?;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    let io = |source| TlsError::Io { action: "write", path: path.to_path_buf(), source };
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io)?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

/// Every `CERTIFICATE` block of a PEM file, as DER.
fn rustls_pemfile_certs(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem { path: path.to_path_buf(), reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::Pem { path: path.to_path_buf(), reason: "no CERTIFICATE block".into() });
    }
    Ok(certs)
}

/// The first private key block of a PEM file.
fn rustls_pemfile_key(pem: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError::Pem { path: path.to_path_buf(), reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn self_signed_is_generated_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = TlsMaterial::load(&TlsSource::SelfSigned, dir.path()).unwrap();
        let b = TlsMaterial::load(&TlsSource::SelfSigned, dir.path()).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
        let key = dir.path().join("gateway/tls/gateway-key.pem");
        assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(dir.path().join("gateway/tls")).unwrap().permissions().mode() & 0o777, 0o700);
        a.server_config().unwrap();
    }
}
