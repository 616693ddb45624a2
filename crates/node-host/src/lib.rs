//! The OpenClaw headless node host.
//!
//! [`run::prepare`] turns `node run` flags plus the state directory into a ready
//! [`connection::NodeHost`] (persisting config, importing legacy files, resolving
//! credentials, failing closed on anything doubtful); [`connection::NodeHost::run`] then
//! keeps it connected and serving until a signal or a terminal auth error.
//!
//! Layout: [`endpoint`] and [`credentials`] decide where and with what to connect,
//! [`tls`] how to trust the gateway, [`connection`] and [`reconnect`] the session lifecycle,
//! [`invoke`] the command registry and dispatch, [`commands`] one module per command.

pub mod commands;
pub mod connection;
pub mod credentials;
pub mod endpoint;
pub mod invoke;
pub mod platform;
pub mod reconnect;
pub mod run;
pub mod stats;
pub mod status;
pub mod tls;

pub use connection::{NodeExit, NodeHost};
pub use run::{prepare, NodeRunOptions, PrepareError};
