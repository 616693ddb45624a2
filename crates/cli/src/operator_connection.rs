//! How operator commands reach a gateway: the flags every `devices`, `nodes` and `approvals`
//! command takes, the runtime they run on, and [`connect`], which turns those flags, the config
//! file, the environment and this machine's identity into a connected [`OperatorClient`].
//!
//! The resolution itself (config, credentials, identity, device token) lives in
//! [`openclaw_operator::connect`], where it is unit-tested; this module only maps flags.

use std::time::Duration;

use clap::Args;
use openclaw_operator::connect::ConnectFlags;
use openclaw_operator::OperatorClient;
use openclaw_state::StatePaths;

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
    connect_presenting(gw, Vec::new()).await
}

/// [`connect`], declaring `caps` to the gateway (`plugin-approvals` when this terminal can
/// answer the prompts its own commands raise).
pub(crate) async fn connect_presenting(gw: &GatewayFlags, caps: Vec<String>) -> Result<OperatorClient, Failure> {
    let flags = ConnectFlags {
        url: gw.url.clone(),
        token: gw.token.clone(),
        password: gw.password.clone(),
        tls_fingerprint: gw.tls_fingerprint.clone(),
        timeout: Duration::from_millis(gw.timeout),
    };
    Ok(openclaw_operator::connect::connect_presenting(&flags, &StatePaths::from_env(), caps).await?)
}
