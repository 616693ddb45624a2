//! Error shapes and the codes clients branch on (`protocol.md` §2.4, §9.2).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{code, message, details?, retryable?, retryAfterMs?}` as carried by a failed response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorShape {
    /// One of [`ErrorCode`]'s strings (or a newer one we do not know).
    pub code: String,
    /// Human text; may change between versions, never branch on it.
    pub message: String,
    /// Structured detail; for connect failures `details.code` is a [`ConnectErrorCode`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// Whether retrying the same request may succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    /// Minimum delay before a retry, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorShape {
    /// An error with just a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorShape {
            code: code.as_str().to_string(),
            message: message.into(),
            details: None,
            retryable: None,
            retry_after_ms: None,
        }
    }

    /// `details.code`, the machine-readable reason of a connect failure.
    pub fn detail_code(&self) -> Option<&str> {
        self.details.as_ref()?.get("code")?.as_str()
    }

    /// A string field of `details` (e.g. `requestId`, `recommendedNextStep`).
    pub fn detail_str(&self, key: &str) -> Option<&str> {
        self.details.as_ref()?.get(key)?.as_str()
    }

    /// A boolean field of `details` (e.g. `pauseReconnect`).
    pub fn detail_bool(&self, key: &str) -> Option<bool> {
        self.details.as_ref()?.get(key)?.as_bool()
    }
}

/// Top-level `error.code` values (`ErrorCodes` upstream), as carried by a failed response and
/// by the error half of `node.invoke.result`.
///
/// Callers branch on these, so they are a `match`, not a string comparison that fails
/// silently when a spelling drifts. A code this version does not know (a newer peer) decodes
/// as [`ErrorCode::Other`] and re-encodes to the same text, so relaying it loses nothing.
/// Equality and hashing go by the wire text, so `Other("TIMEOUT")` built by hand still equals
/// [`ErrorCode::Timeout`].
#[derive(Debug, Clone)]
pub enum ErrorCode {
    /// The device is not paired (or pairing is pending).
    NotPaired,
    /// Bad frame, bad params, failed auth.
    InvalidRequest,
    /// Not allowed for this caller.
    Forbidden,
    /// An exec approval id that does not exist.
    ApprovalNotFound,
    /// Not possible right now (node offline, command unsupported, gateway starting).
    Unavailable,
    /// A deadline passed.
    Timeout,
    /// A `system.run` refused by policy.
    SystemRunDenied,
    /// A code this version does not know, kept verbatim.
    Other(String),
}

impl ErrorCode {
    /// The string on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::NotPaired => "NOT_PAIRED",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::ApprovalNotFound => "APPROVAL_NOT_FOUND",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::SystemRunDenied => "SYSTEM_RUN_DENIED",
            ErrorCode::Other(code) => code,
        }
    }

    /// Classifies a wire string; never fails (unknown codes become [`ErrorCode::Other`]).
    pub fn parse(code: &str) -> Self {
        match code {
            "NOT_PAIRED" => ErrorCode::NotPaired,
            "INVALID_REQUEST" => ErrorCode::InvalidRequest,
            "FORBIDDEN" => ErrorCode::Forbidden,
            "APPROVAL_NOT_FOUND" => ErrorCode::ApprovalNotFound,
            "UNAVAILABLE" => ErrorCode::Unavailable,
            "TIMEOUT" => ErrorCode::Timeout,
            "SYSTEM_RUN_DENIED" => ErrorCode::SystemRunDenied,
            other => ErrorCode::Other(other.to_string()),
        }
    }
}

