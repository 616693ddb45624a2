//! Setup codes from the operator's side: `openclaw qr` and `openclaw devices join-code`.
//!
//! Both ask a gateway (ours or the real one) for a setup code with `device.pair.setupCode`,
//! which needs `operator.admin`. `devices join-code` asks for a node code with a single-use
//! join URL and prints the one command to run on the new machine. `qr` prints a code, its
//! `oc-pair://` URL and a QR code drawn in the terminal.
//!
//! Unlike upstream's `qr`, which mints the token into the gateway's database from the same
//! machine, ours asks the running gateway, so it works from anywhere an admin operator can
//! connect and against both gateways. Its `--url`/`--public-url` therefore set the URL put in
//! the code, and the gateway to ask is `--gateway-url` (default: the local one). `--node`
//! (ours) asks for a node-host code, the one `openclaw node run --pair` onboards with in one
//! step; upstream's default mobile code leaves a node host waiting for `devices approve`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use openclaw_operator::connect::ConnectFlags;
use openclaw_operator::OperatorClient;
use openclaw_protocol::setup_code::URL_PREFIX;
use openclaw_state::StatePaths;
use serde_json::{json, Value};

use crate::operator_connection::runtime;
use crate::output::{finish, s, Failure};

/// What upstream prints when a mobile code was limited because its URL is plaintext.
const LIMITED_TRANSPORT_WARNING: &str = "This Gateway URL uses plaintext ws://, so the setup code was limited for safety. Use wss:// or Tailscale Serve, then generate a new code for full access.";

/// `openclaw qr`.
#[derive(Args)]
pub(crate) struct QrArgs {
    /// Use gateway.remote.url (ignores device-pair publicUrl)
    #[arg(long)]
    remote: bool,
    /// Override gateway URL used in the setup payload
    #[arg(long, value_name = "url")]
    url: Option<String>,
    /// Override gateway public URL used in the setup payload
    #[arg(long, value_name = "url")]
    public_url: Option<String>,
    /// Pair with limited operator access (omit operator.admin)
    #[arg(long, conflicts_with_all = ["voice_node", "node"])]
    limited: bool,
    /// Pair a voice node with node, read, and Talk access only
    #[arg(long, conflicts_with = "node")]
    voice_node: bool,
    /// Pair a node host in one step (`openclaw node run --pair <code>`)
    #[arg(long)]
    node: bool,
    /// Print only the setup code
    #[arg(long)]
    setup_code_only: bool,
    /// Skip ASCII QR rendering
    #[arg(long)]
    no_ascii: bool,
    /// Output JSON
    #[arg(long)]
    json: bool,
    /// The gateway to ask (default: ws://127.0.0.1:<gateway.port or 18789>)
    #[arg(long, value_name = "url")]
    gateway_url: Option<String>,
    /// Gateway token (else OPENCLAW_GATEWAY_TOKEN / gateway.auth.token)
    #[arg(long)]
    token: Option<String>,
    /// Gateway password (password auth)
    #[arg(long)]
    password: Option<String>,
    /// SHA-256 of the gateway's TLS certificate, for a wss:// --gateway-url
    #[arg(long)]
    tls_fingerprint: Option<String>,
    /// Timeout in ms
    #[arg(long, default_value_t = 10_000)]
    timeout: u64,
}

/// Runs `openclaw qr`.
pub(crate) fn run_qr(args: QrArgs) -> ExitCode {
    let json_mode = args.json;
    finish(json_mode, runtime().block_on(qr(args)))
}

