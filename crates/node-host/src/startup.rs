//! Start-up of `openclaw node run`: everything that happens before the first dial.
//!
//! (Named `startup` rather than `run` so that `run` means one thing in this crate: the
//! `system.run` command in `commands::system::run`.)

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use openclaw_client::credentials::GatewayCredentials;
use openclaw_client::endpoint::{endpoint_from_setup_url, Endpoint};
use openclaw_protocol::connect::ROLE_NODE;
use openclaw_protocol::setup_code::{SetupCodeError, SetupPayload};
use openclaw_state::config::{ConfigError, OpenClawConfig};
use openclaw_state::legacy::import_legacy_state;
use openclaw_state::{StateDb, StateError, StatePaths};
use tracing::info;

use crate::connection::{BootstrapToken, NodeHost};
use crate::credentials::{resolve_credentials, CredentialError};
use crate::endpoint::{resolve_endpoint, EndpointError, EndpointFlags};
use crate::invoke::EmptyAllowlist;
use crate::run_limit::{RunLimiter, DEFAULT_MAX_CONCURRENT_RUNS};
use crate::services::{NodeEnv, NodeServices, SkillBins};
use crate::status_file::StatusReporter;
use openclaw_state::node_status::NodeHostStatus;

/// The flags of `node run`.
#[derive(Debug, Clone, Default)]
pub struct NodeRunOptions {
    /// `--host`, `--port`, `--tls`, `--tls-fingerprint`, `--context-path`: where to connect
    /// (saved to the node config, so the next run reuses it).
    pub endpoint: EndpointFlags,
    /// `--node-id`: overrides (and persists) the node's id.
    pub node_id: Option<String>,
    /// `--display-name`: overrides (and persists) the name the gateway shows.
    pub display_name: Option<String>,
    /// `--commands`, already split, trimmed, sorted and de-duplicated.
    pub commands: Option<Vec<String>>,
    /// `--all-commands`: clear a saved `--commands` allowlist and advertise everything.
    pub all_commands: bool,
    /// `--pair`, `--pair-if-needed` or `openclaw connect`: the setup payload to onboard with.
    pub pairing: Option<Pairing>,
    /// `openclaw connect --service`: stop after the first `hello-ok` (the device token is
    /// stored by then), so the service started next authenticates with it.
    pub stop_after_hello: bool,
}

/// A setup payload (`nodehost.md` §1.4) and how to use its bootstrap token.
#[derive(Debug, Clone)]
pub struct Pairing {
    /// The checked payload: the gateway URLs to try and the bootstrap token.
    pub payload: SetupPayload,
    /// Send the bootstrap token even when a device token is stored (`--pair`, `connect`),
    /// rather than only when there is none (`--pair-if-needed`).
    pub prefer_bootstrap: bool,
}

/// The endpoints of a setup payload, in order, each with the TLS pin only if its URL is the
/// payload's `url` (the pin was taken from that gateway).
fn pairing_endpoints(payload: &SetupPayload) -> Result<Vec<Endpoint>, PrepareError> {
    payload
        .candidates()
        .iter()
        .map(|url| {
            let pin = (*url == payload.url).then_some(payload.tls_fingerprint.as_deref()).flatten();
            endpoint_from_setup_url(url, pin)
                .map_err(|_| PrepareError::Usage(SetupCodeError::InvalidPayload.to_string()))
        })
        .collect()
}

/// Raises the soft limit on open files to the hard limit, so concurrent `system.run` children
/// (each holds pipes) never fail for want of descriptors while the hard limit allows more.
/// Returns the soft limit before and after; failures are logged, never fatal.
pub fn raise_fd_limit() -> Option<(u64, u64)> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft >= hard {
        return Some((soft, soft));
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => {
            tracing::debug!("raised the open-file limit from {soft} to {hard}");
            Some((soft, hard))
        }
        Err(e) => {
            tracing::warn!("node host could not raise the open-file limit from {soft} to {hard}: {e}");
            Some((soft, soft))
        }
    }
}

/// The env key that sets the `system.run` concurrency limit (default
/// [`DEFAULT_MAX_CONCURRENT_RUNS`]).
pub const MAX_CONCURRENT_RUNS_ENV: &str = "OPENCLAW_NODE_MAX_CONCURRENT_RUNS";

