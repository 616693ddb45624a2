//! `openclaw gateway run`: flags → [`GatewayConfig`], then serve until a signal.
//!
//! Which of the flags, the environment and `openclaw.json` wins is decided by
//! [`GatewayConfig::resolve`] in the gateway library (with its tests); this module only maps
//! the parsed flags onto [`GatewayRunFlags`], loads the file, and prints what is listening.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use openclaw_gateway::config::{self, GatewayRunFlags, DEFAULT_PORT};
use openclaw_gateway::{AuthMode, Gateway, GatewayConfig};
use openclaw_state::config::OpenClawConfig;
use openclaw_state::StatePaths;

/// `openclaw gateway`.
#[derive(Args)]
pub(crate) struct GatewayArgs {
    #[command(subcommand)]
    command: GatewayCommand,
}

#[derive(Subcommand)]
enum GatewayCommand {
    /// Run the gateway in the foreground
    Run(GatewayRunArgs),
}

/// `--auth`: the parser's copy of [`config::AuthKind`], so the gateway library needs no clap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum AuthKind {
    None,
    Token,
    Password,
}

/// `gateway run`.
#[derive(Args)]
struct GatewayRunArgs {
    /// Port to listen on
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// loopback (127.0.0.1), lan (all interfaces) or an IP address
    #[arg(long, default_value = "loopback")]
    bind: String,
    /// Shared-secret mode (default: token when a token is known, password when a password is)
    #[arg(long, value_enum)]
    auth: Option<AuthKind>,
    /// Shared token (else OPENCLAW_GATEWAY_TOKEN, else gateway.auth.token)
    #[arg(long)]
    token: Option<String>,
    /// Shared password (else OPENCLAW_GATEWAY_PASSWORD, else gateway.auth.password)
    #[arg(long)]
    password: Option<String>,
    /// Serve wss:// with a self-signed certificate generated once in the state dir
    #[arg(long)]
    tls: bool,
    /// PEM certificate chain to serve instead of the generated one (implies --tls)
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Do not approve device pairing of loopback clients automatically
    #[arg(long)]
    no_local_auto_approve: bool,
}

impl GatewayRunArgs {
    /// The flags as the gateway library takes them.
    fn flags(&self) -> GatewayRunFlags {
        GatewayRunFlags {
            port: self.port,
            bind: self.bind.clone(),
            auth: self.auth.map(|kind| match kind {
                AuthKind::None => config::AuthKind::None,
                AuthKind::Token => config::AuthKind::Token,
                AuthKind::Password => config::AuthKind::Password,
            }),
            token: self.token.clone(),
            password: self.password.clone(),
            tls: self.tls,
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            no_local_auto_approve: self.no_local_auto_approve,
        }
    }
}

/// Loads `openclaw.json` and resolves the flags against it and the process environment.
fn build_config(args: &GatewayRunArgs) -> anyhow::Result<GatewayConfig> {
    let paths = StatePaths::from_env();
    let file = if paths.config_path.exists() {
        OpenClawConfig::load(&paths.config_path)?
    } else {
        OpenClawConfig::from_value(serde_json::json!({}))
    };
    let env = |k: &str| std::env::var(k).ok();
    let mut config = GatewayConfig::resolve(&args.flags(), &file, &env, paths.state_dir.clone())?;
    apply_test_intervals(&mut config, &env)?;
    let ip = config.listen.ip();
    if config.auth == AuthMode::None && !ip.is_loopback() {
        tracing::warn!("gateway auth is none on {ip}: anyone who can reach this port may pair devices");
    }
    Ok(config)
}

/// Test-only overrides of the tick and ping cadence (`OPENCLAW_TEST_TICK_INTERVAL_MS`,
/// `OPENCLAW_TEST_PING_INTERVAL_MS`, after upstream's `OPENCLAW_TEST_*` knobs), so the fault
/// suite can show a half-open link or a stalled gateway in seconds instead of minutes: the
/// node's tick watchdog is twice the tick interval it is told in `hello-ok`. Undocumented for
/// users; a value outside 100 ms to 10 minutes is an error, never silently ignored.
fn apply_test_intervals(config: &mut GatewayConfig, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    let read = |key: &str| -> anyhow::Result<Option<std::time::Duration>> {
        let Some(raw) = env(key) else { return Ok(None) };
        match raw.trim().parse::<u64>() {
            Ok(ms) if (100..=600_000).contains(&ms) => Ok(Some(std::time::Duration::from_millis(ms))),
            _ => anyhow::bail!("{key} must be a whole number of milliseconds from 100 to 600000, got {raw:?}"),
        }
    };
    if let Some(tick) = read("OPENCLAW_TEST_TICK_INTERVAL_MS")? {
        config.tick_interval = tick;
    }
    if let Some(ping) = read("OPENCLAW_TEST_PING_INTERVAL_MS")? {
        // Upstream's pong is due one ping interval after the ping; keep that ratio.
        config.ping_interval = ping;
        config.pong_timeout = ping;
    }
    Ok(())
}

/// Runs one `gateway` verb.
pub(crate) fn run(args: GatewayArgs) -> ExitCode {
    match args.command {
        GatewayCommand::Run(args) => serve(args),
    }
}

/// `gateway run`: serves in the foreground until SIGINT or SIGTERM.
fn serve(args: GatewayRunArgs) -> ExitCode {
    crate::output::init_logging();
    let config = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("openclaw: {e}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("openclaw: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let auth = config.auth.name();
        let gateway = match Gateway::bind(config).await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("openclaw: {e}");
                return ExitCode::from(1);
            }
        };
        let scheme = if gateway.tls_fingerprint().is_some() { "wss" } else { "ws" };
        println!("gateway listening on {scheme}://{} (auth: {auth})", gateway.local_addr());
        if let Some(fp) = gateway.tls_fingerprint() {
            println!("tls fingerprint (sha256): {fp}");
            println!("connect nodes with: openclaw node run --tls --tls-fingerprint {fp}");
        }
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
                return;
            };
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            let _ = tx.send(true);
        });
        gateway.run(rx).await;
        tracing::info!("gateway stopped");
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> GatewayConfig {
        GatewayConfig::new(PathBuf::from("/nonexistent"), AuthMode::Token("t".into()))
    }

    #[test]
    fn test_intervals_override_tick_and_ping_and_reject_nonsense() {
        let mut c = config();
        let env = |k: &str| match k {
            "OPENCLAW_TEST_TICK_INTERVAL_MS" => Some("2000".to_string()),
            "OPENCLAW_TEST_PING_INTERVAL_MS" => Some(" 3000 ".to_string()),
            _ => None,
        };
        apply_test_intervals(&mut c, &env).unwrap();
        assert_eq!((c.tick_interval, c.ping_interval), (Duration::from_secs(2), Duration::from_secs(3)));

        let mut c = config();
        apply_test_intervals(&mut c, &|_: &str| None).unwrap();
        assert_eq!((c.tick_interval, c.ping_interval), (Duration::from_secs(30), Duration::from_secs(25)));

        for bad in ["0", "50", "abc", "600001", "-5"] {
            let env = |k: &str| (k == "OPENCLAW_TEST_TICK_INTERVAL_MS").then(|| bad.to_string());
            let err = apply_test_intervals(&mut config(), &env).unwrap_err().to_string();
            assert!(err.contains("OPENCLAW_TEST_TICK_INTERVAL_MS"), "{err}");
        }
    }
}
