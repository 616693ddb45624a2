//! `openclaw devices|nodes|approvals`: operator commands against any gateway (ours or the
//! real one). Parsing and printing only; the protocol work is in `openclaw-operator`.
//!
//! Errors print `openclaw: <message>` on stderr and exit 1; with `--json` they print
//! upstream's envelope `{"ok":false,"error":{"type":"cli_error","message":…}}` on stdout.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use openclaw_operator::connect::ConnectFlags;
use openclaw_operator::nodes::resolve_node;
use openclaw_operator::run::{Approver, Decision, RunError, RunRequest};
use openclaw_operator::OperatorClient;
use openclaw_state::StatePaths;
use serde_json::{json, Map, Value};

/// Flags every operator command takes.
#[derive(Args, Clone)]
pub struct GatewayFlags {
    /// Gateway WebSocket URL (default: ws://127.0.0.1:<gateway.port or 18789>)
    #[arg(long, global = true)]
    url: Option<String>,
    /// Gateway token (else OPENCLAW_GATEWAY_TOKEN / gateway.auth.token, without --url)
    #[arg(long, global = true)]
    token: Option<String>,
    /// Gateway password (password auth)
    #[arg(long, global = true)]
    password: Option<String>,
    /// SHA-256 of the gateway's TLS certificate, for wss:// URLs
    #[arg(long, global = true)]
    tls_fingerprint: Option<String>,
    /// Timeout in ms
    #[arg(long, global = true, default_value_t = 10_000)]
    timeout: u64,
    /// Output JSON
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Args)]
pub struct DevicesArgs {
    #[command(flatten)]
    gw: GatewayFlags,
    #[command(subcommand)]
    command: DevicesCommand,
}

#[derive(Subcommand)]
enum DevicesCommand {
    /// List pending and paired devices
    List,
    /// Approve a pending device pairing request
    Approve { request_id: String },
    /// Reject a pending device pairing request
    Reject { request_id: String },
}

#[derive(Args)]
pub struct NodesArgs {
    #[command(flatten)]
    gw: GatewayFlags,
    #[command(subcommand)]
    command: NodesCommand,
}

#[derive(Subcommand)]
enum NodesCommand {
    /// List known nodes with connection status and capabilities
    Status {
        /// Only show connected nodes
        #[arg(long)]
        connected: bool,
    },
    /// List pending and paired nodes
    List,
    /// Describe a node (capabilities + supported invoke commands)
    Describe {
        #[arg(long)]
        node: String,
    },
    /// List pending node command-surface requests
    Pending,
    /// Approve a pending node command-surface request
    Approve { request_id: String },
    /// Reject a pending node command-surface request
    Reject { request_id: String },
    /// Rename a paired node
    Rename {
        #[arg(long)]
        node: String,
        #[arg(long)]
        name: String,
    },
    /// Invoke a command on a node (not system.run: use `nodes run`)
    Invoke {
        #[arg(long)]
        node: String,
        #[arg(long)]
        command: String,
        /// Command params as JSON
        #[arg(long, default_value = "{}")]
        params: String,
        /// Gateway deadline for the invoke, ms
        #[arg(long, default_value_t = 15_000)]
        invoke_timeout: u64,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Run a shell command on a node under its exec approvals, asking on this terminal when
    /// the node requires approval; exits with the command's exit code
    Run {
        #[arg(long)]
        node: String,
        /// Working directory on the node
        #[arg(long)]
        cwd: Option<String>,
        /// Environment override KEY=VALUE (repeatable)
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Kill the command after this many ms
        #[arg(long)]
        command_timeout: Option<u64>,
        /// The command and its arguments
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
}

#[derive(Args)]
pub struct ApprovalsArgs {
    #[command(flatten)]
    gw: GatewayFlags,
    #[command(subcommand)]
    command: ApprovalsCommand,
}

#[derive(Subcommand)]
enum ApprovalsCommand {
    /// Fetch a node's exec approvals
    Get {
        #[arg(long)]
        node: String,
    },
    /// Replace a node's exec approvals with a JSON (JSON5) document
    Set {
        #[arg(long)]
        node: String,
        /// Path of the document
        #[arg(long, conflicts_with = "stdin")]
        file: Option<std::path::PathBuf>,
        /// Read the document from stdin
        #[arg(long)]
        stdin: bool,
    },
    /// Edit a node's per-agent allowlist
    Allowlist {
        #[command(subcommand)]
        command: AllowlistCommand,
    },
}

#[derive(Subcommand)]
enum AllowlistCommand {
    /// Add a glob pattern
    Add {
        pattern: String,
        #[arg(long)]
        node: String,
        /// Agent id ("*" = every agent)
        #[arg(long, default_value = "*")]
        agent: String,
    },
    /// Remove a glob pattern
    Remove {
        pattern: String,
        #[arg(long)]
        node: String,
        #[arg(long, default_value = "*")]
        agent: String,
    },
}

/// A command failure: the message, and the exit code (1 unless a command's own code).
struct Failure(String, u8);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string(), 1)
    }
}

