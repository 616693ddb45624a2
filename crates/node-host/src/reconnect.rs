//! What to do after a failed or closed connection (`protocol.md` §9.3), as pure functions.

use std::time::Duration;

use openclaw_protocol::error::{ConnectErrorCode, ErrorShape};

/// Exponential backoff 1 s → 30 s, ×2, no jitter; reset after every hello-ok.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// The next delay: 1, 2, 4, 8, 16, 30, 30, … seconds.
    pub fn next_delay(&mut self) -> Duration {
        let ms = 1000u64.saturating_mul(1u64 << self.attempt.min(5)).min(30_000);
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_millis(ms)
    }

    /// Back to 1 s.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// How long to wait between connects while device pairing is pending: each retry also keeps
/// the gateway's pending request (5-minute expiry) alive, and an approval takes effect
/// within this delay, without a restart.
pub const PAIRING_RETRY: Duration = Duration::from_secs(10);

/// Whether this process runs under the service manager `openclaw node install` set up
/// (systemd, launchd, schtasks): every service definition sets `OPENCLAW_SERVICE_MARKER=openclaw`
/// and `OPENCLAW_SERVICE_KIND=node`, as upstream's do.
///
/// A supervised node host whose credentials the gateway withdrew exits 1 (the supervisor
/// restarts it, and its status shows the failure); one in a terminal waits for the operator
/// instead, as upstream's does.
pub fn is_supervised(env: &dyn Fn(&str) -> Option<String>) -> bool {
    let is = |key: &str, value: &str| env(key).is_some_and(|v| v.trim() == value);
    is("OPENCLAW_SERVICE_MARKER", "openclaw") && is("OPENCLAW_SERVICE_KIND", "node")
}

/// The close reason with which the gateway ends the sessions of a device whose token was
/// rotated or revoked, or whose pairing (or node role) was removed (close code 4001).
pub const DEVICE_REMOVED_REASON: &str = "device removed";

/// The longest wait between connects while the gateway is approving this device by itself
/// (`wait_then_retry`: an SSH verification or a bootstrap token in flight). The delays follow
/// the normal backoff (1, 2, 4, 8 s, as upstream's node host, which keeps reconnecting on that
/// hint) and then stay at [`PAIRING_RETRY`]: the first retry, a second after the refusal, is
/// usually the one that is paired.
pub const PAIRING_SOON_MAX: Duration = PAIRING_RETRY;

/// Upper bound on a gateway-supplied `retryAfterMs`, so one reply cannot park the node for days.
const MAX_RETRY_AFTER_MS: u64 = 300_000;

/// The meaning of a rejected `connect` for the node host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Device pairing is pending; the operator approves `request_id`.
    PairingRequired {
        /// The gateway's pending request, when it said which.
        request_id: Option<String>,
        /// The gateway is approving the request itself and asked for a retry soon
        /// (`recommendedNextStep: "wait_then_retry"` or `pauseReconnect: false`).
        retry_soon: bool,
    },
    /// Credentials are wrong or missing: retrying cannot help, exit 1 so a supervisor (or
    /// the user) sees it. `code` is the `details.code`.
    Terminal {
        /// The refusal's `details.code`, shown to the user and kept in the status file.
        code: String,
    },
    /// The shared token was refused; a stored device token may still be accepted once.
    TokenMismatch,
    /// Our stored device token was revoked or rotated: forget it and reconnect.
    DeviceTokenMismatch,
    /// The gateway is still starting: retry after exactly this long (100 ms to 2 s).
    StartupRetry(Duration),
    /// Retry after at least this long (the gateway's `retryAfterMs`, at most 5 minutes).
    RetryAfter(Duration),
    /// Retry with the normal backoff.
    Retry,
}

