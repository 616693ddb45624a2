//! `system.run` on the node: what may run, and how it runs.
//!
//! The whole exec policy lives here as pure functions of their inputs (the request, the
//! approvals document, the node's config, what is on disk), with the upstream vectors as
//! tests: [`decide::decide`] for `system.run` and [`prepare::prepare`] for
//! `system.run.prepare`. The node host parses requests, calls these, applies the document
//! edits they return, runs and reports. The process runner is the only module that touches
//! processes.
//!
//! Modules:
//! - [`decide`]: the `system.run` decision, step by step in upstream's order;
//! - [`prepare`]: the plan an approval is bound to;
//! - [`evaluate`]: whether the allowlist, safe bins or skill bins cover a command;
//! - [`binding`]: plan shape and match, canonical cwd, bound script operands;
//! - [`snapshot`]: the policy snapshot an approval carries, and whether it still holds;
//! - [`allow_always`]: what allow-always persists, and the document edits of a run;
//! - [`wrappers`]: the one analysis of dispatch wrappers, command carriers and shell wrappers;
//! - [`command`]: the command model (argv, its display text, shell-wrapper payloads);
//! - [`identity`]: binding an approved run to the executables it will start (step B6);
//! - [`shell`]: shell payload analysis with tree-sitter-bash, split into simple commands;
//! - [`segments`]: the segments of a request the policy checks walk (strictInlineEval);
//! - [`allowlist`]: resolving an argv the way it will run and matching allowlist rules;
//! - [`safebins`]: stream filters allowed without an allowlist entry;
//! - [`carrier`]: dispatch wrappers and command carriers (`env`, `sudo`, `xargs`, `find -exec`)
//!   as the risk analysis reads them;
//! - [`inline_eval`]: interpreter invocations that carry their program in argv;
//! - [`approvals`]: the exec-approvals document (normalise, serialise, resolve, redact);
//! - [`policy`]: security and ask modes, the config layer and the final decision;
//! - [`env`](mod@env): which environment a command gets and which overrides are refused;
//! - [`launch_error`]: the error text of a command that could not be launched (Node's names);
//! - [`runner`]: running the process in its own group with the upstream timeout, output
//!   caps and cancellation;
//! - [`spawn`]: starting it (`posix_spawn` in a new session; the crate's `unsafe` blocks,
//!   each documented there).

#![warn(missing_docs)]

pub mod allow_always;
pub mod allowlist;
pub mod approvals;
pub mod binding;
pub mod carrier;
pub mod command;
pub mod decide;
pub mod env;
pub mod evaluate;
pub mod identity;
pub mod inline_eval;
pub mod launch_error;
pub mod lexical_path;
pub mod node_errno;
pub mod policy;
pub mod prepare;
pub mod runner;
pub mod safebins;
pub mod segments;
pub mod shell;
pub mod snapshot;
pub mod spawn;
pub mod wrappers;
