//! The client side of a connection to an OpenClaw Gateway, written once for every client.
//!
//! Two programs talk to a gateway as clients: the node host (`role: "node"`, it serves
//! commands) and the operator CLI (`role: "operator"`, it calls methods). What they say after
//! `hello-ok` differs completely; how they get there must not, because that part decides whom
//! we trust and what we sign. This crate is that shared part, in the order a connection
//! passes through it:
//!
//! 1. [`endpoint`]: *where* to connect. An [`Endpoint`] is resolved from `node run` flags and
//!    the saved gateway ([`endpoint::resolve_endpoint`]) or from an operator URL
//!    ([`endpoint::endpoint_from_url`]), and checked against the plaintext-`ws://` rule.
//! 2. [`credentials`]: *with which shared secret*: env first, then `openclaw.json`, with
//!    SecretRefs resolved only where they can win.
//! 3. [`tls`]: *whom to trust*: WebPKI roots, or exactly one certificate by its SHA-256 pin.
//! 4. [`connection`]: the byte pipe. [`connection::dial`] opens TCP, TLS and the WebSocket
//!    upgrade and says what failed as a [`DialError`]; [`connection::next_frame`] reads the
//!    next protocol frame with a deadline.
//! 5. [`handshake`](mod@handshake): challenge → signed `connect` → `hello-ok`. A [`handshake::ConnectRequest`]
//!    describes the client (role, scopes, caps, commands, credentials, device identity); the
//!    nonce binding and the device signature are computed in this one place for both roles.
//!
//! Before step 1, a node that onboards with `openclaw connect` or `node run --pair` turns
//! what the user pasted into a setup payload ([`join`]: a gateway's join URL fetched once, or a
//! setup code), whose URLs become the endpoints and whose bootstrap token the credential.
//!
//! After the handshake the caller owns the [`Ws`]: the node host (`openclaw-node-host`) runs
//! its invoke session on it, the operator (`openclaw-operator`) its request/response client.
//! [`platform`] holds what this machine reports about itself in `connect.client`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod connection;
pub mod credentials;
pub mod endpoint;
pub mod handshake;
pub mod join;
pub mod platform;
pub mod tls;

pub use connection::{dial, DialError, Ws};
pub use endpoint::Endpoint;
pub use handshake::{handshake, ConnectRequest, HandshakeError};
