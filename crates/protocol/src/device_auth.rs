//! Device identity (Ed25519) and the signed device-auth payload (`protocol.md` §4.4).
//!
//! A device proves possession of its key on every `connect` by signing a `|`-joined string
//! that binds the challenge nonce, the time, the credential it sends and its platform. The
//! gateway rebuilds the same string and verifies; a single differing byte fails the connect,
//! so [`DeviceAuthPayload::to_v3_string`] is tested byte for byte against the upstream vector.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows.
const SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
/// DER prefix of an Ed25519 PKCS#8 v1 private key (what Node's `export` writes); the
/// 32-byte seed follows.
const PKCS8_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// Why a stored or received key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The private key PEM is not an Ed25519 PKCS#8 key.
    #[error("private key is not an Ed25519 PKCS#8 PEM")]
    BadPrivateKey,
    /// The public key is not an Ed25519 key in any accepted encoding.
    #[error("public key is not a valid Ed25519 key")]
    BadPublicKey,
    /// The stored public key does not belong to the stored private key.
    #[error("public key does not match the private key")]
    KeyMismatch,
    /// The stored device id is not the fingerprint of the key.
    #[error("device id does not match the public key")]
    DeviceIdMismatch,
}

/// This machine's Ed25519 device key. The device id is derived from it, never stored apart.
#[derive(Clone)]
pub struct DeviceIdentity {
    key: SigningKey,
}

impl std::fmt::Debug for DeviceIdentity {
    // Never print the private key, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceIdentity").field("device_id", &self.device_id()).finish()
    }
}

impl DeviceIdentity {
    /// A fresh random identity from the OS RNG.
    pub fn generate() -> Self {
        DeviceIdentity { key: SigningKey::generate(&mut rand::rngs::OsRng) }
    }

    /// The identity for a known 32-byte seed (tests, legacy raw-key import).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        DeviceIdentity { key: SigningKey::from_bytes(seed) }
    }

    /// Loads a PKCS#8 private key PEM (v1 or v2), checking it against the SPKI public key PEM.
    pub fn from_pems(private_pem: &str, public_pem: &str) -> Result<Self, IdentityError> {
        let key = SigningKey::from_pkcs8_pem(private_pem.trim()).map_err(|_| IdentityError::BadPrivateKey)?;
        let public = VerifyingKey::from_public_key_pem(public_pem.trim()).map_err(|_| IdentityError::BadPublicKey)?;
        if public != key.verifying_key() {
            return Err(IdentityError::KeyMismatch);
        }
        Ok(DeviceIdentity { key })
    }

    /// The raw 32-byte public key.
    pub fn public_key_raw(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Lowercase hex SHA-256 of the raw public key: the device id the gateway routes by.
    pub fn device_id(&self) -> String {
        device_id_for_public_key(&self.public_key_raw())
    }

    /// The public key as sent on the wire and printed by `node identity`.
    pub fn public_key_b64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public_key_raw())
    }

    /// SPKI PEM with a trailing newline, byte-identical to Node's `export({type:"spki"})`.
    pub fn public_key_pem(&self) -> String {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.public_key_raw());
        pem("PUBLIC KEY", &der)
    }

    /// PKCS#8 v1 PEM with a trailing newline, byte-identical to Node's `export({type:"pkcs8"})`.
    pub fn private_key_pem(&self) -> String {
        let mut der = PKCS8_PREFIX.to_vec();
        der.extend_from_slice(self.key.as_bytes());
        pem("PRIVATE KEY", &der)
    }

    /// Signs a payload string; base64url without padding.
    pub fn sign(&self, payload: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.key.sign(payload.as_bytes()).to_bytes())
    }
}

/// Lowercase hex SHA-256 of a raw public key.
pub fn device_id_for_public_key(raw: &[u8; 32]) -> String {
    hex(&Sha256::digest(raw))
}

/// Decodes a public key as a gateway receives it: base64url (canonical), standard or padded
/// base64, or an SPKI PEM.
pub fn decode_public_key(text: &str) -> Result<[u8; 32], IdentityError> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text).map(|k| k.to_bytes()).map_err(|_| IdentityError::BadPublicKey);
    }
    let normalised: String = text.replace('-', "+").replace('_', "/").trim_end_matches('=').to_string();
    let padded = format!("{normalised}{}", "=".repeat((4 - normalised.len() % 4) % 4));
    let bytes = STANDARD.decode(padded).map_err(|_| IdentityError::BadPublicKey)?;
    let raw: [u8; 32] = bytes.try_into().map_err(|_| IdentityError::BadPublicKey)?;
    VerifyingKey::from_bytes(&raw).map_err(|_| IdentityError::BadPublicKey)?;
    Ok(raw)
}

/// Verifies a base64url signature over `payload` with a raw public key.
pub fn verify_signature(public_key: &[u8; 32], payload: &str, signature_b64url: &str) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public_key) else { return false };
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature_b64url.trim_end_matches('=')) else { return false };
    let Ok(sig) = Signature::from_slice(&bytes) else { return false };
    key.verify(payload.as_bytes(), &sig).is_ok()
}