fn finish(json_mode: bool, r: Result<ExitCode, Failure>) -> ExitCode {
    match r {
        Ok(code) => code,
        Err(Failure(message, code)) => {
            if json_mode {
                println!("{}", json!({"ok": false, "error": {"type": "cli_error", "message": message}}));
            } else {
                eprintln!("openclaw: {message}");
            }
            ExitCode::from(code)
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// Connects as an operator. On loopback with a shared secret no device identity is sent (as
/// upstream's CLI); otherwise this machine's identity signs, and the device token the gateway
/// issues is kept for the next call.
async fn connect(gw: &GatewayFlags) -> Result<OperatorClient, Failure> {
    let flags = ConnectFlags {
        url: gw.url.clone(),
        token: gw.token.clone(),
        password: gw.password.clone(),
        tls_fingerprint: gw.tls_fingerprint.clone(),
        timeout: Duration::from_millis(gw.timeout),
    };
    Ok(openclaw_operator::connect::connect(&flags, &StatePaths::from_env()).await?)
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("serialisable"));
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn list(v: &Value, k: &str) -> Vec<Value> {
    v.get(k).and_then(Value::as_array).cloned().unwrap_or_default()
}

fn joined(v: &Value, k: &str) -> String {
    list(v, k).iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
}

fn age(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "-".into() };
    let secs = ((openclaw_state::now_ms() - ms) / 1000).max(0);
    match secs {
        0..=9 => "just now".into(),
        10..=119 => format!("{secs}s ago"),
        120..=7199 => format!("{}m ago", secs / 60),
        7200..=172_799 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// Prints rows as aligned columns under a header.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
}

pub fn devices(args: DevicesArgs) -> ExitCode {
    let json_mode = args.gw.json;
    finish(json_mode, runtime().block_on(devices_inner(args)))
}

async fn devices_inner(args: DevicesArgs) -> Result<ExitCode, Failure> {
    let client = connect(&args.gw).await?;
    match args.command {
        DevicesCommand::List => {
            let v = client.request("device.pair.list", json!({})).await?;
            if args.gw.json {
                print_json(&v);
                return Ok(ExitCode::SUCCESS);
            }
            let (pending, paired) = (list(&v, "pending"), list(&v, "paired"));
            if pending.is_empty() && paired.is_empty() {
                println!("No device pairing entries.");
                return Ok(ExitCode::SUCCESS);
            }
            println!("Pending ({})", pending.len());
            let rows: Vec<Vec<String>> = pending
                .iter()
                .map(|p| {
                    let name = [s(p, "displayName"), s(p, "clientId"), s(p, "deviceId")]
                        .into_iter()
                        .find(|x| !x.is_empty())
                        .unwrap_or("");
                    let scopes = if list(p, "scopes").is_empty() { "none".to_string() } else { joined(p, "scopes") };
                    vec![
                        s(p, "requestId").to_string(),
                        name.to_string(),
                        format!("roles: {}; scopes: {scopes}", joined(p, "roles")),
                        s(p, "remoteIp").to_string(),
                        age(p.get("ts").and_then(Value::as_i64)),
                        if p["isRepair"] == json!(true) { "re-approval".into() } else { "new pairing".into() },
                    ]
                })
                .collect();
            table(&["Request", "Device", "Requested", "IP", "Age", "Status"], &rows);
            println!();
            println!("Paired ({})", paired.len());
            let rows: Vec<Vec<String>> = paired
                .iter()
                .map(|d| {
                    let tokens: Vec<String> = list(d, "tokens").iter().map(|t| s(t, "role").to_string()).collect();
                    vec![
                        s(d, "displayName").to_string(),
                        s(d, "deviceId").to_string(),
                        joined(d, "roles"),
                        joined(d, "scopes"),
                        tokens.join(", "),
                        s(d, "approvedVia").to_string(),
                        s(d, "remoteIp").to_string(),
                    ]
                })
                .collect();
            table(&["Device", "Device ID", "Roles", "Scopes", "Tokens", "Approved via", "IP"], &rows);
            Ok(ExitCode::SUCCESS)
        }
        DevicesCommand::Approve { request_id } => {
            let v = client.request("device.pair.approve", json!({"requestId": request_id})).await.map_err(|e| {
                match e.shape().map(|s| s.message.as_str()) {
                    Some("unknown requestId") => Failure(
                        format!("No pending device request matches {request_id}. Run openclaw devices list and retry with the current request ID."),
                        1,
                    ),
                    _ => e.into(),
                }
            })?;
            if args.gw.json {
                print_json(&v);
            } else {
                println!("Approved {} ({request_id})", s(&v["device"], "deviceId"));
            }
            Ok(ExitCode::SUCCESS)
        }
        DevicesCommand::Reject { request_id } => {
            let v = client.request("device.pair.reject", json!({"requestId": request_id})).await?;
            if args.gw.json {
                print_json(&v);
            } else {
                println!("Rejected {}", s(&v, "deviceId"));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn nodes(args: NodesArgs) -> ExitCode {
    let json_mode = args.gw.json;
    finish(json_mode, runtime().block_on(nodes_inner(args)))
}

async fn resolve(client: &OperatorClient, query: &str) -> Result<Value, Failure> {
    let v = client.request("node.list", json!({})).await?;
    let nodes = list(&v, "nodes");
    Ok(resolve_node(&nodes, query)?.clone())
}

fn status_cell(n: &Value) -> String {
    let mut parts = vec![if n["paired"] == json!(true) { "paired" } else { "unpaired" }.to_string()];
    if n["connected"] == json!(true) {
        parts.push(format!("connected ({})", age(n.get("connectedAtMs").and_then(Value::as_i64))));
    } else {
        parts.push("disconnected".into());
    }
    parts.push(
        match s(n, "approvalState") {
            "approved" => "approved",
            "pending-approval" => "approval pending",
            "pending-reapproval" => "re-approval pending",
            _ => "unapproved",
        }
        .to_string(),
    );
    parts.join(" · ")
}

async fn nodes_inner(args: NodesArgs) -> Result<ExitCode, Failure> {
    let json_mode = args.gw.json;
    if let NodesCommand::Invoke { command, .. } = &args.command {
        if command.eq_ignore_ascii_case("system.run") || command.eq_ignore_ascii_case("system.run.prepare") {
            return Err(Failure(
                format!("command {command:?} is reserved for shell execution; use `openclaw nodes run --node <id> -- <command>` instead"),
                1,
            ));
        }
    }
    let client = connect(&args.gw).await?;
    let approve = matches!(args.command, NodesCommand::Approve { .. });
    match args.command {
        NodesCommand::Status { connected } => {
            let mut v = client.request("node.list", json!({})).await?;
            let mut nodes = list(&v, "nodes");
            let known = nodes.len();
            if connected {
                nodes.retain(|n| n["connected"] == json!(true));
            }
            if json_mode {
                v["nodes"] = Value::Array(nodes);
                print_json(&v);
                return Ok(ExitCode::SUCCESS);
            }
            let paired = nodes.iter().filter(|n| n["paired"] == json!(true)).count();
            let live = nodes.iter().filter(|n| n["connected"] == json!(true)).count();
            let shown = if connected { format!("{} (of {known})", nodes.len()) } else { known.to_string() };
            println!("Known: {shown} · Paired: {paired} · Connected: {live}");
            let rows: Vec<Vec<String>> = nodes
                .iter()
                .map(|n| {
                    vec![
                        s(n, "displayName").to_string(),
                        s(n, "nodeId").to_string(),
                        s(n, "remoteIp").to_string(),
                        format!("{}/{} {}", s(n, "clientId"), s(n, "clientMode"), s(n, "platform")),
                        status_cell(n),
                        joined(n, "caps"),
                    ]
                })
                .collect();
            table(&["Node", "ID", "IP", "Detail", "Status", "Caps"], &rows);
            for n in &nodes {
                if let Some(id) = n.get("pendingRequestId").and_then(Value::as_str) {
                    println!("Approval pending for {}. Run openclaw nodes approve {id}", s(n, "displayName"));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        NodesCommand::List | NodesCommand::Pending => {
            let v = client.request("node.pair.list", json!({})).await?;
            let pending = list(&v, "pending");
            let only_pending = matches!(args.command, NodesCommand::Pending);
            if json_mode {
                print_json(if only_pending { &v["pending"] } else { &v });
                return Ok(ExitCode::SUCCESS);
            }
            if only_pending && pending.is_empty() {
                println!("No pending pairing requests.");
                return Ok(ExitCode::SUCCESS);
            }
            let paired = list(&v, "paired");
            if !only_pending {
                println!("Pending: {} · Paired: {}", pending.len(), paired.len());
                println!();
            }
            println!("Pending");
            let rows: Vec<Vec<String>> = pending
                .iter()
                .map(|p| {
                    vec![
                        s(p, "requestId").to_string(),
                        format!("{} ({})", s(p, "displayName"), s(p, "nodeId")),
                        s(p, "remoteIp").to_string(),
                        joined(p, "commands"),
                        age(p.get("ts").and_then(Value::as_i64)),
                    ]
                })
                .collect();
            table(&["Request", "Node", "IP", "Commands", "Requested"], &rows);
            if !only_pending {
                println!();
                println!("Paired");
                let rows: Vec<Vec<String>> = paired
                    .iter()
                    .map(|n| {
                        vec![
                            s(n, "displayName").to_string(),
                            s(n, "nodeId").to_string(),
                            s(n, "remoteIp").to_string(),
                            age(n.get("lastSeenAtMs").and_then(Value::as_i64)),
                        ]
                    })
                    .collect();
                table(&["Node", "ID", "IP", "Last Seen"], &rows);
            }
            Ok(ExitCode::SUCCESS)
        }
        NodesCommand::Describe { node } => {
            let n = resolve(&client, &node).await?;
            let v = client.request("node.describe", json!({"nodeId": s(&n, "nodeId")})).await?;
            if json_mode {
                print_json(&v);
                return Ok(ExitCode::SUCCESS);
            }
            let mut rows = vec![
                vec!["ID".to_string(), s(&v, "nodeId").to_string()],
                vec!["Name".into(), s(&v, "displayName").to_string()],
                vec!["Client".into(), format!("{}/{}", s(&v, "clientId"), s(&v, "clientMode"))],
                vec!["Platform".into(), format!("{} ({})", s(&v, "platform"), s(&v, "deviceFamily"))],
                vec!["Version".into(), s(&v, "version").to_string()],
                vec!["Status".into(), status_cell(&v)],
                vec!["Caps".into(), joined(&v, "caps")],
            ];
            if let Some(ip) = v.get("remoteIp").and_then(Value::as_str) {
                rows.insert(2, vec!["IP".into(), ip.to_string()]);
            }
            if let Some(id) = v.get("pendingRequestId").and_then(Value::as_str) {
                rows.push(vec!["Pending request".into(), id.to_string()]);
                rows.push(vec!["Approve".into(), format!("openclaw nodes approve {id}")]);
            }
            table(&["Field", "Value"], &rows);
            println!();
            println!("Commands");
            let commands = list(&v, "commands");
            if commands.is_empty() {
                println!("- (none effective)");
            }
            for c in commands.iter().filter_map(Value::as_str) {
                println!("- {c}");
            }
            let pending = list(&v, "pendingDeclaredCommands");
            if !pending.is_empty() {
                println!();
                println!("Pending commands");
                for c in pending.iter().filter_map(Value::as_str) {
                    println!("- {c}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        NodesCommand::Approve { request_id } | NodesCommand::Reject { request_id } => {
            let method = if approve { "node.pair.approve" } else { "node.pair.reject" };
            let v = client.request(method, json!({"requestId": request_id})).await.map_err(|e| {
                match e.shape().map(|s| s.message.as_str()) {
                    Some("unknown requestId") => Failure(
                        format!("Unknown node pairing requestId: {request_id}\nRun openclaw nodes pending to inspect current requests."),
                        1,
                    ),
                    _ => e.into(),
                }
            })?;
            print_json(&v);
            Ok(ExitCode::SUCCESS)
        }
        NodesCommand::Rename { node, name } => {
            if name.trim().is_empty() {
                return Err(Failure("--name must not be empty".into(), 1));
            }
            let n = resolve(&client, &node).await?;
            let v =
                client.request("node.rename", json!({"nodeId": s(&n, "nodeId"), "displayName": name.trim()})).await?;
            if json_mode {
                print_json(&v);
            } else {
                println!("node rename ok: {} -> {}", s(&v, "nodeId"), s(&v, "displayName"));
            }
            Ok(ExitCode::SUCCESS)
        }
        NodesCommand::Invoke { node, command, params, invoke_timeout, idempotency_key } => {
            let params: Value =
                serde_json::from_str(&params).map_err(|_| Failure("--params must be valid JSON.".into(), 1))?;
            let key = match idempotency_key {
                Some(k) if k.trim().is_empty() => {
                    return Err(Failure("--idempotency-key must not be empty.".into(), 1))
                }
                Some(k) => k,
                None => uuid::Uuid::new_v4().to_string(),
            };
            let n = resolve(&client, &node).await?;
            let request = json!({
                "nodeId": s(&n, "nodeId"),
                "command": command,
                "params": params,
                "idempotencyKey": key,
                "timeoutMs": invoke_timeout,
            });
            let v = client
                .request_with_timeout("node.invoke", request, Duration::from_millis(invoke_timeout + 5_000))
                .await?;
            print_json(&v);
            Ok(ExitCode::SUCCESS)
        }
        NodesCommand::Run { node, cwd, env, command_timeout, argv } => {
            let mut env_map = Map::new();
            for pair in env {
                let (k, v) =
                    pair.split_once('=').ok_or_else(|| Failure(format!("--env {pair:?}: expected KEY=VALUE"), 1))?;
                if k.trim().is_empty() {
                    return Err(Failure(format!("--env {pair:?}: empty key"), 1));
                }
                env_map.insert(k.trim().to_string(), json!(v));
            }
            let n = resolve(&client, &node).await?;
            let name = Some(s(&n, "displayName")).filter(|x| !x.is_empty()).unwrap_or(s(&n, "nodeId")).to_string();
            let req = RunRequest {
                node_id: s(&n, "nodeId").to_string(),
                node_name: name,
                argv,
                cwd,
                env: env_map,
                command_timeout_ms: command_timeout,
            };
            let mut approver = TerminalApprover;
            let result = openclaw_operator::run::run(&client, &req, &mut approver).await.map_err(|e| match e {
                RunError::Client(e) => Failure(e.to_string(), 1),
                other => Failure(other.to_string(), 126),
            })?;
            let approval = result.approval;
            let result = result.output;
            if json_mode {
                print_json(&json!({
                    "exitCode": result.exit_code,
                    "timedOut": result.timed_out,
                    "success": result.success,
                    "stdout": result.stdout,
                    "stderr": result.stderr,
                    "error": result.error,
                    "approval": approval.map(Decision::as_str),
                }));
            } else {
                let _ = std::io::stdout().write_all(result.stdout.as_bytes());
                let _ = std::io::stderr().write_all(result.stderr.as_bytes());
                if let Some(e) = result.error.as_deref().filter(|e| !e.is_empty()) {
                    eprintln!("openclaw: {e}");
                }
            }
            let code = match (result.timed_out, result.exit_code) {
                (true, _) => 124,
                (false, Some(c)) => c.clamp(0, 255) as u8,
                (false, None) if result.success => 0,
                (false, None) => 127,
            };
            Ok(ExitCode::from(code))
        }
    }
}

/// Asks on the controlling terminal; without one, nobody can approve.
struct TerminalApprover;

impl Approver for TerminalApprover {
    fn decide(&mut self, node: &str, plan: &Value, allowed: &[String]) -> Option<Decision> {
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            return None;
        }
        let always = allowed.iter().any(|d| d == "allow-always");
        let mut err = std::io::stderr();
        let _ = writeln!(err, "Approval required on node {node}:");
        let _ = writeln!(err, "  command: {}", s(plan, "commandText"));
        if let Some(cwd) = plan.get("cwd").and_then(Value::as_str) {
            let _ = writeln!(err, "  cwd:     {cwd}");
        }
        let choices = if always { "[o]nce / [a]lways / [d]eny" } else { "[o]nce / [d]eny" };
        let stdin = std::io::stdin();
        loop {
            let _ = write!(err, "Allow? {choices}: ");
            let _ = err.flush();
            let mut line = String::new();
            if stdin.lock().read_line(&mut line).ok()? == 0 {
                return Some(Decision::Deny);
            }
            match line.trim().to_ascii_lowercase().as_str() {
                "o" | "once" | "y" | "yes" => return Some(Decision::AllowOnce),
                "a" | "always" if always => return Some(Decision::AllowAlways),
                "d" | "deny" | "n" | "no" => return Some(Decision::Deny),
                _ => continue,
            }
        }
    }
}

pub fn approvals(args: ApprovalsArgs) -> ExitCode {
    let json_mode = args.gw.json;
    finish(json_mode, runtime().block_on(approvals_inner(args)))
}

fn print_snapshot(target: &str, v: &Value, json_mode: bool) {
    if json_mode {
        println!("{v}");
        return;
    }
    let file = &v["file"];
    let defaults = file.get("defaults").and_then(Value::as_object).filter(|d| !d.is_empty());
    let agents = file.get("agents").and_then(Value::as_object).cloned().unwrap_or_default();
    let entries: Vec<(String, Value)> = agents
        .iter()
        .flat_map(|(agent, a)| list(a, "allowlist").into_iter().map(move |e| (agent.clone(), e)))
        .collect();
    table(
        &["Field", "Value"],
        &[
            vec!["Target".into(), target.to_string()],
            vec!["Path".into(), s(v, "path").to_string()],
            vec![
                "State".into(),
                if v["exists"] == json!(true) { "stored".into() } else { "missing (defaults)".into() },
            ],
            vec!["Hash".into(), s(v, "hash").to_string()],
            vec![
                "Defaults".into(),
                defaults.map(|d| Value::Object(d.clone()).to_string()).unwrap_or_else(|| "none".into()),
            ],
            vec!["Agents".into(), agents.len().to_string()],
            vec!["Allowlist".into(), entries.len().to_string()],
        ],
    );
    println!();
    if entries.is_empty() {
        println!("No allowlist entries.");
        return;
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|(agent, e)| {
            let pattern = e.as_str().unwrap_or(s(e, "pattern")).to_string();
            let scope = e.get("argPattern").and_then(Value::as_str).map(|_| "bound args").unwrap_or("any args");
            vec![agent.clone(), pattern, scope.to_string(), age(e.get("lastUsedAt").and_then(Value::as_i64))]
        })
        .collect();
    table(&["Agent", "Pattern", "Scope", "Last Used"], &rows);
}

async fn approvals_inner(args: ApprovalsArgs) -> Result<ExitCode, Failure> {
    let json_mode = args.gw.json;
    let client = connect(&args.gw).await?;
    let node_query = match &args.command {
        ApprovalsCommand::Get { node } | ApprovalsCommand::Set { node, .. } => node.clone(),
        ApprovalsCommand::Allowlist {
            command: AllowlistCommand::Add { node, .. } | AllowlistCommand::Remove { node, .. },
        } => node.clone(),
    };
    let n = resolve(&client, &node_query).await?;
    let node_id = s(&n, "nodeId").to_string();
    let target = format!("node:{node_id}");
    let snapshot = client.request("exec.approvals.node.get", json!({"nodeId": node_id})).await?;
    let base_hash = s(&snapshot, "hash").to_string();
    if base_hash.is_empty() {
        return Err(Failure("Exec approvals hash missing; reload and retry.".into(), 1));
    }
    let (doc, message) = match args.command {
        ApprovalsCommand::Get { .. } => {
            print_snapshot(&target, &snapshot, json_mode);
            return Ok(ExitCode::SUCCESS);
        }
        ApprovalsCommand::Set { file, stdin, .. } => {
            let text = match (file, stdin) {
                (Some(path), false) => {
                    std::fs::read_to_string(&path).map_err(|e| Failure(format!("{}: {e}", path.display()), 1))?
                }
                (None, true) => std::io::read_to_string(std::io::stdin())?,
                _ => return Err(Failure("Provide --file or --stdin.".into(), 1)),
            };
            if text.len() > 1024 * 1024 {
                return Err(Failure("Exec approvals JSON is larger than 1 MiB.".into(), 1));
            }
            let mut doc: Value =
                json5::from_str(&text).map_err(|e| Failure(format!("Failed to parse approvals JSON: {e}"), 1))?;
            if !doc.is_object() {
                return Err(Failure("Exec approvals JSON must be an object.".into(), 1));
            }
            doc["version"] = json!(1);
            (doc, None)
        }
        ApprovalsCommand::Allowlist { command } => {
            let mut doc = snapshot["file"].clone();
            match command {
                AllowlistCommand::Add { pattern, agent, .. } => {
                    let pattern = pattern.trim().to_string();
                    if !openclaw_operator::allowlist::add(&mut doc, &agent, &pattern) {
                        if json_mode {
                            eprintln!("Already allowlisted.");
                            println!("{snapshot}");
                        } else {
                            println!("Already allowlisted.");
                        }
                        return Ok(ExitCode::SUCCESS);
                    }
                    (doc, Some(format!("Allowlisted {pattern} for agent {agent} on {target}.")))
                }
                AllowlistCommand::Remove { pattern, agent, .. } => {
                    if !openclaw_operator::allowlist::remove(&mut doc, &agent, pattern.trim()) {
                        if json_mode {
                            eprintln!("Pattern not found.");
                            println!("{snapshot}");
                        } else {
                            println!("Pattern not found.");
                        }
                        return Ok(ExitCode::SUCCESS);
                    }
                    (doc, Some(format!("Removed {} for agent {agent} on {target}.", pattern.trim())))
                }
            }
        }
    };
    let updated = client
        .request("exec.approvals.node.set", json!({"nodeId": node_id, "file": doc, "baseHash": base_hash}))
        .await?;
    if let Some(m) = message.filter(|_| !json_mode) {
        println!("{m}");
    }
    print_snapshot(&target, &updated, json_mode);
    Ok(ExitCode::SUCCESS)
}
