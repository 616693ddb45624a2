//! `openclaw`: the command-line surface. Parsing, wiring and printing only; the work is done
//! by the library crates.

mod gateway_cmd;
mod operator_cmd;
mod service_cmd;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use openclaw_node_host::endpoint::EndpointFlags;
use openclaw_node_host::NodeRunOptions;
use openclaw_service::SupervisorKind;
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
    /// Run the gateway (node side: pairing, node registry, invoke routing, exec approvals)
    Gateway(GatewayArgs),
    /// Device pairing: list, approve, reject
    Devices(operator_cmd::DevicesArgs),
    /// Nodes: status, pairing of command surfaces, invoke, run
    Nodes(operator_cmd::NodesArgs),
    /// A node's exec approvals: get, set, allowlist
    #[command(alias = "exec-approvals")]
    Approvals(operator_cmd::ApprovalsArgs),
}

#[derive(Args)]
struct GatewayArgs {
    #[command(subcommand)]
    command: GatewayCommand,
}

#[derive(Subcommand)]
enum GatewayCommand {
    /// Run the gateway in the foreground
    Run(gateway_cmd::GatewayRunArgs),
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
    /// Show the local exec audit trail (every system.run decision)
    Audit {
        /// Print JSON
        #[arg(long)]
        json: bool,
        /// How many of the newest entries
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Install the node host service (systemd/launchd/schtasks, or the pidfile supervisor)
    Install(InstallArgs),
    /// Start the node host service
    Start(ServiceArgs),
    /// Stop the node host service
    Stop(ServiceArgs),
    /// Restart the node host service
    Restart(ServiceArgs),
    /// Uninstall the node host service (removes everything install wrote)
    Uninstall(ServiceArgs),
    /// Show node host service status (exit 0 running, 3 not running)
    Status(ServiceArgs),
    /// Run the pidfile supervisor (started by `node start`)
    #[command(hide = true)]
    Supervise {
        #[arg(long)]
        service_dir: std::path::PathBuf,
    },
}

#[derive(Args)]
struct ServiceArgs {
    /// Print JSON
    #[arg(long)]
    json: bool,
    /// Force a supervisor: systemd, launchd, schtasks or pidfile (default: the installed one, else automatic)
    #[arg(long, value_parser = parse_supervisor)]
    supervisor: Option<SupervisorKind>,
}

#[derive(Args)]
struct InstallArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Reinstall even when the service is already installed
    #[arg(long)]
    force: bool,
    /// Accepted for compatibility (node|bun); a native binary needs no runtime
    #[arg(long)]
    runtime: Option<String>,
    #[command(flatten)]
    service: ServiceArgs,
}

fn parse_supervisor(value: &str) -> Result<SupervisorKind, String> {
    SupervisorKind::parse(value).ok_or_else(|| "use systemd, launchd, schtasks or pidfile".to_string())
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

impl RunArgs {
    fn endpoint_flags(&self) -> EndpointFlags {
        EndpointFlags {
            host: self.host.clone(),
            port: self.port.clone(),
            tls: if self.tls {
                Some(true)
            } else if self.no_tls {
                Some(false)
            } else {
                None
            },
            tls_fingerprint: self.tls_fingerprint.clone(),
            context_path: self.context_path.clone(),
        }
    }
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
    if matches!(cli.command, Command::Devices(_) | Command::Nodes(_) | Command::Approvals(_)) {
        // Output piped into `head` should end the command quietly, as in any Unix tool.
        // SAFETY: restoring the default disposition of SIGPIPE has no preconditions.
        let _ = unsafe {
            nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl)
        };
    }
    match cli.command {
        Command::Gateway(GatewayArgs { command: GatewayCommand::Run(args) }) => gateway_cmd::run(args),
        Command::Devices(args) => operator_cmd::devices(args),
        Command::Nodes(args) => operator_cmd::nodes(args),
        Command::Approvals(args) => operator_cmd::approvals(args),
        Command::Node(node) => {
            let allowlist = (!node.commands.is_empty()).then(|| {
                let mut ids: Vec<String> = node.commands.into_iter().flatten().collect();
                ids.sort();
                ids.dedup();
                ids
            });
            match node.command {
                NodeCommand::Identity { json } => node_identity(json),
                NodeCommand::Audit { json, limit } => node_audit(json, limit),
                NodeCommand::Run(args) => node_run(NodeRunOptions {
                    endpoint: args.endpoint_flags(),
                    node_id: args.node_id,
                    display_name: args.display_name,
                    commands: allowlist,
                    all_commands: node.all_commands,
                }),
                NodeCommand::Install(args) => service_cmd::install(service_cmd::InstallOptions {
                    endpoint: args.run.endpoint_flags(),
                    node_id: args.run.node_id,
                    display_name: args.run.display_name,
                    commands: allowlist,
                    all_commands: node.all_commands,
                    force: args.force,
                    runtime: args.runtime,
                    supervisor: args.service.supervisor,
                    json: args.service.json,
                }),
                NodeCommand::Start(a) => service_cmd::action(service_cmd::Action::Start, a.supervisor, a.json),
                NodeCommand::Stop(a) => service_cmd::action(service_cmd::Action::Stop, a.supervisor, a.json),
                NodeCommand::Restart(a) => service_cmd::action(service_cmd::Action::Restart, a.supervisor, a.json),
                NodeCommand::Uninstall(a) => service_cmd::action(service_cmd::Action::Uninstall, a.supervisor, a.json),
                NodeCommand::Status(a) => service_cmd::status(a.supervisor, a.json),
                NodeCommand::Supervise { service_dir } => {
                    ExitCode::from(openclaw_service::pidfile::supervise(&service_dir) as u8)
                }
            }
        }
    }
}

/// Logs to stderr: one plain line per event, or full records when RUST_LOG is set.
pub(crate) fn init_logging() {
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

fn node_audit(json: bool, limit: u32) -> ExitCode {
    let paths = StatePaths::from_env();
    let records = StateDb::open_existing_read_only(&paths).and_then(|db| match db {
        Some(db) => db.audit_records(limit),
        None => Ok(Vec::new()),
    });
    let records = match records {
        Ok(r) => r,
        Err(e) => {
            eprintln!("openclaw: {e}");
            return ExitCode::from(1);
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&records).expect("serialisable"));
        return ExitCode::SUCCESS;
    }
    if records.is_empty() {
        println!("No exec decisions recorded yet.");
        return ExitCode::SUCCESS;
    }
    for r in records.iter().rev() {
        let outcome = match (r.decision.as_str(), r.exit_code, &r.reason) {
            ("allowed", Some(code), _) => {
                format!("exit {code}{}", if r.timed_out == Some(true) { " (timed out)" } else { "" })
            }
            (_, _, Some(reason)) => reason.clone(),
            _ => String::new(),
        };
        let who = r.requester.get("sessionKey").and_then(|v| v.as_str()).unwrap_or("-");
        println!(
            "{}  {:<8} {:>6} ms  {:<14} {}  [{}] {}",
            openclaw_state::utc_timestamp(r.at_ms),
            r.decision,
            r.duration_ms.unwrap_or(0),
            who,
            r.argv.join(" "),
            r.cwd.as_deref().unwrap_or("-"),
            outcome
        );
    }
    ExitCode::SUCCESS
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
