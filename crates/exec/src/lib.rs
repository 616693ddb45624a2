//! `system.run` on the node: what may run and how it runs.
//!
//! The crate keeps the pure policy apart from the process runner, as DESIGN.md asks:
//! [`env`] decides which environment a command gets (and which overrides are refused),
//! [`command`] models argv, command text and shell wrappers, and [`runner`] spawns the
//! process in its own group with the upstream timeout, output caps and cancellation.

pub mod allowlist;
pub mod approvals;
pub mod command;
pub mod env;
pub mod inline_eval;
pub mod policy;
pub mod runner;
pub mod safebins;
pub mod shell;
