//! What both ends of the file-transfer commands need, in one place so they cannot drift:
//! - [`archive`]: `dir.fetch`'s archive inspection (upstream's `inspectDirFetchArchive`). The
//!   node host runs it on the archive it built before answering; the gateway runs it again on
//!   the archive it received before passing it on, and checks every member path against the
//!   path policy.
//! - [`collate`]: JavaScript's `localeCompare` order, which decides the order of `dir.list`
//!   pages and of `dir.fetch` entries (and so which denied entry the gateway names first).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod archive;
pub mod collate;
mod collate_table;
