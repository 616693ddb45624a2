//! `openclaw node`: the headless node host on this machine. `node run|identity|audit` are
//! here; the service verbs (`install|start|stop|restart|uninstall|status` and the hidden
//! `supervise`) are in [`service`], as they share the service manager and its JSON envelope.

pub(crate) mod service;

use std::process::ExitCode;

use clap::{Args, Subcommand};
use openclaw_node_host::endpoint::EndpointFlags;
use openclaw_node_host::startup::Pairing;
use openclaw_node_host::{NodeExit, NodeRunOptions};
use openclaw_protocol::setup_code::SetupPayload;
use openclaw_service::SupervisorKind;
use openclaw_state::{StateDb, StatePaths};

/// `openclaw node`.
#[derive(Args)]
pub(crate) struct NodeArgs {
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
    Run(RunVerbArgs),
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

/// The flags every service verb takes.
#[derive(Args)]
struct ServiceArgs {
    /// Print JSON
    #[arg(long)]
    json: bool,
    /// Force a supervisor: systemd, launchd, schtasks or pidfile (default: the installed one, else automatic)
    #[arg(long, value_parser = parse_supervisor)]
    supervisor: Option<SupervisorKind>,
}

/// `node run`: the flags `install` shares, and the one-shot setup code (never installed: a
/// service must not hold a pairing secret, so `install` has no `--pair`).
#[derive(Args)]
struct RunVerbArgs {
    #[command(flatten)]
    run: RunArgs,
    /// One-shot setup code or oc-pair:// URL: connect and pair with its bootstrap token
    #[arg(long, value_name = "code-or-url", conflicts_with = "pair_if_needed")]
    pair: Option<String>,
    /// Like --pair, but a stored device token is used when there is one
    #[arg(long, value_name = "code-or-url")]
    pair_if_needed: Option<String>,
}

/// `node install`: the flags of `node run` it installs, plus its own.
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

/// `--supervisor`.
pub(crate) fn parse_supervisor(value: &str) -> Result<SupervisorKind, String> {
    SupervisorKind::parse(value).ok_or_else(|| "use systemd, launchd, schtasks or pidfile".to_string())
}

/// `node run`: where the gateway is and who this node is.
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
    /// The endpoint flags as the node host library takes them.
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

/// Every `--commands` value as one allowlist: sorted, without duplicates; `None` when the flag
/// was not given.
pub(crate) fn command_allowlist(values: Vec<Vec<String>>) -> Option<Vec<String>> {
    (!values.is_empty()).then(|| {
        let mut ids: Vec<String> = values.into_iter().flatten().collect();
        ids.sort();
        ids.dedup();
        ids
    })
}

/// One `--commands` value: comma-separated, no empty ids.
pub(crate) fn parse_command_ids(value: &str) -> Result<Vec<String>, String> {
    let ids: Vec<String> = value.split(',').map(|s| s.trim().to_string()).collect();
    if ids.iter().any(String::is_empty) {
        return Err("--commands requires comma-separated non-empty command ids".into());
    }
    Ok(ids)
}

/// Runs one `node` verb. `--commands` may be repeated and comma-separated; the union, sorted
/// and without duplicates, is the allowlist `run` and `install` pass on.
pub(crate) fn run(node: NodeArgs) -> ExitCode {
    let allowlist = command_allowlist(node.commands);
    match node.command {
        NodeCommand::Identity { json } => node_identity(json),
        NodeCommand::Audit { json, limit } => node_audit(json, limit),
        NodeCommand::Run(verb) => {
            let pairing = match setup_code_pairing(verb.pair.as_deref(), verb.pair_if_needed.as_deref()) {
                Ok(pairing) => pairing,
                Err(message) => {
                    eprintln!("openclaw: {message}");
                    return ExitCode::from(1);
                }
            };
            let args = verb.run;
            node_run(NodeRunOptions {
                endpoint: args.endpoint_flags(),
                node_id: args.node_id,
                display_name: args.display_name,
                commands: allowlist,
                all_commands: node.all_commands,
                pairing,
                stop_after_hello: false,
            })
        }
        NodeCommand::Install(args) => service::install(service::InstallOptions {
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
        NodeCommand::Start(a) => service::action(service::Action::Start, a.supervisor, a.json),
        NodeCommand::Stop(a) => service::action(service::Action::Stop, a.supervisor, a.json),
        NodeCommand::Restart(a) => service::action(service::Action::Restart, a.supervisor, a.json),
        NodeCommand::Uninstall(a) => service::action(service::Action::Uninstall, a.supervisor, a.json),
        NodeCommand::Status(a) => service::status(a.supervisor, a.json),
        NodeCommand::Supervise { service_dir } => {
            ExitCode::from(openclaw_service::pidfile::supervise(&service_dir) as u8)
        }
    }
}

/// `--pair` / `--pair-if-needed`: the decoded setup code, or upstream's message.
fn setup_code_pairing(pair: Option<&str>, pair_if_needed: Option<&str>) -> Result<Option<Pairing>, String> {
    let Some((code, prefer_bootstrap)) = pair.map(|c| (c, true)).or(pair_if_needed.map(|c| (c, false))) else {
        return Ok(None);
    };
    let payload = SetupPayload::decode(code, openclaw_state::now_ms()).map_err(|e| e.to_string())?;
    Ok(Some(Pairing { payload, prefer_bootstrap }))
}

/// `node run`: the node host in the foreground until SIGINT (exit 130) or SIGTERM (143).
fn node_run(opts: NodeRunOptions) -> ExitCode {
    match run_node_host(&opts) {
        Ok(exit) => ExitCode::from(exit.code() as u8),
        Err(message) => {
            eprintln!("openclaw: {message}");
            ExitCode::from(1)
        }
    }
}

/// Prepares and runs the node host in the foreground until SIGINT, SIGTERM, a terminal auth
/// error or (with `stop_after_hello`) the first `hello-ok`. `Err` is what stopped it before it
/// could connect.
pub(crate) fn run_node_host(opts: &NodeRunOptions) -> Result<NodeExit, String> {
    crate::output::init_logging();
    let paths = StatePaths::from_env();
    let env = |k: &str| std::env::var(k).ok();
    let host = openclaw_node_host::prepare(&paths, opts, &env).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
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
    Ok(exit)
}

/// `node audit`: the newest exec decisions from the local state database, oldest first.
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

/// `node identity`: this node's device id and public key; never creates them.
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
