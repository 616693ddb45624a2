//! `openclaw nodes notify`: a desktop notification on a node (`system.notify`), with upstream's
//! flags: `--title` and/or `--body` (trimmed; one is required), `--sound`, `--priority`,
//! `--delivery` (`system` by default), `--invoke-timeout` (15 s). Prints `notify ok`, or with
//! `--json` the `node.invoke` result as the gateway sent it.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use openclaw_operator::OperatorClient;
use openclaw_protocol::methods::NodeInvokeParams;
use serde_json::json;

use crate::output::{params, print_json, Failure};

/// How insistent the notification is (`notify-send --urgency`: low, normal, critical).
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Priority {
    Passive,
    Active,
    #[value(name = "timeSensitive")]
    TimeSensitive,
}

/// Where a macOS node shows it (a Linux node always uses the system daemon).
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Delivery {
    System,
    Overlay,
    Auto,
}

/// The flags of `nodes notify`.
#[derive(Args)]
pub(crate) struct NotifyArgs {
    /// Node id, name, or IP
    #[arg(long)]
    node: String,
    /// Notification title
    #[arg(long)]
    title: Option<String>,
    /// Notification body
    #[arg(long)]
    body: Option<String>,
    /// Notification sound
    #[arg(long)]
    sound: Option<String>,
    /// Notification priority
    #[arg(long, value_enum)]
    priority: Option<Priority>,
    /// Delivery mode
    #[arg(long, value_enum, default_value = "system")]
    delivery: Delivery,
    /// Node invoke timeout in ms
    #[arg(long, default_value_t = 15_000, value_parser = clap::value_parser!(u64).range(1..))]
    invoke_timeout: u64,
}

/// Checks the flags before connecting: a notification needs a title or a body.
pub(crate) fn check(args: &NotifyArgs) -> Result<(), Failure> {
    let blank = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or_default().is_empty();
    if blank(&args.title) && blank(&args.body) {
        return Err(Failure("missing --title or --body".into(), 1));
    }
    Ok(())
}

/// Sends `system.notify` to the node `args.node` names.
pub(crate) async fn notify(client: &OperatorClient, args: NotifyArgs, json_mode: bool) -> Result<ExitCode, Failure> {
    check(&args)?;
    let node = super::resolve(client, &args.node).await?;
    let text = |v: Option<String>| v.map(|s| s.trim().to_string()).unwrap_or_default();
    let priority = args.priority.map(|p| match p {
        Priority::Passive => "passive",
        Priority::Active => "active",
        Priority::TimeSensitive => "timeSensitive",
    });
    let delivery = match args.delivery {
        Delivery::System => "system",
        Delivery::Overlay => "overlay",
        Delivery::Auto => "auto",
    };
    let request = NodeInvokeParams {
        node_id: node.node_id,
        command: "system.notify".into(),
        params: Some(json!({
            "title": text(args.title),
            "body": text(args.body),
            "sound": args.sound,
            "priority": priority,
            "delivery": delivery,
        })),
        timeout_ms: Some(args.invoke_timeout),
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        session_key: None,
    };
    let answer = client
        .request_with_timeout("node.invoke", params(request), Duration::from_millis(args.invoke_timeout + 10_000))
        .await?;
    if json_mode {
        print_json(&answer);
    } else {
        println!("notify ok");
    }
    Ok(ExitCode::SUCCESS)
}
