//! The OpenClaw headless node host.
//!
//! [`startup::prepare`] turns `node run` flags plus the state directory into a ready
//! [`connection::NodeHost`] (persisting config, importing legacy files, resolving
//! credentials, failing closed on anything doubtful); [`connection::NodeHost::run`] then
//! keeps it connected and serving until a signal or a terminal auth error.
//!
//! Layout:
//! - where and with what to connect: [`endpoint`], [`credentials`], and [`tls`] for how to
//!   trust the gateway;
//! - the session lifecycle: [`connection`] and [`reconnect`], publishing [`status`] for
//!   `node status` and [`stats`] for the gateway;
//! - serving commands: [`invoke`] holds the command traits, the registry and the
//!   dispatcher; [`params`] the one decoder of command params with upstream's coercions;
//!   [`services`] what commands share (state database, approvals document, skill bins,
//!   environment); [`commands`] the built-in commands, one folder per family, and the list
//!   of them;
//! - [`startup`]: everything before the first dial; [`platform`]: what the node reports
//!   about the machine.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod commands;
// The connection layer (connection, credentials, endpoint, platform, reconnect, tls) is being
// extracted into its own crate by a parallel change, which documents it there; until then its
// undocumented fields are allowed here rather than edited in two places at once.
#[allow(missing_docs)]
pub mod connection;
#[allow(missing_docs)]
pub mod credentials;
#[allow(missing_docs)]
pub mod endpoint;
pub mod invoke;
pub mod params;
#[allow(missing_docs)]
pub mod platform;
#[allow(missing_docs)]
pub mod reconnect;
pub mod services;
pub mod startup;
pub mod stats;
pub mod status;
#[allow(missing_docs)]
pub mod tls;

pub use connection::{NodeExit, NodeHost};
pub use startup::{prepare, NodeRunOptions, PrepareError};
