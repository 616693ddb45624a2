//! Which gateway an operator command talks to, and with which credentials and device.
//!
//! Every `openclaw devices|nodes|approvals` call resolves the same inputs the same way, so
//! the resolution is library code with tests rather than CLI wiring. It is split in two:
//!
//! - [`resolve`] is pure: flags + `openclaw.json` + env → a [`ConnectPlan`] (endpoint, shared
//!   secret, whether to sign with the device identity). Nothing is read from disk or network.
//! - [`connect`] is the I/O around it: load the config file, load the identity and the stored
//!   device token when the plan signs, connect, and keep the device token the gateway issues.
//!
//! The rules: `--url` (and `--tls-fingerprint`) name the gateway, else `ws(s)://127.0.0.1`
//! on `OPENCLAW_GATEWAY_PORT`, `gateway.port` or 18789, over TLS when `gateway.tls.enabled`.
//! Without `--url`, `--token` or `--password`, the shared secret comes from env and config as
//! for the node host. On loopback with a shared secret no device identity is sent (as
//! upstream's CLI does); otherwise this machine's identity signs.

use std::time::Duration;

use openclaw_client::credentials::{resolve_credentials, CredentialError};
use openclaw_client::endpoint::{endpoint_from_url, is_loopback, Endpoint, UrlError, DEFAULT_PORT};
use openclaw_client::handshake::ROLE_OPERATOR;
use openclaw_state::config::{ConfigError, OpenClawConfig};
use openclaw_state::{StateDb, StateError, StatePaths};
use serde_json::Value;

use crate::client::{ClientError, ConnectOptions, OperatorClient, OPERATOR_SCOPES};

/// The connection flags every operator command takes, as typed. `Debug` redacts the
/// secrets.
#[derive(Clone, Default)]
pub struct ConnectFlags {
    /// `--url`: the gateway; also switches off credentials from env and config.
    pub url: Option<String>,
    /// `--token`.
    pub token: Option<String>,
    /// `--password`.
    pub password: Option<String>,
    /// `--tls-fingerprint`: the pin for a `wss://` gateway.
    pub tls_fingerprint: Option<String>,
    /// `--timeout`: for the handshake and each request.
    pub timeout: Duration,
}

/// What to connect to and with what, before any I/O. `Debug` redacts the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectPlan {
    /// The gateway.
    pub endpoint: Endpoint,
    /// The shared token, from the flag or (without `--url`) env and config.
    pub token: Option<String>,
    /// The shared password, likewise.
    pub password: Option<String>,
    /// Sign with this machine's device identity (and use its stored device token).
    pub use_device: bool,
}

/// `Some("<redacted>")` for a set secret: enough to debug which credential was chosen.
fn redacted(secret: &Option<String>) -> Option<&'static str> {
    secret.as_ref().map(|_| "<redacted>")
}

impl std::fmt::Debug for ConnectFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectFlags")
            .field("url", &self.url)
            .field("token", &redacted(&self.token))
            .field("password", &redacted(&self.password))
            .field("tls_fingerprint", &self.tls_fingerprint)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl std::fmt::Debug for ConnectPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectPlan")
            .field("endpoint", &self.endpoint)
            .field("token", &redacted(&self.token))
            .field("password", &redacted(&self.password))
            .field("use_device", &self.use_device)
            .finish()
    }
}