async fn qr(args: QrArgs) -> Result<ExitCode, Failure> {
    let flags = ConnectFlags {
        url: args.gateway_url.clone(),
        token: args.token.clone(),
        password: args.password.clone(),
        tls_fingerprint: args.tls_fingerprint.clone(),
        timeout: Duration::from_millis(args.timeout),
    };
    let client = openclaw_operator::connect::connect_presenting(&flags, &StatePaths::from_env(), Vec::new()).await?;
    let mut params = json!({"includeQr": false});
    if let Some(url) = args.url.as_ref().or(args.public_url.as_ref()) {
        params["publicUrl"] = json!(url);
    }
    if args.remote {
        params["preferRemoteUrl"] = json!(true);
    }
    let profile = match (args.node, args.limited, args.voice_node) {
        (true, _, _) => Some("node"),
        (_, true, _) => Some("limited"),
        (_, _, true) => Some("voice-node"),
        _ => None,
    };
    if let Some(profile) = profile {
        params["bootstrapProfile"] = json!(profile);
    }
    let v = request_setup_code(&client, params).await?;
    let code = s(&v, "setupCode");
    let downgraded = v["accessDowngraded"] == json!(true);
    if args.json {
        let mut out = json!({"setupCode": code, "gatewayUrl": v["gatewayUrl"]});
        if let Some(urls) = v.get("gatewayUrls") {
            out["gatewayUrls"] = urls.clone();
        }
        out["auth"] = v["auth"].clone();
        out["urlSource"] = v["urlSource"].clone();
        out["access"] = v["access"].clone();
        if downgraded {
            out["accessDowngraded"] = json!(true);
        }
        println!("{}", serde_json::to_string_pretty(&out).expect("serialisable"));
        return Ok(ExitCode::SUCCESS);
    }
    if args.setup_code_only {
        if downgraded {
            eprintln!("{LIMITED_TRANSPORT_WARNING}");
        }
        println!("{code}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut lines = vec!["Pairing QR".to_string()];
    lines.push(if args.node {
        "Pair a node host with it (openclaw node run --pair <code>), or scan it with the OpenClaw mobile app."
            .to_string()
    } else {
        "Scan this with the OpenClaw mobile app (Onboarding -> Scan QR).".to_string()
    });
    lines.push(String::new());
    if !args.no_ascii {
        lines.push(render_terminal_qr(code)?);
        lines.push(String::new());
    }
    lines.push(format!("Setup code: {code}"));
    lines.push(format!("Pair URL: {URL_PREFIX}{code}"));
    lines.push(format!("Gateway: {}", s(&v, "gatewayUrl")));
    lines.push(format!("Auth: {}", s(&v, "auth")));
    lines.push(format!("Access: {}", s(&v, "access")));
    if downgraded {
        lines.push(LIMITED_TRANSPORT_WARNING.to_string());
    }
    lines.push(format!("Source: {}", s(&v, "urlSource")));
    lines.push(String::new());
    if args.node {
        lines.push("On the node (paired and approved in one step):".to_string());
        lines.push(format!("  openclaw node run --pair {code}"));
    } else {
        lines.push("Approve after scan with:".to_string());
        lines.push("  openclaw devices list".to_string());
        lines.push("  openclaw devices approve <requestId>".to_string());
    }
    println!("{}", lines.join("\n"));
    Ok(ExitCode::SUCCESS)
}

/// `openclaw devices join-code`: a single-use join URL for a new node, and the command that
/// uses it. Upstream prints `npx openclaw connect …`, which would fetch the npm package this
/// binary replaces; ours prints `openclaw connect …` (the JSON keys are upstream's).
pub(crate) async fn join_code(client: &OperatorClient, json_mode: bool) -> Result<ExitCode, Failure> {
    let params = json!({"bootstrapProfile": "node", "includeQr": false, "joinUrl": true});
    let v = request_setup_code(client, params).await?;
    let join_url = v["joinUrl"].as_str().map(str::trim).filter(|u| !u.is_empty());
    let join_url = join_url.ok_or_else(|| Failure("Gateway did not return a device join URL.".into(), 1))?;
    let command = format!("openclaw connect {}", quote_cli_arg(join_url));
    if json_mode {
        println!("{}", serde_json::to_string_pretty(&json!({"joinUrl": join_url, "command": command})).expect("json"));
    } else {
        println!("{join_url}");
        println!("{command}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn request_setup_code(client: &OperatorClient, params: Value) -> Result<Value, Failure> {
    Ok(client.request("device.pair.setupCode", params).await?)
}

/// A shell word for `value`: as is when it is plainly safe, else single-quoted.
fn quote_cli_arg(value: &str) -> String {
    let plain = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_/:=.,@%+-".contains(&b));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// The QR code of `data` in half blocks, two module rows per line, with a one-module quiet
/// zone, black on white so it scans on dark terminals too (upstream's compact rendering).
fn render_terminal_qr(data: &str) -> Result<String, Failure> {
    let qr = qrcode::QrCode::new(data.as_bytes()).map_err(|e| Failure(format!("cannot draw the QR code: {e}"), 1))?;
    let size = qr.width() as i64;
    let colors = qr.to_colors();
    let dark = |x: i64, y: i64| {
        (0..size).contains(&x) && (0..size).contains(&y) && colors[(y * size + x) as usize] == qrcode::Color::Dark
    };
    let mut lines = Vec::new();
    let mut y = -1;
    while y < size + 1 {
        let mut line = String::from("\x1b[47m\x1b[30m");
        for x in -1..size + 1 {
            line.push(match (dark(x, y), dark(x, y + 1)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        line.push_str("\x1b[0m");
        lines.push(line);
        y += 2;
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_args_are_quoted_only_when_needed() {
        assert_eq!(quote_cli_arg("http://127.0.0.1:1/j/abc-_"), "http://127.0.0.1:1/j/abc-_");
        assert_eq!(quote_cli_arg("https://h/j/a b"), "'https://h/j/a b'");
        assert_eq!(quote_cli_arg("it's"), r"'it'\''s'");
    }

    #[test]
    fn the_terminal_qr_is_square_with_its_quiet_zone() {
        let drawn = render_terminal_qr("hello").unwrap();
        let qr = qrcode::QrCode::new(b"hello").unwrap();
        let rows: Vec<&str> = drawn.lines().collect();
        assert_eq!(rows.len(), (qr.width() + 2).div_ceil(2));
        for row in &rows {
            let cells = row.trim_start_matches("\x1b[47m\x1b[30m").trim_end_matches("\x1b[0m");
            assert_eq!(cells.chars().count(), qr.width() + 2);
        }
        // The top quiet-zone row is blank above the finder pattern's dark top edge.
        assert!(rows[0].contains('▄'));
    }
}
