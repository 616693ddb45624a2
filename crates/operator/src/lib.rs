//! The operator side of the OpenClaw Gateway protocol, used by `openclaw devices|nodes|approvals`.
//!
//! - [`connect`]: which gateway to talk to, with which credentials and device (flags, config
//!   file and env resolved once, with tests), then connecting and keeping the device token.
//! - [`client`]: a WebSocket operator session (request/response, two-phase requests, events)
//!   against any protocol-v4 gateway, on top of `openclaw-client`'s dial and signed handshake.
//! - [`nodes`]: finding a node by id, id prefix, display name or IP.
//! - [`run`]: `nodes run`: prepare the plan on the node, ask for approval when its policy
//!   requires it, and run the approved plan.
//! - [`allowlist`]: editing a node's exec approvals document (add/remove allowlist entries).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod allowlist;
pub mod client;
pub mod connect;
pub mod nodes;
pub mod run;

pub use client::{ClientError, ConnectOptions, OperatorClient, OPERATOR_SCOPES};
