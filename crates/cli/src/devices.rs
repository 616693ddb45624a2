//! `openclaw devices list|approve|reject|join-code`: device pairing as an operator, against any gateway
//! (ours or the real one). One function per verb; each sends one request and prints the
//! answer, the protocol work being in `openclaw-operator`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use openclaw_operator::OperatorClient;
use openclaw_protocol::methods::{
    DevicePairApproved, DevicePairList, DevicePairRejected, DeviceRecord, PendingDevice, RequestIdParams,
};
use serde_json::json;

use crate::operator_connection::{connect, runtime, GatewayFlags};
use crate::output::{age_cell, finish, joined, params, print_json, read, table, text, Failure};

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
    /// Create a single-use join URL that onboards a new node host in one step
    JoinCode,
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
        DevicesCommand::JoinCode => crate::setup_codes::join_code(&client, json_mode).await,
    }
}

/// `devices list`: pending requests, then paired devices.
async fn list_devices(client: &OperatorClient, json_mode: bool) -> Result<ExitCode, Failure> {
    let v = client.request("device.pair.list", json!({})).await?;
    if json_mode {
        print_json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    let DevicePairList { pending, paired } = read("device.pair.list", &v)?;
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

fn pending_row(p: &PendingDevice) -> Vec<String> {
    let name =
        [text(&p.display_name), text(&p.client_id), &p.device_id].into_iter().find(|x| !x.is_empty()).unwrap_or("");
    let scopes = if p.scopes.is_empty() { "none".to_string() } else { joined(&p.scopes) };
    vec![
        p.request_id.clone(),
        name.to_string(),
        format!("roles: {}; scopes: {scopes}", joined(&p.roles)),
        text(&p.remote_ip).to_string(),
        age_cell(p.ts),
        if p.is_repair { "re-approval".into() } else { "new pairing".into() },
    ]
}

fn paired_row(d: &DeviceRecord) -> Vec<String> {
    let tokens: Vec<String> = d.tokens.iter().map(|t| t.role.clone()).collect();
    vec![
        text(&d.display_name).to_string(),
        d.device_id.clone(),
        joined(&d.roles),
        joined(&d.scopes),
        tokens.join(", "),
        d.approved_via.clone(),
        text(&d.remote_ip).to_string(),
    ]
}

/// `devices approve <requestId>`.
async fn approve(client: &OperatorClient, request_id: &str, json_mode: bool) -> Result<ExitCode, Failure> {
    let v = client.request("device.pair.approve", params(RequestIdParams { request_id: request_id.into() })).await.map_err(|e| {
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
        let approved: DevicePairApproved = read("device.pair.approve", &v)?;
        println!("Approved {} ({request_id})", approved.device.device_id);
    }
    Ok(ExitCode::SUCCESS)
}

/// `devices reject <requestId>`.
async fn reject(client: &OperatorClient, request_id: &str, json_mode: bool) -> Result<ExitCode, Failure> {
    let v = client.request("device.pair.reject", params(RequestIdParams { request_id: request_id.into() })).await?;
    if json_mode {
        print_json(&v);
    } else {
        let rejected: DevicePairRejected = read("device.pair.reject", &v)?;
        println!("Rejected {}", rejected.device_id);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_the_device_pair_list_shape() {
        let now = openclaw_state::now_ms();
        let list: DevicePairList = serde_json::from_value(json!({
            "pending": [
                {"requestId": "r1", "deviceId": "d1", "clientId": "cli", "roles": ["operator"],
                 "scopes": ["operator.read", "operator.write"], "remoteIp": "10.0.0.3", "isRepair": true,
                 "ts": now - 30_000},
                {"requestId": "r2", "deviceId": "d2", "roles": ["node"]},
            ],
            "paired": [{"deviceId": "d3", "displayName": "laptop", "roles": ["operator", "node"],
                        "scopes": ["operator.admin"], "approvedVia": "owner",
                        "tokens": [{"role": "node", "rotatedAtMs": 1}, {"role": "operator"}]}],
        }))
        .unwrap();
        assert_eq!(
            pending_row(&list.pending[0]),
            [
                "r1",
                "cli",
                "roles: operator; scopes: operator.read, operator.write",
                "10.0.0.3",
                "30s ago",
                "re-approval"
            ]
        );
        assert_eq!(pending_row(&list.pending[1]), ["r2", "d2", "roles: node; scopes: none", "", "-", "new pairing"]);
        assert_eq!(
            paired_row(&list.paired[0]),
            ["laptop", "d3", "operator, node", "operator.admin", "node, operator", "owner", ""]
        );
    }
}
