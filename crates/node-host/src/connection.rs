//! The connection supervisor: dial, handshake, serve, and decide what happens next.
//!
//! One [`NodeHost::run`] call owns the node's lifetime. Each iteration dials the gateway and
//! runs the signed handshake (both from `openclaw-client`, shared with the operator), and on
//! `hello-ok` serves the session (`session.rs`) until it closes; then [`crate::reconnect`]
//! decides between retrying (with backoff), waiting for pairing approval, or exiting. The
//! session loop never blocks: every invoke runs in its own task and results flow back through
//! a channel, while reading, pings, ticks and stats continue. Every write has a deadline (the
//! tick window), so a link that stops taking data is declared dead like a silent one, and
//! results it swallowed are re-sent on the next connection (`outbox`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openclaw_client::connection::{close, dial, next_frame, DialError, FrameError, Ws};
use openclaw_client::credentials::GatewayCredentials;
use openclaw_client::endpoint::Endpoint;
use openclaw_client::handshake::{handshake, ConnectRequest, HandshakeError, Timeouts};
use openclaw_protocol::connect::{ConnectAuth, HelloOk, ROLE_NODE};
use openclaw_protocol::device_auth::DeviceIdentity;
use openclaw_protocol::ErrorShape;
use openclaw_state::StateDb;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::invoke::CommandRegistry;
use crate::reconnect::{classify, Backoff, Rejection, DEVICE_REMOVED_REASON, PAIRING_RETRY, PAIRING_SOON_MAX};
use crate::services::{lock_recovering, NodeEnv};
use crate::status_file::StatusReporter;
use openclaw_state::node_status::ConnectionState;
use session::Session;

pub mod outbox;
mod session;

/// How long to wait for `connect.challenge`, and then for the `connect` answer.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// TCP + TLS + upgrade budget.
const DIAL_TIMEOUT: Duration = Duration::from_secs(15);
/// Cadence of `node.host.stats`.
const STATS_INTERVAL: Duration = Duration::from_secs(60);
/// How long a `skills.bins` answer is trusted.
const SKILL_BINS_INTERVAL: Duration = Duration::from_secs(90);

/// Why the node host stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeExit {
    /// Stopped by a signal; the process exits 128 + signal (130 for SIGINT, 143 for SIGTERM).
    Signal(i32),
    /// The gateway refused our credentials; exit 1 so a supervisor stops restarting us.
    Terminal,
    /// Asked to stop after the first `hello-ok` (`openclaw connect --service`), and it came.
    Onboarded,
}

impl NodeExit {
    /// The process exit status.
    pub fn code(self) -> i32 {
        match self {
            NodeExit::Signal(code) => code,
            NodeExit::Terminal => 1,
            NodeExit::Onboarded => 0,
        }
    }
}

/// A setup code's single-use token, held until the first `hello-ok` (then the gateway has
/// issued the device token that replaces it).
#[derive(Clone)]
pub struct BootstrapToken {
    /// The token.
    pub token: String,
    /// Send it alone, even when a device token is stored (`--pair`, `connect`); otherwise only
    /// when no other credential exists (`--pair-if-needed`).
    pub prefer: bool,
}

