//! `openclaw gateway run`: flags → [`GatewayConfig`], then serve until a signal.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use openclaw_gateway::config::{bind_address, DEFAULT_PORT};
use openclaw_gateway::{AuthMode, Gateway, GatewayConfig, TlsSource};
use openclaw_state::config::OpenClawConfig;
use openclaw_state::StatePaths;

/// `--auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuthKind {
    None,
    Token,
    Password,
}

#[derive(Args)]
pub struct GatewayRunArgs {
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

fn config_secret(config: &OpenClawConfig, key: &str) -> Result<Option<String>, String> {
    let env = |k: &str| std::env::var(k).ok();
    match config.secret_input(key).map_err(|e| e.to_string())? {
        None => Ok(None),
        Some(input) => openclaw_state::config::SecretResolver::new(config, &env)
            .resolve_input(&input)
            .map(Some)
            .map_err(|e| format!("{key}: {e}")),
    }
}

fn build_config(args: &GatewayRunArgs) -> Result<GatewayConfig, String> {
    let paths = StatePaths::from_env();
    let file = if paths.config_path.exists() {
        OpenClawConfig::load(&paths.config_path).map_err(|e| e.to_string())?
    } else {
        OpenClawConfig::from_value(serde_json::json!({}))
    };
    let env = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let token = match args.token.clone().or_else(|| env("OPENCLAW_GATEWAY_TOKEN")) {
        Some(t) => Some(t),
        None => config_secret(&file, "gateway.auth.token")?,
    };
    let password = match args.password.clone().or_else(|| env("OPENCLAW_GATEWAY_PASSWORD")) {
        Some(p) => Some(p),
        None => config_secret(&file, "gateway.auth.password")?,
    };
    let kind = args.auth.or(match file.get_str("gateway.auth.mode") {
        Some("none") => Some(AuthKind::None),
        Some("password") => Some(AuthKind::Password),
        Some("token") => Some(AuthKind::Token),
        _ => None,
    });
    let auth = match (kind, token, password) {
        (Some(AuthKind::None), _, _) => AuthMode::None,
        (Some(AuthKind::Token) | None, Some(t), _) => AuthMode::Token(t),
        (Some(AuthKind::Password), _, Some(p)) | (None, None, Some(p)) => AuthMode::Password(p),
        (Some(AuthKind::Token), None, _) => {
            return Err("gateway auth mode token needs a token: pass --token, set OPENCLAW_GATEWAY_TOKEN, or set gateway.auth.token in openclaw.json".into())
        }
        (Some(AuthKind::Password), _, None) => {
            return Err("gateway auth mode password needs a password: pass --password, set OPENCLAW_GATEWAY_PASSWORD, or set gateway.auth.password".into())
        }
        (None, None, None) => {
            return Err("no gateway auth configured: pass --token (or --password), or --auth none to accept any client that can reach the port".into())
        }
    };
    let ip = bind_address(&args.bind)?;
    let mut config = GatewayConfig::new(paths.state_dir.clone(), auth);
    config.listen = SocketAddr::new(ip, args.port);
    config.apply_config_file(&file)?;
    if args.no_local_auto_approve {
        config.auto_approve_local = false;
    }
    config.tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsSource::Files { cert: cert.clone(), key: key.clone() }),
        _ if args.tls => Some(TlsSource::SelfSigned),
        _ => None,
    };
    if config.auth == AuthMode::None && !ip.is_loopback() {
        tracing::warn!("gateway auth is none on {ip}: anyone who can reach this port may pair devices");
    }
    Ok(config)
}

/// Runs the gateway in the foreground.
pub fn run(args: GatewayRunArgs) -> ExitCode {
    crate::init_logging();
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
