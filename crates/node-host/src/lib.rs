//! The OpenClaw headless node host.
//!
//! [`run::prepare`] turns `node run` flags plus the state directory into a ready
//! [`connection::NodeHost`] (persisting config, importing legacy files, resolving
//! credentials, failing closed on anything doubtful); [`connection::NodeHost::run`] then
//! keeps it connected and serving until a signal or a terminal auth error.
//!
//! Layout: [`endpoint`] and [`credentials`] (re-exported from `openclaw-client`, which also
//! dials, pins TLS and runs the signed handshake) decide where and with what to connect,
//! [`connection`] and [`reconnect`] the session lifecycle,
//! [`invoke`] the command registry and dispatch, [`commands`] one module per command.

pub mod commands;
pub mod connection;
/// Where and with what a node connects, part of this crate's API (`NodeRunOptions`, `NodeHost`).
pub use openclaw_client::{credentials, endpoint};
pub mod invoke;
pub mod platform;
pub mod reconnect;
pub mod run;
pub mod stats;
pub mod status;

pub use connection::{NodeExit, NodeHost};
pub use run::{prepare, NodeRunOptions, PrepareError};