/// Everything the supervisor needs, resolved before the first dial.
pub struct NodeHost {
    /// The gateway to dial (and the TLS pin that gateway must present).
    pub endpoint: Endpoint,
    /// A setup code's other gateway URLs, tried in order while no `connect` has reached a
    /// gateway yet; forgotten once a session has run on one of them.
    pub candidates: Vec<Endpoint>,
    /// Whether the endpoint that first answers `hello-ok` is saved as the node's gateway (it
    /// was one of several candidates).
    pub persist_winner: AtomicBool,
    /// The setup code's bootstrap token, until the first `hello-ok`.
    pub bootstrap: Mutex<Option<BootstrapToken>>,
    /// Stop with [`NodeExit::Onboarded`] after the first `hello-ok`.
    pub stop_after_hello: bool,
    /// The shared token or password sent when no device token has been issued yet.
    pub credentials: GatewayCredentials,
    /// This machine's device key: it signs every handshake, so the gateway knows the node
    /// across restarts and reconnects.
    pub identity: DeviceIdentity,
    /// Shared with invoke tasks later (approvals); locked only for short synchronous reads/writes.
    pub db: Arc<Mutex<StateDb>>,
    /// `client.instanceId`.
    pub node_id: String,
    /// `client.displayName`, what operators see in `nodes list`.
    pub display_name: String,
    /// The commands served; `commands` and `caps` in `connect` are derived from it.
    pub registry: Arc<CommandRegistry>,
    /// Sent as `pathEnv` unless a command allowlist is active.
    pub advertise_path: bool,
    /// The environment commands see (PATH); shared with every invoke.
    pub env: Arc<NodeEnv>,
    /// Where the connection state is published for `node status`.
    pub status: StatusReporter,
    /// The gateway's skill binaries, refreshed by each session.
    pub skill_bins: Arc<crate::services::SkillBins>,
    /// Results and events the gateway has not acknowledged, re-sent after a reconnect.
    pub outbox: Arc<outbox::Outbox>,
    /// Run by a service manager ([`crate::reconnect::is_supervised`]): exit 1 where a node in
    /// a terminal would wait for the operator.
    pub supervised: bool,
}

/// How one connection attempt ended.
enum Attempt {
    /// No WebSocket (refused, TLS failure, pin mismatch, upgrade refused).
    DialFailed(String),
    /// Connected, but the handshake did not finish (challenge or hello timeout, early close).
    HandshakeFailed {
        /// Why, as the log line says it.
        msg: String,
        /// Whether `connect` may have reached the gateway (then no other URL is tried).
        connect_sent: bool,
    },
    /// `connect` was refused.
    Rejected { error: ErrorShape, close: Option<(u16, String)> },
    /// A session ran after hello-ok and then closed.
    Closed { code: Option<u16>, reason: String },
    /// A signal asked us to stop.
    Shutdown(i32),
    /// `hello-ok` came and the host was asked to stop there.
    Onboarded,
}

