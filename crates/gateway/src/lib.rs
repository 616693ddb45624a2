//! The node-facing half of the OpenClaw Gateway, wire-compatible with npm `openclaw@2026.9.6`
//! (protocol v4), so our node host, the TypeScript node host and the operator CLI all work
//! against it.
//!
//! Layering, from the socket inward:
//! - [`server`]: TCP/TLS accept, WebSocket upgrade, the per-connection read loop, pings,
//!   pre-auth limits, ticks.
//! - [`handshake`]: admission of `connect` in the real Gateway's order of checks.
//! - [`methods`]: every request after `hello-ok`, gated by role and operator scope.
//! - [`registry`]: connected clients, broadcasts, and invoke routing with deadlines.
//! - [`pairing`] + [`store`]: device pairing, device tokens and node surfaces, journaled to
//!   SQLite; [`exec_approval`]: approval records for `system.run` plans.
//! - [`schema`]: strict params validation with upstream's messages; [`auth`]: the failure
//!   limiter; [`tls`]: the generated certificate; [`config`]: settings.

// Handlers return the wire error (`ErrorShape`, `Refusal`) directly: it is built once per failed
// request and serialised at once, so boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod config;
pub mod exec_approval;
pub mod handshake;
pub mod methods;
pub mod pairing;
pub mod registry;
pub mod schema;
pub mod server;
pub mod store;
pub mod tls;

use std::sync::Mutex;
use std::time::Instant;

pub use config::{AuthMode, GatewayConfig, TlsSource};
pub use server::{Gateway, GatewayError};

/// State shared by every connection of one gateway.
pub struct Shared {
    /// Settings.
    pub config: GatewayConfig,
    /// Pairing records (device and node surface).
    pub pairing: Mutex<pairing::Pairing>,
    /// Auth failure limiter.
    pub limiter: Mutex<auth::RateLimiter>,
    /// Connections and in-flight invokes.
    pub registry: Mutex<registry::Registry>,
    /// Exec approval records.
    pub approvals: Mutex<exec_approval::ApprovalBook>,
    /// This run's id (`hello-ok.server.bootId`).
    pub boot_id: String,
    /// When this run started.
    pub started: Instant,
}