/// The `system.run` concurrency limit: the env key, else the default. A value that is not a
/// positive integer stops the start (better than silently running with another limit).
fn max_concurrent_runs(env: &dyn Fn(&str) -> Option<String>) -> Result<usize, PrepareError> {
    match env(MAX_CONCURRENT_RUNS_ENV) {
        None => Ok(DEFAULT_MAX_CONCURRENT_RUNS),
        Some(text) => text.trim().parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            PrepareError::Usage(format!("{MAX_CONCURRENT_RUNS_ENV} must be a positive integer (got {text:?})"))
        }),
    }
}

/// Anything that stops the node before it connects. Every variant exits 1.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The endpoint flags or the saved endpoint are invalid.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The state database could not be opened, migrated or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// `openclaw.json` could not be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The gateway credentials could not be resolved (e.g. an unreadable secret file).
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// `--commands` names nothing this node can run.
    #[error(transparent)]
    Allowlist(#[from] EmptyAllowlist),
    /// A plaintext `ws://` endpoint that is not allowed (the text says how to allow it).
    #[error("{0}")]
    Insecure(String),
    /// Contradictory flags.
    #[error("{0}")]
    Usage(String),
}

/// Resolves and persists everything for a run, in upstream's order: config row (endpoint,
/// name, allowlist) first, then the command manifest, the identity and the credentials.
pub fn prepare(
    paths: &StatePaths,
    opts: &NodeRunOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<NodeHost, PrepareError> {
    if opts.all_commands && opts.commands.is_some() {
        return Err(PrepareError::Usage("--all-commands cannot be combined with --commands".into()));
    }
    raise_fd_limit();
    let config = OpenClawConfig::load(&paths.config_path)?;
    let mut db = StateDb::open(paths)?;
    for imported in import_legacy_state(paths, &mut db)? {
        if imported.wrote_rows {
            info!(
                "node-host: imported legacy {} into {} (backup: {})",
                imported.from.display(),
                db.path().display(),
                imported.backup.display()
            );
        } else {
            tracing::warn!(
                "node-host: {} was not imported because {} already has that state; kept as {}",
                imported.from.display(),
                db.path().display(),
                imported.backup.display()
            );
        }
    }
    let previous = db.node_config()?;
    let saved_gateway = previous.as_ref().and_then(|c| c.gateway.clone());
    // A setup payload's first URL replaces the saved gateway as the baseline; its other URLs
    // are tried in turn, unless an endpoint flag names the gateway explicitly.
    let mut candidates = match &opts.pairing {
        Some(pairing) => pairing_endpoints(&pairing.payload)?,
        None => Vec::new(),
    };
    let baseline = match candidates.first() {
        Some(primary) => Some(primary.to_saved(saved_gateway.as_ref())),
        None => saved_gateway.clone(),
    };
    let explicit = opts.endpoint.host.is_some()
        || opts.endpoint.port.is_some()
        || opts.endpoint.tls.is_some()
        || opts.endpoint.tls_fingerprint.is_some()
        || opts.endpoint.context_path.is_some();
    let endpoint = resolve_endpoint(&opts.endpoint, baseline.as_ref(), config.get_bool("gateway.tls.enabled"))?;
    if explicit || candidates.len() < 2 {
        candidates.clear();
    } else {
        candidates.remove(0);
    }
    let machine = crate::platform::machine_name();
    let cfg = db.update_node_config(|c| {
        if let Some(id) = opts.node_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            c.node_id = id.to_string();
        }
        if let Some(name) = opts.display_name.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            c.display_name = Some(name.to_string());
        } else if c.display_name.is_none() {
            c.display_name = Some(machine.clone());
        }
        c.gateway = Some(endpoint.to_saved(saved_gateway.as_ref()));
        c.installed_apps_sharing = Some(c.installed_apps_sharing.unwrap_or(false));
        if opts.all_commands {
            c.commands = None;
        } else if let Some(list) = &opts.commands {
            c.commands = Some(list.clone());
        }
    })?;
    if opts.all_commands && previous.as_ref().is_some_and(|p| p.commands.is_some()) {
        info!("node-host: cleared saved command allowlist; advertising the full default command surface");
    }
    let identity = db.load_or_create_identity()?;
    let has_device_token = db.device_token(&identity.device_id(), ROLE_NODE)?.is_some();
    let db = Arc::new(std::sync::Mutex::new(db));
    let skill_bins = Arc::new(SkillBins::default());
    let max_runs = max_concurrent_runs(env)?;
    let services = Arc::new(NodeServices {
        db: db.clone(),
        paths: paths.clone(),
        config: config.clone(),
        skill_bins: skill_bins.clone(),
        runs: RunLimiter::new(max_runs),
    });
    let builtin = crate::commands::builtin(&services);
    let registry = match &cfg.commands {
        Some(list) => builtin.restrict_to(list)?,
        None => builtin,
    };
    info!("[node-host] advertised commands: {}", registry.command_names().join(", "));

    let allow_insecure_private = env("OPENCLAW_ALLOW_INSECURE_PRIVATE_WS").as_deref() == Some("1");
    endpoint.check_plaintext_policy(allow_insecure_private).map_err(|e| PrepareError::Insecure(e.to_string()))?;
    candidates.retain(|c| match c.check_plaintext_policy(allow_insecure_private) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("node host skips the gateway URL {} of the setup code: {e}", c.url());
            false
        }
    });

    // With a device token stored for the saved endpoint (same scheme, host, port and path),
    // config auth is skipped and only the env credentials are sent, as upstream does. With a
    // bootstrap token, no shared credential is resolved at all: the setup code is the auth.
    let same_origin = saved_gateway.as_ref().is_some_and(|s| {
        s.host.as_deref() == Some(endpoint.host.as_str())
            && s.port == Some(u32::from(endpoint.port))
            && s.tls.unwrap_or(false) == endpoint.tls
            && s.context_path == endpoint.context_path
    });
    let credentials = match &opts.pairing {
        Some(_) => GatewayCredentials::default(),
        None => resolve_credentials(&config, env, same_origin && has_device_token)?,
    };
    let bootstrap = opts
        .pairing
        .as_ref()
        .map(|p| BootstrapToken { token: p.payload.bootstrap_token.clone(), prefer: p.prefer_bootstrap });

    let status = StatusReporter::new(Some(NodeHostStatus::path(paths)), endpoint.url());
    Ok(NodeHost {
        status,
        persist_winner: AtomicBool::new(!candidates.is_empty()),
        candidates,
        endpoint,
        bootstrap: std::sync::Mutex::new(bootstrap),
        stop_after_hello: opts.stop_after_hello,
        credentials,
        identity,
        db,
        node_id: cfg.node_id.clone(),
        display_name: cfg.display_name.clone().unwrap_or(machine),
        advertise_path: cfg.commands.is_none(),
        registry: Arc::new(registry),
        env: Arc::new(NodeEnv::from_process()),
        skill_bins,
        outbox: Default::default(),
        supervised: crate::reconnect::is_supervised(env),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::resource::{getrlimit, setrlimit, Resource};

    #[test]
    fn the_soft_fd_limit_is_raised_to_the_hard_limit() {
        // nextest runs each test in its own process, so lowering the limit here is contained.
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        setrlimit(Resource::RLIMIT_NOFILE, 256.min(hard), hard).unwrap();
        assert_eq!(raise_fd_limit(), Some((256.min(hard), hard)));
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (hard, hard));
    }

    #[test]
    fn the_run_limit_comes_from_the_env_and_must_be_positive() {
        let env = |v: Option<&'static str>| {
            move |k: &str| (k == MAX_CONCURRENT_RUNS_ENV).then_some(v).flatten().map(String::from)
        };
        assert_eq!(max_concurrent_runs(&env(None)).unwrap(), DEFAULT_MAX_CONCURRENT_RUNS);
        assert_eq!(max_concurrent_runs(&env(Some(" 8 "))).unwrap(), 8);
        for bad in ["0", "-1", "many"] {
            assert!(max_concurrent_runs(&env(Some(bad)))
                .unwrap_err()
                .to_string()
                .contains("must be a positive integer"));
        }
    }
}
