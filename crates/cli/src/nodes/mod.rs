//! `openclaw nodes status|list|describe|pending|approve|reject|rename|invoke|run|notify|files`:
//! the nodes a gateway knows, their command-surface pairing, and commands run on them. One
//! function per verb (the longer ones in a module of their own: [`notify`], [`files`]);
//! [`resolve`] (a `--node` query to one node) is shared with `approvals`.
//!
//! `nodes run` is the one verb with its own exit codes: the remote command's code, 124 on
//! timeout, 126 when the command was not run (denied by policy or operator, nobody to ask,
//! approval expired, a malformed answer), 127 when it ended with neither an exit code nor
//! success.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use openclaw_operator::nodes::resolve_node;
use openclaw_operator::run::{Decision, RunError, RunRequest};
use openclaw_operator::OperatorClient;
use openclaw_protocol::methods::{
    NodeEntry, NodeIdParams, NodeInvokeParams, NodeList, NodePairList, NodePairRemoved, NodeRecord, NodeRenameParams,
    NodeRenameResult, PendingNode, RequestIdParams,
};
use serde_json::{json, Map, Value};

mod files;
mod notify;

use crate::operator_connection::{runtime, GatewayFlags};
use crate::output::{age_cell, finish, joined, params, print_json, read, table, text, Failure, TerminalApprover};

/// `openclaw nodes`.
#[derive(Args)]
pub(crate) struct NodesArgs {
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
    /// Remove a paired node entry (revokes the device's node role)
    Remove {
        /// Node id, name, or IP
        #[arg(long)]
        node: String,
    },
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
    /// Send a local notification on a node
    Notify(notify::NotifyArgs),
    /// Files on a node: ls, stat, pull, push, pull-dir (through the gateway's file-transfer
    /// policy); exits 2 when the gateway refuses, 3 on a file error
    Files(files::FilesArgs),
}

/// Runs one `nodes` verb; failures print as described in [`finish`].
pub(crate) fn run(args: NodesArgs) -> ExitCode {
    let json_mode = args.gw.json;
    finish(json_mode, runtime().block_on(dispatch(args)))
}

async fn dispatch(args: NodesArgs) -> Result<ExitCode, Failure> {
    let json_mode = args.gw.json;
    if let NodesCommand::Invoke { command, .. } = &args.command {
        refuse_shell_commands(command)?;
    }
    if let NodesCommand::Notify(notify) = &args.command {
        notify::check(notify)?;
    }
    if let NodesCommand::Files(files) = &args.command {
        files::check(files)?;
    }
    // `nodes files` on a terminal answers the gateway's prompts for its own calls.
    let prompts = matches!(args.command, NodesCommand::Files(_)) && crate::output::terminal_can_prompt();
    let caps = if prompts { vec!["plugin-approvals".to_string()] } else { Vec::new() };
    let client = crate::operator_connection::connect_presenting(&args.gw, caps).await?;
    let client = &client;
    match args.command {
        NodesCommand::Status { connected } => status(client, connected, json_mode).await,
        NodesCommand::List => pairing_list(client, false, json_mode).await,
        NodesCommand::Pending => pairing_list(client, true, json_mode).await,
        NodesCommand::Describe { node } => describe(client, &node, json_mode).await,
        NodesCommand::Approve { request_id } => decide_pairing(client, &request_id, true).await,
        NodesCommand::Reject { request_id } => decide_pairing(client, &request_id, false).await,
        NodesCommand::Rename { node, name } => rename(client, &node, &name, json_mode).await,
        NodesCommand::Remove { node } => remove(client, &node, json_mode).await,
        NodesCommand::Invoke { node, command, params, invoke_timeout, idempotency_key } => {
            let invoke = Invoke { node, command, params, invoke_timeout, idempotency_key };
            invoke_command(client, invoke).await
        }
        NodesCommand::Run { node, cwd, env, command_timeout, argv } => {
            let run = Run { node, cwd, env, command_timeout, argv };
            run_shell(client, run, json_mode).await
        }
        NodesCommand::Notify(notify) => notify::notify(client, notify, json_mode).await,
        NodesCommand::Files(files) => files::files(client, files, json_mode, prompts).await,
    }
}

