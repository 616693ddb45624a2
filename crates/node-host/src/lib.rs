//! The OpenClaw headless node host.
//!
//! [`startup::prepare`] turns `node run` flags plus the state directory into a ready
//! [`connection::NodeHost`] (persisting config, importing legacy files, resolving
//! credentials, failing closed on anything doubtful); [`connection::NodeHost::run`] then
//! keeps it connected and serving until a signal or a terminal auth error.
//!
//! Layout:
//! - where and with what to connect: [`endpoint`] and [`credentials`], re-exported from
//!   `openclaw-client`, which also dials, pins TLS and runs the signed handshake for both
//!   the node host and the operator client;
//! - the session lifecycle: [`connection`] and [`reconnect`], publishing [`status_file`] for
//!   `node status` and [`host_stats`] for the gateway;
//! - serving commands: [`invoke`] holds the command traits, the registry and the
//!   dispatcher; [`params`] the one decoder of command params with upstream's coercions;
//!   [`services`] what commands share (state database, approvals document, skill bins,
//!   environment, the [`run_limit`] on concurrent `system.run`s); [`commands`] the built-in
//!   commands, one folder per family, and the list of them; [`offload`] runs their CPU-bound
//!   work off the runtime thread, bounded;
//! - [`startup`]: everything before the first dial; [`platform`]: what the node reports
//!   about the machine.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod commands;
pub mod connection;
/// Where and with what a node connects, part of this crate's API (`NodeRunOptions`, `NodeHost`),
/// and how `openclaw connect` turns a join URL or setup code into a setup payload.
pub use openclaw_client::{credentials, endpoint, join};
pub mod host_stats;
pub mod invoke;
pub mod offload;
pub mod params;
pub mod path_env;
pub mod platform;
pub mod reconnect;
pub mod run_limit;
pub mod services;
pub mod startup;
pub mod status_file;

pub use connection::{NodeExit, NodeHost};
pub use startup::{prepare, NodeRunOptions, PrepareError};