/// Why an operator command could not connect. The messages are the CLI's.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// `openclaw.json` is unreadable or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `--url` or `--tls-fingerprint` cannot be dialed.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// A configured secret reference cannot be resolved.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The state database (identity, device tokens) cannot be used.
    #[error(transparent)]
    State(#[from] StateError),
    /// Dialing, the handshake or the gateway refused.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Resolves flags, the config file and env (`env` looks a variable up, unset → `None`) into a
/// plan. Pure, so every precedence rule has a test.
pub fn resolve(
    flags: &ConnectFlags,
    file: &OpenClawConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ConnectPlan, ConnectError> {
    let endpoint = match &flags.url {
        Some(url) => endpoint_from_url(url, flags.tls_fingerprint.as_deref())?,
        None => {
            let port = env("OPENCLAW_GATEWAY_PORT")
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .and_then(|p| p.parse::<u16>().ok())
                .or_else(|| file.get("gateway.port").and_then(Value::as_u64).map(|p| p as u16))
                .unwrap_or(DEFAULT_PORT);
            let tls = file.get_bool("gateway.tls.enabled").unwrap_or(false);
            let scheme = if tls { "wss" } else { "ws" };
            endpoint_from_url(&format!("{scheme}://127.0.0.1:{port}"), flags.tls_fingerprint.as_deref())?
        }
    };
    let (mut token, mut password) = (flags.token.clone(), flags.password.clone());
    if flags.url.is_none() && token.is_none() && password.is_none() {
        let creds = resolve_credentials(file, env, false)?;
        token = creds.token;
        password = creds.password;
    }
    let use_device = !(is_loopback(&endpoint.host) && (token.is_some() || password.is_some()));
    Ok(ConnectPlan { endpoint, token, password, use_device })
}

/// Connects as an operator: [`resolve`] against the config at `paths` and the process env,
/// then the device identity and stored token when the plan signs. A device token the gateway
/// issues is kept for the next call (failing to store it does not fail the command).
pub async fn connect(flags: &ConnectFlags, paths: &StatePaths) -> Result<OperatorClient, ConnectError> {
    connect_presenting(flags, paths, Vec::new()).await
}

/// [`connect`], declaring `caps` (e.g. `plugin-approvals`, so the gateway offers this session
/// the plugin approval prompts it may answer, such as those its own file commands raise).
pub async fn connect_presenting(
    flags: &ConnectFlags,
    paths: &StatePaths,
    caps: Vec<String>,
) -> Result<OperatorClient, ConnectError> {
    let file = if paths.config_path.exists() {
        OpenClawConfig::load(&paths.config_path)?
    } else {
        OpenClawConfig::from_value(serde_json::json!({}))
    };
    let plan = resolve(flags, &file, &|k| std::env::var(k).ok())?;
    let mut db = None;
    let (identity, device_token) = if plan.use_device {
        let mut state = StateDb::open(paths)?;
        let identity = state.load_or_create_identity()?;
        let stored = state.device_token(&identity.device_id(), ROLE_OPERATOR)?.map(|t| t.token);
        db = Some(state);
        (Some(identity), stored)
    } else {
        (None, None)
    };
    let opts = ConnectOptions {
        endpoint: plan.endpoint,
        token: plan.token,
        password: plan.password,
        device_token,
        identity: identity.clone(),
        scopes: OPERATOR_SCOPES.iter().map(|s| s.to_string()).collect(),
        timeout: flags.timeout,
        caps,
    };
    let client = OperatorClient::connect(&opts).await?;
    if let (Some(db), Some(identity), Some(auth)) = (db.as_mut(), identity, client.hello().auth.as_ref()) {
        if let Some(t) = &auth.device_token {
            let _ = db.save_device_token(&identity.device_id(), ROLE_OPERATOR, t, &auth.scopes);
        }
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(flags: &ConnectFlags, file: Value, env: &[(&str, &str)]) -> Result<ConnectPlan, ConnectError> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        resolve(flags, &OpenClawConfig::from_value(file), &move |k| {
            env.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone())
        })
    }

    fn url(url: &str) -> ConnectFlags {
        ConnectFlags { url: Some(url.into()), ..Default::default() }
    }

    /// Secrets never reach a `{:?}`: not of the flags, the plan, or the connect request the
    /// plan becomes.
    #[test]
    fn debug_output_redacts_secrets() {
        let flags = ConnectFlags {
            url: Some("ws://127.0.0.1:1".into()),
            token: Some("tok-s3cret".into()),
            password: Some("pw-s3cret".into()),
            ..Default::default()
        };
        let shown = format!("{flags:?} {:?}", plan(&flags, json!({}), &[]).unwrap());
        assert!(!shown.contains("s3cret") && shown.contains("<redacted>"), "{shown}");
        let auth = openclaw_protocol::ConnectAuth { token: Some("tok-s3cret".into()), ..Default::default() };
        assert!(!format!("{auth:?}").contains("s3cret"));
    }

    #[test]
    fn default_endpoint_from_env_then_config_then_18789() {
        let p = plan(&ConnectFlags::default(), json!({}), &[]).unwrap();
        assert_eq!(p.endpoint.url(), "ws://127.0.0.1:18789");
        let file = json!({"gateway": {"port": 19001, "tls": {"enabled": true}}});
        assert_eq!(plan(&ConnectFlags::default(), file.clone(), &[]).unwrap().endpoint.url(), "wss://127.0.0.1:19001");
        let env = [("OPENCLAW_GATEWAY_PORT", " 19002 ")];
        assert_eq!(plan(&ConnectFlags::default(), file.clone(), &env).unwrap().endpoint.url(), "wss://127.0.0.1:19002");
        let env = [("OPENCLAW_GATEWAY_PORT", "nope")];
        assert_eq!(
            plan(&ConnectFlags::default(), file, &env).unwrap().endpoint.port,
            19001,
            "a bad env port is ignored"
        );
    }

    #[test]
    fn url_wins_and_switches_off_configured_credentials() {
        let file = json!({"gateway": {"port": 19001, "auth": {"token": "cfgtok"}}});
        let p = plan(&url("ws://10.0.0.5:1234"), file.clone(), &[("OPENCLAW_GATEWAY_TOKEN", "envtok")]).unwrap();
        assert_eq!(p.endpoint.url(), "ws://10.0.0.5:1234");
        assert_eq!((p.token, p.password), (None, None));
        assert!(p.use_device, "no shared secret: the device signs");
        let p = plan(&ConnectFlags::default(), file, &[]).unwrap();
        assert_eq!(p.token.as_deref(), Some("cfgtok"));
    }

    #[test]
    fn credentials_from_flags_env_and_config() {
        let file = json!({"gateway": {"auth": {"token": "cfgtok", "password": "cfgpw"}}});
        let flags = ConnectFlags { password: Some("flagpw".into()), ..Default::default() };
        let p = plan(&flags, file.clone(), &[("OPENCLAW_GATEWAY_TOKEN", "envtok")]).unwrap();
        assert_eq!((p.token, p.password.as_deref()), (None, Some("flagpw")), "a flag skips env and config");
        let p = plan(&ConnectFlags::default(), file.clone(), &[("OPENCLAW_GATEWAY_TOKEN", "envtok")]).unwrap();
        assert_eq!((p.token.as_deref(), p.password.as_deref()), (Some("envtok"), Some("cfgpw")));
        let missing = json!({"gateway": {"auth": {"token": {"source": "env", "id": "NOPE_TOKEN"}}}});
        let err = plan(&ConnectFlags::default(), missing, &[]).unwrap_err().to_string();
        assert!(err.starts_with("gateway.auth.token is configured as a secret reference but is unavailable"), "{err}");
    }

    #[test]
    fn device_identity_unless_loopback_with_a_shared_secret() {
        let token = |u: &str| ConnectFlags { token: Some("t".into()), ..url(u) };
        assert!(!plan(&token("ws://127.0.0.1:1"), json!({}), &[]).unwrap().use_device);
        assert!(!plan(&token("ws://[::1]:1"), json!({}), &[]).unwrap().use_device);
        assert!(!plan(&token("ws://localhost:1"), json!({}), &[]).unwrap().use_device);
        assert!(plan(&token("ws://10.0.0.5:1"), json!({}), &[]).unwrap().use_device);
        assert!(plan(&url("ws://127.0.0.1:1"), json!({}), &[]).unwrap().use_device);
        let p = plan(&ConnectFlags::default(), json!({}), &[("OPENCLAW_GATEWAY_PASSWORD", "pw")]).unwrap();
        assert!(!p.use_device, "an env secret on the default loopback endpoint");
    }

    #[test]
    fn bad_urls_and_pins_keep_their_messages() {
        let err = plan(&url("http://box"), json!({}), &[]).unwrap_err().to_string();
        assert_eq!(err, "invalid gateway URL \"http://box\": expected ws://host:port or wss://host:port");
        let flags = ConnectFlags { tls_fingerprint: Some("ab".repeat(32)), ..Default::default() };
        let err = plan(&flags, json!({}), &[]).unwrap_err().to_string();
        assert_eq!(err, "gateway tls fingerprint requires wss:// gateway url");
        let file = json!({"gateway": {"tls": {"enabled": true}}});
        let p = plan(&flags, file, &[]).unwrap();
        assert_eq!(p.endpoint.tls_fingerprint, Some("ab".repeat(32)));
    }
}
