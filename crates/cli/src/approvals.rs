//! `openclaw approvals get|set|allowlist` (alias `exec-approvals`): a node's exec approvals
//! document, read and replaced through the gateway.
//!
//! Every verb starts the same way (resolve the node, fetch the current document and its hash),
//! and every change is sent with that hash so that a concurrent edit is refused rather than
//! overwritten; the verbs differ only in how they build the new document.
//!
//! The params are the shared shapes of `openclaw_protocol::methods`; the snapshot the node
//! returns (`path`, `exists`, `hash`, `file`) is the node's own payload, relayed by the gateway,
//! and stays JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use openclaw_protocol::methods::{ExecApprovalsSetParams, NodeIdParams};
use serde_json::{json, Value};

use crate::nodes::resolve;
use crate::operator_connection::{connect, runtime, GatewayFlags};
use crate::output::{age_cell, finish, list, params, s, table, Failure};

/// `openclaw approvals`.
#[derive(Args)]
pub(crate) struct ApprovalsArgs {
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
        file: Option<PathBuf>,
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

impl ApprovalsCommand {
    /// The `--node` every verb takes.
    fn node(&self) -> &str {
        match self {
            ApprovalsCommand::Get { node } | ApprovalsCommand::Set { node, .. } => node,
            ApprovalsCommand::Allowlist {
                command: AllowlistCommand::Add { node, .. } | AllowlistCommand::Remove { node, .. },
            } => node,
        }
    }
}

/// Runs one `approvals` verb; failures print as described in [`finish`].
pub(crate) fn run(args: ApprovalsArgs) -> ExitCode {
    let json_mode = args.gw.json;
    finish(json_mode, runtime().block_on(dispatch(args)))
}

/// What a verb wants sent: the new document and the line to print before it (text mode).
enum Change {
    /// Send this document.
    Replace(Value, Option<String>),
    /// Nothing to send; the verb has printed its outcome.
    Done,
}

async fn dispatch(args: ApprovalsArgs) -> Result<ExitCode, Failure> {
    let json_mode = args.gw.json;
    let client = connect(&args.gw).await?;
    let node_id = resolve(&client, args.command.node()).await?.node_id;
    let target = format!("node:{node_id}");
    let snapshot = client.request("exec.approvals.node.get", params(NodeIdParams { node_id: node_id.clone() })).await?;
    let base_hash = s(&snapshot, "hash").to_string();
    if base_hash.is_empty() {
        return Err(Failure("Exec approvals hash missing; reload and retry.".into(), 1));
    }
    let change = match args.command {
        ApprovalsCommand::Get { .. } => {
            print_snapshot(&target, &snapshot, json_mode);
            Change::Done
        }
        ApprovalsCommand::Set { file, stdin, .. } => Change::Replace(read_document(file, stdin)?, None),
        ApprovalsCommand::Allowlist { command } => edit_allowlist(command, &snapshot, &target, json_mode),
    };
    let Change::Replace(doc, message) = change else {
        return Ok(ExitCode::SUCCESS);
    };
    let set = ExecApprovalsSetParams { node_id, file: doc, base_hash: Some(base_hash) };
    let updated = client.request("exec.approvals.node.set", params(set)).await?;
    if let Some(m) = message.filter(|_| !json_mode) {
        println!("{m}");
    }
    print_snapshot(&target, &updated, json_mode);
    Ok(ExitCode::SUCCESS)
}

/// `approvals set`: the document from `--file` or `--stdin`, at most 1 MiB of JSON5 object.
fn read_document(file: Option<PathBuf>, stdin: bool) -> Result<Value, Failure> {
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
    Ok(doc)
}

/// `approvals allowlist add|remove`: the current document with one pattern added or removed;
/// when that changes nothing, says so and sends nothing.
fn edit_allowlist(command: AllowlistCommand, snapshot: &Value, target: &str, json_mode: bool) -> Change {
    let mut doc = snapshot["file"].clone();
    let (changed, unchanged_note, message) = match command {
        AllowlistCommand::Add { pattern, agent, .. } => {
            let pattern = pattern.trim().to_string();
            let added = openclaw_operator::allowlist::add(&mut doc, &agent, &pattern);
            (added, "Already allowlisted.", format!("Allowlisted {pattern} for agent {agent} on {target}."))
        }
        AllowlistCommand::Remove { pattern, agent, .. } => {
            let removed = openclaw_operator::allowlist::remove(&mut doc, &agent, pattern.trim());
            (removed, "Pattern not found.", format!("Removed {} for agent {agent} on {target}.", pattern.trim()))
        }
    };
    if changed {
        return Change::Replace(doc, Some(message));
    }
    if json_mode {
        eprintln!("{unchanged_note}");
        println!("{snapshot}");
    } else {
        println!("{unchanged_note}");
    }
    Change::Done
}

/// Prints an approvals snapshot: compact JSON with `--json`, else a summary table and the
/// allowlist entries.
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
            vec![agent.clone(), pattern, scope.to_string(), age_cell(e.get("lastUsedAt").and_then(Value::as_i64))]
        })
        .collect();
    table(&["Agent", "Pattern", "Scope", "Last Used"], &rows);
}