/// Finds the one node a `--node` query (id, name, IP or prefix) names among those the gateway
/// knows.
pub(crate) async fn resolve(client: &OperatorClient, query: &str) -> Result<NodeEntry, Failure> {
    let v = client.request("node.list", json!({})).await?;
    let list: NodeList = read("node.list", &v)?;
    Ok(resolve_node(&list.nodes, query)?.clone())
}

/// `nodes invoke` never carries `system.run`: shell execution must go through `nodes run`, which
/// honours the node's exec approvals. Checked before connecting.
fn refuse_shell_commands(command: &str) -> Result<(), Failure> {
    if command.eq_ignore_ascii_case("system.run") || command.eq_ignore_ascii_case("system.run.prepare") {
        return Err(Failure(
            format!("command {command:?} is reserved for shell execution; use `openclaw nodes run --node <id> -- <command>` instead"),
            1,
        ));
    }
    Ok(())
}

/// The Status cell: paired, connected (since when), and the command-surface approval.
fn status_cell(n: &NodeEntry) -> String {
    let mut parts = vec![if n.paired { "paired" } else { "unpaired" }.to_string()];
    if n.connected {
        parts.push(format!("connected ({})", age_cell(n.connected_at_ms)));
    } else {
        parts.push("disconnected".into());
    }
    parts.push(
        match n.approval_state.as_str() {
            "approved" => "approved",
            "pending-approval" => "approval pending",
            "pending-reapproval" => "re-approval pending",
            _ => "unapproved",
        }
        .to_string(),
    );
    parts.join(" · ")
}

/// Keeps the `node.list` entries whose flag in `keep` (one per entry, in order) is set, as the
/// gateway sent them: a real Gateway sends fields the shared shape does not know, and `--json`
/// passes them through. A missing list becomes `[]`.
fn retain_raw_nodes(v: &mut Value, mut keep: impl Iterator<Item = bool>) {
    match v.get_mut("nodes").and_then(Value::as_array_mut) {
        Some(raw) => raw.retain(|_| keep.next().unwrap_or(false)),
        None => v["nodes"] = json!([]),
    }
}

/// A row of `nodes status`: Node, ID, IP, Detail, Status, Caps.
fn status_row(n: &NodeEntry) -> Vec<String> {
    vec![
        text(&n.display_name).to_string(),
        n.node_id.clone(),
        text(&n.remote_ip).to_string(),
        format!("{}/{} {}", text(&n.client_id), text(&n.client_mode), text(&n.platform)),
        status_cell(n),
        joined(&n.caps),
    ]
}

/// A row of the Pending table: Request, Node, IP, Commands, Requested.
fn pending_row(p: &PendingNode) -> Vec<String> {
    vec![
        p.request_id.clone(),
        format!("{} ({})", text(&p.display_name), p.node_id),
        text(&p.remote_ip).to_string(),
        joined(&p.commands),
        age_cell(p.ts),
    ]
}

/// A row of the Paired table: Node, ID, IP, Last Seen.
fn paired_row(n: &NodeRecord) -> Vec<String> {
    vec![
        text(&n.display_name).to_string(),
        n.node_id.clone(),
        text(&n.remote_ip).to_string(),
        age_cell(n.last_seen_at_ms),
    ]
}

