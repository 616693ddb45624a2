//! `openclaw`: the command-line surface. Parsing, wiring and printing only; the work is done
//! by the library crates.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use openclaw_node_host::endpoint::EndpointFlags;
use openclaw_node_host::NodeRunOptions;
use openclaw_state::{StateDb, StatePaths};

#[derive(Parser)]
#[command(name = "openclaw", version, about = "OpenClaw node host and gateway tools (native)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run and manage the headless node host service
    Node(NodeArgs),
}

#[derive(Args)]
struct NodeArgs {
    /// Exact comma-separated command allowlist (repeatable); inherited by `run`
    #[arg(long, global = true, value_name = "ids", value_parser = parse_command_ids, action = clap::ArgAction::Append)]
    commands: Vec<Vec<String>>,
    /// Forget the saved command allowlist; inherited by `run`
    #[arg(long, global = true)]
    all_commands: bool,
    #[command(subcommand)]
    command: NodeCommand,
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Run the headless node host (foreground)
    Run(RunArgs),
    /// Print the node host device identity
    Identity {
        /// Print compact JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Gateway host (default: the saved host, else 127.0.0.1)
    #[arg(long)]
    host: Option<String>,
    /// Gateway port (default: the saved port, else 18789)
    #[arg(long)]
    port: Option<String>,
    /// WebSocket path suffix, e.g. /openclaw-gw
    #[arg(long, value_name = "path")]
    context_path: Option<String>,
    /// Use wss://
    #[arg(long, overrides_with = "no_tls")]
    tls: bool,
    /// Use plain ws://
    #[arg(long, overrides_with = "tls")]
    no_tls: bool,
    /// Pin the gateway certificate by SHA-256 (implies --tls)
    #[arg(long, value_name = "sha256")]
    tls_fingerprint: Option<String>,
    /// Override the client instance id (persisted; does not change the device id)
    #[arg(long, value_name = "id")]
    node_id: Option<String>,
    /// Override the display name (persisted)
    #[arg(long, value_name = "name")]
    display_name: Option<String>,
}

fn parse_command_ids(value: &str) -> Result<Vec<String>, String> {
    let ids: Vec<String> = value.split(',').map(|s| s.trim().to_string()).collect();
    if ids.iter().any(String::is_empty) {
        return Err("--commands requires comma-separated non-empty command ids".into());
    }
    Ok(ids)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Node(node) => {
            let allowlist = (!node.commands.is_empty()).then(|| {
                let mut ids: Vec<String> = node.commands.into_iter().flatten().collect();
                ids.sort();
                ids.dedup();
                ids
            });
            match node.command {
                NodeCommand::Identity { json } => node_identity(json),
                NodeCommand::Run(args) => {
                    let tls = if args.tls {
                        Some(true)
                    } else if args.no_tls {
                        Some(false)
                    } else {
                        None
                    };
                    let opts = NodeRunOptions {
                        endpoint: EndpointFlags {
                            host: args.host,
                            port: args.port,
                            tls,
                            tls_fingerprint: args.tls_fingerprint,
                            context_path: args.context_path,
                        },
                        node_id: args.node_id,
                        display_name: args.display_name,
                        commands: allowlist,
                        all_commands: node.all_commands,
                    };
                    node_run(opts)
                }
            }
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let verbose = std::env::var_os("RUST_LOG").is_some();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false);
    if verbose {
        builder.with_target(true).init();
    } else {
        // One plain line per state change, like the reference host.
        builder.without_time().with_target(false).with_level(false).init();
    }
}

fn node_run(opts: NodeRunOptions) -> ExitCode {
    init_logging();
    let paths = StatePaths::from_env();
    let env = |k: &str| std::env::var(k).ok();
    let host = match openclaw_node_host::prepare(&paths, &opts, &env) {
        Ok(host) => host,
        Err(e) => {
            eprintln!("openclaw: {e}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("openclaw: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let exit = runtime.block_on(async move {
        let (tx, rx) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
                return;
            };
            let code = tokio::select! { _ = int.recv() => 130, _ = term.recv() => 143 };
            let _ = tx.send(Some(code));
        });
        host.run(rx).await
    });
    ExitCode::from(exit.code() as u8)
}

fn node_identity(json: bool) -> ExitCode {
    let paths = StatePaths::from_env();
    let identity = StateDb::open_existing_read_only(&paths).and_then(|db| match db {
        Some(db) => db.identity(),
        None => Ok(None),
    });
    match identity {
        Ok(Some(id)) => {
            if json {
                println!("{}", serde_json::json!({"deviceId": id.device_id(), "publicKey": id.public_key_b64url()}));
            } else {
                println!("deviceId:  {}", id.device_id());
                println!("publicKey: {}", id.public_key_b64url());
            }
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("no node device identity found (start the node host once with `openclaw node run` or `openclaw node install`)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("openclaw: {e}");
            ExitCode::from(1)
        }
    }
}
