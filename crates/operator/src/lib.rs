//! The operator side of the OpenClaw Gateway protocol, used by `openclaw devices|nodes|approvals`.
//!
//! - [`client`]: a WebSocket operator session (challenge, signed connect, request/response,
//!   two-phase requests, events) against any protocol-v4 gateway.
//! - [`nodes`]: finding a node by id, id prefix, display name or IP.
//! - [`run`]: `nodes run`: prepare the plan on the node, ask for approval when its policy
//!   requires it, and run the approved plan.
//! - [`allowlist`]: editing a node's exec approvals document (add/remove allowlist entries).

pub mod allowlist;
pub mod client;
pub mod nodes;
pub mod run;

pub use client::{ClientError, ConnectOptions, OperatorClient, OPERATOR_SCOPES};