/// `nodes status [--connected]`.
async fn status(client: &OperatorClient, connected: bool, json_mode: bool) -> Result<ExitCode, Failure> {
    let mut v = client.request("node.list", json!({})).await?;
    let all = read::<NodeList>("node.list", &v)?.nodes;
    let shown = |n: &NodeEntry| !connected || n.connected;
    if json_mode {
        retain_raw_nodes(&mut v, all.iter().map(shown));
        print_json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    let known = all.len();
    let nodes: Vec<&NodeEntry> = all.iter().filter(|n| shown(n)).collect();
    let paired = nodes.iter().filter(|n| n.paired).count();
    let live = nodes.iter().filter(|n| n.connected).count();
    let shown = if connected { format!("{} (of {known})", nodes.len()) } else { known.to_string() };
    println!("Known: {shown} · Paired: {paired} · Connected: {live}");
    let rows: Vec<Vec<String>> = nodes.iter().map(|n| status_row(n)).collect();
    table(&["Node", "ID", "IP", "Detail", "Status", "Caps"], &rows);
    for n in nodes {
        if let Some(id) = &n.pending_request_id {
            println!("Approval pending for {}. Run openclaw nodes approve {id}", text(&n.display_name));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `nodes list` (pending and paired) and `nodes pending` (`only_pending`).
async fn pairing_list(client: &OperatorClient, only_pending: bool, json_mode: bool) -> Result<ExitCode, Failure> {
    let v = client.request("node.pair.list", json!({})).await?;
    if json_mode {
        print_json(if only_pending { &v["pending"] } else { &v });
        return Ok(ExitCode::SUCCESS);
    }
    let NodePairList { pending, paired } = read("node.pair.list", &v)?;
    if only_pending && pending.is_empty() {
        println!("No pending pairing requests.");
        return Ok(ExitCode::SUCCESS);
    }
    if !only_pending {
        println!("Pending: {} · Paired: {}", pending.len(), paired.len());
        println!();
    }
    println!("Pending");
    let rows: Vec<Vec<String>> = pending.iter().map(pending_row).collect();
    table(&["Request", "Node", "IP", "Commands", "Requested"], &rows);
    if !only_pending {
        println!();
        println!("Paired");
        let rows: Vec<Vec<String>> = paired.iter().map(paired_row).collect();
        table(&["Node", "ID", "IP", "Last Seen"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

/// `nodes describe --node <query>`.
async fn describe(client: &OperatorClient, node: &str, json_mode: bool) -> Result<ExitCode, Failure> {
    let n = resolve(client, node).await?;
    let v = client.request("node.describe", params(NodeIdParams { node_id: n.node_id })).await?;
    if json_mode {
        print_json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    let d: NodeEntry = read("node.describe", &v)?;
    let mut rows = vec![
        vec!["ID".to_string(), d.node_id.clone()],
        vec!["Name".into(), text(&d.display_name).to_string()],
        vec!["Client".into(), format!("{}/{}", text(&d.client_id), text(&d.client_mode))],
        vec!["Platform".into(), format!("{} ({})", text(&d.platform), text(&d.device_family))],
        vec!["Version".into(), text(&d.version).to_string()],
        vec!["Status".into(), status_cell(&d)],
        vec!["Caps".into(), joined(&d.caps)],
    ];
    if let Some(ip) = &d.remote_ip {
        rows.insert(2, vec!["IP".into(), ip.clone()]);
    }
    if let Some(id) = &d.pending_request_id {
        rows.push(vec!["Pending request".into(), id.clone()]);
        rows.push(vec!["Approve".into(), format!("openclaw nodes approve {id}")]);
    }
    table(&["Field", "Value"], &rows);
    println!();
    println!("Commands");
    if d.commands.is_empty() {
        println!("- (none effective)");
    }
    for c in &d.commands {
        println!("- {c}");
    }
    let pending = d.pending_declared_commands.unwrap_or_default();
    if !pending.is_empty() {
        println!();
        println!("Pending commands");
        for c in &pending {
            println!("- {c}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `nodes approve|reject <requestId>`: prints the gateway's answer (`NodePairApproved` or
/// `NodePairRejected`) as JSON either way, as sent, so nothing a real Gateway adds is lost.
async fn decide_pairing(client: &OperatorClient, request_id: &str, approve: bool) -> Result<ExitCode, Failure> {
    let method = if approve { "node.pair.approve" } else { "node.pair.reject" };
    let v = client.request(method, params(RequestIdParams { request_id: request_id.into() })).await.map_err(|e| {
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

/// `nodes rename --node <query> --name <name>`.
async fn rename(client: &OperatorClient, node: &str, name: &str, json_mode: bool) -> Result<ExitCode, Failure> {
    if name.trim().is_empty() {
        return Err(Failure("--name must not be empty".into(), 1));
    }
    let n = resolve(client, node).await?;
    let rename = NodeRenameParams { node_id: n.node_id, display_name: name.trim().into() };
    let v = client.request("node.rename", params(rename)).await?;
    if json_mode {
        print_json(&v);
    } else {
        let renamed: NodeRenameResult = read("node.rename", &v)?;
        println!("node rename ok: {} -> {}", renamed.node_id, renamed.display_name);
    }
    Ok(ExitCode::SUCCESS)
}

/// `nodes remove --node <id|name|ip>`: revokes the node role of its device (`node.pair.remove`);
/// the node's connection is closed and it must pair again.
async fn remove(client: &OperatorClient, node: &str, json_mode: bool) -> Result<ExitCode, Failure> {
    let n = resolve(client, node).await?;
    let v = client.request("node.pair.remove", params(NodeIdParams { node_id: n.node_id.clone() })).await?;
    if json_mode {
        print_json(&v);
    } else {
        let removed: NodePairRemoved = read("node.pair.remove", &v)?;
        let shown = if removed.node_id.is_empty() { n.node_id } else { removed.node_id };
        println!("Removed paired node {shown}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The flags of `nodes invoke`.
struct Invoke {
    node: String,
    command: String,
    params: String,
    invoke_timeout: u64,
    idempotency_key: Option<String>,
}

/// `nodes invoke`: one `node.invoke`, waiting 5 s past the gateway's own deadline so that its
/// timeout answer, not ours, is what the user sees.
async fn invoke_command(client: &OperatorClient, invoke: Invoke) -> Result<ExitCode, Failure> {
    let command_params: Value =
        serde_json::from_str(&invoke.params).map_err(|_| Failure("--params must be valid JSON.".into(), 1))?;
    let key = match invoke.idempotency_key {
        Some(k) if k.trim().is_empty() => return Err(Failure("--idempotency-key must not be empty.".into(), 1)),
        Some(k) => k,
        None => uuid::Uuid::new_v4().to_string(),
    };
    let n = resolve(client, &invoke.node).await?;
    let request = NodeInvokeParams {
        node_id: n.node_id,
        command: invoke.command,
        params: Some(command_params),
        timeout_ms: Some(invoke.invoke_timeout),
        idempotency_key: key,
        session_key: None,
    };
    let v = client
        .request_with_timeout(
            "node.invoke",
            params(request),
            Duration::from_millis(invoke.invoke_timeout.saturating_add(5_000)),
        )
        .await?;
    // A `NodeInvokeResult`, printed as sent (see `decide_pairing`).
    print_json(&v);
    Ok(ExitCode::SUCCESS)
}

/// The flags of `nodes run`.
struct Run {
    node: String,
    cwd: Option<String>,
    env: Vec<String>,
    command_timeout: Option<u64>,
    argv: Vec<String>,
}

/// `--env KEY=VALUE` pairs as the `env` object of `system.run`.
fn env_overrides(pairs: Vec<String>) -> Result<Map<String, Value>, Failure> {
    let mut env_map = Map::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| Failure(format!("--env {pair:?}: expected KEY=VALUE"), 1))?;
        if k.trim().is_empty() {
            return Err(Failure(format!("--env {pair:?}: empty key"), 1));
        }
        env_map.insert(k.trim().to_string(), json!(v));
    }
    Ok(env_map)
}

/// `nodes run --node <query> -- <argv>`: runs under the node's exec approvals, asking on this
/// terminal when the node wants an approval, and exits with the command's code.
async fn run_shell(client: &OperatorClient, run: Run, json_mode: bool) -> Result<ExitCode, Failure> {
    let env = env_overrides(run.env)?;
    let n = resolve(client, &run.node).await?;
    let name = n.display_name.filter(|x| !x.is_empty()).unwrap_or_else(|| n.node_id.clone());
    let req = RunRequest {
        node_id: n.node_id,
        node_name: name,
        argv: run.argv,
        cwd: run.cwd,
        env,
        command_timeout_ms: run.command_timeout,
    };
    let mut approver = TerminalApprover;
    let result = openclaw_operator::run::run(client, &req, &mut approver).await.map_err(|e| match e {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        openclaw_state::now_ms()
    }

    #[test]
    fn status_rows_read_the_node_list_shape() {
        let list: NodeList = serde_json::from_value(json!({"ts": 1, "nodes": [
            {"nodeId": "n1", "displayName": "box", "remoteIp": "10.0.0.2", "clientId": "node-host",
             "clientMode": "node", "platform": "linux", "caps": ["system", "exec"], "paired": true,
             "connected": true, "connectedAtMs": now() - 300_000, "approvalState": "approved", "extra": 1},
            {"nodeId": "n2", "approvalState": "pending-reapproval", "pendingRequestId": "r1"},
        ]}))
        .unwrap();
        assert_eq!(
            status_row(&list.nodes[0]),
            ["box", "n1", "10.0.0.2", "node-host/node linux", "paired · connected (5m ago) · approved", "system, exec"]
        );
        assert_eq!(
            status_row(&list.nodes[1]),
            ["", "n2", "", "/ ", "unpaired · disconnected · re-approval pending", ""]
        );
        let mut connected_without_time = list.nodes[0].clone();
        connected_without_time.connected_at_ms = None;
        connected_without_time.approval_state = "something-new".into();
        assert_eq!(status_cell(&connected_without_time), "paired · connected (-) · unapproved");
    }

    #[test]
    fn json_status_keeps_the_gateways_own_entries() {
        let mut v = json!({"ts": 1, "nodes": [
            {"nodeId": "a", "connected": true, "notInTheShape": {"x": 1}},
            {"nodeId": "b", "connected": false},
        ], "alsoNew": true});
        let typed: NodeList = serde_json::from_value(v.clone()).unwrap();
        retain_raw_nodes(&mut v, typed.nodes.iter().map(|n| n.connected));
        assert_eq!(
            v,
            json!({"ts": 1, "nodes": [{"nodeId": "a", "connected": true, "notInTheShape": {"x": 1}}], "alsoNew": true})
        );
        let mut absent = json!({"ts": 1});
        retain_raw_nodes(&mut absent, std::iter::empty());
        assert_eq!(absent, json!({"ts": 1, "nodes": []}));
    }

    #[test]
    fn pairing_rows_show_an_unknown_time_as_a_dash() {
        let list: NodePairList = serde_json::from_value(json!({
            "pending": [
                {"requestId": "r1", "nodeId": "n1", "displayName": "box", "commands": ["system.run", "system.which"],
                 "ts": now() - 60_000},
                {"requestId": "r2", "nodeId": "n2"},
            ],
            "paired": [{"nodeId": "n1", "displayName": "box", "remoteIp": "10.0.0.2", "lastSeenAtMs": now() - 7_200_000},
                       {"nodeId": "n3"}],
        }))
        .unwrap();
        assert_eq!(pending_row(&list.pending[0]), ["r1", "box (n1)", "", "system.run, system.which", "60s ago"]);
        assert_eq!(pending_row(&list.pending[1]), ["r2", " (n2)", "", "", "-"]);
        assert_eq!(paired_row(&list.paired[0]), ["box", "n1", "10.0.0.2", "2h ago"]);
        assert_eq!(paired_row(&list.paired[1]), ["", "n3", "", "-"]);
    }
}
