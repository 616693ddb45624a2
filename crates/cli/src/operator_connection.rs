//! How operator commands reach a gateway: the flags every `devices`, `nodes` and `approvals`
//! command takes, the runtime they run on, and [`connect`], which turns those flags, the config
//! file, the environment and this machine's identity into a connected [`OperatorClient`].
//!
//! `connect` is kept alone in this module, unchanged, because it is about to move into the
//! operator library (STYLE.md §3 change 4 (b)); the noun modules only call it.

use std::time::Duration;

use clap::Args;
use openclaw_operator::client::endpoint_from_url;
use openclaw_operator::{ConnectOptions, OperatorClient, OPERATOR_SCOPES};
use openclaw_state::config::OpenClawConfig;
use openclaw_state::{StateDb, StatePaths};
use serde_json::{json, Value};

use crate::output::Failure;

/// Flags every operator command takes.
#[derive(Args, Clone)]
pub(crate) struct GatewayFlags {
    /// Gateway WebSocket URL (default: ws://127.0.0.1:<gateway.port or 18789>)
    #[arg(long, global = true)]
    pub(crate) url: Option<String>,
    /// Gateway token (else OPENCLAW_GATEWAY_TOKEN / gateway.auth.token, without --url)
    #[arg(long, global = true)]
    pub(crate) token: Option<String>,
    /// Gateway password (password auth)
    #[arg(long, global = true)]
    pub(crate) password: Option<String>,
    /// SHA-256 of the gateway's TLS certificate, for wss:// URLs
    #[arg(long, global = true)]
    pub(crate) tls_fingerprint: Option<String>,
    /// Timeout in ms
    #[arg(long, global = true, default_value_t = 10_000)]
    pub(crate) timeout: u64,
    /// Output JSON
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// A single-threaded runtime: one operator command is one connection and a few requests.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// Connects as an operator. On loopback with a shared secret no device identity is sent (as
/// upstream's CLI); otherwise this machine's identity signs, and the device token the gateway
/// issues is kept for the next call.
pub(crate) async fn connect(gw: &GatewayFlags) -> Result<OperatorClient, Failure> {
    let paths = StatePaths::from_env();
    let file = if paths.config_path.exists() {
        OpenClawConfig::load(&paths.config_path)?
    } else {
        OpenClawConfig::from_value(json!({}))
    };
    let env = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let endpoint = match &gw.url {
        Some(url) => endpoint_from_url(url, gw.tls_fingerprint.as_deref())?,
        None => {
            let port = env("OPENCLAW_GATEWAY_PORT")
                .and_then(|p| p.parse::<u16>().ok())
                .or_else(|| file.get("gateway.port").and_then(Value::as_u64).map(|p| p as u16))
                .unwrap_or(openclaw_node_host::endpoint::DEFAULT_PORT);
            let tls = file.get_bool("gateway.tls.enabled").unwrap_or(false);
            let scheme = if tls { "wss" } else { "ws" };
            endpoint_from_url(&format!("{scheme}://127.0.0.1:{port}"), gw.tls_fingerprint.as_deref())?
        }
    };
    let (mut token, mut password) = (gw.token.clone(), gw.password.clone());
    if gw.url.is_none() && token.is_none() && password.is_none() {
        let creds = openclaw_node_host::credentials::resolve_credentials(&file, &|k| std::env::var(k).ok(), false)?;
        token = creds.token;
        password = creds.password;
    }
    let loopback = openclaw_node_host::endpoint::is_loopback(&endpoint.host);
    let use_device = !(loopback && (token.is_some() || password.is_some()));
    let mut db = None;
    let (identity, device_token) = if use_device {
        let mut state = StateDb::open(&paths)?;
        let identity = state.load_or_create_identity()?;
        let stored = state.device_token(&identity.device_id(), "operator")?.map(|t| t.token);
        db = Some(state);
        (Some(identity), stored)
    } else {
        (None, None)
    };
    let scopes: Vec<String> = OPERATOR_SCOPES.iter().map(|s| s.to_string()).collect();
    let opts = ConnectOptions {
        endpoint,
        token,
        password,
        device_token,
        identity: identity.clone(),
        scopes,
        timeout: Duration::from_millis(gw.timeout),
    };
    let client = OperatorClient::connect(&opts).await?;
    if let (Some(db), Some(identity), Some(auth)) = (db.as_mut(), identity, client.hello().auth.as_ref()) {
        if let Some(t) = &auth.device_token {
            let _ = db.save_device_token(&identity.device_id(), "operator", t, &auth.scopes);
        }
    }
    Ok(client)
}
