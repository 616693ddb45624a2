//! Shared pieces of the benchmark programs (`openclaw-bench`, `openclaw-gateway-load`): the
//! operator-side measurements ([`ops`]), the processes they measure ([`peers`]) and their CPU
//! time ([`cpu`]). Starting and stopping those processes is `openclaw-testkit`'s, shared with
//! the integration tests.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cpu;
pub mod ops;
pub mod peers;

/// Process trees and memory from `/proc`, re-exported so the benchmark programs keep one path.
pub use openclaw_testkit::procfs;
