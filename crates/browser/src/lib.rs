//! The node's browser control: a managed Chromium driven over CDP, behind upstream OpenClaw's
//! browser control routes (`browser.proxy`, spec/browser.md).
//!
//! The node host hands [`BrowserControl::dispatch`] the `{method, path, query, body}` of a
//! `browser.proxy` invoke and relays the `{status, body}` it returns; envelopes, policy and
//! file inlining stay in the node host. This crate knows nothing of node-host types.
//!
//! # Layout
//!
//! - [`settings`]: `browser.*` from `openclaw.json`, resolved once with upstream's defaults.
//! - [`detect`]: which Chromium-family executable to run.
//! - [`launcher`]: spawning Chromium (own process group, parent-death SIGKILL) and stopping it.
//! - [`cdp`]: a small CDP client over one WebSocket with flat sessions and untyped JSON.
//! - [`ssrf`]: the navigation guard.
//! - [`tabs`]: `tN` aliases, labels and target resolution.
//! - [`snapshot`]: the role and aria snapshots (`GET /snapshot`).
//! - [`pagelog`]: per-tab console, error and request buffers fed by CDP events.
//! - [`act`]: `/act` and its hooks: normalisation, actionability, input, dialogs, uploads.
//! - [`refs`]: what a snapshot's `eN` refs point at, and finding them again for `/act`.
//! - [`paths`]: the downloads directory and which `path` a caller may write to.
//! - [`devices`]: the device descriptors `/set/device` accepts.
//! - `downloads` (private): which tab a Chromium download belongs to and who waits for it.
//! - `control` (private): the per-profile runtime; [`routes`]: the route table.
//!
//! Routes upstream has but this node does not implement answer `501` with a message naming
//! the route; unknown paths answer upstream's `404 {"error":"Not Found"}`.
// `unsafe` is denied everywhere but the one `pre_exec` that arms the parent-death signal
// (launcher.rs), which carries its own SAFETY argument.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod act;
pub mod cdp;
mod control;
pub mod detect;
pub mod devices;
mod downloads;
pub mod error;
pub mod launcher;
mod page;
pub mod pagelog;
pub mod paths;
pub mod refs;
pub mod routes;
pub mod settings;
pub mod snapshot;
pub mod ssrf;
pub mod tabs;

pub use detect::detect_executable;
pub use error::RouteError;
pub use routes::{BrowserControl, RouteRequest, RouteResponse};
pub use settings::{BrowserSettings, SettingsError};