/// Classifies a `connect` error response.
pub fn classify(error: &ErrorShape) -> Rejection {
    use ConnectErrorCode::*;
    let code = error.detail_code().map(ConnectErrorCode::parse);
    match code {
        Some(PairingRequired) => Rejection::PairingRequired {
            request_id: error.detail_str("requestId").map(String::from),
            retry_soon: error.detail_str("recommendedNextStep") == Some("wait_then_retry")
                || error.detail_bool("pauseReconnect") == Some(false),
        },
        Some(AuthTokenMismatch) => Rejection::TokenMismatch,
        Some(AuthDeviceTokenMismatch) => Rejection::DeviceTokenMismatch,
        Some(
            AuthTokenMissing
            | AuthBootstrapTokenInvalid
            | AuthPasswordMissing
            | AuthPasswordMismatch
            | AuthIdentityHeaderRequired
            | ClientVersionMismatch
            | AuthScopeMismatch
            | AuthVerifiedUserRequired
            | ControlUiBuildMismatch
            | ControlUiDeviceIdentityRequired
            | DeviceIdentityRequired
            | ProtocolMismatch,
        ) => Rejection::Terminal { code: error.detail_code().unwrap_or_default().to_string() },
        _ => {
            let startup = error.detail_str("reason") == Some("startup-sidecars");
            match error.retry_after_ms {
                Some(ms) if startup => Rejection::StartupRetry(Duration::from_millis(ms.clamp(100, 2000))),
                None if startup => Rejection::StartupRetry(Duration::from_millis(500)),
                Some(ms) => Rejection::RetryAfter(Duration::from_millis(ms.min(MAX_RETRY_AFTER_MS))),
                None => Rejection::Retry,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(details: serde_json::Value, retry_after_ms: Option<u64>) -> ErrorShape {
        ErrorShape {
            code: "INVALID_REQUEST".into(),
            message: "m".into(),
            details: Some(details),
            retryable: None,
            retry_after_ms,
        }
    }

    #[test]
    fn backoff_sequence_and_reset() {
        let mut b = Backoff::default();
        let secs: Vec<u64> = (0..8).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 30, 30, 30]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn supervision_is_read_from_the_service_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| v.to_string())
        };
        assert!(is_supervised(&env(&[("OPENCLAW_SERVICE_MARKER", "openclaw"), ("OPENCLAW_SERVICE_KIND", "node")])));
        assert!(!is_supervised(&env(&[("OPENCLAW_SERVICE_MARKER", "openclaw"), ("OPENCLAW_SERVICE_KIND", "gateway")])));
        assert!(!is_supervised(&env(&[("OPENCLAW_SERVICE_KIND", "node")])));
        assert!(!is_supervised(&env(&[])));
    }

    #[test]
    fn classification() {
        assert_eq!(
            classify(&err(json!({"code": "PAIRING_REQUIRED", "requestId": "r1"}), None)),
            Rejection::PairingRequired { request_id: Some("r1".into()), retry_soon: false }
        );
        // Either half of upstream's hint keeps the retries quick.
        for details in [
            json!({"code": "PAIRING_REQUIRED", "requestId": "r1", "recommendedNextStep": "wait_then_retry", "retryable": true, "pauseReconnect": false}),
            json!({"code": "PAIRING_REQUIRED", "requestId": "r1", "recommendedNextStep": "wait_then_retry"}),
            json!({"code": "PAIRING_REQUIRED", "requestId": "r1", "pauseReconnect": false}),
        ] {
            assert_eq!(
                classify(&err(details.clone(), None)),
                Rejection::PairingRequired { request_id: Some("r1".into()), retry_soon: true },
                "{details}"
            );
        }
        assert_eq!(
            classify(&err(json!({"code": "PAIRING_REQUIRED", "pauseReconnect": true}), None)),
            Rejection::PairingRequired { request_id: None, retry_soon: false }
        );
        for code in ["AUTH_TOKEN_MISSING", "AUTH_PASSWORD_MISMATCH", "CLIENT_VERSION_MISMATCH", "PROTOCOL_MISMATCH"] {
            assert_eq!(classify(&err(json!({"code": code}), None)), Rejection::Terminal { code: code.into() });
        }
        assert_eq!(classify(&err(json!({"code": "AUTH_TOKEN_MISMATCH"}), None)), Rejection::TokenMismatch);
        assert_eq!(classify(&err(json!({"code": "AUTH_DEVICE_TOKEN_MISMATCH"}), None)), Rejection::DeviceTokenMismatch);
        assert_eq!(classify(&err(json!({"code": "DEVICE_AUTH_SIGNATURE_EXPIRED"}), None)), Rejection::Retry);
        assert_eq!(
            classify(&err(json!({"code": "AUTH_RATE_LIMITED"}), Some(7000))),
            Rejection::RetryAfter(Duration::from_secs(7))
        );
        assert_eq!(
            classify(&err(json!({"reason": "startup-sidecars"}), Some(9000))),
            Rejection::StartupRetry(Duration::from_millis(2000))
        );
        assert_eq!(
            classify(&err(json!({"code": "AUTH_RATE_LIMITED"}), Some(u64::MAX))),
            Rejection::RetryAfter(Duration::from_secs(300))
        );
        assert_eq!(classify(&ErrorShape::new(openclaw_protocol::ErrorCode::Unavailable, "x")), Rejection::Retry);
    }
}
