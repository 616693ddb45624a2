//! The exec-approvals document (`exec.md` §1): normalisation, serialisation, hashing,
//! per-agent resolution and the redacted snapshot the gateway sees.
//!
//! The document is kept as an ordered JSON tree rather than typed structs so that what a
//! gateway sends survives a round trip key for key, and so the raw text (and thus its hash)
//! is what upstream would write: `JSON.stringify(doc, null, 2) + "\n"`.
//!
//! One file per concern: `normalize` (`set`'s normalisation, as upstream's
//! `normalizeExecApprovals`), `stored` (reading a stored row through the persisted schema),
//! `text` (the written text and its hash), `resolve` (the per-agent view policy reads),
//! `edits` (allow-always rules) and `socket` (the socket token: ensured, kept, redacted). This
//! file re-exports their public API, so callers name `crate::approvals::…` only.

mod edits;
mod normalize;
mod resolve;
mod socket;
mod stored;
mod text;

pub use edits::{add_allow_always, add_allow_always_marker};
pub use normalize::{normalize, InvalidDocument};
pub use resolve::{resolve, resolve_defaults, AllowRule, ResolvedApprovals};
pub use socket::{ensure_socket, merge_socket, new_socket_token, redact};
pub use stored::{fail_closed, parse_stored};
pub use text::{hash_raw, missing_hash, serialize};

/// The display path upstream reports for the store.
pub const DISPLAY_PATH: &str = "~/.openclaw/state/openclaw.sqlite#exec_approvals_config";
