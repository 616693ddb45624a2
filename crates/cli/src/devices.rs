//! `openclaw devices list|approve|reject`: device pairing as an operator, against any gateway
//! (ours or the real one). One function per verb; each sends one request and prints the
//! answer, the protocol work being in `openclaw-operator`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use openclaw_operator::OperatorClient;
use serde_json::{json, Value};

use crate::operator_connection::{connect, runtime, GatewayFlags};
use crate::output::{age_cell, finish, joined, list, print_json, s, table, Failure};

/// `openclaw devices`.
#[derive(Args)]
pub(crate) struct DevicesArgs {
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

/// Runs one `devices` verb; failures print as described in [`finish`].
pub(crate) fn run(args: DevicesArgs) -> ExitCode {
    let json_mode = args.gw.json;
    finish(json_mode, runtime().block_on(dispatch(args)))
}

async fn dispatch(args: DevicesArgs) -> Result<ExitCode, Failure> {
    let client = connect(&args.gw).await?;
    let json_mode = args.gw.json;
    match args.command {
        DevicesCommand::List => list_devices(&client, json_mode).await,
        DevicesCommand::Approve { request_id } => approve(&client, &request_id, json_mode).await,
        DevicesCommand::Reject { request_id } => reject(&client, &request_id, json_mode).await,
    }
}

/// `devices list`: pending requests, then paired devices.
async fn list_devices(client: &OperatorClient, json_mode: bool) -> Result<ExitCode, Failure> {
    let v = client.request("device.pair.list", json!({})).await?;
    if json_mode {
        print_json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    let (pending, paired) = (list(&v, "pending"), list(&v, "paired"));
    if pending.is_empty() && paired.is_empty() {
        println!("No device pairing entries.");
        return Ok(ExitCode::SUCCESS);
    }
    println!("Pending ({})", pending.len());
    let rows: Vec<Vec<String>> = pending.iter().map(pending_row).collect();
    table(&["Request", "Device", "Requested", "IP", "Age", "Status"], &rows);
    println!();
    println!("Paired ({})", paired.len());
    let rows: Vec<Vec<String>> = paired.iter().map(paired_row).collect();
    table(&["Device", "Device ID", "Roles", "Scopes", "Tokens", "Approved via", "IP"], &rows);
    Ok(ExitCode::SUCCESS)
}

fn pending_row(p: &Value) -> Vec<String> {
    let name =
        [s(p, "displayName"), s(p, "clientId"), s(p, "deviceId")].into_iter().find(|x| !x.is_empty()).unwrap_or("");
    let scopes = if list(p, "scopes").is_empty() { "none".to_string() } else { joined(p, "scopes") };
    vec![
        s(p, "requestId").to_string(),
        name.to_string(),
        format!("roles: {}; scopes: {scopes}", joined(p, "roles")),
        s(p, "remoteIp").to_string(),
        age_cell(p.get("ts").and_then(Value::as_i64)),
        if p["isRepair"] == json!(true) { "re-approval".into() } else { "new pairing".into() },
    ]
}

fn paired_row(d: &Value) -> Vec<String> {
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
}

/// `devices approve <requestId>`.
async fn approve(client: &OperatorClient, request_id: &str, json_mode: bool) -> Result<ExitCode, Failure> {
    let v = client.request("device.pair.approve", json!({"requestId": request_id})).await.map_err(|e| {
        match e.shape().map(|s| s.message.as_str()) {
            Some("unknown requestId") => Failure(
                format!("No pending device request matches {request_id}. Run openclaw devices list and retry with the current request ID."),
                1,
            ),
            _ => e.into(),
        }
    })?;
    if json_mode {
        print_json(&v);
    } else {
        println!("Approved {} ({request_id})", s(&v["device"], "deviceId"));
    }
    Ok(ExitCode::SUCCESS)
}

/// `devices reject <requestId>`.
async fn reject(client: &OperatorClient, request_id: &str, json_mode: bool) -> Result<ExitCode, Failure> {
    let v = client.request("device.pair.reject", json!({"requestId": request_id})).await?;
    if json_mode {
        print_json(&v);
    } else {
        println!("Rejected {}", s(&v, "deviceId"));
    }
    Ok(ExitCode::SUCCESS)
}
