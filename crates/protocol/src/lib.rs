//! The OpenClaw Gateway WebSocket protocol (v4), as both a node host and a gateway speak it.
//!
//! This crate is deliberately free of I/O: it turns JSON text into typed frames and back,
//! builds and signs the device-auth payload, and normalises TLS fingerprints. Both sides of
//! the wire use it, so every frame shape exists exactly once and is tested against the
//! upstream vectors (`shared/spec/protocol.md` §4.4) and a real capture
//! (`shared/spec/wire-capture.jsonl`).
//!
//! Two rules from the real Gateway shape every outgoing type here: its schemas are closed
//! objects (unknown fields are rejected) and "optional" means *absent*, never `null`. Every
//! optional field is therefore `Option` with `skip_serializing_if`, and outgoing structs only
//! carry fields the schema knows.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod connect;
pub mod device_auth;
pub mod error;
pub mod frame;
pub mod methods;
pub mod node;
pub mod role;
pub mod setup_code;
pub mod tls;

pub use connect::{ClientInfo, ConnectAuth, ConnectParams, DeviceProof, HelloOk};
pub use device_auth::{DeviceAuthPayload, DeviceIdentity, IdentityError};
pub use error::{ConnectErrorCode, ErrorCode, ErrorShape};
pub use frame::{EventFrame, Frame, FrameError, RequestFrame, ResponseFrame};
pub use role::Role;

/// The protocol version this implementation speaks (`PROTOCOL_VERSION` upstream).
pub const PROTOCOL_VERSION: u32 = 4;

/// The upstream package version we are wire-compatible with; sent as `client.version`
/// so the Gateway's version checks treat us like the node host it knows.
pub const COMPAT_VERSION: &str = "2026.9.6";