impl NodeHost {
    /// Runs until a signal (via `shutdown`, which carries the exit code) or a terminal error.
    pub async fn run(mut self, mut shutdown: watch::Receiver<Option<i32>>) -> NodeExit {
        let mut backoff = Backoff::default();
        let mut send_device_token_with_shared = false;
        let mut announced_pairing: Option<String> = None;
        loop {
            let url = self.endpoint.url();
            if let Some(code) = *shutdown.borrow() {
                self.status.set(ConnectionState::Stopped, None);
                return NodeExit::Signal(code);
            }
            if announced_pairing.is_none() {
                info!("node host gateway connecting: {url}");
                self.status.set(ConnectionState::Connecting, None);
            } else {
                debug!("node host gateway connecting: {url} (pairing pending)");
            }
            let attempt = self.attempt(&mut shutdown, send_device_token_with_shared).await;
            let retry_with_device_token = send_device_token_with_shared;
            send_device_token_with_shared = false;
            let delay = match attempt {
                Attempt::Shutdown(code) => {
                    self.status.set(ConnectionState::Stopped, None);
                    return NodeExit::Signal(code);
                }
                Attempt::Onboarded => {
                    self.status.set(ConnectionState::Stopped, None);
                    return NodeExit::Onboarded;
                }
                Attempt::DialFailed(msg) | Attempt::HandshakeFailed { msg, connect_sent: false }
                    if !self.candidates.is_empty() =>
                {
                    info!("node host gateway connect failed: {msg}");
                    let next = self.candidates.remove(0);
                    info!("node host gateway trying the setup code's next URL: {}", next.url());
                    self.status.set_gateway(next.url());
                    self.endpoint = next;
                    Duration::ZERO
                }
                Attempt::DialFailed(msg) | Attempt::HandshakeFailed { msg, .. } => {
                    info!("node host gateway connect failed: {msg}");
                    self.status.set(ConnectionState::Disconnected, Some(msg));
                    backoff.next_delay()
                }
                Attempt::Closed { code, reason } => {
                    // A session ran: this endpoint is the gateway from now on.
                    self.candidates.clear();
                    let credentials_withdrawn = code == Some(4001) && reason == DEVICE_REMOVED_REASON;
                    let reason = or_no_close_reason(reason);
                    let mut line = format!(
                        "node host gateway closed ({}): {reason}",
                        code.map(|c| c.to_string()).unwrap_or_else(|| "-".into())
                    );
                    if credentials_withdrawn {
                        // Upstream's line, and what it means: the old token no longer works.
                        line.push_str(
                            "; an operator rotated or revoked this device's token or removed its pairing; reconnecting",
                        );
                    }
                    info!("{line}");
                    self.status.set(ConnectionState::Disconnected, Some(line));
                    backoff.reset();
                    announced_pairing = None;
                    backoff.next_delay()
                }
                Attempt::Rejected { error, close } => {
                    let (close_code, close_reason) = close.unwrap_or((1008, String::new()));
                    let close_reason = or_no_close_reason(close_reason);
                    let detail = error.detail_code().map(|c| format!(" detail={c}")).unwrap_or_default();
                    let terminal = format!(
                        "node host gateway reconnect paused after close ({close_code}): {close_reason}{detail}; exiting for supervisor restart"
                    );
                    match classify(&error) {
                        Rejection::PairingRequired { request_id, retry_soon } => {
                            let id = request_id.unwrap_or_else(|| "<see openclaw devices list>".into());
                            if announced_pairing.as_deref() != Some(id.as_str()) {
                                if retry_soon {
                                    info!(
                                        "node host pairing required: requestId={id}; the gateway is verifying this device (retrying shortly; or approve it with: openclaw devices approve {id})"
                                    );
                                } else {
                                    info!(
                                        "node host pairing required: requestId={id}; approve it on the gateway with: openclaw devices approve {id} (retrying every {} s until approved)",
                                        PAIRING_RETRY.as_secs()
                                    );
                                }
                                self.status.pairing(&id);
                                announced_pairing = Some(id);
                            } else {
                                debug!("pairing still pending");
                            }
                            // While the gateway approves by itself, retry on the backoff (1, 2,
                            // 4, 8 s, …), capped at the pairing cadence; otherwise every 10 s.
                            if retry_soon {
                                backoff.next_delay().min(PAIRING_SOON_MAX)
                            } else {
                                PAIRING_RETRY
                            }
                        }
                        Rejection::Terminal { .. } => {
                            info!("node host gateway connect failed: {}", error.message);
                            info!("{terminal}");
                            self.status.set(ConnectionState::Failed, Some(format!("{}{detail}", error.message)));
                            return NodeExit::Terminal;
                        }
                        Rejection::TokenMismatch => {
                            if !retry_with_device_token && self.may_retry_with_device_token() {
                                info!(
                                    "node host gateway connect failed: {}; retrying once with the stored device token",
                                    error.message
                                );
                                send_device_token_with_shared = true;
                                Duration::from_millis(250)
                            } else {
                                info!("node host gateway connect failed: {}", error.message);
                                info!("{terminal}");
                                self.status.set(ConnectionState::Failed, Some(format!("{}{detail}", error.message)));
                                return NodeExit::Terminal;
                            }
                        }
                        Rejection::DeviceTokenMismatch => {
                            // The stored token was rotated, revoked or belongs to a removed
                            // pairing: it is forgotten (as upstream), never sent again.
                            info!("node host gateway connect failed: {}", error.message);
                            if let Err(e) = self.state().clear_device_token(&self.identity.device_id(), ROLE_NODE) {
                                warn!("node host could not clear the device token: {e}");
                            }
                            self.status.set(ConnectionState::Failed, Some(format!("{}{detail}", error.message)));
                            if self.supervised {
                                info!("{terminal}");
                                return NodeExit::Terminal;
                            }
                            if self.credentials.token.is_some() || self.credentials.password.is_some() {
                                // A shared secret can still admit this device: retry with it.
                                info!(
                                    "node host forgot the refused device token; retrying with the shared credentials"
                                );
                                backoff.next_delay()
                            } else {
                                info!(
                                    "node host gateway reconnect paused after close ({close_code}): {close_reason}{detail}; waiting for operator action"
                                );
                                return self.wait_for_signal(&mut shutdown).await;
                            }
                        }
                        Rejection::StartupRetry(delay) => {
                            info!("node host gateway connect failed: {}{detail}", error.message);
                            self.status.set(ConnectionState::Disconnected, Some(format!("{}{detail}", error.message)));
                            delay
                        }
                        Rejection::RetryAfter(min) => {
                            info!("node host gateway connect failed: {}{detail}", error.message);
                            self.status.set(ConnectionState::Disconnected, Some(format!("{}{detail}", error.message)));
                            backoff.next_delay().max(min)
                        }
                        Rejection::Retry => {
                            info!("node host gateway connect failed: {}{detail}", error.message);
                            self.status.set(ConnectionState::Disconnected, Some(format!("{}{detail}", error.message)));
                            backoff.next_delay()
                        }
                    }
                }
            };
            if delay >= Duration::from_secs(1) && announced_pairing.is_none() {
                info!("node host gateway reconnect in {} s", delay.as_secs_f32());
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Upstream's paused state: no more connects until the process is stopped (a new join code
    /// or credentials need a restart anyway, since the refused token is gone).
    async fn wait_for_signal(&self, shutdown: &mut watch::Receiver<Option<i32>>) -> NodeExit {
        loop {
            if let Some(code) = *shutdown.borrow() {
                self.status.set(ConnectionState::Stopped, None);
                return NodeExit::Signal(code);
            }
            if shutdown.changed().await.is_err() {
                // The sender is gone: nobody can stop us by signal any more; end quietly.
                return NodeExit::Signal(143);
            }
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, StateDb> {
        // A panic while holding the lock cannot leave the database inconsistent (every write is
        // one transaction), so a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The device-token retry is only safe towards an endpoint we trust not to be an impostor
    /// collecting tokens: loopback, or TLS with a pinned certificate.
    fn may_retry_with_device_token(&self) -> bool {
        let trusted = openclaw_client::endpoint::is_loopback(&self.endpoint.host)
            || (self.endpoint.tls && self.endpoint.tls_fingerprint.is_some());
        let stored = matches!(self.state().device_token(&self.identity.device_id(), ROLE_NODE), Ok(Some(_)));
        trusted && stored && self.credentials.token.is_some()
    }

    /// The `auth` object for this attempt (`protocol.md` §4.5, `nodehost.md` §1.4): a
    /// preferred bootstrap token alone; otherwise the shared token or password, the stored
    /// device token when there is neither (or on the one retry with it), and a bootstrap token
    /// only when nothing else is there.
    fn connect_auth(&self, with_device_token: bool) -> ConnectAuth {
        let bootstrap = lock_recovering(&self.bootstrap).clone();
        if let Some(BootstrapToken { token, prefer: true }) = bootstrap {
            return ConnectAuth { bootstrap_token: Some(token), ..Default::default() };
        }
        let stored = match self.state().device_token(&self.identity.device_id(), ROLE_NODE) {
            Ok(t) => t.map(|t| t.token),
            Err(e) => {
                warn!("node host could not read the stored device token: {e}");
                None
            }
        };
        let mut auth = ConnectAuth {
            token: self.credentials.token.clone(),
            password: self.credentials.password.clone(),
            ..Default::default()
        };
        if (auth.token.is_none() && auth.password.is_none()) || with_device_token {
            auth.device_token = stored;
        }
        if auth.token.is_none() && auth.password.is_none() && auth.device_token.is_none() {
            auth.bootstrap_token = bootstrap.map(|b| b.token);
        }
        auth
    }

    /// What this node says about itself in `connect`; the handshake signs it.
    fn connect_request(&self, auth: ConnectAuth) -> ConnectRequest<'_> {
        ConnectRequest {
            display_name: Some(self.display_name.clone()),
            instance_id: Some(self.node_id.clone()),
            model_identifier: crate::platform::model_identifier(),
            caps: Some(self.registry.caps()),
            commands: Some(self.registry.command_names()),
            path_env: self.advertise_path.then(|| self.env.path.clone()),
            ..ConnectRequest::node(&self.identity, auth)
        }
    }

    async fn attempt(&self, shutdown: &mut watch::Receiver<Option<i32>>, with_device_token: bool) -> Attempt {
        let dial = tokio::time::timeout(DIAL_TIMEOUT, dial(&self.endpoint));
        let mut ws = tokio::select! {
            r = dial => match r {
                Ok(Ok(ws)) => ws,
                Ok(Err(e)) => return Attempt::DialFailed(dial_failure(&e)),
                Err(_) => return Attempt::DialFailed(format!("timed out after {} s", DIAL_TIMEOUT.as_secs())),
            },
            _ = shutdown.changed() => return Attempt::Shutdown(shutdown.borrow().unwrap_or(143)),
        };
        let handshake = self.handshake(&mut ws, with_device_token);
        let hello = tokio::select! {
            r = handshake => r,
            _ = shutdown.changed() => {
                close(&mut ws, 1000, "node host stopping").await;
                return Attempt::Shutdown(shutdown.borrow().unwrap_or(143));
            }
        };
        let hello = match hello {
            Ok(hello) => hello,
            Err(attempt) => return attempt,
        };
        if let Some(auth) = &hello.auth {
            if let Some(token) = &auth.device_token {
                self.persist_device_token(token, &auth.scopes);
            }
        }
        // The setup code is spent: from now on the device token (or nothing) authenticates.
        lock_recovering(&self.bootstrap).take();
        if self.persist_winner.swap(false, Ordering::SeqCst) {
            self.persist_gateway();
        }
        info!("node host gateway connected: {}", self.endpoint.url());
        self.status.set(ConnectionState::Connected, None);
        if self.stop_after_hello {
            close(&mut ws, 1000, "node host onboarded").await;
            return Attempt::Onboarded;
        }
        Session::new(self, ws, &hello).serve(shutdown).await
    }

    /// Saves the endpoint that answered as the node's gateway (one of a setup code's URLs).
    fn persist_gateway(&self) {
        let saved =
            |c: &mut openclaw_state::NodeHostConfig| c.gateway = Some(self.endpoint.to_saved(c.gateway.as_ref()));
        match self.state().update_node_config(saved) {
            Ok(_) => debug!("saved {} as the gateway", self.endpoint.url()),
            Err(e) => warn!("node host gateway endpoint persistence failed: {e}"),
        }
    }

    fn persist_device_token(&self, token: &str, scopes: &[String]) {
        let device_id = self.identity.device_id();
        let current = self.state().device_token(&device_id, ROLE_NODE).ok().flatten();
        if current.as_ref().map(|t| t.token.as_str()) == Some(token) {
            return;
        }
        match self.state().save_device_token(&device_id, ROLE_NODE, token, scopes) {
            Ok(()) => debug!("stored a new device token"),
            Err(e) => warn!("node host could not store the device token: {e}"),
        }
    }

    /// challenge → connect → hello-ok (or the rejection and the close that follows it).
    async fn handshake(&self, ws: &mut Ws, with_device_token: bool) -> Result<HelloOk, Attempt> {
        let request = self.connect_request(self.connect_auth(with_device_token));
        let id = format!("1:{}", uuid::Uuid::new_v4());
        match handshake(ws, &request, &id, Timeouts::PerStep(HANDSHAKE_TIMEOUT)).await {
            Ok(hello) => Ok(hello),
            Err(HandshakeError::Refused(error)) => {
                // The gateway closes right after a refusal; its close reason goes into the log.
                let close = match next_frame(ws, Instant::now() + Duration::from_secs(2)).await {
                    Err(e @ (FrameError::Lost | FrameError::Closed(_))) => e.close_code_and_reason(),
                    _ => None,
                };
                Err(Attempt::Rejected { error: *error, close })
            }
            Err(e) => {
                match &e {
                    HandshakeError::ChallengeWait(FrameError::Timeout) => {
                        close(ws, 1008, "connect challenge timeout").await
                    }
                    HandshakeError::InvalidChallenge { .. } => close(ws, 1008, "connect challenge missing nonce").await,
                    HandshakeError::HelloWait(FrameError::Timeout) => close(ws, 4000, "connect timeout").await,
                    _ => {}
                }
                Err(Attempt::HandshakeFailed { msg: e.to_string(), connect_sent: e.connect_sent() })
            }
        }
    }
}

/// The log line of a failed dial. A pin mismatch is said as such: retrying cannot fix it,
/// and the operator must re-pin or find out who answers instead.
fn dial_failure(e: &DialError) -> String {
    if let DialError::FingerprintMismatch { actual, .. } = e {
        debug!("the gateway presented a certificate with sha256 {actual}");
    }
    e.to_string()
}

/// Upstream prints an empty close reason as "no close reason".
fn or_no_close_reason(reason: String) -> String {
    if reason.is_empty() {
        "no close reason".to_string()
    } else {
        reason
    }
}

#[cfg(test)]
mod tests {
    use openclaw_protocol::setup_code::SetupPayload;
    use openclaw_state::StatePaths;

    use super::*;
    use crate::startup::{prepare, NodeRunOptions, Pairing};

    /// A host prepared in a fresh state dir with `pairing`, and a device token stored or not.
    fn host(pairing: Option<(&str, bool)>, stored: bool, env_token: bool) -> (tempfile::TempDir, NodeHost) {
        let dir = tempfile::tempdir().unwrap();
        let paths = StatePaths { state_dir: dir.path().join("oc"), config_path: dir.path().join("oc/openclaw.json") };
        let pairing = pairing.map(|(urls, prefer)| {
            let urls: Vec<&str> = urls.split(' ').collect();
            let payload = SetupPayload {
                url: urls[0].to_string(),
                urls: (urls.len() > 1).then(|| urls.iter().map(|u| u.to_string()).collect()),
                bootstrap_token: "boot".into(),
                expires_at_ms: None,
                tls_fingerprint: None,
            };
            Pairing { payload, prefer_bootstrap: prefer }
        });
        let opts = NodeRunOptions { pairing, ..Default::default() };
        let env = move |k: &str| (env_token && k == "OPENCLAW_GATEWAY_TOKEN").then(|| "shared".to_string());
        let host = prepare(&paths, &opts, &env).unwrap();
        if stored {
            host.state().save_device_token(&host.identity.device_id(), ROLE_NODE, "device", &[]).unwrap();
        }
        (dir, host)
    }

    fn sent(auth: &ConnectAuth) -> [Option<&str>; 4] {
        [auth.token.as_deref(), auth.device_token.as_deref(), auth.bootstrap_token.as_deref(), auth.password.as_deref()]
    }

    /// Upstream's `selectGatewayConnectAuth`: `--pair` sends the bootstrap token alone, even
    /// over a stored device token; `--pair-if-needed` only when nothing else exists; a setup
    /// code resolves no shared secret at all; after `hello-ok` the token is gone.
    #[test]
    fn the_bootstrap_token_is_sent_as_upstream_sends_it() {
        let (_d, pair) = host(Some(("ws://127.0.0.1:9", true)), true, true);
        assert_eq!(sent(&pair.connect_auth(false)), [None, None, Some("boot"), None]);
        let (_d, if_needed) = host(Some(("ws://127.0.0.1:9", false)), true, true);
        assert_eq!(sent(&if_needed.connect_auth(false)), [None, Some("device"), None, None]);
        let (_d, fresh) = host(Some(("ws://127.0.0.1:9", false)), false, true);
        assert_eq!(sent(&fresh.connect_auth(false)), [None, None, Some("boot"), None], "no shared token resolved");
        lock_recovering(&fresh.bootstrap).take();
        assert_eq!(sent(&fresh.connect_auth(false)), [None, None, None, None]);
        let (_d, plain) = host(None, false, true);
        assert_eq!(sent(&plain.connect_auth(false)), [Some("shared"), None, None, None]);
    }

    /// A setup code's first URL is dialled, the others wait as candidates; the primary is
    /// saved before connecting, with the scheme's default port when the URL has none.
    #[test]
    fn a_setup_codes_urls_become_the_endpoint_and_its_candidates() {
        let (_d, host) = host(Some(("wss://gw.example ws://127.0.0.1:18789/gw", true)), false, false);
        assert_eq!(host.endpoint.url(), "wss://gw.example:443");
        let candidates: Vec<String> = host.candidates.iter().map(Endpoint::url).collect();
        assert_eq!(candidates, ["ws://127.0.0.1:18789/gw"]);
        assert!(host.persist_winner.load(Ordering::SeqCst));
        let saved = host.state().node_config().unwrap().unwrap().gateway.unwrap();
        assert_eq!((saved.host.as_deref(), saved.port, saved.tls), (Some("gw.example"), Some(443), Some(true)));
    }
}
