//! The node-facing half of the OpenClaw Gateway, wire-compatible with npm `openclaw@2026.9.6`
//! (protocol v4), so our node host, the TypeScript node host and the operator CLI all work
//! against it.
//!
//! Layering, from the socket inward:
//! - [`server`]: TCP/TLS accept, WebSocket upgrade, the per-connection read loop, pings,
//!   pre-auth limits, ticks.
//! - [`handshake`]: admission of `connect` in the real Gateway's order of checks.
//! - [`methods`]: every request after `hello-ok`, gated by role and operator scope; one module
//!   per method family, each method declared once in its family's table.
//! - [`registry`]: connected clients, broadcasts, and invoke routing with deadlines.
//! - [`pairing`] + [`store`]: device pairing, device tokens and node surfaces, journaled to
//!   SQLite; [`exec_approval`]: approval records for `system.run` plans. The operator-facing
//!   shapes of all of them live in [`openclaw_protocol::methods`].
//! - [`schema`]: strict params validation with upstream's messages; [`auth`]: the failure
//!   limiter; [`tls`]: the generated certificate; [`config`]: settings.

// Handlers return the wire error (`ErrorShape`, `Refusal`) directly: it is built once per failed
// request and serialised at once, so boxing it would only add noise.
#![allow(clippy::result_large_err)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod exec_approval;
pub mod file_transfer;
pub mod handshake;
pub mod methods;
pub mod pairing;
pub mod registry;
pub mod schema;
pub mod server;
pub mod store;
pub mod tls;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

pub use config::{AuthMode, GatewayConfig, TlsSource};
pub use server::{Gateway, GatewayError};

/// State shared by every connection of one gateway.
///
/// The locks are reached only through the accessors below, which share one poisoning policy:
/// a handler that panics while holding a lock poisons it, and the next caller takes the data
/// as it is instead of panicking too. Every critical section here is a short synchronous update
/// of in-memory maps (the durable state is in SQLite, written before the maps change), so a
/// half-done update costs at most one stale entry, while propagating the panic would take every
/// other connection of the gateway down with the one broken request. The node host follows the
/// same policy (`services.db()`).
pub struct Shared {
    /// Settings.
    pub config: GatewayConfig,
    /// Pairing records (device and node surface).
    pub(crate) pairing: Mutex<pairing::Pairing>,
    /// Auth failure limiter.
    pub(crate) limiter: Mutex<auth::RateLimiter>,
    /// Failure limiter of the join URL (loopback is not exempt: a join code is a secret
    /// anyone on the machine could otherwise guess at).
    pub(crate) join_limiter: Mutex<auth::RateLimiter>,
    /// Connections and in-flight invokes.
    pub(crate) registry: Mutex<registry::Registry>,
    /// Exec approval records.
    pub(crate) approvals: Mutex<exec_approval::ApprovalBook>,
    /// SHA-256 of the TLS certificate served, when TLS is on (setup codes pin it).
    pub tls_fingerprint: Option<String>,
    /// SSH verification probes in flight and their cooldowns (it locks for itself).
    pub(crate) ssh_verifier: pairing::ssh_verify::SshVerifier,
    /// This run's id (`hello-ok.server.bootId`).
    pub boot_id: String,
    /// When this run started.
    pub started: Instant,
}

/// Locks `mutex`, recovering the data if a panicking holder poisoned it (see [`Shared`]).
fn recover<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// The pairing records, locked. Keep the guard short: handshakes wait on it.
    pub fn pairing(&self) -> MutexGuard<'_, pairing::Pairing> {
        recover(&self.pairing)
    }

    /// The auth failure limiter, locked.
    pub fn limiter(&self) -> MutexGuard<'_, auth::RateLimiter> {
        recover(&self.limiter)
    }

    /// The join URL's failure limiter, locked.
    pub fn join_limiter(&self) -> MutexGuard<'_, auth::RateLimiter> {
        recover(&self.join_limiter)
    }

    /// The connection registry, locked. Never held across an `.await`.
    pub fn registry(&self) -> MutexGuard<'_, registry::Registry> {
        recover(&self.registry)
    }

    /// The exec approval book, locked.
    pub fn approvals(&self) -> MutexGuard<'_, exec_approval::ApprovalBook> {
        recover(&self.approvals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_recovered_not_propagated() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let held = m.clone();
        let _ = std::thread::spawn(move || {
            let mut g = held.lock().unwrap();
            *g = 2;
            panic!("a handler panics while holding the lock");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*recover(&m), 2, "the data is taken as the panicking holder left it");
    }
}
