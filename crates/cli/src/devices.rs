//! `openclaw devices list|approve|reject|remove|rename|rotate|revoke|join-code`: device pairing
//! and device tokens as an operator, against any gateway (ours or the real one). One function
//! per verb; each sends one request and prints the answer, the protocol work being in
//! `openclaw-operator` (`join-code` in `setup_codes`). `rotate` and `revoke` print JSON whatever
//! the flags, as upstream's CLI does (their answer is machine output: a rotated token may be in it).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use openclaw_operator::OperatorClient;
use openclaw_protocol::methods::{
    DeviceIdParams, DevicePairApproved, DevicePairList, DevicePairRejected, DevicePairRemoved, DevicePairRenameParams,
    DevicePairRenamed, DeviceRecord, DeviceTokenParams, PendingDevice, RequestIdParams,
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
    /// Remove a paired device entry
    Remove {
        /// Paired device id
        device_id: String,
    },
    /// Assign an operator label to a paired device
    Rename(RenameArgs),
    /// Rotate a device token for a role
    Rotate(RotateArgs),
    /// Revoke a device token for a role
    Revoke(TokenTarget),
}

/// `devices rename`.
#[derive(Args)]
struct RenameArgs {
    /// Device id
    #[arg(long = "device")]
    device: String,
    /// Operator-assigned label (max 64 characters)
    #[arg(long = "name")]
    name: String,
}

/// Which token `rotate` and `revoke` change.
#[derive(Args)]
struct TokenTarget {
    /// Device id
    #[arg(long = "device")]
    device: String,
    /// Role name
    #[arg(long = "role")]
    role: String,
}

/// `devices rotate`.
#[derive(Args)]
struct RotateArgs {
    #[command(flatten)]
    target: TokenTarget,
    /// Scopes to attach to the token (repeatable)
    #[arg(long = "scope", num_args = 1.., action = clap::ArgAction::Append, conflicts_with = "no_scopes")]
    scope: Vec<String>,
    /// Rotate with an empty scope set
    #[arg(long = "no-scopes")]
    no_scopes: bool,
}

/// Runs one `devices` verb; failures print as described in [`finish`].
pub(crate) fn run(args: DevicesArgs) -> ExitCode {
    // rotate and revoke answer in JSON, failures included (upstream's machine-output verbs).
    let json_mode = args.gw.json || matches!(args.command, DevicesCommand::Rotate(_) | DevicesCommand::Revoke(_));
    finish(json_mode, runtime().block_on(dispatch(args)))
}

