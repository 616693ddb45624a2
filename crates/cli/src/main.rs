//! `openclaw`: the command-line surface. Parsing, wiring and printing only; the work is done
//! by the library crates.
//!
//! One module per noun holds that noun's clap definitions and its verbs (`node`, `gateway`,
//! `devices`, `nodes`, `approvals`, and the one-verb `connect`; `setup_codes` serves `qr` and
//! `devices join-code`), as in ripgrep's thin binary;
//! `output` holds what they print with, and `operator_connection` how the operator nouns reach
//! a gateway. This file is the top-level parser and the one dispatch.

mod approvals;
mod connect;
mod devices;
mod gateway;
mod node;
mod nodes;
mod operator_connection;
mod output;
mod setup_codes;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "openclaw", version, about = "OpenClaw node host and gateway tools (native)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run and manage the headless node host service
    Node(node::NodeArgs),
    /// Onboard this machine as a node in one step (join URL or setup code)
    Connect(connect::ConnectArgs),
    /// Run the gateway (node side: pairing, node registry, invoke routing, exec approvals)
    Gateway(gateway::GatewayArgs),
    /// Device pairing: list, approve, reject, join codes
    Devices(devices::DevicesArgs),
    /// Print a pairing setup code, its oc-pair:// URL and a QR code
    Qr(setup_codes::QrArgs),
    /// Nodes: status, pairing of command surfaces, invoke, run
    Nodes(nodes::NodesArgs),
    /// A node's exec approvals: get, set, allowlist
    #[command(alias = "exec-approvals")]
    Approvals(approvals::ApprovalsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Devices(_) | Command::Nodes(_) | Command::Approvals(_) | Command::Qr(_)) {
        // Output piped into `head` should end the command quietly, as in any Unix tool.
        // SAFETY: restoring the default disposition of SIGPIPE has no preconditions.
        let _ = unsafe {
            nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl)
        };
    }
    match cli.command {
        Command::Node(args) => node::run(args),
        Command::Connect(args) => connect::run(args),
        Command::Gateway(args) => gateway::run(args),
        Command::Devices(args) => devices::run(args),
        Command::Qr(args) => setup_codes::run_qr(args),
        Command::Nodes(args) => nodes::run(args),
        Command::Approvals(args) => approvals::run(args),
    }
}
