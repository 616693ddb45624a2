//! `system.run` on the node: what may run, and how it runs.
//!
//! The pieces of the exec policy are pure functions of their inputs (the request, the
//! approvals document, the node's config, resolved paths) with the upstream vectors as tests;
//! the process runner is the only module that touches processes. The policy is not yet
//! complete here: the node host (`openclaw-node-host`, `commands::system::run`) still
//! assembles the decision from these pieces (effective policy layering, plan binding, skill
//! bins, allow-always persistence) and calls [`policy::evaluate`] last; moving that assembly
//! into this crate is planned.
//!
//! Modules:
//! - [`command`]: the command model (argv, its display text, shell-wrapper payloads);
//! - [`shell`]: shell payload analysis with tree-sitter-bash, split into simple commands;
//! - [`allowlist`]: resolving an argv the way it will run and matching allowlist rules;
//! - [`safebins`]: stream filters allowed without an allowlist entry;
//! - [`inline_eval`]: interpreter invocations that carry their program in argv;
//! - [`approvals`]: the exec-approvals document (normalise, serialise, resolve, redact);
//! - [`policy`]: security and ask modes, the config layer and the final decision;
//! - [`env`](mod@env): which environment a command gets and which overrides are refused;
//! - [`runner`]: spawning the process in its own group with the upstream timeout, output
//!   caps and cancellation (the crate's one `unsafe` block, documented there).

#![warn(missing_docs)]

pub mod allowlist;
pub mod approvals;
pub mod command;
pub mod env;
pub mod inline_eval;
pub mod policy;
pub mod runner;
pub mod safebins;
pub mod shell;