/// The inputs of the signed device-auth string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthPayload<'a> {
    /// The device id (hash of the public key).
    pub device_id: &'a str,
    /// `client.id` of the connect.
    pub client_id: &'a str,
    /// `client.mode` of the connect.
    pub client_mode: &'a str,
    /// The role asked for (`node`, `operator`).
    pub role: &'a str,
    /// The scopes asked for (joined with `,`).
    pub scopes: &'a [String],
    /// When it was signed (the challenge's `ts`).
    pub signed_at_ms: u64,
    /// The credential actually sent ([`crate::ConnectAuth::signature_token`]).
    pub token: &'a str,
    /// The challenge nonce.
    pub nonce: &'a str,
    /// `client.platform` (v3 payloads only).
    pub platform: Option<&'a str>,
    /// `client.deviceFamily` (v3 payloads only).
    pub device_family: Option<&'a str>,
}

impl DeviceAuthPayload<'_> {
    /// `v3|id|client|mode|role|scopes|signedAt|token|nonce|platform|family`, with platform and
    /// family trimmed and ASCII-lowercased. What the reference client signs.
    pub fn to_v3_string(&self) -> String {
        format!(
            "{}|{}|{}",
            self.v2_body("v3"),
            normalise_metadata(self.platform),
            normalise_metadata(self.device_family)
        )
    }

    /// `v2|id|client|mode|role|scopes|signedAt|token|nonce`, still accepted by gateways.
    pub fn to_v2_string(&self) -> String {
        self.v2_body("v2")
    }

    fn v2_body(&self, version: &str) -> String {
        format!(
            "{version}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.device_id,
            self.client_id,
            self.client_mode,
            self.role,
            self.scopes.join(","),
            self.signed_at_ms,
            self.token,
            self.nonce
        )
    }
}

fn normalise_metadata(value: Option<&str>) -> String {
    value.map(|v| v.trim().to_ascii_lowercase()).unwrap_or_default()
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_identity() -> DeviceIdentity {
        let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
        DeviceIdentity::from_seed(&seed)
    }

    /// protocol.md §4.4: must reproduce byte for byte (Ed25519 is deterministic).
    #[test]
    fn upstream_test_vector() {
        let id = vector_identity();
        assert_eq!(hex(&id.public_key_raw()), "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8");
        assert_eq!(id.public_key_b64url(), "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg");
        assert_eq!(id.device_id(), "56475aa75463474c0285df5dbf2bcab73da651358839e9b77481b2eab107708c");
        let device_id = id.device_id();
        let payload = DeviceAuthPayload {
            device_id: &device_id,
            client_id: "node-host",
            client_mode: "node",
            role: "node",
            scopes: &[],
            signed_at_ms: 1767225600000,
            token: "example-shared-token",
            nonce: "3f1c2b9e-6c1d-4d7e-9a51-6f7c0e1d2a3b",
            platform: Some("linux"),
            device_family: Some("Linux"),
        };
        let text = payload.to_v3_string();
        assert_eq!(
            text,
            "v3|56475aa75463474c0285df5dbf2bcab73da651358839e9b77481b2eab107708c|node-host|node|node||1767225600000|example-shared-token|3f1c2b9e-6c1d-4d7e-9a51-6f7c0e1d2a3b|linux|linux"
        );
        let sig = id.sign(&text);
        assert_eq!(sig, "4TS5M6Hhb_rAKSKh7J6xOx9pc6Om7Qk115brgXsYpz9SI0xE7m1IyWcqia3Jgioy5nf82HSflA7OmOR4yJ_xDg");
        assert!(verify_signature(&id.public_key_raw(), &text, &sig));
        assert!(!verify_signature(&id.public_key_raw(), &payload.to_v2_string(), &sig));
    }

    /// The real TS node host's captured connect frame verifies with our code.
    #[test]
    fn captured_signature_verifies() {
        let raw = decode_public_key("h0ucuUQysVTM03S-KiDzSZkA26J-Iay4_UhAk6ntyH4").unwrap();
        assert_eq!(device_id_for_public_key(&raw), "471b41799137e9b364d1d052c9c793415836efc6d468eb56cda94c5c82efb903");
        let payload = DeviceAuthPayload {
            device_id: "471b41799137e9b364d1d052c9c793415836efc6d468eb56cda94c5c82efb903",
            client_id: "node-host",
            client_mode: "node",
            role: "node",
            scopes: &[],
            signed_at_ms: 1795236499821,
            token: "s3cret",
            nonce: "eec52f0e-c03a-481c-8608-b597493d59c6",
            platform: Some("linux"),
            device_family: Some("Linux"),
        };
        assert!(verify_signature(
            &raw,
            &payload.to_v3_string(),
            "v4oRSkLftTUXErdRlcKPfFkDeZyDSm9dvAgzu2l9emv_6rCWStBdJKF0Zn-ayVXQQLqmykutAQ1NgxSzi35HAQ"
        ));
    }

    #[test]
    fn pems_match_node_format_and_round_trip() {
        let id = vector_identity();
        let public = id.public_key_pem();
        let private = id.private_key_pem();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
        assert!(public.ends_with("-----END PUBLIC KEY-----\n"));
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"));
        let back = DeviceIdentity::from_pems(&private, &public).unwrap();
        assert_eq!(back.device_id(), id.device_id());
        let other = DeviceIdentity::generate();
        assert!(matches!(
            DeviceIdentity::from_pems(&private, &other.public_key_pem()),
            Err(IdentityError::KeyMismatch)
        ));
        assert_eq!(decode_public_key(&public).unwrap(), id.public_key_raw());
    }

    #[test]
    fn public_key_accepts_padded_standard_base64() {
        let id = vector_identity();
        let std_padded = STANDARD.encode(id.public_key_raw());
        assert_eq!(decode_public_key(&std_padded).unwrap(), id.public_key_raw());
        assert!(decode_public_key("AAAA").is_err());
    }
}