async fn dispatch(args: DevicesArgs) -> Result<ExitCode, Failure> {
    check_required(&args.command)?;
    let client = connect(&args.gw).await?;
    let json_mode = args.gw.json;
    match args.command {
        DevicesCommand::List => list_devices(&client, json_mode).await,
        DevicesCommand::Approve { request_id } => approve(&client, &request_id, json_mode).await,
        DevicesCommand::Reject { request_id } => reject(&client, &request_id, json_mode).await,
        DevicesCommand::JoinCode => crate::setup_codes::join_code(&client, json_mode).await,
        DevicesCommand::Remove { device_id } => remove(&client, &device_id, json_mode).await,
        DevicesCommand::Rename(a) => rename(&client, &a, json_mode).await,
        DevicesCommand::Rotate(a) => rotate(&client, &a).await,
        DevicesCommand::Revoke(t) => revoke(&client, &t).await,
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
    let mut tokens: Vec<String> = d
        .tokens
        .iter()
        .map(|t| if t.revoked_at_ms.is_some() { format!("{} (revoked)", t.role) } else { t.role.clone() })
        .collect();
    tokens.sort();
    vec![
        d.operator_label.clone().or_else(|| d.display_name.clone()).unwrap_or_default(),
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

/// Refuses blank ids before connecting, with upstream's hint (clap already requires the
/// arguments; a blank one is the mistake left).
fn check_required(command: &DevicesCommand) -> Result<(), Failure> {
    let blank = |v: &str| v.trim().is_empty();
    let hint = "Run openclaw devices list to choose a paired device.";
    let message = match command {
        DevicesCommand::Remove { device_id } if blank(device_id) => format!("deviceId is required. {hint}"),
        DevicesCommand::Rename(a) if blank(&a.device) || blank(&a.name) => {
            format!("--device and --name are required. {hint}")
        }
        DevicesCommand::Rotate(RotateArgs { target: t, .. }) | DevicesCommand::Revoke(t)
            if blank(&t.device) || blank(&t.role) =>
        {
            format!("--device and --role are required. {hint}")
        }
        _ => return Ok(()),
    };
    Err(Failure(message, 1))
}

/// A gateway refusal as upstream's CLI reports it: the gateway's message alone (the refusals
/// of these verbs are deliberately terse: `device token rotation denied`, `unknown deviceId`).
fn refusal(e: openclaw_operator::ClientError) -> Failure {
    match e.shape() {
        Some(shape) => Failure(shape.message.clone(), 1),
        None => e.into(),
    }
}

/// `devices remove <deviceId>`: forgets the device; its live connections are closed.
async fn remove(client: &OperatorClient, device_id: &str, json_mode: bool) -> Result<ExitCode, Failure> {
    let device_id = device_id.trim();
    let v = client
        .request("device.pair.remove", params(DeviceIdParams { device_id: device_id.into() }))
        .await
        .map_err(refusal)?;
    if json_mode {
        print_json(&v);
    } else {
        let removed: DevicePairRemoved = read("device.pair.remove", &v)?;
        let shown = if removed.device_id.is_empty() { device_id } else { removed.device_id.as_str() };
        println!("Removed {shown}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `devices rename --device <id> --name <label>`.
async fn rename(client: &OperatorClient, a: &RenameArgs, json_mode: bool) -> Result<ExitCode, Failure> {
    let (device_id, label) = (a.device.trim(), a.name.trim());
    let request = DevicePairRenameParams { device_id: device_id.into(), label: label.into() };
    let v = client.request("device.pair.rename", params(request)).await.map_err(refusal)?;
    if json_mode {
        print_json(&v);
    } else {
        let renamed: DevicePairRenamed = read("device.pair.rename", &v)?;
        println!("Renamed {device_id} \u{2192} {}", renamed.label);
    }
    Ok(ExitCode::SUCCESS)
}

/// The scopes `rotate` asks for: none given keeps the token's current scopes (absent),
/// `--no-scopes` asks for an empty set.
fn rotate_scopes(a: &RotateArgs) -> Option<Vec<String>> {
    if a.no_scopes {
        Some(Vec::new())
    } else if a.scope.is_empty() {
        None
    } else {
        Some(a.scope.clone())
    }
}

/// `devices rotate --device <id> --role <role> [--scope <s>…|--no-scopes]`: prints the answer
/// as JSON (it carries the new token only when this CLI rotated its own device's token).
async fn rotate(client: &OperatorClient, a: &RotateArgs) -> Result<ExitCode, Failure> {
    let request = DeviceTokenParams {
        device_id: a.target.device.trim().into(),
        role: a.target.role.trim().into(),
        scopes: rotate_scopes(a),
    };
    print_json(&client.request("device.token.rotate", params(request)).await.map_err(refusal)?);
    Ok(ExitCode::SUCCESS)
}

/// `devices revoke --device <id> --role <role>`: prints the answer as JSON.
async fn revoke(client: &OperatorClient, t: &TokenTarget) -> Result<ExitCode, Failure> {
    let request = DeviceTokenParams { device_id: t.device.trim().into(), role: t.role.trim().into(), scopes: None };
    print_json(&client.request("device.token.revoke", params(request)).await.map_err(refusal)?);
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

    /// The lifecycle verbs take upstream's flags: repeatable or variadic `--scope`, and
    /// `--no-scopes`, which conflicts with it.
    #[test]
    fn lifecycle_flags_parse_as_upstream() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(subcommand)]
            command: DevicesCommand,
        }
        let parse = |args: &[&str]| Cli::try_parse_from([&["devices"], args].concat()).map(|c| c.command);
        let scopes = |args: &[&str]| match parse(args).unwrap() {
            DevicesCommand::Rotate(a) => rotate_scopes(&a),
            _ => panic!("not rotate"),
        };
        let base = ["rotate", "--device", "d1", "--role", "operator"];
        assert_eq!(scopes(&base), None);
        assert_eq!(scopes(&[&base[..], &["--no-scopes"]].concat()), Some(vec![]));
        let two = Some(vec!["operator.read".to_string(), "operator.write".to_string()]);
        assert_eq!(scopes(&[&base[..], &["--scope", "operator.read", "operator.write"]].concat()), two);
        assert_eq!(scopes(&[&base[..], &["--scope", "operator.read", "--scope", "operator.write"]].concat()), two);
        assert!(parse(&[&base[..], &["--scope", "x", "--no-scopes"]].concat()).is_err());
        assert!(parse(&["revoke", "--device", "d1"]).is_err(), "--role is required");
        assert!(parse(&["rename", "--device", "d1"]).is_err(), "--name is required");
        assert!(matches!(parse(&["remove", "d1"]).unwrap(), DevicesCommand::Remove { device_id } if device_id == "d1"));
        // Blank values are refused before connecting, with the hint.
        let blank = parse(&["rename", "--device", " ", "--name", "x"]).unwrap();
        let Failure(message, code) = check_required(&blank).unwrap_err();
        assert_eq!(
            (message.as_str(), code),
            ("--device and --name are required. Run openclaw devices list to choose a paired device.", 1)
        );
        assert!(check_required(&parse(&["revoke", "--device", "d", "--role", "node"]).unwrap()).is_ok());
    }

    #[test]
    fn paired_rows_show_labels_and_revoked_tokens() {
        let device: DeviceRecord = serde_json::from_value(json!({
            "deviceId": "d1", "displayName": "box", "operatorLabel": "Lab box", "roles": ["node"],
            "tokens": [{"role": "node", "revokedAtMs": 5}],
        }))
        .unwrap();
        let row = paired_row(&device);
        assert_eq!((row[0].as_str(), row[4].as_str()), ("Lab box", "node (revoked)"));
    }
}