impl PartialEq for ErrorCode {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ErrorCode {}

impl std::hash::Hash for ErrorCode {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for ErrorCode {
    fn from(code: &str) -> Self {
        ErrorCode::parse(code)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(ErrorCode::parse(&code))
    }
}

/// `details.code` values of a rejected `connect` that a node host acts on.
///
/// Anything else parses as [`ConnectErrorCode::Other`] and is treated as retryable, so a
/// gateway that invents a new code never makes the host give up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectErrorCode {
    /// `AUTH_REQUIRED`.
    AuthRequired,
    /// `AUTH_UNAUTHORIZED`.
    AuthUnauthorized,
    /// `AUTH_TOKEN_MISSING`.
    AuthTokenMissing,
    /// `AUTH_TOKEN_MISMATCH`.
    AuthTokenMismatch,
    /// `AUTH_TOKEN_NOT_CONFIGURED`.
    AuthTokenNotConfigured,
    /// `AUTH_PASSWORD_MISSING`.
    AuthPasswordMissing,
    /// `AUTH_PASSWORD_MISMATCH`.
    AuthPasswordMismatch,
    /// `AUTH_PASSWORD_NOT_CONFIGURED`.
    AuthPasswordNotConfigured,
    /// `AUTH_BOOTSTRAP_TOKEN_INVALID`.
    AuthBootstrapTokenInvalid,
    /// `AUTH_DEVICE_TOKEN_MISMATCH`.
    AuthDeviceTokenMismatch,
    /// `AUTH_SCOPE_MISMATCH`.
    AuthScopeMismatch,
    /// `AUTH_RATE_LIMITED`.
    AuthRateLimited,
    /// `AUTH_IDENTITY_HEADER_REQUIRED`.
    AuthIdentityHeaderRequired,
    /// `AUTH_VERIFIED_USER_REQUIRED`.
    AuthVerifiedUserRequired,
    /// `CONTROL_UI_BUILD_MISMATCH`.
    ControlUiBuildMismatch,
    /// `CONTROL_UI_DEVICE_IDENTITY_REQUIRED`.
    ControlUiDeviceIdentityRequired,
    /// `PROTOCOL_MISMATCH`.
    ProtocolMismatch,
    /// `DEVICE_IDENTITY_REQUIRED`.
    DeviceIdentityRequired,
    /// `PAIRING_REQUIRED`.
    PairingRequired,
    /// `CLIENT_VERSION_MISMATCH`.
    ClientVersionMismatch,
    /// `DEVICE_AUTH_*`: the device proof was rejected (clock skew, bad signature, …).
    DeviceAuth(String),
    /// A code this version does not know.
    Other(String),
}

impl ConnectErrorCode {
    /// Classifies a `details.code` string.
    pub fn parse(code: &str) -> Self {
        use ConnectErrorCode::*;
        match code {
            "AUTH_REQUIRED" => AuthRequired,
            "AUTH_UNAUTHORIZED" => AuthUnauthorized,
            "AUTH_TOKEN_MISSING" => AuthTokenMissing,
            "AUTH_TOKEN_MISMATCH" => AuthTokenMismatch,
            "AUTH_TOKEN_NOT_CONFIGURED" => AuthTokenNotConfigured,
            "AUTH_PASSWORD_MISSING" => AuthPasswordMissing,
            "AUTH_PASSWORD_MISMATCH" => AuthPasswordMismatch,
            "AUTH_PASSWORD_NOT_CONFIGURED" => AuthPasswordNotConfigured,
            "AUTH_BOOTSTRAP_TOKEN_INVALID" => AuthBootstrapTokenInvalid,
            "AUTH_DEVICE_TOKEN_MISMATCH" => AuthDeviceTokenMismatch,
            "AUTH_SCOPE_MISMATCH" => AuthScopeMismatch,
            "AUTH_RATE_LIMITED" => AuthRateLimited,
            "AUTH_IDENTITY_HEADER_REQUIRED" => AuthIdentityHeaderRequired,
            "AUTH_VERIFIED_USER_REQUIRED" => AuthVerifiedUserRequired,
            "CONTROL_UI_BUILD_MISMATCH" => ControlUiBuildMismatch,
            "CONTROL_UI_DEVICE_IDENTITY_REQUIRED" => ControlUiDeviceIdentityRequired,
            "PROTOCOL_MISMATCH" => ProtocolMismatch,
            "DEVICE_IDENTITY_REQUIRED" => DeviceIdentityRequired,
            "PAIRING_REQUIRED" => PairingRequired,
            "CLIENT_VERSION_MISMATCH" => ClientVersionMismatch,
            other if other.starts_with("DEVICE_AUTH_") => DeviceAuth(other.to_string()),
            other => Other(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_error_details_are_readable() {
        let e: ErrorShape = serde_json::from_str(
            r#"{"code":"NOT_PAIRED","message":"pairing required: device is not approved yet","details":{"code":"PAIRING_REQUIRED","reason":"not-paired","requestId":"204b6c42-9f29-4c15-b645-ecc4f1bd732b"}}"#,
        )
        .unwrap();
        assert_eq!(e.detail_code(), Some("PAIRING_REQUIRED"));
        assert_eq!(e.detail_str("requestId"), Some("204b6c42-9f29-4c15-b645-ecc4f1bd732b"));
        assert_eq!(ConnectErrorCode::parse("PAIRING_REQUIRED"), ConnectErrorCode::PairingRequired);
        assert_eq!(
            ConnectErrorCode::parse("DEVICE_AUTH_SIGNATURE_EXPIRED"),
            ConnectErrorCode::DeviceAuth("DEVICE_AUTH_SIGNATURE_EXPIRED".into())
        );
        assert_eq!(ConnectErrorCode::parse("NEW_THING"), ConnectErrorCode::Other("NEW_THING".into()));
    }

    #[test]
    fn error_codes_round_trip_including_unknown_ones() {
        for code in ["NOT_PAIRED", "INVALID_REQUEST", "FORBIDDEN", "APPROVAL_NOT_FOUND", "UNAVAILABLE", "TIMEOUT"] {
            let parsed: ErrorCode = serde_json::from_str(&format!("\"{code}\"")).unwrap();
            assert!(!matches!(parsed, ErrorCode::Other(_)), "{code} is known");
            assert_eq!(serde_json::to_string(&parsed).unwrap(), format!("\"{code}\""));
        }
        let parsed: ErrorCode = serde_json::from_str(r#""SYSTEM_RUN_DENIED""#).unwrap();
        assert_eq!(parsed, ErrorCode::SystemRunDenied);
        let unknown: ErrorCode = serde_json::from_str(r#""CANONICAL_PATH_CHANGED""#).unwrap();
        assert_eq!(unknown, ErrorCode::Other("CANONICAL_PATH_CHANGED".into()));
        assert_eq!(serde_json::to_string(&unknown).unwrap(), r#""CANONICAL_PATH_CHANGED""#);
    }

    /// A known code spelled as `Other` (built by hand rather than parsed) is still that code.
    #[test]
    fn error_codes_compare_by_wire_text() {
        use std::collections::HashSet;
        assert_eq!(ErrorCode::Other("INVALID_REQUEST".into()), ErrorCode::InvalidRequest);
        assert_ne!(ErrorCode::Other("NEW_CODE".into()), ErrorCode::InvalidRequest);
        let set: HashSet<ErrorCode> = [ErrorCode::Timeout, ErrorCode::Other("TIMEOUT".into())].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn error_shape_omits_absent_fields() {
        let e = ErrorShape::new(ErrorCode::Unavailable, "command not supported");
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"code":"UNAVAILABLE","message":"command not supported"}"#);
    }
}
